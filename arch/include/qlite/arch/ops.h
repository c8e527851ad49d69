// The element-wise and attention ops of a Llama-family forward pass.
#pragma once
#include <cstddef>
#include <cstdint>

namespace qlite {
namespace arch {

// out = x / rms(x) * weight (out may alias x).
void RmsNorm(const float* x, const float* weight, float* out, size_t n, float eps);
// x += y
void AddInPlace(float* x, const float* y, size_t n);
// gate = silu(gate) * up (SwiGLU)
void SiluMul(float* gate, const float* up, size_t n);
// In-place softmax over n values.
void Softmax(float* x, size_t n);

enum class RopePairing : uint8_t { kInterleaved /* (2i,2i+1) */, kRotateHalf /* (i,i+d/2) */ };
// Rotates the first rotary_dim dims of each of n_heads heads (stride head_dim) by the
// angles whose cos/sin are given (rotary_dim/2 values each).
void Rope(float* x, size_t n_heads, size_t head_dim, size_t rotary_dim, const float* cos,
          const float* sin, RopePairing pairing);

// KV cache storage for one (layer, kv head): n_slots rows of head_dim values.
enum class KvType : uint8_t { kF32, kF16, kQ8 };
struct KvHeadView {
  KvType type = KvType::kF32;
  const void* data = nullptr;   // [n_slots][head_dim] of f32 / f16 / int8
  const float* scales = nullptr;  // kQ8: one scale per slot
};
// Stores one head_dim vector into slot `slot` of a head's storage (q8: per-slot scale).
void KvStore(const float* src, size_t head_dim, KvType type, void* data, float* scales, size_t slot);
// Attention for one query head over n_slots cached positions:
// scores[t] = scale * q·k[t]; softmax; out = sum_t p[t] * v[t]. `scores` is scratch (n_slots).
void AttentionHead(const float* q, size_t head_dim, const KvHeadView& k, const KvHeadView& v,
                   size_t n_slots, float scale, float* scores, float* out);

}  // namespace arch
}  // namespace qlite
