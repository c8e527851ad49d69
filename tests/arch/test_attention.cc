// KvStore and AttentionHead on every Highway target: against the scalar reference on the
// same stored K/V, and f16 / q8 storage against f32 within a derived error bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "qlite/arch/ops.h"
#include "qlite/arch/ops_reference.h"
#include "test_ops_util.h"

namespace qlite {
namespace arch {
namespace {

using qlite_test::ForEachHwyTarget;
using qlite_test::OddSizes;
using qlite_test::RandomVec;

// One head's cache: n_slots rows of head_dim, in the given storage type.
struct Cache {
  KvType type;
  size_t head_dim, n_slots;
  std::vector<uint8_t> data;
  std::vector<float> scales;
  Cache(KvType t, size_t hd, size_t n)
      : type(t), head_dim(hd), n_slots(n), data(KvRowBytes(t, hd) * n + 1),
        scales(n * std::max<size_t>(1, KvRowScales(t, hd))) {}
  KvHeadView View() const { return KvHeadView{type, data.data(), scales.data()}; }
};

// Fills a cache from rows (n_slots x head_dim f32) with the reference store.
Cache MakeCache(KvType type, size_t hd, size_t n, const std::vector<float>& rows) {
  Cache c(type, hd, n);
  for (size_t t = 0; t < n; ++t) ref::KvStore(rows.data() + t * hd, hd, type, c.data.data(), c.scales.data(), t);
  return c;
}

const char* Name(KvType t) {
  return t == KvType::kF32 ? "f32" : t == KvType::kF16 ? "f16" : t == KvType::kQ8 ? "q8" : "q4";
}

TEST(Attention, KvStoreMatchesReference) {
  std::mt19937 rng(10);
  ForEachHwyTarget([&] {
    for (KvType type : {KvType::kF32, KvType::kF16, KvType::kQ8}) {
      for (size_t hd : OddSizes()) {
        SCOPED_TRACE(testing::Message() << Name(type) << " hd=" << hd);
        const size_t n = 3, slot = 1;
        auto x = RandomVec(rng, hd, -4.0f, 4.0f);
        Cache got(type, hd, n), want(type, hd, n);
        std::fill(got.data.begin(), got.data.end(), 0xAB);
        want.data = got.data;
        KvStore(x.data(), hd, type, got.data.data(), got.scales.data(), slot);
        ref::KvStore(x.data(), hd, type, want.data.data(), want.scales.data(), slot);
        const size_t row = KvRowBytes(type, hd);
        for (size_t b = 0; b < got.data.size(); ++b) {  // other slots untouched
          if (b < slot * row || b >= (slot + 1) * row) { ASSERT_EQ(got.data[b], 0xAB) << b; }
        }
        std::vector<float> g(hd), w(hd);
        ref::KvLoad(got.View(), hd, slot, g.data());
        ref::KvLoad(want.View(), hd, slot, w.data());
        if (type == KvType::kQ8) { EXPECT_EQ(got.scales[slot], want.scales[slot]); }
        for (size_t i = 0; i < hd; ++i) {
          // f16: targets may round differently (<= 1 ulp = 2^-10 relative);
          // q8: a tie may round either way (<= 1 step).
          const float tol = type == KvType::kF32   ? 0.0f
                            : type == KvType::kF16 ? std::fabs(x[i]) * 0x1p-10f
                                                   : want.scales[slot] * 1.0001f;
          ASSERT_NEAR(g[i], w[i], tol) << i;
          if (type == KvType::kQ8) { ASSERT_LE(std::fabs(g[i] - x[i]), want.scales[slot] * 0.5001f) << i; }
        }
      }
    }
  });
}

TEST(Attention, KvStoreQ8ZeroRow) {
  ForEachHwyTarget([&] {
    std::vector<float> zero(64, 0.0f);
    Cache c(KvType::kQ8, 64, 1);
    c.scales[0] = -1.0f;
    KvStore(zero.data(), 64, KvType::kQ8, c.data.data(), c.scales.data(), 0);
    EXPECT_EQ(c.scales[0], 0.0f);
    for (size_t i = 0; i < 64; ++i) EXPECT_EQ(c.data[i], 0);
  });
}

// Non-finite K/V rows and scores (from weights decoding to inf/NaN) are defined behaviour:
// a q8 row stores zero codes and a NaN scale, softmax and soft-capping give NaN where the
// input is NaN (the fuzzer found softmax's exp converting NaN to int on emulated targets).
TEST(Attention, NonFiniteRowsAndScoresAreDefined) {
  ForEachHwyTarget([&] {
    std::vector<float> row(64, 0.5f);
    row[7] = std::numeric_limits<float>::infinity();
    Cache c(KvType::kQ8, 64, 1);
    KvStore(row.data(), 64, KvType::kQ8, c.data.data(), c.scales.data(), 0);
    EXPECT_TRUE(std::isnan(c.scales[0]));
    for (size_t i = 0; i < 64; ++i) EXPECT_EQ(c.data[i], 0);
    std::vector<float> scores(40, 1.0f);
    scores[3] = std::numeric_limits<float>::quiet_NaN();
    scores[9] = -std::numeric_limits<float>::infinity();
    Softmax(scores.data(), scores.size());
    EXPECT_TRUE(std::isnan(scores[3]));
    std::vector<float> capped = {std::numeric_limits<float>::quiet_NaN(), 1e30f, -1e30f, 3.0f,
                                 std::numeric_limits<float>::infinity(), 0.0f, 1.0f, -2.0f};
    SoftCap(capped.data(), capped.size(), 30.0f);
    EXPECT_TRUE(std::isnan(capped[0]));
    EXPECT_FLOAT_EQ(capped[1], 30.0f);
    EXPECT_FLOAT_EQ(capped[2], -30.0f);
    EXPECT_FLOAT_EQ(capped[4], 30.0f);
  });
}

// Same stored K/V: only f32 summation order and exp() differ from the double reference.
TEST(Attention, MatchesReferenceOnSameStorage) {
  std::mt19937 rng(11);
  const size_t head_dims[] = {1, 7, 8, 63, 64, 128, 172};
  ForEachHwyTarget([&] {
    for (KvType type : {KvType::kF32, KvType::kF16, KvType::kQ8}) {
      for (size_t hd : head_dims) {
        for (size_t n : OddSizes()) {
          // Quantized types share the f32 code paths except for the loads: fewer shapes.
          if (type != KvType::kF32 && (hd == 8 || hd == 63 || n == 7 || n == 64 || n == 172)) continue;
          if (n == 2049 && hd != 7 && hd != 64 && hd != 128) continue;  // keep qemu runs short
          for (float sharpness : {1.0f, 8.0f}) {  // 8: peaky softmax
            if (sharpness != 1.0f && hd != 64) continue;
            SCOPED_TRACE(testing::Message() << Name(type) << " hd=" << hd << " n=" << n << " x" << sharpness);
            const auto q = RandomVec(rng, hd);
            const Cache k = MakeCache(type, hd, n, RandomVec(rng, n * hd));
            const Cache v = MakeCache(type, hd, n, RandomVec(rng, n * hd));
            const float scale = sharpness / std::sqrt(static_cast<float>(hd));
            std::vector<float> s_got(n), s_want(n), got(hd), want(hd);
            AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_got.data(), got.data());
            ref::AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_want.data(), want.data());
            for (size_t t = 0; t < n; ++t) ASSERT_NEAR(s_got[t], s_want[t], 1e-6f + 1e-5f * s_want[t]) << t;
            for (size_t i = 0; i < hd; ++i) ASSERT_NEAR(got[i], want[i], 2e-5f) << i;
          }
        }
      }
    }
  });
}

// Gemma 2's score soft-capping, on peaky scores where capping changes the result.
TEST(Attention, SoftCappedScoresMatchReference) {
  std::mt19937 rng(15);
  ForEachHwyTarget([&] {
    for (KvType type : {KvType::kF32, KvType::kF16, KvType::kQ8}) {
      for (size_t n : {size_t{1}, size_t{5}, size_t{63}, size_t{300}}) {
        SCOPED_TRACE(testing::Message() << Name(type) << " n=" << n);
        const size_t hd = 64;
        const auto q = RandomVec(rng, hd);
        const Cache k = MakeCache(type, hd, n, RandomVec(rng, n * hd));
        const Cache v = MakeCache(type, hd, n, RandomVec(rng, n * hd));
        const float scale = 8.0f / std::sqrt(static_cast<float>(hd)), cap = 2.0f;
        std::vector<float> s_got(n), s_want(n), got(hd), want(hd), uncapped(hd);
        AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_got.data(), got.data(), cap);
        ref::AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_want.data(), want.data(), cap);
        for (size_t t = 0; t < n; ++t) ASSERT_NEAR(s_got[t], s_want[t], 1e-6f + 1e-5f * s_want[t]) << t;
        for (size_t i = 0; i < hd; ++i) ASSERT_NEAR(got[i], want[i], 2e-5f) << i;
        if (n < 5) continue;
        ref::AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_want.data(), uncapped.data());
        double diff = 0;
        for (size_t i = 0; i < hd; ++i) diff = std::max(diff, double(std::fabs(uncapped[i] - want[i])));
        EXPECT_GT(diff, 1e-3) << "capping should change peaky attention";
      }
    }
  });
}

