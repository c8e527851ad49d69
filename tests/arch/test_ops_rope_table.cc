// RoPE inverse-frequency tables (none / linear / Llama-3 scaling), cos/sin, f16 helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "qlite/arch/ops.h"

namespace qlite {
namespace arch {
namespace {

TEST(RopeTable, UnscaledIsThetaPower) {
  std::vector<float> f(32);
  ASSERT_TRUE(RopeInvFreq(10000.0f, 64, RopeScaling{}, f.data()));
  EXPECT_EQ(f[0], 1.0f);
  EXPECT_NEAR(f[1], 1.0 / std::pow(10000.0, 2.0 / 64), 1e-7);
  EXPECT_NEAR(f[16], 0.01f, 1e-9);  // 10000^(-32/64)
  for (size_t i = 1; i < f.size(); ++i) EXPECT_LT(f[i], f[i - 1]);
}

TEST(RopeTable, LinearDividesByFactor) {
  std::vector<float> base(64), lin(64);
  RopeScaling s;
  s.type = RopeScalingType::kLinear;
  s.factor = 4.0f;
  ASSERT_TRUE(RopeInvFreq(10000.0f, 128, RopeScaling{}, base.data()));
  ASSERT_TRUE(RopeInvFreq(10000.0f, 128, s, lin.data()));
  for (size_t i = 0; i < 64; ++i) EXPECT_FLOAT_EQ(lin[i], base[i] / 4.0f) << i;
}

// Llama 3.1: theta 500000, head 128, factor 8, low 1, high 4, original context 8192.
// Bands: wavelength 2*pi/f < 2048 kept, > 8192 divided by 8, else interpolated with
// s = (8192/wavelen - 1) / 3, f' = (1-s) f/8 + s f. Expected values computed by hand:
// i=30: f = 500000^(-60/128) = 0.00213112, wavelen = 2948.30, s = 0.592849,
//       f' = f * (0.407151/8 + 0.592849) = 0.00137189.
TEST(RopeTable, Llama3MatchesHandCheckedValues) {
  RopeScaling s;
  s.type = RopeScalingType::kLlama3;
  s.factor = 8.0f;
  s.low_freq_factor = 1.0f;
  s.high_freq_factor = 4.0f;
  s.original_context = 8192;
  std::vector<float> f(64);
  ASSERT_TRUE(RopeInvFreq(500000.0f, 128, s, f.data()));
  EXPECT_EQ(f[0], 1.0f);                                      // high frequency: kept
  EXPECT_NEAR(f[28], 0.003211445994752591, 1e-9);             // wavelen 1956 < 2048: kept
  EXPECT_NEAR(f[29], 0.002166570763503359, 1e-9);             // medium, s = 0.803621
  EXPECT_NEAR(f[30], 0.0013718935677611381, 1e-9);            // medium, s = 0.592849
  EXPECT_NEAR(f[34], 0.0001785078127679964, 1e-10);           // medium, s = 0.074527
  EXPECT_NEAR(f[35], 0.0007644969883171747 / 8, 1e-11);       // wavelen 8219 > 8192: /8
  EXPECT_NEAR(f[63], 2.455140791131609e-06 / 8, 1e-13);       // lowest frequency: /8
}

TEST(RopeTable, RejectsInvalidParameters) {
  std::vector<float> f(64, -1.0f);
  EXPECT_FALSE(RopeInvFreq(10000.0f, 0, RopeScaling{}, f.data()));
  EXPECT_FALSE(RopeInvFreq(10000.0f, 63, RopeScaling{}, f.data()));
  EXPECT_FALSE(RopeInvFreq(0.0f, 64, RopeScaling{}, f.data()));
  EXPECT_FALSE(RopeInvFreq(NAN, 64, RopeScaling{}, f.data()));
  RopeScaling lin;
  lin.type = RopeScalingType::kLinear;
  lin.factor = 0.0f;
  EXPECT_FALSE(RopeInvFreq(10000.0f, 64, lin, f.data()));
  RopeScaling l3;
  l3.type = RopeScalingType::kLlama3;
  l3.factor = 8.0f;
  EXPECT_FALSE(RopeInvFreq(10000.0f, 64, l3, f.data()));  // original_context == 0
  l3.original_context = 8192;
  l3.high_freq_factor = l3.low_freq_factor;
  EXPECT_FALSE(RopeInvFreq(10000.0f, 64, l3, f.data()));  // division by zero band
  std::vector<float> factors(32, 2.0f);
  factors[7] = 0.0f;
  RopeScaling ff;
  ff.freq_factors = factors.data();
  EXPECT_FALSE(RopeInvFreq(10000.0f, 64, ff, f.data()));  // a zero frequency factor
  for (float v : f) EXPECT_EQ(v, -1.0f);                   // nothing written on failure
}

TEST(RopeTable, FrequencyFactorsDivideAfterScaling) {
  std::vector<float> base(24), got(24), factors(24);
  for (size_t i = 0; i < 24; ++i) factors[i] = 1.0f + 0.5f * i;
  RopeScaling s;
  s.type = RopeScalingType::kLinear;
  s.factor = 4.0f;
  ASSERT_TRUE(RopeInvFreq(10000.0f, 48, s, base.data()));
  s.freq_factors = factors.data();
  ASSERT_TRUE(RopeInvFreq(10000.0f, 48, s, got.data()));
  for (size_t i = 0; i < 24; ++i) EXPECT_NEAR(got[i], base[i] / factors[i], 1e-6f * base[i]) << i;
}

TEST(RopeTable, CosSinScaledByMscale) {
  std::vector<float> f(4), c(4), s(4);
  ASSERT_TRUE(RopeInvFreq(10000.0f, 8, RopeScaling{}, f.data()));
  RopeCosSin(37, f.data(), 4, c.data(), s.data(), 1.25f);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(c[i], 1.25 * std::cos(37.0 * f[i]), 1e-6);
    EXPECT_NEAR(s[i], 1.25 * std::sin(37.0 * f[i]), 1e-6);
  }
}

TEST(RopeTable, CosSinKeepPrecisionAtLargePositions) {
  std::vector<float> f(4), c(4), s(4);
  ASSERT_TRUE(RopeInvFreq(10000.0f, 8, RopeScaling{}, f.data()));
  for (size_t pos : {size_t{0}, size_t{1}, size_t{4096}, size_t{131071}}) {
    RopeCosSin(pos, f.data(), 4, c.data(), s.data());
    for (size_t i = 0; i < 4; ++i) {
      const double angle = static_cast<double>(pos) * f[i];
      EXPECT_NEAR(c[i], std::cos(angle), 1e-7) << pos;
      EXPECT_NEAR(s[i], std::sin(angle), 1e-7) << pos;
    }
  }
}

TEST(F16, RoundTripsEveryNonNanValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    if ((bits & 0x7C00) == 0x7C00 && (bits & 0x3FF)) {
      EXPECT_TRUE(std::isnan(F16ToF32(bits)));
      continue;
    }
    ASSERT_EQ(F32ToF16(F16ToF32(bits)), bits) << std::hex << h;
  }
}

TEST(F16, KnownValuesAndRoundToNearestEven) {
  EXPECT_EQ(F16ToF32(0x3C00), 1.0f);
  EXPECT_EQ(F16ToF32(0xC000), -2.0f);
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(F32ToF16(65519.0f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);             // tie to even -> inf
  EXPECT_EQ(F32ToF16(1e9f), 0x7C00);
  EXPECT_EQ(F32ToF16(-INFINITY), 0xFC00);
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie -> even (down)
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie -> even (up)
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);              // subnormal tie -> 0
  EXPECT_EQ(F32ToF16(3 * std::ldexp(1.0f, -25)), 0x0002);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -14) * (1 - std::ldexp(1.0f, -12))), 0x0400);  // up to normal
  EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(NAN))));
}

}  // namespace
}  // namespace arch
}  // namespace qlite
