// Spec arithmetic, scalar float conversions and the NF4 table shared by the quantizer,
// the dequantizer, the writer and the reader.
#include <cmath>
#include <cstring>
#include <string>

#include "qlite/format/quantize.h"

namespace qlite {

// QLoRA's NormalFloat-4 levels (quantiles of N(0,1) normalized to [-1, 1], exact zero).
const float kNf4Levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044006f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

namespace {
uint64_t CeilDiv(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }
}  // namespace

uint64_t RowStrideBytes(fb::DType dtype, uint64_t cols) {
  const uint64_t padded = CeilDiv(cols, 32) * 32;
  switch (dtype) {
    case fb::DType::F32: return cols * 4;
    case fb::DType::F16:
    case fb::DType::BF16: return cols * 2;
    case fb::DType::I8: return padded;
    case fb::DType::I4:
    case fb::DType::U4:
    case fb::DType::NF4: return padded / 2;
    default: return 0;
  }
}

uint64_t GroupsPerRow(const QuantSpec& spec, uint64_t cols) {
  if (spec.granularity == fb::Granularity::Group && spec.group_size != 0) return CeilDiv(cols, spec.group_size);
  return 1;
}

uint64_t NumScales(const QuantSpec& spec, uint64_t rows, uint64_t cols) {
  if (IsFloatType(spec.dtype)) return 0;
  if (spec.granularity == fb::Granularity::PerTensor) return 1;
  const uint64_t scale_rows = spec.layout == fb::Layout::Interleave16x4 ? StoredRows(spec, rows) : rows;
  return scale_rows * GroupsPerRow(spec, cols);
}

uint64_t ScaleIndex(const QuantSpec& spec, uint64_t groups_per_row, uint64_t row, uint64_t group) {
  return ScaleIndexOf(spec.granularity == fb::Granularity::PerTensor, spec.layout == fb::Layout::Interleave16x4,
                      groups_per_row, row, group);
}

uint64_t ScaleTypeBytes(fb::DType t) {
  switch (t) {
    case fb::DType::F32: return 4;
    case fb::DType::F16: return 2;
    case fb::DType::U8: return 1;
    default: return 0;
  }
}

uint64_t NumDqEntries(const QuantSpec& spec, uint64_t rows, uint64_t cols) {
  if (IsFloatType(spec.dtype) || spec.scale_type != fb::DType::U8 || spec.dq_block == 0) return 0;
  const uint64_t blocks = CeilDiv(NumScales(spec, rows, cols), spec.dq_block);
  return spec.dtype == fb::DType::U4 ? 2 * blocks : blocks;
}

uint64_t StoredRows(const QuantSpec& spec, uint64_t rows) {
  switch (spec.layout) {
    case fb::Layout::Interleave4x32: return CeilDiv(rows, 4) * 4;
    case fb::Layout::Interleave16x4: return CeilDiv(rows, 16) * 16;
    default: return rows;
  }
}

Status ValidateSpec(const QuantSpec& s) {
  if (IsFloatType(s.dtype)) {
    if (s.layout != fb::Layout::RowMajor)
      return Status(StatusCode::kUnsupported, "F32/F16/BF16 tensors are stored RowMajor only");
    return Status::Ok();
  }
  if (s.dtype != fb::DType::I8 && s.dtype != fb::DType::I4 && s.dtype != fb::DType::U4 && s.dtype != fb::DType::NF4)
    return StatusError(StatusCode::kUnsupported, "unsupported tensor dtype %d", static_cast<int>(s.dtype));
  if (s.granularity != fb::Granularity::PerTensor && s.granularity != fb::Granularity::PerRow &&
      s.granularity != fb::Granularity::Group)
    return StatusError(StatusCode::kInvalidArgument, "bad granularity %d", static_cast<int>(s.granularity));
  if (s.granularity == fb::Granularity::Group && s.group_size != 32 && s.group_size != 64 && s.group_size != 128)
    return StatusError(StatusCode::kInvalidArgument, "group size %u not supported (32, 64 or 128)", s.group_size);
  if (ScaleTypeBytes(s.scale_type) == 0)
    return StatusError(StatusCode::kInvalidArgument, "scale type %d not supported (F32, F16 or U8)",
                       static_cast<int>(s.scale_type));
  if (s.scale_type == fb::DType::U8 && (s.dq_block == 0 || s.dq_block > 65536))
    return StatusError(StatusCode::kInvalidArgument, "bad dq_block %u", s.dq_block);
  if (s.layout != fb::Layout::RowMajor && s.layout != fb::Layout::Interleave4x32 &&
      s.layout != fb::Layout::Interleave16x4)
    return StatusError(StatusCode::kInvalidArgument, "bad layout %d", static_cast<int>(s.layout));
  return Status::Ok();
}

std::string QuantText(const QuantSpec& s) {
  if (IsFloatType(s.dtype)) return "-";
  std::string g = s.granularity == fb::Granularity::Group ? "group " + std::to_string(s.group_size)
                                                          : fb::EnumNameGranularity(s.granularity);
  g += std::string(" ") + fb::EnumNameDType(s.scale_type);
  if (s.scale_type == fb::DType::U8) g += "/dq" + std::to_string(s.dq_block);
  return g;
}

QuantizedView ViewOf(const QuantizedTensor& t) {
  QuantizedView v;
  v.spec = t.spec;
  v.rows = t.rows;
  v.cols = t.cols;
  v.row_stride = t.row_stride;
  v.data = t.data.data();
  v.scales = t.scales.empty() ? nullptr : t.scales.data();
  v.mins = t.mins.empty() ? nullptr : t.mins.data();
  v.dq_scales = t.dq_scales.empty() ? nullptr : reinterpret_cast<const float*>(t.dq_scales.data());
  v.dq_offsets = t.dq_offsets.empty() ? nullptr : reinterpret_cast<const float*>(t.dq_offsets.data());
  return v;
}

}  // namespace qlite
