// FNV-1a hashes (32-bit for the header, 64-bit for tensors and fingerprints). Incremental:
// pass the previous result as `h` to continue a hash over several buffers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace qlite {

constexpr uint32_t kFnv32Offset = 0x811c9dc5u;
constexpr uint64_t kFnv64Offset = 0xcbf29ce484222325ull;

uint32_t Fnv1a32(const void* data, size_t size, uint32_t h = kFnv32Offset);
uint64_t Fnv1a64(const void* data, size_t size, uint64_t h = kFnv64Offset);

}  // namespace qlite
