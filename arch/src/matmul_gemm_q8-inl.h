// Per-target GEMM with int8 activations (prefill) for the integer weight types.
// A tile of 4 weight rows x kQ8TileBlocks blocks is decoded to int8 once, then dotted with
// the batch's activation rows two at a time (8 independent int8 block dot products per
// step, each weight load serving two tokens), int32 per block, scaled and accumulated in f32.
// The same per-block arithmetic as GemvQ8IntRows, so results match it up to f32 rounding.
#if defined(QLITE_ARCH_SRC_MATMUL_GEMM_Q8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_SRC_MATMUL_GEMM_Q8_INL_H_
#undef QLITE_ARCH_SRC_MATMUL_GEMM_Q8_INL_H_
#else
#define QLITE_ARCH_SRC_MATMUL_GEMM_Q8_INL_H_
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

constexpr size_t kQ8TileBlocks = 32;  // 4 rows x 1024 int8 codes: 4 KiB, stays in L1

// Decoded codes of one tile: I4/U4 as 0..15 (offset/min applied via activation sums),
// NF4 as kNF4Int8 levels, I8 as stored (DecodeCodes).
struct Q8Tile {
  HWY_ALIGN int8_t codes[4][kQ8TileBlocks * 32];
  HWY_ALIGN float scales[4][kQ8TileBlocks];
  HWY_ALIGN float mins[4][kQ8TileBlocks];
};

// Per token: f[k][i] = weight scale * activation scale of block b0 + i (NF4's 1/127
// folded in); corr[k] = the offset correction of row k over these blocks.
template <WeightType kType>
HWY_INLINE void TokenFactors(const Q8Tile& tile, const QuantizedActivations& x, size_t b0,
                             size_t n, float (*HWY_RESTRICT f)[kQ8TileBlocks],
                             float* HWY_RESTRICT corr) {
  const float k = kType == WeightType::kNF4 ? 1.0f / 127.0f : 1.0f;
  const float off = kType == WeightType::kI4 ? 8.0f : 0.0f;
  for (size_t r = 0; r < 4; ++r) {
    float c = 0.0f;
    for (size_t i = 0; i < n; ++i) {
      const float xs = x.scales[b0 + i];
      f[r][i] = tile.scales[r][i] * xs * k;
      const float sum = static_cast<float>(x.sums[b0 + i]);
      if (kType == WeightType::kU4) c += tile.mins[r][i] * xs * sum;
      else if (off != 0.0f) c -= off * f[r][i] * sum;
    }
    corr[r] = c;
  }
}

