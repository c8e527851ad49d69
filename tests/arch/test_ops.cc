// Element-wise ops (RmsNorm, AddInPlace, SiluMul, GeluTanhMul, Softmax, SoftCap, Rope) on every Highway target
// against the scalar references, on odd sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "qlite/arch/matmul.h"
#include "qlite/arch/ops.h"
#include "qlite/arch/ops_reference.h"
#include "test_ops_util.h"

namespace qlite {
namespace arch {
namespace {

using qlite_test::ForEachHwyTarget;
using qlite_test::OddSizes;
using qlite_test::RandomVec;

// |got - want| <= rel * max(1, |want|): f32 kernels vs double references.
void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, float rel) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], rel * std::max(1.0f, std::fabs(want[i]))) << "i=" << i;
  }
}

// ForEachHwyTarget really moves the dispatcher to each target in turn (else every
// per-target test would run one target several times), and on x86-64 that is more than one.
TEST(Ops, RunsOnSeveralTargets) {
  std::vector<std::string> dispatched;
  const size_t n = ForEachHwyTarget([&] { dispatched.push_back(qlite::arch::DispatchedTargetName()); });
  ASSERT_EQ(dispatched.size(), n);
  std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  if (targets.empty()) targets.push_back(HWY_STATIC_TARGET);
  ASSERT_EQ(targets.size(), n);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(dispatched[i], hwy::TargetName(targets[i])) << i;
#if HWY_ARCH_X86_64
  if (hwy::SupportedTargets() & HWY_AVX2) {
    EXPECT_GE(n, 2u);  // at least SSE4 and AVX2
  }
#endif
  std::printf("Highway targets tested: %zu\n", n);
}

TEST(Ops, RmsNorm) {
  std::mt19937 rng(1);
  ForEachHwyTarget([&] {
    for (size_t n : OddSizes()) {
      SCOPED_TRACE(n);
      const auto x = RandomVec(rng, n, -3.0f, 3.0f), w = RandomVec(rng, n, 0.5f, 1.5f);
      std::vector<float> got(n), want(n);
      RmsNorm(x.data(), w.data(), got.data(), n, 1e-5f);
      ref::RmsNorm(x.data(), w.data(), want.data(), n, 1e-5f);
      ExpectClose(got, want, 2e-6f);
      auto inplace = x;  // out may alias x
      RmsNorm(inplace.data(), w.data(), inplace.data(), n, 1e-5f);
      ExpectClose(inplace, want, 2e-6f);
    }
  });
}

TEST(Ops, AddInPlace) {
  std::mt19937 rng(2);
  ForEachHwyTarget([&] {
    for (size_t n : OddSizes()) {
      auto x = RandomVec(rng, n);
      const auto y = RandomVec(rng, n);
      auto want = x;
      AddInPlace(x.data(), y.data(), n);
      ref::AddInPlace(want.data(), y.data(), n);
      EXPECT_EQ(x, want) << n;
    }
  });
}

// gate = act(gate) * up against its reference, |gate| up to `range`, and in exp's overflow region.
void CheckGatedMul(void (*op)(float*, const float*, size_t), void (*ref_op)(float*, const float*, size_t),
                   float range, uint32_t seed) {
  std::mt19937 rng(seed);
  ForEachHwyTarget([&] {
    for (size_t n : OddSizes()) {
      SCOPED_TRACE(n);
      auto g = RandomVec(rng, n, -range, range);
      if (n > 2) g[0] = -200.0f, g[1] = 200.0f;
      const auto up = RandomVec(rng, n, -2.0f, 2.0f);
      auto want = g;
      op(g.data(), up.data(), n);
      ref_op(want.data(), up.data(), n);
      ExpectClose(g, want, 4e-6f);
    }
  });
}

TEST(Ops, SiluMul) { CheckGatedMul(SiluMul, ref::SiluMul, 12.0f, 3); }
TEST(Ops, GeluTanhMul) { CheckGatedMul(GeluTanhMul, ref::GeluTanhMul, 8.0f, 13); }

TEST(Ops, Softmax) {
  std::mt19937 rng(4);
  ForEachHwyTarget([&] {
    for (size_t n : OddSizes()) {
      for (float offset : {0.0f, 1000.0f, -1000.0f}) {  // max-subtraction keeps these finite
        SCOPED_TRACE(testing::Message() << "n=" << n << " offset=" << offset);
        auto x = RandomVec(rng, n, -20.0f, 20.0f);
        for (float& v : x) v += offset;
        auto want = x;
        Softmax(x.data(), n);
        ref::Softmax(want.data(), n);
        for (size_t i = 0; i < n; ++i) ASSERT_NEAR(x[i], want[i], 1e-6f + 2e-6f * want[i]) << i;
        EXPECT_NEAR(std::accumulate(x.begin(), x.end(), 0.0), 1.0, 1e-5);
      }
    }
  });
}

