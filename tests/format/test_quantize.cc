// Quantizer round trips (documented per-scheme error bounds), exact packing, edge cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "qlite/format/quantize.h"

namespace qlite {
namespace {

using fb::DType;
using fb::Granularity;
using fb::Layout;

std::vector<float> Random(uint64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

QuantSpec Spec(DType t, Granularity g = Granularity::Group, uint32_t gs = 32, DType st = DType::F16,
               Layout l = Layout::RowMajor) {
  QuantSpec s;
  s.dtype = t;
  s.granularity = g;
  s.group_size = gs;
  s.scale_type = st;
  s.layout = l;
  return s;
}

// Per-element bound from the group's statistics (see quantize.cc's header comment),
// with slack for the rounding of F16 scales or one U8 step of double quantization.
void CheckBounds(const std::vector<float>& x, const std::vector<float>& y, uint64_t rows, uint64_t cols,
                 const QuantSpec& s) {
  const uint64_t glen = s.granularity == Granularity::Group ? s.group_size : cols;
  // Widest U8 scale step over the tensor (double quantization adds up to one).
  float dq_slack = 0.0f;
  auto check_group = [&](uint64_t begin_r, uint64_t end_r, uint64_t c0, uint64_t c1) {
    float amax = 0, lo = INFINITY, hi = -INFINITY;
    for (uint64_t r = begin_r; r < end_r; ++r)
      for (uint64_t c = c0; c < c1; ++c) {
        const float v = x[r * cols + c];
        amax = std::max(amax, std::fabs(v));
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    float bound = 0;
    switch (s.dtype) {
      case DType::I8: bound = amax / 254; break;
      case DType::I4: bound = amax / 8; break;
      case DType::U4: bound = (hi - lo) / 30; break;
      case DType::NF4: bound = 0.1520f * amax; break;
      default: break;
    }
    bound = bound * 1.01f + 1e-6f + dq_slack;
    for (uint64_t r = begin_r; r < end_r; ++r)
      for (uint64_t c = c0; c < c1; ++c)
        ASSERT_LE(std::fabs(x[r * cols + c] - y[r * cols + c]), bound)
            << "dtype " << int(s.dtype) << " r " << r << " c " << c << " x " << x[r * cols + c];
  };
  if (s.scale_type == DType::U8) dq_slack = 0.05f;  // N(0,1) data: the scale range / 255 * 15
  if (s.granularity == Granularity::PerTensor) return check_group(0, rows, 0, cols);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; c += glen) check_group(r, r + 1, c, std::min(cols, c + glen));
}

TEST(Quantize, RoundTripAllSchemes) {
  const uint64_t rows = 7, cols = 172;  // 172: not a multiple of 32 or of any group size
  const auto x = Random(rows * cols, 1);
  for (DType t : {DType::I8, DType::I4, DType::U4, DType::NF4})
    for (Granularity g : {Granularity::PerTensor, Granularity::PerRow, Granularity::Group})
      for (uint32_t gs : {32u, 64u, 128u})
        for (DType st : {DType::F16, DType::F32, DType::U8})
          for (Layout l : {Layout::RowMajor, Layout::Interleave4x32, Layout::Interleave16x4}) {
            QuantSpec s = Spec(t, g, gs, st, l);
            s.dq_block = 4;  // several second-level blocks even for a small tensor
            QuantizedTensor q;
            ASSERT_TRUE(Quantize(x.data(), rows, cols, s, &q).ok());
            EXPECT_EQ(q.row_stride, RowStrideBytes(t, cols));
            EXPECT_EQ(q.data.size(), StoredRows(s, rows) * q.row_stride);
            EXPECT_EQ(q.scales.size(), NumScales(s, rows, cols) * ScaleTypeBytes(st));
            EXPECT_EQ(q.dq_scales.size(), NumDqEntries(s, rows, cols) * 4);
            std::vector<float> y(rows * cols, NAN);
            ASSERT_TRUE(Dequantize(ViewOf(q), y.data()).ok());
            CheckBounds(x, y, rows, cols, s);
            std::vector<float> row(cols);
            ASSERT_TRUE(DequantizeRow(ViewOf(q), 5, row.data()).ok());
            EXPECT_EQ(0, std::memcmp(row.data(), &y[5 * cols], cols * 4));
          }
}

TEST(Quantize, InterleaveIsAPermutationOfRowMajor) {
  const uint64_t rows = 6, cols = 96;
  const auto x = Random(rows * cols, 2);
  for (DType t : {DType::I8, DType::I4}) {
    QuantizedTensor a, b;
    ASSERT_TRUE(Quantize(x.data(), rows, cols, Spec(t), &a).ok());
    ASSERT_TRUE(Quantize(x.data(), rows, cols, Spec(t, Granularity::Group, 32, DType::F16, Layout::Interleave4x32), &b).ok());
    const uint64_t bb = t == DType::I8 ? 32 : 16;
    ASSERT_EQ(b.data.size(), 8 * a.row_stride);
    for (uint64_t r = 0; r < rows; ++r)
      for (uint64_t k = 0; k < cols / 32; ++k)
        EXPECT_EQ(0, std::memcmp(&a.data[r * a.row_stride + k * bb],
                                 &b.data[(r / 4) * 4 * a.row_stride + k * 4 * bb + (r % 4) * bb], bb));
    EXPECT_EQ(a.scales, b.scales);
    // Padding rows 6 and 7 decode to zero codes.
    const uint8_t pad = t == DType::I4 ? 0x88 : 0;
    for (uint64_t k = 0; k < cols / 32; ++k)
      for (uint64_t i = 2; i < 4; ++i)
        for (uint64_t j = 0; j < bb; ++j) EXPECT_EQ(b.data[4 * a.row_stride + k * 4 * bb + i * bb + j], pad);
  }
}

// Interleave16x4: the RowMajor bytes' 4-byte words, 16 rows side by side; the scales (and
// U4 mins) grouped the same way with zero entries for the padding rows.
TEST(Quantize, Interleave16IsAPermutationOfRowMajor) {
  const uint64_t rows = 21, cols = 100;  // a whole group and a partial one; a partial block
  const auto x = Random(rows * cols, 3);
  for (DType t : {DType::I8, DType::I4, DType::U4, DType::NF4}) {
    for (Granularity g : {Granularity::Group, Granularity::PerRow}) {
      QuantizedTensor a, b;
      ASSERT_TRUE(Quantize(x.data(), rows, cols, Spec(t, g, 64, DType::F16), &a).ok());
      ASSERT_TRUE(Quantize(x.data(), rows, cols, Spec(t, g, 64, DType::F16, Layout::Interleave16x4), &b).ok());
      const uint64_t stride = a.row_stride, gpr = GroupsPerRow(a.spec, cols);
      ASSERT_EQ(b.data.size(), 32 * stride);
      ASSERT_EQ(b.scales.size(), 32 * gpr * 2);
      for (uint64_t r = 0; r < 32; ++r) {
        for (uint64_t w = 0; w < stride / 4; ++w) {
          const uint8_t* got = &b.data[(r / 16) * 16 * stride + w * 64 + (r % 16) * 4];
          if (r < rows) {
            EXPECT_EQ(0, std::memcmp(got, &a.data[r * stride + 4 * w], 4)) << r << " " << w;
          } else {  // padding rows: pad codes
            const uint8_t pad = t == DType::I4 ? 0x88 : t == DType::NF4 ? 0x77 : 0;
            for (int k = 0; k < 4; ++k) EXPECT_EQ(got[k], pad);
          }
        }
        for (uint64_t k = 0; k < gpr; ++k) {
          const uint64_t i = ScaleIndex(b.spec, gpr, r, k);
          EXPECT_EQ(i, ((r / 16) * gpr + k) * 16 + r % 16);
          const uint8_t zero[2] = {0, 0};
          const uint8_t* want = r < rows ? &a.scales[2 * (r * gpr + k)] : zero;
          EXPECT_EQ(0, std::memcmp(&b.scales[2 * i], want, 2)) << r << " " << k;
          if (t == DType::U4) {
            EXPECT_EQ(0, std::memcmp(&b.mins[2 * i], r < rows ? &a.mins[2 * (r * gpr + k)] : zero, 2));
          }
        }
      }
    }
  }
}

TEST(Quantize, ExactI4Packing) {
  // Values -8..7 times 0.5 with a max-abs of -4 (maps to q=0 exactly, scale 0.5).
  std::vector<float> x(40);
  for (int i = 0; i < 40; ++i) x[i] = ((i % 16) - 8) * 0.5f;
  QuantizedTensor q;
  ASSERT_TRUE(Quantize(x.data(), 1, 40, Spec(DType::I4, Granularity::PerRow, 0, DType::F32), &q).ok());
  float s;
  std::memcpy(&s, q.scales.data(), 4);
  EXPECT_EQ(s, 0.5f);
  ASSERT_EQ(q.data.size(), 32u);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q.data[j], (j & 15) | (((j + 16) & 15) << 4)) << j;
  // Second block: cols 32..39 hold codes 0..7, the padding holds code 8.
  for (int j = 0; j < 16; ++j) {
    const int lo = j < 8 ? j : 8, hi = 8;
    EXPECT_EQ(q.data[16 + j], lo | (hi << 4)) << j;
  }
}

TEST(Quantize, ExactI8AndU4AndNf4) {
  std::vector<float> x = {127.0f, -127.0f, 1.0f, 0.4f, 0.6f};
  QuantizedTensor q;
  ASSERT_TRUE(Quantize(x.data(), 1, 5, Spec(DType::I8, Granularity::PerRow, 0, DType::F32), &q).ok());
  const std::vector<uint8_t> want = {127, 129, 1, 0, 1};
  EXPECT_TRUE(std::equal(want.begin(), want.end(), q.data.begin()));
  EXPECT_TRUE(std::all_of(q.data.begin() + 5, q.data.end(), [](uint8_t b) { return b == 0; }));

  std::vector<float> u = {1.0f, 16.0f, 2.0f, 8.5f};  // min 1, scale 1
  ASSERT_TRUE(Quantize(u.data(), 1, 4, Spec(DType::U4, Granularity::PerRow, 0, DType::F32), &q).ok());
  EXPECT_EQ(q.data[0], 0 | (0 << 4));
  EXPECT_EQ(q.data[1], 15);
  EXPECT_EQ(q.data[2], 1);
  float m;
  std::memcpy(&m, q.mins.data(), 4);
  EXPECT_EQ(m, 1.0f);

  std::vector<float> n = {-2.0f, 0.0f, 2.0f, 0.16f};  // absmax 2: levels 0, 7, 15, nearest to 0.08 -> 8
  ASSERT_TRUE(Quantize(n.data(), 1, 4, Spec(DType::NF4, Granularity::PerRow, 0, DType::F32), &q).ok());
  EXPECT_EQ(q.data[0], 0 | (7 << 4));  // col 0 = level 0, col 16 = padding level 7
  EXPECT_EQ(q.data[1], 7 | (7 << 4));
  EXPECT_EQ(q.data[2], 15 | (7 << 4));
  EXPECT_EQ(q.data[3], 8 | (7 << 4));
  EXPECT_EQ(kNf4Levels[7], 0.0f);
}

TEST(Quantize, FloatStores) {
  const auto x = Random(3 * 50, 3, 10.0f);
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    QuantizedTensor q;
    ASSERT_TRUE(Quantize(x.data(), 3, 50, Spec(t), &q).ok());
    std::vector<float> y(x.size());
    ASSERT_TRUE(Dequantize(ViewOf(q), y.data()).ok());
    const float rel = t == DType::F32 ? 0 : t == DType::F16 ? 1.0f / 2048 : 1.0f / 256;
    for (size_t i = 0; i < x.size(); ++i) EXPECT_LE(std::fabs(x[i] - y[i]), std::fabs(x[i]) * rel) << i;
  }
  // Round-to-nearest-even on exact ties.
  EXPECT_EQ(F32ToF16(1.0f + 1.0f / 2048), 0x3c00);           // tie, even stays
  EXPECT_EQ(F32ToF16(1.0f + 3.0f / 2048), 0x3c02);           // tie, odd rounds up
  EXPECT_EQ(F32ToBF16(1.0f + 1.0f / 256), 0x3f80);
  EXPECT_EQ(F32ToBF16(1.0f + 3.0f / 256), 0x3f82);
  EXPECT_EQ(F16ToF32(F32ToF16(6e-8f)), std::ldexp(1.0f, -24));  // subnormal
  EXPECT_EQ(F16ToF32(0x7bff), 65504.0f);
  const float big = 1e6f;
  QuantizedTensor q;
  EXPECT_FALSE(Quantize(&big, 1, 1, Spec(DType::F16), &q).ok());
}

TEST(Quantize, AllZerosAndOneOutlier) {
  std::vector<float> z(2 * 64, 0.0f);
  for (DType t : {DType::I8, DType::I4, DType::U4, DType::NF4})
    for (DType st : {DType::F16, DType::U8}) {
      QuantizedTensor q;
      ASSERT_TRUE(Quantize(z.data(), 2, 64, Spec(t, Granularity::Group, 32, st), &q).ok());
      std::vector<float> y(z.size(), 1.0f);
      ASSERT_TRUE(Dequantize(ViewOf(q), y.data()).ok());
      for (float v : y) EXPECT_EQ(v, 0.0f);
    }
  // One outlier in a group: the other groups keep their precision.
  auto x = Random(128, 4, 0.01f);
  x[3] = 100.0f;
  QuantizedTensor q;
  ASSERT_TRUE(Quantize(x.data(), 1, 128, Spec(DType::I4), &q).ok());
  std::vector<float> y(128);
  ASSERT_TRUE(Dequantize(ViewOf(q), y.data()).ok());
  EXPECT_NEAR(y[3], 100.0f, 0.1f);
  for (int i = 32; i < 128; ++i) EXPECT_NEAR(y[i], x[i], 0.01f);
}

TEST(Quantize, RejectsBadInput) {
  std::vector<float> x(64, 1.0f);
  QuantizedTensor q;
  x[10] = NAN;
  EXPECT_EQ(Quantize(x.data(), 1, 64, Spec(DType::I4), &q).code(), StatusCode::kInvalidArgument);
  x[10] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Quantize(x.data(), 1, 64, Spec(DType::F16), &q).code(), StatusCode::kInvalidArgument);
  x[10] = 1.0f;
  EXPECT_FALSE(Quantize(x.data(), 1, 64, Spec(DType::I4, Granularity::Group, 48), &q).ok());
  EXPECT_FALSE(Quantize(x.data(), 1, 64, Spec(DType::I4, Granularity::Group, 0), &q).ok());
  EXPECT_FALSE(Quantize(x.data(), 1, 64, Spec(DType::I4, Granularity::Group, 32, DType::I8), &q).ok());
  EXPECT_FALSE(Quantize(x.data(), 1, 64, Spec(DType::U8), &q).ok());
  EXPECT_FALSE(Quantize(x.data(), 0, 64, Spec(DType::I8), &q).ok());
  EXPECT_FALSE(Quantize(x.data(), 1, 64, Spec(DType::F32, Granularity::Group, 32, DType::F16, Layout::Interleave4x32), &q).ok());
  std::vector<float> huge(32, 1e9f);  // I8 scale 7.9e6 does not fit F16
  EXPECT_FALSE(Quantize(huge.data(), 1, 32, Spec(DType::I8), &q).ok());
  EXPECT_TRUE(Quantize(huge.data(), 1, 32, Spec(DType::I8, Granularity::Group, 32, DType::F32), &q).ok());
  ASSERT_TRUE(Quantize(x.data(), 1, 64, Spec(DType::I8), &q).ok());
  std::vector<float> y(64);
  EXPECT_FALSE(DequantizeRow(ViewOf(q), 1, y.data()).ok());
}

}  // namespace
}  // namespace qlite
