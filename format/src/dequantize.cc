// Dequantize / DequantizeRow: stored bytes (any scheme, any layout) -> f32. Reads every
// multi-byte value with memcpy, so views over unaligned caller buffers are fine.
#include <algorithm>
#include <cstring>

#include "qlite/format/quantize.h"

namespace qlite {
namespace {

float LoadF32(const void* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
uint16_t Load16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Scale (or min, with dq_base = number of the scales' dq blocks) number i.
float ParamAt(const QuantizedView& v, const uint8_t* arr, uint64_t i, uint64_t dq_base) {
  switch (v.spec.scale_type) {
    case fb::DType::F32: return LoadF32(arr + 4 * i);
    case fb::DType::F16: return F16ToF32(Load16(arr + 2 * i));
    default: {
      const uint64_t b = dq_base + i / v.spec.dq_block;
      const auto* s = reinterpret_cast<const uint8_t*>(v.dq_scales);
      const auto* o = reinterpret_cast<const uint8_t*>(v.dq_offsets);
      return arr[i] * LoadF32(s + 4 * b) + LoadF32(o + 4 * b);
    }
  }
}

Status CheckView(const QuantizedView& v) {
  QLITE_RETURN_IF_ERROR(ValidateSpec(v.spec));
  if (v.rows == 0 || v.cols == 0 || !v.data) return Status(StatusCode::kInvalidArgument, "empty view");
  if (v.row_stride != RowStrideBytes(v.spec.dtype, v.cols))
    return Status(StatusCode::kInvalidArgument, "view row_stride does not match dtype and cols");
  const fb::DType t = v.spec.dtype;
  if (t == fb::DType::F32 || t == fb::DType::F16 || t == fb::DType::BF16) return Status::Ok();
  if (!v.scales || (t == fb::DType::U4 && !v.mins) ||
      (v.spec.scale_type == fb::DType::U8 && (!v.dq_scales || !v.dq_offsets)))
    return Status(StatusCode::kInvalidArgument, "view lacks scale arrays for its scheme");
  return Status::Ok();
}

}  // namespace

Status DequantizeRow(const QuantizedView& v, uint64_t row, float* dst) {
  QLITE_RETURN_IF_ERROR(CheckView(v));
  if (row >= v.rows) return Status(StatusCode::kInvalidArgument, "row out of range");
  const fb::DType t = v.spec.dtype;
  const uint8_t* rp = v.data + row * v.row_stride;
  switch (t) {
    case fb::DType::F32:
      std::memcpy(dst, rp, v.cols * 4);
      return Status::Ok();
    case fb::DType::F16:
      for (uint64_t c = 0; c < v.cols; ++c) dst[c] = F16ToF32(Load16(rp + 2 * c));
      return Status::Ok();
    case fb::DType::BF16:
      for (uint64_t c = 0; c < v.cols; ++c) dst[c] = BF16ToF32(Load16(rp + 2 * c));
      return Status::Ok();
    default: break;
  }
  const uint64_t bb = t == fb::DType::I8 ? 32 : 16;  // bytes per 32-element block
  const fb::Layout layout = v.spec.layout;
  const uint64_t gpr = GroupsPerRow(v.spec, v.cols);
  const uint64_t glen = v.spec.granularity == fb::Granularity::Group ? v.spec.group_size : v.cols;
  const uint64_t dq_base = NumDqEntries(v.spec, v.rows, v.cols) / 2;  // U4 mins' dq blocks start here
  for (uint64_t g = 0; g * glen < v.cols; ++g) {
    const uint64_t si = ScaleIndex(v.spec, gpr, row, g);
    const float s = ParamAt(v, v.scales, si, 0);
    const float m = t == fb::DType::U4 ? ParamAt(v, v.mins, si, dq_base) : 0.0f;
    const uint64_t end = std::min(v.cols, (g + 1) * glen);
    for (uint64_t c = g * glen; c < end; ++c) {
      const uint64_t b = c / 32, j = c % 32;
      // Stored byte k of the row's RowMajor block b (FORMAT.md, per layout).
      auto byte = [&](uint64_t k) -> uint8_t {
        if (layout == fb::Layout::Interleave4x32) return v.data[Interleave4x32ByteOffset(row, b * bb + k, v.row_stride, bb)];
        if (layout == fb::Layout::Interleave16x4) return v.data[Interleave16x4ByteOffset(row, b * bb + k, v.row_stride)];
        return rp[b * bb + k];
      };
      if (t == fb::DType::I8) {
        dst[c] = static_cast<int8_t>(byte(j)) * s;
        continue;
      }
      const int q = Code4(byte(j % 16), j);
      dst[c] = t == fb::DType::I4 ? (q - 8) * s : t == fb::DType::U4 ? q * s + m : kNf4Levels[q] * s;
    }
  }
  return Status::Ok();
}

Status Dequantize(const QuantizedView& v, float* dst) {
  QLITE_RETURN_IF_ERROR(CheckView(v));
  for (uint64_t r = 0; r < v.rows; ++r) QLITE_RETURN_IF_ERROR(DequantizeRow(v, r, dst + r * v.cols));
  return Status::Ok();
}

}  // namespace qlite
