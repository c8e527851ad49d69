// Scalar references for the ops of ops.h: plain loops, double accumulation. The tests
// compare every Highway target against these; they are not used on the hot path.
#pragma once
#include <cstddef>

#include "qlite/arch/ops.h"

namespace qlite {
namespace arch {
namespace ref {

void RmsNorm(const float* x, const float* weight, float* out, size_t n, float eps);
void AddInPlace(float* x, const float* y, size_t n);
void SiluMul(float* gate, const float* up, size_t n);
void GeluTanhMul(float* gate, const float* up, size_t n);
void Softmax(float* x, size_t n);
void SoftCap(float* x, size_t n, float cap);
void Rope(float* x, size_t n_heads, size_t head_dim, size_t rotary_dim, const float* cos,
          const float* sin, RopePairing pairing);
void KvStore(const float* src, size_t head_dim, KvType type, void* data, float* scales, size_t slot);
// Row `slot` of a head's storage, dequantized to f32.
void KvLoad(const KvHeadView& view, size_t head_dim, size_t slot, float* out);
void AttentionHead(const float* q, size_t head_dim, const KvHeadView& k, const KvHeadView& v,
                   size_t n_slots, float scale, float* scores, float* out, float softcap = 0.0f,
                   const float* sink_q = nullptr, size_t n_sinks = 0);
void AttentionSegments(const float* q, size_t n_q, size_t head_dim, const KvSegment* segments, size_t n_segments,
                       float scale, float* scores, float* out, float softcap = 0.0f);

}  // namespace ref
}  // namespace arch
}  // namespace qlite
