// Decode GEMV: memory-bound, so the whole design is about streaming the packed weights
// once at full bandwidth: one warp per row, each lane one 8/16-byte load per step
// (a warp reads 256-512 contiguous bytes), four steps in flight, a shuffle reduction.
#include "chunks.cuh"
#include "qlite/cuda/kernels.h"

namespace qlite {
namespace cuda {
namespace {

constexpr int kRowsPerBlock = 4;  // warps per block

template <DevType T>
__global__ void __launch_bounds__(kRowsPerBlock * kWarp)
    GemvKernel(MatrixDesc w, const float* __restrict__ x, float* __restrict__ y, Epilogue ep) {
  const uint32_t row = blockIdx.x * kRowsPerBlock + threadIdx.x / kWarp;
  const uint32_t lane = threadIdx.x % kWarp;
  if (row >= w.rows) return;  // whole warp leaves together
  const uint8_t* rowp = w.data + static_cast<size_t>(row) * w.row_stride;
  const uint32_t n = w.blocks * ChunkShape<T>::kPerBlock;
  float acc = 0.0f;
#pragma unroll 4
  for (uint32_t c = lane; c < n; c += kWarp) acc += ChunkDot<T>(w, rowp, row, c, x);
  acc = WarpSum(acc);
  if (lane == 0) {
    if (ep.bias) acc += ep.bias[row];
    if (ep.accumulate) acc += y[row];
    y[row] = acc;
  }
}

template <DevType T>
void Launch(const MatrixDesc& w, const float* x, float* y, Epilogue ep, cudaStream_t stream) {
  const unsigned grid = (w.rows + kRowsPerBlock - 1) / kRowsPerBlock;
  GemvKernel<T><<<grid, kRowsPerBlock * kWarp, 0, stream>>>(w, x, y, ep);
}

}  // namespace

void LaunchGemv(const MatrixDesc& w, const float* x, float* y, Epilogue ep, cudaStream_t stream) {
  switch (w.type) {
    case DevType::kF32: return Launch<DevType::kF32>(w, x, y, ep, stream);
    case DevType::kF16: return Launch<DevType::kF16>(w, x, y, ep, stream);
    case DevType::kI8: return Launch<DevType::kI8>(w, x, y, ep, stream);
    case DevType::kI4: return Launch<DevType::kI4>(w, x, y, ep, stream);
    case DevType::kU4: return Launch<DevType::kU4>(w, x, y, ep, stream);
  }
}

}  // namespace cuda
}  // namespace qlite