TEST(Ops, SoftCap) {
  std::mt19937 rng(14);
  ForEachHwyTarget([&] {
    for (size_t n : OddSizes()) {
      for (float cap : {3.0f, 30.0f, 50.0f}) {
        SCOPED_TRACE(testing::Message() << "n=" << n << " cap=" << cap);
        auto x = RandomVec(rng, n, -4.0f * cap, 4.0f * cap);  // through the bend and into saturation
        if (n > 2) x[0] = 1e30f, x[1] = -1e30f;
        auto want = x;
        SoftCap(x.data(), n, cap);
        ref::SoftCap(want.data(), n, cap);
        ExpectClose(x, want, 2e-6f);
        for (float v : x) ASSERT_LE(std::fabs(v), cap);
      }
    }
  });
}

struct RopeCase {
  size_t head_dim, rotary_dim;
};

TEST(Ops, RopeMatchesReferenceBothPairings) {
  std::mt19937 rng(5);
  const RopeCase cases[] = {{2, 2}, {8, 8}, {16, 16}, {64, 64}, {128, 128}, {172, 172},
                            {64, 32}, {128, 64}, {7, 6}, {63, 62}, {80, 20}, {172, 34}};
  ForEachHwyTarget([&] {
    for (const RopeCase& c : cases) {
      for (RopePairing pairing : {RopePairing::kInterleaved, RopePairing::kRotateHalf}) {
        SCOPED_TRACE(testing::Message() << "hd=" << c.head_dim << " rot=" << c.rotary_dim
                                        << " pairing=" << static_cast<int>(pairing));
        const size_t n_heads = 3;
        auto x = RandomVec(rng, n_heads * c.head_dim);
        const auto angles = RandomVec(rng, c.rotary_dim / 2, -3.2f, 3.2f);
        std::vector<float> cs(angles.size()), sn(angles.size());
        for (size_t i = 0; i < angles.size(); ++i) cs[i] = std::cos(angles[i]), sn[i] = std::sin(angles[i]);
        const auto orig = x;
        auto want = x;
        Rope(x.data(), n_heads, c.head_dim, c.rotary_dim, cs.data(), sn.data(), pairing);
        ref::Rope(want.data(), n_heads, c.head_dim, c.rotary_dim, cs.data(), sn.data(), pairing);
        ExpectClose(x, want, 1e-6f);
        for (size_t h = 0; h < n_heads; ++h) {  // dims past rotary_dim are untouched
          for (size_t i = c.rotary_dim; i < c.head_dim; ++i) {
            ASSERT_EQ(x[h * c.head_dim + i], orig[h * c.head_dim + i]);
          }
        }
      }
    }
  });
}

// HF checkpoints store wq/wk rows permuted: W_hf = W_meta.reshape(H, hd/2, 2, in)
// .transpose(1, 2), i.e. hf[j*hd/2 + i] = meta[2i + j] within a head. Rotating the
// permuted vector with rotate-half must equal permuting the interleaved-rotated vector.
TEST(Ops, RopePairingsAgreeUnderHfPermutation) {
  std::mt19937 rng(6);
  ForEachHwyTarget([&] {
    for (size_t hd : {2, 8, 16, 64, 128, 172}) {
      SCOPED_TRACE(hd);
      const size_t n_heads = 2, half = hd / 2;
      auto meta = RandomVec(rng, n_heads * hd);
      auto permute = [&](const std::vector<float>& m) {
        std::vector<float> hf(m.size());
        for (size_t h = 0; h < n_heads; ++h)
          for (size_t i = 0; i < half; ++i)
            for (size_t j = 0; j < 2; ++j) hf[h * hd + j * half + i] = m[h * hd + 2 * i + j];
        return hf;
      };
      auto hf = permute(meta);
      const auto angles = RandomVec(rng, half, -3.2f, 3.2f);
      std::vector<float> cs(half), sn(half);
      for (size_t i = 0; i < half; ++i) cs[i] = std::cos(angles[i]), sn[i] = std::sin(angles[i]);
      Rope(meta.data(), n_heads, hd, hd, cs.data(), sn.data(), RopePairing::kInterleaved);
      Rope(hf.data(), n_heads, hd, hd, cs.data(), sn.data(), RopePairing::kRotateHalf);
      ExpectClose(hf, permute(meta), 1e-6f);  // same pairs, same angles: equal up to rounding
    }
  });
}

TEST(Ops, RopeClampsBadRotaryDim) {
  std::vector<float> x(8, 1.0f), cs(8, 0.0f), sn(8, 1.0f);
  // rotary_dim > head_dim is clamped to head_dim (4 pairs over 2 heads of 4: rotates all).
  Rope(x.data(), 2, 4, 9, cs.data(), sn.data(), RopePairing::kInterleaved);
  for (size_t i = 0; i < 8; i += 2) {
    EXPECT_EQ(x[i], -1.0f);
    EXPECT_EQ(x[i + 1], 1.0f);
  }
}

}  // namespace
}  // namespace arch
}  // namespace qlite
