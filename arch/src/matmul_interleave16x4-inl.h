// Per-target kernels for Layout::Interleave16x4 (FORMAT.md): 16 rows per group, the same
// 4-byte word of the 16 rows stored as one 64-byte run, and the group's scales for a block
// as 16 consecutive entries. One 64-byte load is then a vector with one int32 lane per row:
// on AVX3_DL a vpdpbusd against 4 activations broadcast to every lane adds 4 products to 16
// rows' dot products, and after a block's 4 (4-bit) or 8 (I8) words each lane holds its
// row's whole block dot: one conversion and one multiply-add per 16 rows and block, no
// horizontal sums, no nibble shuffles of the activations (GemvQ8Interleave16x4; the prefill GEMM
// reads the same vectors into its tile, matmul_gemm_vnni-inl.h).
//
// AVX2/AVX3 read it in place too for GemvQ8 (maddubs + madd per 4-byte lane,
// GemvQ8Interleave16x4X86), and so does every NEON CPU, AArch64 and armv7, for GemvQ8 and
// GemmQ8 (GemmQ8Interleave16x4Neon: SDOT by element, 4 rows' words against one word of
// activations, or widening multiplies where there is no SDOT: Raspberry Pi 4, 32-bit Arm;
// SMMLA on two rows' zipped words and paired tokens where the CPU has i8mm).
// Everything else (AVX2's GEMM, pre-AVX2 x86) runs its RowMajor code on a copy of 16 rows x
// up to kUnpackBlocks blocks in a 48 KiB stack buffer (*Unpacked): correct everywhere, at the
// price of copying each weight byte once more.
#if defined(QLITE_ARCH_SRC_MATMUL_INTERLEAVE16X4_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_SRC_MATMUL_INTERLEAVE16X4_INL_H_
#undef QLITE_ARCH_SRC_MATMUL_INTERLEAVE16X4_INL_H_
#else
#define QLITE_ARCH_SRC_MATMUL_INTERLEAVE16X4_INL_H_
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

constexpr size_t kInterleave16x4Rows = 16;       // rows per group
constexpr size_t kUnpackBlocks = 64;  // blocks per unpacked chunk (a multiple of 4: q_nibbles)
constexpr size_t kUnpackTokens = 64;  // tokens per unpacked chunk in the GEMM wrappers (prefill batches)

struct Interleave16x4Scratch {
  alignas(64) uint8_t codes[kInterleave16x4Rows * kUnpackBlocks * 32];  // 16 KiB: I8's 32 B per block
  alignas(64) float scales[kInterleave16x4Rows * kUnpackBlocks];
  alignas(64) float mins[kInterleave16x4Rows * kUnpackBlocks];
  alignas(64) float part[kUnpackTokens * kInterleave16x4Rows];
  alignas(64) float run[kInterleave16x4Rows * kUnpackBlocks];  // decoded scales, file order
};

// Rows lane0..lane0+nr of a group, words [first, first + words) each, into codes (row i
// at i * stride): 4 x 4 words at a time through a 128-bit transpose; the scalar target one
// word at a time.
#if HWY_TARGET == HWY_SCALAR
HWY_INLINE void GatherRowWords(const uint8_t* HWY_RESTRICT group, size_t first, size_t words, size_t lane0,
                               size_t nr, size_t stride, uint8_t* HWY_RESTRICT codes) {
  for (size_t i = 0; i < nr; ++i) {
    for (size_t k = 0; k < words; ++k) {
      std::memcpy(codes + i * stride + 4 * k, group + (first + k) * 64 + (lane0 + i) * 4, 4);
    }
  }
}
#else
HWY_INLINE void GatherRowWords(const uint8_t* HWY_RESTRICT group, size_t first, size_t words, size_t lane0,
                               size_t nr, size_t stride, uint8_t* HWY_RESTRICT codes) {
  const hn::Full128<uint32_t> d;
  const hn::Repartition<uint64_t, decltype(d)> d64;
  const hn::Repartition<uint8_t, decltype(d)> d8;
  for (size_t k = 0; k < words; k += 4) {  // 4 words: 256 contiguous bytes
    for (size_t q = 0; q < 16; q += 4) {    // lanes q..q+3 of the group
      const uint8_t* p = group + (first + k) * 64 + q * 4;
      const auto v0 = hn::BitCast(d, hn::LoadU(d8, p)), v1 = hn::BitCast(d, hn::LoadU(d8, p + 64));
      const auto v2 = hn::BitCast(d, hn::LoadU(d8, p + 128)), v3 = hn::BitCast(d, hn::LoadU(d8, p + 192));
      const auto t0 = hn::BitCast(d64, hn::InterleaveLower(d, v0, v1));  // lanes q, q+1: words k, k+1
      const auto t1 = hn::BitCast(d64, hn::InterleaveLower(d, v2, v3));  //              words k+2, k+3
      const auto t2 = hn::BitCast(d64, hn::InterleaveUpper(d, v0, v1));  // lanes q+2, q+3
      const auto t3 = hn::BitCast(d64, hn::InterleaveUpper(d, v2, v3));
      // Lane q + j's words k..k+3 (no arrays of vectors: SVE's are sizeless).
      auto put = [&](size_t j, hn::Vec<decltype(d64)> v) HWY_ATTR {
        if (q + j < lane0 || q + j >= lane0 + nr) return;
        hn::StoreU(hn::BitCast(d8, v), d8, codes + (q + j - lane0) * stride + 4 * k);
      };
      put(0, hn::InterleaveLower(d64, t0, t1));
      put(1, hn::InterleaveUpper(d64, t0, t1));
      put(2, hn::InterleaveLower(d64, t2, t3));
      put(3, hn::InterleaveUpper(d64, t2, t3));
    }
  }
}
#endif

