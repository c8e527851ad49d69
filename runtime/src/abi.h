// The growing-struct rule of qlite.h ("Structs that can grow"): a caller's params struct of
// any size is read over the library's defaults, and an out struct is written up to the
// caller's size. The minimum sizes are the layouts of the first release (API 0.1); a later
// release that grows qlite_sampler_params inside qlite_session_params keeps the older session
// layout here and converts by struct_size.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "qlite/base/status.h"
#include "qlite/qlite.h"

namespace qlite {
namespace abi {

template <typename T>
struct Layout;
#define QLITE_ABI_LAYOUT(T, last)                                                       \
  template <>                                                                           \
  struct Layout<T> {                                                                    \
    static constexpr size_t kMinSize = offsetof(T, last) + sizeof(static_cast<T*>(nullptr)->last); \
    static constexpr const char* kName = #T;                                            \
  }
QLITE_ABI_LAYOUT(qlite_model_params, buffer_size);
QLITE_ABI_LAYOUT(qlite_model_info, n_slow_layout_tensors);
QLITE_ABI_LAYOUT(qlite_session_params, grammar_memory);
QLITE_ABI_LAYOUT(qlite_memory_estimate, model_host);
QLITE_ABI_LAYOUT(qlite_session_info, n_past);
QLITE_ABI_LAYOUT(qlite_generate_stats, decode_seconds);
#undef QLITE_ABI_LAYOUT

// Reads `in` (struct_size bytes as the caller compiled it) over *out, which holds the
// defaults; fields the caller's layout lacks keep them. A larger struct (a newer header) is
// accepted when every byte this library does not know is zero.
template <typename T>
Status ReadIn(const T& in, T* out) {
  const size_t size = in.struct_size;
  if (size < Layout<T>::kMinSize) {
    return StatusError(StatusCode::kInvalidArgument,
                       "%s.struct_size is %zu (at least %zu): start from its *_default_params() function",
                       Layout<T>::kName, size, Layout<T>::kMinSize);
  }
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(&in);
  for (size_t i = sizeof(T); i < size; ++i) {
    if (bytes[i] != 0) {
      return StatusError(StatusCode::kUnsupported,
                         "%s: the caller sets a field at byte %zu that this library (API %d.%d) does not know",
                         Layout<T>::kName, i, QLITE_API_VERSION_MAJOR, QLITE_API_VERSION_MINOR);
    }
  }
  std::memcpy(out, &in, size < sizeof(T) ? size : sizeof(T));
  out->struct_size = sizeof(T);
  return Status::Ok();
}

// Checks an out struct's size as a caller passed it.
template <typename T>
Status CheckOutSize(size_t size) {
  if (size >= Layout<T>::kMinSize) return Status::Ok();
  return StatusError(StatusCode::kInvalidArgument, "%s: struct_size %zu is below the %zu of API 0.1",
                     Layout<T>::kName, size, Layout<T>::kMinSize);
}

// Writes `value` into the caller's struct of `size` bytes (>= kMinSize, see CheckOutSize):
// the fields it has, struct_size = what was written, zeros past this library's layout.
template <typename T>
void WriteOut(T value, T* out, size_t size) {
  value.struct_size = static_cast<uint32_t>(size < sizeof(T) ? size : sizeof(T));
  std::memcpy(out, &value, value.struct_size);
  if (size > sizeof(T)) std::memset(reinterpret_cast<unsigned char*>(out) + sizeof(T), 0, size - sizeof(T));
}

}  // namespace abi
}  // namespace qlite
