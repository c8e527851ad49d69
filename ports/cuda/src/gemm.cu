// Prefill GEMM: a block owns a 64-row x 64-token output tile. For each 32-element block of
// the reduction it dequantizes the 64x32 weight tile into shared memory once (so the
// packed weights are read once per 64 tokens), stages the 64x32 activations beside it,
// and each thread accumulates a 4x4 register tile in f32.
#include "chunks.cuh"
#include "qlite/cuda/kernels.h"

namespace qlite {
namespace cuda {
namespace {

constexpr int kTileRows = 64, kTileBatch = 64, kThreads = 256;

template <DevType T>
__global__ void __launch_bounds__(kThreads)
    GemmKernel(MatrixDesc w, const float* __restrict__ x, uint32_t batch, size_t x_stride,
               float* __restrict__ y, size_t y_stride, Epilogue ep) {
  __shared__ __align__(16) float ws[32][kTileRows];   // ws[k][row]
  __shared__ __align__(16) float xs[32][kTileBatch];  // xs[k][token]
  const int t = threadIdx.x;
  const uint32_t r0 = blockIdx.x * kTileRows, b0 = blockIdx.y * kTileBatch;
  const int fill_row = t / 4, quarter = t % 4;  // tile fill: 64 rows x 4 quarters
  const int tr = t % 16, tb = t / 16;           // compute: 16 x 16 threads, 4x4 each
  float acc[4][4] = {};
  for (uint32_t blk = 0; blk < w.blocks; ++blk) {
    const uint32_t row = r0 + fill_row;
    if (row < w.rows) {
      DecodeQuarter<T>(w, row, blk, quarter, &ws[0][fill_row], kTileRows);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) ws[8 * quarter + i][fill_row] = 0.0f;
    }
    const uint32_t b = b0 + fill_row;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int k = 8 * quarter + i;
      const uint32_t c = blk * 32 + k;
      xs[k][fill_row] = (b < batch && c < w.cols) ? x[b * x_stride + c] : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int k = 0; k < 32; ++k) {
      const float4 a = *reinterpret_cast<const float4*>(&ws[k][tr * 4]);
      const float4 v = *reinterpret_cast<const float4*>(&xs[k][tb * 4]);
      const float av[4] = {a.x, a.y, a.z, a.w}, vv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * vv[j];
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const uint32_t b = b0 + tb * 4 + j;
    if (b >= batch) continue;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const uint32_t r = r0 + tr * 4 + i;
      if (r >= w.rows) continue;
      float v = acc[i][j];
      if (ep.bias) v += ep.bias[r];
      float* out = y + b * y_stride + r;
      if (ep.accumulate) v += *out;
      *out = v;
    }
  }
}

template <DevType T>
void Launch(const MatrixDesc& w, const float* x, size_t batch, size_t x_stride, float* y,
            size_t y_stride, Epilogue ep, cudaStream_t stream) {
  const dim3 grid((w.rows + kTileRows - 1) / kTileRows,
                  static_cast<unsigned>((batch + kTileBatch - 1) / kTileBatch));
  GemmKernel<T><<<grid, kThreads, 0, stream>>>(w, x, static_cast<uint32_t>(batch), x_stride, y,
                                               y_stride, ep);
}

}  // namespace

void LaunchGemm(const MatrixDesc& w, const float* x, size_t batch, size_t x_stride, float* y,
                size_t y_stride, Epilogue ep, cudaStream_t stream) {
  if (batch == 0) return;
  switch (w.type) {
    case DevType::kF32: return Launch<DevType::kF32>(w, x, batch, x_stride, y, y_stride, ep, stream);
    case DevType::kF16: return Launch<DevType::kF16>(w, x, batch, x_stride, y, y_stride, ep, stream);
    case DevType::kI8: return Launch<DevType::kI8>(w, x, batch, x_stride, y, y_stride, ep, stream);
    case DevType::kI4: return Launch<DevType::kI4>(w, x, batch, x_stride, y, y_stride, ep, stream);
    case DevType::kU4: return Launch<DevType::kU4>(w, x, batch, x_stride, y, y_stride, ep, stream);
  }
}

}  // namespace cuda
}  // namespace qlite
