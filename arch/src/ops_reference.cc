// Scalar references (see ops_reference.h): the definition of what each op computes.
#include "qlite/arch/ops_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace qlite {
namespace arch {
namespace ref {

void RmsNorm(const float* x, const float* weight, float* out, size_t n, float eps) {
  double ss = 0.0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n ? n : 1) + eps);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] * inv * weight[i]);
}

void AddInPlace(float* x, const float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] += y[i];
}

void SiluMul(float* gate, const float* up, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const double g = gate[i];
    gate[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

void GeluTanhMul(float* gate, const float* up, size_t n) {
  const double k = std::sqrt(2.0 / 3.14159265358979323846);
  for (size_t i = 0; i < n; ++i) {
    const double g = gate[i];
    gate[i] = static_cast<float>(0.5 * g * (1.0 + std::tanh(k * (g + 0.044715 * g * g * g))) * up[i]);
  }
}

void Softmax(float* x, size_t n) {
  if (n == 0) return;
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - mx) / sum);
}

void SoftCap(float* x, size_t n, float cap) {
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<float>(cap * std::tanh(static_cast<double>(x[i]) / cap));
}

void Rope(float* x, size_t n_heads, size_t head_dim, size_t rotary_dim, const float* cos,
          const float* sin, RopePairing pairing) {
  rotary_dim = std::min(rotary_dim, head_dim) & ~size_t{1};
  const size_t half = rotary_dim / 2;
  for (size_t h = 0; h < n_heads; ++h) {
    float* xh = x + h * head_dim;
    for (size_t i = 0; i < half; ++i) {
      const size_t a = pairing == RopePairing::kInterleaved ? 2 * i : i;
      const size_t b = pairing == RopePairing::kInterleaved ? 2 * i + 1 : i + half;
      const double x0 = xh[a], x1 = xh[b];
      xh[a] = static_cast<float>(x0 * cos[i] - x1 * sin[i]);
      xh[b] = static_cast<float>(x0 * sin[i] + x1 * cos[i]);
    }
  }
}

void KvStore(const float* src, size_t head_dim, KvType type, void* data, float* scales, size_t slot) {
  const size_t base = slot * head_dim;
  if (type == KvType::kF32) {
    std::memcpy(static_cast<float*>(data) + base, src, head_dim * sizeof(float));
  } else if (type == KvType::kF16) {
    uint16_t* dst = static_cast<uint16_t*>(data) + base;
    for (size_t i = 0; i < head_dim; ++i) dst[i] = F32ToF16(src[i]);
  } else {
    float amax = 0.0f;
    for (size_t i = 0; i < head_dim; ++i) amax = std::max(amax, std::fabs(src[i]));
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    int8_t* dst = static_cast<int8_t*>(data) + base;
    for (size_t i = 0; i < head_dim; ++i) {
      const long q = std::lrint(src[i] * inv);
      dst[i] = static_cast<int8_t>(std::min(127L, std::max(-127L, q)));
    }
    scales[slot] = amax / 127.0f;
  }
}

void KvLoad(const KvHeadView& view, size_t head_dim, size_t slot, float* out) {
  const size_t base = slot * head_dim;
  for (size_t i = 0; i < head_dim; ++i) {
    switch (view.type) {
      case KvType::kF32: out[i] = static_cast<const float*>(view.data)[base + i]; break;
      case KvType::kF16: out[i] = F16ToF32(static_cast<const uint16_t*>(view.data)[base + i]); break;
      case KvType::kQ8:
        out[i] = static_cast<const int8_t*>(view.data)[base + i] * view.scales[slot];
        break;
    }
  }
}

void AttentionHead(const float* q, size_t head_dim, const KvHeadView& k, const KvHeadView& v,
                   size_t n_slots, float scale, float* scores, float* out, float softcap, const float* sink_q,
                   size_t n_sinks) {
  std::vector<float> row(head_dim);
  for (size_t t = 0; t < n_slots; ++t) {
    KvLoad(k, head_dim, t, row.data());
    const float* qt = sink_q && t < n_sinks ? sink_q : q;
    double dot = 0.0;
    for (size_t i = 0; i < head_dim; ++i) dot += static_cast<double>(qt[i]) * row[i];
    scores[t] = static_cast<float>(scale * dot);
  }
  if (softcap > 0.0f) SoftCap(scores, n_slots, softcap);
  Softmax(scores, n_slots);
  std::vector<double> acc(head_dim, 0.0);
  for (size_t t = 0; t < n_slots; ++t) {
    KvLoad(v, head_dim, t, row.data());
    for (size_t i = 0; i < head_dim; ++i) acc[i] += static_cast<double>(scores[t]) * row[i];
  }
  for (size_t i = 0; i < head_dim; ++i) out[i] = static_cast<float>(acc[i]);
}

}  // namespace ref
}  // namespace arch
}  // namespace qlite
