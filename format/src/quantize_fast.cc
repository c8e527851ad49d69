// SIMD stages of Quantize() for I4 and I8 groups (quantize_fast.h). Built with
// -ffp-contract=off (format/CMakeLists.txt): a fused x - r*d would round differently from
// the scalar reference; MulAdd is used only where the product is exact or only bounds matter.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quantize_fast.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "quantize_fast.h"

#include <cmath>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace quant {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr size_t kMaxLanes = 64;  // floats in the widest vector (2048-bit SVE)
constexpr uint64_t kMaxLen = 128;  // the largest group

// Sizeless vectors (SVE, also the fixed-width SVE_256/SVE2_128 targets, which Highway 1.3
// no longer counts as scalable; RVV) cannot be kept in arrays and structs as below: those
// targets (and the one-lane HWY_SCALAR) report false and Quantize takes its scalar stages.
#define QLITE_SIZELESS_VECTORS \
  (HWY_HAVE_SCALABLE || (HWY_TARGET & (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)))
#if QLITE_SIZELESS_VECTORS || HWY_TARGET == HWY_SCALAR
bool I4ScalesFastImpl(const float*, uint64_t, uint64_t, float (*)(const float*, uint64_t), float*) { return false; }
bool I8ScalesFastImpl(const float*, uint64_t, uint64_t, float*) { return false; }
bool I4CodesFastImpl(const float*, uint64_t, uint64_t, uint64_t, const float*, uint8_t*, double*, double*) {
  return false;
}
bool I8CodesFastImpl(const float*, uint64_t, uint64_t, uint64_t, const float*, uint8_t*, double*, double*) {
  return false;
}
#else
constexpr int kCandidates = 5;
constexpr float kDivisors[kCandidates] = {8.0f, 7.75f, 7.5f, 7.25f, 7.0f};

