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

// Element type of the KV cache; the values are those of qlite_kv_type (qlite/qlite.h).
// kF16: IEEE binary16 rounded to nearest even; kQ8: per (head, slot) int8 with one f32 scale
// absmax / 127, q = round-half-even(x * 127 / absmax) - the CPU runtime's KvStore exactly.
enum class KvCacheType : uint8_t { kF32 = 0, kF16 = 1, kQ8 = 2 };

// Everything attention needs about one layer's KV cache ring: n_slots positions per KV
// head, the first n_sinks pinned (kv_ring.h says which slot holds which position).
// Layout [kv_head][slot][head_dim] of float / __half / int8; kQ8 scales [kv_head][slot].
struct KvRing {
  void* k = nullptr;
  void* v = nullptr;
  float* k_scales = nullptr;  // kQ8 only
  float* v_scales = nullptr;
  uint32_t n_slots = 0, n_sinks = 0, n_kv_heads = 0, head_dim = 0;
  KvCacheType type = KvCacheType::kF32;
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
// ring and stores v beside it (slot KvRingSlot(pos)). q/k/v rows are q_stride / kv_stride
// floats apart. head_dim <= 256.
void LaunchRopeStore(float* q, const float* k, const float* v, size_t n, size_t q_stride,
                     size_t kv_stride, uint32_t n_heads, Positions pos, const RopeParams& rope,
                     const KvRing& kv, cudaStream_t stream);
// Causal attention for n tokens, each over the KvRingLive(pos) live slots of the ring (the
// sinks and the most recent positions; once the ring has wrapped, the sinks are scored with
// q rotated by `rope` to its cache position, KvRingLive(pos) - 1). out rows out_stride apart. Every token's K/V must
// be stored already and no token of the batch may have evicted a position an earlier one
// attends: KvRingChunkInPlace, or n == 1 (LaunchRopeStoreAttention handles both).
void LaunchAttention(const float* q, size_t n, size_t q_stride, uint32_t n_heads, Positions pos,
                     const RopeParams& rope, float scale, const KvRing& kv, float* out,
                     size_t out_stride, cudaStream_t stream);
// LaunchRopeStore then LaunchAttention for a batch whose first position is first_pos (the
// value pos resolves to on the device): the whole batch at once while it does not wrap the
// ring, else one token at a time, as the CPU runtime does.
void LaunchRopeStoreAttention(float* q, const float* k, const float* v, size_t n, size_t q_stride,
                              size_t kv_stride, uint32_t n_heads, Positions pos,
                              uint64_t first_pos, const RopeParams& rope, float scale,
                              const KvRing& kv, float* out, size_t out_stride,
                              cudaStream_t stream);

}  // namespace cuda
}  // namespace qlite
