// The SIMD stages of Quantize (I4/I8 groups, format/src/quantize_fast.cc) on every Highway
// target this CPU runs store what the scalar stages store: Interleave16x4 takes the scalar
// stages, so both layouts must dequantize to the same bits. The inputs include the groups
// where the SIMD search defers to the scalar one (zeros, exact ties, tiny and huge values).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

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

}  // namespace
}  // namespace qlite