// Rows [r0, r1) of one group (r1 - r0 <= 16), blocks [b0, b0 + n) as a RowMajor matrix
// with f32 scales per block, in `s`.
HWY_INLINE WeightMatrix UnpackInterleave16x4Rows(const WeightMatrix& w, size_t r0, size_t r1, size_t b0,
                                                 size_t n, Interleave16x4Scratch* HWY_RESTRICT s) {
  const size_t bb = BlockBytes(w.type);
  const size_t nr = r1 - r0, stride = n * bb, words = stride / 4, first = b0 * bb / 4;
  const uint8_t* group = static_cast<const uint8_t*>(w.data) + (r0 / 16) * 16 * w.row_stride;
  const size_t lane0 = r0 % 16;
  GatherRowWords(group, first, words, lane0, nr, stride, s->codes);
  // Scales (and mins): the group's entries for these blocks are one run of 16 per scale
  // group, decoded at once, then spread to the rows.
  for (int pass = 0; pass < (w.type == WeightType::kU4 ? 2 : 1); ++pass) {
    const void* src = pass ? w.mins : w.scales;
    float* out = pass ? s->mins : s->scales;
    if (w.per_tensor) {
      for (size_t i = 0; i < nr; ++i) BlockScales(w, src, r0 + i, b0, b0 + n, out + i * n);
      continue;
    }
    const size_t g0 = GroupOfBlock(w, b0), g1 = GroupOfBlock(w, b0 + n - 1);
    DecodeScales(w, src, ScaleIndex(w, r0 - lane0, g0), (g1 - g0 + 1) * 16, s->run);
    for (size_t b = 0; b < n; ++b) {
      const float* col = s->run + (GroupOfBlock(w, b0 + b) - g0) * 16 + lane0;
      for (size_t i = 0; i < nr; ++i) out[i * n + b] = col[i];
    }
  }
  WeightMatrix v;
  v.type = w.type;
  v.rows = nr;
  v.cols = std::min(w.cols - 32 * b0, 32 * n);
  v.row_stride = stride;
  v.data = s->codes;
  v.group_size = 32;
  v.scale_type = ScaleType::kF32;
  v.scales = s->scales;
  v.mins = w.type == WeightType::kU4 ? s->mins : nullptr;
  return v;
}

// Activations of blocks [b0, ...) as their own QuantizedActivations (b0 a multiple of 4).
HWY_INLINE QuantizedActivations OffsetActivations(const QuantizedActivations& x, size_t b0, size_t cols) {
  QuantizedActivations v = x;
  v.q += 32 * b0;
  v.scales += b0;
  v.sums += b0;
  v.q_nibbles += 32 * b0;
  v.n = cols;
  return v;
}

// Calls run(view, b0, out, out_stride) for each chunk of each group in [r0, r1): the first
// chunk of a group writes y itself, later ones into s->part (kUnpackTokens x 16, `batch`
// tokens at most) and are added here.
template <class Run>
HWY_INLINE void ForEachUnpacked(const WeightMatrix& w, size_t batch, float* y, size_t y_stride,
                                size_t r0, size_t r1, const Run& run) {
  Interleave16x4Scratch s;
  const size_t nb = (w.cols + 31) / 32;
  for (size_t g0 = r0; g0 < r1;) {
    const size_t g1 = std::min(r1, (g0 / 16 + 1) * 16);
    for (size_t b0 = 0; b0 < nb; b0 += kUnpackBlocks) {
      const WeightMatrix v = UnpackInterleave16x4Rows(w, g0, g1, b0, std::min(kUnpackBlocks, nb - b0), &s);
      if (b0 == 0) {
        run(v, b0, y + g0, y_stride);
        continue;
      }
      run(v, b0, s.part, kInterleave16x4Rows);
      for (size_t t = 0; t < batch; ++t) {
        for (size_t i = 0; i < g1 - g0; ++i) y[t * y_stride + g0 + i] += s.part[t * kInterleave16x4Rows + i];
      }
    }
    g0 = g1;
  }
}

template <internal::GemvQ8RowsFn kInner>
void GemvQ8Unpacked(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0,
                    size_t r1) {
  ForEachUnpacked(w, 1, y, 0, r0, r1, [&](const WeightMatrix& v, size_t b0, float* out, size_t) {
    kInner(v, OffsetActivations(x, b0, v.cols), out, 0, v.rows);
  });
}

template <internal::GemmQ8RowsFn kInner>
void GemmQ8Unpacked(const WeightMatrix& w, const QuantizedActivations* x, size_t batch, float* y,
                    size_t y_stride, size_t r0, size_t r1) {
  QuantizedActivations xs[kUnpackTokens];
  for (size_t t = 0; t < batch; t += kUnpackTokens) {
    const size_t nt = std::min(kUnpackTokens, batch - t);
    ForEachUnpacked(w, nt, y + t * y_stride, y_stride, r0, r1,
                    [&](const WeightMatrix& v, size_t b0, float* out, size_t out_stride) {
                      for (size_t j = 0; j < nt; ++j) xs[j] = OffsetActivations(x[t + j], b0, v.cols);
                      kInner(v, xs, nt, out, out_stride, 0, v.rows);
                    });
  }
}

// The 16 scales (or mins) of block b for group g, decoded to f32.
HWY_INLINE void Interleave16x4ScaleArray(const WeightMatrix& w, const void* src, size_t g, size_t b,
                                  float* HWY_RESTRICT out) {
  if (w.per_tensor) {
    DecodeScales(w, src, 0, 1, out);
    for (size_t i = 1; i < kInterleave16x4Rows; ++i) out[i] = out[0];
    return;
  }
  DecodeScales(w, src, ScaleIndex(w, 16 * g, GroupOfBlock(w, b)), kInterleave16x4Rows, out);
}

// Packed bytes per 32-element block (BlockBytes, as a constant for these kernels).
template <WeightType kType>
constexpr size_t PackedBlockBytes() {
  return kType == WeightType::kI8 ? 32 : 16;
}

#if QLITE_X86_256
// Block b of the group at `p`, kInterleave16x4PrefetchBytes ahead: the stream is one run per
// matrix, and asking ahead keeps more misses in flight than the hardware prefetcher alone
// (one core's bandwidth).
constexpr size_t kInterleave16x4PrefetchBytes = 4096;
template <WeightType kType>
HWY_INLINE void PrefetchInterleave16x4Ahead(const uint8_t* p, size_t b) {
  constexpr size_t kBlockRun = PackedBlockBytes<kType>() * 16;
  const char* ahead = reinterpret_cast<const char*>(p) + b * kBlockRun + kInterleave16x4PrefetchBytes;
  for (size_t q = 0; q < kBlockRun; q += 64) _mm_prefetch(ahead + q, _MM_HINT_T0);
}
#endif

