// Host-side tests of the CUDA port's weight preparation (run without a GPU): every .qlm
// scheme the port accepts must decode, after conversion to the device layout, to what
// FORMAT.md says the file holds.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "cuda_test_util.h"
#include "qlite/cuda/model.h"
#include "qlite/cuda/weights.h"

namespace {

using namespace qlite_cuda_test;
using qlite::StatusCode;
using qlite::cuda::DecodeElement;
using qlite::F32ToF16;
using qlite::F16ToF32;
using qlite::cuda::HostMatrix;
using qlite::cuda::PrepareMatrix;
using qlite::fb::Granularity;
using qlite::fb::Layout;

TEST(CudaHalf, KnownValues) {
  EXPECT_EQ(F32ToF16(1.0f), 0x3C00);
  EXPECT_EQ(F32ToF16(-2.0f), 0xC000);
  EXPECT_EQ(F32ToF16(0.1f), 0x2E66);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);         // rounds to infinity
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -26)), 0x0000);  // rounds to zero
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie -> even
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(F32ToF16(INFINITY), 0x7C00);
  EXPECT_EQ(F32ToF16(NAN) & 0x7C00, 0x7C00);
  EXPECT_NE(F32ToF16(NAN) & 0x3FF, 0);
}

TEST(CudaHalf, EveryFiniteHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00) continue;  // inf / nan
    const float f = F16ToF32(static_cast<uint16_t>(h));
    ASSERT_EQ(F32ToF16(f), h) << "half 0x" << std::hex << h << " = " << f;
  }
  EXPECT_EQ(F16ToF32(0x3555), 0.333251953125f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));
}

// (dtype, layout, granularity + group size, scale type, cols)
using Scheme = std::tuple<DType, Layout, int, DType, int>;
class CudaPrepare : public ::testing::TestWithParam<Scheme> {};

TEST_P(CudaPrepare, DecodesLikeTheSpec) {
  const auto [dtype, layout, gran, scale_type, cols] = GetParam();
  QuantSpec spec;
  spec.dtype = dtype;
  spec.layout = layout;
  spec.scale_type = scale_type;
  spec.granularity = gran == 0 ? Granularity::PerTensor : gran == 1 ? Granularity::PerRow
                                                                    : Granularity::Group;
  spec.group_size = gran > 1 ? gran : 32;
  spec.dq_block = 16;
  std::mt19937 rng(cols * 7 + gran);
  const uint64_t rows = 7;  // not a multiple of 4: a padded Interleave4x32 group
  const QuantizedTensor t = RandomTensor(rows, cols, spec, &rng);
  HostMatrix host;
  ASSERT_TRUE(PrepareMatrix(View(t), &host).ok());
  const qlite::cuda::MatrixDesc d = host.View();
  ASSERT_EQ(d.blocks, (cols + 31) / 32);
  ASSERT_EQ(d.group_size % 32, 0u);
  // F16 scales are the device's own type (exact); F32 and U8 scales are rounded to f16.
  const float rel = scale_type == DType::F16 ? 0.0f : 1.0f / 1024;
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t c = 0; c < d.blocks * 32; ++c) {
      if (c >= static_cast<uint64_t>(cols)) {
        // Padding decodes to 0 (NF4[7] = 0); U4 relies on zero activations instead.
        if (dtype != DType::U4) ASSERT_EQ(DecodeElement(d, r, c), 0.0f) << r << "," << c;
        continue;
      }
      const float want = SpecDecode(View(t), r, c);
      ASSERT_NEAR(DecodeElement(d, r, c), want, rel * (std::fabs(want) + 1.2f) + 1e-7f) << r << "," << c;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Quantized, CudaPrepare,
    ::testing::Combine(::testing::Values(DType::I8, DType::I4, DType::U4, DType::NF4),
                       ::testing::Values(Layout::RowMajor, Layout::Interleave4x32),
                       ::testing::Values(0, 1, 32, 64, 128),
                       ::testing::Values(DType::F16, DType::F32), ::testing::Values(172, 64)));
INSTANTIATE_TEST_SUITE_P(DoubleQuantized, CudaPrepare,
                         ::testing::Combine(::testing::Values(DType::I8, DType::I4),
                                            ::testing::Values(Layout::RowMajor),
                                            ::testing::Values(32, 128),
                                            ::testing::Values(DType::U8),
                                            ::testing::Values(172, 256)));

