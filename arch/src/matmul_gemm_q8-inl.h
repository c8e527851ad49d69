// Per-target GEMM with int8 activations (prefill) for the integer weight types.
// A tile of 4 weight rows x kQ8TileBlocks blocks is decoded to int8 once, then dotted with
// the batch's activation rows two at a time (8 independent int8 block dot products per
// step, each weight load serving two tokens), int32 per block, scaled and accumulated in f32.
// On AVX3_DL the tile is stored so that two 512-bit VNNI dpbusd cover four blocks (about
// 1.3 vector ops per block and token); elsewhere maddubs (x86) or SDOT/portable per block.
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
#include "matmul_q8-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr size_t kQ8TileBlocks = 64;  // 4 rows x 2048 int8 codes: 8 KiB (+ 8 KiB scales), L1

// One tile; scales are zero past the chunk's n blocks and the matrix's rows, so padding
// contributes nothing (on VNNI its activations are also masked to zero).
// codes: what the block dot consumes: I4/U4 as 0..15, NF4 as kNF4Int8 levels, I8 as stored
// (DecodeCodes); on VNNI-512 the signed ones biased by +128 to u8 (CodeOffset). The code
// offset (or U4 min) is applied through the activation block sums.
struct Q8Tile {
  HWY_ALIGN int8_t codes[4][kQ8TileBlocks * 32];
  HWY_ALIGN float scales[4][kQ8TileBlocks];  // NF4's 1/127 folded in
  HWY_ALIGN float mins[4][kQ8TileBlocks];
#if QLITE_VNNI512
  // Quad layout: per 4 blocks, 64 bytes of their elements 0..15 then 64 of 16..31, so one
  // dpbusd pair leaves each block's dot in its own 4 int32 lanes; scales repeated x4 to match.
  HWY_ALIGN float scales4[4][kQ8TileBlocks * 4];
  HWY_ALIGN float mins4[4][kQ8TileBlocks * 4];
#endif
};

// Per token and chunk: activation scales (zero padded) and each row's offset correction.
struct Q8Token {
  HWY_ALIGN float xs[kQ8TileBlocks];
  float corr[4];
};

#if QLITE_VNNI512
// RowMajor rows: four blocks at a time straight into the quad layout (signed types biased
// by +128). Returns the first block left for the one-at-a-time path.
template <WeightType kType>
HWY_INLINE size_t DecodeQuadsVnni(const uint8_t* HWY_RESTRICT row, size_t step, size_t b0,
                                  size_t b1, int8_t* HWY_RESTRICT codes) {
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  size_t b = b0;
  if (kType == WeightType::kI8) {
    if (step != 32) return b0;
    const __m512i lo_idx = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
    const __m512i hi_idx = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    for (; b + 4 <= b1; b += 4) {
      const __m512i v01 = _mm512_loadu_si512(row + b * 32);
      const __m512i v23 = _mm512_loadu_si512(row + b * 32 + 64);
      int8_t* dst = codes + (b - b0) * 32;
      _mm512_store_si512(dst, _mm512_xor_si512(_mm512_permutex2var_epi64(v01, lo_idx, v23), bias));
      _mm512_store_si512(dst + 64, _mm512_xor_si512(_mm512_permutex2var_epi64(v01, hi_idx, v23), bias));
    }
    return b;
  }
  if (step != 16) return b0;
  // Packed byte i of a block: element i (low nibble) and 16 + i (high nibble).
  const __m512i mask = _mm512_set1_epi8(0x0F);
  const __m512i nf4 = _mm512_xor_si512(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ref::kNF4Int8))), bias);
  for (; b + 4 <= b1; b += 4) {
    const __m512i v = _mm512_loadu_si512(row + b * 16);
    __m512i lo = _mm512_and_si512(v, mask);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
    if (kType == WeightType::kNF4) {
      lo = _mm512_shuffle_epi8(nf4, lo);
      hi = _mm512_shuffle_epi8(nf4, hi);
    }
    int8_t* dst = codes + (b - b0) * 32;
    _mm512_store_si512(dst, lo);
    _mm512_store_si512(dst + 64, hi);
  }
  return b;
}
#endif

