// Test helpers: random tensors stored exactly as format/FORMAT.md lays them out (codes are
// drawn directly, no quantizer involved) and an independent reference decode of that
// layout, so the CUDA loader and kernels are checked against the spec, not themselves.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "qlite/cuda/kernels.h"
#include "qlite/cuda/weights.h"
#include "qlite/format/quantize.h"

namespace qlite_cuda_test {

using qlite::QuantizedTensor;
using qlite::QuantizedView;
using qlite::QuantSpec;
using qlite::fb::DType;

inline QuantizedView View(const QuantizedTensor& t) {
  QuantizedView v;
  v.spec = t.spec;
  v.rows = t.rows, v.cols = t.cols, v.row_stride = t.row_stride;
  v.data = t.data.data();
  v.scales = t.scales.empty() ? nullptr : t.scales.data();
  v.mins = t.mins.empty() ? nullptr : t.mins.data();
  v.dq_scales = t.dq_scales.empty() ? nullptr : reinterpret_cast<const float*>(t.dq_scales.data());
  v.dq_offsets = t.dq_offsets.empty() ? nullptr : reinterpret_cast<const float*>(t.dq_offsets.data());
  return v;
}

inline bool Is4Bit(DType t) { return t == DType::I4 || t == DType::U4 || t == DType::NF4; }
inline uint64_t BlockBytes(DType t) { return t == DType::I8 ? 32 : 16; }

inline uint64_t StoredScales(const QuantSpec& s, uint64_t rows, uint64_t cols) {
  switch (s.granularity) {
    case qlite::fb::Granularity::Group: return rows * ((cols + s.group_size - 1) / s.group_size);
    case qlite::fb::Granularity::PerRow: return rows;
    default: return 1;
  }
}

template <typename T>
void Put(std::vector<uint8_t>* v, size_t i, T x) {
  std::memcpy(v->data() + i * sizeof(T), &x, sizeof(T));
}

// Writes `vals` (f32) as the spec's scale type; U8 gets a two-level encoding.
inline void EncodeScales(const QuantSpec& s, const std::vector<float>& vals,
                         std::vector<uint8_t>* out, QuantizedTensor* t) {
  const size_t n = vals.size();
  if (s.scale_type == DType::F16) {
    out->resize(2 * n);
    for (size_t i = 0; i < n; ++i) Put(out, i, qlite::F32ToF16(vals[i]));
  } else if (s.scale_type == DType::F32) {
    out->resize(4 * n);
    for (size_t i = 0; i < n; ++i) Put(out, i, vals[i]);
  } else {  // U8: scale = u8 * dq_scale + dq_offset per dq_block
    const size_t nb = (n + s.dq_block - 1) / s.dq_block;
    out->resize(n);
    t->dq_scales.resize(4 * nb);
    t->dq_offsets.resize(4 * nb);
    for (size_t b = 0; b < nb; ++b) {
      Put(&t->dq_scales, b, 0.0002f + 0.00001f * b);
      Put(&t->dq_offsets, b, 0.001f);
      for (size_t i = b * s.dq_block; i < std::min(n, (b + 1) * s.dq_block); ++i) {
        (*out)[i] = static_cast<uint8_t>(std::lround(vals[i] * 1000)) & 0xFF;
      }
    }
  }
}

// A [rows, cols] tensor with random codes in the file layout of `spec` (pads per spec).
inline QuantizedTensor RandomTensor(uint64_t rows, uint64_t cols, const QuantSpec& spec,
                                    std::mt19937* rng) {
  QuantizedTensor t;
  t.spec = spec;
  t.rows = rows, t.cols = cols;
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const uint64_t blocks = (cols + 31) / 32;
  if (spec.dtype == DType::F32 || spec.dtype == DType::F16 || spec.dtype == DType::BF16) {
    const uint64_t elem = spec.dtype == DType::F32 ? 4 : 2;
    t.row_stride = cols * elem;
    t.data.resize(rows * t.row_stride);
    for (uint64_t i = 0; i < rows * cols; ++i) {
      const float f = u(*rng) * 0.2f;
      if (spec.dtype == DType::F32) {
        Put(&t.data, i, f);
      } else if (spec.dtype == DType::F16) {
        Put(&t.data, i, qlite::F32ToF16(f));
      } else {
        uint32_t b;
        std::memcpy(&b, &f, 4);
        Put(&t.data, i, static_cast<uint16_t>(b >> 16));
      }
    }
    return t;
  }
  const uint64_t bb = BlockBytes(spec.dtype);
  t.row_stride = blocks * bb;
  std::vector<uint8_t> rowmajor(rows * t.row_stride);
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t c = 0; c < blocks * 32; ++c) {
      const bool pad = c >= cols;
      uint8_t* row = rowmajor.data() + r * t.row_stride;
      if (spec.dtype == DType::I8) {
        row[c] = pad ? 0 : static_cast<uint8_t>(static_cast<int8_t>((*rng)() % 255 - 127));
      } else {
        const uint8_t q = pad ? (spec.dtype == DType::I4 ? 8 : spec.dtype == DType::NF4 ? 7 : 0)
                              : static_cast<uint8_t>((*rng)() % 16);
        const uint64_t j = c % 32;
        uint8_t& byte = row[(c / 32) * 16 + j % 16];
        byte = j < 16 ? static_cast<uint8_t>((byte & 0xF0) | q) : static_cast<uint8_t>((byte & 0x0F) | (q << 4));
      }
    }
  }
  if (spec.layout == qlite::fb::Layout::Interleave4x32) {
    const uint64_t groups = (rows + 3) / 4;
    t.data.assign(groups * 4 * t.row_stride, 0);
    for (uint64_t r = 0; r < rows; ++r) {
      for (uint64_t b = 0; b < blocks; ++b) {
        std::memcpy(t.data.data() + (r / 4) * 4 * t.row_stride + (b * 4 + r % 4) * bb,
                    rowmajor.data() + r * t.row_stride + b * bb, bb);
      }
    }
  } else {
    t.data = std::move(rowmajor);
  }
  const uint64_t ns = StoredScales(spec, rows, cols);
  std::uniform_real_distribution<float> us(0.01f, 0.05f);
  std::vector<float> scales(ns), mins(ns);
  for (auto& s : scales) s = us(*rng);
  for (auto& m : mins) m = -8 * us(*rng);
  EncodeScales(spec, scales, &t.scales, &t);
  if (spec.dtype == DType::U4) EncodeScales(spec, mins, &t.mins, &t);
  return t;
}

