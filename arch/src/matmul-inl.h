// Per-target building blocks shared by the per-scheme kernel TUs (matmul_int4.cc, ...):
// layouts, scales, block decoding, int8 block dot products. The kernels built on them are in
// matmul_q8-inl.h (GEMV) and matmul_gemm_q8-inl.h (GEMM), both on int8 activations.
// Included once per Highway target after foreach_target.h, hence the toggling guard.
//
// Structure of every kernel: for each row, walk its 32-element blocks; a block's scale is
// constant (matmul_internal.h ScalesPerBlock), and the row's scales are decoded to f32 a
// chunk at a time into a stack buffer (no allocation on the decode path).
#if defined(QLITE_ARCH_SRC_MATMUL_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_SRC_MATMUL_INL_H_
#undef QLITE_ARCH_SRC_MATMUL_INL_H_
#else
#define QLITE_ARCH_SRC_MATMUL_INL_H_
#endif

#include <algorithm>
#include <cstring>
#include <utility>

#include "hwy/highway.h"
#include "matmul_internal.h"
#include "qlite/base/weight_codes.h"
#include "target_family-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr size_t kChunkBlocks = 64;  // blocks per scale chunk (2048 columns)

// Block b of row r lies at RowBase + b * step (RowMajor or Interleave4x32, FORMAT.md).
HWY_INLINE const uint8_t* RowBase(const WeightMatrix& w, size_t r, size_t block_bytes,
                                  size_t* step) {
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  if (w.layout != WeightLayout::kInterleave4x32) {  // Interleave16x4: matmul_interleave16x4-inl.h
    *step = block_bytes;
    return base + r * w.row_stride;
  }
  *step = 4 * block_bytes;
  return base + (r / 4) * 4 * w.row_stride + (r % 4) * block_bytes;
}

// Decodes `count` scales from flattened index `first` of `src` (F32, F16 or U8+dq).
HWY_INLINE void DecodeScales(const WeightMatrix& w, const void* src, size_t first,
                             size_t count, float* HWY_RESTRICT out) {
  switch (w.scale_type) {
    case ScaleType::kF32:
      std::memcpy(out, static_cast<const float*>(src) + first, count * sizeof(float));
      return;
    case ScaleType::kF16: {
      const hn::ScalableTag<float> df;
      const hn::Rebind<hwy::float16_t, decltype(df)> dh;
      const auto* p = static_cast<const hwy::float16_t*>(src) + first;
      const size_t N = hn::Lanes(df);
      size_t i = 0;
      for (; i + N <= count; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, p + i)), df, out + i);
      // The rest one lane at a time (a variable-size copy to a padded vector compiles to a
      // libc memcpy call, which costs more than a short row's whole scale decode).
      const hn::CappedTag<float, 1> d1;
      const hn::Rebind<hwy::float16_t, decltype(d1)> dh1;
      for (; i < count; ++i) hn::StoreU(hn::PromoteTo(d1, hn::LoadU(dh1, p + i)), d1, out + i);
      return;
    }
    case ScaleType::kU8: {
      const uint8_t* p = static_cast<const uint8_t*>(src);
      // One division per call: an integer division per scale costs more than a row's dot
      // products (U4 with dq_block 8, as imported from Q4_K, ran at half speed).
      const size_t first_block = DivPow2Fast(first, w.dq_block);
      size_t d = DqFirstBlock(w, src) + first_block, left = w.dq_block - (first - first_block * w.dq_block);
      for (size_t i = 0; i < count; ++i, --left) {
        if (left == 0) ++d, left = w.dq_block;
        out[i] = p[first + i] * w.dq_scales[d] + w.dq_offsets[d];
      }
      return;
    }
  }
}

// The scale group of 32-element block b within a row (a group of >= cols is the whole row).
HWY_INLINE size_t GroupOfBlock(const WeightMatrix& w, size_t b) {
  const size_t gpr = (w.cols + w.group_size - 1) / w.group_size;
  return std::min(b * 32 / w.group_size, gpr - 1);
}

