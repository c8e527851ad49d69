// ModelArena: the memory resource a model's containers come from, over the caller's buffer
// (a bump pointer; nothing is freed before the model closes) or the heap (counted).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>

namespace qlite {

class ModelArena : public std::pmr::memory_resource {
 public:
  // Heap: every block from new/delete; used() still adds up what a buffer would need.
  ModelArena() = default;
  // Caller's buffer: blocks are carved from [base, base + size); running out throws
  // std::bad_alloc (Model::Open turns it into kOutOfMemory) and sets exhausted().
  ModelArena(void* base, size_t size) : base_(static_cast<uint8_t*>(base)), capacity_(size) {}

  // Bytes handed out so far, alignment padding included, counted from a base aligned to
  // any block's alignment (a buffer is aligned to kAlign before use).
  size_t used() const { return used_; }
  bool exhausted() const { return exhausted_; }
  static constexpr size_t kAlign = 64;

 private:
  void* do_allocate(size_t bytes, size_t align) override {
    const size_t start = (used_ + align - 1) / align * align;
    if (!base_) {
      used_ = start + bytes;
      return ::operator new(bytes, std::align_val_t(align));
    }
    if (start > capacity_ || bytes > capacity_ - start) {
      exhausted_ = true;
      throw std::bad_alloc();
    }
    used_ = start + bytes;
    return base_ + start;
  }
  void do_deallocate(void* p, size_t, size_t align) override {
    if (!base_) ::operator delete(p, std::align_val_t(align));
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

  uint8_t* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
  bool exhausted_ = false;
};

}  // namespace qlite
