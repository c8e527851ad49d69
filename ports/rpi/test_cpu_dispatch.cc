// Checks, on whatever CPU runs it (native, or qemu-user with -cpu cortex-a72 / max), that
// Highway's run-time dispatch picks a target the CPU really has, and that a small kernel
// (f32 dot product, f16 round trip) agrees with scalar code on every target the CPU
// supports. scripts/test.d/cross.sh sets QLITE_EXPECT_TARGET to the target the emulated
// CPU must get (e.g. NEON on a Cortex-A72, which has neither SVE nor dotprod).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "test_cpu_dispatch.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace qlite_ports {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

int64_t CompiledTarget() { return HWY_TARGET; }

float Dot(const float* a, const float* b, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  auto sum = hn::Zero(d);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    sum = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), sum);
  }
  float total = hn::GetLane(hn::SumOfLanes(d, sum));
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

// f32 -> f16 -> f32 through vector conversions (the reason armhf needs -mfp16-format=ieee).
void RoundTripF16(const float* in, float* out, size_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::PromoteTo(df, hn::DemoteTo(dh, hn::LoadU(df, in + i))), df, out + i);
  }
  for (; i < n; ++i) out[i] = in[i];  // tail left exact; the test covers full vectors only
}

}  // namespace HWY_NAMESPACE
}  // namespace qlite_ports
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#if defined(__linux__) && (defined(__aarch64__) || defined(__arm__))
#include <sys/auxv.h>
#endif

namespace qlite_ports {
HWY_EXPORT(CompiledTarget);
HWY_EXPORT(Dot);
HWY_EXPORT(RoundTripF16);

namespace {

// Debian's armhf libhwy is compiled without NEON, and Highway 1.0.3 has no NEON detection
// on 32-bit Arm, so SupportedTargets() never lists NEON there. With NEON as the compile-time
// baseline (ports/rpi/arm-linux-gnueabihf.cmake) dispatch falls back to the static target,
// which is what runs; test that one.
std::vector<int64_t> TargetsToTest() {
  std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
#if HWY_ARCH_ARM_V7
  if (targets.empty()) targets.push_back(HWY_STATIC_TARGET);
#endif
  return targets;
}

class DispatchTest : public ::testing::Test {
 protected:
  void TearDown() override { hwy::SetSupportedTargetsForTest(0); }
};

TEST_F(DispatchTest, ChosenTargetIsSupportedByCpu) {
  const int64_t chosen = HWY_DYNAMIC_DISPATCH(CompiledTarget)();
  const std::string name = hwy::TargetName(chosen);
  std::printf("dispatch chose %s\n", name.c_str());
#if HWY_ARCH_ARM_V7
  EXPECT_EQ(chosen, HWY_STATIC_TARGET) << name;
#if defined(__linux__)
  if (chosen == HWY_NEON) EXPECT_NE(getauxval(AT_HWCAP) & (1UL << 12), 0UL);  // HWCAP_NEON
#endif
#else
  EXPECT_NE(hwy::SupportedTargets() & chosen, 0) << name;
#endif
#if defined(__linux__) && defined(__aarch64__)
  // Ask the kernel (or qemu-user) directly rather than trusting Highway's own detection.
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  const bool sve = hwcap & (1UL << 22), sve2 = hwcap2 & (1UL << 1);  // HWCAP_SVE, HWCAP2_SVE2
  if (!sve) EXPECT_EQ(chosen & (HWY_SVE | HWY_SVE_256 | HWY_SVE2 | HWY_SVE2_128), 0) << name;
  if (!sve2) EXPECT_EQ(chosen & (HWY_SVE2 | HWY_SVE2_128), 0) << name;
#endif
  if (const char* expect = std::getenv("QLITE_EXPECT_TARGET"); expect && *expect) {
    EXPECT_EQ(name, expect);
  }
}

TEST_F(DispatchTest, KernelsMatchScalarOnEverySupportedTarget) {
  std::vector<float> a(131), b(131), out(131);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = std::sin(0.37f * i) * 3.0f;
    b[i] = std::cos(0.11f * i) - 0.25f;
  }
  const std::vector<int64_t> targets = TargetsToTest();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    ASSERT_EQ(HWY_DYNAMIC_DISPATCH(CompiledTarget)(), target);
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{64}, size_t{131}}) {
      double ref = 0;
      for (size_t i = 0; i < n; ++i) ref += double(a[i]) * b[i];
      EXPECT_NEAR(HWY_DYNAMIC_DISPATCH(Dot)(a.data(), b.data(), n), ref, 1e-4 * (1 + n)) << n;
    }
    HWY_DYNAMIC_DISPATCH(RoundTripF16)(a.data(), out.data(), a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      // f16 has an 11-bit significand: relative error at most 2^-11.
      EXPECT_NEAR(out[i], a[i], std::fabs(a[i]) * (1.0f / 2048) + 1e-7f) << i;
    }
  }
}

}  // namespace
}  // namespace qlite_ports
#endif  // HWY_ONCE
