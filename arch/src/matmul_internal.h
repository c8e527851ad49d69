// Between the matmul dispatcher (matmul.cc) and the per-scheme kernel TUs (matmul_*.cc).
// Kernels work on a row range [r0, r1) so the dispatcher can split rows across threads.
#pragma once
#include <cstddef>

#include "qlite/arch/matmul.h"

namespace qlite {
namespace arch {
namespace internal {

using GemvRowsFn = void (*)(const WeightMatrix& w, const float* x, float* y, size_t r0,
                            size_t r1);
using GemvQ8RowsFn = void (*)(const WeightMatrix& w, const QuantizedActivations& x, float* y,
                              size_t r0, size_t r1);
using GemmRowsFn = void (*)(const WeightMatrix& w, const float* x, size_t batch,
                            size_t x_stride, float* y, size_t y_stride, size_t r0, size_t r1);
using GemmQ8RowsFn = void (*)(const WeightMatrix& w, const QuantizedActivations* x, size_t batch,
                              float* y, size_t y_stride, size_t r0, size_t r1);

struct RowKernels {
  GemvRowsFn gemv = nullptr;
  GemvQ8RowsFn gemv_q8 = nullptr;
  GemmRowsFn gemm = nullptr;
  GemmQ8RowsFn gemm_q8 = nullptr;  // null: GemmQ8 runs gemv_q8 once per token
};

// Each resolves the Highway target once (HWY_DYNAMIC_DISPATCH) and returns that target's
// kernels for `type`. Defined only when the scheme's TU is compiled (QLITE_KERNELS_*).
RowKernels Int4Kernels(WeightType type, WeightLayout layout);  // kI4, kU4, kNF4
RowKernels Int8Kernels(WeightType type, WeightLayout layout);  // kI8
RowKernels FloatKernels(WeightType type);  // kF32, kF16, kBF16

// The kernels matmul.cc runs `w` with: the scheme's SIMD ones, else the scalar reference.
RowKernels SelectKernels(const WeightMatrix& w);
// y[b * y_stride + r] = NaN for r < rows, b < batch (what a bad matrix or input gets).
void FillNaN(float* y, size_t rows, size_t batch, size_t y_stride);

// Row ranges handed to kernels start at multiples of this: whole GEMM tiles (4, also whole
// Interleave4x32 groups), whole Interleave16x4 groups (16), so no group is read by two tasks.
inline size_t RowAlignment(const WeightMatrix& w) {
  return w.layout == WeightLayout::kInterleave16x4 ? 16 : 4;
}

// Blocks of 32 whose scale is constant (what the SIMD kernels require); else scalar path.
inline bool ScalesPerBlock(const WeightMatrix& w) {
  return w.per_tensor || (w.group_size > 0 && (w.group_size % 32 == 0 || w.group_size >= w.cols));
}

}  // namespace internal
}  // namespace arch
}  // namespace qlite