#if QLITE_X86_256 && !QLITE_VNNI512
// AVX2 (and AVX3 without VNNI): the same lane-per-row scheme on 256-bit halves (8 rows),
// with maddubs + madd for the 4-byte dot per lane (matmul-inl.h DotBlockX86). I4/U4
// products (|q x| <= 15 x 127) add up over a block's 8 maddubs in int16 (<= 30480) before
// one madd; signed I8/NF4 use |w| and x carrying w's sign, one madd per word.
template <WeightType kType>
void GemvQ8Interleave16x4X86(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0,
                      size_t r1) {
  constexpr bool kUnsigned4 = kType == WeightType::kI4 || kType == WeightType::kU4;
  constexpr size_t kWords = PackedBlockBytes<kType>() / 4;  // 64-byte runs per block
  const size_t nb = (w.cols + 31) / 32;
  const __m256i low4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
  const __m256i nf4 = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kNF4Int8)));
  const float k = kType == WeightType::kNF4 ? 1.0f / 127.0f : 1.0f;
  const int32_t off = static_cast<int32_t>(CodeOffset<kType>());
  HWY_ALIGN float scales[kInterleave16x4Rows], mins[kInterleave16x4Rows], out[kInterleave16x4Rows];
  for (size_t g = r0 / 16; g * 16 < r1; ++g) {
    const uint8_t* p = static_cast<const uint8_t*>(w.data) + g * 16 * w.row_stride;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 acc_min[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t b = 0; b < nb; ++b) {
      PrefetchInterleave16x4Ahead<kType>(p, b);
      const int32_t* xq = reinterpret_cast<const int32_t*>(x.q + 32 * b);
      Interleave16x4ScaleArray(w, w.scales, g, b, scales);
      if (kType == WeightType::kU4) Interleave16x4ScaleArray(w, w.mins, g, b, mins);
      const __m256 xs = _mm256_set1_ps(x.scales[b] * k);
      for (size_t h = 0; h < 2; ++h) {  // rows 8h..8h+7
        const uint8_t* ph = p + b * kWords * 64 + 32 * h;
        auto word = [&](size_t j) HWY_ATTR { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ph + 64 * j)); };
        __m256i d = _mm256_set1_epi32(-off * x.sums[b]);
        if (kUnsigned4) {
          __m256i s16 = _mm256_setzero_si256();
          for (size_t j = 0; j < 4; ++j) {
            const __m256i v = word(j);
            s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(_mm256_and_si256(v, low4), _mm256_set1_epi32(xq[j])));
            s16 = _mm256_add_epi16(
                s16, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), _mm256_set1_epi32(xq[4 + j])));
          }
          d = _mm256_add_epi32(d, _mm256_madd_epi16(s16, ones));
        } else if (kType == WeightType::kNF4) {
          for (size_t j = 0; j < 4; ++j) {
            const __m256i v = word(j);
            const __m256i lo = _mm256_shuffle_epi8(nf4, _mm256_and_si256(v, low4));
            const __m256i hi = _mm256_shuffle_epi8(nf4, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
            d = _mm256_add_epi32(d, DotBlockX86<kType>(lo, _mm256_set1_epi32(xq[j])));
            d = _mm256_add_epi32(d, DotBlockX86<kType>(hi, _mm256_set1_epi32(xq[4 + j])));
          }
        } else {
          for (size_t j = 0; j < 8; ++j) d = _mm256_add_epi32(d, DotBlockX86<kType>(word(j), _mm256_set1_epi32(xq[j])));
        }
        acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(_mm256_load_ps(scales + 8 * h), xs), acc[h]);
        if (kType == WeightType::kU4) {
          const __m256 xsum = _mm256_set1_ps(x.scales[b] * static_cast<float>(x.sums[b]));
          acc_min[h] = _mm256_fmadd_ps(_mm256_load_ps(mins + 8 * h), xsum, acc_min[h]);
        }
      }
    }
    for (size_t h = 0; h < 2; ++h) _mm256_store_ps(out + 8 * h, _mm256_add_ps(acc[h], acc_min[h]));
    for (size_t r = std::max(r0, g * 16); r < std::min(r1, g * 16 + 16); ++r) y[r] = out[r - g * 16];
  }
}
#endif

#if QLITE_VNNI512
// Scales (or mins) of block b for the 16 rows of group `g`, as f32 lanes: f16/f32 straight
// from the file, per-tensor and U8 scales through Interleave16x4ScaleArray.
HWY_INLINE __m512 Interleave16x4Scales(const WeightMatrix& w, const void* src, size_t g, size_t b) {
  const size_t first = ScaleIndex(w, 16 * g, GroupOfBlock(w, b));
  if (!w.per_tensor && w.scale_type == ScaleType::kF16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(src) + first)));
  }
  if (!w.per_tensor && w.scale_type == ScaleType::kF32) return _mm512_loadu_ps(static_cast<const float*>(src) + first);
  HWY_ALIGN float s[kInterleave16x4Rows];
  Interleave16x4ScaleArray(w, src, g, b, s);
  return _mm512_load_ps(s);
}

// Block b's 64-byte word k for the group at `p` (4-bit: 4 words per block, I8: 8).
template <WeightType kType>
HWY_INLINE __m512i LoadInterleave16x4Word(const uint8_t* HWY_RESTRICT p, size_t b, size_t k) {
  return _mm512_loadu_si512(p + (b * (PackedBlockBytes<kType>() / 4) + k) * 64);
}