template <WeightType kType>
void GemmQ8IntRows(const WeightMatrix& w, const QuantizedActivations* x, size_t batch, float* y,
                   size_t y_stride, size_t r0, size_t r1) {
#if QLITE_X86_256
  const hn::Full256<float> df;
#else
  const hn::CappedTag<int32_t, 8> d32;
  const hn::Rebind<float, decltype(d32)> df;
#endif
  using VF = hn::Vec<decltype(df)>;
  // One block's int32 dot products as floats (exact: |dot| <= 32 * 128 * 127 < 2^24).
  auto dot = [&](const int8_t* HWY_RESTRICT wq, const int8_t* HWY_RESTRICT xq) HWY_ATTR {
#if QLITE_X86_256
    const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(wq));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
    return VF{_mm256_cvtepi32_ps(DotBlockX86<kType>(wv, xv))};
#else
    return hn::ConvertTo(df, DotBlockPortable(d32, wq, xq));
#endif
  };
  const size_t nb = (w.cols + 31) / 32;
  const size_t bb = ref::BlockBytes(kType);
  Q8Tile tile;
  HWY_ALIGN float fa[4][kQ8TileBlocks], fb[4][kQ8TileBlocks];
  float ca[4], cb[4];
  for (size_t rt = r0; rt < r1; rt += 4) {
    const size_t nr = std::min<size_t>(4, r1 - rt);
    for (size_t t = 0; t < batch; ++t) {
      for (size_t k = 0; k < nr; ++k) y[t * y_stride + rt + k] = 0.0f;
    }
    for (size_t b0 = 0; b0 < nb; b0 += kQ8TileBlocks) {
      const size_t b1 = std::min(nb, b0 + kQ8TileBlocks), n = b1 - b0;
      for (size_t k = 0; k < 4; ++k) {  // missing rows of the last tile: zero codes, scales
        if (k >= nr) {
          std::memset(tile.codes[k], 0, sizeof(tile.codes[k]));
          std::memset(tile.scales[k], 0, sizeof(tile.scales[k]));
          std::memset(tile.mins[k], 0, sizeof(tile.mins[k]));
          continue;
        }
        size_t step;
        const uint8_t* row = RowBase(w, rt + k, bb, &step);
        for (size_t b = b0; b < b1; ++b) DecodeCodes<kType>(row + b * step, tile.codes[k] + (b - b0) * 32);
        BlockScales(w, w.scales, rt + k, b0, b1, tile.scales[k]);
        if (kType == WeightType::kU4) BlockScales(w, w.mins, rt + k, b0, b1, tile.mins[k]);
      }
      size_t t = 0;
      for (; t + 2 <= batch; t += 2) {  // two tokens x four rows
        const QuantizedActivations& xa = x[t];
        const QuantizedActivations& xb = x[t + 1];
        TokenFactors<kType>(tile, xa, b0, n, fa, ca);
        TokenFactors<kType>(tile, xb, b0, n, fb, cb);
        VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
        VF c0 = hn::Zero(df), c1 = hn::Zero(df), c2 = hn::Zero(df), c3 = hn::Zero(df);
        for (size_t i = 0; i < n; ++i) {
          const int8_t* qa = xa.q + 32 * (b0 + i);
          const int8_t* qb = xb.q + 32 * (b0 + i);
          const int8_t* w0 = tile.codes[0] + 32 * i;
          const int8_t* w1 = tile.codes[1] + 32 * i;
          const int8_t* w2 = tile.codes[2] + 32 * i;
          const int8_t* w3 = tile.codes[3] + 32 * i;
          a0 = hn::MulAdd(dot(w0, qa), hn::Set(df, fa[0][i]), a0);
          a1 = hn::MulAdd(dot(w1, qa), hn::Set(df, fa[1][i]), a1);
          a2 = hn::MulAdd(dot(w2, qa), hn::Set(df, fa[2][i]), a2);
          a3 = hn::MulAdd(dot(w3, qa), hn::Set(df, fa[3][i]), a3);
          c0 = hn::MulAdd(dot(w0, qb), hn::Set(df, fb[0][i]), c0);
          c1 = hn::MulAdd(dot(w1, qb), hn::Set(df, fb[1][i]), c1);
          c2 = hn::MulAdd(dot(w2, qb), hn::Set(df, fb[2][i]), c2);
          c3 = hn::MulAdd(dot(w3, qb), hn::Set(df, fb[3][i]), c3);
        }
        const float sa[4] = {hn::GetLane(hn::SumOfLanes(df, a0)), hn::GetLane(hn::SumOfLanes(df, a1)),
                             hn::GetLane(hn::SumOfLanes(df, a2)), hn::GetLane(hn::SumOfLanes(df, a3))};
        const float sb[4] = {hn::GetLane(hn::SumOfLanes(df, c0)), hn::GetLane(hn::SumOfLanes(df, c1)),
                             hn::GetLane(hn::SumOfLanes(df, c2)), hn::GetLane(hn::SumOfLanes(df, c3))};
        for (size_t k = 0; k < nr; ++k) {
          y[t * y_stride + rt + k] += sa[k] + ca[k];
          y[(t + 1) * y_stride + rt + k] += sb[k] + cb[k];
        }
      }
      if (t < batch) {  // odd batch: the last token alone
        const QuantizedActivations& xa = x[t];
        TokenFactors<kType>(tile, xa, b0, n, fa, ca);
        VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
        for (size_t i = 0; i < n; ++i) {
          const int8_t* qa = xa.q + 32 * (b0 + i);
          a0 = hn::MulAdd(dot(tile.codes[0] + 32 * i, qa), hn::Set(df, fa[0][i]), a0);
          a1 = hn::MulAdd(dot(tile.codes[1] + 32 * i, qa), hn::Set(df, fa[1][i]), a1);
          a2 = hn::MulAdd(dot(tile.codes[2] + 32 * i, qa), hn::Set(df, fa[2][i]), a2);
          a3 = hn::MulAdd(dot(tile.codes[3] + 32 * i, qa), hn::Set(df, fa[3][i]), a3);
        }
        const float sa[4] = {hn::GetLane(hn::SumOfLanes(df, a0)), hn::GetLane(hn::SumOfLanes(df, a1)),
                             hn::GetLane(hn::SumOfLanes(df, a2)), hn::GetLane(hn::SumOfLanes(df, a3))};
        for (size_t k = 0; k < nr; ++k) y[t * y_stride + rt + k] += sa[k] + ca[k];
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