// Per-block scales for blocks [b0, b1) of row r: out[b - b0]. b1 - b0 <= kChunkBlocks.
HWY_INLINE void BlockScales(const WeightMatrix& w, const void* src, size_t r, size_t b0,
                            size_t b1, float* HWY_RESTRICT out) {
  if (w.per_tensor) {
    float s;
    DecodeScales(w, src, 0, 1, &s);
    for (size_t b = b0; b < b1; ++b) out[b - b0] = s;
    return;
  }
  if (w.layout == WeightLayout::kInterleave16x4) {  // 16 entries apart: one at a time
    for (size_t b = b0; b < b1; ++b) DecodeScales(w, src, ScaleIndex(w, r, GroupOfBlock(w, b)), 1, out + b - b0);
    return;
  }
  const size_t g0 = GroupOfBlock(w, b0), g1 = GroupOfBlock(w, b1 - 1);
  if (w.group_size == 32) {  // the common case: one scale per block
    DecodeScales(w, src, ScaleIndex(w, r, g0), g1 - g0 + 1, out);
    return;
  }
  float g[kChunkBlocks + 1];
  DecodeScales(w, src, ScaleIndex(w, r, g0), g1 - g0 + 1, g);
  for (size_t b = b0; b < b1; ++b) out[b - b0] = g[GroupOfBlock(w, b) - g0];
}

// ---------------------------------------------------------------- weight codes -> int8
// Writes the 32 int8 weight values of one block as the int8-activation kernels see them:
// I4 as q (0..15; the -8 is applied through the activation sums), U4 q, NF4 kNF4Int8[q],
// I8 as stored.
template <WeightType kType>
HWY_INLINE void DecodeCodes(const uint8_t* HWY_RESTRICT p, int8_t* HWY_RESTRICT out) {
  if (kType == WeightType::kI8) {
    std::memcpy(out, p, 32);
    return;
  }
  const hn::CappedTag<uint8_t, 16> d8;
  const size_t N = hn::Lanes(d8);
  uint8_t* u = reinterpret_cast<uint8_t*>(out);
  if (kType == WeightType::kNF4 && N == 16) {  // nibble -> int8 level via a byte shuffle
    const auto table = hn::LoadU(d8, reinterpret_cast<const uint8_t*>(kNF4Int8));
    const auto v = hn::LoadU(d8, p);
    hn::StoreU(hn::TableLookupBytes(table, hn::And(v, hn::Set(d8, 0xF))), d8, u);
    hn::StoreU(hn::TableLookupBytes(table, hn::ShiftRight<4>(v)), d8, u + 16);
    return;
  }
  for (size_t k = 0; k < 16; k += N) {
    const auto v = hn::LoadU(d8, p + k);
    hn::StoreU(hn::And(v, hn::Set(d8, 0xF)), d8, u + k);
    hn::StoreU(hn::ShiftRight<4>(v), d8, u + 16 + k);
  }
  if (kType == WeightType::kNF4) {
    for (size_t i = 0; i < 32; ++i) out[i] = kNF4Int8[u[i]];
  }
}

#if QLITE_X86_256
// One block as 32 u8 codes (4-bit types) or the int8 values (I8, NF4 through the table).
template <WeightType kType>
HWY_INLINE __m256i LoadBlockX86(const uint8_t* HWY_RESTRICT p, __m256i nf4_table) {
  if (kType == WeightType::kI8) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i both = _mm256_broadcastsi128_si256(packed);
  const __m256i mask = _mm256_set1_epi8(0x0F);
  const __m256i lo = _mm256_and_si256(both, mask);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(both, 4), mask);
  // Lanes 0..15 = low nibbles (q[0..15]), lanes 16..31 = high nibbles (q[16..31]).
  const __m256i q = _mm256_blend_epi32(lo, hi, 0xF0);
  if (kType == WeightType::kNF4) return _mm256_shuffle_epi8(nf4_table, q);
  return q;
}

// Sum over a block of w*x as 8 int32 partial sums. Unsigned codes multiply directly
// (maddubs: u8 x s8); signed ones use |w| and x carrying w's sign. No overflow: the
// int16 pair sums are at most 2*128*127.
template <WeightType kType>
HWY_INLINE __m256i DotBlockX86(__m256i wv, __m256i xv) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i prod;
  if (kType == WeightType::kI4 || kType == WeightType::kU4) {
    prod = _mm256_maddubs_epi16(wv, xv);
  } else {
    prod = _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv));
  }
  return _mm256_madd_epi16(prod, ones);
}

