// The format's quantizers and the arch kernels must read the same bytes the same way:
// for every storage scheme and layout, GEMV over the stored weights equals
// format::Dequantize(W)·x (and GemvQ8 the same with the quantized x).
// (Kernel-vs-scalar-reference tests alone cannot catch a convention both sides share.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "model.h"
#include "qlite/arch/matmul.h"
#include "qlite/format/quantize.h"

namespace qlite {
namespace {

struct Case {
  fb::DType dtype;
  fb::Granularity granularity;
  uint32_t group_size;
  fb::DType scale_type;
  fb::Layout layout;
};

TEST(WeightsAgree, KernelsReadWhatTheQuantizerWrote) {
  // cols not a multiple of 32 or of the group; rows: two 16-row groups and a partial third
  const uint64_t rows = 37, cols = 172;
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> w(rows * cols), x(cols);
  for (float& v : w) v = dist(rng) + 0.01f;  // an offset, so U4 mins matter
  for (float& v : x) v = dist(rng) * 20.0f;

  std::vector<Case> cases;
  for (fb::DType t : {fb::DType::I8, fb::DType::I4, fb::DType::U4, fb::DType::NF4}) {
    for (fb::DType st : {fb::DType::F16, fb::DType::F32, fb::DType::U8}) {
      cases.push_back({t, fb::Granularity::Group, 32, st, fb::Layout::RowMajor});
      cases.push_back({t, fb::Granularity::Group, 64, st, fb::Layout::Interleave4x32});
      cases.push_back({t, fb::Granularity::PerRow, 0, st, fb::Layout::RowMajor});
      cases.push_back({t, fb::Granularity::Group, 32, st, fb::Layout::Interleave16x4});
      cases.push_back({t, fb::Granularity::Group, 64, st, fb::Layout::Interleave16x4});
      cases.push_back({t, fb::Granularity::PerRow, 0, st, fb::Layout::Interleave16x4});
    }
  }
  for (fb::DType t : {fb::DType::F32, fb::DType::F16, fb::DType::BF16}) {
    cases.push_back({t, fb::Granularity::PerTensor, 0, fb::DType::F16, fb::Layout::RowMajor});
  }

  for (const Case& c : cases) {
    QuantSpec spec;
    spec.dtype = c.dtype;
    spec.granularity = c.granularity;
    spec.group_size = c.group_size;
    spec.scale_type = c.scale_type;
    spec.dq_block = 4;  // several second-level blocks even for this small matrix
    spec.layout = c.layout;
    QuantizedTensor q;
    Status s = Quantize(w.data(), rows, cols, spec, &q);
    ASSERT_TRUE(s.ok()) << s.message();
    const QuantizedView view = ViewOf(q);
    std::vector<float> deq(rows * cols);
    ASSERT_TRUE(Dequantize(view, deq.data()).ok());

    const arch::WeightMatrix m = ToWeightMatrix(view);
    ASSERT_EQ(arch::CheckWeightMatrix(m), nullptr);
    std::vector<float> y(rows);
    arch::Gemv(m, x.data(), y.data(), nullptr);
    for (uint64_t r = 0; r < rows; ++r) {
      double ref = 0.0, mag = 0.0;
      for (uint64_t k = 0; k < cols; ++k) {
        ref += static_cast<double>(deq[r * cols + k]) * x[k];
        mag += std::fabs(static_cast<double>(deq[r * cols + k]) * x[k]);
      }
      EXPECT_NEAR(y[r], ref, 1e-5 * mag + 1e-6)
          << "dtype " << fb::EnumNameDType(c.dtype) << " scales " << fb::EnumNameDType(c.scale_type)
          << " group " << c.group_size << " layout " << fb::EnumNameLayout(c.layout) << " row " << r;
    }
    // The int8-activation kernels (the decode path) against the same dequantized weights
    // times the quantized activations: equal up to f32 rounding. NF4 there uses the int8
    // levels (matmul.h), so it is left to the Gemv check above.
    if (c.dtype == fb::DType::F32 || c.dtype == fb::DType::F16 || c.dtype == fb::DType::BF16 ||
        c.dtype == fb::DType::NF4) {
      continue;
    }
    std::vector<uint8_t> xq_buf(arch::QuantizedActivationsBytes(cols) + 64);
    void* aligned = xq_buf.data() + (64 - reinterpret_cast<uintptr_t>(xq_buf.data()) % 64) % 64;
    arch::QuantizedActivations xq = arch::BindQuantizedActivations(aligned, cols);
    arch::QuantizeActivations(x.data(), cols, &xq);
    arch::GemvQ8(m, xq, y.data(), nullptr);
    for (uint64_t r = 0; r < rows; ++r) {
      double ref = 0.0, mag = 0.0;
      for (uint64_t k = 0; k < cols; ++k) {
        const double p = static_cast<double>(deq[r * cols + k]) * xq.q[k] * xq.scales[k / 32];
        ref += p;
        mag += std::fabs(p);
      }
      EXPECT_NEAR(y[r], ref, 1e-5 * mag + 1e-6)
          << "GemvQ8 dtype " << fb::EnumNameDType(c.dtype) << " scales " << fb::EnumNameDType(c.scale_type)
          << " group " << c.group_size << " layout " << fb::EnumNameLayout(c.layout) << " row " << r;
    }
  }
}

}  // namespace
}  // namespace qlite
