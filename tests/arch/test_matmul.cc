// Every matmul kernel against the scalar reference, on every compiled Highway target.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "matmul_test_util.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/reference.h"
#include "qlite/arch/threads.h"

namespace qlite_test {
namespace {

using qlite::arch::QuantizedActivations;
using qlite::arch::ThreadPool;

const WeightType kAllTypes[] = {WeightType::kF32, WeightType::kF16, WeightType::kBF16,
                                WeightType::kI8,  WeightType::kI4,  WeightType::kU4,
                                WeightType::kNF4};

bool IsQuantized(WeightType t) {
  return t == WeightType::kI8 || t == WeightType::kI4 || t == WeightType::kU4 ||
         t == WeightType::kNF4;
}

const WeightLayout kAllLayouts[] = {WeightLayout::kRowMajor, WeightLayout::kInterleave4x32,
                                    WeightLayout::kInterleave16x4};

// The interleaved layouts are for the integer types only (FORMAT.md).
bool LayoutFits(WeightType t, WeightLayout l) { return l == WeightLayout::kRowMajor || IsQuantized(t); }

// Shapes: rows not a multiple of 4 or 16 (37: two 16-row groups and a partial third),
// cols 172/100/2048/4300 (4300: several 32-block chunks, the last partial), cols not a
// multiple of the group.
std::vector<MatrixSpec> Specs() {
  std::vector<MatrixSpec> out;
  struct Shape { size_t rows, cols, group; };
  const Shape shapes[] = {{7, 172, 32}, {5, 100, 64}, {6, 2048, 128}, {5, 4300, 32}, {3, 100, 100}, {9, 64, 0}, {37, 300, 32}};
  for (WeightType t : kAllTypes) {
    for (const Shape& sh : shapes) {
      for (int st = 0; st < 3; ++st) {
        if (!IsQuantized(t) && st > 0) continue;
        for (WeightLayout il : kAllLayouts) {
          if (!LayoutFits(t, il)) continue;
          MatrixSpec s;
          s.type = t;
          s.rows = sh.rows;
          s.cols = sh.cols;
          s.group_size = sh.group;
          s.scale_type = static_cast<ScaleType>(st);
          s.layout = il;
          out.push_back(s);
        }
      }
    }
  }
  return out;
}

// Float rounding bound: a few ulp-ish relative to sum |w x| (f32 accumulation order differs).
double Tol(double abs_dot) { return 2e-5 * abs_dot + 1e-6; }

TEST(Matmul, ReferenceReadsInterleavedLikeRowMajor) {
  std::mt19937 rng(1);
  for (MatrixSpec s : Specs()) {
    if (s.layout == WeightLayout::kRowMajor) continue;
    // U8 scales: Interleave16x4's second-level blocks run over its own scale order, so the
    // same codes mean other values (format's WeightsAgree test covers that case).
    if (s.layout == WeightLayout::kInterleave16x4 && s.scale_type == ScaleType::kU8) continue;
    std::mt19937 a(s.rows * 1000 + s.cols), b(s.rows * 1000 + s.cols);
    OwnedMatrix il = MakeMatrix(s, &a);
    s.layout = WeightLayout::kRowMajor;
    OwnedMatrix rm = MakeMatrix(s, &b);
    for (size_t r = 0; r < s.rows; ++r) {
      for (size_t c = 0; c < s.cols; ++c) {
        ASSERT_EQ(ref::Weight(il.w, r, c), ref::Weight(rm.w, r, c)) << il.Name();
      }
    }
  }
}

// Activations holding inf or NaN (from weights or scales that decode to them) must not reach
// an out-of-range float->int conversion or an overflowing int sum (UBSan): such a block gets
// zero codes and a NaN scale, so the non-finite value shows in the output; a subnormal block
// quantizes to zeros; the other blocks are unaffected.
TEST(Matmul, QuantizeActivationsIsDefinedForNonFiniteInput) {
  std::mt19937 rng(3);
  const size_t n = 160;
  std::vector<float> x = RandomVector(n, &rng, 3.0f);
  x[3] = std::numeric_limits<float>::infinity();
  x[40] = std::numeric_limits<float>::quiet_NaN();
  x[64] = -std::numeric_limits<float>::infinity();
  x[65] = std::numeric_limits<float>::quiet_NaN();
  for (size_t i = 96; i < 128; ++i) x[i] = 1e-44f;  // subnormal: 127 / amax overflows
  std::vector<float> finite(x.begin() + 128, x.end());
  QBuf want(finite.size());
  ref::QuantizeActivations(finite.data(), finite.size(), &want.q);
  ForEachTarget([&] {
    QBuf got(n);
    qlite::arch::QuantizeActivations(x.data(), n, &got.q);
    for (size_t b : {0, 1, 2}) {
      EXPECT_TRUE(std::isnan(got.q.scales[b])) << b;
      EXPECT_EQ(got.q.sums[b], 0) << b;
      for (size_t i = 0; i < 32; ++i) ASSERT_EQ(got.q.q[32 * b + i], 0) << b;
    }
    EXPECT_EQ(got.q.sums[3], 0);
    for (size_t i = 96; i < 128; ++i) ASSERT_EQ(got.q.q[i], 0);
    EXPECT_EQ(got.q.scales[4], want.q.scales[0]);
    EXPECT_EQ(got.q.sums[4], want.q.sums[0]);
    for (size_t i = 0; i < 32; ++i) ASSERT_EQ(got.q.q[128 + i], want.q.q[i]);
  });
}

TEST(Matmul, QuantizeActivationsMatchesReference) {
  std::mt19937 rng(2);
  for (size_t n : {1, 31, 32, 100, 172, 2048}) {
    std::vector<float> x = RandomVector(n, &rng, 3.0f);
    if (n > 40) std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
    QBuf want(n);
    ref::QuantizeActivations(x.data(), n, &want.q);
    ForEachTarget([&] {
      QBuf got(n);
      qlite::arch::QuantizeActivations(x.data(), n, &got.q);
      const size_t nb = (n + 31) / 32;
      for (size_t i = 0; i < nb * 32; ++i) ASSERT_EQ(got.q.q[i], want.q.q[i]) << n << " " << i;
      for (size_t b = 0; b < nb; ++b) {
        ASSERT_EQ(got.q.scales[b], want.q.scales[b]);
        ASSERT_EQ(got.q.sums[b], want.q.sums[b]);
      }
      for (size_t i = 0; i < (nb + 3) / 4 * 128; ++i) {
        ASSERT_EQ(got.q.q_nibbles[i], want.q.q_nibbles[i]) << n << " " << i;
      }
      // Each value within half a quantization step of x.
      for (size_t i = 0; i < n; ++i) {
        ASSERT_NEAR(ref::Activation(got.q, i), x[i], 0.5f * got.q.scales[i / 32] * 1.0001f + 1e-30f);
      }
    });
  }
}

TEST(Matmul, GemvMatchesReference) {
  for (const MatrixSpec& s : Specs()) {
    std::mt19937 rng(s.rows * 7 + s.cols);
    OwnedMatrix m = MakeMatrix(s, &rng);
    const std::vector<float> x = RandomVector(s.cols, &rng);
    std::vector<float> want(s.rows);
    ref::Gemv(m.w, x.data(), want.data());
    std::vector<double> tol(s.rows);
    for (size_t r = 0; r < s.rows; ++r) tol[r] = Tol(AbsDot(m.w, r, x.data()));
    ForEachTarget([&] {
      std::vector<float> y(s.rows, NAN);
      qlite::arch::Gemv(m.w, x.data(), y.data(), nullptr);
      for (size_t r = 0; r < s.rows; ++r) {
        ASSERT_NEAR(y[r], want[r], tol[r]) << m.Name() << " row " << r;
      }
    });
  }
}

TEST(Matmul, GemvQ8MatchesReference) {
  for (const MatrixSpec& s : Specs()) {
    std::mt19937 rng(s.rows * 11 + s.cols);
    OwnedMatrix m = MakeMatrix(s, &rng);
    const std::vector<float> x = RandomVector(s.cols, &rng);
    QBuf xq(s.cols);
    ref::QuantizeActivations(x.data(), s.cols, &xq.q);
    std::vector<float> xd(s.cols);
    for (size_t c = 0; c < s.cols; ++c) xd[c] = ref::Activation(xq.q, c);
    std::vector<float> want(s.rows), want_f(s.rows);
    ref::GemvQ8(m.w, xq.q, want.data());
    ref::Gemv(m.w, xd.data(), want_f.data());  // same activations, exact NF4 levels
    std::vector<double> tol(s.rows), nf4_tol(s.rows);
    for (size_t r = 0; r < s.rows; ++r) {
      tol[r] = Tol(AbsDot(m.w, r, xd.data()));
      if (s.type == WeightType::kNF4) {
        // Documented NF4 int8-table error: each level off by <= 0.4663/127 of the scale.
        double bound = 0.0;
        for (size_t c = 0; c < s.cols; ++c) bound += ref::Scale(m.w, r, c) * std::fabs(xd[c]);
        nf4_tol[r] = bound * 0.4663 / 127.0 + tol[r];
      }
    }
    ForEachTarget([&] {
      std::vector<float> y(s.rows, NAN);
      qlite::arch::GemvQ8(m.w, xq.q, y.data(), nullptr);
      for (size_t r = 0; r < s.rows; ++r) {
        ASSERT_NEAR(y[r], want[r], tol[r]) << m.Name() << " row " << r;
        if (s.type == WeightType::kNF4) { ASSERT_NEAR(y[r], want_f[r], nf4_tol[r]) << m.Name(); }
      }
    });
  }
}

TEST(Matmul, GemmMatchesGemv) {
  const size_t batch = 5;
  for (const MatrixSpec& s : Specs()) {
    std::mt19937 rng(s.rows * 13 + s.cols);
    OwnedMatrix m = MakeMatrix(s, &rng);
    const size_t xs = s.cols + 3, ys = s.rows + 2;
    const std::vector<float> x = RandomVector(batch * xs, &rng);
    std::vector<double> tol(batch * s.rows);
    for (size_t b = 0; b < batch; ++b) {
      for (size_t r = 0; r < s.rows; ++r) tol[b * s.rows + r] = Tol(AbsDot(m.w, r, x.data() + b * xs));
    }
    ForEachTarget([&] {
      std::vector<float> y(batch * ys, -7.0f), yv(s.rows);
      qlite::arch::Gemm(m.w, x.data(), batch, xs, y.data(), ys, nullptr);
      for (size_t b = 0; b < batch; ++b) {
        qlite::arch::Gemv(m.w, x.data() + b * xs, yv.data(), nullptr);
        for (size_t r = 0; r < s.rows; ++r) {
          ASSERT_NEAR(y[b * ys + r], yv[r], tol[b * s.rows + r]) << m.Name();
        }
        for (size_t r = s.rows; r < ys; ++r) ASSERT_EQ(y[b * ys + r], -7.0f);  // untouched
      }
    });
  }
}

// GemmQ8 against the scalar GemvQ8 per token: odd batches (kernels take tokens in pairs,
// fours or eights), output stride > rows (rows past `rows` untouched), every spec and target.
TEST(Matmul, GemmQ8MatchesReference) {
  std::vector<MatrixSpec> specs = Specs();
  // Several 64-block chunks, the last one partial (85 blocks); rows past one and two 16-row
  // VNNI vectors (37: a partial second tile); two whole 32-row tiles of 3 blocks.
  struct Shape { size_t rows, cols; };
  for (const Shape sh : {Shape{6, 2700}, Shape{37, 300}, Shape{64, 96}}) {
    for (WeightType t : kAllTypes) {
      for (WeightLayout il : kAllLayouts) {
        MatrixSpec s;
        s.type = t;
        s.rows = sh.rows;
        s.cols = sh.cols;
        s.layout = il;
        if (IsQuantized(t)) specs.push_back(s);
      }
    }
  }
  for (const MatrixSpec& s : specs) {
    std::mt19937 rng(s.rows * 17 + s.cols);
    OwnedMatrix m = MakeMatrix(s, &rng);
    for (size_t batch : {size_t{1}, size_t{3}, size_t{5}, size_t{9}, size_t{17}}) {
      if (batch == 17 && s.cols > 320) continue;  // keep the suite fast (qemu)
      if (batch == 9 && s.cols > 2700) continue;
      const size_t ys = s.rows + 2;
      std::vector<QBuf> xq;
      std::vector<QuantizedActivations> xs;
      std::vector<float> want(batch * s.rows);
      std::vector<double> tol(batch * s.rows);
      for (size_t b = 0; b < batch; ++b) {
        const std::vector<float> x = RandomVector(s.cols, &rng, b % 2 ? 3.0f : 0.5f);
        xq.emplace_back(s.cols);
        ref::QuantizeActivations(x.data(), s.cols, &xq.back().q);
        std::vector<float> xd(s.cols);
        for (size_t c = 0; c < s.cols; ++c) xd[c] = ref::Activation(xq.back().q, c);
        ref::GemvQ8(m.w, xq.back().q, want.data() + b * s.rows);
        for (size_t r = 0; r < s.rows; ++r) tol[b * s.rows + r] = Tol(AbsDot(m.w, r, xd.data()));
      }
      for (const QBuf& q : xq) xs.push_back(q.q);
      ForEachTarget([&] {
        std::vector<float> y(batch * ys, -7.0f);
        qlite::arch::GemmQ8(m.w, xs.data(), batch, y.data(), ys, nullptr);
        for (size_t b = 0; b < batch; ++b) {
          for (size_t r = 0; r < s.rows; ++r) {
            ASSERT_NEAR(y[b * ys + r], want[b * s.rows + r], tol[b * s.rows + r])
                << m.Name() << " batch " << batch << " token " << b << " row " << r;
          }
          for (size_t r = s.rows; r < ys; ++r) ASSERT_EQ(y[b * ys + r], -7.0f);
        }
      });
    }
  }
}

// The largest products the int8 kernels can meet: every code at its extreme and every
// activation at +-127, so the int16 sums of the widening (no SDOT) paths are at their bound
// (4-bit: 16 products of 15 x 127 per lane; I8 and NF4: two of 128 x 127). Exact integers,
// so GemvQ8 and GemmQ8 must agree with the reference to f32 rounding.
TEST(Matmul, ExtremeCodesDoNotOverflow) {
  const size_t rows = 32, cols = 512, nb = cols / 32;
  for (WeightType t : {WeightType::kI4, WeightType::kU4, WeightType::kNF4, WeightType::kI8}) {
    for (WeightLayout layout : kAllLayouts) {
      for (const uint8_t code : {uint8_t{0x00}, uint8_t{0xFF}, uint8_t{0x80}}) {
        for (const float sign : {1.0f, -1.0f}) {
          WeightMatrix w;
          w.type = t;
          w.layout = layout;
          w.rows = rows;
          w.cols = cols;
          w.row_stride = t == WeightType::kI8 ? cols : cols / 2;
          w.group_size = 32;
          w.scale_type = ScaleType::kF16;
          std::vector<uint8_t> data(rows * w.row_stride, code);
          std::vector<uint16_t> scales(rows * nb, 0x3C00), mins(rows * nb, 0xBC00);  // 1.0, -1.0
          w.data = data.data();
          w.scales = scales.data();
          w.mins = t == WeightType::kU4 ? mins.data() : nullptr;
          QBuf xq(cols);
          const std::vector<float> x(cols, sign);
          ref::QuantizeActivations(x.data(), cols, &xq.q);
          std::vector<float> want(rows);
          ref::GemvQ8(w, xq.q, want.data());
          const QuantizedActivations batch[3] = {xq.q, xq.q, xq.q};
          ForEachTarget([&] {
            std::vector<float> y(rows, NAN), yb(3 * rows, NAN);
            qlite::arch::GemvQ8(w, xq.q, y.data(), nullptr);
            qlite::arch::GemmQ8(w, batch, 3, yb.data(), rows, nullptr);
            for (size_t r = 0; r < rows; ++r) {
              const double tol = 1e-5 * (std::fabs(want[r]) + cols);
              ASSERT_NEAR(y[r], want[r], tol) << int(t) << " layout " << int(layout) << " code " << int(code) << " row " << r;
              for (size_t b = 0; b < 3; ++b) ASSERT_NEAR(yb[b * rows + r], want[r], tol) << int(t) << " token " << b;
            }
          });
        }
      }
    }
  }
}

TEST(Matmul, ThreadsGiveIdenticalResults) {
  ThreadPool pool2(2), pool3(3);
  for (WeightType t : kAllTypes) for (WeightLayout layout : {WeightLayout::kRowMajor, WeightLayout::kInterleave16x4}) {
    if (!LayoutFits(t, layout)) continue;
    MatrixSpec s;
    s.type = t;
    s.rows = 301;
    s.cols = 256;
    s.layout = layout;
    std::mt19937 rng(static_cast<int>(t));
    OwnedMatrix m = MakeMatrix(s, &rng);
    const std::vector<float> x = RandomVector(4 * s.cols, &rng);
    QBuf xq(s.cols);
    qlite::arch::QuantizeActivations(x.data(), s.cols, &xq.q);
    std::vector<float> a(4 * s.rows), b(4 * s.rows), c(4 * s.rows);
    qlite::arch::Gemv(m.w, x.data(), a.data(), nullptr);
    qlite::arch::Gemv(m.w, x.data(), b.data(), &pool2);
    qlite::arch::Gemv(m.w, x.data(), c.data(), &pool3);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, c);
    qlite::arch::GemvQ8(m.w, xq.q, a.data(), nullptr);
    qlite::arch::GemvQ8(m.w, xq.q, b.data(), &pool2);
    qlite::arch::GemvQ8(m.w, xq.q, c.data(), &pool3);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, c);
    qlite::arch::Gemm(m.w, x.data(), 4, s.cols, a.data(), s.rows, nullptr);
    qlite::arch::Gemm(m.w, x.data(), 4, s.cols, b.data(), s.rows, &pool2);
    qlite::arch::Gemm(m.w, x.data(), 4, s.cols, c.data(), s.rows, &pool3);
    EXPECT_EQ(a, b) << TypeName(t);
    EXPECT_EQ(a, c) << TypeName(t);
    std::vector<QBuf> xq4;
    std::vector<QuantizedActivations> xs;
    for (size_t i = 0; i < 3; ++i) {
      xq4.emplace_back(s.cols);
      qlite::arch::QuantizeActivations(x.data() + i * s.cols, s.cols, &xq4.back().q);
    }
    for (const QBuf& q : xq4) xs.push_back(q.q);
    qlite::arch::GemmQ8(m.w, xs.data(), 3, a.data(), s.rows, nullptr);
    qlite::arch::GemmQ8(m.w, xs.data(), 3, b.data(), s.rows, &pool2);
    qlite::arch::GemmQ8(m.w, xs.data(), 3, c.data(), s.rows, &pool3);
    EXPECT_EQ(a, b) << TypeName(t);
    EXPECT_EQ(a, c) << TypeName(t);
  }
}

