// Session memory: one region reserved at creation (the caller's buffer, or one anonymous
// mapping), carved up by a bump allocator. Nothing is freed piecemeal: a session's buffers
// all live exactly as long as the session, so a bump pointer is all the allocator needed,
// and token generation never touches the heap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>

#include "qlite/base/status.h"

namespace qlite {

class Arena {
 public:
  static constexpr size_t kAlign = 64;  // cache line; also what the SIMD kernels like

  // Measuring arena: hands out no memory, only adds up what a layout would take.
  Arena() = default;
  Arena(void* base, size_t capacity) : base_(static_cast<uint8_t*>(base)), capacity_(capacity) {}

  // Returns nullptr when measuring or when the region is exhausted (then ok() is false).
  void* Allocate(size_t bytes, size_t align = kAlign);
  template <typename T>
  T* Array(size_t n) {
    return static_cast<T*>(Allocate(n * sizeof(T), alignof(T) > kAlign ? alignof(T) : kAlign));
  }

  bool measuring() const { return base_ == nullptr; }
  bool ok() const { return ok_; }
  size_t used() const { return used_; }
  size_t capacity() const { return capacity_; }

 private:
  uint8_t* base_ = nullptr;
  size_t capacity_ = SIZE_MAX;
  size_t used_ = 0;
  bool ok_ = true;
};

// Owns the memory behind an Arena when the caller gave no buffer.
class Region {
 public:
  Region() = default;
  ~Region() { Free(); }
  Region(Region&& other) noexcept { *this = std::move(other); }
  Region& operator=(Region&& other) noexcept;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
  // Reserves `bytes` (page-granular mapping where available, else aligned new).
  Status Reserve(size_t bytes);
  void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void Free();
  void* data_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;
};

}  // namespace qlite
