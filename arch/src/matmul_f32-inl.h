// Per-target float-activation GEMV for integer weights and the GEMM tile loop shared by all
// weight types (see matmul-inl.h).
#if defined(QLITE_ARCH_SRC_MATMUL_F32_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_SRC_MATMUL_F32_INL_H_
#undef QLITE_ARCH_SRC_MATMUL_F32_INL_H_
#else
#define QLITE_ARCH_SRC_MATMUL_F32_INL_H_
#endif

#include <algorithm>
#include <cstring>

#include "hwy/highway.h"
#include "matmul-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ------------------------------------------------------------ dequantize to f32
// 32 dequantized weights of block b of row r (zeros past cols), given the block's scale/min.
template <WeightType kType>
HWY_INLINE void DequantBlock(const uint8_t* HWY_RESTRICT p, float scale, float min,
                             float* HWY_RESTRICT out) {
  HWY_ALIGN int8_t codes[32];
  DecodeCodes<kType == WeightType::kNF4 ? WeightType::kU4 : kType>(p, codes);
  const hn::CappedTag<float, 16> df;
  const hn::Rebind<int32_t, decltype(df)> d32;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const size_t N = hn::Lanes(df);
  if (kType == WeightType::kNF4) {
    if (N == 16) {  // the 16 float levels fit one vector: lane permute
      const auto table = hn::LoadU(df, ref::kNF4);
      for (size_t i = 0; i < 32; i += N) {
        const auto idx = hn::IndicesFromVec(df, hn::PromoteTo(d32, hn::LoadU(d8, codes + i)));
        hn::Store(hn::Mul(hn::TableLookupLanes(table, idx), hn::Set(df, scale)), df, out + i);
      }
      return;
    }
    for (size_t i = 0; i < 32; ++i) out[i] = ref::kNF4[static_cast<uint8_t>(codes[i])] * scale;
    return;
  }
  const float offset = kType == WeightType::kI4 ? -8.0f * scale : (kType == WeightType::kU4 ? min : 0.0f);
  const auto vs = hn::Set(df, scale), vo = hn::Set(df, offset);
  for (size_t i = 0; i < 32; i += N) {
    const auto q = hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, codes + i)));
    hn::Store(hn::MulAdd(q, vs, vo), df, out + i);
  }
}

// Float activations: dequantize each block in registers (via a 32-float stack tile).
template <WeightType kType>
void GemvIntRows(const WeightMatrix& w, const float* x, float* y, size_t r0, size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  const size_t full = w.cols / 32;
  const size_t bb = ref::BlockBytes(kType);
  const hn::CappedTag<float, 16> df;
  const size_t N = hn::Lanes(df);
  HWY_ALIGN float ws[kChunkBlocks];
  HWY_ALIGN float mins[kChunkBlocks];
  const hn::Rebind<int32_t, decltype(df)> d32;
  const hn::Rebind<int8_t, decltype(df)> d8;
  HWY_ALIGN float tile[32];
  HWY_ALIGN int8_t codes[32];
  HWY_ALIGN float xtail[32] = {0};
  if (full < nb) std::memcpy(xtail, x + full * 32, (w.cols - full * 32) * sizeof(float));
  for (size_t r = r0; r < r1; ++r) {
    size_t step;
    const uint8_t* row = RowBase(w, r, bb, &step);
    auto acc = hn::Zero(df);
    for (size_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
      const size_t b1 = std::min(nb, b0 + kChunkBlocks);
      BlockScales(w, w.scales, r, b0, b1, ws);
      if (kType == WeightType::kU4) BlockScales(w, w.mins, r, b0, b1, mins);
      for (size_t b = b0; b < b1; ++b) {
        const float* xb = b < full ? x + 32 * b : xtail;
        if (kType == WeightType::kNF4) {  // float levels: through the dequantized tile
          DequantBlock<kType>(row + b * step, ws[b - b0], 0.0f, tile);
          for (size_t i = 0; i < 32; i += N) {
            acc = hn::MulAdd(hn::Load(df, tile + i), hn::LoadU(df, xb + i), acc);
          }
          continue;
        }
        // sum(q * x) * scale, plus the offset (I4: -8 * scale, U4: min) times sum(x).
        DecodeCodes<kType>(row + b * step, codes);
        auto bacc = hn::Zero(df), bx = hn::Zero(df);
        for (size_t i = 0; i < 32; i += N) {
          const auto q = hn::ConvertTo(df, hn::PromoteTo(d32, hn::LoadU(d8, codes + i)));
          const auto xv = hn::LoadU(df, xb + i);
          bacc = hn::MulAdd(q, xv, bacc);
          if (kType != WeightType::kI8) bx = hn::Add(bx, xv);
        }
        acc = hn::MulAdd(bacc, hn::Set(df, ws[b - b0]), acc);
        if (kType == WeightType::kI4) acc = hn::MulAdd(bx, hn::Set(df, -8.0f * ws[b - b0]), acc);
        if (kType == WeightType::kU4) acc = hn::MulAdd(bx, hn::Set(df, mins[b - b0]), acc);
      }
    }
    y[r] = hn::GetLane(hn::SumOfLanes(df, acc));
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

// Chunk dequantization for the quantized (int) types.
template <WeightType kType>
void DequantIntRowChunk(const WeightMatrix& w, size_t r, size_t c0, float* out) {
  const size_t nb = (w.cols + 31) / 32;
  const size_t b0 = c0 / 32, b1 = std::min(nb, b0 + kGemmCols / 32);
  HWY_ALIGN float ws[kGemmCols / 32];
  HWY_ALIGN float mins[kGemmCols / 32] = {0};
  size_t step;
  const uint8_t* row = RowBase(w, r, ref::BlockBytes(kType), &step);
  BlockScales(w, w.scales, r, b0, b1, ws);
  if (kType == WeightType::kU4) BlockScales(w, w.mins, r, b0, b1, mins);
  for (size_t b = b0; b < b1; ++b) {
    DequantBlock<kType>(row + b * step, ws[b - b0], mins[b - b0], out + (b - b0) * 32);
  }
  // Zero the padding so the chunk's tail contributes nothing (U4 padding decodes to min).
  const size_t valid = std::min(kGemmCols, w.cols - c0);
  for (size_t i = valid; i < kGemmCols; ++i) out[i] = 0.0f;
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
