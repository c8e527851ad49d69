// Per-target int8 block dot products for AArch64, in NEON intrinsics (Highway's NEON targets
// have no SDOT, lane-indexed SDOT or SMMLA, up to 1.3 at least: arch/README.md). Used by
// GemvQ8RowsA64 (matmul_q8-inl.h) and GemmQ8RowsTiled (matmul_gemm_q8-inl.h) on the NEON and
// SVE targets: every SVE CPU has NEON, and phones' SVE vectors are 128-bit like these. Three
// levels, chosen per call from ArmDotExtensions():
// - widening multiplies (every A64 CPU, Raspberry Pi 3/4): products in int16, pairwise
//   added into int32;
// - SDOT (FEAT_DotProd): four int8 products per int32 lane in one instruction;
// - SMMLA (FEAT_I8MM, GEMM only): a 2x8 by 8x2 int8 product, two weight rows x two tokens.
// SDOT and SMMLA are one inline-asm instruction each unless the build's -march enables their
// intrinsics: a target attribute instead would have to be on every function down to the
// intrinsic (GCC inlines intrinsics into each function body on its own, and a function with
// the attribute cannot be inlined into Highway's), while an assembler directive lets one
// armv8-a build carry all three levels.
#if defined(QLITE_ARCH_SRC_MATMUL_A64_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_SRC_MATMUL_A64_INL_H_
#undef QLITE_ARCH_SRC_MATMUL_A64_INL_H_
#else
#define QLITE_ARCH_SRC_MATMUL_A64_INL_H_
#endif

#include "hwy/highway.h"
#include "matmul-inl.h"

#if QLITE_NEON
#include <arm_neon.h>
#endif

