// Per-target GEMM with int8 activations (prefill) for the integer weight types.
// A tile of 4 weight rows x kQ8TileBlocks blocks is decoded to int8 once, then dotted with
// the batch's activation rows two at a time (8 independent int8 block dot products per
// step, each weight load serving two tokens), int32 per block, scaled and accumulated in f32:
// maddubs (x86), NEON/SDOT/SMMLA (AArch64, matmul_a64-inl.h) or portable per block. AVX3_DL
// has its own kernel (16 rows per VNNI vector, matmul_gemm_vnni-inl.h). The same per-block
// arithmetic as the GemvQ8 kernels, so results match them up to f32 rounding.
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
#include "matmul_gemm_vnni-inl.h"
#include "matmul_q8-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr size_t kQ8TileBlocks = 64;  // 4 rows x 2048 int8 codes: 8 KiB (+ 8 KiB scales), L1

// One tile; scales are zero past the chunk's n blocks and the matrix's rows, so padding
// contributes nothing.
// codes: what the block dot consumes: I4/U4 as 0..15, NF4 as kNF4Int8 levels, I8 as stored
// (DecodeCodes). The code offset (or U4 min) is applied through the activation block sums.
struct Q8Tile {
  HWY_ALIGN int8_t codes[4][kQ8TileBlocks * 32];
  HWY_ALIGN float scales[4][kQ8TileBlocks];  // NF4's 1/127 folded in
  HWY_ALIGN float mins[4][kQ8TileBlocks];
#if QLITE_A64
  HWY_ALIGN float scales_t[kQ8TileBlocks][4];  // block-major copy: block i's 4 rows in a vector
#endif
};

// Per token and chunk: activation scales (zero padded) and each row's offset correction.
struct Q8Token {
  HWY_ALIGN float xs[kQ8TileBlocks];
  float corr[4];
};

// AArch64's tile kernels read a block's 4 row scales as one vector: a block-major copy.
#if QLITE_A64
HWY_INLINE void StoreBlockMajorScales(Q8Tile* HWY_RESTRICT tile) {
  for (size_t i = 0; i < kQ8TileBlocks; ++i) {
    for (size_t k = 0; k < 4; ++k) tile->scales_t[i][k] = tile->scales[k][i];
  }
}
#else
HWY_INLINE void StoreBlockMajorScales(Q8Tile*) {}
#endif

template <WeightType kType>
HWY_INLINE void DecodeTile(const WeightMatrix& w, size_t rt, size_t nr, size_t b0, size_t b1,
                           Q8Tile* HWY_RESTRICT tile) {
  const size_t bb = BlockBytes(kType);
  const size_t n = b1 - b0;
  std::memset(tile->scales, 0, sizeof(tile->scales));
  std::memset(tile->mins, 0, sizeof(tile->mins));
  for (size_t k = 0; k < 4; ++k) {
    if (k >= nr || n < kQ8TileBlocks) {  // zero codes: padding contributes nothing
      const size_t keep = k >= nr ? 0 : n / 4 * 4;  // a partial quad is zeroed whole
      std::memset(tile->codes[k] + keep * 32, 0, (kQ8TileBlocks - keep) * 32);
    }
    if (k >= nr) continue;
    size_t step;
    const uint8_t* row = RowBase(w, rt + k, bb, &step);
    for (size_t b = b0; b < b1; ++b) DecodeCodes<kType>(row + b * step, tile->codes[k] + (b - b0) * 32);
    BlockScales(w, w.scales, rt + k, b0, b1, tile->scales[k]);
    if (kType == WeightType::kU4) BlockScales(w, w.mins, rt + k, b0, b1, tile->mins[k]);
  }
  const hn::CappedTag<float, 16> df;
  if (kType == WeightType::kNF4) {
    for (size_t k = 0; k < 4; ++k) {
      for (size_t i = 0; i < kQ8TileBlocks; i += hn::Lanes(df)) {
        hn::Store(hn::Mul(hn::Load(df, tile->scales[k] + i), hn::Set(df, 1.0f / 127.0f)), df,
                  tile->scales[k] + i);
      }
    }
  }
  StoreBlockMajorScales(tile);
}

