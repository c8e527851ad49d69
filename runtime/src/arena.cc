#include "arena.h"

#include <new>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define QLITE_HAVE_MMAP 1
#endif

namespace qlite {

void* Arena::Allocate(size_t bytes, size_t align) {
  // Align the absolute address: a caller's buffer need not be aligned itself.
  const uintptr_t base = reinterpret_cast<uintptr_t>(base_);
  const uintptr_t at = (base + used_ + align - 1) & ~(uintptr_t)(align - 1);
  const size_t offset = at - base;
  if (offset > capacity_ || bytes > capacity_ - offset) {
    ok_ = false;
    return nullptr;
  }
  used_ = offset + bytes;
  return measuring() ? nullptr : base_ + offset;
}

Region& Region::operator=(Region&& other) noexcept {
  if (this != &other) {
    Free();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, false);
  }
  return *this;
}

void Region::Free() {
  if (!data_) return;
#ifdef QLITE_HAVE_MMAP
  if (mapped_) munmap(data_, size_);
#endif
  if (!mapped_) ::operator delete(data_, std::align_val_t(Arena::kAlign));
  data_ = nullptr;
  size_ = 0;
}

Status Region::Reserve(size_t bytes) {
  Free();
  if (bytes == 0) bytes = Arena::kAlign;
#ifdef QLITE_HAVE_MMAP
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p != MAP_FAILED) {
    data_ = p;
    size_ = bytes;
    mapped_ = true;
    return Status::Ok();
  }
#endif
  data_ = ::operator new(bytes, std::align_val_t(Arena::kAlign), std::nothrow);
  if (!data_) return StatusError(StatusCode::kOutOfMemory, "cannot reserve %zu bytes for the session", bytes);
  size_ = bytes;
  return Status::Ok();
}

}  // namespace qlite
