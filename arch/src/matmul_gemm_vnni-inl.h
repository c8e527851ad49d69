// Per-target GEMM with int8 activations on AVX-512 VNNI (AVX3_DL): the prefill kernel for
// the integer weight types. Included by matmul_gemm_q8-inl.h; empty on other targets.
//
// A tile of 32 weight rows x 16 blocks is decoded once into row-vector order: for each
// block and each group k of 4 elements, one 64-byte vector holds those 4 codes of 16 rows,
// so one dpbusd against a token's 4 activations broadcast to every lane adds 4 products to
// 16 rows' dot products at once. After a block's 8 groups each int32 lane holds a whole
// block dot: one conversion and one multiply-add per 16 rows x block x token, no horizontal
// reduction. 2 row vectors x 4 tokens are in flight: each weight load feeds 4 dpbusd and
// each activation broadcast 2. The code offset (I4's 8, the +128 bias of signed types)
// enters as the dpbusd start value, -offset * sum(x) per block; U4's min as one more FMA.
// Per row and token the arithmetic does not depend on which tile or token group they fall
// in, so results do not depend on the thread split.
#if defined(QLITE_ARCH_SRC_MATMUL_GEMM_VNNI_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_SRC_MATMUL_GEMM_VNNI_INL_H_
#undef QLITE_ARCH_SRC_MATMUL_GEMM_VNNI_INL_H_
#else
#define QLITE_ARCH_SRC_MATMUL_GEMM_VNNI_INL_H_
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

#if QLITE_VNNI512
constexpr size_t kVnniRows = 16;    // rows per vector: one int32 lane each
constexpr size_t kVnniGroups = 2;   // row vectors per tile (32 rows)
constexpr size_t kVnniBlocks = 16;  // blocks per tile: 2 x 16 x 8 x 64 B = 16 KiB of codes (L1)
constexpr size_t kVnniTokens = 4;   // tokens per pass over the tile

struct VnniTile {
  // codes[g][b][k]: elements 4k..4k+3 of block b for the group's 16 rows (u8: signed
  // types biased by +128, NF4 through its int8 levels).
  alignas(64) uint8_t codes[kVnniGroups][kVnniBlocks][8][64];
  alignas(64) float scales[kVnniGroups][kVnniBlocks][kVnniRows];  // NF4's 1/127 folded in
  alignas(64) float mins[kVnniGroups][kVnniBlocks][kVnniRows];    // U4 only
};

// Rows [rg, rg + nr) (nr <= 16), blocks [b0, b0 + n) into row vector g of the tile. One
// gather per 4 packed bytes collects them from 16 rows (any file layout: the rows' offsets
// are the gather's indices); absent rows are not read and get zero scales.
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE void DecodeVnniGroup(const WeightMatrix& w, size_t rg, size_t nr,
                                                size_t b0, size_t n, size_t g,
                                                VnniTile* HWY_RESTRICT tile) {
  const size_t bb = ref::BlockBytes(kType);
  size_t step;
  const uint8_t* base = RowBase(w, rg, bb, &step);
  alignas(64) int32_t offsets[kVnniRows] = {0};
  for (size_t i = 1; i < nr; ++i) {  // rows of one tile lie within 16 row strides
    size_t unused;
    offsets[i] = static_cast<int32_t>(RowBase(w, rg + i, bb, &unused) - base);
  }
  const __m512i index = _mm512_load_si512(offsets);
  const __mmask16 present = static_cast<__mmask16>((1u << nr) - 1);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i nf4 = _mm512_xor_si512(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ref::kNF4Int8))), bias);
  for (size_t b = 0; b < n; ++b) {
    const uint8_t* p = base + (b0 + b) * step;
    uint8_t(*out)[64] = tile->codes[g][b];
    if (kType == WeightType::kI8) {
      for (size_t k = 0; k < 8; ++k) {
        const __m512i v = _mm512_mask_i32gather_epi32(zero, present, index, p + 4 * k, 1);
        _mm512_store_si512(out[k], _mm512_xor_si512(v, bias));
      }
      continue;
    }
    // Packed byte i of a block: element i (low nibble) and 16 + i (high nibble).
    for (size_t k = 0; k < 4; ++k) {
      const __m512i v = _mm512_mask_i32gather_epi32(zero, present, index, p + 4 * k, 1);
      __m512i lo = _mm512_and_si512(v, low4);
      __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      if (kType == WeightType::kNF4) {
        lo = _mm512_shuffle_epi8(nf4, lo);
        hi = _mm512_shuffle_epi8(nf4, hi);
      }
      _mm512_store_si512(out[k], lo);
      _mm512_store_si512(out[4 + k], hi);
    }
  }
  const float k = kType == WeightType::kNF4 ? 1.0f / 127.0f : 1.0f;
  HWY_ALIGN float s[kVnniBlocks];
  for (size_t i = 0; i < kVnniRows; ++i) {
    if (i < nr) BlockScales(w, w.scales, rg + i, b0, b0 + n, s);
    for (size_t b = 0; b < n; ++b) tile->scales[g][b][i] = i < nr ? s[b] * k : 0.0f;
    if (kType != WeightType::kU4) continue;
    if (i < nr) BlockScales(w, w.mins, rg + i, b0, b0 + n, s);
    for (size_t b = 0; b < n; ++b) tile->mins[g][b][i] = i < nr ? s[b] : 0.0f;
  }
}