template <WeightType kType>
HWY_INLINE void PrepareToken(const Q8Tile& tile, const QuantizedActivations& x, size_t b0,
                             size_t n, Q8Token* HWY_RESTRICT tok) {
  const hn::CappedTag<float, 16> df;
  const hn::Rebind<int32_t, decltype(df)> d32;
  HWY_ALIGN int32_t sums[kQ8TileBlocks] = {0};
  std::memset(tok->xs, 0, sizeof(tok->xs));
  std::memcpy(tok->xs, x.scales + b0, n * sizeof(float));
  std::memcpy(sums, x.sums + b0, n * sizeof(int32_t));
  // U4 adds min * xs * sum(x); offset codes subtract offset * scale * xs * sum(x).
  const float off = CodeOffset<kType>();
  for (size_t k = 0; k < 4; ++k) {
    const float* v = kType == WeightType::kU4 ? tile.mins[k] : tile.scales[k];
    auto c = hn::Zero(df);
    for (size_t i = 0; i < kQ8TileBlocks; i += hn::Lanes(df)) {
      const auto xss = hn::Mul(hn::Load(df, tok->xs + i), hn::ConvertTo(df, hn::Load(d32, sums + i)));
      c = hn::MulAdd(hn::Load(df, v + i), xss, c);
    }
    const float s = hn::GetLane(hn::SumOfLanes(df, c));
    tok->corr[k] = kType == WeightType::kU4 ? s : -off * s;
  }
}

// kTok (1 or 2) tokens x 4 rows, one block per int8 dot (BlockDecoder::DotCodes; AArch64
// uses TileTokensBestA64). Named accumulators, no arrays: SVE vectors
// cannot be array elements.
template <WeightType kType, size_t kTok>
HWY_INLINE void BlockTokens(const Q8Tile& tile, const QuantizedActivations* x,
                            const Q8Token* tok, size_t b0, size_t n, float (*HWY_RESTRICT out)[4]) {
  const BlockDotTag df;
  auto dot = [](const int8_t* HWY_RESTRICT wq, const int8_t* HWY_RESTRICT xq)
                 HWY_ATTR { return BlockDecoder<kType>::DotCodes(wq, xq); };
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  auto c0 = hn::Zero(df), c1 = hn::Zero(df), c2 = hn::Zero(df), c3 = hn::Zero(df);
  const size_t j1 = kTok > 1 ? 1 : 0;
  for (size_t i = 0; i < n; ++i) {
    const int8_t* w0 = tile.codes[0] + 32 * i;
    const int8_t* w1 = tile.codes[1] + 32 * i;
    const int8_t* w2 = tile.codes[2] + 32 * i;
    const int8_t* w3 = tile.codes[3] + 32 * i;
    const int8_t* qa = x[0].q + 32 * (b0 + i);
    const float xa = tok[0].xs[i];
    a0 = hn::MulAdd(dot(w0, qa), hn::Set(df, tile.scales[0][i] * xa), a0);
    a1 = hn::MulAdd(dot(w1, qa), hn::Set(df, tile.scales[1][i] * xa), a1);
    a2 = hn::MulAdd(dot(w2, qa), hn::Set(df, tile.scales[2][i] * xa), a2);
    a3 = hn::MulAdd(dot(w3, qa), hn::Set(df, tile.scales[3][i] * xa), a3);
    if (kTok > 1) {
      const int8_t* qb = x[j1].q + 32 * (b0 + i);
      const float xb = tok[j1].xs[i];
      c0 = hn::MulAdd(dot(w0, qb), hn::Set(df, tile.scales[0][i] * xb), c0);
      c1 = hn::MulAdd(dot(w1, qb), hn::Set(df, tile.scales[1][i] * xb), c1);
      c2 = hn::MulAdd(dot(w2, qb), hn::Set(df, tile.scales[2][i] * xb), c2);
      c3 = hn::MulAdd(dot(w3, qb), hn::Set(df, tile.scales[3][i] * xb), c3);
    }
  }
  out[0][0] = hn::GetLane(hn::SumOfLanes(df, a0));
  out[0][1] = hn::GetLane(hn::SumOfLanes(df, a1));
  out[0][2] = hn::GetLane(hn::SumOfLanes(df, a2));
  out[0][3] = hn::GetLane(hn::SumOfLanes(df, a3));
  if (kTok > 1) {
    out[j1][0] = hn::GetLane(hn::SumOfLanes(df, c0));
    out[j1][1] = hn::GetLane(hn::SumOfLanes(df, c1));
    out[j1][2] = hn::GetLane(hn::SumOfLanes(df, c2));
    out[j1][3] = hn::GetLane(hn::SumOfLanes(df, c3));
  }
}