// Two 4-bit blocks (32 contiguous bytes) against their activations in nibble order
// (QuantizedActivations::q_nibbles, `xn` at the pair's low-half values, the high halves 64
// bytes on): each block stays in its 128-bit lane without shuffles.
// Returns the two blocks' partial int32 sums (128-bit lane k = block k).
template <WeightType kType>
HWY_INLINE __m256i Pair4BitDotsX86(const uint8_t* HWY_RESTRICT p, const int8_t* HWY_RESTRICT xn,
                                   __m256i nf4_table) {
  const __m256i mask = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  __m256i lo = _mm256_and_si256(v, mask);
  __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
  const __m256i xa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xn));
  const __m256i xb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xn + 64));
  __m256i d;
  if (kType == WeightType::kNF4) {  // signed levels: two int16 sums could overflow if added
    lo = _mm256_shuffle_epi8(nf4_table, lo);
    hi = _mm256_shuffle_epi8(nf4_table, hi);
    d = _mm256_add_epi32(
        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(lo), _mm256_sign_epi8(xa, lo)), ones),
        _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(hi), _mm256_sign_epi8(xb, hi)), ones));
  } else {  // codes <= 15: the two int16 sums add without overflow (<= 4 * 15 * 127)
    d = _mm256_madd_epi16(
        _mm256_add_epi16(_mm256_maddubs_epi16(lo, xa), _mm256_maddubs_epi16(hi, xb)), ones);
  }
  return d;
}

// acc + dot * f per block of a pair (spread over the block's four float lanes).
template <WeightType kType>
HWY_INLINE __m256 Pair4BitX86(const uint8_t* HWY_RESTRICT p, const int8_t* HWY_RESTRICT xn,
                              const float* HWY_RESTRICT f, __m256i nf4_table, __m256 acc) {
  const __m256 f2 = _mm256_permutevar8x32_ps(
      _mm256_castps128_ps256(_mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(f)))),
      _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(Pair4BitDotsX86<kType>(p, xn, nf4_table)), f2, acc);
}

// Eight blocks (128 packed bytes; `xn` at the first block's nibble group): the four pairs'
// partial sums are reduced to one int32 per block (element 4k + j = block 2j + k, a 4x4
// transpose-and-add per 128-bit lane) before one conversion and multiply-add.
template <WeightType kType>
HWY_INLINE __m256 Eight4BitX86(const uint8_t* HWY_RESTRICT p, const int8_t* HWY_RESTRICT xn,
                               const float* HWY_RESTRICT f, __m256i nf4_table, __m256 acc) {
  const __m256i d0 = Pair4BitDotsX86<kType>(p, xn, nf4_table);
  const __m256i d1 = Pair4BitDotsX86<kType>(p + 32, xn + 32, nf4_table);
  const __m256i d2 = Pair4BitDotsX86<kType>(p + 64, xn + 128, nf4_table);
  const __m256i d3 = Pair4BitDotsX86<kType>(p + 96, xn + 160, nf4_table);
  const __m256i s01 = _mm256_add_epi32(_mm256_unpacklo_epi32(d0, d1), _mm256_unpackhi_epi32(d0, d1));
  const __m256i s23 = _mm256_add_epi32(_mm256_unpacklo_epi32(d2, d3), _mm256_unpackhi_epi32(d2, d3));
  const __m256i sums = _mm256_add_epi32(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23));
  const __m256 fs = _mm256_permutevar8x32_ps(_mm256_loadu_ps(f), _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), fs, acc);
}
#endif

// Portable: int32 sum over a block of w*x (exact), as a vector of partial sums: int16
// pairwise multiply-add, for SSE4, armv7 and the scalar target (AVX2 and up and AArch64 have
// their own int8 dots).
#if HWY_TARGET == HWY_SCALAR
template <class D32>
HWY_INLINE hn::Vec<D32> DotBlockPortable(D32 d32, const int8_t* HWY_RESTRICT w,
                                         const int8_t* HWY_RESTRICT x) {
  const hn::Rebind<int8_t, D32> d8;
  auto s = hn::Zero(d32);
  for (size_t i = 0; i < 32; ++i) {
    s = hn::Add(s, hn::Mul(hn::PromoteTo(d32, hn::LoadU(d8, w + i)),
                           hn::PromoteTo(d32, hn::LoadU(d8, x + i))));
  }
  return s;
}
#else
template <class D32>
HWY_INLINE hn::Vec<D32> DotBlockPortable(D32 d32, const int8_t* HWY_RESTRICT w,
                                         const int8_t* HWY_RESTRICT x) {
  const hn::Repartition<int16_t, D32> d16;
  const hn::Rebind<int8_t, decltype(d16)> d8;
  const size_t N = hn::Lanes(d16);
  auto s0 = hn::Zero(d32), s1 = hn::Zero(d32);
  for (size_t i = 0; i < 32; i += N) {
    const auto a = hn::PromoteTo(d16, hn::LoadU(d8, w + i));
    const auto b = hn::PromoteTo(d16, hn::LoadU(d8, x + i));
    s0 = hn::ReorderWidenMulAccumulate(d32, a, b, s0, s1);
  }
  return hn::Add(s0, s1);
}
#endif

