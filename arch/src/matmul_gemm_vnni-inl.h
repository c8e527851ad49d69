// Per-target GEMM with int8 activations on AVX-512 VNNI (AVX3_DL): the prefill kernel for
// the integer weight types. Included by matmul_gemm_q8-inl.h; empty on other targets.
//
// A tile of 32 weight rows x 16 blocks is decoded once into row-vector order (a 16 x 16
// int32 transpose per 64 packed bytes of 16 rows): for each block and each group k of 4
// elements, one 64-byte vector holds those 4 codes of 16 rows,
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
#include "matmul_interleave16x4-inl.h"
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

// In place: v[j] lane i = v[i] lane j (16 x 16 int32: 32-bit, 64-bit, then 128-bit lane
// interleaves, 64 shuffles).
QLITE_VNNI_ATTR HWY_INLINE void Transpose16x16(__m512i* HWY_RESTRICT v) {
  __m512i t[16];
  for (size_t g = 0; g < 4; ++g) {  // rows 4g..4g+3: 4 x 4 transposes inside each 128-bit lane
    const __m512i* r = v + 4 * g;
    const __m512i lo01 = _mm512_unpacklo_epi32(r[0], r[1]), hi01 = _mm512_unpackhi_epi32(r[0], r[1]);
    const __m512i lo23 = _mm512_unpacklo_epi32(r[2], r[3]), hi23 = _mm512_unpackhi_epi32(r[2], r[3]);
    t[4 * g + 0] = _mm512_unpacklo_epi64(lo01, lo23);  // 128-bit lane L: dword 4L of rows 4g..
    t[4 * g + 1] = _mm512_unpackhi_epi64(lo01, lo23);  // dword 4L + 1
    t[4 * g + 2] = _mm512_unpacklo_epi64(hi01, hi23);
    t[4 * g + 3] = _mm512_unpackhi_epi64(hi01, hi23);
  }
  for (size_t c = 0; c < 4; ++c) {  // then a 4 x 4 transpose of 128-bit lanes per c
    const __m512i x0 = _mm512_shuffle_i32x4(t[c], t[4 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i x1 = _mm512_shuffle_i32x4(t[c], t[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
    const __m512i x2 = _mm512_shuffle_i32x4(t[8 + c], t[12 + c], _MM_SHUFFLE(1, 0, 1, 0));
    const __m512i x3 = _mm512_shuffle_i32x4(t[8 + c], t[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
    v[0 + c] = _mm512_shuffle_i32x4(x0, x2, _MM_SHUFFLE(2, 0, 2, 0));
    v[4 + c] = _mm512_shuffle_i32x4(x0, x2, _MM_SHUFFLE(3, 1, 3, 1));
    v[8 + c] = _mm512_shuffle_i32x4(x1, x3, _MM_SHUFFLE(2, 0, 2, 0));
    v[12 + c] = _mm512_shuffle_i32x4(x1, x3, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

// The packed bytes of one row's blocks [b, b + 64 / bb) as one vector; blocks at or past
// `end` are zero and not read. RowMajor: one masked load; Interleave4x32: the row's blocks
// lie `step` bytes apart, one 128/256-bit load each.
template <size_t kBlockBytes>
QLITE_VNNI_ATTR HWY_INLINE __m512i LoadRowBlocks(const uint8_t* HWY_RESTRICT row, size_t step,
                                                 size_t b, size_t end) {
  constexpr size_t kPer = 64 / kBlockBytes;
  const size_t have = std::min(kPer, end - b);
  if (step == kBlockBytes) {
    const __mmask64 m = have == kPer ? ~__mmask64{0} : (__mmask64{1} << (have * kBlockBytes)) - 1;
    return _mm512_maskz_loadu_epi8(m, row + b * kBlockBytes);
  }
  const uint8_t* p = row + b * step;
  if (kBlockBytes == 32) {
    const __m512i v = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    if (have < 2) return v;
    return _mm512_inserti64x4(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + step)), 1);
  }
  auto piece = [&](size_t j) HWY_ATTR {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + j * step));
  };
  __m512i v = _mm512_zextsi128_si512(piece(0));
  if (have > 1) v = _mm512_inserti32x4(v, piece(1), 1);
  if (have > 2) v = _mm512_inserti32x4(v, piece(2), 2);
  if (have > 3) v = _mm512_inserti32x4(v, piece(3), 3);
  return v;
}

// The tile's code vector(s) from packed dword vector `v` (dword j of a block for 16 rows):
// I8 biased to u8; 4-bit low nibbles (elements 4j..) and high nibbles (16 + 4j..).
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE void StoreTileCodes(__m512i v, size_t j, __m512i nf4,
                                               uint8_t (*HWY_RESTRICT out)[64]) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  if (kType == WeightType::kI8) {
    _mm512_store_si512(out[j], _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80))));
    return;
  }
  __m512i lo = _mm512_and_si512(v, low4);
  __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
  if (kType == WeightType::kNF4) {
    lo = _mm512_shuffle_epi8(nf4, lo);
    hi = _mm512_shuffle_epi8(nf4, hi);
  }
  _mm512_store_si512(out[j], lo);
  _mm512_store_si512(out[4 + j], hi);
}

// Interleave16x4 (FORMAT.md): the file already holds the row vectors, and a block's 16
// scales side by side; rg is a multiple of 16 and padding rows decode to zero.
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE void DecodeInterleave16x4Group(const WeightMatrix& w, size_t rg, size_t b0,
                                                   size_t n, size_t g, __m512i nf4,
                                                   VnniTile* HWY_RESTRICT tile) {
  constexpr size_t kWords = PackedBlockBytes<kType>() / 4;
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + rg * w.row_stride + b0 * kWords * 64;
  const __m512 k = _mm512_set1_ps(kType == WeightType::kNF4 ? 1.0f / 127.0f : 1.0f);
  for (size_t b = 0; b < n; ++b) {
    for (size_t j = 0; j < kWords; ++j) {
      StoreTileCodes<kType>(_mm512_loadu_si512(p + (b * kWords + j) * 64), j, nf4, tile->codes[g][b]);
    }
    _mm512_store_ps(tile->scales[g][b], _mm512_mul_ps(Interleave16x4Scales(w, w.scales, rg / 16, b0 + b), k));
    if (kType == WeightType::kU4) _mm512_store_ps(tile->mins[g][b], Interleave16x4Scales(w, w.mins, rg / 16, b0 + b));
  }
}

// Rows [rg, rg + nr) (nr <= 16), blocks [b0, b0 + n) into row vector g of the tile: per 64
// packed bytes of each row, one 16 x 16 int32 transpose turns rows into lanes. Absent rows
// are zero codes and zero scales.
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE void DecodeVnniGroup(const WeightMatrix& w, size_t rg, size_t nr,
                                                size_t b0, size_t n, size_t g,
                                                VnniTile* HWY_RESTRICT tile) {
  constexpr size_t kBlockBytes = PackedBlockBytes<kType>();
  constexpr size_t kPer = 64 / kBlockBytes;  // blocks per row vector: 4 (4-bit) or 2 (I8)
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i nf4 = _mm512_xor_si512(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kNF4Int8))), bias);
  if (w.layout == WeightLayout::kInterleave16x4) return DecodeInterleave16x4Group<kType>(w, rg, b0, n, g, nf4, tile);
  const uint8_t* rows[kVnniRows];
  size_t step = 0;
  for (size_t i = 0; i < nr; ++i) rows[i] = RowBase(w, rg + i, kBlockBytes, &step);
  __m512i v[kVnniRows];
  for (size_t b = 0; b < n; b += kPer) {
    for (size_t i = 0; i < kVnniRows; ++i) {
      v[i] = i < nr ? LoadRowBlocks<kBlockBytes>(rows[i], step, b0 + b, b0 + n) : _mm512_setzero_si512();
    }
    Transpose16x16(v);  // v[j]: packed dword j of the 16 rows
    for (size_t j = 0; j < kVnniRows; ++j) {
      StoreTileCodes<kType>(v[j], j % (kBlockBytes / 4), nf4, tile->codes[g][b + j / (kBlockBytes / 4)]);
    }
  }
  // Scales (and U4 mins): 16 rows x n blocks, transposed the same way.
  const __m512 k = _mm512_set1_ps(kType == WeightType::kNF4 ? 1.0f / 127.0f : 1.0f);
  // One scale per block in f16/f32 (what converters write): 16 scales per row straight
  // from the file; anything else through BlockScales.
  const bool direct = !w.per_tensor && w.group_size == 32 && w.scale_type != ScaleType::kU8;
  const size_t gpr = (w.cols + 31) / 32;
  const __mmask16 have = static_cast<__mmask16>((1u << n) - 1);
  HWY_ALIGN float s[kVnniRows][kVnniBlocks];
  for (int pass = 0; pass < (kType == WeightType::kU4 ? 2 : 1); ++pass) {
    const void* src = pass ? w.mins : w.scales;
    for (size_t i = 0; i < kVnniRows; ++i) {
      if (i < nr && direct) {
        const size_t first = (rg + i) * gpr + b0;
        v[i] = _mm512_castps_si512(
            w.scale_type == ScaleType::kF16
                ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(have, static_cast<const uint16_t*>(src) + first))
                : _mm512_maskz_loadu_ps(have, static_cast<const float*>(src) + first));
        continue;
      }
      if (i < nr) BlockScales(w, src, rg + i, b0, b0 + n, s[i]);
      for (size_t b = i < nr ? n : 0; b < kVnniBlocks; ++b) s[i][b] = 0.0f;
      v[i] = _mm512_load_si512(s[i]);
    }
    Transpose16x16(v);
    for (size_t b = 0; b < n; ++b) {
      const __m512 col = _mm512_castsi512_ps(v[b]);
      if (pass) _mm512_store_ps(tile->mins[g][b], col);
      else _mm512_store_ps(tile->scales[g][b], _mm512_mul_ps(col, k));
    }
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

