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

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D>
HWY_INLINE float ReduceSum(D d, hn::Vec<D> v) {
  return hn::GetLane(hn::SumOfLanes(d, v));
}

// a / b: x86/NEON vectors have operator/, sizeless SVE/RVV vectors only Div().
template <class V>
HWY_INLINE V DivV(V a, V b) {
#if HWY_TARGET & (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
  return hn::Div(a, b);
#else
  return a / b;
#endif
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

// Numerically stable in-place softmax (inputs finite): exp(x - max) / sum.
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
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, x + i), vmx));
    hn::StoreU(e, d, x + i);
    vsum = hn::Add(vsum, e);
  }
  float sum = ReduceSum(d, vsum);
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