// GCC: a function compiled without the instruction scheduling pass that runs before register
// allocation (where it raises register pressure into spills; the later pass still runs).
#ifndef QLITE_NO_PRE_RA_SCHEDULE
#if defined(__GNUC__) && !defined(__clang__)
#define QLITE_NO_PRE_RA_SCHEDULE __attribute__((optimize("no-schedule-insns")))
#else
#define QLITE_NO_PRE_RA_SCHEDULE
#endif
#endif

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {

#if QLITE_NEON
// NF4 codes to their kNF4Int8 levels (a 16-entry table lookup; armv7 has only 8-byte tables).
#if QLITE_A64
HWY_INLINE int8x16_t Nf4LevelsNeon(int8x16_t table, uint8x16_t codes) { return vqtbl1q_s8(table, codes); }
#else
HWY_INLINE int8x16_t Nf4LevelsNeon(int8x16_t table, uint8x16_t codes) {
  const int8x8x2_t t = {{vget_low_s8(table), vget_high_s8(table)}};
  return vcombine_s8(vtbl2_s8(t, vreinterpret_s8_u8(vget_low_u8(codes))),
                     vtbl2_s8(t, vreinterpret_s8_u8(vget_high_u8(codes))));
}
#endif

// 16 bytes of 4-bit codes as int8: `lo` the low nibbles, `hi` the high ones (I4/U4 0..15,
// NF4 kNF4Int8 levels), for both layouts' kernels.
template <WeightType kType>
HWY_INLINE void NibbleCodesNeon(const uint8_t* HWY_RESTRICT p, int8x16_t nf4, int8x16_t& lo, int8x16_t& hi) {
  const uint8x16_t v = vld1q_u8(p);
  const uint8x16_t l = vandq_u8(v, vdupq_n_u8(0x0F)), h = vshrq_n_u8(v, 4);
  lo = kType == WeightType::kNF4 ? Nf4LevelsNeon(nf4, l) : vreinterpretq_s8_u8(l);
  hi = kType == WeightType::kNF4 ? Nf4LevelsNeon(nf4, h) : vreinterpretq_s8_u8(h);
}
#endif  // QLITE_NEON

#if QLITE_A64
// The assembler directive before SDOT/SMMLA: the rest of the file then assembles as Armv8.6-A
// with every extension a Highway target compiles for (crypto, fp16, bf16, dot product, i8mm,
// SVE2 with AES; LLVM 14 ignores a bare ".arch armv8.6-a" in inline asm): a superset of what
// the compiler emits for the functions after it (GCC repeats its own .arch only when the
// target changes), so nothing it generates stops assembling, whatever the Highway release.
#undef QLITE_A64_ASM_ARCH
#define QLITE_A64_ASM_ARCH ".arch armv8.6-a+crypto+fp16+bf16+dotprod+i8mm+sve2-aes\n\t"

// acc + per int32 lane the sum of four int8 products (SDOT).
HWY_INLINE int32x4_t Sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
#ifdef __ARM_FEATURE_DOTPROD
  return vdotq_s32(acc, a, b);
#else
  asm(QLITE_A64_ASM_ARCH "sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
#endif
}

// acc + a * b^T, a and b each two rows of 8 int8: lanes [a0.b0, a0.b1, a1.b0, a1.b1] (SMMLA).
HWY_INLINE int32x4_t Smmla(int32x4_t acc, int8x16_t a, int8x16_t b) {
#ifdef __ARM_FEATURE_MATMUL_INT8
  return vmmlaq_s32(acc, a, b);
#else
  asm(QLITE_A64_ASM_ARCH "smmla %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b));
  return acc;
#endif
}

// acc + per int32 lane i: a's 4 bytes of lane i times b's 4 bytes of lane kLane (SDOT by
// element: four rows' words against one word of activations).
template <int kLane>
HWY_INLINE int32x4_t SdotLane(int32x4_t acc, int8x16_t a, int8x16_t b) {
#ifdef __ARM_FEATURE_DOTPROD
  return vdotq_laneq_s32(acc, a, b, kLane);
#else
  asm(QLITE_A64_ASM_ARCH "sdot %0.4s, %1.16b, %2.4b[%3]" : "+w"(acc) : "w"(a), "w"(b), "n"(kLane));
  return acc;
#endif
}

// A block of 4-bit codes (0..15) without SDOT: products widened to int16, four per lane
// (<= 4 x 15 x 128 = 7680).
HWY_INLINE int16x8_t DotNibbleBlock16A64(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
  int16x8_t s = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
  s = vmlal_high_s8(s, w0, x0);
  s = vmlal_s8(s, vget_low_s8(w1), vget_low_s8(x1));
  return vmlal_high_s8(s, w1, x1);
}

// sum_i w[i] * x[i] over one 32-value block (w0/x0 the first 16 values), as 4 int32 lanes.
template <WeightType kType, bool kSdot>
HWY_INLINE int32x4_t DotBlockA64(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
  if constexpr (kSdot) {
    return Sdot(Sdot(vdupq_n_s32(0), w0, x0), w1, x1);
  } else if constexpr (kType == WeightType::kI4 || kType == WeightType::kU4) {
    return vpaddlq_s16(DotNibbleBlock16A64(w0, w1, x0, x1));
  } else {  // full int8 range: one product per int16 lane
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
    s = vpadalq_s16(s, vmull_high_s8(w0, x0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
    return vpadalq_s16(s, vmull_high_s8(w1, x1));
  }
}

// The block's two halves as codes (I8: as stored; 4-bit: low and high nibbles, NF4 levels).
template <WeightType kType>
HWY_INLINE void LoadStoredBlockA64(const uint8_t* HWY_RESTRICT p, int8x16_t nf4, int8x16_t& w0, int8x16_t& w1) {
  if constexpr (kType == WeightType::kI8) {
    w0 = vld1q_s8(reinterpret_cast<const int8_t*>(p));
    w1 = vld1q_s8(reinterpret_cast<const int8_t*>(p) + 16);
  } else {
    NibbleCodesNeon<kType>(p, nf4, w0, w1);
  }
}

// One stored block (FORMAT.md: 4-bit byte j = q[j] | q[16 + j] << 4) against its 32
// activations. Codes as DecodeCodes writes them: I4/U4 0..15, NF4 kNF4Int8 levels.
template <WeightType kType, bool kSdot>
HWY_INLINE int32x4_t DotStoredBlockA64(const uint8_t* HWY_RESTRICT p, const int8_t* HWY_RESTRICT xq,
                                       int8x16_t nf4) {
  int8x16_t w0, w1;
  LoadStoredBlockA64<kType>(p, nf4, w0, w1);
  return DotBlockA64<kType, kSdot>(w0, w1, vld1q_s8(xq), vld1q_s8(xq + 16));
}

// The sums of four consecutive blocks (`step` bytes apart) in lanes 0..3. I4/U4 without SDOT
// stay in int16 through two pairwise adds (16 products per lane, <= 30720) before widening.
template <WeightType kType, bool kSdot>
HWY_INLINE int32x4_t FourBlocksA64(const uint8_t* HWY_RESTRICT p, size_t step,
                                   const int8_t* HWY_RESTRICT xq, int8x16_t nf4) {
  if constexpr (!kSdot && (kType == WeightType::kI4 || kType == WeightType::kU4)) {
    auto block = [&](size_t i) HWY_ATTR {
      int8x16_t w0, w1;
      LoadStoredBlockA64<kType>(p + i * step, nf4, w0, w1);
      return DotNibbleBlock16A64(w0, w1, vld1q_s8(xq + 32 * i), vld1q_s8(xq + 32 * i + 16));
    };
    const int16x8_t d01 = vpaddq_s16(block(0), block(1)), d23 = vpaddq_s16(block(2), block(3));
    return vpaddlq_s16(vpaddq_s16(d01, d23));
  } else {
    const int32x4_t d0 = DotStoredBlockA64<kType, kSdot>(p, xq, nf4);
    const int32x4_t d1 = DotStoredBlockA64<kType, kSdot>(p + step, xq + 32, nf4);
    const int32x4_t d2 = DotStoredBlockA64<kType, kSdot>(p + 2 * step, xq + 64, nf4);
    const int32x4_t d3 = DotStoredBlockA64<kType, kSdot>(p + 3 * step, xq + 96, nf4);
    return vpaddq_s32(vpaddq_s32(d0, d1), vpaddq_s32(d2, d3));
  }
}

// GemvQ8, blocks [0, n) of one row from `row` (block b at row + b * step), activations `xq`
// (at the first block), f[b] = weight scale * activation scale: acc + sum_b dot_b * f[b].
// Four blocks at a time, reduced into one vector before one conversion.
template <WeightType kType, bool kSdot>
HWY_INLINE float32x4_t RowChunkA64(const uint8_t* HWY_RESTRICT row, size_t step,
                                   const int8_t* HWY_RESTRICT xq, const float* HWY_RESTRICT f,
                                   size_t n, float32x4_t acc) {
  const int8x16_t nf4 = vld1q_s8(kNF4Int8);
  size_t b = 0;
  for (; b + 4 <= n; b += 4) {
    const int32x4_t s = FourBlocksA64<kType, kSdot>(row + b * step, step, xq + 32 * b, nf4);
    acc = vfmaq_f32(acc, vcvtq_f32_s32(s), vld1q_f32(f + b));  // one FMA per ~40 instructions
  }
  for (; b < n; ++b) {
    const int32x4_t d = DotStoredBlockA64<kType, kSdot>(row + b * step, xq + 32 * b, nf4);
    acc = vsetq_lane_f32(vgetq_lane_f32(acc, 0) + static_cast<float>(vaddvq_s32(d)) * f[b], acc, 0);
  }
  return acc;
}

// GemvQ8 of rows r..r + kRows - 1 (`rows[i]`: row r + i's first block) with one F16 scale
// per block (group 32, what the converter writes): the scales are converted and multiplied in
// the dot loop, four blocks per vector, instead of through PrepareChunk's buffers, and two
// rows share each load of the activations.
template <WeightType kType, bool kSdot, size_t kRows>
HWY_INLINE void RowsF16ScalesA64(const WeightMatrix& w, const QuantizedActivations& x,
                                 const uint8_t* const* rows, size_t step, size_t r, float* HWY_RESTRICT y) {
  const size_t nb = (w.cols + 31) / 32;
  const uint16_t* ws[kRows];
  const uint16_t* wm[kRows];
  for (size_t i = 0; i < kRows; ++i) {
    ws[i] = static_cast<const uint16_t*>(w.scales) + ScaleIndex(w, r + i, 0);
    wm[i] = kType == WeightType::kU4 ? static_cast<const uint16_t*>(w.mins) + ScaleIndex(w, r + i, 0) : nullptr;
  }
  const int8x16_t nf4 = vld1q_s8(kNF4Int8);
  float32x4_t acc[kRows], corr[kRows];
  for (size_t i = 0; i < kRows; ++i) acc[i] = corr[i] = vdupq_n_f32(0.0f);
  size_t b = 0;
  for (; b + 4 <= nb; b += 4) {
    const float32x4_t xs = vld1q_f32(x.scales + b);
    const float32x4_t sums = vcvtq_f32_s32(vld1q_s32(x.sums + b));
    for (size_t i = 0; i < kRows; ++i) {
      const int32x4_t s = FourBlocksA64<kType, kSdot>(rows[i] + b * step, step, x.q + 32 * b, nf4);
      const float32x4_t f = vmulq_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(ws[i] + b))), xs);
      acc[i] = vfmaq_f32(acc[i], vcvtq_f32_s32(s), f);
      if constexpr (kType == WeightType::kI4) {
        corr[i] = vfmaq_f32(corr[i], f, sums);
      } else if constexpr (kType == WeightType::kU4) {
        corr[i] = vfmaq_f32(corr[i], vmulq_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(wm[i] + b))), xs), sums);
      }
    }
  }
  for (size_t i = 0; i < kRows; ++i) {
    float sum = vaddvq_f32(acc[i]), c = vaddvq_f32(corr[i]);
    for (size_t j = b; j < nb; ++j) {
      const float f = F16ToF32(ws[i][j]) * x.scales[j];
      sum += static_cast<float>(vaddvq_s32(DotStoredBlockA64<kType, kSdot>(rows[i] + j * step, x.q + 32 * j, nf4))) * f;
      if (kType == WeightType::kI4) c += f * static_cast<float>(x.sums[j]);
      if (kType == WeightType::kU4) c += F16ToF32(wm[i][j]) * x.scales[j] * static_cast<float>(x.sums[j]);
    }
    // As PrepareChunk: NF4 levels are 127x, I4 codes carry +8, U4 adds min * sum(x).
    if (kType == WeightType::kNF4) sum *= 1.0f / 127.0f;
    if (kType == WeightType::kI4) sum -= 8.0f * c;
    if (kType == WeightType::kU4) sum += c;
    y[i] = sum;
  }
}

