// Tables and scalar conversions that define stored weight values (FORMAT.md), shared by the
// kernels and the scalar references, so production code never reads the test oracle.
// Header-only, standard library only.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace qlite {

// QLoRA's NF4 levels (quantiles of N(0,1) scaled to [-1, 1]; index 7 is exactly 0).
inline constexpr float kNF4Levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};
// kNF4Levels * 127 rounded: what the int8-activation kernels use for NF4 (with the scale
// divided by 127), each level off by at most 0.4663/127 of the scale.
inline constexpr int8_t kNF4Int8[16] = {-127, -88, -67, -50, -36, -23, -12, 0,
                                        10,   20,  31,  43,  56,  71,  92,  127};

inline float F32FromF16(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(mant), -24);  // subnormal or zero
  } else if (exp == 31) {
    f = mant ? NAN : INFINITY;
  } else {
    f = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits |= sign;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float F32FromBF16(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace qlite
