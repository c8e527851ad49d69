// RoPE inverse frequencies (with Linear / Llama-3 scaling) and per-position cos/sin.
#include <cmath>

#include "qlite/arch/ops.h"

namespace qlite {
namespace arch {

bool RopeInvFreq(float theta, size_t rotary_dim, const RopeScaling& s, float* inv_freq) {
  if (rotary_dim == 0 || rotary_dim % 2 != 0 || !(theta > 0.0f) || inv_freq == nullptr) return false;
  const bool scaled = s.type != RopeScalingType::kNone;
  if (scaled && !(s.factor > 0.0f)) return false;
  if (s.type == RopeScalingType::kLlama3 &&
      (s.original_context == 0 || !(s.high_freq_factor > s.low_freq_factor) || !(s.low_freq_factor > 0.0f))) {
    return false;
  }
  if (s.freq_factors)
    for (size_t i = 0; i < rotary_dim / 2; ++i)
      if (!(s.freq_factors[i] > 0.0f && s.freq_factors[i] < 1e30f)) return false;
  const double kTwoPi = 6.283185307179586476925286766559;
  const size_t half = rotary_dim / 2;
  for (size_t i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(theta), -2.0 * static_cast<double>(i) / rotary_dim);
    if (s.type == RopeScalingType::kLinear) {
      f /= s.factor;
    } else if (s.type == RopeScalingType::kLlama3) {
      const double ctx = s.original_context;
      const double wavelen = kTwoPi / f;
      const double low_wavelen = ctx / s.low_freq_factor;    // longer than this: scaled
      const double high_wavelen = ctx / s.high_freq_factor;  // shorter than this: kept
      if (wavelen > low_wavelen) {
        f /= s.factor;
      } else if (wavelen >= high_wavelen) {  // medium band: interpolate
        const double smooth =
            (ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
    if (s.freq_factors) f /= s.freq_factors[i];
    inv_freq[i] = static_cast<float>(f);
  }
  return true;
}

void RopeCosSin(size_t pos, const float* inv_freq, size_t n_pairs, float* cos, float* sin, float mscale) {
  for (size_t i = 0; i < n_pairs; ++i) {
    const double angle = static_cast<double>(pos) * inv_freq[i];
    cos[i] = static_cast<float>(std::cos(angle) * mscale);
    sin[i] = static_cast<float>(std::sin(angle) * mscale);
  }
}

}  // namespace arch
}  // namespace qlite
