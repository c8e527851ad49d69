#include "qlite/format/checksum.h"

namespace qlite {

uint32_t Fnv1a32(const void* data, size_t size, uint32_t h) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 0x01000193u;
  return h;
}

uint64_t Fnv1a64(const void* data, size_t size, uint64_t h) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

}  // namespace qlite
