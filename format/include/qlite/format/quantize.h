// Round-trip quantizers for every storage scheme in format/FORMAT.md. Pure functions over
// f32 rows; they know nothing of files or kernels.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "qlite/format/qlite_generated.h"
#include "qlite/base/block_layout.h"
#include "qlite/base/status.h"
#include "qlite/base/weight_codes.h"  // F16ToF32, F32ToF16, BF16ToF32, F32ToBF16

namespace qlite {

struct QuantSpec {
  fb::DType dtype = fb::DType::F32;                 // F32 F16 BF16 I8 I4 U4 NF4
  fb::Granularity granularity = fb::Granularity::Group;
  uint32_t group_size = 32;                         // Group: 32, 64 or 128
  fb::DType scale_type = fb::DType::F16;            // F16, F32, or U8 (double quantization)
  uint32_t dq_block = 256;                          // scales per second-level block (U8 only)
  fb::Layout layout = fb::Layout::RowMajor;
};

// Owned result of quantizing a [rows, cols] matrix (a 1-D tensor is one row).
struct QuantizedTensor {
  QuantSpec spec;
  uint64_t rows = 0, cols = 0, row_stride = 0;
  std::vector<uint8_t> data, scales, mins, dq_scales, dq_offsets;
};

// Non-owning view of the same, e.g. over a memory-mapped file.
struct QuantizedView {
  QuantSpec spec;
  uint64_t rows = 0, cols = 0, row_stride = 0;
  const uint8_t* data = nullptr;
  const uint8_t* scales = nullptr;
  const uint8_t* mins = nullptr;
  const float* dq_scales = nullptr;
  const float* dq_offsets = nullptr;
};

QuantizedView ViewOf(const QuantizedTensor& t);

// F32, F16 and BF16: stored plain, without scales.
inline bool IsFloatType(fb::DType t) { return t == fb::DType::F32 || t == fb::DType::F16 || t == fb::DType::BF16; }
// Bytes per stored row for a scheme (rows padded to 32-element blocks for integer types).
uint64_t RowStrideBytes(fb::DType dtype, uint64_t cols);
// Number of scales per row (1 for PerRow; PerTensor has 1 scale in total).
uint64_t GroupsPerRow(const QuantSpec& spec, uint64_t cols);

// Total scales of a tensor (0 for F32/F16/BF16; Interleave16x4 counts its padding rows);
// U4 has as many mins again.
uint64_t NumScales(const QuantSpec& spec, uint64_t rows, uint64_t cols);
// Where the scale (and min) of row `row`, group `group` is stored (FORMAT.md): 0 for
// PerTensor, row·groups_per_row + group, or grouped by 16 rows for Interleave16x4.
uint64_t ScaleIndex(const QuantSpec& spec, uint64_t groups_per_row, uint64_t row, uint64_t group);
// Bytes per stored scale for a scale type (F32 4, F16 2, U8 1; 0 otherwise).
uint64_t ScaleTypeBytes(fb::DType scale_type);
// Entries in each of dq_scales / dq_offsets (U8 scales only): one per dq_block scales,
// and for U4 the same count again for the mins (scales' blocks first, then mins').
uint64_t NumDqEntries(const QuantSpec& spec, uint64_t rows, uint64_t cols);
// Rows stored in `data`: rows, rounded up to 4 for Interleave4x32, to 16 for Interleave16x4.
uint64_t StoredRows(const QuantSpec& spec, uint64_t rows);
// Checks that a spec is a supported combination (dtype, granularity, group size, scale
// type, dq_block, layout); the same rules Quantize and the reader apply.
Status ValidateSpec(const QuantSpec& spec);

// Scale text of a scheme for reports: "group 32 F16", "PerRow U8/dq256"; "-" for float types.
std::string QuantText(const QuantSpec& spec);

// kInvalidArgument naming the first NaN/Inf of a [rows, cols] matrix.
Status CheckFinite(const float* values, uint64_t rows, uint64_t cols);
// Rejects NaN/Inf input, unsupported spec combinations and bad group sizes with an error.
Status Quantize(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec,
                QuantizedTensor* out);
// Re-stores a RowMajor tensor in `layout`: codes, scales and mins move, nothing is re-rounded.
// kUnsupported for float types (RowMajor only) and for U8 scales into Interleave16x4 (their
// second-level blocks run over the stored order, which that layout changes).
Status Relayout(fb::Layout layout, QuantizedTensor* t);
// Writes rows*cols f32 values.
Status Dequantize(const QuantizedView& view, float* dst);
// Dequantizes one row (for LoRA merges and embedding lookups).
Status DequantizeRow(const QuantizedView& view, uint64_t row, float* dst);

// The 16 NormalFloat-4 levels (QLoRA), ascending; kNf4Levels[7] == 0.
extern const float kNf4Levels[16];

}  // namespace qlite