// The I4 search with one group per lane (value i of every lane's group gathered at once).
// Candidate k's squared error is measured in units of its step d_k = mx / -k: with t = x * inv_k
// and r its code (round to nearest, at most 7), S_k = sum (t - r)^2 in float, and the
// reference's error (double sum of float e = x - r*d_k) is d_k^2 * S_k up to the bound below.
// d_k^2 = mx^2 / k^2 (1 +- 2u), so W_k = S_k / k^2 orders the candidates as the reference's
// sums do, mx^2 being common to all. When every other W_k exceeds the least, W_b, by more
// than both their tolerances, b is the reference's choice; otherwise the group goes to
// `reference`. Error of W_k against the reference's sum / mx^2 (u = 2^-24, n = len): t is
// within 2.01u of x/d_k, so |t - x/d_k| <= 16.1u (|t| <= 8(1 + 2.01u)); r*d_k and x - r*d_k
// round within 9.1u d_k; |t - r| and |e/d_k| are at most 1.01 (the clamp at 7), so each
// square differs by at most 2.02 * 25.2u < 51u (a tie t = m + 0.5 rounded to even, not
// away, squares the same 0.5); float squares, sums and W's products add (n + 3)u relative
// and the float comparison u. Tolerance per candidate: n * 64u / k^2 + (n + 16)u * W_k.
// Values whose magnitude leaves [1e-30, 1e15] (steps near float's subnormals or overflow)
// go to `reference` as well.
bool I4ScalesFastImpl(const float* src, uint64_t n_groups, uint64_t len, float (*reference)(const float*, uint64_t),
                      float* scales) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const size_t N = hn::Lanes(df);
  const auto idx = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<int32_t>(len)));
  const auto zero = hn::Zero(df), hi_code = hn::Set(df, 7.0f);
  constexpr float kU = 1.0f / 16777216.0f;  // 2^-24
  const auto abs_tol = hn::Set(df, float(len) * 64.0f * kU);
  const auto rel_tol = hn::Set(df, float(len + 16) * kU);
  HWY_ALIGN float d_lanes[kMaxLanes], clear_lanes[kMaxLanes];
  HWY_ALIGN float tr[kMaxLen * kMaxLanes];  // tr[i * N + j]: value i of group g + j
  uint64_t g = 0;
  for (; N <= kMaxLanes && len <= kMaxLen && g + N <= n_groups; g += N) {
    const float* base = src + g * len;
    auto amax = zero, mx = zero;  // mx: the first value of magnitude amax, as the reference finds it
    for (uint64_t i = 0; i < len; ++i) {
      const auto x = hn::GatherIndex(df, base + i, idx);
      hn::Store(x, df, tr + i * N);
      const auto ax = hn::Abs(x);
      mx = hn::IfThenElse(ax > amax, x, mx);
      amax = hn::Max(amax, ax);
    }
    if (!hn::AllTrue(df, hn::And(amax >= hn::Set(df, 1e-30f), amax <= hn::Set(df, 1e15f)))) {
      for (size_t j = 0; j < N; ++j) scales[g + j] = reference(base + j * len, len);
      continue;
    }
    decltype(mx) d[kCandidates], inv[kCandidates], err[kCandidates];
#if HWY_ARCH_ARM_V7  // Div is an estimate there; the reference's divisions are exact
    HWY_ALIGN float mx_lanes[kMaxLanes];
    hn::Store(mx, df, mx_lanes);
    for (int k = 0; k < kCandidates; ++k) {
      HWY_ALIGN float dk[kMaxLanes], ik[kMaxLanes];
      for (size_t j = 0; j < N; ++j) dk[j] = mx_lanes[j] / -kDivisors[k], ik[j] = 1.0f / dk[j];
      d[k] = hn::Load(df, dk), inv[k] = hn::Load(df, ik);
    }
#else
    for (int k = 0; k < kCandidates; ++k) {
      d[k] = hn::Div(mx, hn::Set(df, -kDivisors[k]));
      inv[k] = hn::Div(hn::Set(df, 1.0f), d[k]);  // d != 0: amax >= 1e-30
    }
#endif
    for (int k = 0; k < kCandidates; ++k) err[k] = zero;
    for (uint64_t i = 0; i < len; ++i) {
      const auto x = hn::Load(df, tr + i * N);
      for (int k = 0; k < kCandidates; ++k) {
        // |t| <= k(1 + 2.01u): the code's lower clamp is idle, and the upper one (7) only
        // matters where t can reach 7.5.
        const auto t = hn::Mul(x, inv[k]);
        auto r = hn::Round(t);
        if (kDivisors[k] >= 7.5f) r = hn::Min(r, hi_code);
        const auto e = hn::Sub(t, r);
        err[k] = hn::MulAdd(e, e, err[k]);
      }
    }
    // W_k, its tolerance, and the first candidate of least W (the reference's order).
    decltype(mx) w[kCandidates], tol[kCandidates];
    for (int k = 0; k < kCandidates; ++k) {
      const auto inv_k2 = hn::Set(df, 1.0f / (kDivisors[k] * kDivisors[k]));
      w[k] = hn::Mul(err[k], inv_k2);
      tol[k] = hn::MulAdd(rel_tol, w[k], hn::Mul(abs_tol, inv_k2));
    }
    auto best_w = w[0], best_d = d[0], best_tol = tol[0], best_k = zero;
    for (int k = 1; k < kCandidates; ++k) {
      const auto m = w[k] < best_w;
      best_w = hn::IfThenElse(m, w[k], best_w);
      best_d = hn::IfThenElse(m, d[k], best_d);
      best_tol = hn::IfThenElse(m, tol[k], best_tol);
      best_k = hn::IfThenElse(m, hn::Set(df, float(k)), best_k);
    }
    auto clear = hn::Eq(best_k, best_k);
    for (int k = 0; k < kCandidates; ++k) {
      const auto apart = hn::Sub(w[k], best_w) > hn::Add(tol[k], best_tol);
      clear = hn::And(clear, hn::Or(apart, hn::Eq(best_k, hn::Set(df, float(k)))));
    }
    if (hn::AllTrue(df, clear)) {
      hn::StoreU(best_d, df, scales + g);
      continue;
    }
    hn::Store(best_d, df, d_lanes);
    hn::Store(hn::IfThenElseZero(clear, hn::Set(df, 1.0f)), df, clear_lanes);
    for (size_t j = 0; j < N; ++j) scales[g + j] = clear_lanes[j] != 0.0f ? d_lanes[j] : reference(base + j * len, len);
  }
  for (; g < n_groups; ++g) scales[g] = reference(src + g * len, len);
  return true;
}

bool I8ScalesFastImpl(const float* src, uint64_t n_groups, uint64_t len, float* scales) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  for (uint64_t g = 0; g < n_groups; ++g) {
    const float* p = src + g * len;
    float amax = 0.0f;
    uint64_t i = 0;
    if (len >= N) {
      auto m = hn::Zero(df);
      for (; i + N <= len; i += N) m = hn::Max(m, hn::Abs(hn::LoadU(df, p + i)));
      amax = hn::GetLane(hn::MaxOfLanes(df, m));
    }
    for (; i < len; ++i) amax = std::max(amax, std::fabs(p[i]));
    scales[g] = amax / 127.0f;
  }
  return true;
}