// The pinned sink slots scored with their own query (the query rotated to the cache-relative
// position), the other slots with q.
TEST(Attention, SinkSlotsUseTheirOwnQuery) {
  std::mt19937 rng(16);
  ForEachHwyTarget([&] {
    for (KvType type : {KvType::kF32, KvType::kF16, KvType::kQ8}) {
      for (size_t n : {size_t{1}, size_t{3}, size_t{4}, size_t{63}, size_t{300}}) {
        SCOPED_TRACE(testing::Message() << Name(type) << " n=" << n);
        const size_t hd = 64, sinks = 4;
        const auto q = RandomVec(rng, hd), q_sink = RandomVec(rng, hd);
        const Cache k = MakeCache(type, hd, n, RandomVec(rng, n * hd));
        const Cache v = MakeCache(type, hd, n, RandomVec(rng, n * hd));
        const float scale = 4.0f / std::sqrt(static_cast<float>(hd));
        std::vector<float> s_got(n), s_want(n), got(hd), want(hd), plain(hd);
        AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_got.data(), got.data(), 0.0f, q_sink.data(), sinks);
        ref::AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_want.data(), want.data(), 0.0f, q_sink.data(),
                           sinks);
        for (size_t t = 0; t < n; ++t) ASSERT_NEAR(s_got[t], s_want[t], 1e-6f + 1e-5f * s_want[t]) << t;
        for (size_t i = 0; i < hd; ++i) ASSERT_NEAR(got[i], want[i], 2e-5f) << i;
        if (n < 5) continue;  // one slot: the output is its value whatever the scores
        ref::AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_want.data(), plain.data());
        double diff = 0;
        for (size_t i = 0; i < hd; ++i) diff = std::max(diff, double(std::fabs(plain[i] - want[i])));
        EXPECT_GT(diff, 1e-4) << "the sink query should matter";
      }
    }
  });
}

