// The element-wise and attention kernels of the forward pass.
#include <algorithm>
#include <cmath>

#include "common.cuh"
#include "qlite/cuda/kernels.h"

namespace qlite {
namespace cuda {
namespace {

constexpr int kOpThreads = 256;
constexpr int kMaxHeadDim = 256;           // attention keeps head_dim / 32 values per lane
constexpr int kPerLane = kMaxHeadDim / kWarp;
constexpr int kAttnWarps = 4;

__global__ void EmbedKernel(MatrixDesc table, const int32_t* __restrict__ tokens, float* out,
                            size_t out_stride) {
  const int32_t tok = tokens[blockIdx.x];  // validated by the caller
  float* o = out + blockIdx.x * out_stride;
  for (uint32_t c = threadIdx.x; c < table.cols; c += blockDim.x) o[c] = DecodeAt(table, tok, c);
}

__global__ void RmsNormKernel(const float* __restrict__ x, const float* __restrict__ weight,
                              float* out, uint32_t dim, size_t stride, float eps) {
  const float* xr = x + blockIdx.x * stride;
  float ss = 0.0f;
  for (uint32_t i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = BlockSum(ss);
  const float inv = 1.0f / sqrtf(ss / dim + eps);
  float* o = out + blockIdx.x * stride;
  for (uint32_t i = threadIdx.x; i < dim; i += blockDim.x) o[i] = xr[i] * inv * weight[i];
}

__global__ void SiluMulKernel(float* gate, const float* __restrict__ up, uint32_t dim,
                              size_t stride) {
  float* g = gate + blockIdx.y * stride;
  const float* u = up + blockIdx.y * stride;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < dim; i += gridDim.x * blockDim.x) {
    const float v = g[i];
    g[i] = v / (1.0f + expf(-v)) * u[i];
  }
}

// Partner index and sign of dimension d's rotation: out[d] = x[d]*cos + sign*x[p]*sin.
__device__ __forceinline__ void RopePair(uint32_t d, const RopeParams& r, uint32_t* partner,
                                         uint32_t* freq, float* sign) {
  if (r.rotate_half) {
    const uint32_t half = r.rotary_dim / 2;
    *freq = d % half;
    *partner = d < half ? d + half : d - half;
    *sign = d < half ? -1.0f : 1.0f;
  } else {
    *freq = d / 2;
    *partner = d ^ 1u;
    *sign = (d & 1u) ? 1.0f : -1.0f;
  }
}

__device__ __forceinline__ uint32_t PositionOf(const Positions& p, uint32_t t) {
  return p.pos0 + (p.pos_dev ? *p.pos_dev : 0u) + t;
}

__global__ void RopeStoreKernel(float* q, const float* __restrict__ k, const float* __restrict__ v,
                                size_t q_stride, size_t kv_stride, uint32_t n_heads,
                                Positions positions, RopeParams rope, KvRing kv) {
  const uint32_t pos = PositionOf(positions, blockIdx.x), hd = kv.head_dim;
  const uint32_t half = rope.rotary_dim / 2;
  const uint32_t slot = pos % kv.n_slots;
  // q in place, one thread per rotated pair (pair = (first dim, its partner)).
  float* qt = q + blockIdx.x * q_stride;
  for (uint32_t i = threadIdx.x; i < n_heads * half; i += blockDim.x) {
    const uint32_t h = i / half, j = i % half;
    const uint32_t d0 = rope.rotate_half ? j : 2 * j, d1 = rope.rotate_half ? j + half : 2 * j + 1;
    float s, c;
    sincosf(pos * rope.inv_freq[j], &s, &c);
    float* head = qt + h * hd;
    const float a = head[d0], b = head[d1];
    head[d0] = a * c - b * s;
    head[d1] = a * s + b * c;
  }
  // k rotated on its way into the cache (element-wise: no thread writes what another reads).
  const float* kt = k + blockIdx.x * kv_stride;
  const float* vt = v + blockIdx.x * kv_stride;
  for (uint32_t e = threadIdx.x; e < kv.n_kv_heads * hd; e += blockDim.x) {
    const uint32_t h = e / hd, d = e % hd;
    float out = kt[e];
    if (d < rope.rotary_dim) {
      uint32_t partner, f;
      float sign, s, c;
      RopePair(d, rope, &partner, &f, &sign);
      sincosf(pos * rope.inv_freq[f], &s, &c);
      out = kt[e] * c + sign * kt[h * hd + partner] * s;
    }
    const size_t dst = (static_cast<size_t>(h) * kv.n_slots + slot) * hd + d;
    kv.k[dst] = out;
    kv.v[dst] = vt[e];
  }
}

// One block per (query head, token); warps split the positions and keep an online softmax
// (running max, running sum, weighted V) so no scratch grows with the window; the four
// partial results are merged at the end.
__global__ void __launch_bounds__(kAttnWarps * kWarp)
    AttentionKernel(const float* __restrict__ q, size_t q_stride, uint32_t n_heads,
                    Positions positions, uint32_t window, float scale, KvRing kv, float* out,
                    size_t out_stride) {
  __shared__ float part_m[kAttnWarps], part_l[kAttnWarps];
  __shared__ float part_acc[kAttnWarps][kMaxHeadDim];
  const uint32_t head = blockIdx.x, pos = PositionOf(positions, blockIdx.y), hd = kv.head_dim;
  const uint32_t kvh = head / (n_heads / kv.n_kv_heads);
  const uint32_t warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  uint32_t n = min(pos + 1, kv.n_slots);
  if (window) n = min(n, window);
  float qv[kPerLane], acc[kPerLane];
  const float* qh = q + blockIdx.y * q_stride + head * hd;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const uint32_t d = lane + i * kWarp;
    qv[i] = d < hd ? qh[d] * scale : 0.0f;
    acc[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const float* kbase = kv.k + static_cast<size_t>(kvh) * kv.n_slots * hd;
  const float* vbase = kv.v + static_cast<size_t>(kvh) * kv.n_slots * hd;
  for (uint32_t i = warp; i < n; i += kAttnWarps) {
    const size_t slot = (pos - i) % kv.n_slots;
    const float* kr = kbase + slot * hd;
    float dot = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const uint32_t d = lane + j * kWarp;
      if (d < hd) dot += qv[j] * kr[d];
    }
    const float s = WarpSum(dot);
    if (s > m) {  // rescale what was accumulated under the old maximum
      const float corr = expf(m - s);
      l *= corr;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) acc[j] *= corr;
      m = s;
    }
    const float p = expf(s - m);
    l += p;
    const float* vr = vbase + slot * hd;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const uint32_t d = lane + j * kWarp;
      if (d < hd) acc[j] += p * vr[d];
    }
  }
  if (lane == 0) part_m[warp] = m, part_l[warp] = l;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const uint32_t d = lane + j * kWarp;
    if (d < hd) part_acc[warp][d] = acc[j];
  }
  __syncthreads();
  float mx = part_m[0];
  for (int w = 1; w < kAttnWarps; ++w) mx = fmaxf(mx, part_m[w]);
  float wsum = 0.0f, f[kAttnWarps];
  for (int w = 0; w < kAttnWarps; ++w) {
    f[w] = part_l[w] > 0.0f ? expf(part_m[w] - mx) : 0.0f;  // idle warps have m = -inf
    wsum += part_l[w] * f[w];
  }
  float* o = out + blockIdx.y * out_stride + head * hd;
  for (uint32_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float v = 0.0f;
    for (int w = 0; w < kAttnWarps; ++w) v += part_acc[w][d] * f[w];
    o[d] = v / wsum;
  }
}

