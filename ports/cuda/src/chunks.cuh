// Per-thread pieces of a weight row, decoded in registers. GEMV lanes take "chunks" of one
// 16- or 8-byte load each (consecutive lanes -> consecutive bytes, so a warp's loads
// coalesce); GEMM threads take quarters of a 32-element block for the shared-memory tile.
#pragma once
#include "common.cuh"

namespace qlite {
namespace cuda {

// Elements per GEMV chunk and chunks per 32-element block.
template <DevType T> struct ChunkShape;
template <> struct ChunkShape<DevType::kF32> { static constexpr int kPerBlock = 8; };  // 4 floats
template <> struct ChunkShape<DevType::kF16> { static constexpr int kPerBlock = 4; };  // 8 halves
template <> struct ChunkShape<DevType::kI8> { static constexpr int kPerBlock = 2; };   // 16 bytes
template <> struct ChunkShape<DevType::kI4> { static constexpr int kPerBlock = 2; };   // 8 bytes
template <> struct ChunkShape<DevType::kU4> { static constexpr int kPerBlock = 2; };   // 8 bytes

// n activations from x[e0..), zero past cols (pad values are never trusted).
template <int n>
__device__ __forceinline__ void LoadX(const float* __restrict__ x, uint32_t e0, uint32_t cols,
                                      float* out) {
#pragma unroll
  for (int i = 0; i < n; i += 4) {
    const float4 v = __ldg(reinterpret_cast<const float4*>(x + e0 + i));
    out[i] = v.x, out[i + 1] = v.y, out[i + 2] = v.z, out[i + 3] = v.w;
  }
  if (e0 + n > cols) {
#pragma unroll
    for (int i = 0; i < n; ++i) out[i] = e0 + i < cols ? out[i] : 0.0f;
  }
}

// Signed byte k of w as a float, exactly (same 2^23 trick as Nibble, biased by 128).
__device__ __forceinline__ float SignedByte(uint32_t w, int k) {
  return __uint_as_float(((w >> (8 * k)) & 0xFFu) ^ 0x4B000080u) - 8388736.0f;
}

__device__ __forceinline__ float GroupScale(const MatrixDesc& w, uint32_t row, uint32_t blk) {
  return HalfToFloat(w.scales[static_cast<size_t>(row) * w.groups + blk * 32 / w.group_size]);
}

// Dot product of chunk c of row `row` with the matching activations.
template <DevType T>
__device__ __forceinline__ float ChunkDot(const MatrixDesc& w, const uint8_t* __restrict__ rowp,
                                          uint32_t row, uint32_t c, const float* __restrict__ x);

template <>
__device__ __forceinline__ float ChunkDot<DevType::kF32>(const MatrixDesc& w, const uint8_t* rowp,
                                                         uint32_t, uint32_t c, const float* x) {
  const float4 v = __ldg(reinterpret_cast<const float4*>(rowp) + c);
  float a[4];
  LoadX<4>(x, c * 4, w.cols, a);
  return v.x * a[0] + v.y * a[1] + v.z * a[2] + v.w * a[3];
}

template <>
__device__ __forceinline__ float ChunkDot<DevType::kF16>(const MatrixDesc& w, const uint8_t* rowp,
                                                         uint32_t, uint32_t c, const float* x) {
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(rowp) + c);
  float a[8];
  LoadX<8>(x, c * 8, w.cols, a);
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
  float acc = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[i]));
    acc += f.x * a[2 * i] + f.y * a[2 * i + 1];
  }
  return acc;
}

template <>
__device__ __forceinline__ float ChunkDot<DevType::kI8>(const MatrixDesc& w, const uint8_t* rowp,
                                                        uint32_t row, uint32_t c, const float* x) {
  const uint4 v = __ldg(reinterpret_cast<const uint4*>(rowp) + c);  // 16 of a block's 32 bytes
  float a[16];
  LoadX<16>(x, c * 16, w.cols, a);
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
  float acc = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int k = 0; k < 4; ++k) acc += SignedByte(words[i], k) * a[4 * i + k];
  }
  return acc * GroupScale(w, row, c / 2);
}

