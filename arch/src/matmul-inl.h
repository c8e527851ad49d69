// Per-target building blocks shared by the per-scheme kernel TUs (matmul_int4.cc, ...).
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

#include "hwy/highway.h"
#include "matmul_internal.h"
#include "qlite/arch/reference.h"

// x86 targets with 256-bit integer ops get hand-written int8 dot products (Highway 1.0.3
// has no u8*s8 pairwise multiply-add); every other target uses the portable Highway path.
#undef QLITE_X86_256
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define QLITE_X86_256 1
#else
#define QLITE_X86_256 0
#endif

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
  if (!w.interleave4x32) {
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
      for (; i < count; ++i) {
        uint16_t bits;
        std::memcpy(&bits, p + i, 2);
        out[i] = ref::F32FromF16(bits);
      }
      return;
    }
    case ScaleType::kU8: {
      const uint8_t* p = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < count; ++i) {
        const size_t d = (first + i) / w.dq_block;
        out[i] = p[first + i] * w.dq_scales[d] + w.dq_offsets[d];
      }
      return;
    }
  }
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
  const size_t gs = w.group_size;
  const size_t gpr = (w.cols + gs - 1) / gs;
  const size_t g0 = std::min(b0 * 32 / gs, gpr - 1);
  const size_t g1 = std::min((b1 * 32 - 1) / gs, gpr - 1);
  if (gs == 32) {  // the common case: one scale per block
    DecodeScales(w, src, r * gpr + g0, g1 - g0 + 1, out);
    return;
  }
  float g[kChunkBlocks + 1];
  DecodeScales(w, src, r * gpr + g0, g1 - g0 + 1, g);
  for (size_t b = b0; b < b1; ++b) out[b - b0] = g[std::min(b * 32 / gs, gpr - 1) - g0];
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
  for (size_t k = 0; k < 16; k += N) {
    const auto v = hn::LoadU(d8, p + k);
    hn::StoreU(hn::And(v, hn::Set(d8, 0xF)), d8, u + k);
    hn::StoreU(hn::ShiftRight<4>(v), d8, u + 16 + k);
  }
  if (kType == WeightType::kNF4) {
    for (size_t i = 0; i < 32; ++i) out[i] = ref::kNF4Int8[u[i]];
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
#endif

// Portable: int32 sum over a block of w*x (exact), as a vector of partial sums. Arm with
// the dot-product extension (guaranteed only by the compile flags, e.g. armv8.2-a+dotprod;
// base NEON and cortex-a72 lack it) uses SDOT; elsewhere int16 pairwise multiply-add.
template <class D32>
HWY_INLINE hn::Vec<D32> DotBlockPortable(D32 d32, const int8_t* HWY_RESTRICT w,
                                         const int8_t* HWY_RESTRICT x) {
#if HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64 && defined(__ARM_FEATURE_DOTPROD)
  (void)d32;
  int32x4_t acc = vdotq_s32(vdupq_n_s32(0), vld1q_s8(w), vld1q_s8(x));
  acc = vdotq_s32(acc, vld1q_s8(w + 16), vld1q_s8(x + 16));
  return hn::Vec<D32>(acc);
#elif HWY_TARGET == HWY_SCALAR
  const hn::Rebind<int8_t, D32> d8;
  auto s = hn::Zero(d32);
  for (size_t i = 0; i < 32; ++i) {
    s = hn::Add(s, hn::Mul(hn::PromoteTo(d32, hn::LoadU(d8, w + i)),
                           hn::PromoteTo(d32, hn::LoadU(d8, x + i))));
  }
  return s;
#else
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
#endif
}

// ------------------------------------------------------------ int weights, int8 x
// Signed weights (I8, NF4) on AVX3_DL are fed to the u8 x s8 dot product (VNNI) biased by
// +128; like I4's -8 that offset is removed with the activation block sums.
// Highway 1.0.3's AVX3_DL compile flags name "avxvnni" (VEX, which this target's CPUs need
// not have) instead of "avx512vnni", which its run-time check does require: add it here,
// and only use 512-bit dpbusd (never VEX-encodable).
#undef QLITE_VNNI512
#undef QLITE_VNNI_ATTR
#if HWY_TARGET == HWY_AVX3_DL && (HWY_COMPILER_GCC || HWY_COMPILER_CLANG)
#define QLITE_VNNI512 1
#define QLITE_VNNI_ATTR __attribute__((target(HWY_TARGET_STR ",avx512vnni")))
#else
#define QLITE_VNNI512 0
#define QLITE_VNNI_ATTR
#endif

template <WeightType kType>
constexpr float CodeOffset() {
  if (kType == WeightType::kI4) return 8.0f;
  if ((kType == WeightType::kI8 || kType == WeightType::kNF4) && QLITE_VNNI512) return 128.0f;
  return 0.0f;
}

// Per chunk: f[i] = weight scale * activation scale of block b0 + i; returns the sum over
// the chunk of the offset correction (code offset or U4 min times the activation sums).
template <WeightType kType>
HWY_INLINE float PrepareChunk(const WeightMatrix& w, const QuantizedActivations& x, size_t r,
                              size_t b0, size_t b1, float* HWY_RESTRICT f) {
  HWY_ALIGN float mins[kChunkBlocks];
  BlockScales(w, w.scales, r, b0, b1, f);
  if (kType == WeightType::kU4) BlockScales(w, w.mins, r, b0, b1, mins);
  const hn::CappedTag<float, 16> df;
  const hn::Rebind<int32_t, decltype(df)> d32;
  const size_t N = hn::Lanes(df);
  const size_t n = b1 - b0;
  const float k = kType == WeightType::kNF4 ? 1.0f / 127.0f : 1.0f;
  const float off = CodeOffset<kType>();
  auto corr = hn::Zero(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto xs = hn::LoadU(df, x.scales + b0 + i);
    const auto fi = hn::Mul(hn::Mul(hn::Load(df, f + i), xs), hn::Set(df, k));
    hn::Store(fi, df, f + i);
    const auto sums = hn::ConvertTo(df, hn::LoadU(d32, x.sums + b0 + i));
    if (kType == WeightType::kU4) {
      corr = hn::MulAdd(hn::Mul(hn::Load(df, mins + i), xs), sums, corr);
    } else if (off != 0.0f) {
      corr = hn::MulAdd(fi, sums, corr);
    }
  }
  float c = hn::GetLane(hn::SumOfLanes(df, corr));
  for (; i < n; ++i) {
    f[i] = f[i] * x.scales[b0 + i] * k;
    if (kType == WeightType::kU4) c += mins[i] * x.scales[b0 + i] * static_cast<float>(x.sums[b0 + i]);
    else if (off != 0.0f) c += f[i] * static_cast<float>(x.sums[b0 + i]);
  }
  // U4 adds min * sum(x); offset codes subtract offset * scale * sum(x).
  return kType == WeightType::kU4 ? c : -off * c;
}

#if QLITE_VNNI512
// Two blocks as 64 u8 lanes: block b0 in the low 256 bits, b1 in the high ones, each in
// element order (4-bit: low nibbles then high nibbles; signed types biased by +128).
template <WeightType kType>
HWY_INLINE __m512i LoadPairVnni(const uint8_t* HWY_RESTRICT p0, const uint8_t* HWY_RESTRICT p1,
                                __m512i nf4_biased) {
  if (kType == WeightType::kI8) {
    const __m512i v = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p0))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p1)), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  // [p0, p0, p1, p1] in 128-bit lanes, then low nibbles in lanes 0/2, high in 1/3.
  __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p0)));
  v = _mm512_mask_broadcast_i32x4(v, 0xFF00, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p1)));
  const __m512i hi = _mm512_srli_epi16(v, 4);
  const __m512i q = _mm512_and_si512(_mm512_mask_blend_epi64(0xCC, v, hi), _mm512_set1_epi8(0x0F));
  if (kType == WeightType::kNF4) return _mm512_shuffle_epi8(nf4_biased, q);
  return q;
}