// Per row: the largest |error| (exact: the stored value minus the source value is exact in
// float, round to nearest keeping them within a factor of two or the stored value being 0)
// and the squared errors, summed in float lanes (relative error at most 2^-24 times the
// values per lane: under 1e-5 for rows of 2048 in 16 lanes), the lanes in double: the
// report's rms, not stored.
template <class DF>
HWY_INLINE void AddError(DF, hn::Vec<DF> e, hn::Vec<DF>& max, hn::Vec<DF>& sum) {
  max = hn::Max(max, hn::Abs(e));
  sum = hn::MulAdd(e, e, sum);
}
template <class DF>
HWY_INLINE void FinishError(DF df, hn::Vec<DF> max, hn::Vec<DF> sum, double* max_abs, double* sum_sq) {
  *max_abs = std::max(*max_abs, double(hn::GetLane(hn::MaxOfLanes(df, max))));
  HWY_ALIGN float lanes[kMaxLanes];
  hn::Store(sum, df, lanes);
  double row = 0.0;
  for (size_t j = 0; j < hn::Lanes(df); ++j) row += lanes[j];
  *sum_sq += row;
}

// One value's code minus its offset, as a float: CodeOf's RoundI(x * inv) (+-0.5 by the
// sign, truncated) clamped to [lo, hi]. Clamping before rounding gives the same code
// (rounding is monotone and keeps the integer bounds), and [lo, hi] lies within RoundI's
// +-1e6 clamp.
template <class DF>
HWY_INLINE hn::Vec<DF> RoundCode(DF df, hn::Vec<DF> x, hn::Vec<DF> inv, hn::Vec<DF> lo, hn::Vec<DF> hi) {
  const auto t = hn::Min(hn::Max(hn::Mul(x, inv), lo), hi);
  return hn::Trunc(hn::Add(t, hn::CopySignToAbs(hn::Set(df, 0.5f), t)));
}

// 16 lanes at most: one I4 byte holds values j and j + 16 of a 32-value block.
using D16 = hn::CappedTag<float, 16>;

bool I4CodesFastImpl(const float* src, uint64_t rows, uint64_t cols, uint64_t len, const float* scales,
                     uint8_t* data, double* max_abs, double* sum_sq) {
  const D16 df;
  const hn::RebindToSigned<D16> di;
  const hn::Rebind<uint8_t, D16> d8;
  const size_t N = hn::Lanes(df);
  const uint64_t gpr = cols / len, stride = cols / 2;
  const auto c8 = hn::Set(di, 8);
  const auto lo = hn::Set(df, -8.0f), hi = hn::Set(df, 7.0f);
  for (uint64_t r = 0; r < rows; ++r) {
    const float* row = src + r * cols;
    uint8_t* out = data + r * stride;
    auto emax = hn::Zero(df), esum_l = hn::Zero(df), esum_h = hn::Zero(df);
    for (uint64_t k = 0; k < gpr; ++k) {
      const float s = scales[r * gpr + k];
      const auto vs = hn::Set(df, s), vinv = hn::Set(df, s != 0.0f ? 1.0f / s : 0.0f);
      for (uint64_t b = k * len; b < (k + 1) * len; b += 32) {
        for (size_t j = 0; j < 16; j += N) {
          const auto xl = hn::LoadU(df, row + b + j), xh = hn::LoadU(df, row + b + 16 + j);
          const auto rl = RoundCode(df, xl, vinv, lo, hi), rh = RoundCode(df, xh, vinv, lo, hi);
          const auto ql = hn::Add(hn::ConvertTo(di, rl), c8), qh = hn::Add(hn::ConvertTo(di, rh), c8);
          hn::StoreU(hn::DemoteTo(d8, hn::Or(ql, hn::ShiftLeft<4>(qh))), d8, out + b / 2 + j);
          if (max_abs) {
            AddError(df, hn::Sub(hn::Mul(rl, vs), xl), emax, esum_l);
            AddError(df, hn::Sub(hn::Mul(rh, vs), xh), emax, esum_h);
          }
        }
      }
    }
    if (max_abs) FinishError(df, emax, hn::Add(esum_l, esum_h), max_abs, sum_sq);
  }
  return true;
}