TEST(Attention, KvQ4GroupFollowsHeadDim) {
  EXPECT_EQ(KvQ4Group(64), 32u);
  EXPECT_EQ(KvQ4Group(96), 32u);
  EXPECT_EQ(KvQ4Group(48), 16u);
  EXPECT_EQ(KvQ4Group(8), 8u);
  EXPECT_EQ(KvQ4Group(12), 0u);
  EXPECT_EQ(KvQ4Group(1024), 0u);
  EXPECT_FALSE(KvTypeFits(KvType::kQ4, 12));
  EXPECT_TRUE(KvTypeFits(KvType::kQ8, 12));
  EXPECT_EQ(KvRowScales(KvType::kQ4, 64), 2u);
  EXPECT_EQ(KvRowBytes(KvType::kQ4, 64), 32u);
}

// kQ4: the store matches the reference's codes (a rounding tie may fall either way) and
// scales, and a stored row comes back within the rotated 4-bit error: the Hadamard rotation
// keeps the L2 norm, so ||loaded - x||_2 <= ||half a step per element||_2.
TEST(Attention, KvStoreQ4MatchesReference) {
  std::mt19937 rng(17);
  ForEachHwyTarget([&] {
    for (size_t hd : {size_t{8}, size_t{16}, size_t{24}, size_t{32}, size_t{64}, size_t{96}, size_t{128}, size_t{256}}) {
      SCOPED_TRACE(testing::Message() << "hd=" << hd);
      const size_t n = 3, slot = 2, group = KvQ4Group(hd), groups = hd / group;
      auto x = RandomVec(rng, hd, -4.0f, 4.0f);
      x[hd / 3] = 40.0f;  // an outlier channel: the rotation spreads it
      Cache got(KvType::kQ4, hd, n), want(KvType::kQ4, hd, n);
      std::fill(got.data.begin(), got.data.end(), 0xAB);
      want.data = got.data;
      KvStore(x.data(), hd, KvType::kQ4, got.data.data(), got.scales.data(), slot);
      ref::KvStore(x.data(), hd, KvType::kQ4, want.data.data(), want.scales.data(), slot);
      const size_t row = KvRowBytes(KvType::kQ4, hd);
      ASSERT_EQ(row, hd / 2);
      size_t differing = 0;
      for (size_t b = 0; b < got.data.size(); ++b) {
        if (b < slot * row || b >= (slot + 1) * row) {
          ASSERT_EQ(got.data[b], 0xAB) << b;  // other slots untouched
        } else {
          differing += (got.data[b] & 15) != (want.data[b] & 15);
          differing += (got.data[b] >> 4) != (want.data[b] >> 4);
        }
      }
      EXPECT_LE(differing, groups);
      double err2 = 0, bound2 = 0;
      for (size_t g = 0; g < groups; ++g) {
        ASSERT_NEAR(got.scales[slot * groups + g], want.scales[slot * groups + g], 1e-5f * want.scales[slot * groups + g]);
        bound2 += group * std::pow(0.5001 * want.scales[slot * groups + g], 2);
      }
      std::vector<float> loaded(hd);
      ref::KvLoad(got.View(), hd, slot, loaded.data());
      for (size_t i = 0; i < hd; ++i) err2 += std::pow(double(loaded[i]) - x[i], 2);
      EXPECT_LE(err2, bound2 + 1e-6 * differing * bound2);
    }
    std::vector<float> zero(64, 0.0f);
    Cache c(KvType::kQ4, 64, 1);
    KvStore(zero.data(), 64, KvType::kQ4, c.data.data(), c.scales.data(), 0);
    EXPECT_EQ(c.scales[0], 0.0f);
    for (size_t b = 0; b < 32; ++b) EXPECT_EQ(c.data[b], 0x88);  // code 0
  });
}