#if QLITE_A64
// kTok tokens x the tile's 4 rows through NEON/SDOT/SMMLA (matmul_a64-inl.h).
template <WeightType kType, size_t kTok>
HWY_INLINE void TileTokens(const Q8Tile& tile, const QuantizedActivations* x, const Q8Token* tok, size_t b0,
                           size_t n, float (*HWY_RESTRICT out)[4]) {
  const TileA64 ta{{tile.codes[0], tile.codes[1], tile.codes[2], tile.codes[3]}, tile.scales_t, n};
  const TokensA64 xt{x[0].q + 32 * b0, tok[0].xs, x[kTok - 1].q + 32 * b0, tok[kTok - 1].xs};
  TileTokensBestA64<kType, kTok>(ArmDotExtensions(), ta, xt, out);
}
#else
template <WeightType kType, size_t kTok>
HWY_INLINE void TileTokens(const Q8Tile& tile, const QuantizedActivations* x, const Q8Token* tok, size_t b0,
                           size_t n, float (*HWY_RESTRICT out)[4]) {
  BlockTokens<kType, kTok>(tile, x, tok, b0, n, out);
}
#endif

// The tiled GEMM: per 4-row tile and chunk of blocks, decode once, then two tokens at a time.
template <WeightType kType>
void GemmQ8RowsTiled(const WeightMatrix& w, const QuantizedActivations* x, size_t batch, float* y, size_t y_stride,
                     size_t r0, size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  Q8Tile tile;
  Q8Token tok[2];
  HWY_ALIGN float s[2][4];
  for (size_t rt = r0; rt < r1; rt += 4) {
    const size_t nr = std::min<size_t>(4, r1 - rt);
    for (size_t t = 0; t < batch; ++t) {
      for (size_t k = 0; k < nr; ++k) y[t * y_stride + rt + k] = 0.0f;
    }
    for (size_t b0 = 0; b0 < nb; b0 += kQ8TileBlocks) {
      const size_t b1 = std::min(nb, b0 + kQ8TileBlocks), n = b1 - b0;
      DecodeTile<kType>(w, rt, nr, b0, b1, &tile);
      for (size_t t = 0; t < batch; t += 2) {  // two tokens at a time, then the odd one
        const size_t nt = std::min<size_t>(2, batch - t);
        for (size_t j = 0; j < nt; ++j) PrepareToken<kType>(tile, x[t + j], b0, n, &tok[j]);
        if (nt == 2) TileTokens<kType, 2>(tile, x + t, tok, b0, n, s);
        else TileTokens<kType, 1>(tile, x + t, tok, b0, n, s);
        for (size_t j = 0; j < nt; ++j) {
          for (size_t k = 0; k < nr; ++k) y[(t + j) * y_stride + rt + k] += s[j][k] + tok[j].corr[k];
        }
      }
    }
  }
}

// The GemmQ8 kernel each target runs (AVX3_DL: 16 rows per VNNI vector instead).
#if QLITE_VNNI512
template <WeightType kType>
constexpr internal::GemmQ8RowsFn kGemmQ8IntRows = &GemmQ8VnniRows<kType>;
#else
template <WeightType kType>
constexpr internal::GemmQ8RowsFn kGemmQ8IntRows = &GemmQ8RowsTiled<kType>;
#endif

// The kernels for integer weights of kType in `layout` on this target. Integer weights take
// int8 activations only (float-activation Gemv/Gemm on them run the scalar reference,
// matmul.cc).
template <WeightType kType>
internal::RowKernels IntegerKernels(WeightLayout layout) {
  if (layout == WeightLayout::kInterleave16x4) {
    return Interleave16x4Kernels<kType, kGemvQ8IntRows<kType>, kGemmQ8IntRows<kType>>();
  }
  internal::RowKernels k;
  k.gemv_q8 = kGemvQ8IntRows<kType>;
  k.gemm_q8 = kGemmQ8IntRows<kType>;
  return k;
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
