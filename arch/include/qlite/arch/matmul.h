// Matrix-vector (decode) and matrix-matrix (prefill) products over quantized weights.
// Kernels see pointers, shapes and a scheme; they know nothing of models or files.
// Weight byte layouts are those of format/FORMAT.md (the layout stored is the layout read).
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/base/block_layout.h"

namespace qlite {
namespace arch {

class ThreadPool;

enum class WeightType : uint8_t { kF32, kF16, kBF16, kI8, kI4, kU4, kNF4 };
enum class ScaleType : uint8_t { kF32, kF16, kU8 /* double-quantized */ };
// FORMAT.md's Layout. Interleave16x4 (integer types): 16 rows per group, the same 4-byte
// word of the 16 rows stored together, scales grouped the same way; data and scales hold
// rows rounded up to 16 (the padding rows' outputs are never written). Interleave4x32
// (integer types) is read for files that use it, through the RowMajor kernels walking its
// blocks with a stride: it has no kernel of its own and PreferredLayout never picks it.
enum class WeightLayout : uint8_t { kRowMajor, kInterleave4x32, kInterleave16x4 };

struct WeightMatrix {
  WeightType type = WeightType::kF32;
  WeightLayout layout = WeightLayout::kRowMajor;
  size_t rows = 0, cols = 0;    // W is [rows][cols]; y = W·x has `rows` outputs
  size_t row_stride = 0;        // bytes per stored row
  const void* data = nullptr;
  // Scales: group_size elements share one; group_size == cols means per row;
  // per_tensor means a single scale for all.
  size_t group_size = 0;
  bool per_tensor = false;
  ScaleType scale_type = ScaleType::kF16;
  const void* scales = nullptr;  // [rows][ceil(cols/group_size)] (Interleave16x4: FORMAT.md)
  const void* mins = nullptr;    // kU4 only, same shape/type as scales
  const float* dq_scales = nullptr;   // kU8 scales: s = u8*dq_scales[i/dq_block]+dq_offsets[i/dq_block]
  const float* dq_offsets = nullptr;
  size_t dq_block = 0;
};

// Activations quantized to int8 once per token, in blocks of 32 with an f32 scale per
// block (and the block's sum of q, for asymmetric weights). Buffers are caller-owned.
struct QuantizedActivations {
  int8_t* q = nullptr;        // round_up(n, 32) values, zero padded
  float* scales = nullptr;    // round_up(n, 32) / 32
  int32_t* sums = nullptr;    // round_up(n, 32) / 32
  // q regrouped in the order 4-bit weights store their nibbles, so one wide load of packed
  // weights meets its activations without shuffles: per 4 blocks (128 values), the first
  // 16 values of each block, then the last 16 of each; zero padded to a multiple of 4 blocks.
  int8_t* q_nibbles = nullptr;
  size_t n = 0;
};
size_t QuantizedActivationsBytes(size_t n);  // bytes for all arrays, 64-aligned parts
// Lays the three arrays out inside `buffer` (QuantizedActivationsBytes(n) bytes, 64-aligned).
QuantizedActivations BindQuantizedActivations(void* buffer, size_t n);
void QuantizeActivations(const float* x, size_t n, QuantizedActivations* out);

// Kernels: Highway, one TU per scheme family (QLITE_KERNELS_INT4/INT8/FLOAT), target chosen
// once per call. Integer weights have SIMD kernels for int8 activations (GemvQ8, GemmQ8),
// float weights for f32 activations (Gemv, Gemm): the pairs the runtime runs. The other
// pairs, group sizes where a 32-block has several scales (SIMD needs group_size a multiple
// of 32, or >= cols, or per_tensor) and compiled-out schemes run the scalar reference
// (reference.h), correct but slow. Results do not depend on the pool size.
// Accuracy vs reference.h: f32 accumulation, |err| <~ 2e-5 * sum_c |W[r][c] x[c]|.
// NF4 in GemvQ8 uses the levels rounded to int8 (ref::kNF4Int8 = round(127 * NF4) with the
// scale divided by 127), each off by at most 0.4663/127 of the scale:
// |GemvQ8 - exact NF4| <= 0.00368 * sum_c scale(r,c) * |x[c]| (plus the f32 term above).

// y[r] = sum_c W[r][c] * x[c], float activations.
void Gemv(const WeightMatrix& w, const float* x, float* y, ThreadPool* pool);
// Same with int8 activations: integer dot products per block, accumulated in int32, scaled.
void GemvQ8(const WeightMatrix& w, const QuantizedActivations& x, float* y, ThreadPool* pool);
// Several matrices over the same input (decode: q/k/v, gate/up): y[i] = GemvQ8(*w[i], x)
// for i < count, bit-identical to one GemvQ8 call per matrix (same kernels, row ranges
// starting at multiples of 4), but in one pool Run instead of `count` (each Run wakes and
// joins the workers). Tasks span all matrices, balanced by weight bytes. Matrices may
// differ in shape, type and scheme; each one CheckWeightMatrix rejects (or with x.n < cols)
// gets NaN outputs alone. The y[i] must not overlap.
void GemvQ8Multi(const WeightMatrix* const* w, size_t count, const QuantizedActivations& x,
                 float* const* y, ThreadPool* pool);
// The float-activation twin: y[i] = Gemv(*w[i], x), bit-identical to one Gemv per matrix.
void GemvMulti(const WeightMatrix* const* w, size_t count, const float* x, float* const* y,
               ThreadPool* pool);
// Y[b][r] = sum_c W[r][c] * X[b][c] for a batch of activations (prefill); each loaded weight
// block is reused across the batch.
void Gemm(const WeightMatrix& w, const float* x, size_t batch, size_t x_stride, float* y,
          size_t y_stride, ThreadPool* pool);
// Prefill with int8 activations: Y[b][r] = GemvQ8(W, x[b])[r] for b < batch (x: one
// QuantizedActivations per token, each quantized once with QuantizeActivations; n >= cols).
// Integer weights decode a 4-row tile once and dot it with two tokens at a time (int8 dot
// products, int32 per block); float weights run GemvQ8 per token (use Gemm for those).
// Same accuracy as GemvQ8 per token.
void GemmQ8(const WeightMatrix& w, const QuantizedActivations* x, size_t batch, float* y,
            size_t y_stride, ThreadPool* pool);

// nullptr when `w` is usable by the kernels, else why not (missing scales/mins/dq arrays,
// dq_block 0, group_size 0 without per_tensor, row_stride below FORMAT.md's, a float type
// in an interleaved layout). Loaders call
// it once per tensor; Gemv/GemvQ8/Gemm also check and write NaN outputs instead of
// reading out of bounds (GemvQ8 also when x.n < cols).
const char* CheckWeightMatrix(const WeightMatrix& w);

// Name of the Highway target the dispatcher picks on this CPU (for logs and benchmarks).
const char* DispatchedTargetName();
// AArch64 int8 dot-product extensions the integer kernels use, found at run time (Linux and
// Android: getauxval), so one armv8-a build runs everywhere: kArmDotProd = SDOT in GemvQ8
// and GemmQ8 (Cortex-A55/A76 and later: Raspberry Pi 5, most phones; not the Pi 4's A72),
// kArmI8mm = SMMLA in GemmQ8, two tokens x two rows per instruction (Armv8.6: Cortex-A710/X2
// and later). 0 elsewhere; without them the kernels use widening multiplies.
enum ArmDotExtension : unsigned { kArmDotProd = 1, kArmI8mm = 2 };
unsigned ArmDotExtensions();
// Tests: use at most `mask` of them (so the fallbacks run on a CPU that has more); ~0u resets.
void LimitArmDotExtensionsForTest(unsigned mask);
// The layout weights of `type` run fastest in on this CPU: Interleave16x4 where the
// dispatched target reads it in place and that beats RowMajor (AVX-512 VNNI and every NEON
// CPU, AArch64 or armv7: every integer type; AVX2/AVX3: the 4-bit types), else RowMajor (other targets run
// Interleave16x4 through a copy to RowMajor: correct but slower). For converters writing a
// file for the machine they run on.
WeightLayout PreferredLayout(WeightType type);

// Bytes of one stored 32-element block (a partial last block of F32/F16/BF16 is shorter).
inline size_t BlockBytes(WeightType t) {
  switch (t) {
    case WeightType::kF32: return 128;
    case WeightType::kF16:
    case WeightType::kBF16: return 64;
    case WeightType::kI8: return 32;
    default: return 16;
  }
}

// Flattened index of the scale (or min) of row r, group g (g = 0 when group_size >= cols).
inline size_t ScaleIndex(const WeightMatrix& w, size_t r, size_t g) {
  return ScaleIndexOf(w.per_tensor, w.layout == WeightLayout::kInterleave16x4, (w.cols + w.group_size - 1) / w.group_size,
                      r, g);
}

// a / b, as a shift when b is a power of two (group sizes and dq blocks usually are): scales
// are decoded per row, where a 64-bit division costs as much as the row's dot products.
inline size_t DivPow2Fast(size_t a, size_t b) {
#if defined(__GNUC__) || defined(__clang__)
  if ((b & (b - 1)) == 0) return a >> __builtin_ctzll(b);
#endif
  return a / b;
}

// First dq_scales/dq_offsets entry of a U8 scale array: U4 mins' second-level blocks follow
// the scales' (format/FORMAT.md), so `src == w.mins` starts past the scales' blocks.
inline size_t DqFirstBlock(const WeightMatrix& w, const void* src) {
  if (src != w.mins || w.dq_block == 0 || w.group_size == 0) return 0;
  const size_t scale_rows = w.layout == WeightLayout::kInterleave16x4 ? (w.rows + 15) / 16 * 16 : w.rows;
  const size_t n_scales = w.per_tensor ? 1 : scale_rows * DivPow2Fast(w.cols + w.group_size - 1, w.group_size);
  return DivPow2Fast(n_scales + w.dq_block - 1, w.dq_block);
}

}  // namespace arch
}  // namespace qlite