// kQ4 attention (rotated queries, decoded rows, output rotated back) against the reference
// on the same stored rows, single heads with sinks and softcap (GQA groups: SegmentsMatchReference).
TEST(Attention, Q4MatchesReferenceOnSameStorage) {
  std::mt19937 rng(18);
  ForEachHwyTarget([&] {
    for (size_t hd : {size_t{8}, size_t{16}, size_t{40}, size_t{64}, size_t{96}, size_t{128}}) {
      for (size_t n : {size_t{1}, size_t{7}, size_t{64}, size_t{301}}) {
        SCOPED_TRACE(testing::Message() << "hd=" << hd << " n=" << n);
        const auto q = RandomVec(rng, hd), q_sink = RandomVec(rng, hd);
        const Cache k = MakeCache(KvType::kQ4, hd, n, RandomVec(rng, n * hd));
        const Cache v = MakeCache(KvType::kQ4, hd, n, RandomVec(rng, n * hd));
        const float scale = 4.0f / std::sqrt(static_cast<float>(hd));
        std::vector<float> s_got(n), s_want(n), got(hd), want(hd);
        AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_got.data(), got.data(), 3.0f, q_sink.data(), 4);
        ref::AttentionHead(q.data(), hd, k.View(), v.View(), n, scale, s_want.data(), want.data(), 3.0f, q_sink.data(), 4);
        for (size_t t = 0; t < n; ++t) ASSERT_NEAR(s_got[t], s_want[t], 1e-6f + 1e-5f * s_want[t]) << t;
        for (size_t i = 0; i < hd; ++i) ASSERT_NEAR(got[i], want[i], 2e-5f) << i;
      }
    }
  });
}