// PreferredLayout: never Interleave16x4 for float weights (FORMAT.md: integer types only),
// and on every target a layout the kernels accept for the integer types.
TEST(Matmul, PreferredLayoutIsValidForEveryType) {
  ForEachTarget([&] {
    for (WeightType t : kAllTypes) {
      const WeightLayout l = qlite::arch::PreferredLayout(t);
      if (!IsQuantized(t)) { EXPECT_EQ(l, WeightLayout::kRowMajor) << TypeName(t); }
      MatrixSpec s;
      s.type = t;
      s.rows = 20;
      s.cols = 64;
      s.layout = l;
      std::mt19937 rng(3);
      EXPECT_EQ(qlite::arch::CheckWeightMatrix(MakeMatrix(s, &rng).w), nullptr) << TypeName(t);
      if (!IsQuantized(t)) {  // and refused if asked for anyway
        WeightMatrix w = MakeMatrix(s, &rng).w;
        w.layout = WeightLayout::kInterleave16x4;
        EXPECT_NE(qlite::arch::CheckWeightMatrix(w), nullptr) << TypeName(t);
      }
    }
  });
}

// Every target of a family with its own integer kernels is recognized as one (the kernels and
// PreferredLayout ask the same target_family-inl.h): 4-bit weights prefer Interleave16x4 on
// every Arm target but the emulated ones and on x86 from AVX2 up, whatever the target is
// called in the Highway release built against (a target a family check missed would run the
// portable kernels, correct but several times slower, and this fails instead).
TEST(Matmul, PreferredLayoutNamesEveryTargetsFamily) {
  std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    const bool emulated = target == HWY_SCALAR || target == HWY_EMU128;
    bool fast = false;
#if HWY_ARCH_ARM
    fast = !emulated;
#elif HWY_ARCH_X86
    fast = !emulated && target <= HWY_AVX2;
#endif
    EXPECT_EQ(qlite::arch::PreferredLayout(WeightType::kI4),
              fast ? WeightLayout::kInterleave16x4 : WeightLayout::kRowMajor)
        << hwy::TargetName(target);
  }
  hwy::SetSupportedTargetsForTest(0);
}