// y[r] for r in [r0, r1): per group, block by block, 16 rows at once. I4/U4 take the high
// nibbles in place (v & 0xF0 = 16 q), so their dot is 16x too large: the 16 is taken out of
// the scale, and the low nibbles' partial sum is shifted left 4 before the two are added.
template <WeightType kType>
QLITE_VNNI_ATTR void GemvQ8Interleave16x4(const WeightMatrix& w, const QuantizedActivations& x, float* y,
                                   size_t r0, size_t r1) {
  const size_t nb = (w.cols + 31) / 32;
  const __m512i low4 = _mm512_set1_epi8(0x0F), high4 = _mm512_set1_epi8(static_cast<char>(0xF0));
  const __m512i bias = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i nf4 = _mm512_xor_si512(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kNF4Int8))), bias);
  constexpr bool kSixteen = kType == WeightType::kI4 || kType == WeightType::kU4;
  const float k = kType == WeightType::kNF4 ? 1.0f / 127.0f : kSixteen ? 1.0f / 16.0f : 1.0f;
  const int32_t off = static_cast<int32_t>(CodeOffset<kType>());
  for (size_t g = r0 / 16; g * 16 < r1; ++g) {
    const uint8_t* p = static_cast<const uint8_t*>(w.data) + g * 16 * w.row_stride;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (size_t b = 0; b < nb; ++b) {
      const int32_t* xq = reinterpret_cast<const int32_t*>(x.q + 32 * b);
      PrefetchInterleave16x4Ahead<kType>(p, b);
      __m512i d0 = _mm512_set1_epi32(-off * x.sums[b]), d1 = _mm512_setzero_si512();
      if (kType == WeightType::kI8) {
        for (size_t j = 0; j < 8; j += 2) {
          d0 = _mm512_dpbusd_epi32(d0, _mm512_xor_si512(LoadInterleave16x4Word<kType>(p, b, j), bias), _mm512_set1_epi32(xq[j]));
          d1 = _mm512_dpbusd_epi32(d1, _mm512_xor_si512(LoadInterleave16x4Word<kType>(p, b, j + 1), bias),
                                   _mm512_set1_epi32(xq[j + 1]));
        }
        d0 = _mm512_add_epi32(d0, d1);
      } else {
        // Word j: elements 4j..4j+3 in the low nibbles, 16+4j.. in the high ones.
        for (size_t j = 0; j < 4; ++j) {
          const __m512i v = LoadInterleave16x4Word<kType>(p, b, j);
          __m512i lo = _mm512_and_si512(v, low4), hi;
          if (kSixteen) {
            hi = _mm512_and_si512(v, high4);
          } else {  // NF4: both nibbles through the level table
            hi = _mm512_shuffle_epi8(nf4, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
            lo = _mm512_shuffle_epi8(nf4, lo);
          }
          d0 = _mm512_dpbusd_epi32(d0, lo, _mm512_set1_epi32(xq[j]));
          d1 = _mm512_dpbusd_epi32(d1, hi, _mm512_set1_epi32(xq[4 + j]));
        }
        d0 = kSixteen ? _mm512_add_epi32(_mm512_slli_epi32(d0, 4), d1) : _mm512_add_epi32(d0, d1);
      }
      const __m512 xs = _mm512_set1_ps(x.scales[b] * k);
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d0), _mm512_mul_ps(Interleave16x4Scales(w, w.scales, g, b), xs), acc0);
      if (kType == WeightType::kU4) {
        const __m512 xsum = _mm512_set1_ps(x.scales[b] * static_cast<float>(x.sums[b]));
        acc1 = _mm512_fmadd_ps(Interleave16x4Scales(w, w.mins, g, b), xsum, acc1);
      } else {
        std::swap(acc0, acc1);
      }
    }
    // Rows of this group inside [r0, r1).
    const size_t lo = std::max(r0, g * 16) - g * 16, hi = std::min(r1, g * 16 + 16) - g * 16;
    const __mmask16 m = static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
    _mm512_mask_storeu_ps(y + g * 16, m, _mm512_add_ps(acc0, acc1));
  }
}
#endif  // QLITE_VNNI512

#if QLITE_NEON
// NEON on AArch64 and armv7 alike (32-bit Raspberry Pi OS on a Pi 4 runs the same code), with
// the few operations armv7 lacks in small helpers; SDOT and f16 scale loads on AArch64 only.
#if QLITE_A64
HWY_INLINE int32x4_t PairwiseAddNeon(int32x4_t a, int32x4_t b) { return vpaddq_s32(a, b); }
template <int kJ>
HWY_INLINE int8x16_t WordBroadcastNeon(int8x16_t x) {
  return vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(x), kJ));
}
#else
HWY_INLINE int32x4_t PairwiseAddNeon(int32x4_t a, int32x4_t b) {
  return vcombine_s32(vpadd_s32(vget_low_s32(a), vget_high_s32(a)), vpadd_s32(vget_low_s32(b), vget_high_s32(b)));
}
template <int kJ>
HWY_INLINE int8x16_t WordBroadcastNeon(int8x16_t x) {
  const int32x4_t v = vreinterpretq_s32_s8(x);
  return vreinterpretq_s8_s32(vdupq_lane_s32(kJ < 2 ? vget_low_s32(v) : vget_high_s32(v), kJ & 1));
}
#endif

// Word j of a block for 4 rows (16 bytes, one row per 4-byte lane) as int8 codes: `lo`
// meets activation word j (elements 4j..4j+3), `hi` word j + 4 (elements 16 + 4j..). 4-bit:
// the low and high nibbles of one 16-byte load; I8: words j and j + 4, 256 bytes apart.
template <WeightType kType>
HWY_INLINE void Interleave16x4WordNeon(const uint8_t* HWY_RESTRICT word, int8x16_t nf4, int8x16_t& lo,
                                       int8x16_t& hi) {
  if constexpr (kType == WeightType::kI8) {
    lo = vld1q_s8(reinterpret_cast<const int8_t*>(word));
    hi = vld1q_s8(reinterpret_cast<const int8_t*>(word) + 256);
  } else {
    NibbleCodesNeon<kType>(word, nf4, lo, hi);
  }
}

// Word kJ of the block against kTok tokens (xlo[t], xhi[t]): SDOT by element, 4 rows' words
// against one word of activations, decoded once for all tokens (AArch64 only).
#if QLITE_A64
template <WeightType kType, int kJ, size_t kTok>
HWY_INLINE void SdotWordNeon(const uint8_t* HWY_RESTRICT run, const int8x16_t* xlo, const int8x16_t* xhi,
                             int8x16_t nf4, int32x4_t* d) {
  int8x16_t lo, hi;
  Interleave16x4WordNeon<kType>(run + 64 * kJ, nf4, lo, hi);
  for (size_t t = 0; t < kTok; ++t) d[t] = SdotLane<kJ>(SdotLane<kJ>(d[t], lo, xlo[t]), hi, xhi[t]);
}
#else
template <WeightType kType, int kJ, size_t kTok>
void SdotWordNeon(const uint8_t* run, const int8x16_t* xlo, const int8x16_t* xhi, int8x16_t nf4, int32x4_t* d);
#endif