// GemvQ8 for one row chunk at the best level this CPU has.
template <WeightType kType>
HWY_INLINE float32x4_t RowChunkBestA64(bool sdot, const uint8_t* HWY_RESTRICT row, size_t step,
                                       const int8_t* HWY_RESTRICT xq, const float* HWY_RESTRICT f,
                                       size_t n, float32x4_t acc) {
  return sdot ? RowChunkA64<kType, true>(row, step, xq, f, n, acc)
              : RowChunkA64<kType, false>(row, step, xq, f, n, acc);
}

// A GemmQ8 tile as the loops below read it (matmul_gemm_q8-inl.h Q8Tile): 4 rows of decoded
// codes (block i at 32 * i), scales_t[i] = block i's scales of the 4 rows, n blocks.
struct TileA64 {
  const int8_t* row[4];
  const float (*scales_t)[4];
  size_t n;
};
// One or two tokens (b = a when there is one) from the chunk's first block: int8 codes and
// per-block activation scales.
struct TokensA64 {
  const int8_t* xa;
  const float* sa;
  const int8_t* xb;
  const float* sb;
};

// kTok tokens x the tile's 4 rows, one block at a time: out[j][k] = token j . row k.
template <WeightType kType, size_t kTok, bool kSdot>
HWY_INLINE void TileTokensA64(const TileA64& t, const TokensA64& x, float (*HWY_RESTRICT out)[4]) {
  float32x4_t acc_a = vdupq_n_f32(0.0f), acc_b = vdupq_n_f32(0.0f);
  for (size_t i = 0; i < t.n; ++i) {
    const size_t o = 32 * i;
    const int8x16_t w00 = vld1q_s8(t.row[0] + o), w01 = vld1q_s8(t.row[0] + o + 16);
    const int8x16_t w10 = vld1q_s8(t.row[1] + o), w11 = vld1q_s8(t.row[1] + o + 16);
    const int8x16_t w20 = vld1q_s8(t.row[2] + o), w21 = vld1q_s8(t.row[2] + o + 16);
    const int8x16_t w30 = vld1q_s8(t.row[3] + o), w31 = vld1q_s8(t.row[3] + o + 16);
    const float32x4_t sc = vld1q_f32(t.scales_t[i]);
    // Row k's block sum into lane k, for each token.
    const int8x16_t xa0 = vld1q_s8(x.xa + o), xa1 = vld1q_s8(x.xa + o + 16);
    const int32x4_t sa4 =
        vpaddq_s32(vpaddq_s32(DotBlockA64<kType, kSdot>(w00, w01, xa0, xa1),
                              DotBlockA64<kType, kSdot>(w10, w11, xa0, xa1)),
                   vpaddq_s32(DotBlockA64<kType, kSdot>(w20, w21, xa0, xa1),
                              DotBlockA64<kType, kSdot>(w30, w31, xa0, xa1)));
    acc_a = vfmaq_f32(acc_a, vcvtq_f32_s32(sa4), vmulq_n_f32(sc, x.sa[i]));
    if constexpr (kTok > 1) {
      const int8x16_t xb0 = vld1q_s8(x.xb + o), xb1 = vld1q_s8(x.xb + o + 16);
      const int32x4_t sb4 =
          vpaddq_s32(vpaddq_s32(DotBlockA64<kType, kSdot>(w00, w01, xb0, xb1),
                                DotBlockA64<kType, kSdot>(w10, w11, xb0, xb1)),
                     vpaddq_s32(DotBlockA64<kType, kSdot>(w20, w21, xb0, xb1),
                                DotBlockA64<kType, kSdot>(w30, w31, xb0, xb1)));
      acc_b = vfmaq_f32(acc_b, vcvtq_f32_s32(sb4), vmulq_n_f32(sc, x.sb[i]));
    }
  }
  vst1q_f32(out[0], acc_a);
  if constexpr (kTok > 1) vst1q_f32(out[1], acc_b);
}