// Segments over several stores under one softmax (a kQ4 ring in two ranges plus f16 rows,
// the first with its own queries, as the runtime's sinks): every target against the
// reference, for 1 to 5 queries (the 4-query kQ4 kernels and their 2- and 3-query forms,
// the single-query path and a chunk of 4 + 1), groups of 32 and smaller, with an empty segment.
TEST(Attention, SegmentsMatchReference) {
  std::mt19937 rng(23);
  ForEachHwyTarget([&] {
    for (size_t hd : {size_t{8}, size_t{48}, size_t{64}, size_t{128}}) {
      for (size_t n_q : {size_t{1}, size_t{2}, size_t{3}, size_t{4}, size_t{5}}) {
        for (KvType ring : {KvType::kQ4, KvType::kQ8}) {
          SCOPED_TRACE(testing::Message() << Name(ring) << " hd=" << hd << " n_q=" << n_q);
          const size_t n = 203, n_exact = 70;
          const Cache k = MakeCache(ring, hd, n, RandomVec(rng, n * hd));
          const Cache v = MakeCache(ring, hd, n, RandomVec(rng, n * hd));
          const Cache ke = MakeCache(KvType::kF16, hd, n_exact, RandomVec(rng, n_exact * hd));
          const Cache ve = MakeCache(KvType::kF16, hd, n_exact, RandomVec(rng, n_exact * hd));
          const auto q = RandomVec(rng, n_q * hd), q_sink = RandomVec(rng, n_q * hd);
          const KvSegment segments[] = {{ke.View(), ve.View(), 0, 4, q_sink.data()},
                                        {k.View(), v.View(), 150, 53, nullptr},
                                        {k.View(), v.View(), 9, 0, nullptr},
                                        {k.View(), v.View(), 4, 100, nullptr},
                                        {ke.View(), ve.View(), 6, 64, nullptr}};
          const size_t total = 4 + 53 + 100 + 64;
          const float scale = 2.0f / std::sqrt(static_cast<float>(hd));
          std::vector<float> s_got(n_q * total), s_want(n_q * total), got(n_q * hd), want(n_q * hd);
          AttentionSegments(q.data(), n_q, hd, segments, 5, scale, s_got.data(), got.data(), 4.0f);
          ref::AttentionSegments(q.data(), n_q, hd, segments, 5, scale, s_want.data(), want.data(), 4.0f);
          for (size_t t = 0; t < n_q * total; ++t) ASSERT_NEAR(s_got[t], s_want[t], 1e-6f + 1e-5f * s_want[t]) << t;
          for (size_t i = 0; i < n_q * hd; ++i) ASSERT_NEAR(got[i], want[i], 2e-5f) << i;
        }
      }
    }
    // No rows: zero output.
    std::vector<float> q(64, 1.0f), out(64, 7.0f), scores(1);
    AttentionSegments(q.data(), 1, 64, nullptr, 0, 1.0f, scores.data(), out.data());
    for (float o : out) ASSERT_EQ(o, 0.0f);
  });
}

