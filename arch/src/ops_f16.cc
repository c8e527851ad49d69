// IEEE binary16 <-> f32 conversions for scalar tails, references and tools.
#include <cmath>
#include <cstring>

#include "qlite/arch/ops.h"

namespace qlite {
namespace arch {

float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in f32
    const float mag = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign ? -mag : mag;
  }
  const uint32_t bits =
      exp == 31 ? (sign | 0x7F800000u | (mant << 13)) : (sign | ((exp + 112) << 23) | (mant << 13));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t F32ToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7FFFFFFFu;
  if (x >= 0x7F800000u) {  // inf stays inf; NaN stays a (quiet) NaN
    return static_cast<uint16_t>(sign | 0x7C00u | (x > 0x7F800000u ? 0x200u | ((x >> 13) & 0x3FFu) : 0));
  }
  if (x >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520 rounds to inf
  if (x < 0x38800000u) {  // below 2^-14: f16 subnormal (or zero), units of 2^-24
    float mag;
    std::memcpy(&mag, &x, 4);
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(mag * 16777216.0f)));
  }
  x += 0xFFFu + ((x >> 13) & 1u);  // round to nearest even at bit 13
  x -= 112u << 23;                 // rebias exponent 127 -> 15
  return static_cast<uint16_t>(sign | (x >> 13));
}

}  // namespace arch
}  // namespace qlite
