// The SIMD stages of Quantize (I4/I8 groups, format/src/quantize_fast.cc) on every Highway
// target this CPU runs store what the scalar stages store: Interleave16x4 takes the scalar
// stages, so both layouts must dequantize to the same bits. The inputs include the groups
// where the SIMD search defers to the scalar one (zeros, exact ties, tiny and huge values).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "../../format/src/quantize_fast.h"  // internal: the SIMD scale search, tested directly
#include "hwy/targets.h"
#include "qlite/format/quantize.h"

namespace qlite {
namespace {

std::vector<float> Inputs(uint64_t rows, uint64_t cols, uint64_t len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.02f);
  std::vector<float> v(rows * cols);
  for (float& x : v) x = d(rng);
  const uint64_t groups = rows * cols / len;
  for (uint64_t g = 0; g < groups; ++g) {
    float* p = v.data() + g * len;
    switch (g % 11) {
      case 1: std::fill(p, p + len, 0.0f); break;                             // all zero
      case 2: std::fill(p, p + len, 0.0f), p[len / 2] = -0.3f; break;         // one value: every k ties
      case 3: for (uint64_t i = 0; i < len; ++i) p[i] = 0.01f * (int(i % 15) - 7); break;  // exact codes
      case 4: for (uint64_t i = 0; i < len; ++i) p[i] *= 1e-33f; break;        // below the float-sum range
      case 5: p[3] = -p[3] * 40.0f; break;                                     // outlier
      case 6: p[0] = 0.05f, p[1] = -0.05f; break;                              // two of the largest magnitude
      default: break;
    }
  }
  return v;
}

std::vector<float> StoredValues(const QuantizedTensor& q) {
  std::vector<float> out(q.rows * q.cols);
  EXPECT_TRUE(Dequantize(ViewOf(q), out.data()).ok());
  return out;
}

TEST(QuantizeSimd, EveryTargetStoresWhatTheScalarStagesStore) {
  const uint64_t rows = 48, cols = 256;
  int targets = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++targets;
    for (fb::DType dt : {fb::DType::I4, fb::DType::I8})
      for (uint32_t len : {32u, 64u, 128u})
        for (fb::DType st : {fb::DType::F16, fb::DType::F32}) {
          const std::vector<float> x = Inputs(rows, cols, len, len * 7 + static_cast<uint32_t>(dt));
          QuantSpec spec;
          spec.dtype = dt;
          spec.group_size = len;
          spec.scale_type = st;
          QuantizedTensor simd, scalar;
          ASSERT_TRUE(Quantize(x.data(), rows, cols, spec, &simd).ok());
          spec.layout = fb::Layout::Interleave16x4;  // the scalar stages
          ASSERT_TRUE(Quantize(x.data(), rows, cols, spec, &scalar).ok());
          const std::vector<float> a = StoredValues(simd), b = StoredValues(scalar);
          ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)))
              << hwy::TargetName(target) << " dtype " << int(dt) << " group " << len << " scale " << int(st);
        }
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GT(targets, 0);
}

// Scales beyond F16's range take F32 scales; values far above the float sums' range go to
// the scalar search.
TEST(QuantizeSimd, HugeValuesWithF32Scales) {
  const uint64_t rows = 16, cols = 64;
  std::vector<float> x = Inputs(rows, cols, 32, 3);
  for (float& v : x) v *= 1e20f;
  QuantSpec spec;
  spec.dtype = fb::DType::I4;
  spec.scale_type = fb::DType::F32;
  QuantizedTensor simd, scalar;
  ASSERT_TRUE(Quantize(x.data(), rows, cols, spec, &simd).ok());
  spec.layout = fb::Layout::Interleave16x4;
  ASSERT_TRUE(Quantize(x.data(), rows, cols, spec, &scalar).ok());
  EXPECT_EQ(StoredValues(simd), StoredValues(scalar));
}


// The I4 scale rule as FORMAT.md's q4 states it, written out independently of quantize.cc:
// mx the group's first value of the largest magnitude, scale mx / -k for the first k in
// {8, 7.75, 7.5, 7.25, 7} of least squared error (codes round half away from zero, 0..15;
// each error a float, squared and summed in double).
std::atomic<uint64_t> g_reference_calls{0};
float ReferenceI4Scale(const float* p, uint64_t len) {
  ++g_reference_calls;
  float amax = 0.0f, mx = 0.0f;
  for (uint64_t i = 0; i < len; ++i) amax = std::max(amax, std::fabs(p[i]));
  for (uint64_t i = 0; i < len && mx == 0.0f; ++i)
    if (std::fabs(p[i]) == amax) mx = p[i];
  if (mx == 0.0f) return 0.0f;
  float best = 0.0f;
  double best_err = 0.0;
  for (float k : {8.0f, 7.75f, 7.5f, 7.25f, 7.0f}) {
    const float d = mx / -k, inv = 1.0f / d;
    double err = 0.0;
    for (uint64_t i = 0; i < len; ++i) {
      float t = std::min(std::max(p[i] * inv, -1e6f), 1e6f);
      const int code = std::min(std::max(static_cast<int>(t + (t >= 0.0f ? 0.5f : -0.5f)) + 8, 0), 15);
      const double e = p[i] - (code - 8) * d;
      err += e * e;
    }
    if (k == 8.0f || err < best_err) best = d, best_err = err;
  }
  return best;
}