// Asks for the packed bytes and scales of rows [rt, rt + nr), blocks [b0, b0 + n) while the
// current tile computes: the decode reads 16 rows at once, so without this it waits on
// DRAM for each row in turn (45% of batch-8 prefill time, perf). Into L2, not L1: rows a
// power-of-two stride apart fall into a few L1 sets and evict each other before use.
template <WeightType kType>
HWY_INLINE void PrefetchTile(const WeightMatrix& w, size_t rt, size_t nr, size_t b0, size_t n) {
  constexpr size_t kBlockBytes = PackedBlockBytes<kType>();
  const size_t scale_bytes = w.scale_type == ScaleType::kF32 ? 4 : w.scale_type == ScaleType::kF16 ? 2 : 1;
  const size_t gpr = (w.cols + w.group_size - 1) / w.group_size;
  if (w.layout == WeightLayout::kInterleave16x4) {  // per group: one run of codes, one of scales
    for (size_t rg = rt; rg < rt + nr; rg += 16) {
      const char* p = static_cast<const char*>(w.data) + rg * w.row_stride + b0 * kBlockBytes * 16;
      for (size_t off = 0; off < n * kBlockBytes * 16; off += 64) _mm_prefetch(p + off, _MM_HINT_T1);
      if (!w.per_tensor && w.group_size == 32) {
        const char* s = static_cast<const char*>(w.scales) + (rg / 16 * gpr + b0) * 16 * scale_bytes;
        for (size_t off = 0; off < n * 16 * scale_bytes; off += 64) _mm_prefetch(s + off, _MM_HINT_T1);
      }
    }
    return;
  }
  for (size_t i = 0; i < nr; ++i) {
    size_t step;
    const uint8_t* row = RowBase(w, rt + i, kBlockBytes, &step);
    if (step == kBlockBytes || i % 4 == 0) {  // Interleave4x32: four rows share the lines
      for (size_t off = 0; off < n * step; off += 64) {
        _mm_prefetch(reinterpret_cast<const char*>(row + b0 * step + off), _MM_HINT_T1);
      }
    }
    if (!w.per_tensor && w.group_size == 32) {
      _mm_prefetch(static_cast<const char*>(w.scales) + ((rt + i) * gpr + b0) * scale_bytes, _MM_HINT_T1);
    }
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
      if (b0 + kVnniBlocks < nb) {  // the next tile: this row range's next blocks, or the next rows'
        PrefetchTile<kType>(w, rt, nr, b0 + kVnniBlocks, std::min(kVnniBlocks, nb - b0 - kVnniBlocks));
      } else if (rt + tile_rows < r1) {
        PrefetchTile<kType>(w, rt + tile_rows, std::min(tile_rows, r1 - rt - tile_rows), 0,
                            std::min(kVnniBlocks, nb));
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
