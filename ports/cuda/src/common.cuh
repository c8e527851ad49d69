// Device helpers shared by the kernels: f16 scale reads, nibble decode, reductions.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "qlite/cuda/weights.h"

namespace qlite {
namespace cuda {

constexpr int kWarp = 32;

__device__ __forceinline__ float HalfToFloat(uint16_t bits) {
  return __half2float(__ushort_as_half(bits));
}

// Low nibble of byte k of w as a float, exactly, without an int->float conversion:
// 0x4B000000 is 2^23, so its mantissa's low bits carry q and subtracting 2^23 leaves q.
__device__ __forceinline__ float Nibble(uint32_t w, int shift) {
  return __uint_as_float(0x4B000000u | ((w >> shift) & 0xFu)) - 8388608.0f;
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float BlockSum(float v) {
  __shared__ float partial[32];
  v = WarpSum(v);
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  __syncthreads();  // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int n = blockDim.x / kWarp;
  v = lane < n ? partial[lane] : 0.0f;
  return WarpSum(v);
}

// One element of a device-layout matrix (slow path: embeddings and tests).
__device__ __forceinline__ float DecodeAt(const MatrixDesc& m, uint32_t row, uint32_t col) {
  const uint8_t* p = m.data + static_cast<size_t>(row) * m.row_stride;
  switch (m.type) {
    case DevType::kF32: return reinterpret_cast<const float*>(p)[col];
    case DevType::kF16: return HalfToFloat(reinterpret_cast<const uint16_t*>(p)[col]);
    default: break;
  }
  const size_t g = static_cast<size_t>(row) * m.groups + col / m.group_size;
  const float s = HalfToFloat(m.scales[g]);
  if (m.type == DevType::kI8) return static_cast<int8_t>(p[col]) * s;
  const uint32_t j = col % 32;
  const int q = Code4(p[(col / 32) * 16 + j % 16], j);
  if (m.type == DevType::kI4) return (q - 8) * s;
  if (m.type == DevType::kNF4) return m.nf4[q] * s;
  return q * s + HalfToFloat(m.mins[g]);
}

}  // namespace cuda
}  // namespace qlite
