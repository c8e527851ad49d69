// The element-wise and attention kernels of the forward pass.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "common.cuh"
#include "qlite/cuda/kernels.h"
#include "qlite/base/kv_ring.h"

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

// KV cache elements: f32, f16 (round to nearest even) or int8 (x * 127 / absmax, rounded
// half to even and clamped, as the CPU runtime's KvStore does; the row scale is separate).
__device__ __forceinline__ float KvLoad(const float* p) { return *p; }
__device__ __forceinline__ float KvLoad(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float KvLoad(const int8_t* p) { return static_cast<float>(*p); }
__device__ __forceinline__ void KvPut(float* p, float x, float) { *p = x; }
__device__ __forceinline__ void KvPut(__half* p, float x, float) { *p = __float2half_rn(x); }
__device__ __forceinline__ void KvPut(int8_t* p, float x, float inv) {
  *p = static_cast<int8_t>(max(-127, min(127, __float2int_rn(x * inv))));
}

// One block per token: q rotated in place by all threads, then one warp per KV head rotates
// k, and writes k and v into slot KvRingSlot(pos) (a warp holds a whole head, so the int8
// absmax is one warp reduction).
template <typename T>
__global__ void RopeStoreKernel(float* q, const float* __restrict__ k, const float* __restrict__ v,
                                size_t q_stride, size_t kv_stride, uint32_t n_heads,
                                Positions positions, RopeParams rope, KvRing kv) {
  const uint32_t pos = PositionOf(positions, blockIdx.x), hd = kv.head_dim;
  const uint32_t half = rope.rotary_dim / 2;
  const uint32_t slot = KvRingSlot(pos, kv.n_slots, kv.n_sinks);
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
  // k rotated on its way into the cache (reads the input rows only: no thread writes what
  // another reads).
  const float* kt = k + blockIdx.x * kv_stride;
  const float* vt = v + blockIdx.x * kv_stride;
  const uint32_t warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  for (uint32_t h = warp; h < kv.n_kv_heads; h += blockDim.x / kWarp) {
    float kr[kPerLane], vr[kPerLane], kmax = 0.0f, vmax = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const uint32_t d = lane + j * kWarp;
      kr[j] = vr[j] = 0.0f;
      if (d >= hd) continue;
      const uint32_t e = h * hd + d;
      kr[j] = kt[e];
      if (d < rope.rotary_dim) {
        uint32_t partner, f;
        float sign, s, c;
        RopePair(d, rope, &partner, &f, &sign);
        sincosf(pos * rope.inv_freq[f], &s, &c);
        kr[j] = kt[e] * c + sign * kt[h * hd + partner] * s;
      }
      vr[j] = vt[e];
      kmax = fmaxf(kmax, fabsf(kr[j]));
      vmax = fmaxf(vmax, fabsf(vr[j]));
    }
    const size_t row = static_cast<size_t>(h) * kv.n_slots + slot;
    float kinv = 0.0f, vinv = 0.0f;
    if (kv.type == KvCacheType::kQ8) {
      kmax = WarpMax(kmax), vmax = WarpMax(vmax);
      kinv = kmax > 0.0f ? 127.0f / kmax : 0.0f;
      vinv = vmax > 0.0f ? 127.0f / vmax : 0.0f;
      if (lane == 0) kv.k_scales[row] = kmax / 127.0f, kv.v_scales[row] = vmax / 127.0f;
    }
    T* kd = static_cast<T*>(kv.k) + row * hd;
    T* vd = static_cast<T*>(kv.v) + row * hd;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const uint32_t d = lane + j * kWarp;
      if (d < hd) KvPut(kd + d, kr[j], kinv), KvPut(vd + d, vr[j], vinv);
    }
  }
}

