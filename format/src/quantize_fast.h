// SIMD stages of Quantize() for I4 and I8 groups (quantize_fast.cc, Highway, dispatched at
// run time). They store exactly what the scalar stages of quantize.cc store, on every
// target: the same IEEE float operations in the same order wherever a result is kept.
// Each returns false, having done nothing, on targets without these kernels (SVE, RVV).
#pragma once
#include <cstdint>

namespace qlite::quant {

// I4 scales of n_groups consecutive groups of len values (group g at src + g*len), equal to
// quantize.cc's I4Scales: scale = mx / -k, mx the group's first value of the largest
// magnitude, k in {8, 7.75, 7.5, 7.25, 7} of least squared error (the first of equal ones).
// `reference` computes one group's scale the scalar way; it is used where the SIMD search
// cannot prove its choice (near-ties, values too small or large for its float sums).
bool I4ScalesFast(const float* src, uint64_t n_groups, uint64_t len, float (*reference)(const float*, uint64_t),
                  float* scales);

// I8 scales amax/127 of n_groups consecutive groups of len values.
bool I8ScalesFast(const float* src, uint64_t n_groups, uint64_t len, float* scales);

// Codes of a [rows, cols] I4 (I8) matrix against its decoded group scales (row-major, len
// per group; cols a multiple of len, len of 32), packed RowMajor into rows*row_stride bytes
// of `data`. With max_abs/sum_sq non-null, also the error of the stored values against src,
// each row's squared errors summed in float lanes and then added to *sum_sq in row order.
bool I4CodesFast(const float* src, uint64_t rows, uint64_t cols, uint64_t len, const float* scales, uint8_t* data,
                 double* max_abs, double* sum_sq);
bool I8CodesFast(const float* src, uint64_t rows, uint64_t cols, uint64_t len, const float* scales, uint8_t* data,
                 double* max_abs, double* sum_sq);

// Whether every value is finite (no NaN or Inf).
bool AllFinite(const float* src, uint64_t n);

// n IEEE half-precision values (little-endian host, any alignment) to float, exactly.
void F16ToF32(const void* src, uint64_t n, float* dst);

// n floats to half precision (little-endian, any alignment) rounded as qlite::F32ToF16
// rounds them, and the halves' float values into `decoded` (which may be src).
void F32ToF16(const float* src, uint64_t n, void* dst, float* decoded);

}  // namespace qlite::quant
