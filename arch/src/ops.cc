// Highway element-wise ops of the forward pass: RmsNorm, AddInPlace, SiluMul, GeluTanhMul, Softmax,
// SoftCap, Rope.
// Each public function is one HWY_DYNAMIC_DISPATCH; tails are scalar so that no load
// touches memory past the end of a buffer.
#include <algorithm>
#include <cmath>

#include "qlite/arch/ops.h"

#undef HWY_TARGET_INCLUDE
// Resolved against the -I arch/include directory (arch/src is not on the include path).
#define HWY_TARGET_INCLUDE "../src/ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {

void RmsNormT(const float* x, const float* HWY_RESTRICT weight, float* out, size_t n, float eps) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto s0 = hn::Zero(d), s1 = hn::Zero(d);
  size_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    const auto a = hn::LoadU(d, x + i), b = hn::LoadU(d, x + i + N);
    s0 = hn::MulAdd(a, a, s0);
    s1 = hn::MulAdd(b, b, s1);
  }
  for (; i + N <= n; i += N) {
    const auto a = hn::LoadU(d, x + i);
    s0 = hn::MulAdd(a, a, s0);
  }
  float ss = LaneSum(d, hn::Add(s0, s1));
  for (; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / static_cast<float>(n ? n : 1) + eps);
  const auto vinv = hn::Set(d, inv);
  for (i = 0; i + N <= n; i += N) {
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vinv), hn::LoadU(d, weight + i)), d, out + i);
  }
  for (; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

void AddInPlaceT(float* HWY_RESTRICT x, const float* HWY_RESTRICT y, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Add(hn::LoadU(d, x + i), hn::LoadU(d, y + i)), d, x + i);
  for (; i < n; ++i) x[i] += y[i];
}

// gate = gate * sigmoid(z) * up with z = gate (SiLU) or, for the tanh approximation of
// GELU, z = 2·sqrt(2/pi)·(g + 0.044715·g³), since (1 + tanh(u)) / 2 = sigmoid(2u).
template <bool kGelu>
void GatedMulT(float* HWY_RESTRICT gate, const float* HWY_RESTRICT up, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  constexpr float kTwoSqrt2OverPi = 1.5957691216057308f, kCubic = 0.044715f;
  const auto one = hn::Set(d, 1.0f);
  const auto c0 = hn::Set(d, kTwoSqrt2OverPi), c1 = hn::Set(d, kTwoSqrt2OverPi * kCubic);
  // exp(-z) is clamped below its overflow point; the product ~ g*e^z ~ 0 there anyway.
  const auto clamp = hn::Set(d, 80.0f);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(d, gate + i);
    auto z = g;
    if (kGelu) z = hn::Mul(g, hn::MulAdd(hn::Mul(g, g), c1, c0));
    const auto e = ExpOfAny(d, hn::Min(hn::Neg(z), clamp));
    hn::StoreU(hn::Mul(hn::Div(g, hn::Add(one, e)), hn::LoadU(d, up + i)), d, gate + i);
  }
  for (; i < n; ++i) {
    const float g = gate[i], z = kGelu ? g * (kTwoSqrt2OverPi + kTwoSqrt2OverPi * kCubic * g * g) : g;
    gate[i] = g / (1.0f + std::exp(std::min(-z, 80.0f))) * up[i];
  }
}

void SiluMulT(float* HWY_RESTRICT gate, const float* HWY_RESTRICT up, size_t n) { GatedMulT<false>(gate, up, n); }
void GeluTanhMulT(float* HWY_RESTRICT gate, const float* HWY_RESTRICT up, size_t n) { GatedMulT<true>(gate, up, n); }
void SoftCapT(float* HWY_RESTRICT x, size_t n, float cap) { SoftCapInPlace(x, n, cap); }

void SoftmaxT(float* HWY_RESTRICT x, size_t n) { SoftmaxInPlace(x, n); }

// x0' = x0*c - x1*s, x1' = x0*s + x1*c for the pairs (a[i], b[i]).
void RopeT(float* x, size_t n_heads, size_t head_dim, size_t rotary_dim,
           const float* HWY_RESTRICT cos, const float* HWY_RESTRICT sin, RopePairing pairing) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  rotary_dim = std::min(rotary_dim, head_dim) & ~size_t{1};
  const size_t half = rotary_dim / 2;
  for (size_t h = 0; h < n_heads; ++h) {
    float* HWY_RESTRICT xh = x + h * head_dim;
    size_t i = 0;
    if (pairing == RopePairing::kInterleaved) {
      for (; i + N <= half; i += N) {
        hn::Vec<decltype(d)> x0, x1;
        hn::LoadInterleaved2(d, xh + 2 * i, x0, x1);
        const auto c = hn::LoadU(d, cos + i), s = hn::LoadU(d, sin + i);
        const auto r0 = hn::NegMulAdd(x1, s, hn::Mul(x0, c));
        const auto r1 = hn::MulAdd(x0, s, hn::Mul(x1, c));
        hn::StoreInterleaved2(r0, r1, d, xh + 2 * i);
      }
      for (; i < half; ++i) {
        const float x0 = xh[2 * i], x1 = xh[2 * i + 1];
        xh[2 * i] = x0 * cos[i] - x1 * sin[i];
        xh[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
      }
    } else {
      for (; i + N <= half; i += N) {
        const auto x0 = hn::LoadU(d, xh + i), x1 = hn::LoadU(d, xh + half + i);
        const auto c = hn::LoadU(d, cos + i), s = hn::LoadU(d, sin + i);
        hn::StoreU(hn::NegMulAdd(x1, s, hn::Mul(x0, c)), d, xh + i);
        hn::StoreU(hn::MulAdd(x0, s, hn::Mul(x1, c)), d, xh + half + i);
      }
      for (; i < half; ++i) {
        const float x0 = xh[i], x1 = xh[half + i];
        xh[i] = x0 * cos[i] - x1 * sin[i];
        xh[half + i] = x0 * sin[i] + x1 * cos[i];
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite {
namespace arch {

HWY_EXPORT(RmsNormT);
HWY_EXPORT(AddInPlaceT);
HWY_EXPORT(SiluMulT);
HWY_EXPORT(GeluTanhMulT);
HWY_EXPORT(SoftmaxT);
HWY_EXPORT(SoftCapT);
HWY_EXPORT(RopeT);

void RmsNorm(const float* x, const float* weight, float* out, size_t n, float eps) {
  HWY_DYNAMIC_DISPATCH(RmsNormT)(x, weight, out, n, eps);
}
void AddInPlace(float* x, const float* y, size_t n) { HWY_DYNAMIC_DISPATCH(AddInPlaceT)(x, y, n); }
void SiluMul(float* gate, const float* up, size_t n) { HWY_DYNAMIC_DISPATCH(SiluMulT)(gate, up, n); }
void GeluTanhMul(float* gate, const float* up, size_t n) { HWY_DYNAMIC_DISPATCH(GeluTanhMulT)(gate, up, n); }
void Softmax(float* x, size_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxT)(x, n); }
void SoftCap(float* x, size_t n, float cap) { HWY_DYNAMIC_DISPATCH(SoftCapT)(x, n, cap); }
void Rope(float* x, size_t n_heads, size_t head_dim, size_t rotary_dim, const float* cos,
          const float* sin, RopePairing pairing) {
  HWY_DYNAMIC_DISPATCH(RopeT)(x, n_heads, head_dim, rotary_dim, cos, sin, pairing);
}

}  // namespace arch
}  // namespace qlite
#endif  // HWY_ONCE
