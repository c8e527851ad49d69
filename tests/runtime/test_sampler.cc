// Sampler: greedy ties, repetition penalty (llama.cpp semantics), top-k/top-p/min-p masks
// against brute-force expectations, seeded reproducibility, draw distribution, and no
// allocation in Sample().
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>
#include <set>

#include "../../runtime/src/sampler.h"

#include "count_allocs.h"

namespace qlite {
namespace {

SamplerParams Params(float temp, int top_k = 0, float top_p = 1.0f, float min_p = 0.0f, uint64_t seed = 1) {
  SamplerParams p;
  p.temperature = temp;
  p.top_k = top_k;
  p.top_p = top_p;
  p.min_p = min_p;
  p.seed = seed;
  return p;
}

TEST(Sampler, GreedyTiesGoToLowestId) {
  Sampler s(6, Params(0.0f));
  const float logits[6] = {1.0f, 3.0f, -2.0f, 3.0f, 3.0f, 0.0f};
  EXPECT_EQ(s.Sample(logits), 1);
  const float neg[6] = {-5.0f, -5.0f, -5.0f, -5.0f, -5.0f, -5.0f};
  EXPECT_EQ(s.Sample(neg), 0);
}

TEST(Sampler, RepeatPenaltyLlamaCppSemantics) {
  SamplerParams p = Params(0.0f);
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 3;
  Sampler s(5, p);
  for (int32_t t : {4, 0, 1, 1}) s.Accept(t);  // window of 3: {0, 1, 1}; 4 has dropped out
  float l[5] = {4.0f, -1.0f, 2.0f, 3.0f, 5.0f};
  s.ApplyRepeatPenalty(l);
  EXPECT_FLOAT_EQ(l[0], 2.0f);   // positive: divided
  EXPECT_FLOAT_EQ(l[1], -2.0f);  // negative: multiplied, once although seen twice
  EXPECT_FLOAT_EQ(l[2], 2.0f);
  EXPECT_FLOAT_EQ(l[4], 5.0f);
  // Greedy sees the penalty: 0 drops from 4.5 to 2.25, below 3's 3.0.
  const float g[5] = {4.5f, 0.0f, 0.0f, 3.0f, 0.0f};
  EXPECT_EQ(s.Sample(g), 3);
  s.Reset();
  EXPECT_EQ(s.Sample(g), 0);
}

// llama.cpp's chain written plainly: sort, top-k, softmax over the rest, top-p, min-p.
std::vector<int32_t> BruteFilter(const std::vector<float>& logits, int top_k, float top_p, float min_p) {
  std::vector<int32_t> idx(logits.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int32_t>(i);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  if (top_k > 0 && static_cast<size_t>(top_k) < idx.size()) idx.resize(top_k);
  if (top_p < 1.0f) {
    double z = 0;
    for (int32_t i : idx) z += std::exp(static_cast<double>(logits[i]) - logits[idx[0]]);
    double cum = 0;
    for (size_t k = 0; k < idx.size(); ++k) {
      cum += std::exp(static_cast<double>(logits[idx[k]]) - logits[idx[0]]) / z;
      if (cum >= top_p) {
        idx.resize(k + 1);
        break;
      }
    }
  }
  if (min_p > 0.0f) {
    std::vector<int32_t> keep;  // p_i / p_max >= min_p
    for (int32_t i : idx) {
      if (std::exp(static_cast<double>(logits[i]) - logits[idx[0]]) >= min_p - 1e-9) keep.push_back(i);
    }
    idx = keep;
  }
  return idx;
}

TEST(Sampler, FiltersMatchBruteForce) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int vocab = 300;
  struct Case { int k; float p, m; };
  const Case cases[] = {{0, 1, 0}, {10, 1, 0}, {0, 0.9f, 0}, {0, 1, 0.05f}, {0, 0.5f, 0.2f},
                        {40, 0.95f, 0.05f}, {1, 0.9f, 0}, {0, 0.0f, 0}, {5, 1, 0.9f}};
  for (const Case& c : cases) {
    Sampler s(vocab, Params(1.0f, c.k, c.p, c.m));
    std::vector<Sampler::Candidate> cand(vocab);
    for (int round = 0; round < 20; ++round) {
      std::vector<float> logits(vocab);
      for (float& l : logits) l = std::round(normal(rng) * 4.0f) / 4.0f;  // many ties
      const size_t n = s.Filter(logits.data(), cand.data());
      std::vector<int32_t> got;
      for (size_t i = 0; i < n; ++i) got.push_back(cand[i].id);
      const std::vector<int32_t> want = BruteFilter(logits, c.k, c.p, c.m);
      if (c.k == 0 && c.p >= 1 && c.m <= 0) {
        EXPECT_EQ(n, static_cast<size_t>(vocab));  // no filter: everything, order unspecified
        continue;
      }
      EXPECT_EQ(got, want) << "k=" << c.k << " p=" << c.p << " m=" << c.m << " round " << round;
    }
  }
}

TEST(Sampler, SeedReproducibility) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i)) * 3.0f;
  auto draws = [&](uint64_t seed) {
    Sampler s(50, Params(0.8f, 20, 0.95f, 0.01f, seed));
    std::vector<int32_t> v;
    for (int i = 0; i < 500; ++i) v.push_back(s.Sample(logits.data()));
    return v;
  };
  EXPECT_EQ(draws(42), draws(42));
  EXPECT_NE(draws(42), draws(43));
  Sampler s(50, Params(0.8f, 0, 1.0f, 0.0f, 7));
  std::vector<int32_t> a, b;
  for (int i = 0; i < 100; ++i) a.push_back(s.Sample(logits.data()));
  s.Reset();
  for (int i = 0; i < 100; ++i) b.push_back(s.Sample(logits.data()));
  EXPECT_EQ(a, b);
}

