// I4 (symmetric), U4 (asymmetric, with mins) and NF4 kernels, compiled for every Highway target (one TU per scheme keeps
// compile time and memory bounded; QLITE_KERNELS_INT4 can leave it out).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "matmul_int4.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "matmul-inl.h"
#include "matmul_f32-inl.h"
#include "matmul_gemm_q8-inl.h"
#include "matmul_lanes16-inl.h"
#include "matmul_q8-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {

template <WeightType kType>
internal::RowKernels Make(WeightLayout layout) {
  if (layout == WeightLayout::kInterleave16x4) {
    return Lanes16Kernels<kType, &GemvIntRows<kType>, &GemvQ8IntRows<kType>,
                          &GemmRows<&DequantIntRowChunk<kType>>, &GemmQ8IntRows<kType>>();
  }
  internal::RowKernels k;
  k.gemv = &GemvIntRows<kType>;
  k.gemv_q8 = &GemvQ8IntRows<kType>;
  k.gemm = &GemmRows<&DequantIntRowChunk<kType>>;
  k.gemm_q8 = &GemmQ8IntRows<kType>;
  return k;
}

internal::RowKernels Int4KernelsFor(WeightType type, WeightLayout layout) {
  switch (type) {
    case WeightType::kI4: return Make<WeightType::kI4>(layout);
    case WeightType::kU4: return Make<WeightType::kU4>(layout);
    case WeightType::kNF4: return Make<WeightType::kNF4>(layout);
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
