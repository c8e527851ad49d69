// Counts operator new calls so tests can check that per-token paths allocate nothing.
// Sanitizers bring their own operator new, so the count is only kept without them
// (QLITE_COUNT_ALLOCS is 0 there and tests skip the assertion). Include in one TU per binary.
#pragma once
#include <atomic>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define QLITE_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define QLITE_COUNT_ALLOCS 0
#endif
#endif
#ifndef QLITE_COUNT_ALLOCS
#define QLITE_COUNT_ALLOCS 1
#endif
static std::atomic<long> g_allocs{0};
// These replacements pair malloc with new and free with delete; gcc's inliner sees only the
// free and warns about a mismatch that is not one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#if QLITE_COUNT_ALLOCS
void* operator new(size_t n) {
  ++g_allocs;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
#endif

