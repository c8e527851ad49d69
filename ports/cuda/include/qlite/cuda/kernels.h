// Host launchers for the CUDA kernels. Every pointer is a device pointer; every launch is
// asynchronous on `stream` (check errors with cudaGetLastError / the stream's sync).
// Activation vectors that feed a matrix product must be allocated to a whole number of
// 32-element blocks (round_up(cols, 32) floats); values past `cols` are ignored.
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/cuda/weights.h"

typedef struct CUstream_st* cudaStream_t;

namespace qlite {
namespace cuda {

// Epilogue shared by the products: y = W·x (+ bias) (+ y when accumulate).
struct Epilogue {
  const float* bias = nullptr;  // [rows] or null
  bool accumulate = false;      // add into y (residual connections)
};

// Decode: y[r] = sum_c W[r][c] x[c]. One warp per row, coalesced packed-weight loads.
void LaunchGemv(const MatrixDesc& w, const float* x, float* y, Epilogue ep, cudaStream_t stream);
// Prefill: Y[b][r] = sum_c W[r][c] X[b][c], b < batch; X rows x_stride floats apart, Y rows
// y_stride. Tiled: weight tiles are dequantized into shared memory once per batch tile.
void LaunchGemm(const MatrixDesc& w, const float* x, size_t batch, size_t x_stride, float* y,
                size_t y_stride, Epilogue ep, cudaStream_t stream);

// out[t][:] = row tokens[t] of the embedding matrix, for t < n.
void LaunchEmbed(const MatrixDesc& table, const int32_t* tokens, size_t n, float* out,
                 size_t out_stride, cudaStream_t stream);
// out[t] = x[t] / rms(x[t]) * weight for n rows of dim values (rows `stride` apart).
void LaunchRmsNorm(const float* x, const float* weight, float* out, size_t n, size_t dim,
                   size_t stride, float eps, cudaStream_t stream);
// gate = silu(gate) * up over n rows of dim values.
void LaunchSiluMul(float* gate, const float* up, size_t n, size_t dim, size_t stride,
                   cudaStream_t stream);

// Everything attention needs about one layer's KV cache ring: n_slots positions per KV
// head; position p lives in slot p % n_slots. Layout [kv_head][slot][head_dim], f32.
struct KvRing {
  float* k = nullptr;
  float* v = nullptr;
  uint32_t n_slots = 0, n_kv_heads = 0, head_dim = 0;
};

struct RopeParams {
  const float* inv_freq = nullptr;  // rotary_dim / 2 frequencies (scaling already applied)
  uint32_t rotary_dim = 0;
  bool rotate_half = false;  // false: pairs (2i, 2i+1); true: pairs (i, i + rotary_dim/2)
};

// Token t of a batch is at position pos0 + t, plus *pos_dev when pos_dev (device memory) is
// not null: a captured CUDA graph replays with whatever position is stored there.
struct Positions {
  uint32_t pos0 = 0;
  const uint32_t* pos_dev = nullptr;
};

// For each of n tokens: rotates q (n_heads heads) in place, rotates k on its way into the
// ring and stores v beside it. q/k/v rows are q_stride / kv_stride floats apart.
void LaunchRopeStore(float* q, const float* k, const float* v, size_t n, size_t q_stride,
                     size_t kv_stride, uint32_t n_heads, Positions pos, const RopeParams& rope,
                     const KvRing& kv, cudaStream_t stream);
// Causal attention for n tokens, each over the last min(pos + 1, window, n_slots)
// positions (window 0 = unlimited). out rows out_stride apart. The caller keeps every
// attended position in the ring (see CudaSession::Prefill).
void LaunchAttention(const float* q, size_t n, size_t q_stride, uint32_t n_heads, Positions pos,
                     uint32_t window, float scale, const KvRing& kv, float* out,
                     size_t out_stride, cudaStream_t stream);

}  // namespace cuda
}  // namespace qlite