// Word kJ without SDOT: widening multiplies against the activation word broadcast to every
// lane; int16 lanes 0..7 of s01 are rows 0 and 1 (4 bytes each), of s23 rows 2 and 3.
// 4-bit codes (|q x| <= 15 x 127) add up in int16 over the block's 8 products per lane;
// full-range codes (I8, NF4 levels: |q x| <= 128 x 127) two per lane, then into int32.
template <WeightType kType, int kJ, size_t kTok>
HWY_INLINE void WideWordNeon(const uint8_t* HWY_RESTRICT run, const int8x16_t* xlo, const int8x16_t* xhi,
                            int8x16_t nf4, int16x8_t* s01, int16x8_t* s23, int32x4_t* a01, int32x4_t* a23) {
  int8x16_t lo, hi;
  Interleave16x4WordNeon<kType>(run + 64 * kJ, nf4, lo, hi);
  for (size_t t = 0; t < kTok; ++t) {
    const int8x16_t xl = WordBroadcastNeon<kJ>(xlo[t]), xh = WordBroadcastNeon<kJ>(xhi[t]);
    if constexpr (kType == WeightType::kI4 || kType == WeightType::kU4) {
      s01[t] = vmlal_s8(vmlal_s8(s01[t], vget_low_s8(lo), vget_low_s8(xl)), vget_low_s8(hi), vget_low_s8(xh));
      s23[t] = vmlal_s8(vmlal_s8(s23[t], vget_high_s8(lo), vget_high_s8(xl)), vget_high_s8(hi), vget_high_s8(xh));
    } else {
      a01[t] = vpadalq_s16(a01[t], vmlal_s8(vmull_s8(vget_low_s8(lo), vget_low_s8(xl)), vget_low_s8(hi), vget_low_s8(xh)));
      a23[t] = vpadalq_s16(a23[t], vmlal_s8(vmull_s8(vget_high_s8(lo), vget_high_s8(xl)), vget_high_s8(hi), vget_high_s8(xh)));
    }
  }
}

// One block's dots for 4 rows and kTok tokens: d[t] lane i += row i . token t. `run`: the
// block's first word at the rows' 16-byte slice.
template <WeightType kType, bool kSdot, size_t kTok>
HWY_INLINE void Interleave16x4RowsNeon(const uint8_t* HWY_RESTRICT run, const int8x16_t* xlo,
                                      const int8x16_t* xhi, int8x16_t nf4, int32x4_t* d) {
  if constexpr (kSdot) {
    SdotWordNeon<kType, 0, kTok>(run, xlo, xhi, nf4, d);
    SdotWordNeon<kType, 1, kTok>(run, xlo, xhi, nf4, d);
    SdotWordNeon<kType, 2, kTok>(run, xlo, xhi, nf4, d);
    SdotWordNeon<kType, 3, kTok>(run, xlo, xhi, nf4, d);
  } else {
    int16x8_t s01[kTok], s23[kTok];
    int32x4_t a01[kTok], a23[kTok];
    for (size_t t = 0; t < kTok; ++t) {
      s01[t] = s23[t] = vdupq_n_s16(0);
      a01[t] = a23[t] = vdupq_n_s32(0);
    }
    WideWordNeon<kType, 0, kTok>(run, xlo, xhi, nf4, s01, s23, a01, a23);
    WideWordNeon<kType, 1, kTok>(run, xlo, xhi, nf4, s01, s23, a01, a23);
    WideWordNeon<kType, 2, kTok>(run, xlo, xhi, nf4, s01, s23, a01, a23);
    WideWordNeon<kType, 3, kTok>(run, xlo, xhi, nf4, s01, s23, a01, a23);
    for (size_t t = 0; t < kTok; ++t) {
      if constexpr (kType == WeightType::kI4 || kType == WeightType::kU4) {
        a01[t] = vpaddlq_s16(s01[t]);
        a23[t] = vpaddlq_s16(s23[t]);
      }
      d[t] = vaddq_s32(d[t], PairwiseAddNeon(a01[t], a23[t]));
    }
  }
}

// Block b's scales (or mins) of group g for rows 4 q0 .. 4 (q0 + kVecs) - 1, as kVecs vectors
// of 4 rows: with kF16 (AArch64; F16 scales, one per block: what the converter writes) straight
// from the file, where block b's 16 are side by side at `f16 + 16 b`; anything else through
// Interleave16x4ScaleArray (`tmp`).
template <bool kF16, size_t kVecs>
HWY_INLINE void Interleave16x4ScalesNeon(const WeightMatrix& w, const void* src, const uint16_t* f16, size_t g,
                                         size_t b, size_t q0, float* HWY_RESTRICT tmp, float32x4_t* s) {
  if constexpr (kF16 && QLITE_A64) {
    const uint16_t* h = f16 + 16 * b + 4 * q0;
    if constexpr (kVecs == 1) {
      s[0] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
      return;
    }
    for (size_t q = 0; q < kVecs; q += 2) {
      const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h + 4 * q));
      s[q] = vcvt_f32_f16(vget_low_f16(v));
      s[q + 1] = vcvt_f32_f16(vget_high_f16(v));
    }
    return;
  }
  Interleave16x4ScaleArray(w, src, g, b, tmp);
  for (size_t q = 0; q < kVecs; ++q) s[q] = vld1q_f32(tmp + 4 * (q0 + q));
}