float RoundToF16(float x) {  // what an f16 source holds (round to nearest even, normal range)
  int e;
  std::frexp(x, &e);
  const float q = std::ldexp(1.0f, e - 11);
  return std::nearbyint(x / q) * q;
}

// The SIMD search's scales equal the rule's bit for bit on every target, over many groups
// of several distributions (f16-rounded ones put t = x / d exactly on half codes often), and
// it defers to the scalar search for few of them (else its speed would be the scalar one's).
TEST(QuantizeSimd, I4ScaleSearchMatchesTheRule) {
  const uint64_t groups = 1 << 13;
  int targets = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    for (uint64_t len : {32u, 64u, 128u})
      for (int dist = 0; dist < 4; ++dist) {
        std::mt19937 rng(static_cast<uint32_t>(len * 10 + dist));
        std::normal_distribution<float> normal(0.0f, 0.02f);
        std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
        std::vector<float> x(groups * len);
        for (float& v : x) {
          switch (dist) {
            case 0: v = normal(rng); break;
            case 1: v = RoundToF16(normal(rng)); break;
            case 2: v = uniform(rng) * 3.0f; break;
            default: v = RoundToF16(normal(rng) * normal(rng) * 50.0f); break;  // heavy tails
          }
        }
        std::vector<float> fast(groups), want(groups);
        g_reference_calls = 0;
        if (!quant::I4ScalesFast(x.data(), groups, len, ReferenceI4Scale, fast.data())) continue;
        const uint64_t deferred = g_reference_calls;
        for (uint64_t g = 0; g < groups; ++g) want[g] = ReferenceI4Scale(x.data() + g * len, len);
        ++targets;
        ASSERT_EQ(0, std::memcmp(fast.data(), want.data(), groups * sizeof(float)))
            << hwy::TargetName(target) << " group " << len << " distribution " << dist;
        EXPECT_LT(deferred, groups / 50) << hwy::TargetName(target) << " group " << len << " distribution " << dist;
      }
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GT(targets, 0);
}

// The SIMD f16 -> f32 decoding (GGUF f16 tensors, f16 scales) equals F16ToF32 for every
// half on every target, Inf and NaN included (the converter refuses those), NaN payloads
// aside.
TEST(QuantizeSimd, F16DecodingMatchesTheScalarOne) {
  std::vector<uint16_t> halves(1 << 16);
  for (uint32_t h = 0; h < halves.size(); ++h) halves[h] = static_cast<uint16_t>(h);
  int targets = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++targets;
    std::vector<float> got(halves.size() - 1);  // an odd length: a tail
    quant::F16ToF32(halves.data(), got.size(), got.data());
    for (size_t h = 0; h < got.size(); ++h) {
      const float want = F16ToF32(halves[h]);  // NaN payloads may be quieted
      ASSERT_TRUE(std::isnan(want) ? std::isnan(got[h]) : std::memcmp(&got[h], &want, 4) == 0)
          << hwy::TargetName(target) << " half 0x" << std::hex << h;
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GT(targets, 0);
}

// The SIMD f32 -> f16 encoding stores F32ToF16's halves on every target: every exponent
// (subnormal results, overflow to Inf, Inf, NaN), the rounding ties, random bit patterns,
// and lengths that leave a tail.
TEST(QuantizeSimd, F16EncodingMatchesTheScalarOne) {
  std::vector<float> x;
  auto push = [&](uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    x.push_back(f);
  };
  for (uint32_t sign : {0u, 0x80000000u})
    for (uint32_t exp = 0; exp < 256; ++exp)
      for (uint32_t mant : {0u, 1u, 0xfffu, 0x1000u, 0x1001u, 0x1fffu, 0x2000u, 0x3000u, 0x5000u, 0x7fe000u,
                            0x7fefffu, 0x7ff000u, 0x7fffffu, 0x400000u, 0x401000u, 0x123456u})
        push(sign | exp << 23 | mant);
  for (uint32_t exp = 100; exp < 114; ++exp)  // subnormal halves: ties at every shift
    for (uint32_t k = 0; k < 64; ++k) push(exp << 23 | (k << (exp < 103 ? 20 : 14 - (113 - exp) + 9)));
  std::mt19937 rng(7);
  for (int i = 0; i < 1 << 16; ++i) push(static_cast<uint32_t>(rng()));
  int targets = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++targets;
    for (size_t n : {x.size(), x.size() - 1, size_t{3}}) {
      std::vector<uint8_t> halves(2 * n);
      std::vector<float> decoded(n);
      quant::F32ToF16(x.data(), n, halves.data(), decoded.data());
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, &halves[2 * i], 2);
        ASSERT_EQ(h, F32ToF16(x[i])) << hwy::TargetName(target) << " value " << x[i] << " index " << i;
        const float want = F16ToF32(h);
        ASSERT_EQ(0, std::memcmp(&decoded[i], &want, 4)) << hwy::TargetName(target) << " index " << i;
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GT(targets, 0);
}

}  // namespace
}  // namespace qlite