// f16 / q8 caches against exact f32 K/V. With per-element K error |dk| and V error |dv|:
// every score moves by at most d = scale * sum_i |q_i| |dk_i|, so each probability moves
// by a factor within e^(+-2d), and |out - out_f32| <= max|dv| + (e^(2d) - 1) * max|v|.
// f16: |dk| <= 2^-11 |k|; q8: |dk| <= scale_slot / 2 (half a step of absmax/127).
TEST(Attention, QuantizedCacheWithinDerivedBound) {
  std::mt19937 rng(12);
  ForEachHwyTarget([&] {
    for (KvType type : {KvType::kF16, KvType::kQ8}) {
      for (size_t hd : {size_t{7}, size_t{64}, size_t{128}}) {
        for (size_t n : {size_t{1}, size_t{63}, size_t{2049}}) {
          if (n == 2049 && hd != 64) continue;  // keep qemu runs short
          SCOPED_TRACE(testing::Message() << Name(type) << " hd=" << hd << " n=" << n);
          const auto q = RandomVec(rng, hd), kr = RandomVec(rng, n * hd), vr = RandomVec(rng, n * hd);
          const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
          const Cache k32 = MakeCache(KvType::kF32, hd, n, kr), v32 = MakeCache(KvType::kF32, hd, n, vr);
          Cache kq(type, hd, n), vq(type, hd, n);
          for (size_t t = 0; t < n; ++t) {
            KvStore(kr.data() + t * hd, hd, type, kq.data.data(), kq.scales.data(), t);
            KvStore(vr.data() + t * hd, hd, type, vq.data.data(), vq.scales.data(), t);
          }
          double d = 0.0, max_dv = 0.0, max_v = 0.0;
          for (size_t t = 0; t < n; ++t) {
            double dt = 0.0;
            for (size_t i = 0; i < hd; ++i) {
              const double ki = kr[t * hd + i], vi = vr[t * hd + i];
              const double dk = type == KvType::kF16 ? std::fabs(ki) * 0x1p-11 : kq.scales[t] * 0.5;
              const double dv = type == KvType::kF16 ? std::fabs(vi) * 0x1p-11 : vq.scales[t] * 0.5;
              dt += std::fabs(q[i]) * dk;
              max_dv = std::max(max_dv, dv);
              max_v = std::max(max_v, std::fabs(vi));
            }
            d = std::max(d, scale * dt);
          }
          const double bound = max_dv + std::expm1(2 * d) * max_v + 2e-5;  // + f32 arithmetic
          std::vector<float> s(n), exact(hd), approx(hd);
          ref::AttentionHead(q.data(), hd, k32.View(), v32.View(), n, scale, s.data(), exact.data());
          AttentionHead(q.data(), hd, kq.View(), vq.View(), n, scale, s.data(), approx.data());
          double worst = 0.0;
          for (size_t i = 0; i < hd; ++i) worst = std::max(worst, std::fabs(double(approx[i]) - exact[i]));
          EXPECT_LE(worst, bound);
          // The bound is not vacuous: it stays well below the size of the outputs' spread.
          EXPECT_LT(bound, type == KvType::kF16 ? 1e-2 : 1e-1);
        }
      }
    }
  });
}

TEST(Attention, NoSlotsGivesZero) {
  ForEachHwyTarget([&] {
    std::vector<float> q(64, 1.0f), out(64, 7.0f);
    float scratch = 0.0f;
    const KvHeadView empty{KvType::kF32, nullptr, nullptr};
    AttentionHead(q.data(), 64, empty, empty, 0, 0.125f, &scratch, out.data());
    for (float o : out) EXPECT_EQ(o, 0.0f);
  });
}

TEST(Attention, SlotOrderDoesNotMatter) {
  std::mt19937 rng(13);
  const size_t hd = 64, n = 37;
  const auto q = RandomVec(rng, hd), kr = RandomVec(rng, n * hd), vr = RandomVec(rng, n * hd);
  std::vector<float> kp(n * hd), vp(n * hd);
  for (size_t t = 0; t < n; ++t) {  // reverse the slots
    std::copy_n(kr.begin() + t * hd, hd, kp.begin() + (n - 1 - t) * hd);
    std::copy_n(vr.begin() + t * hd, hd, vp.begin() + (n - 1 - t) * hd);
  }
  std::vector<float> s(n), a(hd), b(hd);
  AttentionHead(q.data(), hd, {KvType::kF32, kr.data(), nullptr}, {KvType::kF32, vr.data(), nullptr}, n,
                0.125f, s.data(), a.data());
  AttentionHead(q.data(), hd, {KvType::kF32, kp.data(), nullptr}, {KvType::kF32, vp.data(), nullptr}, n,
                0.125f, s.data(), b.data());
  for (size_t i = 0; i < hd; ++i) EXPECT_NEAR(a[i], b[i], 1e-6f);
}

}  // namespace
}  // namespace arch
}  // namespace qlite
