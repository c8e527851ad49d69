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
WeightLayout PreferredLayout() {
#if HWY_COMPILER_GCC || HWY_COMPILER_CLANG  // QLITE_VNNI512 (matmul_q8-inl.h)
  if (HWY_DYNAMIC_DISPATCH(CurrentTarget)() == HWY_AVX3_DL) return WeightLayout::kInterleave16x4;
#endif
  return WeightLayout::kRowMajor;
}
}  // namespace arch
}  // namespace qlite
#endif