unsigned ElementBlocks(size_t n) {
  return static_cast<unsigned>(std::min<size_t>((n + kOpThreads - 1) / kOpThreads, 1024));
}

}  // namespace

void LaunchEmbed(const MatrixDesc& table, const int32_t* tokens, size_t n, float* out,
                 size_t out_stride, cudaStream_t stream) {
  if (n) EmbedKernel<<<static_cast<unsigned>(n), kOpThreads, 0, stream>>>(table, tokens, out, out_stride);
}

void LaunchRmsNorm(const float* x, const float* weight, float* out, size_t n, size_t dim,
                   size_t stride, float eps, cudaStream_t stream) {
  if (n) {
    RmsNormKernel<<<static_cast<unsigned>(n), kOpThreads, 0, stream>>>(
        x, weight, out, static_cast<uint32_t>(dim), stride, eps);
  }
}

void LaunchSiluMul(float* gate, const float* up, size_t n, size_t dim, size_t stride,
                   cudaStream_t stream) {
  if (n) {
    const dim3 grid(ElementBlocks(dim), static_cast<unsigned>(n));
    SiluMulKernel<<<grid, kOpThreads, 0, stream>>>(gate, up, static_cast<uint32_t>(dim), stride);
  }
}

void LaunchRopeStore(float* q, const float* k, const float* v, size_t n, size_t q_stride,
                     size_t kv_stride, uint32_t n_heads, Positions pos, const RopeParams& rope,
                     const KvRing& kv, cudaStream_t stream) {
  if (n) {
    RopeStoreKernel<<<static_cast<unsigned>(n), kOpThreads, 0, stream>>>(
        q, k, v, q_stride, kv_stride, n_heads, pos, rope, kv);
  }
}

void LaunchAttention(const float* q, size_t n, size_t q_stride, uint32_t n_heads, Positions pos,
                     uint32_t window, float scale, const KvRing& kv, float* out,
                     size_t out_stride, cudaStream_t stream) {
  if (n) {
    const dim3 grid(n_heads, static_cast<unsigned>(n));
    AttentionKernel<<<grid, kAttnWarps * kWarp, 0, stream>>>(q, q_stride, n_heads, pos, window,
                                                             scale, kv, out, out_stride);
  }
}

}  // namespace cuda
}  // namespace qlite