TEST(CudaPrepareFloat, PadsRowsToBlocks) {
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    QuantSpec spec;
    spec.dtype = dt;
    std::mt19937 rng(3);
    const QuantizedTensor t = RandomTensor(5, 45, spec, &rng);
    HostMatrix host;
    ASSERT_TRUE(PrepareMatrix(View(t), &host).ok());
    const auto d = host.View();
    EXPECT_EQ(d.blocks, 2u);
    EXPECT_EQ(d.row_stride, dt == DType::F16 ? 128u : 256u);
    for (uint32_t r = 0; r < 5; ++r) {
      for (uint32_t c = 0; c < 64; ++c) {
        ASSERT_EQ(DecodeElement(d, r, c), c < 45 ? SpecDecode(View(t), r, c) : 0.0f);
      }
    }
  }
}

TEST(CudaPrepareErrors, RejectsWhatItCannotRun) {
  std::mt19937 rng(1);
  QuantSpec spec;
  spec.dtype = DType::I4;
  QuantizedTensor t = RandomTensor(4, 64, spec, &rng);
  HostMatrix host;
  QuantizedView v = View(t);
  v.row_stride = 31;
  EXPECT_EQ(PrepareMatrix(v, &host).code(), StatusCode::kFormat);
  v = View(t);
  v.scales = nullptr;
  EXPECT_EQ(PrepareMatrix(v, &host).code(), StatusCode::kFormat);
  v = View(t);
  v.spec.group_size = 48;
  EXPECT_EQ(PrepareMatrix(v, &host).code(), StatusCode::kUnsupported);
  v = View(t);
  v.spec.dtype = DType::U8;  // not a weight type
  EXPECT_EQ(PrepareMatrix(v, &host).code(), StatusCode::kUnsupported);
  v = View(t);
  v.spec.scale_type = DType::U8;  // no dq arrays
  EXPECT_EQ(PrepareMatrix(v, &host).code(), StatusCode::kFormat);
  v = View(t);
  v.data = nullptr;
  EXPECT_EQ(PrepareMatrix(v, &host).code(), StatusCode::kFormat);
  QuantSpec f;
  f.dtype = DType::F32;
  QuantizedTensor tf = RandomTensor(2, 10, f, &rng);
  v = View(tf);
  v.row_stride = 36;
  EXPECT_EQ(PrepareMatrix(v, &host).code(), StatusCode::kFormat);
}

// Layer parts the kernels lack are refused before anything is read or uploaded (host: the
// check comes before the device query).
TEST(CudaModelConfig, UnsupportedLayerPartsAreRefused) {
  qlite::ModelConfig base;
  base.dim = 64, base.n_layers = 1, base.n_heads = 2, base.n_kv_heads = 1, base.head_dim = 32;
  base.ffn_dim = 64, base.vocab_size = 16;
  int lookups = 0;
  const qlite::cuda::TensorLookup lookup = [&](const std::string&, qlite::QuantizedView*, bool* found) {
    ++lookups;
    *found = false;
    return qlite::Status::Ok();
  };
  std::vector<std::pair<const char*, qlite::ModelConfig>> cases(9, {"", base});
  cases[0].first = "q/k norms", cases[0].second.qk_norm = true;
  cases[1].first = "post-attention", cases[1].second.post_norms = true;
  cases[2].first = "activation", cases[2].second.ffn_activation = qlite::Activation::GeluTanh;
  cases[3].first = "embedding scale", cases[3].second.embedding_scale = 25.3f;
  cases[4].first = "query scale", cases[4].second.attn_scale = 0.0625f;
  cases[5].first = "local layers", cases[5].second.rope_local_theta = 10000.0f;
  cases[6].first = "soft-capping", cases[6].second.attn_softcap = 50.0f;
  cases[7].first = "without RoPE", cases[7].second.no_rope = {false};
  cases[8].first = "frequency factors", cases[8].second.rope_freq_factors.assign(16, 2.0f);
  for (const auto& c : cases) {
    std::unique_ptr<qlite::cuda::CudaModel> m;
    const qlite::Status st = qlite::cuda::CudaModel::Load(c.second, lookup, &m);
    EXPECT_EQ(st.code(), StatusCode::kUnsupported) << c.first;
    EXPECT_NE(st.message().find(c.first), std::string::npos) << st.message();
  }
  EXPECT_EQ(lookups, 0);
}

}  // namespace
