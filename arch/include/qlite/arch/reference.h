// Scalar reference implementations of the matmul kernels: the executable definition of the
// FORMAT.md weight layouts, used by tests (and as the fallback for shapes or schemes the
// SIMD kernels leave out). Slow on purpose: one element at a time, double accumulation.
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/arch/matmul.h"
#include "qlite/base/weight_codes.h"

namespace qlite {
namespace arch {
namespace ref {

// NF4 tables and f16/bf16 conversions: qlite/base/weight_codes.h (shared with the kernels).

// Scale / min of element (r, c).
float Scale(const WeightMatrix& w, size_t r, size_t c);
float Min(const WeightMatrix& w, size_t r, size_t c);
// Dequantized W[r][c] per FORMAT.md (every layout).
float Weight(const WeightMatrix& w, size_t r, size_t c);
// For tests: the value the int8-activation kernels use for W[r][c] (NF4 via kNF4Int8).
float WeightQ8(const WeightMatrix& w, size_t r, size_t c);

void QuantizeActivations(const float* x, size_t n, QuantizedActivations* out);
// Dequantized activation i (0 past n).
float Activation(const QuantizedActivations& x, size_t i);

void Gemv(const WeightMatrix& w, const float* x, float* y);
// Uses WeightQ8 (what the kernels compute exactly, up to float rounding).
void GemvQ8(const WeightMatrix& w, const QuantizedActivations& x, float* y);
void Gemm(const WeightMatrix& w, const float* x, size_t batch, size_t x_stride, float* y,
          size_t y_stride);

}  // namespace ref
}  // namespace arch
}  // namespace qlite
