// F32, F16 and BF16 weight kernels (float activations: Gemv and the tiled Gemm) for every
// Highway target (QLITE_KERNELS_FLOAT). Full 32-element blocks are vectorized; a row's
// partial last block (these types store no padding) is done in scalar code. Float weights
// are always RowMajor (CheckWeightMatrix).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "matmul_float.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "matmul-inl.h"

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
    return kType == WeightType::kF16 ? F16ToF32(h) : BF16ToF32(h);
  }
}

// Row r's elements [32 * full, cols): the partial last block.
template <WeightType kType>
HWY_INLINE const uint8_t* TailPtr(const WeightMatrix& w, size_t r, size_t full) {
  return static_cast<const uint8_t*>(w.data) + r * w.row_stride + full * 32 * ElemBytes<kType>();
}

template <WeightType kType>
void GemvFloatRows(const WeightMatrix& w, const float* x, float* y, size_t r0, size_t r1) {
  const size_t full = w.cols / 32;
  const hn::CappedTag<float, 16> df;
  const size_t N = hn::Lanes(df);
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(w.data) + r * w.row_stride;
    constexpr size_t step = 32 * ElemBytes<kType>();
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

// ------------------------------------------------------------ GEMM (prefill)
// Dequantizes a tile of up to 4 rows x kGemmCols columns once, then dots it with every
// activation row of the batch (each x load serves 4 weight rows).
constexpr size_t kGemmCols = 1024;  // 4 x 1024 f32 tile: 16 KiB, stays in L1/L2

// Dequant(w, r, c0, out) writes W[r][c0 .. c0 + kGemmCols) to out (zeros past cols).
using DequantChunkFn = void (*)(const WeightMatrix& w, size_t r, size_t c0, float* out);

template <DequantChunkFn Dequant>
void GemmRows(const WeightMatrix& w, const float* x, size_t batch, size_t x_stride, float* y,
              size_t y_stride, size_t r0, size_t r1) {
  const hn::CappedTag<float, 16> df;
  const size_t N = hn::Lanes(df);
  HWY_ALIGN float tile[4][kGemmCols];
  for (size_t rt = r0; rt < r1; rt += 4) {
    const size_t nr = std::min<size_t>(4, r1 - rt);
    for (size_t bi = 0; bi < batch; ++bi) {
      for (size_t k = 0; k < nr; ++k) y[bi * y_stride + rt + k] = 0.0f;
    }
    for (size_t c0 = 0; c0 < w.cols; c0 += kGemmCols) {
      const size_t len = std::min(kGemmCols, w.cols - c0);
      for (size_t k = 0; k < 4; ++k) {
        if (k < nr) {
          Dequant(w, rt + k, c0, tile[k]);
        } else {
          std::memset(tile[k], 0, sizeof(tile[k]));
        }
      }
      const size_t vec_len = len / N * N;
      size_t bi = 0;
      // Two activation rows at a time: 6 loads feed 8 FMAs (4 weight rows x 2 tokens).
      for (; bi + 2 <= batch; bi += 2) {
        const float* xa = x + bi * x_stride + c0;
        const float* xb = xa + x_stride;
        auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
        auto b0 = hn::Zero(df), b1 = hn::Zero(df), b2 = hn::Zero(df), b3 = hn::Zero(df);
        for (size_t i = 0; i < vec_len; i += N) {
          const auto va = hn::LoadU(df, xa + i), vb = hn::LoadU(df, xb + i);
          const auto t0 = hn::Load(df, tile[0] + i), t1 = hn::Load(df, tile[1] + i);
          const auto t2 = hn::Load(df, tile[2] + i), t3 = hn::Load(df, tile[3] + i);
          a0 = hn::MulAdd(t0, va, a0);
          a1 = hn::MulAdd(t1, va, a1);
          a2 = hn::MulAdd(t2, va, a2);
          a3 = hn::MulAdd(t3, va, a3);
          b0 = hn::MulAdd(t0, vb, b0);
          b1 = hn::MulAdd(t1, vb, b1);
          b2 = hn::MulAdd(t2, vb, b2);
          b3 = hn::MulAdd(t3, vb, b3);
        }
        float s[8] = {hn::GetLane(hn::SumOfLanes(df, a0)), hn::GetLane(hn::SumOfLanes(df, a1)),
                      hn::GetLane(hn::SumOfLanes(df, a2)), hn::GetLane(hn::SumOfLanes(df, a3)),
                      hn::GetLane(hn::SumOfLanes(df, b0)), hn::GetLane(hn::SumOfLanes(df, b1)),
                      hn::GetLane(hn::SumOfLanes(df, b2)), hn::GetLane(hn::SumOfLanes(df, b3))};
        for (size_t i = vec_len; i < len; ++i) {
          for (size_t k = 0; k < 4; ++k) {
            s[k] += tile[k][i] * xa[i];
            s[4 + k] += tile[k][i] * xb[i];
          }
        }
        for (size_t k = 0; k < nr; ++k) {
          y[bi * y_stride + rt + k] += s[k];
          y[(bi + 1) * y_stride + rt + k] += s[4 + k];
        }
      }
      for (; bi < batch; ++bi) {
        const float* xb = x + bi * x_stride + c0;
        auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
        for (size_t i = 0; i < vec_len; i += N) {
          const auto xv = hn::LoadU(df, xb + i);
          a0 = hn::MulAdd(hn::Load(df, tile[0] + i), xv, a0);
          a1 = hn::MulAdd(hn::Load(df, tile[1] + i), xv, a1);
          a2 = hn::MulAdd(hn::Load(df, tile[2] + i), xv, a2);
          a3 = hn::MulAdd(hn::Load(df, tile[3] + i), xv, a3);
        }
        float s[4] = {hn::GetLane(hn::SumOfLanes(df, a0)), hn::GetLane(hn::SumOfLanes(df, a1)),
                      hn::GetLane(hn::SumOfLanes(df, a2)), hn::GetLane(hn::SumOfLanes(df, a3))};
        for (size_t i = vec_len; i < len; ++i) {
          for (size_t k = 0; k < 4; ++k) s[k] += tile[k][i] * xb[i];
        }
        for (size_t k = 0; k < nr; ++k) y[bi * y_stride + rt + k] += s[k];
      }
    }
  }
}

template <WeightType kType>
void DequantFloatRowChunk(const WeightMatrix& w, size_t r, size_t c0, float* out) {
  const hn::CappedTag<float, 16> df;
  const size_t N = hn::Lanes(df);
  const size_t full = w.cols / 32;
  const size_t b0 = c0 / 32, b1 = std::min(full, b0 + kGemmCols / 32);
  const uint8_t* row = static_cast<const uint8_t*>(w.data) + r * w.row_stride;
  constexpr size_t step = 32 * ElemBytes<kType>();
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
  k.gemv = &GemvFloatRows<kType>;  // int8 activations on float weights: the reference
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
