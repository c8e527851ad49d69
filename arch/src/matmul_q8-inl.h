// Per-target GEMV with int8 activations for the integer weight types (see matmul-inl.h).
#if defined(QLITE_ARCH_SRC_MATMUL_Q8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_SRC_MATMUL_Q8_INL_H_
#undef QLITE_ARCH_SRC_MATMUL_Q8_INL_H_
#else
#define QLITE_ARCH_SRC_MATMUL_Q8_INL_H_
#endif

#include <algorithm>
#include <cstring>

#include "hwy/highway.h"
#include "matmul-inl.h"
#include "matmul_a64-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// The offset a code's int8 value carries in the dot products, removed through the
// activation block sums: I4's stored +8, and VNNI's +128 bias of signed weights.
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


// 64 packed bytes of 4-bit codes: dot of the low nibbles with `xa` plus the high nibbles
// with `xb`, as 16 int32 partial sums (each over 4 bytes of its own 32-bit lane).
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE __m512i DotNibbles(__m512i v, __m512i xa, __m512i xb, __m512i nf4_biased) {
  const __m512i mask = _mm512_set1_epi8(0x0F);
  __m512i lo = _mm512_and_si512(v, mask);
  __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
  if (kType == WeightType::kNF4) {
    lo = _mm512_shuffle_epi8(nf4_biased, lo);
    hi = _mm512_shuffle_epi8(nf4_biased, hi);
  }
  return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xa), hi, xb);
}

// Dot products of four 4-bit blocks (64 packed bytes) with their 128 activations in nibble
// order (QuantizedActivations::q_nibbles): low nibbles meet the first 64 bytes, high
// nibbles the next 64, so no shuffle is needed. Block k's four partial int32 sums land in
// 128-bit lane k. Signed NF4 levels go through the table biased to u8.
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE __m512i Quad4BitDots(const uint8_t* HWY_RESTRICT p,
                                               const int8_t* HWY_RESTRICT xn, __m512i nf4_biased) {
  return DotNibbles<kType>(_mm512_loadu_si512(p), _mm512_loadu_si512(xn),
                           _mm512_loadu_si512(xn + 64), nf4_biased);
}

// Four blocks: acc + per-block (dot * f[k]) spread over the block's four float lanes.
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE __m512 Quad4Bit(const uint8_t* HWY_RESTRICT p,
                                          const int8_t* HWY_RESTRICT xn,
                                          const float* HWY_RESTRICT f, __m512i nf4_biased,
                                          __m512 acc) {
  const __m512 f4 = _mm512_permutexvar_ps(
      _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
      _mm512_castps128_ps512(_mm_loadu_ps(f)));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(Quad4BitDots<kType>(p, xn, nf4_biased)), f4, acc);
}

// Sums the four int32 lanes of each 128-bit lane k of d[0..3] into lane k, element j
// (result element 4k + j = sum of d[j]'s lane k): a 4x4 transpose-and-add per lane.
QLITE_VNNI_ATTR HWY_INLINE __m512i LaneSums4(__m512i d0, __m512i d1, __m512i d2, __m512i d3) {
  const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(d0, d1), _mm512_unpackhi_epi32(d0, d1));
  const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(d2, d3), _mm512_unpackhi_epi32(d2, d3));
  return _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
}

// Sixteen 4-bit blocks of one row: the 64 partial sums are reduced to one int32 per block
// before the single conversion and multiply-add (element 4k + j holds block 4j + k, so the
// 16 scales are permuted to match).
template <WeightType kType>
QLITE_VNNI_ATTR HWY_INLINE __m512 Sixteen4Bit(const uint8_t* HWY_RESTRICT p,
                                             const int8_t* HWY_RESTRICT xn,
                                             const float* HWY_RESTRICT f, __m512i nf4_biased,
                                             __m512 acc) {
  const __m512i s = LaneSums4(Quad4BitDots<kType>(p, xn, nf4_biased),
                              Quad4BitDots<kType>(p + 64, xn + 128, nf4_biased),
                              Quad4BitDots<kType>(p + 128, xn + 256, nf4_biased),
                              Quad4BitDots<kType>(p + 192, xn + 384, nf4_biased));
  const __m512 fs = _mm512_permutexvar_ps(
      _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0), _mm512_loadu_ps(f));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), fs, acc);
}

