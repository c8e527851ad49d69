// Host side of weight upload: .qlm tensor views -> the single device layout (weights.h).
#include "qlite/cuda/weights.h"

#include <cmath>
#include <cstring>

namespace qlite {
namespace cuda {
namespace {

using fb::DType;

uint32_t Blocks(uint64_t cols) { return static_cast<uint32_t>((cols + 31) / 32); }

float ReadF32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}
uint16_t ReadU16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}
// Bytes of stored values per 32-element block on the device.
uint32_t BlockBytes(DevType t) {
  switch (t) {
    case DevType::kF32: return 128;
    case DevType::kF16: return 64;
    case DevType::kI8: return 32;
    default: return 16;
  }
}

Status PrepareFloat(const QuantizedView& v, HostMatrix* out) {
  const uint64_t elem = v.spec.dtype == DType::F32 ? 4 : 2;
  if (v.row_stride != v.cols * elem) {
    return StatusError(StatusCode::kFormat, "float tensor row_stride %llu, expected %llu",
                       (unsigned long long)v.row_stride, (unsigned long long)(v.cols * elem));
  }
  MatrixDesc& d = out->desc;
  // F16 stays F16 (half the bytes); BF16 widens to F32 (f16 cannot hold its range).
  d.type = v.spec.dtype == DType::F16 ? DevType::kF16 : DevType::kF32;
  d.row_stride = d.blocks * BlockBytes(d.type);
  out->data.assign(static_cast<size_t>(d.rows) * d.row_stride, 0);
  for (uint64_t r = 0; r < v.rows; ++r) {
    const uint8_t* src = v.data + r * v.row_stride;
    uint8_t* dst = out->data.data() + r * d.row_stride;
    if (v.spec.dtype == DType::BF16) {
      for (uint64_t c = 0; c < v.cols; ++c) {
        const float f = BF16ToF32(ReadU16(src + 2 * c));
        std::memcpy(dst + 4 * c, &f, 4);
      }
    } else {
      std::memcpy(dst, src, v.cols * elem);
    }
  }
  return Status::Ok();
}

// Scales (or mins) in stored order -> f32, flattened.
Status ReadScaleArray(const QuantizedView& v, const uint8_t* src, uint64_t count,
                      std::vector<float>* out) {
  out->resize(count);
  switch (v.spec.scale_type) {
    case DType::F16:
      for (uint64_t i = 0; i < count; ++i) (*out)[i] = F16ToF32(ReadU16(src + 2 * i));
      return Status::Ok();
    case DType::F32:
      for (uint64_t i = 0; i < count; ++i) (*out)[i] = ReadF32(src + 4 * i);
      return Status::Ok();
    case DType::U8:
      if (v.spec.dq_block == 0 || !v.dq_scales || !v.dq_offsets) {
        return StatusError(StatusCode::kFormat, "U8 scales without dq_block/dq_scales/dq_offsets");
      }
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t b = i / v.spec.dq_block;
        (*out)[i] = src[i] * v.dq_scales[b] + v.dq_offsets[b];
      }
      return Status::Ok();
    default:
      return StatusError(StatusCode::kUnsupported, "scale type %d", (int)v.spec.scale_type);
  }
}

