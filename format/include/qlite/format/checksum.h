// Hashes of the file formats. FNV-1a 32 for the 64-byte header; XXH64 (xxHash's 64-bit
// hash, seed 0 unless given) for tensor checksums and model fingerprints since format 2;
// FNV-1a 64 for format-1 files, .qla adapter data and AdapterRecord fingerprints. FNV is
// byte-serial (each byte waits for the previous multiply, ~1 GB/s); XXH64 runs four
// independent lanes over 32-byte stripes (~10 GB/s on one core).
#pragma once
#include <cstddef>
#include <cstdint>

namespace qlite {

constexpr uint32_t kFnv32Offset = 0x811c9dc5u;
constexpr uint64_t kFnv64Offset = 0xcbf29ce484222325ull;

// Incremental: pass the previous result as `h` to continue a hash over several buffers.
uint32_t Fnv1a32(const void* data, size_t size, uint32_t h = kFnv32Offset);
uint64_t Fnv1a64(const void* data, size_t size, uint64_t h = kFnv64Offset);

// XXH64 as specified in xxHash's doc/xxhash_spec.md (byte-identical to XXH64() of libxxhash).
uint64_t Xxh64(const void* data, size_t size, uint64_t seed = 0);

// XXH64 of the concatenation of every Update's bytes (equal to one Xxh64 call over them).
class Xxh64Stream {
 public:
  explicit Xxh64Stream(uint64_t seed = 0);
  void Update(const void* data, size_t size);
  uint64_t Digest() const;

 private:
  uint64_t acc_[4];
  uint64_t seed_, total_ = 0;
  uint8_t buf_[32];
  size_t buffered_ = 0;
};

}  // namespace qlite
