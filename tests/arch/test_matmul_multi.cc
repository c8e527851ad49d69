// GemvQ8Multi / GemvMulti against one GemvQ8 / Gemv call per matrix: bit-identical (same
// kernels, same rows), on every compiled Highway target, pools of 1 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "matmul_test_util.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/threads.h"

namespace qlite_test {
namespace {

using qlite::arch::ThreadPool;

MatrixSpec Spec(WeightType t, size_t rows, size_t cols, size_t group, ScaleType st, WeightLayout il) {
  MatrixSpec s;
  s.type = t;
  s.rows = rows;
  s.cols = cols;
  s.group_size = group;
  s.scale_type = st;
  s.layout = il;
  return s;
}

// A mixed set over one input: odd row counts, one big matrix beside small ones (q/k/v-like),
// every type, a group size the SIMD kernels leave to the scalar path, one matrix narrower
// than the input.
constexpr WeightLayout kRm = WeightLayout::kRowMajor, kInterleave4 = WeightLayout::kInterleave4x32,
                       kInterleave16 = WeightLayout::kInterleave16x4;

std::vector<MatrixSpec> MixedSpecs(size_t cols) {
  return {Spec(WeightType::kI4, 45, cols, 32, ScaleType::kF16, kInterleave16),
          Spec(WeightType::kI8, 19, cols, 64, ScaleType::kU8, kInterleave16),
          Spec(WeightType::kI4, 301, cols, 32, ScaleType::kF16, kInterleave4),
          Spec(WeightType::kU4, 37, cols, 64, ScaleType::kU8, kRm),
          Spec(WeightType::kI8, 5, cols, 32, ScaleType::kF32, kInterleave4),
          Spec(WeightType::kNF4, 67, cols, 0, ScaleType::kF16, kRm),
          Spec(WeightType::kF16, 3, cols, 32, ScaleType::kF16, kRm),
          Spec(WeightType::kF32, 41, cols, 32, ScaleType::kF16, kRm),
          Spec(WeightType::kBF16, 18, cols, 32, ScaleType::kF16, kRm),
          Spec(WeightType::kI4, 9, cols, 16, ScaleType::kF16, kRm),  // scalar path
          Spec(WeightType::kU4, 130, cols - 32, 32, ScaleType::kF16, kInterleave4)};
}

struct Set {
  std::vector<OwnedMatrix> owned;
  std::vector<const WeightMatrix*> w;
  std::vector<std::vector<float>> y;
  std::vector<float*> y_ptr;
  Set(const std::vector<MatrixSpec>& specs, std::mt19937* rng) {
    for (const MatrixSpec& s : specs) owned.push_back(MakeMatrix(s, rng));
    for (const OwnedMatrix& m : owned) {
      w.push_back(&m.w);
      y.emplace_back(m.w.rows, -7.0f);
    }
    for (auto& v : y) y_ptr.push_back(v.data());
  }
  void Clear() {
    for (auto& v : y) std::fill(v.begin(), v.end(), -7.0f);
  }
};

// Bitwise (NaN == NaN, -0 != +0): "the same kernels on the same rows" leaves no slack.
void ExpectSameBits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t r = 0; r < got.size(); ++r) {
    ASSERT_EQ(std::memcmp(&got[r], &want[r], sizeof(float)), 0)
        << what << " row " << r << ": " << got[r] << " vs " << want[r];
  }
}

TEST(MatmulMulti, GemvQ8MultiMatchesGemvQ8PerMatrix) {
  ThreadPool pool1(1), pool3(3);
  for (size_t cols : {size_t{256}, size_t{100}}) {
    std::mt19937 rng(static_cast<unsigned>(cols));
    Set set(MixedSpecs(cols), &rng);
    const std::vector<float> x = RandomVector(cols, &rng);
    QBuf xq(cols);
    qlite::arch::QuantizeActivations(x.data(), cols, &xq.q);
    ForEachTarget([&] {
      std::vector<std::vector<float>> want;
      for (const OwnedMatrix& m : set.owned) {
        want.emplace_back(m.w.rows);
        qlite::arch::GemvQ8(m.w, xq.q, want.back().data(), nullptr);
      }
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool1, &pool3}) {
        set.Clear();
        qlite::arch::GemvQ8Multi(set.w.data(), set.w.size(), xq.q, set.y_ptr.data(), pool);
        for (size_t i = 0; i < set.w.size(); ++i) {
          ExpectSameBits(set.y[i], want[i], set.owned[i].Name() + " threads " +
                                                std::to_string(pool ? pool->size() : 0));
        }
      }
    });
  }
}