// ------------------------------------------------------------ per-target block dots
// The int8 block dot the generic GemvQ8 and the GEMM are written against: 32 weights x 32
// activations -> f32 partial sums in a BlockDotTag vector. AVX2 and up multiply u8 x s8
// pairs (maddubs, which Highway 1.0.3 lacks) and take 4-bit RowMajor 8 blocks per step
// (Wide4BitBlocks); every other target uses the portable widening multiply. AVX3_DL's VNNI
// and AArch64's SDOT/SMMLA kernels are separate (matmul_q8-inl.h, matmul_a64-inl.h).
#if QLITE_X86_256
using BlockDotTag = hn::Full256<float>;

template <WeightType kType>
struct BlockDecoder {
  HWY_INLINE BlockDecoder()
      : nf4(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kNF4Int8)))) {}
  __m256i nf4;  // NF4 codes -> int8 levels (pshufb table)
  // The stored block at p (packed codes) against 32 activations.
  HWY_INLINE hn::Vec<BlockDotTag> Dot(const uint8_t* HWY_RESTRICT p, const int8_t* HWY_RESTRICT xq) const {
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
    return hn::Vec256<float>{_mm256_cvtepi32_ps(DotBlockX86<kType>(LoadBlockX86<kType>(p, nf4), xv))};
  }
  // Codes as DecodeCodes writes them (32-byte aligned) against 32 activations.
  static HWY_INLINE hn::Vec<BlockDotTag> DotCodes(const int8_t* HWY_RESTRICT codes, const int8_t* HWY_RESTRICT xq) {
    const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(codes));
    const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
    return hn::Vec256<float>{_mm256_cvtepi32_ps(DotBlockX86<kType>(wv, xv))};
  }
};

// 4-bit RowMajor blocks [*b, b1) of a chunk starting at b0, 8 then 4 at a time against the
// nibble-ordered activations xn (f: the chunk's folded scales); *b is left at the first
// block not taken.
template <WeightType kType>
HWY_INLINE hn::Vec<BlockDotTag> Wide4BitBlocks(const uint8_t* HWY_RESTRICT row, const int8_t* HWY_RESTRICT xn,
                                               const float* HWY_RESTRICT f, size_t b0, size_t b1, size_t* b_io,
                                               hn::Vec<BlockDotTag> acc, const BlockDecoder<kType>& dec) {
  size_t b = *b_io;
  __m256 a0 = acc.raw, a1 = _mm256_setzero_ps();
  for (; b + 8 <= b1; b += 8) {
    a0 = Eight4BitX86<kType>(row + b * 16, xn + 32 * b, f + b - b0, dec.nf4, a0);
    std::swap(a0, a1);
  }
  for (; b + 4 <= b1; b += 4) {
    a0 = Pair4BitX86<kType>(row + b * 16, xn + 32 * b, f + b - b0, dec.nf4, a0);
    a1 = Pair4BitX86<kType>(row + (b + 2) * 16, xn + 32 * b + 32, f + b + 2 - b0, dec.nf4, a1);
  }
  *b_io = b;
  return hn::Vec256<float>{_mm256_add_ps(a0, a1)};
}
#else
using BlockDotTag = hn::Rebind<float, hn::CappedTag<int32_t, 8>>;

template <WeightType kType>
struct BlockDecoder {
  HWY_INLINE hn::Vec<BlockDotTag> Dot(const uint8_t* HWY_RESTRICT p, const int8_t* HWY_RESTRICT xq) const {
    HWY_ALIGN int8_t codes[32];
    DecodeCodes<kType>(p, codes);
    return DotCodes(codes, xq);
  }
  static HWY_INLINE hn::Vec<BlockDotTag> DotCodes(const int8_t* HWY_RESTRICT codes, const int8_t* HWY_RESTRICT xq) {
    const hn::Rebind<int32_t, BlockDotTag> d32;
    return hn::ConvertTo(BlockDotTag(), DotBlockPortable(d32, codes, xq));
  }
};

template <WeightType kType>
HWY_INLINE hn::Vec<BlockDotTag> Wide4BitBlocks(const uint8_t*, const int8_t*, const float*, size_t, size_t, size_t*,
                                               hn::Vec<BlockDotTag> acc, const BlockDecoder<kType>&) {
  return acc;  // no wider path: every block goes through BlockDecoder::Dot
}
#endif

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
