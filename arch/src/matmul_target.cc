// DispatchedTargetName: which Highway target the dispatcher picks on this CPU; PreferredLayout;
// the Arm dot-product extensions found at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "matmul_target.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "qlite/arch/matmul.h"
#include "target_family-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
int64_t CurrentTarget() { return HWY_TARGET; }

// The targets that read Interleave16x4 in place (matmul_interleave16x4-inl.h): VNNI (GEMV and
// GEMM) and every NEON target, AArch64 or armv7 (with or without SDOT), for all integer types;
// on AVX2/AVX3 it beats RowMajor for 4-bit weights, while I8 decodes as fast either way and
// prefills slower through the unpacking GEMM (BENCHMARKS.md, kernels).
WeightLayout PreferredLayoutFor(WeightType type) {
  const bool four_bit = type == WeightType::kI4 || type == WeightType::kU4 || type == WeightType::kNF4;
  const bool integer = four_bit || type == WeightType::kI8;
  if (integer && (QLITE_VNNI512 || QLITE_NEON)) return WeightLayout::kInterleave16x4;
  if (four_bit && QLITE_X86_256) return WeightLayout::kInterleave16x4;
  return WeightLayout::kRowMajor;
}
}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <atomic>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace qlite {
namespace arch {
HWY_EXPORT(CurrentTarget);
HWY_EXPORT(PreferredLayoutFor);

namespace {
// What the CPU has (matmul_a64-inl.h uses it on every AArch64 build).
unsigned DetectArmDotExtensions() {
  unsigned found = 0;
#if defined(__aarch64__) && defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  if (hwcap & (1ul << 20)) found |= kArmDotProd;  // HWCAP_ASIMDDP
  // HWCAP2_I8MM; the GEMM's SMMLA path also takes SDOT for an odd token.
  if ((found & kArmDotProd) && (hwcap2 & (1ul << 13))) found |= kArmI8mm;
#elif defined(__ARM_FEATURE_DOTPROD)
  found |= kArmDotProd;
#if defined(__ARM_FEATURE_MATMUL_INT8)
  found |= kArmI8mm;
#endif
#endif
  return found;
}
std::atomic<unsigned> g_arm_dot_limit{~0u};
}  // namespace

unsigned ArmDotExtensions() {
  static const unsigned detected = DetectArmDotExtensions();
  return detected & g_arm_dot_limit.load(std::memory_order_relaxed);
}
void LimitArmDotExtensionsForTest(unsigned mask) { g_arm_dot_limit.store(mask, std::memory_order_relaxed); }

const char* DispatchedTargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(CurrentTarget)());
}
WeightLayout PreferredLayout(WeightType type) { return HWY_DYNAMIC_DISPATCH(PreferredLayoutFor)(type); }
}  // namespace arch
}  // namespace qlite
#endif
