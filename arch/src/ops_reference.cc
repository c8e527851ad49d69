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

namespace {
// x -> H x with H the normalized Hadamard matrix of each block (the largest power of two
// dividing n): H[i][j] = (-1)^popcount(i & j) / sqrt(block), written out, not as butterflies.
std::vector<double> Hadamard(const float* x, size_t n) {
  size_t block = 1;
  while (n % (block * 2) == 0) block *= 2;
  std::vector<double> y(n, 0.0);
  for (size_t b = 0; b < n; b += block)
    for (size_t i = 0; i < block; ++i) {
      double acc = 0.0;
      for (size_t j = 0; j < block; ++j) acc += (__builtin_popcountll(i & j) & 1 ? -1.0 : 1.0) * x[b + j];
      y[b + i] = acc / std::sqrt(static_cast<double>(block));
    }
  return y;
}
}  // namespace

void KvStore(const float* src, size_t head_dim, KvType type, void* data, float* scales, size_t slot) {
  const size_t base = slot * head_dim;
  if (type == KvType::kQ4) {
    const std::vector<double> x = Hadamard(src, head_dim);
    const size_t group = KvQ4Group(head_dim), half = group / 2, groups = head_dim / group;
    uint8_t* codes = static_cast<uint8_t*>(data) + slot * head_dim / 2;
    for (size_t g = 0; g < groups; ++g) {
      float amax = 0.0f;
      for (size_t i = 0; i < group; ++i) amax = std::max(amax, static_cast<float>(std::fabs(x[g * group + i])));
      const float inv = amax > 0.0f ? 7.0f / amax : 0.0f;
      scales[slot * groups + g] = amax / 7.0f;
      for (size_t i = 0; i < group; ++i) {
        const long q = std::min(7L, std::max(-7L, std::lrint(static_cast<float>(x[g * group + i]) * inv))) + 8;
        uint8_t& byte = codes[g * half + i % half];
        byte = i < half ? static_cast<uint8_t>((byte & 0xF0) | q) : static_cast<uint8_t>((byte & 0x0F) | (q << 4));
      }
    }
    return;
  }
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
  if (view.type == KvType::kQ4) {  // dequantized, then rotated back (H is its own inverse)
    const size_t group = KvQ4Group(head_dim), half = group / 2, groups = head_dim / group;
    const uint8_t* codes = static_cast<const uint8_t*>(view.data) + slot * head_dim / 2;
    std::vector<float> rotated(head_dim);
    for (size_t i = 0; i < head_dim; ++i) {
      const uint8_t byte = codes[(i / group) * half + i % half];
      const int q = (i % group < half ? byte & 15 : byte >> 4) - 8;
      rotated[i] = static_cast<float>(q) * view.scales[slot * groups + i / group];
    }
    const std::vector<double> x = Hadamard(rotated.data(), head_dim);
    for (size_t i = 0; i < head_dim; ++i) out[i] = static_cast<float>(x[i]);
    return;
  }
  for (size_t i = 0; i < head_dim; ++i) {
    switch (view.type) {
      case KvType::kF32: out[i] = static_cast<const float*>(view.data)[base + i]; break;
      case KvType::kF16: out[i] = F16ToF32(static_cast<const uint16_t*>(view.data)[base + i]); break;
      case KvType::kQ8:
        out[i] = static_cast<const int8_t*>(view.data)[base + i] * view.scales[slot];
        break;
      case KvType::kQ4: break;  // above
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

void AttentionSegments(const float* q, size_t n_q, size_t head_dim, const KvSegment* segments, size_t n_segments,
                       float scale, float* scores, float* out, float softcap) {
  std::vector<float> row(head_dim);
  size_t total = 0;
  for (size_t i = 0; i < n_segments; ++i) total += segments[i].n;
  for (size_t j = 0; j < n_q; ++j) {
    float* sj = scores + j * total;
    size_t r = 0;
    for (size_t i = 0; i < n_segments; ++i) {
      const KvSegment& s = segments[i];
      const float* qs = (s.q ? s.q : q) + j * head_dim;
      for (size_t t = 0; t < s.n; ++t) {
        KvLoad(s.k, head_dim, s.first + t, row.data());
        double dot = 0.0;
        for (size_t c = 0; c < head_dim; ++c) dot += static_cast<double>(qs[c]) * row[c];
        sj[r++] = static_cast<float>(scale * dot);
      }
    }
    std::vector<double> acc(head_dim, 0.0);
    if (total) {
      if (softcap > 0.0f) SoftCap(sj, total, softcap);
      Softmax(sj, total);
    }
    r = 0;
    for (size_t i = 0; i < n_segments; ++i) {
      const KvSegment& s = segments[i];
      for (size_t t = 0; t < s.n; ++t, ++r) {
        KvLoad(s.v, head_dim, s.first + t, row.data());
        for (size_t c = 0; c < head_dim; ++c) acc[c] += static_cast<double>(sj[r]) * row[c];
      }
    }
    for (size_t c = 0; c < head_dim; ++c) out[j * head_dim + c] = static_cast<float>(acc[c]);
  }
}

}  // namespace ref
}  // namespace arch
}  // namespace qlite
