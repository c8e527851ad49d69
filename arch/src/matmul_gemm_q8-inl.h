// Per-target GEMM with int8 activations (prefill) for the integer weight types.
// A tile of 4 weight rows x kQ8TileBlocks blocks is decoded to int8 once, then dotted with
// the batch's activation rows two at a time (8 independent int8 block dot products per
// step, each weight load serving two tokens), int32 per block, scaled and accumulated in f32.
// On AVX3_DL, 512-bit VNNI does two blocks per dpbusd (about 2 ops per block and token).
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

constexpr size_t kQ8TileBlocks = 32;  // 4 rows x 1024 int8 codes: 4 KiB, stays in L1

// One tile, arrays zero past the chunk's n blocks (and past the matrix's rows).
// codes: what the block dot consumes: I4/U4 as 0..15, NF4 as kNF4Int8 levels, I8 as stored
// (DecodeCodes); on VNNI-512 the signed ones biased by +128 to u8 (CodeOffset). The code
// offset (or U4 min) is applied through the activation block sums.
struct Q8Tile {
  HWY_ALIGN int8_t codes[4][kQ8TileBlocks * 32];
  HWY_ALIGN float scales[4][kQ8TileBlocks];  // NF4's 1/127 folded in
  HWY_ALIGN float mins[4][kQ8TileBlocks];
};

// Per token and chunk: activation scales (zero padded) and each row's offset correction.
struct Q8Token {
  HWY_ALIGN float xs[kQ8TileBlocks];
  float corr[4];
};

