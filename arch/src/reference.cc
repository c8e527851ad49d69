// Scalar references: straightforward transcriptions of FORMAT.md, no performance intent.
#include "qlite/arch/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qlite {
namespace arch {
namespace ref {

namespace {

size_t ElemBytes(WeightType t) {
  switch (t) {
    case WeightType::kF32: return 4;
    case WeightType::kF16:
    case WeightType::kBF16: return 2;
    default: return 1;
  }
}

bool IsFloat(WeightType t) {
  return t == WeightType::kF32 || t == WeightType::kF16 || t == WeightType::kBF16;
}

// Address of block b of row r (FORMAT.md RowMajor / Interleave4x32; Interleave16x4 blocks
// are not contiguous, see StoredByte).
const uint8_t* BlockPtr(const WeightMatrix& w, size_t r, size_t b) {
  const uint8_t* base = static_cast<const uint8_t*>(w.data);
  const size_t bb = BlockBytes(w.type);
  if (w.layout == WeightLayout::kRowMajor) return base + r * w.row_stride + b * bb;
  // A float row's last block may be partial: the four rows' partial blocks follow each other.
  size_t this_bb = bb;
  if (IsFloat(w.type)) this_bb = std::min<size_t>(32, w.cols - b * 32) * ElemBytes(w.type);
  return base + (r / 4) * 4 * w.row_stride + b * 4 * bb + (r % 4) * this_bb;
}

float LoadScale(const WeightMatrix& w, const void* p, size_t r, size_t c) {
  const size_t i = ScaleIndex(w, r, w.per_tensor ? 0 : c / w.group_size);
  switch (w.scale_type) {
    case ScaleType::kF32: return static_cast<const float*>(p)[i];
    case ScaleType::kF16: return F16ToF32(static_cast<const uint16_t*>(p)[i]);
    case ScaleType::kU8: {
      const size_t d = DqFirstBlock(w, p) + i / w.dq_block;
      return static_cast<const uint8_t*>(p)[i] * w.dq_scales[d] + w.dq_offsets[d];
    }
  }
  return 0.0f;
}

// Byte k of row r's RowMajor block b, integer types, any layout.
uint8_t StoredByte(const WeightMatrix& w, size_t r, size_t b, size_t k) {
  if (w.layout != WeightLayout::kInterleave16x4) return BlockPtr(w, r, b)[k];
  const size_t o = b * BlockBytes(w.type) + k;  // byte o of the row: word o / 4
  return static_cast<const uint8_t*>(w.data)[Interleave16x4ByteOffset(r, o, w.row_stride)];
}

// Raw stored code of (r, c) for the integer types.
int Code(const WeightMatrix& w, size_t r, size_t c) {
  const size_t j = c % 32;
  if (w.type == WeightType::kI8) return static_cast<int8_t>(StoredByte(w, r, c / 32, j));
  return Code4(StoredByte(w, r, c / 32, j % 16), j);
}

}  // namespace

float Scale(const WeightMatrix& w, size_t r, size_t c) { return LoadScale(w, w.scales, r, c); }
float Min(const WeightMatrix& w, size_t r, size_t c) { return LoadScale(w, w.mins, r, c); }

float Weight(const WeightMatrix& w, size_t r, size_t c) {
  const size_t j = c % 32;
  switch (w.type) {
    case WeightType::kF32: {
      float f;
      std::memcpy(&f, BlockPtr(w, r, c / 32) + 4 * j, 4);
      return f;
    }
    case WeightType::kF16:
    case WeightType::kBF16: {
      uint16_t h;
      std::memcpy(&h, BlockPtr(w, r, c / 32) + 2 * j, 2);
      return w.type == WeightType::kF16 ? F16ToF32(h) : BF16ToF32(h);
    }
    case WeightType::kI8: return Code(w, r, c) * Scale(w, r, c);
    case WeightType::kI4: return (Code(w, r, c) - 8) * Scale(w, r, c);
    case WeightType::kU4: return Code(w, r, c) * Scale(w, r, c) + Min(w, r, c);
    case WeightType::kNF4: return kNF4Levels[Code(w, r, c)] * Scale(w, r, c);
  }
  return 0.0f;
}

float WeightQ8(const WeightMatrix& w, size_t r, size_t c) {
  if (w.type == WeightType::kNF4) return kNF4Int8[Code(w, r, c)] * (Scale(w, r, c) / 127.0f);
  return Weight(w, r, c);
}

void QuantizeActivations(const float* x, size_t n, QuantizedActivations* out) {
  const size_t nb = (n + 31) / 32;
  out->n = n;
  for (size_t b = 0; b < nb; ++b) {
    float amax = 0.0f;
    for (size_t i = b * 32; i < n && i < b * 32 + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    // Same float operations as the SIMD version, so both round identically.
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (size_t i = b * 32; i < b * 32 + 32; ++i) {
      const int q = i < n ? static_cast<int>(std::nearbyint(x[i] * inv)) : 0;
      out->q[i] = static_cast<int8_t>(q);
      sum += q;
    }
    out->scales[b] = amax / 127.0f;
    out->sums[b] = sum;
  }
  // Nibble order, element by element (the fast path memcpys 16-value runs).
  std::memset(out->q_nibbles, 0, (nb + 3) / 4 * 128);
  for (size_t i = 0; i < nb * 32; ++i) {
    const size_t b = i / 32, e = i % 32;
    out->q_nibbles[b / 4 * 128 + (e / 16) * 64 + (b % 4) * 16 + e % 16] = out->q[i];
  }
}

float Activation(const QuantizedActivations& x, size_t i) {
  return i < x.n ? x.q[i] * x.scales[i / 32] : 0.0f;
}

void Gemv(const WeightMatrix& w, const float* x, float* y) {
  for (size_t r = 0; r < w.rows; ++r) {
    double acc = 0.0;
    for (size_t c = 0; c < w.cols; ++c) acc += static_cast<double>(Weight(w, r, c)) * x[c];
    y[r] = static_cast<float>(acc);
  }
}

void GemvQ8(const WeightMatrix& w, const QuantizedActivations& x, float* y) {
  for (size_t r = 0; r < w.rows; ++r) {
    double acc = 0.0;
    for (size_t c = 0; c < w.cols; ++c) {
      acc += static_cast<double>(WeightQ8(w, r, c)) * Activation(x, c);
    }
    y[r] = static_cast<float>(acc);
  }
}

void Gemm(const WeightMatrix& w, const float* x, size_t batch, size_t x_stride, float* y,
          size_t y_stride) {
  for (size_t b = 0; b < batch; ++b) Gemv(w, x + b * x_stride, y + b * y_stride);
}

}  // namespace ref
}  // namespace arch
}  // namespace qlite