// The 16 rows of group g against kTok tokens x[0..kTok), read in place (like the VNNI kernel:
// each lane holds one row's dot, no horizontal sums, one conversion and FMA per 4 rows,
// block and token): out[16 t + i] = row 16 g + i . token t. kVecs 4-row vectors per pass over
// the blocks: all 4 for one or two tokens; 2 for four tokens, whose accumulators would not
// fit the 32 registers for 16 rows (the group stays in L1 for the second pass).
template <WeightType kType, bool kSdot, bool kF16, size_t kTok, size_t kVecs>
HWY_INLINE void Interleave16x4GroupBody(const WeightMatrix& w, const QuantizedActivations* x, size_t g,
                                        float* HWY_RESTRICT out) {
  const size_t nb = (w.cols + 31) / 32;
  const int8x16_t nf4 = vld1q_s8(kNF4Int8);
  const float k = kType == WeightType::kNF4 ? 1.0f / 127.0f : 1.0f;
  const int32_t off = static_cast<int32_t>(CodeOffset<kType>());
  HWY_ALIGN float tmp[kInterleave16x4Rows];
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + g * 16 * w.row_stride;
  // The tokens' arrays in locals: the stores below (scales, spills) could alias the structs.
  const float* xsc[kTok];
  const int32_t* xsums[kTok];
  for (size_t t = 0; t < kTok; ++t) xsc[t] = x[t].scales, xsums[t] = x[t].sums;
  // kF16: the group's first F16 scale (and min); block b's 16 follow at 16 b.
  const size_t first_scale = kF16 ? ScaleIndex(w, 16 * g, 0) : 0;
  const uint16_t* scales_f16 = static_cast<const uint16_t*>(w.scales) + first_scale;
  const uint16_t* mins_f16 = kType == WeightType::kU4 ? static_cast<const uint16_t*>(w.mins) + first_scale : nullptr;
  for (size_t q0 = 0; q0 < 4; q0 += kVecs) {
    float32x4_t acc[kTok][kVecs], min_acc[kTok][kVecs];  // rows 4(q0 + q)..; U4: min * sum(x)
    const int8_t* xq[kTok];  // block b's activations, advanced per block
    for (size_t t = 0; t < kTok; ++t) {
      xq[t] = x[t].q;
      for (size_t q = 0; q < kVecs; ++q) acc[t][q] = min_acc[t][q] = vdupq_n_f32(0.0f);
    }
    for (size_t b = 0; b < nb; ++b) {
      int8x16_t xlo[kTok], xhi[kTok];
      int32x4_t init[kTok];
      float xs[kTok];
      for (size_t t = 0; t < kTok; ++t) {
        xlo[t] = vld1q_s8(xq[t]);
        xhi[t] = vld1q_s8(xq[t] + 16);
        xq[t] += 32;
        init[t] = vdupq_n_s32(-off * xsums[t][b]);
        xs[t] = xsc[t][b] * k;
      }
      const uint8_t* run = p + b * PackedBlockBytes<kType>() * 16 + 16 * q0;
      int32x4_t d[kVecs][kTok];
      for (size_t q = 0; q < kVecs; ++q) {
        for (size_t t = 0; t < kTok; ++t) d[q][t] = init[t];
        Interleave16x4RowsNeon<kType, kSdot, kTok>(run + 16 * q, xlo, xhi, nf4, d[q]);
      }
      float32x4_t s[kVecs];
      Interleave16x4ScalesNeon<kF16, kVecs>(w, w.scales, scales_f16, g, b, q0, tmp, s);
      for (size_t t = 0; t < kTok; ++t) {
        for (size_t q = 0; q < kVecs; ++q) acc[t][q] = vfmaq_f32(acc[t][q], vcvtq_f32_s32(d[q][t]), vmulq_n_f32(s[q], xs[t]));
      }
      if (kType == WeightType::kU4) {
        Interleave16x4ScalesNeon<kF16, kVecs>(w, w.mins, mins_f16, g, b, q0, tmp, s);
        for (size_t t = 0; t < kTok; ++t) {
          const float xsum = xsc[t][b] * static_cast<float>(xsums[t][b]);
          for (size_t q = 0; q < kVecs; ++q) min_acc[t][q] = vfmaq_f32(min_acc[t][q], s[q], vdupq_n_f32(xsum));
        }
      }
    }
    for (size_t t = 0; t < kTok; ++t) {
      for (size_t q = 0; q < kVecs; ++q) vst1q_f32(out + 16 * t + 4 * (q0 + q), vaddq_f32(acc[t][q], min_acc[t][q]));
    }
  }
}

// One token: SDOT or widening multiplies.
template <WeightType kType, bool kSdot, bool kF16>
void Interleave16x4GroupNeon(const WeightMatrix& w, const QuantizedActivations* x, size_t g, float* HWY_RESTRICT out) {
  Interleave16x4GroupBody<kType, kSdot, kF16, 1, 4>(w, x, g, out);
}

// Several tokens, SDOT only. Without GCC's pre-register-allocation scheduler: it hoists every
// decoded weight word of the block ahead of the dots (16 registers for two 4-row vectors) and
// spills the accumulators: 15 loads and stores per block and 14 % more instructions for four
// tokens (scripts/arm_kernel_insns.sh). Clang schedules after allocation only.
template <WeightType kType, bool kF16, size_t kTok, size_t kVecs>
QLITE_NO_PRE_RA_SCHEDULE void Interleave16x4GroupSdotTokens(const WeightMatrix& w, const QuantizedActivations* x,
                                                            size_t g, float* HWY_RESTRICT out) {
  Interleave16x4GroupBody<kType, true, kF16, kTok, kVecs>(w, x, g, out);
}

using Interleave16x4GroupFn = void (*)(const WeightMatrix&, const QuantizedActivations*, size_t, float*);
template <WeightType kType>
Interleave16x4GroupFn Interleave16x4GroupOne(bool sdot, bool f16) {
  if constexpr (QLITE_A64) {
    if (sdot) return f16 ? &Interleave16x4GroupNeon<kType, true, true> : &Interleave16x4GroupNeon<kType, true, false>;
  }
  return f16 ? &Interleave16x4GroupNeon<kType, false, true> : &Interleave16x4GroupNeon<kType, false, false>;
}
template <WeightType kType, size_t kTok, size_t kVecs>
Interleave16x4GroupFn Interleave16x4GroupTokens(bool f16) {
  if constexpr (QLITE_A64) {
    return f16 ? &Interleave16x4GroupSdotTokens<kType, true, kTok, kVecs>
               : &Interleave16x4GroupSdotTokens<kType, false, kTok, kVecs>;
  }
  return nullptr;
}

#if QLITE_A64
// GemmQ8 with SMMLA (FEAT_I8MM): a 2-row x 2-token product of 8 values per instruction, twice
// an SDOT's work. Each operand half must be 8 consecutive values of one row or token, where
// Interleave16x4 keeps 4 (a word): per 4-row vector, words k and k + 1 are zipped into two
// rows' 8 values (a zip per 16 weight bytes, shared by 8 tokens), and the tokens are paired
// once per chunk of blocks (TokenPairBlock), so the loop over them is loads and SMMLAs.
constexpr size_t kMmlaBlocks = 64;      // blocks per chunk: 64 x 4 token pairs x 112 B = 28 KiB
constexpr size_t kMmlaPanelGroups = 8;  // 128 rows x 64 blocks of int4: 128 KiB, L2, reused by each 8 tokens

// One block of two tokens a and b in SMMLA's operand and output order.
struct TokenPairBlock {
  int8_t x[4][16];   // slice s: a's values 8s..8s+7, then b's
  float xs[4];       // [a, b, a, b] activation scales (NF4: / 127)
  int32_t init[4];   // [a, b, a, b] -code offset * sum(x)
  float xsum[4];     // [a, b, a, b] scale * sum(x) (U4: the mins' factor)
};