inline float ReadScale(const QuantizedView& v, const uint8_t* arr, uint64_t i) {
  if (v.spec.scale_type == DType::F16) {
    uint16_t h;
    std::memcpy(&h, arr + 2 * i, 2);
    return qlite::F16ToF32(h);
  }
  if (v.spec.scale_type == DType::F32) {
    float f;
    std::memcpy(&f, arr + 4 * i, 4);
    return f;
  }
  const uint64_t b = i / v.spec.dq_block;
  return arr[i] * v.dq_scales[b] + v.dq_offsets[b];
}

// FORMAT.md's decode of element (row, col) of a stored tensor.
inline float SpecDecode(const QuantizedView& v, uint64_t row, uint64_t col) {
  if (v.spec.dtype == DType::F32 || v.spec.dtype == DType::F16 || v.spec.dtype == DType::BF16) {
    const uint8_t* p = v.data + row * v.row_stride;
    if (v.spec.dtype == DType::F32) {
      float f;
      std::memcpy(&f, p + 4 * col, 4);
      return f;
    }
    uint16_t h;
    std::memcpy(&h, p + 2 * col, 2);
    if (v.spec.dtype == DType::F16) return qlite::F16ToF32(h);
    const uint32_t b = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  }
  const uint64_t bb = BlockBytes(v.spec.dtype), blk = col / 32;
  const uint8_t* block =
      v.spec.layout == qlite::fb::Layout::Interleave4x32
          ? v.data + (row / 4) * 4 * v.row_stride + (blk * 4 + row % 4) * bb
          : v.data + row * v.row_stride + blk * bb;
  uint64_t si = 0;
  if (v.spec.granularity == qlite::fb::Granularity::Group) {
    si = row * ((v.cols + v.spec.group_size - 1) / v.spec.group_size) + col / v.spec.group_size;
  } else if (v.spec.granularity == qlite::fb::Granularity::PerRow) {
    si = row;
  }
  const float s = ReadScale(v, v.scales, si);
  if (v.spec.dtype == DType::I8) return static_cast<int8_t>(block[col % 32]) * s;
  const uint64_t j = col % 32;
  const int q = j < 16 ? (block[j] & 15) : (block[j - 16] >> 4);
  if (v.spec.dtype == DType::I4) return (q - 8) * s;
  if (v.spec.dtype == DType::NF4) return qlite::kNf4Levels[q] * s;
  return q * s + ReadScale(v, v.mins, si);  // U4
}

// What the CPU runtime's KvStore keeps of one cached row: f16 rounding, or int8 with the
// row's absmax / 127 scale (rounded half to even, as lrint does in the default mode).
template <typename T>
std::vector<T> KvRound(const T* x, size_t n, qlite::cuda::KvCacheType type) {
  std::vector<T> out(x, x + n);
  if (type == qlite::cuda::KvCacheType::kF16) {
    for (T& v : out) v = qlite::F16ToF32(qlite::F32ToF16(float(v)));
  } else if (type == qlite::cuda::KvCacheType::kQ8) {
    float amax = 0.0f;
    for (T v : out) amax = std::max(amax, std::fabs(float(v)));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (T& v : out) v = float(std::min(127L, std::max(-127L, std::lrint(float(v) * inv)))) * (amax / 127.0f);
  }
  return out;
}

}  // namespace qlite_cuda_test
