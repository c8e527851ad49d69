// F32, F16 and BF16 weight kernels for every Highway target (QLITE_KERNELS_FLOAT).
// Full 32-element blocks are vectorized; a row's partial last block (these types store
// no padding) is done in scalar code.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "matmul_float.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "matmul-inl.h"
#include "matmul_f32-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {

template <WeightType kType>
constexpr size_t ElemBytes() {
  return kType == WeightType::kF32 ? 4 : 2;
}

template <WeightType kType, class DF>
HWY_INLINE hn::Vec<DF> LoadW(DF df, const uint8_t* HWY_RESTRICT p, size_t i) {
  if constexpr (kType == WeightType::kF32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(p) + i);
  } else if constexpr (kType == WeightType::kF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p) + i));
  } else {
    const hn::Rebind<hwy::bfloat16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::bfloat16_t*>(p) + i));
  }
}

template <WeightType kType>
HWY_INLINE float ScalarW(const uint8_t* p, size_t i) {
  if constexpr (kType == WeightType::kF32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  } else {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    return kType == WeightType::kF16 ? ref::F32FromF16(h) : ref::F32FromBF16(h);
  }
}

// The partial last block of row r (cols % 32 elements), RowMajor or Interleave4x32.
template <WeightType kType>
HWY_INLINE const uint8_t* TailPtr(const WeightMatrix& w, size_t r, size_t full) {
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  constexpr size_t bb = 32 * ElemBytes<kType>();
  if (w.layout != WeightLayout::kInterleave4x32) return base + r * w.row_stride + full * bb;
  const size_t tail_bytes = (w.cols - full * 32) * ElemBytes<kType>();
  return base + (r / 4) * 4 * w.row_stride + full * 4 * bb + (r % 4) * tail_bytes;
}

template <WeightType kType>
void GemvFloatRows(const WeightMatrix& w, const float* x, float* y, size_t r0, size_t r1) {
  const size_t full = w.cols / 32;
  const hn::CappedTag<float, 16> df;
  const size_t N = hn::Lanes(df);
  for (size_t r = r0; r < r1; ++r) {
    size_t step;
    const uint8_t* row = RowBase(w, r, 32 * ElemBytes<kType>(), &step);
    auto a0 = hn::Zero(df), a1 = hn::Zero(df);
    for (size_t b = 0; b < full; ++b) {
      const uint8_t* p = row + b * step;
      const float* xb = x + 32 * b;
      for (size_t i = 0; i < 32; i += 2 * N) {
        a0 = hn::MulAdd(LoadW<kType>(df, p, i), hn::LoadU(df, xb + i), a0);
        a1 = hn::MulAdd(LoadW<kType>(df, p, i + N), hn::LoadU(df, xb + i + N), a1);
      }
    }
    float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, a1)));
    if (full * 32 < w.cols) {
      const uint8_t* t = TailPtr<kType>(w, r, full);
      for (size_t i = 0; i < w.cols - full * 32; ++i) sum += ScalarW<kType>(t, i) * x[full * 32 + i];
    }
    y[r] = sum;
  }
}

template <WeightType kType>
void GemvQ8FloatRows(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0,
                     size_t r1) {
  const size_t full = w.cols / 32;
  const hn::CappedTag<float, 16> df;
  const hn::Rebind<int32_t, decltype(df)> d32;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const size_t N = hn::Lanes(df);
  for (size_t r = r0; r < r1; ++r) {
    size_t step;
    const uint8_t* row = RowBase(w, r, 32 * ElemBytes<kType>(), &step);
    auto acc = hn::Zero(df);
    for (size_t b = 0; b < full; ++b) {
      const uint8_t* p = row + b * step;
      const int8_t* xb = x.q + 32 * b;
      auto bacc = hn::Zero(df);
      for (size_t i = 0; i < 32; i += N) {
        const auto xv = hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, xb + i)));
        bacc = hn::MulAdd(LoadW<kType>(df, p, i), xv, bacc);
      }
      acc = hn::MulAdd(bacc, hn::Set(df, x.scales[b]), acc);
    }
    float sum = hn::GetLane(hn::SumOfLanes(df, acc));
    if (full * 32 < w.cols) {
      const uint8_t* t = TailPtr<kType>(w, r, full);
      float tail = 0.0f;
      for (size_t i = 0; i < w.cols - full * 32; ++i) tail += ScalarW<kType>(t, i) * x.q[full * 32 + i];
      sum += tail * x.scales[full];
    }
    y[r] = sum;
  }
}

template <WeightType kType>
void DequantFloatRowChunk(const WeightMatrix& w, size_t r, size_t c0, float* out) {
  const hn::CappedTag<float, 16> df;
  const size_t N = hn::Lanes(df);
  const size_t full = w.cols / 32;
  const size_t b0 = c0 / 32, b1 = std::min(full, b0 + kGemmCols / 32);
  size_t step;
  const uint8_t* row = RowBase(w, r, 32 * ElemBytes<kType>(), &step);
  size_t done = 0;
  for (size_t b = b0; b < b1; ++b, done += 32) {
    for (size_t i = 0; i < 32; i += N) hn::Store(LoadW<kType>(df, row + b * step, i), df, out + done + i);
  }
  const size_t valid = std::min(kGemmCols, w.cols - c0);
  if (done < valid) {  // the partial last block
    const uint8_t* t = TailPtr<kType>(w, r, full);
    for (size_t i = done; i < valid; ++i) out[i] = ScalarW<kType>(t, i - done);
  }
  for (size_t i = valid; i < kGemmCols; ++i) out[i] = 0.0f;
}

template <WeightType kType>
internal::RowKernels Make() {
  internal::RowKernels k;
  k.gemv = &GemvFloatRows<kType>;
  k.gemv_q8 = &GemvQ8FloatRows<kType>;
  k.gemm = &GemmRows<&DequantFloatRowChunk<kType>>;
  return k;
}

internal::RowKernels FloatKernelsFor(WeightType type) {
  switch (type) {
    case WeightType::kF32: return Make<WeightType::kF32>();
    case WeightType::kF16: return Make<WeightType::kF16>();
    case WeightType::kBF16: return Make<WeightType::kBF16>();
    default: return internal::RowKernels();
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite {
namespace arch {
HWY_EXPORT(FloatKernelsFor);
namespace internal {
RowKernels FloatKernels(WeightType type) { return HWY_DYNAMIC_DISPATCH(FloatKernelsFor)(type); }
}  // namespace internal
}  // namespace arch
}  // namespace qlite
#endif