// Tokens x[0..8) as 4 pairs, blocks [b0, b0 + n): pairs[4 i + p] = pair p's block b0 + i.
template <WeightType kType>
HWY_INLINE void PairTokens(const QuantizedActivations* x, size_t b0, size_t n, TokenPairBlock* HWY_RESTRICT pairs) {
  const float k = kType == WeightType::kNF4 ? 1.0f / 127.0f : 1.0f;
  const int32_t off = static_cast<int32_t>(CodeOffset<kType>());
  for (size_t p = 0; p < 4; ++p) {
    const QuantizedActivations& a = x[2 * p];
    const QuantizedActivations& b = x[2 * p + 1];
    for (size_t i = 0; i < n; ++i) {
      const size_t blk = b0 + i;
      TokenPairBlock& o = pairs[4 * i + p];
      for (size_t h = 0; h < 2; ++h) {  // values 0..15, then 16..31
        const int64x2_t va = vreinterpretq_s64_s8(vld1q_s8(a.q + 32 * blk + 16 * h));
        const int64x2_t vb = vreinterpretq_s64_s8(vld1q_s8(b.q + 32 * blk + 16 * h));
        vst1q_s8(o.x[2 * h], vreinterpretq_s8_s64(vzip1q_s64(va, vb)));
        vst1q_s8(o.x[2 * h + 1], vreinterpretq_s8_s64(vzip2q_s64(va, vb)));
      }
      const float xa = a.scales[blk], xb = b.scales[blk];
      const int32_t sa = a.sums[blk], sb = b.sums[blk];
      const float xs[4] = {xa * k, xb * k, xa * k, xb * k};
      const int32_t init[4] = {-off * sa, -off * sb, -off * sa, -off * sb};
      const float xsum[4] = {xa * static_cast<float>(sa), xb * static_cast<float>(sb), xa * static_cast<float>(sa),
                             xb * static_cast<float>(sb)};
      std::memcpy(o.xs, xs, sizeof(xs));
      std::memcpy(o.init, init, sizeof(init));
      std::memcpy(o.xsum, xsum, sizeof(xsum));
    }
  }
}

// The 16 rows of group g against 8 paired tokens over blocks [b0, b0 + n): out[16 t + i] = that
// chunk's part of row 16 g + i . token t. One 4-row vector per pass: its block's 8 zipped
// operands, 8 accumulators and one pair's operands fit the registers (not U4, whose mins take
// 8 more). Compiled without GCC's pre-allocation scheduler, as Interleave16x4GroupSdotTokens.
template <WeightType kType, bool kF16>
QLITE_NO_PRE_RA_SCHEDULE void Interleave16x4GroupMmla(const WeightMatrix& w, const TokenPairBlock* pairs, size_t g,
                                                     size_t b0, size_t n, float* HWY_RESTRICT out) {
  const int8x16_t nf4 = vld1q_s8(kNF4Int8);
  HWY_ALIGN float tmp[kInterleave16x4Rows];
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + g * 16 * w.row_stride;
  const size_t first_scale = kF16 ? ScaleIndex(w, 16 * g, 0) : 0;
  const uint16_t* scales_f16 = static_cast<const uint16_t*>(w.scales) + first_scale;
  const uint16_t* mins_f16 = kType == WeightType::kU4 ? static_cast<const uint16_t*>(w.mins) + first_scale : nullptr;
  for (size_t q = 0; q < 4; ++q) {
    float32x4_t acc[4][2], min_acc[4][2];  // pair, row pair: [r.a, r.b, r'.a, r'.b]
    for (size_t t = 0; t < 4; ++t) acc[t][0] = acc[t][1] = min_acc[t][0] = min_acc[t][1] = vdupq_n_f32(0.0f);
    for (size_t i = 0; i < n; ++i) {
      const size_t b = b0 + i;
      const uint8_t* run = p + b * PackedBlockBytes<kType>() * 16 + 16 * q;
      int32x4_t lo[4], hi[4];  // word k of the 4 rows: values 4k.., 16 + 4k..
      for (size_t k = 0; k < 4; ++k) {
        int8x16_t l, h;
        Interleave16x4WordNeon<kType>(run + 64 * k, nf4, l, h);
        lo[k] = vreinterpretq_s32_s8(l);
        hi[k] = vreinterpretq_s32_s8(h);
      }
      // a[r][s]: rows 2r, 2r + 1, values 8s..8s + 7.
      const int8x16_t a[2][4] = {
          {vreinterpretq_s8_s32(vzip1q_s32(lo[0], lo[1])), vreinterpretq_s8_s32(vzip1q_s32(lo[2], lo[3])),
           vreinterpretq_s8_s32(vzip1q_s32(hi[0], hi[1])), vreinterpretq_s8_s32(vzip1q_s32(hi[2], hi[3]))},
          {vreinterpretq_s8_s32(vzip2q_s32(lo[0], lo[1])), vreinterpretq_s8_s32(vzip2q_s32(lo[2], lo[3])),
           vreinterpretq_s8_s32(vzip2q_s32(hi[0], hi[1])), vreinterpretq_s8_s32(vzip2q_s32(hi[2], hi[3]))}};
      float32x4_t s;
      Interleave16x4ScalesNeon<kF16, 1>(w, w.scales, scales_f16, g, b, q, tmp, &s);
      const float32x4_t s01 = vzip1q_f32(s, s), s23 = vzip2q_f32(s, s);  // [s0, s0, s1, s1], ...
      float32x4_t m01 = s01, m23 = s23;
      if (kType == WeightType::kU4) {
        Interleave16x4ScalesNeon<kF16, 1>(w, w.mins, mins_f16, g, b, q, tmp, &s);
        m01 = vzip1q_f32(s, s);
        m23 = vzip2q_f32(s, s);
      }
      const TokenPairBlock* pb = pairs + 4 * i;
      for (size_t t = 0; t < 4; ++t) {
        const int8x16_t x0 = vld1q_s8(pb[t].x[0]), x1 = vld1q_s8(pb[t].x[1]);
        const int8x16_t x2 = vld1q_s8(pb[t].x[2]), x3 = vld1q_s8(pb[t].x[3]);
        const int32x4_t init = vld1q_s32(pb[t].init);
        const float32x4_t xs = vld1q_f32(pb[t].xs);
        const int32x4_t d0 = Smmla(Smmla(Smmla(Smmla(init, a[0][0], x0), a[0][1], x1), a[0][2], x2), a[0][3], x3);
        const int32x4_t d1 = Smmla(Smmla(Smmla(Smmla(init, a[1][0], x0), a[1][1], x1), a[1][2], x2), a[1][3], x3);
        acc[t][0] = vfmaq_f32(acc[t][0], vcvtq_f32_s32(d0), vmulq_f32(s01, xs));
        acc[t][1] = vfmaq_f32(acc[t][1], vcvtq_f32_s32(d1), vmulq_f32(s23, xs));
        if (kType == WeightType::kU4) {
          const float32x4_t xsum = vld1q_f32(pb[t].xsum);
          min_acc[t][0] = vfmaq_f32(min_acc[t][0], m01, xsum);
          min_acc[t][1] = vfmaq_f32(min_acc[t][1], m23, xsum);
        }
      }
    }
    for (size_t t = 0; t < 4; ++t) {  // even lanes token a, odd lanes token b
      const float32x4_t r01 = vaddq_f32(acc[t][0], min_acc[t][0]), r23 = vaddq_f32(acc[t][1], min_acc[t][1]);
      vst1q_f32(out + 16 * (2 * t) + 4 * q, vuzp1q_f32(r01, r23));
      vst1q_f32(out + 16 * (2 * t + 1) + 4 * q, vuzp2q_f32(r01, r23));
    }
  }
}