// GemvQ8 for RowMajor (and Interleave4x32, read with a block stride) on AVX3_DL: 4-bit
// RowMajor takes 16 and 4 blocks per 64-byte load against the nibble-ordered activations,
// everything else two pairs of blocks per step through 512-bit dpbusd.
template <WeightType kType>
QLITE_VNNI_ATTR void GemvQ8RowsVnni(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0,
                                    size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  const size_t bb = BlockBytes(kType);
  HWY_ALIGN float f[kChunkBlocks];
  alignas(64) uint8_t table_bytes[64];
  for (int i = 0; i < 64; ++i) table_bytes[i] = static_cast<uint8_t>(kNF4Int8[i & 15] + 128);
  const __m512i nf4 = _mm512_load_si512(table_bytes);
  const __m512i perm = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i zero = _mm512_setzero_si512();
  for (size_t r = r0; r < r1; ++r) {
    size_t step;
    const uint8_t* row = RowBase(w, r, bb, &step);
    float corr = 0.0f;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (size_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
      const size_t b1 = std::min(nb, b0 + kChunkBlocks);
      corr += PrepareChunk<kType>(w, x, r, b0, b1, f);
      size_t b = b0;
      if (kType != WeightType::kI8 && step == 16) {
        // 4-bit RowMajor: b is a multiple of 4 here (chunks start at multiples of 64).
        for (; b + 16 <= b1; b += 16) {
          acc0 = Sixteen4Bit<kType>(row + b * 16, x.q_nibbles + 32 * b, f + b - b0, nf4, acc0);
          std::swap(acc0, acc1);
        }
        for (; b + 4 <= b1; b += 4) {
          acc0 = Quad4Bit<kType>(row + b * 16, x.q_nibbles + 32 * b, f + b - b0, nf4, acc0);
        }
      }
      for (; b + 4 <= b1; b += 4) {  // two independent pairs per iteration
        const __m512i w01 = LoadPairVnni<kType>(row + b * step, row + (b + 1) * step, nf4);
        const __m512i w23 = LoadPairVnni<kType>(row + (b + 2) * step, row + (b + 3) * step, nf4);
        const __m512i d01 = _mm512_dpbusd_epi32(zero, w01, _mm512_loadu_si512(x.q + 32 * b));
        const __m512i d23 = _mm512_dpbusd_epi32(zero, w23, _mm512_loadu_si512(x.q + 32 * b + 64));
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
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) + corr;
  }
}
#endif  // QLITE_VNNI512

#if QLITE_A64
// GemvQ8 on AArch64: whole chunks through the NEON/SDOT row kernels (matmul_a64-inl.h), f16
// per-block scales read in place.
template <WeightType kType>
void GemvQ8RowsA64(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0, size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  const size_t bb = BlockBytes(kType);
  HWY_ALIGN float f[kChunkBlocks];
  const bool sdot = (ArmDotExtensions() & kArmDotProd) != 0;
  const bool f16_per_block = !w.per_tensor && w.group_size == 32 && w.scale_type == ScaleType::kF16;
  size_t r = r0;
  if (f16_per_block) {
    for (; r + 2 <= r1; r += 2) {
      size_t step;
      const uint8_t* rows[2] = {RowBase(w, r, bb, &step), RowBase(w, r + 1, bb, &step)};
      if (sdot) RowsF16ScalesA64<kType, true, 2>(w, x, rows, step, r, y + r);
      else RowsF16ScalesA64<kType, false, 2>(w, x, rows, step, r, y + r);
    }
  }
  for (; r < r1; ++r) {
    size_t step;
    const uint8_t* row = RowBase(w, r, bb, &step);
    if (f16_per_block) {
      if (sdot) RowsF16ScalesA64<kType, true, 1>(w, x, &row, step, r, y + r);
      else RowsF16ScalesA64<kType, false, 1>(w, x, &row, step, r, y + r);
      continue;
    }
    float corr = 0.0f;
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (size_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
      const size_t b1 = std::min(nb, b0 + kChunkBlocks);
      corr += PrepareChunk<kType>(w, x, r, b0, b1, f);
      acc = RowChunkBestA64<kType>(sdot, row + b0 * step, step, x.q + 32 * b0, f, b1 - b0, acc);
    }
    y[r] = vaddvq_f32(acc) + corr;
  }
}
#endif  // QLITE_A64

// GemvQ8 for every other target: Wide4BitBlocks takes what the target can do many blocks at a
// time (AVX2/AVX3: 4-bit RowMajor, 8 and 4 blocks per step), then one block per int8 dot
// (PackedBlockDot: maddubs on x86, the portable widening multiply elsewhere).
template <WeightType kType>
void GemvQ8RowsGeneric(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0, size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  const size_t bb = BlockBytes(kType);
  const BlockDotTag df;
  HWY_ALIGN float f[kChunkBlocks];
  const BlockDecoder<kType> decoder;
  for (size_t r = r0; r < r1; ++r) {
    size_t step;
    const uint8_t* row = RowBase(w, r, bb, &step);
    float corr = 0.0f;
    auto acc = hn::Zero(df), acc_wide = hn::Zero(df);
    for (size_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
      const size_t b1 = std::min(nb, b0 + kChunkBlocks);
      corr += PrepareChunk<kType>(w, x, r, b0, b1, f);
      size_t b = b0;
      if (kType != WeightType::kI8 && step == 16) {
        acc_wide = Wide4BitBlocks<kType>(row, x.q_nibbles, f, b0, b1, &b, acc_wide, decoder);
      }
      for (; b < b1; ++b) {
        acc = hn::MulAdd(decoder.Dot(row + b * step, x.q + 32 * b), hn::Set(df, f[b - b0]), acc);
      }
    }
    y[r] = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc, acc_wide))) + corr;
  }
}

// The GemvQ8 kernel each target runs for RowMajor and Interleave4x32.
#if QLITE_VNNI512
template <WeightType kType>
constexpr internal::GemvQ8RowsFn kGemvQ8IntRows = &GemvQ8RowsVnni<kType>;
#elif QLITE_A64
template <WeightType kType>
constexpr internal::GemvQ8RowsFn kGemvQ8IntRows = &GemvQ8RowsA64<kType>;
#else
template <WeightType kType>
constexpr internal::GemvQ8RowsFn kGemvQ8IntRows = &GemvQ8RowsGeneric<kType>;
#endif

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
