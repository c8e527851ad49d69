// I8 kernels, compiled for every Highway target (one TU per scheme keeps
// compile time and memory bounded; QLITE_KERNELS_INT8 can leave it out).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "matmul_int8.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "matmul_gemm_q8-inl.h"  // and the headers below it

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {

internal::RowKernels Int8KernelsFor(WeightType type, WeightLayout layout) {
  switch (type) {
    case WeightType::kI8: return IntegerKernels<WeightType::kI8>(layout);
    default: return internal::RowKernels();
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite {
namespace arch {
HWY_EXPORT(Int8KernelsFor);
namespace internal {
RowKernels Int8Kernels(WeightType type, WeightLayout layout) {
  return HWY_DYNAMIC_DISPATCH(Int8KernelsFor)(type, layout);
}
}  // namespace internal
}  // namespace arch
}  // namespace qlite
#endif