bool I8CodesFastImpl(const float* src, uint64_t rows, uint64_t cols, uint64_t len, const float* scales,
                     uint8_t* data, double* max_abs, double* sum_sq) {
  const D16 df;
  const hn::RebindToSigned<D16> di;
  const hn::Rebind<int8_t, D16> d8;
  const size_t N = hn::Lanes(df);
  const uint64_t gpr = cols / len;
  const auto lo = hn::Set(df, -127.0f), hi = hn::Set(df, 127.0f);
  for (uint64_t r = 0; r < rows; ++r) {
    const float* row = src + r * cols;
    int8_t* out = reinterpret_cast<int8_t*>(data + r * cols);
    auto emax = hn::Zero(df), esum = hn::Zero(df);
    for (uint64_t k = 0; k < gpr; ++k) {
      const float s = scales[r * gpr + k];
      const auto vs = hn::Set(df, s), vinv = hn::Set(df, s != 0.0f ? 1.0f / s : 0.0f);
      for (uint64_t c = k * len; c < (k + 1) * len; c += N) {
        const auto x = hn::LoadU(df, row + c);
        const auto q = RoundCode(df, x, vinv, lo, hi);
        hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, q)), d8, out + c);
        if (max_abs) AddError(df, hn::Sub(hn::Mul(q, vs), x), emax, esum);
      }
    }
    if (max_abs) FinishError(df, emax, esum, max_abs, sum_sq);
  }
  return true;
}

#endif  // QLITE_SIZELESS_VECTORS || HWY_TARGET == HWY_SCALAR

bool AllFiniteImpl(const float* src, uint64_t n) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const size_t N = hn::Lanes(df);
  const auto exp_mask = hn::Set(du, 0x7f800000u);
  auto bad = hn::Zero(du);  // all exponent bits set: Inf or NaN
  uint64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::And(hn::BitCast(du, hn::LoadU(df, src + i)), exp_mask);
    bad = hn::Or(bad, hn::VecFromMask(du, hn::Eq(e, exp_mask)));
  }
  bool ok = hn::AllTrue(du, hn::Eq(bad, hn::Zero(du)));
  for (; i < n; ++i) ok = ok && std::isfinite(src[i]);
  return ok;
}

void F16ToF32Impl(const void* src, uint64_t n, float* dst) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const size_t N = hn::Lanes(df);
  const auto* p = static_cast<const hwy::float16_t*>(src);
  // Highway's PromoteTo without F16C (SSSE3, SSE4) reads Inf and NaN halves as 2^16 * (1 +
  // mantissa / 1024); no finite half reaches 2^16, so setting those lanes' exponent bits
  // gives Inf and NaN everywhere (and changes nothing where PromoteTo got them right).
  const auto promote = [&](hn::Vec<decltype(dh)> h) {
    const auto v = hn::PromoteTo(df, h);
    const auto special = hn::BitCast(df, hn::Or(hn::BitCast(du, v), hn::Set(du, 0x7f800000u)));
    return hn::IfThenElse(hn::Ge(hn::Abs(v), hn::Set(df, 65536.0f)), special, v);
  };
  uint64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(promote(hn::LoadU(dh, p + i)), df, dst + i);
  if (i < n) {  // the tail through a padded copy
    HWY_ALIGN hwy::float16_t in[kMaxLanes] = {};
    HWY_ALIGN float out[kMaxLanes];
    std::memcpy(in, p + i, (n - i) * 2);
    hn::Store(promote(hn::Load(dh, in)), df, out);
    std::memcpy(dst + i, out, (n - i) * 4);
  }
}

