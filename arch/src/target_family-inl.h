// Which family the Highway target being compiled belongs to: the one place kernels ask
// (re-included once per target by foreach_target.h, hence the toggling guard). Families are
// ranges, not lists of target names, so targets that later Highway releases add (AVX3_ZEN4,
// AVX3_SPR and AVX10_2 on x86; NEON_WITHOUT_AES, which a Raspberry Pi 4 gets, and NEON_BF16
// on Arm) take the paths of the family they belong to instead of silently falling back to
// the portable code. On x86 a lower HWY_TARGET bit is a newer target with all that older
// ones have.
#if defined(QLITE_ARCH_SRC_TARGET_FAMILY_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QLITE_ARCH_SRC_TARGET_FAMILY_INL_H_
#undef QLITE_ARCH_SRC_TARGET_FAMILY_INL_H_
#else
#define QLITE_ARCH_SRC_TARGET_FAMILY_INL_H_
#endif

#include "hwy/highway.h"

#undef QLITE_X86_AT_LEAST
#if HWY_ARCH_X86
#define QLITE_X86_AT_LEAST(target) (HWY_TARGET <= (target))
#else
#define QLITE_X86_AT_LEAST(target) 0
#endif

// 512-bit AVX-512 vectors (AVX3 and newer).
#undef QLITE_X86_512
#define QLITE_X86_512 QLITE_X86_AT_LEAST(HWY_AVX3)

// x86 targets with 256-bit integer ops get hand-written int8 dot products (Highway 1.0.3
// has no u8*s8 pairwise multiply-add); every other target uses the portable Highway path.
#undef QLITE_X86_256
#define QLITE_X86_256 QLITE_X86_AT_LEAST(HWY_AVX2)

// x86 with 128-bit integer shuffles (SSSE3 and newer).
#undef QLITE_X86_128
#define QLITE_X86_128 QLITE_X86_AT_LEAST(HWY_SSSE3)

// AVX-512 VNNI (AVX3_DL and newer). Signed weights (I8, NF4) are fed to its u8 x s8 dot
// product biased by +128; like I4's -8 that offset is removed with the activation block sums.
// Highway 1.0.3's AVX3_DL compile flags name "avxvnni" (VEX, which this target's CPUs need
// not have) instead of "avx512vnni", which its run-time check does require: add it here,
// and only use 512-bit dpbusd (never VEX-encodable).
#undef QLITE_VNNI512
#undef QLITE_VNNI_ATTR
#if QLITE_X86_AT_LEAST(HWY_AVX3_DL) && (HWY_COMPILER_GCC || HWY_COMPILER_CLANG)
#define QLITE_VNNI512 1
#define QLITE_VNNI_ATTR __attribute__((target(HWY_TARGET_STR ",avx512vnni")))
#else
#define QLITE_VNNI512 0
#define QLITE_VNNI_ATTR
#endif

// Every Arm target but the emulated ones has NEON (SVE CPUs too). AArch64 ones get
// NEON-intrinsic int8 dot products with SDOT/SMMLA chosen at run time (matmul_a64-inl.h);
// both AArch64 and armv7 read Interleave16x4 in place (matmul_interleave16x4-inl.h).
#undef QLITE_NEON
#if HWY_ARCH_ARM && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
#define QLITE_NEON 1
#else
#define QLITE_NEON 0
#endif
#undef QLITE_A64
#define QLITE_A64 (QLITE_NEON && HWY_ARCH_ARM_A64)
// The NEON targets proper (128-bit vectors that are C++ types), not the SVE ones.
#undef QLITE_NEON_128
#define QLITE_NEON_128 (QLITE_NEON && !(HWY_TARGET & (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)))

#endif  // include guard