template <WeightType kType>
HWY_INLINE void DecodeTile(const WeightMatrix& w, size_t rt, size_t nr, size_t b0, size_t b1,
                           Q8Tile* HWY_RESTRICT tile) {
  const size_t bb = ref::BlockBytes(kType);
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
    size_t b = b0;
#if QLITE_VNNI512
    b = DecodeQuadsVnni<kType>(row, step, b0, b1, tile->codes[k]);
#endif
    for (; b < b1; ++b) {  // one block at a time (Interleave4x32, the chunk's last blocks)
#if QLITE_VNNI512
      HWY_ALIGN int8_t tmp[32];
      DecodeCodes<kType>(row + b * step, tmp);
      if (CodeOffset<kType>() == 128.0f) {  // signed codes to u8
        for (size_t i = 0; i < 32; ++i) tmp[i] = static_cast<int8_t>(tmp[i] ^ 0x80);
      }
      int8_t* dst = tile->codes[k] + (b - b0) / 4 * 128 + (b - b0) % 4 * 16;
      std::memcpy(dst, tmp, 16);
      std::memcpy(dst + 64, tmp + 16, 16);
#else
      DecodeCodes<kType>(row + b * step, tile->codes[k] + (b - b0) * 32);
#endif
    }
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
#if QLITE_VNNI512
  const __m512i rep4 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  for (size_t k = 0; k < 4; ++k) {
    for (size_t i = 0; i < kQ8TileBlocks; i += 4) {
      _mm512_store_ps(tile->scales4[k] + 4 * i,
                      _mm512_permutexvar_ps(rep4, _mm512_castps128_ps512(_mm_load_ps(tile->scales[k] + i))));
      if (kType == WeightType::kU4) {
        _mm512_store_ps(tile->mins4[k] + 4 * i,
                        _mm512_permutexvar_ps(rep4, _mm512_castps128_ps512(_mm_load_ps(tile->mins[k] + i))));
      }
    }
  }
#endif
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

#if QLITE_VNNI512
// kTok tokens x 4 rows, four blocks per dpbusd pair (quad layout). The code offset enters
// as the dpbusd accumulator's start (-offset * sum(x) in each block's first lane), U4's
// min * scale_x * sum(x) as one more FMA.
template <WeightType kType, size_t kTok>
QLITE_VNNI_ATTR HWY_INLINE void VnniTokens(const Q8Tile& tile, const QuantizedActivations* x,
                                           size_t b0, size_t n, float (*HWY_RESTRICT out)[4]) {
  const __m512i rep4 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  const __m512i lo_idx = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0);
  const __m512i hi_idx = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
  const int32_t off = static_cast<int32_t>(CodeOffset<kType>());
  // Zero-padded copies: the chunk's last quad may run past the row's blocks.
  HWY_ALIGN float xs[kTok][kQ8TileBlocks];
  HWY_ALIGN int32_t sums[kTok][kQ8TileBlocks];
  for (size_t j = 0; j < kTok; ++j) {
    std::memset(xs[j], 0, sizeof(xs[j]));
    std::memset(sums[j], 0, sizeof(sums[j]));
    std::memcpy(xs[j], x[j].scales + b0, n * sizeof(float));
    // U4: sum(x) for the min term; else -offset * sum(x), the dpbusd start.
    for (size_t i = 0; i < n; ++i) {
      sums[j][i] = kType == WeightType::kU4 ? x[j].sums[b0 + i] : -off * x[j].sums[b0 + i];
    }
  }
  __m512 acc[kTok][4];
  for (size_t j = 0; j < kTok; ++j) {
    for (size_t k = 0; k < 4; ++k) acc[j][k] = _mm512_setzero_ps();
  }
  for (size_t i = 0; i < n; i += 4) {
    const size_t valid = 32 * std::min<size_t>(4, n - i);  // activation bytes in range
    const __mmask64 m01 = valid >= 64 ? ~__mmask64{0} : (__mmask64{1} << valid) - 1;
    const __mmask64 m23 = valid >= 128 ? ~__mmask64{0}
                          : valid > 64  ? (__mmask64{1} << (valid - 64)) - 1
                                        : __mmask64{0};
    __m512i xa[kTok], xb[kTok], init[kTok];
    __m512 xsv[kTok], xss[kTok];
    for (size_t j = 0; j < kTok; ++j) {
      const int8_t* q = x[j].q + 32 * (b0 + i);
      const __m512i x01 = _mm512_maskz_loadu_epi8(m01, q);
      const __m512i x23 = _mm512_maskz_loadu_epi8(m23, q + 64);
      xa[j] = _mm512_permutex2var_epi64(x01, lo_idx, x23);
      xb[j] = _mm512_permutex2var_epi64(x01, hi_idx, x23);
      xsv[j] = _mm512_permutexvar_ps(rep4, _mm512_castps128_ps512(_mm_load_ps(xs[j] + i)));
      // Block q's value in lane 4q only (each block has four lanes).
      const __m512i s1 = _mm512_maskz_permutexvar_epi32(
          0x1111, rep4, _mm512_castsi128_si512(_mm_load_si128(reinterpret_cast<const __m128i*>(sums[j] + i))));
      if (kType == WeightType::kU4) {
        init[j] = _mm512_setzero_si512();
        xss[j] = _mm512_mul_ps(xsv[j], _mm512_cvtepi32_ps(s1));  // x scale * sum(x)
      } else {
        init[j] = s1;
      }
    }
    for (size_t k = 0; k < 4; ++k) {
      const __m512i wlo = _mm512_load_si512(tile.codes[k] + 32 * i);
      const __m512i whi = _mm512_load_si512(tile.codes[k] + 32 * i + 64);
      const __m512 ws = _mm512_load_ps(tile.scales4[k] + 4 * i);
      for (size_t j = 0; j < kTok; ++j) {
        const __m512i d = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(init[j], wlo, xa[j]), whi, xb[j]);
        acc[j][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(ws, xsv[j]), acc[j][k]);
        if (kType == WeightType::kU4) {
          acc[j][k] = _mm512_fmadd_ps(_mm512_load_ps(tile.mins4[k] + 4 * i), xss[j], acc[j][k]);
        }
      }
    }
  }
  for (size_t j = 0; j < kTok; ++j) {
    for (size_t k = 0; k < 4; ++k) out[j][k] = _mm512_reduce_add_ps(acc[j][k]);
  }
}
#else
// kTok (1 or 2) tokens x 4 rows, one block per int8 dot (maddubs on x86, SDOT/portable
// elsewhere). Named accumulators, no arrays: SVE vectors cannot be array elements.
template <WeightType kType, size_t kTok>
HWY_INLINE void BlockTokens(const Q8Tile& tile, const QuantizedActivations* x,
                            const Q8Token* tok, size_t b0, size_t n, float (*HWY_RESTRICT out)[4]) {
#if QLITE_X86_256
  const hn::Full256<float> df;
#else
  const hn::CappedTag<int32_t, 8> d32;
  const hn::Rebind<float, decltype(d32)> df;
#endif
  auto dot = [&](const int8_t* HWY_RESTRICT wq, const int8_t* HWY_RESTRICT xq) HWY_ATTR {
#if QLITE_X86_256
    const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(wq));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
    return hn::Vec256<float>{_mm256_cvtepi32_ps(DotBlockX86<kType>(wv, xv))};
#else
    return hn::ConvertTo(df, DotBlockPortable(d32, wq, xq));
#endif
  };
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
#endif

template <WeightType kType>
QLITE_VNNI_ATTR void GemmQ8IntRows(const WeightMatrix& w, const QuantizedActivations* x,
                                   size_t batch, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  Q8Tile tile;
#if !QLITE_VNNI512
  Q8Token tok[2];
#endif
  float s[2][4];
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
#if QLITE_VNNI512
        if (nt == 2) VnniTokens<kType, 2>(tile, x + t, b0, n, s);
        else VnniTokens<kType, 1>(tile, x + t, b0, n, s);
        for (size_t j = 0; j < nt; ++j) {
          for (size_t k = 0; k < nr; ++k) y[(t + j) * y_stride + rt + k] += s[j][k];
        }
#else
        for (size_t j = 0; j < nt; ++j) PrepareToken<kType>(tile, x[t + j], b0, n, &tok[j]);
        if (nt == 2) BlockTokens<kType, 2>(tile, x + t, tok, b0, n, s);
        else BlockTokens<kType, 1>(tile, x + t, tok, b0, n, s);
        for (size_t j = 0; j < nt; ++j) {
          for (size_t k = 0; k < nr; ++k) y[(t + j) * y_stride + rt + k] += s[j][k] + tok[j].corr[k];
        }
#endif
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