// The Arm dot-product levels the kernels use are what the CPU (or qemu's model of one) has:
// scripts/test.d/cross.sh sets QLITE_EXPECT_ARM_DOT (0 Cortex-A72, 1 Cortex-A76, 3 "max"),
// so a detection that silently fell back to widening multiplies would fail here.
TEST(Matmul, ArmDotExtensionsAreTheCpus) {
  const unsigned ext = qlite::arch::ArmDotExtensions();
  std::printf("target %s, Arm dot extensions %u\n", qlite::arch::DispatchedTargetName(), ext);
#if !defined(__aarch64__)
  EXPECT_EQ(ext, 0u);
#endif
  if (const char* expect = std::getenv("QLITE_EXPECT_ARM_DOT"); expect && *expect) {
    EXPECT_EQ(ext, static_cast<unsigned>(std::atoi(expect)));
  }
  qlite::arch::LimitArmDotExtensionsForTest(qlite::arch::kArmDotProd);
  EXPECT_EQ(qlite::arch::ArmDotExtensions(), ext & qlite::arch::kArmDotProd);
  qlite::arch::LimitArmDotExtensionsForTest(~0u);
  EXPECT_EQ(qlite::arch::ArmDotExtensions(), ext);
}

TEST(Matmul, GroupsSmallerThanABlockUseTheScalarPath) {
  MatrixSpec s;
  s.type = WeightType::kI4;
  s.rows = 6;
  s.cols = 100;
  s.group_size = 16;
  std::mt19937 rng(5);
  OwnedMatrix m = MakeMatrix(s, &rng);
  const std::vector<float> x = RandomVector(s.cols, &rng);
  std::vector<float> want(s.rows), y(s.rows);
  ref::Gemv(m.w, x.data(), want.data());
  qlite::arch::Gemv(m.w, x.data(), y.data(), nullptr);
  for (size_t r = 0; r < s.rows; ++r) EXPECT_NEAR(y[r], want[r], Tol(AbsDot(m.w, r, x.data())));
}

