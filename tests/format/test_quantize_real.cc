// Quantizers on real trained weights (stories260K's token embedding table): the I4 scale
// search must never lose to llama.cpp's Q4_0 rule (scale = max-abs / -8), and every
// scheme stays inside its documented bound.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include "qlite/format/quantize.h"
#include "../common/test_data.h"

namespace qlite {
namespace {

// llama2.c v0 header: 7 int32 (dim, hidden, layers, heads, kv_heads, vocab, seq), then
// the token embedding table [vocab][dim] as f32.
bool LoadEmbeddings(const std::string& path, std::vector<float>* out, uint64_t* rows, uint64_t* cols) {
  std::ifstream f(path, std::ios::binary);
  int32_t h[7];
  if (!f.read(reinterpret_cast<char*>(h), sizeof h)) return false;
  *rows = static_cast<uint64_t>(std::abs(h[5]));
  *cols = static_cast<uint64_t>(h[0]);
  out->resize(*rows * *cols);
  return static_cast<bool>(f.read(reinterpret_cast<char*>(out->data()), out->size() * 4));
}

// Reference Q4_0 (llama.cpp's rule) with F16 scales, for comparison.
double Q4_0Sse(const std::vector<float>& x) {
  double sse = 0;
  for (size_t b = 0; b < x.size(); b += 32) {
    float mx = 0;
    for (size_t i = b; i < b + 32; ++i)
      if (std::fabs(x[i]) > std::fabs(mx)) mx = x[i];
    const float d = F16ToF32(F32ToF16(mx / -8.0f)), inv = d != 0 ? 1.0f / d : 0.0f;
    for (size_t i = b; i < b + 32; ++i) {
      const float q = std::fmin(15.0f, std::fmax(0.0f, std::round(x[i] * inv) + 8.0f));
      sse += std::pow(x[i] - (q - 8.0f) * d, 2);
    }
  }
  return sse;
}

TEST(QuantizeReal, I4NoWorseThanQ4_0OnStories260K) {
  QLITE_REQUIRE_DATA(path, "stories260K/stories260K.bin");
  std::vector<float> x;
  uint64_t rows = 0, cols = 0;
  ASSERT_TRUE(LoadEmbeddings(path, &x, &rows, &cols));
  ASSERT_EQ(cols % 32, 0u);
  QuantSpec spec;
  spec.dtype = fb::DType::I4;
  QuantizedTensor q;
  ASSERT_TRUE(Quantize(x.data(), rows, cols, spec, &q).ok());
  std::vector<float> y(x.size());
  ASSERT_TRUE(Dequantize(ViewOf(q), y.data()).ok());
  double sse = 0;
  for (size_t i = 0; i < x.size(); ++i) sse += std::pow(x[i] - y[i], 2);
  const double ref = Q4_0Sse(x);
  EXPECT_LE(sse, ref * 1.001);
  RecordProperty("i4_vs_q4_0_sse_ratio", std::to_string(sse / ref));

  for (fb::DType t : {fb::DType::I8, fb::DType::U4, fb::DType::NF4}) {
    spec.dtype = t;
    ASSERT_TRUE(Quantize(x.data(), rows, cols, spec, &q).ok());
    ASSERT_TRUE(Dequantize(ViewOf(q), y.data()).ok());
    for (size_t b = 0; b < x.size(); b += 32) {
      float amax = 0, lo = INFINITY, hi = -INFINITY;
      for (size_t i = b; i < b + 32; ++i) amax = std::fmax(amax, std::fabs(x[i])), lo = std::fmin(lo, x[i]), hi = std::fmax(hi, x[i]);
      const float bound = (t == fb::DType::I8 ? amax / 254 : t == fb::DType::U4 ? (hi - lo) / 30 : 0.152f * amax) * 1.01f + 1e-6f;
      for (size_t i = b; i < b + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), bound) << int(t) << " at " << i;
    }
  }
}

}  // namespace
}  // namespace qlite