TEST(MatmulMulti, GemvMultiMatchesGemvPerMatrix) {
  ThreadPool pool1(1), pool3(3);
  std::mt19937 rng(3);
  Set set(MixedSpecs(172), &rng);
  const std::vector<float> x = RandomVector(172, &rng);
  ForEachTarget([&] {
    std::vector<std::vector<float>> want;
    for (const OwnedMatrix& m : set.owned) {
      want.emplace_back(m.w.rows);
      qlite::arch::Gemv(m.w, x.data(), want.back().data(), nullptr);
    }
    for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool1, &pool3}) {
      set.Clear();
      qlite::arch::GemvMulti(set.w.data(), set.w.size(), x.data(), set.y_ptr.data(), pool);
      for (size_t i = 0; i < set.w.size(); ++i) ExpectSameBits(set.y[i], want[i], set.owned[i].Name());
    }
  });
}

// More matrices than one Run takes (several Runs), repeated shapes, a zero-row matrix.
TEST(MatmulMulti, ManyMatricesAndEmptyOnes) {
  ThreadPool pool3(3);
  std::vector<MatrixSpec> specs;
  for (size_t i = 0; i < 19; ++i) {
    specs.push_back(Spec(i % 2 ? WeightType::kI8 : WeightType::kI4, 4 * i + 1, 64, 32, ScaleType::kF16,
                         i % 3 == 0 ? kInterleave4 : i % 3 == 1 ? kInterleave16 : kRm));
  }
  specs[7].rows = 0;
  std::mt19937 rng(4);
  Set set(specs, &rng);
  const std::vector<float> x = RandomVector(64, &rng);
  QBuf xq(64);
  qlite::arch::QuantizeActivations(x.data(), 64, &xq.q);
  qlite::arch::GemvQ8Multi(set.w.data(), set.w.size(), xq.q, set.y_ptr.data(), &pool3);
  for (size_t i = 0; i < set.w.size(); ++i) {
    std::vector<float> want(set.owned[i].w.rows);
    qlite::arch::GemvQ8(set.owned[i].w, xq.q, want.data(), nullptr);
    ExpectSameBits(set.y[i], want, set.owned[i].Name());
  }
  qlite::arch::GemvQ8Multi(set.w.data(), 0, xq.q, set.y_ptr.data(), &pool3);  // nothing to do
}

// A matrix the checks reject, or one wider than the activations, gets NaN alone.
TEST(MatmulMulti, BadMatrixGetsNaNAlone) {
  ThreadPool pool3(3);
  std::mt19937 rng(5);
  Set set({Spec(WeightType::kU4, 40, 64, 32, ScaleType::kF16, kRm),
           Spec(WeightType::kU4, 24, 64, 32, ScaleType::kF16, kInterleave4),
           Spec(WeightType::kI4, 33, 96, 32, ScaleType::kF16, kRm),
           Spec(WeightType::kI8, 50, 64, 32, ScaleType::kF16, kRm)},
          &rng);
  WeightMatrix no_mins = set.owned[1].w;
  no_mins.mins = nullptr;
  set.w[1] = &no_mins;
  const std::vector<float> x = RandomVector(64, &rng);
  QBuf xq(64);
  qlite::arch::QuantizeActivations(x.data(), 64, &xq.q);  // x.n 64 < cols 96 of matrix 2
  for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &pool3}) {
    set.Clear();
    qlite::arch::GemvQ8Multi(set.w.data(), set.w.size(), xq.q, set.y_ptr.data(), pool);
    for (size_t i : {size_t{1}, size_t{2}}) {
      for (float v : set.y[i]) ASSERT_TRUE(std::isnan(v)) << i;
    }
    for (size_t i : {size_t{0}, size_t{3}}) {
      std::vector<float> want(set.owned[i].w.rows);
      qlite::arch::GemvQ8(set.owned[i].w, xq.q, want.data(), nullptr);
      ExpectSameBits(set.y[i], want, set.owned[i].Name());
    }
    set.Clear();
    qlite::arch::GemvMulti(set.w.data(), 2, x.data(), set.y_ptr.data(), pool);
    for (float v : set.y[1]) ASSERT_TRUE(std::isnan(v));
    for (float v : set.y[0]) ASSERT_FALSE(std::isnan(v));
  }
}

}  // namespace
}  // namespace qlite_test