Status PrepareQuantized(const QuantizedView& v, HostMatrix* out) {
  MatrixDesc& d = out->desc;
  switch (v.spec.dtype) {
    case DType::I8: d.type = DevType::kI8; break;
    case DType::I4: d.type = DevType::kI4; break;
    case DType::U4: d.type = DevType::kU4; break;
    case DType::NF4:
      d.type = DevType::kNF4;
      for (int i = 0; i < 16; ++i) d.nf4[i] = kNf4Levels[i];
      break;
    default:
      return StatusError(StatusCode::kUnsupported, "CUDA port: weight dtype %d not supported",
                         (int)v.spec.dtype);
  }
  const uint32_t bb = BlockBytes(d.type);
  d.row_stride = d.blocks * bb;
  if (v.row_stride != d.row_stride) {
    return StatusError(StatusCode::kFormat, "quantized row_stride %llu, expected %u",
                       (unsigned long long)v.row_stride, d.row_stride);
  }
  if (!v.scales || (d.type == DevType::kU4 && !v.mins)) {
    return StatusError(StatusCode::kFormat, "quantized tensor without scales/mins");
  }
  if (d.type == DevType::kU4 && v.spec.scale_type == DType::U8) {
    return StatusError(StatusCode::kUnsupported, "CUDA port: U4 with double-quantized scales");
  }
  // Values: undo Interleave4x32 (groups of 4 rows, block b of the 4 rows side by side) or
  // Interleave16x4 (groups of 16 rows, 4-byte word w of the 16 rows side by side).
  out->data.resize(static_cast<size_t>(d.rows) * d.row_stride);
  const fb::Layout layout = v.spec.layout;
  for (uint64_t r = 0; r < v.rows; ++r) {
    uint8_t* dst = out->data.data() + r * d.row_stride;
    if (layout == fb::Layout::Interleave4x32) {
      for (uint32_t b = 0; b < d.blocks; ++b)
        std::memcpy(dst + b * bb, v.data + Interleave4x32ByteOffset(r, b * bb, v.row_stride, bb), bb);
    } else if (layout == fb::Layout::Interleave16x4) {
      for (uint32_t w = 0; w < d.row_stride / 4; ++w)
        std::memcpy(dst + 4 * w, v.data + Interleave16x4ByteOffset(r, 4 * w, v.row_stride), 4);
    } else {
      std::memcpy(dst, v.data + r * v.row_stride, d.row_stride);
    }
  }
  // Scales: one per (row, group) with group_size a multiple of 32.
  uint64_t stored_per_row = 0, stored_total = 0;
  switch (v.spec.granularity) {
    case fb::Granularity::Group:
      if (v.spec.group_size == 0 || v.spec.group_size % 32 != 0) {
        return StatusError(StatusCode::kUnsupported, "CUDA port: group size %u (need 32k)",
                           v.spec.group_size);
      }
      d.group_size = v.spec.group_size;
      stored_per_row = (v.cols + d.group_size - 1) / d.group_size;
      stored_total = NumScales(v.spec, v.rows, v.cols);
      break;
    case fb::Granularity::PerRow:
      d.group_size = d.blocks * 32;
      stored_per_row = 1;
      stored_total = NumScales(v.spec, v.rows, v.cols);
      break;
    case fb::Granularity::PerTensor:
      d.group_size = d.blocks * 32;
      stored_per_row = 0;
      stored_total = 1;
      break;
    default:
      return StatusError(StatusCode::kFormat, "unknown granularity");
  }
  d.groups = (d.blocks * 32 + d.group_size - 1) / d.group_size;
  std::vector<float> s, m;
  QLITE_RETURN_IF_ERROR(ReadScaleArray(v, v.scales, stored_total, &s));
  if (d.type == DevType::kU4) QLITE_RETURN_IF_ERROR(ReadScaleArray(v, v.mins, stored_total, &m));
  out->scales.resize(static_cast<size_t>(d.rows) * d.groups);
  if (d.type == DevType::kU4) out->mins.resize(out->scales.size());
  for (uint64_t r = 0; r < v.rows; ++r) {
    for (uint32_t g = 0; g < d.groups; ++g) {
      const uint64_t i = ScaleIndex(v.spec, stored_per_row, r, g);  // PerTensor: always 0
      const size_t o = r * d.groups + g;
      out->scales[o] = F32ToF16(s[i]);
      if (d.type == DevType::kU4) out->mins[o] = F32ToF16(m[i]);
    }
  }
  return Status::Ok();
}

}  // namespace

MatrixDesc HostMatrix::View() const {
  MatrixDesc d = desc;
  d.data = data.data();
  d.scales = scales.empty() ? nullptr : scales.data();
  d.mins = mins.empty() ? nullptr : mins.data();
  return d;
}

Status PrepareMatrix(const QuantizedView& v, HostMatrix* out) {
  *out = HostMatrix();
  if (!v.data || v.rows == 0 || v.cols == 0) {
    return StatusError(StatusCode::kFormat, "empty tensor view");
  }
  if (v.rows > (1u << 30) || v.cols > (1u << 24)) {
    return StatusError(StatusCode::kUnsupported, "CUDA port: tensor %llux%llu too large",
                       (unsigned long long)v.rows, (unsigned long long)v.cols);
  }
  out->desc.rows = static_cast<uint32_t>(v.rows);
  out->desc.cols = static_cast<uint32_t>(v.cols);
  out->desc.blocks = Blocks(v.cols);
  switch (v.spec.dtype) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
      return PrepareFloat(v, out);
    default:
      return PrepareQuantized(v, out);
  }
}

float DecodeElement(const MatrixDesc& m, uint32_t row, uint32_t col) {
  const uint8_t* p = m.data + static_cast<size_t>(row) * m.row_stride;
  if (m.type == DevType::kF32) return ReadF32(p + 4 * col);
  if (m.type == DevType::kF16) return F16ToF32(ReadU16(p + 2 * col));
  const size_t g = static_cast<size_t>(row) * m.groups + col / m.group_size;
  const float s = F16ToF32(m.scales[g]);
  if (m.type == DevType::kI8) return static_cast<int8_t>(p[col]) * s;
  const uint32_t j = col % 32;
  const int q = Code4(p[(col / 32) * 16 + j % 16], j);
  if (m.type == DevType::kI4) return (q - 8) * s;
  if (m.type == DevType::kNF4) return m.nf4[q] * s;
  return q * s + F16ToF32(m.mins[g]);  // kU4
}

}  // namespace cuda
}  // namespace qlite