// F32ToF16's rounding in integer lanes: to nearest even, a carry into the exponent rounding
// up to the next binade (or Inf), subnormals by a per-lane shift, NaN quieted.
void F32ToF16Impl(const float* src, uint64_t n, void* dst, float* decoded) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<uint16_t, decltype(df)> d16;
  const size_t N = hn::Lanes(df);
  const auto one = hn::Set(di, 1), zero = hn::Zero(di), inf = hn::Set(di, 0x7c00);
  auto encode = [&](hn::Vec<decltype(df)> v) {
    const auto x = hn::BitCast(di, v);
    const auto sign = hn::And(hn::ShiftRight<16>(x), hn::Set(di, 0x8000));
    const auto exp = hn::And(hn::ShiftRight<23>(x), hn::Set(di, 0xff));
    const auto mant = hn::And(x, hn::Set(di, 0x7fffff));
    const auto e = hn::Sub(exp, hn::Set(di, 112));  // the f16 exponent field
    auto normal = hn::Or(hn::ShiftLeft<10>(hn::Max(e, zero)), hn::ShiftRight<13>(mant));  // used where e > 0
    const auto rem = hn::And(mant, hn::Set(di, 0x1fff)), half = hn::Set(di, 0x1000);
    auto odd = hn::Eq(hn::And(normal, one), one);
    normal = hn::Add(normal, hn::IfThenElseZero(hn::Or(hn::Gt(rem, half), hn::And(hn::Eq(rem, half), odd)), one));
    // e in [-10, 0]: the significand with its leading 1, shifted right by 14 - e.
    const auto shift = hn::Min(hn::Max(hn::Sub(hn::Set(di, 14), e), hn::Set(di, 14)), hn::Set(di, 24));
    const auto m = hn::Or(mant, hn::Set(di, 0x800000));
    auto sub = hn::Shr(m, shift);
    const auto sub_rem = hn::And(m, hn::Sub(hn::Shl(one, shift), one));
    const auto sub_half = hn::Shl(one, hn::Sub(shift, one));
    odd = hn::Eq(hn::And(sub, one), one);
    sub = hn::Add(sub, hn::IfThenElseZero(hn::Or(hn::Gt(sub_rem, sub_half), hn::And(hn::Eq(sub_rem, sub_half), odd)), one));
    auto h = hn::IfThenElse(hn::Gt(e, zero), normal, hn::IfThenElseZero(hn::Gt(e, hn::Set(di, -11)), sub));
    h = hn::IfThenElse(hn::Gt(e, hn::Set(di, 30)), inf, h);
    const auto nan = hn::And(hn::Eq(exp, hn::Set(di, 0xff)), hn::Ne(mant, zero));
    h = hn::IfThenElse(nan, hn::Set(di, 0x7e00), h);
    return hn::DemoteTo(d16, hn::Or(sign, h));
  };
  auto* out = static_cast<uint8_t*>(dst);
  uint64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(encode(hn::LoadU(df, src + i)), d16, reinterpret_cast<uint16_t*>(out + 2 * i));
  if (i < n) {  // the tail through a padded copy
    HWY_ALIGN float in[kMaxLanes] = {};
    HWY_ALIGN uint16_t halves[kMaxLanes];
    std::memcpy(in, src + i, (n - i) * 4);
    hn::Store(encode(hn::Load(df, in)), d16, halves);
    std::memcpy(out + 2 * i, halves, (n - i) * 2);
  }
  F16ToF32Impl(dst, n, decoded);
}

}  // namespace HWY_NAMESPACE
}  // namespace quant
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite {
namespace quant {

HWY_EXPORT(I4ScalesFastImpl);
HWY_EXPORT(I8ScalesFastImpl);
HWY_EXPORT(I4CodesFastImpl);
HWY_EXPORT(I8CodesFastImpl);
HWY_EXPORT(AllFiniteImpl);
HWY_EXPORT(F16ToF32Impl);
HWY_EXPORT(F32ToF16Impl);

bool I4ScalesFast(const float* src, uint64_t n_groups, uint64_t len, float (*reference)(const float*, uint64_t),
                  float* scales) {
  return HWY_DYNAMIC_DISPATCH(I4ScalesFastImpl)(src, n_groups, len, reference, scales);
}
bool I8ScalesFast(const float* src, uint64_t n_groups, uint64_t len, float* scales) {
  return HWY_DYNAMIC_DISPATCH(I8ScalesFastImpl)(src, n_groups, len, scales);
}
bool I4CodesFast(const float* src, uint64_t rows, uint64_t cols, uint64_t len, const float* scales, uint8_t* data,
                 double* max_abs, double* sum_sq) {
  return HWY_DYNAMIC_DISPATCH(I4CodesFastImpl)(src, rows, cols, len, scales, data, max_abs, sum_sq);
}
bool I8CodesFast(const float* src, uint64_t rows, uint64_t cols, uint64_t len, const float* scales, uint8_t* data,
                 double* max_abs, double* sum_sq) {
  return HWY_DYNAMIC_DISPATCH(I8CodesFastImpl)(src, rows, cols, len, scales, data, max_abs, sum_sq);
}
bool AllFinite(const float* src, uint64_t n) { return HWY_DYNAMIC_DISPATCH(AllFiniteImpl)(src, n); }
void F16ToF32(const void* src, uint64_t n, float* dst) { HWY_DYNAMIC_DISPATCH(F16ToF32Impl)(src, n, dst); }
void F32ToF16(const float* src, uint64_t n, void* dst, float* decoded) {
  HWY_DYNAMIC_DISPATCH(F32ToF16Impl)(src, n, dst, decoded);
}

}  // namespace quant
}  // namespace qlite
#endif  // HWY_ONCE
