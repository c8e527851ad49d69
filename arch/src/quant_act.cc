// Per-token int8 quantization of activations: blocks of 32, scale = max|x| / 127, values
// rounded to nearest even (the scalar reference performs the same float operations, so
// both produce identical bytes). Defined for any input: a block holding an inf or NaN gets
// zero codes and a NaN scale.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant_act.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "qlite/arch/matmul.h"

#include <cstdint>
#include <cstring>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void QuantizeActivationsImpl(const float* HWY_RESTRICT x, size_t n, int8_t* HWY_RESTRICT q,
                             float* HWY_RESTRICT scales, int32_t* HWY_RESTRICT sums) {
  const hn::CappedTag<float, 16> df;
  const hn::Rebind<int32_t, decltype(df)> d32;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const size_t N = hn::Lanes(df);
  HWY_ALIGN float tail[32];
  const size_t nb = (n + 31) / 32;
  for (size_t b = 0; b < nb; ++b) {
    const float* xb = x + 32 * b;
    if (32 * b + 32 > n) {  // last partial block: pad with zeros
      std::memset(tail, 0, sizeof(tail));
      std::memcpy(tail, xb, (n - 32 * b) * sizeof(float));
      xb = tail;
    }
    auto vmax = hn::Zero(df);
    auto vnonfinite = hn::Zero(df);  // x * 0 is 0 for finite x, NaN for inf and NaN
    for (size_t i = 0; i < 32; i += N) {
      const auto v = hn::LoadU(df, xb + i);
      vmax = hn::Max(vmax, hn::Abs(v));
      vnonfinite = hn::Add(vnonfinite, hn::Mul(v, hn::Zero(df)));
    }
    const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
    if (!(hn::GetLane(hn::SumOfLanes(df, vnonfinite)) == 0.0f)) {
      // An inf or NaN would turn into an out-of-range int conversion and an overflowing sum:
      // the block's codes are 0 and its scale NaN, so the non-finite value reaches the output.
      std::memset(q + 32 * b, 0, 32);
      scales[b] = std::numeric_limits<float>::quiet_NaN();
      sums[b] = 0;
      continue;
    }
    // A subnormal amax makes 127 / amax infinite: such a block quantizes to zeros.
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    if (!(inv <= std::numeric_limits<float>::max())) inv = 0.0f;
    const auto vinv = hn::Set(df, inv);
    auto vsum = hn::Zero(d32);
    for (size_t i = 0; i < 32; i += N) {
      const auto qi = hn::NearestInt(hn::Mul(hn::LoadU(df, xb + i), vinv));
      vsum = hn::Add(vsum, qi);
      hn::StoreU(hn::DemoteTo(d8, qi), d8, q + 32 * b + i);
    }
    scales[b] = amax / 127.0f;
    sums[b] = hn::GetLane(hn::SumOfLanes(d32, vsum));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite {
namespace arch {
HWY_EXPORT(QuantizeActivationsImpl);

namespace {
size_t AlignUp(size_t v) { return (v + 63) & ~size_t{63}; }

void RegroupForNibbles(const int8_t* q, size_t n, int8_t* out) {
  const size_t nb = (n + 31) / 32, groups = (nb + 3) / 4;
  std::memset(out + nb / 4 * 128, 0, (groups - nb / 4) * 128);  // pad of a partial group
  for (size_t b = 0; b < nb; ++b) {
    int8_t* g = out + b / 4 * 128 + (b % 4) * 16;
    std::memcpy(g, q + 32 * b, 16);
    std::memcpy(g + 64, q + 32 * b + 16, 16);
  }
}
}  // namespace

size_t QuantizedActivationsBytes(size_t n) {
  const size_t nb = (n + 31) / 32;
  return AlignUp(nb * 32) + AlignUp(nb * sizeof(float)) + AlignUp(nb * sizeof(int32_t)) +
         (nb + 3) / 4 * 128;
}

QuantizedActivations BindQuantizedActivations(void* buffer, size_t n) {
  const size_t nb = (n + 31) / 32;
  uint8_t* p = static_cast<uint8_t*>(buffer);
  QuantizedActivations a;
  a.q = reinterpret_cast<int8_t*>(p);
  a.scales = reinterpret_cast<float*>(p + AlignUp(nb * 32));
  a.sums = reinterpret_cast<int32_t*>(p + AlignUp(nb * 32) + AlignUp(nb * sizeof(float)));
  a.q_nibbles = reinterpret_cast<int8_t*>(p + AlignUp(nb * 32) + AlignUp(nb * sizeof(float)) +
                                          AlignUp(nb * sizeof(int32_t)));
  a.n = n;
  return a;
}

void QuantizeActivations(const float* x, size_t n, QuantizedActivations* out) {
  out->n = n;
  HWY_DYNAMIC_DISPATCH(QuantizeActivationsImpl)(x, n, out->q, out->scales, out->sums);
  RegroupForNibbles(out->q, n, out->q_nibbles);
}

}  // namespace arch
}  // namespace qlite
#endif
