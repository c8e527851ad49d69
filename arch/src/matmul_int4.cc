// I4 (symmetric), U4 (asymmetric, with mins) and NF4 kernels, compiled for every Highway target (one TU per scheme keeps
// compile time and memory bounded; QLITE_KERNELS_INT4 can leave it out).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "matmul_int4.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "matmul_gemm_q8-inl.h"  // and the headers below it

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {

internal::RowKernels Int4KernelsFor(WeightType type, WeightLayout layout) {
  switch (type) {
    case WeightType::kI4: return IntegerKernels<WeightType::kI4>(layout);
    case WeightType::kU4: return IntegerKernels<WeightType::kU4>(layout);
    case WeightType::kNF4: return IntegerKernels<WeightType::kNF4>(layout);
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
HWY_EXPORT(Int4KernelsFor);
namespace internal {
RowKernels Int4Kernels(WeightType type, WeightLayout layout) {
  return HWY_DYNAMIC_DISPATCH(Int4KernelsFor)(type, layout);
}
}  // namespace internal
}  // namespace arch
}  // namespace qlite
#endif
