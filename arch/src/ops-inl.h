// Per-target helpers shared by ops.cc and attention.cc (re-included once per Highway
// target by foreach_target.h, hence the toggling include guard).
#if defined(QLITE_ARCH_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_OPS_INL_H_
#undef QLITE_ARCH_OPS_INL_H_
#else
#define QLITE_ARCH_OPS_INL_H_
#endif

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "qlite/arch/ops.h"
#include "target_family-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Not named ReduceSum: newer Highway releases (1.2, 1.3) have hn::ReduceSum, which argument-
// dependent lookup would also find, making every call ambiguous (and 1.0.3 lacks it).
template <class D>
HWY_INLINE float LaneSum(D d, hn::Vec<D> v) {
  return hn::GetLane(hn::SumOfLanes(d, v));
}

// out[0..3] = sums of the lanes of a0..a3. Where vectors are made of 128-bit blocks, this
// transposes within each block and then folds the blocks together: far fewer shuffles than
// four separate SumOfLanes (which dominate short dot products such as head_dim 64).
template <class D>
HWY_INLINE void Reduce4(D d, hn::Vec<D> a0, hn::Vec<D> a1, hn::Vec<D> a2, hn::Vec<D> a3,
                        float* HWY_RESTRICT out) {
#if QLITE_X86_128 || QLITE_NEON_128
  const hn::Repartition<uint64_t, D> du;
  // Per block: [a0_0+a0_2, a1_0+a1_2, a0_1+a0_3, a1_1+a1_3], likewise for a2/a3.
  const auto t01 = hn::BitCast(du, hn::Add(hn::InterleaveLower(d, a0, a1), hn::InterleaveUpper(d, a0, a1)));
  const auto t23 = hn::BitCast(du, hn::Add(hn::InterleaveLower(d, a2, a3), hn::InterleaveUpper(d, a2, a3)));
  // Per block: [a0, a1, a2, a3] partial sums.
  const auto s = hn::Add(hn::BitCast(d, hn::InterleaveLower(du, t01, t23)),
                         hn::BitCast(d, hn::InterleaveUpper(du, t01, t23)));
#if QLITE_X86_512
  const hn::Half<D> dh;
  const hn::Half<decltype(dh)> dq;
  const auto h = hn::Add(hn::LowerHalf(dh, s), hn::UpperHalf(dh, s));
  hn::StoreU(hn::Add(hn::LowerHalf(dq, h), hn::UpperHalf(dq, h)), dq, out);
#elif QLITE_X86_256
  const hn::Half<D> dh;
  hn::StoreU(hn::Add(hn::LowerHalf(dh, s), hn::UpperHalf(dh, s)), dh, out);
#else
  hn::StoreU(s, d, out);
#endif
#else
  out[0] = LaneSum(d, a0);
  out[1] = LaneSum(d, a1);
  out[2] = LaneSum(d, a2);
  out[3] = LaneSum(d, a3);
#endif
}

// Highway's Exp/Tanh convert their argument to int on the way; an inf, NaN or huge argument
// is out of int range, which emulated targets (EMU128, SCALAR) do with a plain C++ cast:
// undefined behaviour. The argument is clamped to [lo, hi] first (where the function has
// saturated anyway) and a NaN is passed through to the result instead.
template <class D, class V>
HWY_INLINE V ExpOfAny(D d, V x) {
  const auto nan = hn::IsNaN(x);
  const V safe = hn::Min(hn::Max(hn::IfThenZeroElse(nan, x), hn::Set(d, -104.0f)), hn::Set(d, 88.0f));
  return hn::IfThenElse(nan, x, hn::Exp(d, safe));
}
template <class D, class V>
HWY_INLINE V TanhOfAny(D d, V x) {
  const auto nan = hn::IsNaN(x);
  const V safe = hn::Min(hn::Max(hn::IfThenZeroElse(nan, x), hn::Set(d, -20.0f)), hn::Set(d, 20.0f));
  return hn::IfThenElse(nan, x, hn::Tanh(d, safe));
}

// x = cap * tanh(x / cap): Gemma 2's soft-capping of attention scores and logits.
HWY_INLINE void SoftCapInPlace(float* HWY_RESTRICT x, size_t n, float cap) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const auto vcap = hn::Set(d, cap), vinv = hn::Set(d, 1.0f / cap);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(vcap, TanhOfAny(d, hn::Mul(hn::LoadU(d, x + i), vinv))), d, x + i);
  for (; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

// Loads Lanes(d) stored values (f32 / f16 / int8) as f32.
template <class D>
HWY_INLINE hn::Vec<D> LoadF(D d, const float* HWY_RESTRICT p) {
  return hn::LoadU(d, p);
}
template <class D>
HWY_INLINE hn::Vec<D> LoadF(D d, const hwy::float16_t* HWY_RESTRICT p) {
  return hn::PromoteTo(d, hn::LoadU(hn::Rebind<hwy::float16_t, D>(), p));
}
template <class D>
HWY_INLINE hn::Vec<D> LoadF(D d, const int8_t* HWY_RESTRICT p) {
  const hn::Rebind<int32_t, D> di;
  return hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(hn::Rebind<int8_t, D>(), p)));
}
// Scalar counterparts for the tails.
HWY_INLINE float ToF(float x) { return x; }
HWY_INLINE float ToF(int8_t x) { return static_cast<float>(x); }
HWY_INLINE float ToF(hwy::float16_t x) {
  uint16_t bits;
  std::memcpy(&bits, &x, 2);
  return F16ToF32(bits);
}

// Numerically stable in-place softmax: exp(x - max) / sum. Defined for any input; a NaN
// or infinite score makes NaNs, which reach the logits (the sampler ignores NaN logits).
HWY_INLINE void SoftmaxInPlace(float* HWY_RESTRICT x, size_t n) {
  if (n == 0) return;
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  float mx = x[0];
  size_t i = 0;
  if (n >= N) {
    auto vmax = hn::LoadU(d, x);
    for (i = N; i + N <= n; i += N) vmax = hn::Max(vmax, hn::LoadU(d, x + i));
    mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  }
  for (; i < n; ++i) mx = std::max(mx, x[i]);

  const auto vmx = hn::Set(d, mx);
  auto vsum = hn::Zero(d);
  for (i = 0; i + N <= n; i += N) {
    const auto e = ExpOfAny(d, hn::Sub(hn::LoadU(d, x + i), vmx));  // inf - inf is NaN
    hn::StoreU(e, d, x + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = LaneSum(d, vsum);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;  // sum >= 1: the max term is exp(0)
  const auto vinv = hn::Set(d, inv);
  for (i = 0; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), vinv), d, x + i);
  for (; i < n; ++i) x[i] *= inv;
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // QLITE_ARCH_OPS_INL_H_