// kG row vectors x kT tokens over the tile's n blocks; adds (or, for the first tile of the
// row, stores) the results to y[t * y_stride + row], rows [0, nr) of the tile.
template <WeightType kType, size_t kG, size_t kT>
QLITE_VNNI_ATTR HWY_INLINE void VnniTileTokens(const VnniTile& tile, const QuantizedActivations* x,
                                               size_t b0, size_t n, float* y, size_t y_stride,
                                               size_t nr, bool first) {
  // Per token and block: the dpbusd start value and (U4) x scale * sum(x) for the min term.
  const int32_t off = static_cast<int32_t>(CodeOffset<kType>());
  HWY_ALIGN int32_t start[kT][kVnniBlocks];
  HWY_ALIGN float xsum[kT][kVnniBlocks];
  const int8_t* xq[kT];
  const float* xs[kT];
  for (size_t t = 0; t < kT; ++t) {
    xq[t] = x[t].q + 32 * b0;
    xs[t] = x[t].scales + b0;
    for (size_t b = 0; b < n; ++b) {
      const int32_t sum = x[t].sums[b0 + b];
      start[t][b] = kType == WeightType::kU4 ? 0 : -off * sum;
      xsum[t][b] = kType == WeightType::kU4 ? xs[t][b] * static_cast<float>(sum) : 0.0f;
    }
  }
  __m512 acc[kG][kT];
  for (size_t g = 0; g < kG; ++g) {
    for (size_t t = 0; t < kT; ++t) acc[g][t] = _mm512_setzero_ps();
  }
  for (size_t b = 0; b < n; ++b) {
    __m512i d[kG][kT];
    for (size_t t = 0; t < kT; ++t) {
      const __m512i s = _mm512_set1_epi32(start[t][b]);
      for (size_t g = 0; g < kG; ++g) d[g][t] = s;
    }
    for (size_t k = 0; k < 8; ++k) {
      __m512i xk[kT];
      for (size_t t = 0; t < kT; ++t) {
        int32_t four;
        std::memcpy(&four, xq[t] + 32 * b + 4 * k, 4);
        xk[t] = _mm512_set1_epi32(four);
      }
      for (size_t g = 0; g < kG; ++g) {
        const __m512i wk = _mm512_load_si512(tile.codes[g][b][k]);
        for (size_t t = 0; t < kT; ++t) d[g][t] = _mm512_dpbusd_epi32(d[g][t], wk, xk[t]);
      }
    }
    for (size_t g = 0; g < kG; ++g) {
      const __m512 ws = _mm512_load_ps(tile.scales[g][b]);
      for (size_t t = 0; t < kT; ++t) {
        const __m512 f = _mm512_mul_ps(ws, _mm512_set1_ps(xs[t][b]));
        acc[g][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[g][t]), f, acc[g][t]);
      }
      if (kType == WeightType::kU4) {
        const __m512 wm = _mm512_load_ps(tile.mins[g][b]);
        for (size_t t = 0; t < kT; ++t) {
          acc[g][t] = _mm512_fmadd_ps(wm, _mm512_set1_ps(xsum[t][b]), acc[g][t]);
        }
      }
    }
  }
  for (size_t g = 0; g < kG; ++g) {
    const size_t rows = std::min(kVnniRows, nr - g * kVnniRows);
    const __mmask16 m = static_cast<__mmask16>((1u << rows) - 1);
    for (size_t t = 0; t < kT; ++t) {
      float* out = y + t * y_stride + g * kVnniRows;
      const __m512 v = first ? acc[g][t] : _mm512_add_ps(_mm512_maskz_loadu_ps(m, out), acc[g][t]);
      _mm512_mask_storeu_ps(out, m, v);
    }
  }
}

template <WeightType kType, size_t kG>
QLITE_VNNI_ATTR HWY_INLINE void VnniTile4Tokens(const VnniTile& tile, const QuantizedActivations* x,
                                                size_t nt, size_t b0, size_t n, float* y,
                                                size_t y_stride, size_t nr, bool first) {
  switch (nt) {
    case 4: return VnniTileTokens<kType, kG, 4>(tile, x, b0, n, y, y_stride, nr, first);
    case 3: return VnniTileTokens<kType, kG, 3>(tile, x, b0, n, y, y_stride, nr, first);
    case 2: return VnniTileTokens<kType, kG, 2>(tile, x, b0, n, y, y_stride, nr, first);
    default: return VnniTileTokens<kType, kG, 1>(tile, x, b0, n, y, y_stride, nr, first);
  }
}

template <WeightType kType>
QLITE_VNNI_ATTR void GemmQ8VnniRows(const WeightMatrix& w, const QuantizedActivations* x,
                                    size_t batch, float* y, size_t y_stride, size_t r0, size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  const size_t tile_rows = kVnniGroups * kVnniRows;
  VnniTile tile;
  for (size_t rt = r0; rt < r1; rt += tile_rows) {
    const size_t nr = std::min(tile_rows, r1 - rt);
    const size_t groups = (nr + kVnniRows - 1) / kVnniRows;
    for (size_t b0 = 0; b0 < nb; b0 += kVnniBlocks) {
      const size_t n = std::min(kVnniBlocks, nb - b0);
      for (size_t g = 0; g < groups; ++g) {
        DecodeVnniGroup<kType>(w, rt + g * kVnniRows, std::min(kVnniRows, nr - g * kVnniRows), b0, n,
                               g, &tile);
      }
      for (size_t t = 0; t < batch; t += kVnniTokens) {
        const size_t nt = std::min(kVnniTokens, batch - t);
        float* yt = y + t * y_stride + rt;
        if (groups == 2) VnniTile4Tokens<kType, 2>(tile, x + t, nt, b0, n, yt, y_stride, nr, b0 == 0);
        else VnniTile4Tokens<kType, 1>(tile, x + t, nt, b0, n, yt, y_stride, nr, b0 == 0);
      }
    }
  }
}
#endif  // QLITE_VNNI512

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
