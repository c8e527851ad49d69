// Host: batches that store before they attend never lose a position an earlier token of the
// batch needs (the rule LaunchRopeStoreAttention follows), and PlanKvRings gives each layer
// the ring the shared plan (qlite/base/kv_plan.h) says, case by case.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "qlite/base/kv_ring.h"
#include "qlite/cuda/model.h"

namespace {

using qlite::KvRingChunkInPlace;
using qlite::KvRingLive;
using qlite::KvRingSlot;

// Positions a token at `pos` attends, from the definition (not from any slot mapping):
// everything while the ring has room, else the sinks and the slots - sinks latest.
std::set<uint64_t> Attended(uint64_t pos, uint32_t slots, uint32_t sinks) {
  std::set<uint64_t> out;
  for (uint64_t p = 0; p <= pos; ++p) {
    if (pos < slots || p < sinks || p + (slots - sinks) > pos) out.insert(p);
  }
  return out;
}

// Simulates a ring (slot -> position) fed in batches of n from pos0: all stores first when
// KvRingChunkInPlace says so, else store-then-attend per token. Every token must see exactly
// the positions it attends to in slots [0, KvRingLive). Also checks the rule is not loose for
// nothing: whenever it refuses a batch, storing it all first would have broken a token.
TEST(CudaRing, BatchesNeverEvictWhatTheyAttend) {
  for (uint32_t slots = 2; slots <= 14; ++slots) {
    for (uint32_t sinks = 0; sinks <= slots / 2; ++sinks) {
      for (uint32_t n = 1; n <= slots + 3; ++n) {
        for (uint64_t start = 0; start < 3 * uint64_t(slots); start += (start < slots ? 1 : 5)) {
          // Ring state after positions [0, start) went in one by one.
          std::vector<int64_t> ring(slots, -1);
          for (uint64_t p = 0; p < start; ++p) ring[KvRingSlot(p, slots, sinks)] = int64_t(p);
          auto view = [&](const std::vector<int64_t>& r, uint64_t pos) {
            std::set<uint64_t> seen;
            for (uint32_t s = 0; s < KvRingLive(pos, slots); ++s) {
              if (r[s] < 0 || uint64_t(r[s]) > pos) return std::set<uint64_t>{~0ull};  // stale/future
              seen.insert(uint64_t(r[s]));
            }
            return seen;
          };
          std::vector<int64_t> all_first = ring;
          for (uint64_t p = start; p < start + n; ++p) all_first[KvRingSlot(p, slots, sinks)] = int64_t(p);
          bool all_first_ok = true;
          for (uint64_t p = start; p < start + n; ++p) {
            all_first_ok &= view(all_first, p) == Attended(p, slots, sinks);
          }
          if (KvRingChunkInPlace(start, n, slots)) {
            ASSERT_TRUE(all_first_ok) << "slots " << slots << " sinks " << sinks << " start " << start << " n " << n;
          } else {
            ASSERT_FALSE(all_first_ok) << "needlessly per token: slots " << slots << " sinks " << sinks
                                       << " start " << start << " n " << n;
            for (uint64_t p = start; p < start + n; ++p) {
              ring[KvRingSlot(p, slots, sinks)] = int64_t(p);
              ASSERT_EQ(view(ring, p), Attended(p, slots, sinks)) << "slots " << slots << " pos " << p;
            }
          }
        }
      }
    }
  }
}

// The plan's decisions, case by case.
std::vector<qlite::KvRingShape> Plan(const qlite::ModelConfig& c, uint32_t window,
                                           uint32_t sinks, qlite::StatusCode want = qlite::StatusCode::kOk) {
  qlite::cuda::CudaSessionParams p;
  p.window = window, p.n_sink_tokens = sinks;
  std::vector<qlite::KvRingShape> rings;
  const qlite::Status st = qlite::cuda::PlanKvRings(c, p, &rings);
  EXPECT_EQ(st.code(), want) << st.message();
  return st.ok() ? rings : std::vector<qlite::KvRingShape>();
}

void ExpectRings(const std::vector<qlite::KvRingShape>& got,
                 const std::vector<std::pair<uint32_t, uint32_t>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t l = 0; l < want.size(); ++l) {
    EXPECT_EQ(got[l].slots, want[l].first) << "layer " << l;
    EXPECT_EQ(got[l].sinks, want[l].second) << "layer " << l;
  }
}

TEST(CudaRing, PlanGivesEachLayerItsRing) {
  constexpr uint32_t kAuto = UINT32_MAX;
  qlite::ModelConfig c;
  c.n_layers = 2, c.context_length = 512;
  ExpectRings(Plan(c, 0, kAuto), {{512, 0}, {512, 0}});   // full context: nothing slides
  ExpectRings(Plan(c, 64, kAuto), {{64, 4}, {64, 4}});    // shorter ring: StreamingLLM's 4
  ExpectRings(Plan(c, 6, kAuto), {{6, 3}, {6, 3}});       // at most half the window
  ExpectRings(Plan(c, 2, kAuto), {{2, 1}, {2, 1}});
  ExpectRings(Plan(c, 64, 0), {{64, 0}, {64, 0}});        // plain ring on request
  ExpectRings(Plan(c, 64, 10), {{64, 10}, {64, 10}});
  ExpectRings(Plan(c, 64, 40), {{64, 32}, {64, 32}});     // capped at half the ring
  ExpectRings(Plan(c, 0, 3), {{512, 3}, {512, 3}});       // explicit: even on a full ring
  Plan(c, 64, 64, qlite::StatusCode::kInvalidArgument);   // sinks must be below the window
  Plan(c, 513, kAuto, qlite::StatusCode::kInvalidArgument);
  Plan(c, 1, kAuto, qlite::StatusCode::kInvalidArgument);

  c.sliding_window = {4, 0};  // layer 0: own 4-position window; layer 1: full context
  ExpectRings(Plan(c, 16, kAuto), {{4, 0}, {16, 4}});
  ExpectRings(Plan(c, 16, 2), {{4, 0}, {16, 2}});         // never sinks on its own window
  ExpectRings(Plan(c, 0, kAuto), {{4, 0}, {512, 0}});
  ExpectRings(Plan(c, 3, kAuto), {{3, 1}, {3, 1}});       // ring shorter than the window
  c.sliding_window = {32, 64};
  c.context_length = 0;                                   // spans come from the windows
  ExpectRings(Plan(c, 0, kAuto), {{32, 0}, {64, 0}});
  ExpectRings(Plan(c, 16, kAuto), {{16, 4}, {16, 4}});
  ExpectRings(Plan(c, 48, 5), {{32, 0}, {48, 5}});
  Plan(c, 65, kAuto, qlite::StatusCode::kInvalidArgument);
  c.sliding_window = {64, 64};
  c.context_length = 32;                                  // window past the context: context wins
  ExpectRings(Plan(c, 0, kAuto), {{32, 0}, {32, 0}});
  ExpectRings(Plan(c, 0, 2), {{32, 0}, {32, 0}});         // a windowed layer whose ring is its whole span
  c.sliding_window.clear();
  c.context_length = 0;                                   // nothing recorded: window required
  Plan(c, 0, kAuto, qlite::StatusCode::kInvalidArgument);
  ExpectRings(Plan(c, 16, kAuto), {{16, 0}, {16, 0}});
  ExpectRings(Plan(c, 16, 3), {{16, 3}, {16, 3}});
  c.sliding_window = {4, 4, 4};                           // wrong length
  Plan(c, 16, kAuto, qlite::StatusCode::kFormat);
}

}  // namespace
