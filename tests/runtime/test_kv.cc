#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "kv_cache.h"
#include "qlite/arch/ops.h"

namespace qlite {
namespace {

KvLayer Ring(uint32_t slots, uint32_t sinks) {
  KvLayer kv;
  kv.slots = slots;
  kv.sinks = sinks;
  return kv;
}

// After writing positions 0..p, the slots must hold exactly the sinks plus the most recent
// slots - sinks positions, each exactly once.
TEST(KvRing, KeepsSinksAndMostRecentPositions) {
  for (uint32_t slots : {2u, 5u, 16u}) {
    for (uint32_t sinks : {0u, 1u, slots / 2}) {
      KvLayer kv = Ring(slots, sinks);
      std::vector<int64_t> holder(slots, -1);
      for (uint64_t p = 0; p < 10 * slots; ++p) {
        const uint32_t s = kv.SlotOf(p);
        ASSERT_LT(s, slots);
        holder[s] = (int64_t)p;
        const uint32_t valid = kv.ValidAfter(p);
        ASSERT_EQ(valid, std::min<uint64_t>(p + 1, slots));
        std::set<int64_t> want;
        for (uint64_t q = 0; q < std::min<uint64_t>(sinks, p + 1); ++q) want.insert((int64_t)q);
        const uint64_t recent = slots - std::min<uint64_t>(sinks, p + 1);
        for (uint64_t q = p + 1 > recent ? p + 1 - recent : 0; q <= p; ++q) want.insert((int64_t)q);
        std::set<int64_t> got(holder.begin(), holder.begin() + valid);
        ASSERT_EQ(got, want) << "slots " << slots << " sinks " << sinks << " pos " << p;
      }
    }
  }
}

// Attention over the ring equals attention over the positions it should hold, computed
// directly (order-free), for each storage type within its precision.
TEST(KvRing, AttentionOverRingMatchesDirect) {
  const uint32_t hd = 16, slots = 8, sinks = 2, n_pos = 30;
  std::mt19937 rng(7);
  std::normal_distribution<float> nd;
  std::vector<float> keys(n_pos * hd), values(n_pos * hd), q(hd);
  for (float& x : keys) x = nd(rng);
  for (float& x : values) x = nd(rng);
  for (float& x : q) x = nd(rng);
  for (arch::KvType type : {arch::KvType::kF32, arch::KvType::kF16, arch::KvType::kQ8}) {
    KvLayer kv = Ring(slots, sinks);
    kv.type = type;
    kv.head_dim = hd;
    kv.n_kv_heads = 1;
    std::vector<uint8_t> k(slots * hd * 4), v(slots * hd * 4);
    std::vector<float> ks(slots), vs(slots);
    kv.k = k.data();
    kv.v = v.data();
    if (type == arch::KvType::kQ8) {
      kv.k_scales = ks.data();
      kv.v_scales = vs.data();
    }
    const float tol = type == arch::KvType::kF32 ? 1e-5f : type == arch::KvType::kF16 ? 5e-3f : 5e-2f;
    for (uint32_t p = 0; p < n_pos; ++p) {
      kv.Store(0, kv.SlotOf(p), &keys[p * hd], &values[p * hd]);
      const uint32_t n = kv.ValidAfter(p);
      std::vector<float> scores(slots), out(hd);
      arch::AttentionHead(q.data(), hd, kv.K(0), kv.V(0), n, 0.25f, scores.data(), out.data());
      // Direct: sinks plus the last slots - sinks positions.
      std::vector<uint32_t> pos;
      for (uint32_t t = 0; t <= p; ++t)
        if (t < sinks || t + (slots - sinks) > p) pos.push_back(t);
      ASSERT_EQ(pos.size(), n);
      std::vector<double> w(pos.size());
      double mx = -1e30, sum = 0;
      for (size_t i = 0; i < pos.size(); ++i) {
        double d = 0;
        for (uint32_t j = 0; j < hd; ++j) d += (double)q[j] * keys[pos[i] * hd + j];
        w[i] = 0.25 * d;
        mx = std::max(mx, w[i]);
      }
      for (double& x : w) sum += (x = std::exp(x - mx));
      for (uint32_t j = 0; j < hd; ++j) {
        double want = 0;
        for (size_t i = 0; i < pos.size(); ++i) want += w[i] / sum * values[pos[i] * hd + j];
        ASSERT_NEAR(out[j], want, tol) << "type " << (int)type << " pos " << p << " dim " << j;
      }
    }
  }
}

}  // namespace
}  // namespace qlite