// Four 4-bit blocks (64 contiguous bytes) against their 128 activations; returns
// acc + per-block (dot * f[k]) spread over the block's four float lanes.
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE __m512 Quad4Bit(const uint8_t* HWY_RESTRICT p,
                                          const int8_t* HWY_RESTRICT xq,
                                          const float* HWY_RESTRICT f, __m512i nf4_biased,
                                          __m512 acc) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  const __m512i v = _mm512_loadu_si512(p);
  __m512i lo = _mm512_and_si512(v, mask);
  __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
  if (kType == WeightType::kNF4) {
    lo = _mm512_shuffle_epi8(nf4_biased, lo);
    hi = _mm512_shuffle_epi8(nf4_biased, hi);
  }
  const __m512i x01 = _mm512_loadu_si512(xq);
  const __m512i x23 = _mm512_loadu_si512(xq + 64);
  const __m512i xa = _mm512_permutex2var_epi64(x01, _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), x23);
  const __m512i xb = _mm512_permutex2var_epi64(x01, _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2), x23);
  __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xa);
  d = _mm512_dpbusd_epi32(d, hi, xb);
  const __m512 f4 = _mm512_permutexvar_ps(
      _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
      _mm512_castps128_ps512(_mm_loadu_ps(f)));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), f4, acc);
}
#endif

