// DispatchedTargetName: which Highway target the dispatcher picks on this CPU; PreferredLayout.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "matmul_target.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "qlite/arch/matmul.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {
int64_t CurrentTarget() { return HWY_TARGET; }
}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite {
namespace arch {
HWY_EXPORT(CurrentTarget);
const char* DispatchedTargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(CurrentTarget)());
}
WeightLayout PreferredLayout(WeightType type) {
  const int64_t target = HWY_DYNAMIC_DISPATCH(CurrentTarget)();
  const bool four_bit = type == WeightType::kI4 || type == WeightType::kU4 || type == WeightType::kNF4;
  // The targets with their own Interleave16x4 GemvQ8 (matmul_lanes16-inl.h); on AVX2/AVX3 it
  // beats RowMajor for 4-bit weights, while I8 decodes as fast either way and prefills
  // slower through the unpacking GEMM (arch/BENCHMARKS.md round 5).
#if HWY_COMPILER_GCC || HWY_COMPILER_CLANG
  if (target == HWY_AVX3_DL && type != WeightType::kF32 && type != WeightType::kF16 && type != WeightType::kBF16) {
    return WeightLayout::kInterleave16x4;
  }
#endif
  if ((target == HWY_AVX2 || target == HWY_AVX3) && four_bit) return WeightLayout::kInterleave16x4;
  return WeightLayout::kRowMajor;
}
}  // namespace arch
}  // namespace qlite
#endif