// 4-bit chunk: bytes 8h..8h+7 of block blk hold elements 8h.. (low nibbles) and 16+8h..
// (high nibbles), per FORMAT.md's byte j = q[j] | q[j+16] << 4.
template <DevType T>
__device__ __forceinline__ float Chunk4Bit(const MatrixDesc& w, const uint8_t* rowp, uint32_t row,
                                           uint32_t c, const float* x) {
  const uint2 v = __ldg(reinterpret_cast<const uint2*>(rowp) + c);
  const uint32_t blk = c / 2, e0 = blk * 32 + (c % 2) * 8;
  float lo[8], hi[8];
  LoadX<8>(x, e0, w.cols, lo);
  LoadX<8>(x, e0 + 16, w.cols, hi);
  const uint32_t words[2] = {v.x, v.y};
  float dot = 0.0f, sum = 0.0f;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      dot += Nibble(words[i], 8 * k) * lo[4 * i + k] + Nibble(words[i], 8 * k + 4) * hi[4 * i + k];
      sum += lo[4 * i + k] + hi[4 * i + k];
    }
  }
  const size_t g = static_cast<size_t>(row) * w.groups + blk * 32 / w.group_size;
  const float s = HalfToFloat(w.scales[g]);
  if (T == DevType::kI4) return s * (dot - 8.0f * sum);  // w = (q - 8) * s
  return s * dot + HalfToFloat(w.mins[g]) * sum;         // w = q * s + min
}

template <>
__device__ __forceinline__ float ChunkDot<DevType::kI4>(const MatrixDesc& w, const uint8_t* rowp,
                                                        uint32_t row, uint32_t c, const float* x) {
  return Chunk4Bit<DevType::kI4>(w, rowp, row, c, x);
}
template <>
__device__ __forceinline__ float ChunkDot<DevType::kU4>(const MatrixDesc& w, const uint8_t* rowp,
                                                        uint32_t row, uint32_t c, const float* x) {
  return Chunk4Bit<DevType::kU4>(w, rowp, row, c, x);
}

// GEMM tile fill: quarter q (0..3) of block blk of a row, written to out[k * stride] for
// the 8 element indices k (within the block) that the quarter holds.
template <DevType T>
__device__ __forceinline__ void DecodeQuarter(const MatrixDesc& w, uint32_t row, uint32_t blk,
                                              int q, float* out, int stride) {
  const uint8_t* rowp = w.data + static_cast<size_t>(row) * w.row_stride;
  if (T == DevType::kF32) {
    const float4* p = reinterpret_cast<const float4*>(rowp + blk * 128 + q * 32);
    const float4 a = __ldg(p), b = __ldg(p + 1);
    const float v[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) out[(8 * q + i) * stride] = v[i];
  } else if (T == DevType::kF16) {
    const uint4 u = __ldg(reinterpret_cast<const uint4*>(rowp + blk * 64 + q * 16));
    const uint32_t words[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[i]));
      out[(8 * q + 2 * i) * stride] = f.x;
      out[(8 * q + 2 * i + 1) * stride] = f.y;
    }
  } else if (T == DevType::kI8) {
    const uint2 u = __ldg(reinterpret_cast<const uint2*>(rowp + blk * 32 + q * 8));
    const float s = GroupScale(w, row, blk);
    const uint32_t words[2] = {u.x, u.y};
#pragma unroll
    for (int i = 0; i < 8; ++i) out[(8 * q + i) * stride] = SignedByte(words[i / 4], i % 4) * s;
  } else {
    const uint32_t u = __ldg(reinterpret_cast<const uint32_t*>(rowp + blk * 16 + q * 4));
    const size_t g = static_cast<size_t>(row) * w.groups + blk * 32 / w.group_size;
    const float s = HalfToFloat(w.scales[g]);
    const float m = T == DevType::kU4 ? HalfToFloat(w.mins[g]) : -8.0f * s;
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      out[(4 * q + k) * stride] = Nibble(u, 8 * k) * s + m;
      out[(16 + 4 * q + k) * stride] = Nibble(u, 8 * k + 4) * s + m;
    }
  }
}

}  // namespace cuda
}  // namespace qlite