TEST(Matmul, BadMatricesGiveNaNNotCrashes) {
  MatrixSpec s;
  s.type = WeightType::kU4;
  s.rows = 4;
  s.cols = 64;
  std::mt19937 rng(6);
  OwnedMatrix m = MakeMatrix(s, &rng);
  EXPECT_EQ(qlite::arch::CheckWeightMatrix(m.w), nullptr);
  const std::vector<float> x = RandomVector(s.cols, &rng);
  QBuf xq(s.cols);
  qlite::arch::QuantizeActivations(x.data(), s.cols, &xq.q);
  std::vector<float> y(s.rows);
  auto expect_nan = [&](WeightMatrix bad, size_t xn) {
    EXPECT_NE(qlite::arch::CheckWeightMatrix(bad), nullptr);
    std::fill(y.begin(), y.end(), 0.0f);
    qlite::arch::Gemv(bad, x.data(), y.data(), nullptr);
    EXPECT_TRUE(std::isnan(y[0]));
    QuantizedActivations q = xq.q;
    q.n = xn;
    std::fill(y.begin(), y.end(), 0.0f);
    qlite::arch::GemvQ8(bad, q, y.data(), nullptr);
    EXPECT_TRUE(std::isnan(y[3]));
  };
  WeightMatrix bad = m.w;
  bad.mins = nullptr;
  expect_nan(bad, s.cols);
  bad = m.w;
  bad.scale_type = ScaleType::kU8;  // no dq arrays
  expect_nan(bad, s.cols);
  bad = m.w;
  bad.row_stride = 16;
  expect_nan(bad, s.cols);
  bad = m.w;
  bad.group_size = 0;
  expect_nan(bad, s.cols);
  // Valid weights, activations shorter than cols: GemvQ8 refuses.
  std::fill(y.begin(), y.end(), 0.0f);
  QuantizedActivations q = xq.q;
  q.n = 32;
  qlite::arch::GemvQ8(m.w, q, y.data(), nullptr);
  EXPECT_TRUE(std::isnan(y[0]));
  // GemmQ8: one short token in the batch poisons the whole output, no out-of-bounds read.
  const QuantizedActivations batch[2] = {xq.q, q};
  std::vector<float> y2(2 * s.rows, 0.0f);
  qlite::arch::GemmQ8(m.w, batch, 2, y2.data(), s.rows, nullptr);
  for (float v : y2) EXPECT_TRUE(std::isnan(v));
  WeightMatrix no_mins = m.w;
  no_mins.mins = nullptr;
  std::fill(y2.begin(), y2.end(), 0.0f);
  qlite::arch::GemmQ8(no_mins, batch, 1, y2.data(), s.rows, nullptr);
  EXPECT_TRUE(std::isnan(y2[0]));
}

}  // namespace
}  // namespace qlite_test
