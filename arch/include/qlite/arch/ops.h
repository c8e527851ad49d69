// The element-wise and attention ops of a Llama-family forward pass.
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/base/weight_codes.h"  // F16ToF32, F32ToF16 (KV rows, scales)

namespace qlite {
namespace arch {

// out = x / rms(x) * weight (out may alias x).
void RmsNorm(const float* x, const float* weight, float* out, size_t n, float eps);
// x += y
void AddInPlace(float* x, const float* y, size_t n);
// gate = silu(gate) * up (SwiGLU)
void SiluMul(float* gate, const float* up, size_t n);
// gate = gelu(gate) * up (GeGLU), GELU's tanh approximation:
// gelu(g) = g/2 · (1 + tanh(sqrt(2/pi) · (g + 0.044715 g³))).
void GeluTanhMul(float* gate, const float* up, size_t n);
// In-place softmax over n values.
void Softmax(float* x, size_t n);
// x = cap * tanh(x / cap), cap > 0 (Gemma 2's final-logit soft-capping).
void SoftCap(float* x, size_t n, float cap);

enum class RopePairing : uint8_t { kInterleaved /* (2i,2i+1) */, kRotateHalf /* (i,i+d/2) */ };
// Rotates the first rotary_dim dims of each of n_heads heads (stride head_dim) by the
// angles whose cos/sin are given (rotary_dim/2 values each). Pair i is (2i, 2i+1) for
// kInterleaved and (i, i + rotary_dim/2) for kRotateHalf. rotary_dim is clamped to an
// even value <= head_dim (callers validate the model config; this never reads out of bounds).
void Rope(float* x, size_t n_heads, size_t head_dim, size_t rotary_dim, const float* cos,
          const float* sin, RopePairing pairing);

// RoPE frequency scaling (schema RopeConfig). Llama-3: wavelengths shorter than
// original_context/high_freq_factor keep their frequency, longer than
// original_context/low_freq_factor are divided by factor, in between are interpolated.
enum class RopeScalingType : uint8_t { kNone, kLinear, kLlama3 };
struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  float factor = 1.0f;            // kLinear, kLlama3
  float low_freq_factor = 1.0f;   // kLlama3
  float high_freq_factor = 4.0f;  // kLlama3
  uint32_t original_context = 0;  // kLlama3
  // rotary_dim/2 divisors applied after the scaling above (llama.cpp's rope_freqs, Phi-3's
  // LongRoPE factors); null = none. Each must be > 0.
  const float* freq_factors = nullptr;
};
// Pure: inv_freq[i] = theta^(-2i/rotary_dim), i < rotary_dim/2, then scaled. Computed once
// per model. Returns false (writing nothing) for invalid parameters: rotary_dim odd or 0,
// theta <= 0, factor <= 0, Llama-3 with original_context == 0 or high <= low factor, or a
// frequency factor <= 0.
bool RopeInvFreq(float theta, size_t rotary_dim, const RopeScaling& scaling, float* inv_freq);
// cos/sin of pos * inv_freq[i] for i < n_pairs (angle computed in double, so large
// positions keep their precision). No allocation; call once per token.
// Both are multiplied by mscale (LongRoPE's attention factor; 1 otherwise).
void RopeCosSin(size_t pos, const float* inv_freq, size_t n_pairs, float* cos, float* sin,
                float mscale = 1.0f);

// KV cache storage for one (layer, kv head): n_slots rows of head_dim values.
// kQ4: each row is first rotated by a normalized Walsh-Hadamard transform (blocks of the
// largest power of two dividing head_dim), which spreads outlier channels over the block so
// 4 bits lose less; then groups of G = KvQ4Group(head_dim) values (32, or 16 / 8 for small
// heads) are stored as int4 (q in -7..7 as the nibble q + 8, byte j of a group = nibble j |
// nibble j + G/2 << 4) with one f32 scale (absmax / 7) each. Attention works in the rotated
// space (q·k = Hq·Hk) and rotates its output back.
enum class KvType : uint8_t { kF32, kF16, kQ8, kQ4 };
constexpr size_t kKvQ4MaxHeadDim = 512;  // kQ4 keeps a head on the stack
// Values per kQ4 scale for a head of head_dim values: 32, 16 or 8 (the largest dividing
// it); 0 = head_dim cannot be cached as kQ4.
inline size_t KvQ4Group(size_t head_dim) {
  if (head_dim == 0 || head_dim > kKvQ4MaxHeadDim) return 0;
  return head_dim % 32 == 0 ? 32 : head_dim % 16 == 0 ? 16 : head_dim % 8 == 0 ? 8 : 0;
}
struct KvHeadView {
  KvType type = KvType::kF32;
  const void* data = nullptr;   // [n_slots][row bytes] of f32 / f16 / int8 / packed int4
  const float* scales = nullptr;  // kQ8: one scale per slot; kQ4: [n_slots][head_dim / KvQ4Group]
};
// Bytes of one cached row (slot) of head_dim values.
inline size_t KvRowBytes(KvType type, size_t head_dim) {
  return type == KvType::kQ4 ? head_dim / 2 : head_dim * (type == KvType::kF32 ? 4 : type == KvType::kF16 ? 2 : 1);
}
// Scales per cached row (0 for f32 / f16).
inline size_t KvRowScales(KvType type, size_t head_dim) {
  return type == KvType::kQ8 ? 1 : type == KvType::kQ4 ? head_dim / KvQ4Group(head_dim) : 0;
}
// Whether a head of head_dim values can be cached as `type` (kQ4: KvQ4Group(head_dim) > 0).
inline bool KvTypeFits(KvType type, size_t head_dim) { return type != KvType::kQ4 || KvQ4Group(head_dim) > 0; }
// Stores one head_dim vector into slot `slot` of a head's storage. f16: round to nearest;
// q8: scales[slot] = absmax/127, q = round(x/scale) (an all-zero row has scale 0); q4: see
// KvType (head_dim must pass KvTypeFits).
void KvStore(const float* src, size_t head_dim, KvType type, void* data, float* scales, size_t slot);
// Attention for one query head over n_slots cached positions:
// scores[t] = scale * q·k[t]; softmax; out = sum_t p[t] * v[t]. `scores` is scratch (n_slots)
// and holds the probabilities on return. Slot order does not matter (keys are stored after
// RoPE). n_slots == 0 gives out = 0. softcap > 0: scores become softcap * tanh(s / softcap)
// before the softmax (Gemma 2). sink_q: the first min(n_sinks, n_slots) slots (pinned
// attention sinks) are scored with this query instead of q (the same query rotated to the
// position the sinks are seen from, so no query-key distance exceeds the window).
void AttentionHead(const float* q, size_t head_dim, const KvHeadView& k, const KvHeadView& v,
                   size_t n_slots, float scale, float* scores, float* out, float softcap = 0.0f,
                   const float* sink_q = nullptr, size_t n_sinks = 0);
// Rows [first, first + n) of one head's cached K and V (any KvType each), scored with the
// queries of the call, or with `q` ([n_q][head_dim]: the attention sinks' own queries).
struct KvSegment {
  KvHeadView k, v;
  size_t first = 0, n = 0;
  const float* q = nullptr;
};
constexpr size_t kMaxKvSegments = 8;
// Attention for the n_q query heads sharing one KV head (q, out: [n_q][head_dim]) over the
// rows of n_segments (<= kMaxKvSegments) segments under one softmax per query: the same result
// as AttentionHead over those rows gathered into one cache. Lets a head keep rows in several
// stores (a kQ4 ring plus f16 copies of its newest positions and sinks). `scores` is scratch
// [n_q][sum of the segments' n]; kQ4 rows are decoded once for up to 4 queries.
void AttentionSegments(const float* q, size_t n_q, size_t head_dim, const KvSegment* segments, size_t n_segments,
                       float scale, float* scores, float* out, float softcap = 0.0f);

}  // namespace arch
}  // namespace qlite
