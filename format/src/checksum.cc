#include "qlite/format/checksum.h"

#include <cstring>

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

namespace {

constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full, kP3 = 0x165667B19E3779F9ull,
                   kP4 = 0x85EBCA77C2B2AE63ull, kP5 = 0x27D4EB2F165667C5ull;

inline uint64_t Rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }
// Little-endian loads on any host (one load where the host is little-endian).
inline uint64_t Le64(const uint8_t* p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
#else
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
#endif
}
inline uint32_t Le32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
inline uint64_t Round(uint64_t acc, uint64_t lane) { return Rotl(acc + lane * kP2, 31) * kP1; }
inline uint64_t Merge(uint64_t h, uint64_t acc) { return (h ^ Round(0, acc)) * kP1 + kP4; }

// Whole 32-byte stripes of p into acc; returns the bytes consumed.
size_t Stripes(uint64_t acc[4], const uint8_t* p, size_t size) {
  uint64_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    a0 = Round(a0, Le64(p + i));
    a1 = Round(a1, Le64(p + i + 8));
    a2 = Round(a2, Le64(p + i + 16));
    a3 = Round(a3, Le64(p + i + 24));
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
  return i;
}

uint64_t Finish(const uint64_t acc[4], uint64_t seed, uint64_t total, const uint8_t* p, size_t rest) {
  uint64_t h;
  if (total >= 32) {
    h = Rotl(acc[0], 1) + Rotl(acc[1], 7) + Rotl(acc[2], 12) + Rotl(acc[3], 18);
    for (int i = 0; i < 4; ++i) h = Merge(h, acc[i]);
  } else {
    h = seed + kP5;
  }
  h += total;
  size_t i = 0;
  for (; i + 8 <= rest; i += 8) h = Rotl(h ^ Round(0, Le64(p + i)), 27) * kP1 + kP4;
  if (i + 4 <= rest) {
    h = Rotl(h ^ (uint64_t(Le32(p + i)) * kP1), 23) * kP2 + kP3;
    i += 4;
  }
  for (; i < rest; ++i) h = Rotl(h ^ (p[i] * kP5), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

}  // namespace

Xxh64Stream::Xxh64Stream(uint64_t seed) : acc_{seed + kP1 + kP2, seed + kP2, seed, seed - kP1}, seed_(seed) {}

void Xxh64Stream::Update(const void* data, size_t size) {
  if (size == 0) return;  // data may be null for an empty tensor; memcpy forbids that
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_ += size;
  if (buffered_) {
    const size_t take = size < 32 - buffered_ ? size : 32 - buffered_;
    std::memcpy(buf_ + buffered_, p, take);
    buffered_ += take, p += take, size -= take;
    if (buffered_ < 32) return;
    Stripes(acc_, buf_, 32);
    buffered_ = 0;
  }
  const size_t done = Stripes(acc_, p, size);
  if (size > done) std::memcpy(buf_, p + done, size - done);
  buffered_ = size - done;
}

uint64_t Xxh64Stream::Digest() const { return Finish(acc_, seed_, total_, buf_, buffered_); }

uint64_t Xxh64(const void* data, size_t size, uint64_t seed) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t acc[4] = {seed + kP1 + kP2, seed + kP2, seed, seed - kP1};
  const size_t done = Stripes(acc, p, size);
  return Finish(acc, seed, size, p + done, size - done);
}

}  // namespace qlite