// Two rows' block (r0, r1) against two tokens with SMMLA: per 8-byte slice c of the block,
// A = [r0 slice | r1 slice] and xs[c] = [token a slice | token b slice] give lanes
// [r0.a, r0.b, r1.a, r1.b].
HWY_INLINE int32x4_t PairMmlaA64(const int8_t* HWY_RESTRICT r0, const int8_t* HWY_RESTRICT r1,
                                 const int8x16_t* HWY_RESTRICT xs) {
  const int64x2_t a0 = vreinterpretq_s64_s8(vld1q_s8(r0)), a1 = vreinterpretq_s64_s8(vld1q_s8(r1));
  const int64x2_t b0 = vreinterpretq_s64_s8(vld1q_s8(r0 + 16));
  const int64x2_t b1 = vreinterpretq_s64_s8(vld1q_s8(r1 + 16));
  int32x4_t m = Smmla(vdupq_n_s32(0), vreinterpretq_s8_s64(vzip1q_s64(a0, a1)), xs[0]);
  m = Smmla(m, vreinterpretq_s8_s64(vzip2q_s64(a0, a1)), xs[1]);
  m = Smmla(m, vreinterpretq_s8_s64(vzip1q_s64(b0, b1)), xs[2]);
  return Smmla(m, vreinterpretq_s8_s64(vzip2q_s64(b0, b1)), xs[3]);
}