// One block per (query head, token); warps split the live slots and keep an online softmax
// (running max, running sum, weighted V) so no scratch grows with the window; the four
// partial results are merged at the end. Slots hold rotated keys, so their order (sinks
// first, then the ring in wrapped order) does not matter. Once the ring has wrapped, the
// sink slots are scored with the query rotated back to its place in the cache (live - 1),
// as the CPU runtime does (runtime/src/forward.cc): no query-sink distance exceeds the window.
template <typename T>
__global__ void __launch_bounds__(kAttnWarps * kWarp)
    AttentionKernel(const float* __restrict__ q, size_t q_stride, uint32_t n_heads,
                    Positions positions, RopeParams rope, float scale, KvRing kv, float* out,
                    size_t out_stride) {
  __shared__ float part_m[kAttnWarps], part_l[kAttnWarps];
  __shared__ float part_acc[kAttnWarps][kMaxHeadDim];
  __shared__ float q_sink[kMaxHeadDim];
  const uint32_t head = blockIdx.x, pos = PositionOf(positions, blockIdx.y), hd = kv.head_dim;
  const uint32_t kvh = head / (n_heads / kv.n_kv_heads);
  const uint32_t warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const uint32_t n = KvRingLive(pos, kv.n_slots);
  const float* qh = q + blockIdx.y * q_stride + head * hd;
  const bool moved_sinks = kv.n_sinks > 0 && pos >= n;
  if (moved_sinks) {  // R(live - 1) q = R(live - 1 - pos) R(pos) q
    const float delta = static_cast<float>(n - 1) - static_cast<float>(pos);
    for (uint32_t d = threadIdx.x; d < hd; d += blockDim.x) {
      float x = qh[d];
      if (d < rope.rotary_dim) {
        uint32_t partner, f;
        float sign, s, c;
        RopePair(d, rope, &partner, &f, &sign);
        sincosf(delta * rope.inv_freq[f], &s, &c);
        x = qh[d] * c + sign * qh[partner] * s;
      }
      q_sink[d] = x;
    }
    __syncthreads();
  }
  float qv[kPerLane], qs[kPerLane], acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const uint32_t d = lane + i * kWarp;
    qv[i] = d < hd ? qh[d] * scale : 0.0f;
    qs[i] = d < hd && moved_sinks ? q_sink[d] * scale : qv[i];
    acc[i] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  const size_t head_row = static_cast<size_t>(kvh) * kv.n_slots;
  const T* kbase = static_cast<const T*>(kv.k) + head_row * hd;
  const T* vbase = static_cast<const T*>(kv.v) + head_row * hd;
  constexpr bool kScaled = std::is_same<T, int8_t>::value;
  for (uint32_t slot = warp; slot < n; slot += kAttnWarps) {
    const T* kr = kbase + static_cast<size_t>(slot) * hd;
    const bool sink = slot < kv.n_sinks;
    float dot = 0.0f;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const uint32_t d = lane + j * kWarp;
      if (d < hd) dot += (sink ? qs[j] : qv[j]) * KvLoad(kr + d);
    }
    float s = WarpSum(dot);
    if (kScaled) s *= kv.k_scales[head_row + slot];
    if (s > m) {  // rescale what was accumulated under the old maximum
      const float corr = expf(m - s);
      l *= corr;
#pragma unroll
      for (int j = 0; j < kPerLane; ++j) acc[j] *= corr;
      m = s;
    }
    const float p = expf(s - m);
    l += p;
    const float pv = kScaled ? p * kv.v_scales[head_row + slot] : p;
    const T* vr = vbase + static_cast<size_t>(slot) * hd;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      const uint32_t d = lane + j * kWarp;
      if (d < hd) acc[j] += pv * KvLoad(vr + d);
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
  if (!n) return;
  const unsigned blocks = static_cast<unsigned>(n);
  switch (kv.type) {
    case KvCacheType::kF32:
      RopeStoreKernel<float><<<blocks, kOpThreads, 0, stream>>>(q, k, v, q_stride, kv_stride, n_heads, pos, rope, kv);
      break;
    case KvCacheType::kF16:
      RopeStoreKernel<__half><<<blocks, kOpThreads, 0, stream>>>(q, k, v, q_stride, kv_stride, n_heads, pos, rope, kv);
      break;
    case KvCacheType::kQ8:
      RopeStoreKernel<int8_t><<<blocks, kOpThreads, 0, stream>>>(q, k, v, q_stride, kv_stride, n_heads, pos, rope, kv);
      break;
  }
}

void LaunchAttention(const float* q, size_t n, size_t q_stride, uint32_t n_heads, Positions pos,
                     const RopeParams& rope, float scale, const KvRing& kv, float* out,
                     size_t out_stride, cudaStream_t stream) {
  if (!n) return;
  const dim3 grid(n_heads, static_cast<unsigned>(n));
  constexpr int threads = kAttnWarps * kWarp;
  switch (kv.type) {
    case KvCacheType::kF32:
      AttentionKernel<float><<<grid, threads, 0, stream>>>(q, q_stride, n_heads, pos, rope, scale, kv, out,
                                                           out_stride);
      break;
    case KvCacheType::kF16:
      AttentionKernel<__half><<<grid, threads, 0, stream>>>(q, q_stride, n_heads, pos, rope, scale, kv, out,
                                                            out_stride);
      break;
    case KvCacheType::kQ8:
      AttentionKernel<int8_t><<<grid, threads, 0, stream>>>(q, q_stride, n_heads, pos, rope, scale, kv, out,
                                                            out_stride);
      break;
  }
}

void LaunchRopeStoreAttention(float* q, const float* k, const float* v, size_t n, size_t q_stride,
                              size_t kv_stride, uint32_t n_heads, Positions pos,
                              uint64_t first_pos, const RopeParams& rope, float scale,
                              const KvRing& kv, float* out, size_t out_stride,
                              cudaStream_t stream) {
  if (KvRingChunkInPlace(first_pos, n, kv.n_slots)) {
    LaunchRopeStore(q, k, v, n, q_stride, kv_stride, n_heads, pos, rope, kv, stream);
    LaunchAttention(q, n, q_stride, n_heads, pos, rope, scale, kv, out, out_stride, stream);
    return;
  }
  for (size_t t = 0; t < n; ++t) {  // token t is at pos + t: shift the value part
    Positions one = pos;
    one.pos0 += static_cast<uint32_t>(t);
    LaunchRopeStore(q + t * q_stride, k + t * kv_stride, v + t * kv_stride, 1, q_stride, kv_stride,
                    n_heads, one, rope, kv, stream);
    LaunchAttention(q + t * q_stride, 1, q_stride, n_heads, one, rope, scale, kv, out + t * out_stride,
                    out_stride, stream);
  }
}

}  // namespace cuda
}  // namespace qlite