template <WeightType kType>
HWY_INLINE void DecodeTile(const WeightMatrix& w, size_t rt, size_t nr, size_t b0, size_t b1,
                           Q8Tile* HWY_RESTRICT tile) {
  const size_t bb = ref::BlockBytes(kType);
  const size_t n = b1 - b0;
  std::memset(tile->scales, 0, sizeof(tile->scales));
  std::memset(tile->mins, 0, sizeof(tile->mins));
  for (size_t k = 0; k < 4; ++k) {
    if (k >= nr || n < kQ8TileBlocks) {  // zero codes: padding contributes nothing
      std::memset(tile->codes[k] + (k >= nr ? 0 : n * 32), 0,
                  (kQ8TileBlocks - (k >= nr ? 0 : n)) * 32);
    }
    if (k >= nr) continue;
    size_t step;
    const uint8_t* row = RowBase(w, rt + k, bb, &step);
    for (size_t b = b0; b < b1; ++b) DecodeCodes<kType>(row + b * step, tile->codes[k] + (b - b0) * 32);
    BlockScales(w, w.scales, rt + k, b0, b1, tile->scales[k]);
    if (kType == WeightType::kU4) BlockScales(w, w.mins, rt + k, b0, b1, tile->mins[k]);
  }
  const hn::CappedTag<float, 16> df;
  const hn::CappedTag<uint8_t, 32> d8;  // n * 32 bytes: a whole number of vectors
  if (kType == WeightType::kNF4) {
    for (size_t k = 0; k < 4; ++k) {
      for (size_t i = 0; i < kQ8TileBlocks; i += hn::Lanes(df)) {
        hn::Store(hn::Mul(hn::Load(df, tile->scales[k] + i), hn::Set(df, 1.0f / 127.0f)), df,
                  tile->scales[k] + i);
      }
    }
  }
  if (CodeOffset<kType>() == 128.0f) {  // signed codes to u8 for VNNI; padding stays 0
    for (size_t k = 0; k < nr; ++k) {
      uint8_t* c = reinterpret_cast<uint8_t*>(tile->codes[k]);
      for (size_t i = 0; i < n * 32; i += hn::Lanes(d8)) {
        hn::Store(hn::Xor(hn::Load(d8, c + i), hn::Set(d8, 0x80)), d8, c + i);
      }
    }
  }
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
// kTok tokens x 4 rows, two blocks per 512-bit dpbusd (block 2p in the low 256 bits).
template <size_t kTok>
QLITE_VNNI_ATTR HWY_INLINE void VnniTokens(const Q8Tile& tile, const QuantizedActivations* x,
                                           const Q8Token* tok, size_t b0, size_t n,
                                           float (*HWY_RESTRICT out)[4]) {
  const __m512i lohi = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i zero = _mm512_setzero_si512();
  __m512 acc[kTok][4];
  for (size_t j = 0; j < kTok; ++j) {
    for (size_t k = 0; k < 4; ++k) acc[j][k] = _mm512_setzero_ps();
  }
  auto pair = [&](const float* p) HWY_ATTR {  // [p[0] x8, p[1] x8]
    return _mm512_permutexvar_ps(lohi, _mm512_castps128_ps512(_mm_castpd_ps(
                                           _mm_load_sd(reinterpret_cast<const double*>(p)))));
  };
  for (size_t i = 0; i < n; i += 2) {
    // The last odd block: load only its 32 activation bytes (the weights past it are 0).
    const __mmask64 m = i + 2 <= n ? ~__mmask64{0} : __mmask64{0xFFFFFFFFu};
    __m512i xv[kTok];
    __m512 xs[kTok];
    for (size_t j = 0; j < kTok; ++j) {
      xv[j] = _mm512_maskz_loadu_epi8(m, x[j].q + 32 * (b0 + i));
      xs[j] = pair(tok[j].xs + i);
    }
    for (size_t k = 0; k < 4; ++k) {
      const __m512i wv = _mm512_load_si512(tile.codes[k] + 32 * i);
      const __m512 ws = pair(tile.scales[k] + i);
      for (size_t j = 0; j < kTok; ++j) {
        const __m512i d = _mm512_dpbusd_epi32(zero, wv, xv[j]);
        acc[j][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(ws, xs[j]), acc[j][k]);
      }
    }
  }
  for (size_t j = 0; j < kTok; ++j) {
    for (size_t k = 0; k < 4; ++k) out[j][k] = _mm512_reduce_add_ps(acc[j][k]);
  }
}
#else
// kTok tokens x 4 rows, one block per int8 dot (maddubs on x86, SDOT/portable elsewhere).
template <WeightType kType, size_t kTok>
HWY_INLINE void BlockTokens(const Q8Tile& tile, const QuantizedActivations* x,
                            const Q8Token* tok, size_t b0, size_t n, float (*HWY_RESTRICT out)[4]) {
#if QLITE_X86_256
  const hn::Full256<float> df;
#else
  const hn::CappedTag<int32_t, 8> d32;
  const hn::Rebind<float, decltype(d32)> df;
#endif
  using VF = hn::Vec<decltype(df)>;
  VF acc[kTok][4];
  for (size_t j = 0; j < kTok; ++j) {
    for (size_t k = 0; k < 4; ++k) acc[j][k] = hn::Zero(df);
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < 4; ++k) {
      const int8_t* wq = tile.codes[k] + 32 * i;
      for (size_t j = 0; j < kTok; ++j) {
        const int8_t* xq = x[j].q + 32 * (b0 + i);
#if QLITE_X86_256
        const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(wq));
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
        const VF d{_mm256_cvtepi32_ps(DotBlockX86<kType>(wv, xv))};
#else
        const VF d = hn::ConvertTo(df, DotBlockPortable(d32, wq, xq));
#endif
        acc[j][k] = hn::MulAdd(d, hn::Set(df, tile.scales[k][i] * tok[j].xs[i]), acc[j][k]);
      }
    }
  }
  for (size_t j = 0; j < kTok; ++j) {
    for (size_t k = 0; k < 4; ++k) out[j][k] = hn::GetLane(hn::SumOfLanes(df, acc[j][k]));
  }
}
#endif

template <WeightType kType>
QLITE_VNNI_ATTR void GemmQ8IntRows(const WeightMatrix& w, const QuantizedActivations* x,
                                   size_t batch, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  Q8Tile tile;
  Q8Token tok[2];
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
        for (size_t j = 0; j < nt; ++j) PrepareToken<kType>(tile, x[t + j], b0, n, &tok[j]);
#if QLITE_VNNI512
        if (nt == 2) VnniTokens<2>(tile, x + t, tok, b0, n, s);
        else VnniTokens<1>(tile, x + t, tok, b0, n, s);
#else
        if (nt == 2) BlockTokens<kType, 2>(tile, x + t, tok, b0, n, s);
        else BlockTokens<kType, 1>(tile, x + t, tok, b0, n, s);
#endif
        for (size_t j = 0; j < nt; ++j) {
          for (size_t k = 0; k < nr; ++k) y[(t + j) * y_stride + rt + k] += s[j][k] + tok[j].corr[k];
        }
      }
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