// Pearson's chi-square of `counts` against probabilities `p`.
double ChiSquare(const std::vector<int>& counts, const std::vector<double>& p, int draws) {
  double chi = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double e = p[i] * draws;
    chi += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi;
}

TEST(Sampler, DrawsFollowTheDistribution) {
  const std::vector<double> p = {0.4, 0.25, 0.15, 0.1, 0.05, 0.05};
  std::vector<float> logits;
  for (double x : p) logits.push_back(static_cast<float>(std::log(x)) + 3.0f);  // offset must not matter
  const int draws = 20000;
  // Temperature 1: p itself. Critical chi-square, 5 degrees of freedom, p = 0.001: 20.5.
  {
    Sampler s(6, Params(1.0f, 0, 1.0f, 0.0f, 11));
    std::vector<int> counts(6);
    for (int i = 0; i < draws; ++i) ++counts[s.Sample(logits.data())];
    EXPECT_LT(ChiSquare(counts, p, draws), 20.5);
  }
  // Temperature 0.5 squares the probabilities.
  {
    std::vector<double> q;
    double z = 0;
    for (double x : p) z += x * x;
    for (double x : p) q.push_back(x * x / z);
    Sampler s(6, Params(0.5f, 0, 1.0f, 0.0f, 12));
    std::vector<int> counts(6);
    for (int i = 0; i < draws; ++i) ++counts[s.Sample(logits.data())];
    EXPECT_LT(ChiSquare(counts, q, draws), 20.5);
  }
  // top-k 2 renormalizes over the two survivors (1 degree of freedom: 10.8).
  {
    Sampler s(6, Params(1.0f, 2, 1.0f, 0.0f, 13));
    std::vector<int> counts(6);
    for (int i = 0; i < draws; ++i) ++counts[s.Sample(logits.data())];
    EXPECT_EQ(counts[0] + counts[1], draws);
    EXPECT_LT(ChiSquare({counts[0], counts[1]}, {0.4 / 0.65, 0.25 / 0.65}, draws), 10.8);
  }
}

TEST(Sampler, NonFiniteLogitsDoNotBreakIt) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> logits(100, 0.0f);
  for (int i = 0; i < 100; i += 3) logits[i] = nan;
  logits[50] = 5.0f;
  logits[51] = -inf;
  for (const SamplerParams& p : {Params(1.0f), Params(0.7f, 10, 0.9f, 0.05f), Params(1.0f, 0, 0.5f, 0.0f),
                                 Params(1.0f, 0, 1.0f, 0.2f)}) {
    Sampler s(100, p);
    for (int k = 0; k < 50; ++k) {
      const int32_t id = s.Sample(logits.data());
      ASSERT_TRUE(id >= 0 && id < 100);
      EXPECT_TRUE(!std::isnan(logits[id]) && id != 51) << id;
    }
  }
  std::vector<float> all_nan(10, nan);
  Sampler s(10, Params(1.0f, 0, 0.9f, 0.1f));
  const int32_t id = s.Sample(all_nan.data());
  EXPECT_TRUE(id >= 0 && id < 10);
}

TEST(Sampler, SampleDoesNotAllocate) {
  const int vocab = 32000;
  std::vector<float> logits(vocab);
  for (int i = 0; i < vocab; ++i) logits[i] = std::cos(i * 0.37f) * 5.0f;
  for (const SamplerParams& base : {Params(0.8f, 40, 0.95f, 0.05f), Params(1.0f, 0, 0.9f, 0.0f),
                                    Params(0.7f, 0, 1.0f, 0.1f), Params(0.0f)}) {
    SamplerParams p = base;
    p.repeat_penalty = 1.1f;
    p.repeat_last_n = 64;
    Sampler s(vocab, p);
    const long before = g_allocs.load();
    for (int i = 0; i < 20; ++i) s.Accept(s.Sample(logits.data()));
    EXPECT_EQ(g_allocs.load() - before, 0);
  }
}

}  // namespace
}  // namespace qlite