// Two tokens x the tile's 4 rows with SMMLA (same out[j][k] as TileTokensA64).
HWY_INLINE void TileTwoTokensMmla(const TileA64& t, const TokensA64& x, float (*HWY_RESTRICT out)[4]) {
  float32x4_t acc01 = vdupq_n_f32(0.0f), acc23 = vdupq_n_f32(0.0f);
  for (size_t i = 0; i < t.n; ++i) {
    const size_t o = 32 * i;
    const int64x2_t ta0 = vreinterpretq_s64_s8(vld1q_s8(x.xa + o));
    const int64x2_t ta1 = vreinterpretq_s64_s8(vld1q_s8(x.xa + o + 16));
    const int64x2_t tb0 = vreinterpretq_s64_s8(vld1q_s8(x.xb + o));
    const int64x2_t tb1 = vreinterpretq_s64_s8(vld1q_s8(x.xb + o + 16));
    const int8x16_t xs[4] = {vreinterpretq_s8_s64(vzip1q_s64(ta0, tb0)),
                             vreinterpretq_s8_s64(vzip2q_s64(ta0, tb0)),
                             vreinterpretq_s8_s64(vzip1q_s64(ta1, tb1)),
                             vreinterpretq_s8_s64(vzip2q_s64(ta1, tb1))};
    const int32x4_t m01 = PairMmlaA64(t.row[0] + o, t.row[1] + o, xs);
    const int32x4_t m23 = PairMmlaA64(t.row[2] + o, t.row[3] + o, xs);
    // Lanes [row k: a, b, row k+1: a, b] take scale_k * s_a, scale_k * s_b, ...
    const float32x4_t sc = vld1q_f32(t.scales_t[i]);
    const float32x2_t ab = vset_lane_f32(x.sb[i], vdup_n_f32(x.sa[i]), 1);
    const float32x4_t xab = vcombine_f32(ab, ab);
    acc01 = vfmaq_f32(acc01, vcvtq_f32_s32(m01), vmulq_f32(vzip1q_f32(sc, sc), xab));
    acc23 = vfmaq_f32(acc23, vcvtq_f32_s32(m23), vmulq_f32(vzip2q_f32(sc, sc), xab));
  }
  // Back to out[token][row]: even lanes are token a, odd lanes token b.
  vst1q_f32(out[0], vuzp1q_f32(acc01, acc23));
  vst1q_f32(out[1], vuzp2q_f32(acc01, acc23));
}

// GemmQ8 tile x tokens at the best level this CPU has (`ext`: ArmDotExtensions()).
template <WeightType kType, size_t kTok>
HWY_INLINE void TileTokensBestA64(unsigned ext, const TileA64& t, const TokensA64& x,
                                  float (*HWY_RESTRICT out)[4]) {
  if (kTok == 2 && (ext & kArmI8mm)) {
    TileTwoTokensMmla(t, x, out);
  } else if (ext & kArmDotProd) {
    TileTokensA64<kType, kTok, true>(t, x, out);
  } else {
    TileTokensA64<kType, kTok, false>(t, x, out);
  }
}
#endif  // QLITE_A64

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#endif  // include guard