template <WeightType kType>
QLITE_VNNI_ATTR void GemvQ8IntRows(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0,
                   size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  const size_t bb = ref::BlockBytes(kType);
  HWY_ALIGN float f[kChunkBlocks];
#if QLITE_VNNI512
  alignas(64) uint8_t table_bytes[64];
  for (int i = 0; i < 64; ++i) table_bytes[i] = static_cast<uint8_t>(ref::kNF4Int8[i & 15] + 128);
  const __m512i nf4 = _mm512_load_si512(table_bytes);
  const __m512i perm = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
#elif QLITE_X86_256
  const hn::Full256<float> df;
  const hn::Full256<int32_t> d32;
  alignas(32) int8_t table_bytes[32];
  for (int i = 0; i < 32; ++i) table_bytes[i] = ref::kNF4Int8[i & 15];
  const __m256i nf4 = _mm256_load_si256(reinterpret_cast<const __m256i*>(table_bytes));
#else
  const hn::CappedTag<int32_t, 8> d32;
  const hn::Rebind<float, decltype(d32)> df;
  HWY_ALIGN int8_t codes[32];
#endif
  for (size_t r = r0; r < r1; ++r) {
    size_t step;
    const uint8_t* row = RowBase(w, r, bb, &step);
    float corr = 0.0f;
#if QLITE_VNNI512
    const __m512i zero = _mm512_setzero_si512();
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
#else
    auto acc = hn::Zero(df);
#endif
    for (size_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
      const size_t b1 = std::min(nb, b0 + kChunkBlocks);
      corr += PrepareChunk<kType>(w, x, r, b0, b1, f);
      size_t b = b0;
#if QLITE_VNNI512
      if (kType != WeightType::kI8 && step == 16) {
        // 4-bit RowMajor: 4 blocks per 64-byte load. Low nibbles (elements 0..15 of each
        // block) pair with activations regrouped to [x0lo x1lo x2lo x3lo], high nibbles with
        // [x0hi ..]; both dot products land in the block's own 128-bit lane.
        for (; b + 8 <= b1; b += 8) {
          acc0 = Quad4Bit<kType>(row + b * 16, x.q + 32 * b, f + b - b0, nf4, acc0);
          acc1 = Quad4Bit<kType>(row + (b + 4) * 16, x.q + 32 * (b + 4), f + b + 4 - b0, nf4, acc1);
        }
        for (; b + 4 <= b1; b += 4) {
          acc0 = Quad4Bit<kType>(row + b * 16, x.q + 32 * b, f + b - b0, nf4, acc0);
        }
      }
      for (; b + 4 <= b1; b += 4) {  // two independent pairs per iteration
        const __m512i w01 = LoadPairVnni<kType>(row + b * step, row + (b + 1) * step, nf4);
        const __m512i w23 = LoadPairVnni<kType>(row + (b + 2) * step, row + (b + 3) * step, nf4);
        const __m512i x01 = _mm512_loadu_si512(x.q + 32 * b);
        const __m512i x23 = _mm512_loadu_si512(x.q + 32 * b + 64);
        const __m512i d01 = _mm512_dpbusd_epi32(zero, w01, x01);
        const __m512i d23 = _mm512_dpbusd_epi32(zero, w23, x23);
        const __m512 f01 = _mm512_permutexvar_ps(perm, _mm512_castps128_ps512(_mm_castpd_ps(
                                                           _mm_load_sd(reinterpret_cast<const double*>(f + b - b0)))));
        const __m512 f23 = _mm512_permutexvar_ps(perm, _mm512_castps128_ps512(_mm_castpd_ps(
                                                           _mm_load_sd(reinterpret_cast<const double*>(f + b + 2 - b0)))));
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d01), f01, acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d23), f23, acc1);
      }
      for (; b < b1; ++b) {  // single blocks: the upper half's activations are zero
        const __m512i wv = LoadPairVnni<kType>(row + b * step, row + b * step, nf4);
        const __m512i xv = _mm512_zextsi256_si512(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + 32 * b)));
        const __m512i d = _mm512_dpbusd_epi32(zero, wv, xv);
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_set1_ps(f[b - b0]), acc0);
      }
#else
      for (; b < b1; ++b) {
        const uint8_t* p = row + b * step;
#if QLITE_X86_256
        const __m256i wv = LoadBlockX86<kType>(p, nf4);
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + 32 * b));
        const hn::Vec256<int32_t> s{DotBlockX86<kType>(wv, xv)};
#else
        DecodeCodes<kType>(p, codes);
        const auto s = DotBlockPortable(d32, codes, x.q + 32 * b);
#endif
        acc = hn::MulAdd(hn::ConvertTo(df, s), hn::Set(df, f[b - b0]), acc);
      }
#endif
    }
#if QLITE_VNNI512
    const float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
#else
    const float sum = hn::GetLane(hn::SumOfLanes(df, acc));
#endif
    y[r] = sum + corr;
  }
}

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
constexpr size_t kGemmCols = 256;

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
      for (size_t bi = 0; bi < batch; ++bi) {
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