// GemmQ8 of the first batch / 8 * 8 tokens with SMMLA where the CPU has it; returns how many
// it took. Per panel of up to 8 groups and chunk of blocks, each 8 tokens are paired once and
// meet the panel's weights, which stay in L2 for the next 8.
template <WeightType kType>
size_t GemmQ8Interleave16x4Mmla(const WeightMatrix& w, const QuantizedActivations* x, size_t batch, float* y,
                                size_t y_stride, size_t r0, size_t r1, bool f16) {
  if (batch < 8 || !(ArmDotExtensions() & kArmI8mm)) return 0;  // decode returns at once
  batch = batch / 8 * 8;
  const size_t nb = (w.cols + 31) / 32;
  const auto group = f16 ? &Interleave16x4GroupMmla<kType, true> : &Interleave16x4GroupMmla<kType, false>;
  TokenPairBlock pairs[4 * kMmlaBlocks];
  HWY_ALIGN float out[8 * kInterleave16x4Rows];
  const size_t g_end = (r1 + 15) / 16;
  for (size_t g0 = r0 / 16; g0 < g_end; g0 += kMmlaPanelGroups) {
    const size_t g1 = std::min(g_end, g0 + kMmlaPanelGroups);
    for (size_t b0 = 0; b0 < nb; b0 += kMmlaBlocks) {
      const size_t n = std::min(kMmlaBlocks, nb - b0);
      for (size_t t = 0; t < batch; t += 8) {
        PairTokens<kType>(x + t, b0, n, pairs);
        for (size_t g = g0; g < g1; ++g) {
          group(w, pairs, g, b0, n, out);
          const size_t first = std::max(r0, g * 16), end = std::min(r1, g * 16 + 16);
          for (size_t j = 0; j < 8; ++j) {
            float* yt = y + (t + j) * y_stride;
            for (size_t r = first; r < end; ++r) yt[r] = (b0 == 0 ? 0.0f : yt[r]) + out[16 * j + r - g * 16];
          }
        }
      }
    }
  }
  return batch;
}
#else
template <WeightType kType>
size_t GemmQ8Interleave16x4Mmla(const WeightMatrix&, const QuantizedActivations*, size_t, float*, size_t, size_t,
                                size_t, bool) {
  return 0;  // armv7 has no SMMLA
}
#endif  // QLITE_A64

// GemmQ8 (and GemvQ8, batch 1) reading Interleave16x4 in place on every NEON CPU: eight
// tokens at a time with SMMLA where the CPU has it; the rest group by group, four tokens at a
// time with SDOT (each word decoded once for all four), one at a time without, so a group's
// weights come from memory once and from L1 for the other tokens.
template <WeightType kType>
void GemmQ8Interleave16x4Neon(const WeightMatrix& w, const QuantizedActivations* x, size_t batch, float* y,
                             size_t y_stride, size_t r0, size_t r1) {
  const bool sdot = (ArmDotExtensions() & kArmDotProd) != 0;
  const bool f16 = QLITE_A64 && !w.per_tensor && w.scale_type == ScaleType::kF16 && w.group_size == 32;
  const Interleave16x4GroupFn one = Interleave16x4GroupOne<kType>(sdot, f16);
  const Interleave16x4GroupFn two = Interleave16x4GroupTokens<kType, 2, 4>(f16);
  // Several tokens a pass with SDOT only: the widening path's int16 sums per token do not fit
  // the registers twice (Cortex-A72: 0.48 instructions per weight and token for two, 0.33 for one).
  const Interleave16x4GroupFn four = Interleave16x4GroupTokens<kType, 4, 2>(f16);
  const size_t most = sdot ? 4 : 1;
  const size_t paired = GemmQ8Interleave16x4Mmla<kType>(w, x, batch, y, y_stride, r0, r1, f16);  // eights
  HWY_ALIGN float out[4 * kInterleave16x4Rows];
  for (size_t g = r0 / 16; g * 16 < r1; ++g) {
    const size_t first = std::max(r0, g * 16), end = std::min(r1, g * 16 + 16);
    for (size_t t = paired; t < batch;) {
      const size_t nt = std::min<size_t>(batch - t >= 4 ? 4 : batch - t >= 2 ? 2 : 1, most);
      (nt == 4 ? four : nt == 2 ? two : one)(w, x + t, g, out);
      for (size_t j = 0; j < nt; ++j) {
        for (size_t r = first; r < end; ++r) y[(t + j) * y_stride + r] = out[16 * j + r - g * 16];
      }
      t += nt;
    }
  }
}

template <WeightType kType>
void GemvQ8Interleave16x4Neon(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0,
                             size_t r1) {
  GemmQ8Interleave16x4Neon<kType>(w, &x, 1, y, 0, r0, r1);
}
#endif  // QLITE_NEON

// The kernels for an Interleave16x4 matrix of kType on this target.
template <WeightType kType, internal::GemvQ8RowsFn kGemvQ8, internal::GemmQ8RowsFn kGemmQ8>
internal::RowKernels Interleave16x4Kernels() {
  internal::RowKernels k;
#if QLITE_VNNI512
  k.gemv_q8 = &GemvQ8Interleave16x4<kType>;
  k.gemm_q8 = kGemmQ8;  // reads the layout directly (DecodeVnniGroup)
#elif QLITE_X86_256
  k.gemv_q8 = &GemvQ8Interleave16x4X86<kType>;
  k.gemm_q8 = &GemmQ8Unpacked<kGemmQ8>;
#elif QLITE_NEON
  k.gemv_q8 = &GemvQ8Interleave16x4Neon<kType>;
  k.gemm_q8 = &GemmQ8Interleave16x4Neon<kType>;
#else
  k.gemv_q8 = &GemvQ8Unpacked<kGemvQ8>;
  k.gemm_q8 = &GemmQ8Unpacked<kGemmQ8>;
#endif
  return k;
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
