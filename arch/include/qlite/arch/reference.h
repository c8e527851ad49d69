// Scalar reference implementations of the matmul kernels: the executable definition of the
// FORMAT.md weight layouts, used by tests (and as the fallback for shapes or schemes the
// SIMD kernels leave out). Slow on purpose: one element at a time, double accumulation.
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/arch/matmul.h"

namespace qlite {
namespace arch {
namespace ref {

// QLoRA's NF4 levels (index 7 is exactly 0).
extern const float kNF4[16];
// kNF4 * 127 rounded: the int8 table the int8-activation kernels use instead of kNF4, so
// their NF4 weights differ from kNF4 by at most 0.5/127 * scale (see NF4Q8MaxError).
extern const int8_t kNF4Int8[16];

float F32FromF16(uint16_t h);
uint16_t F16FromF32(float f);  // round to nearest even
float F32FromBF16(uint16_t h);
uint16_t BF16FromF32(float f);  // round to nearest even

// Bytes of one stored 32-element block (a partial last block of F32/F16/BF16 is shorter).
size_t BlockBytes(WeightType t);
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
