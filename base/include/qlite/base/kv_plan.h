// The KV ring plan of a session, one decision for every backend: the window and sinks asked
// for are checked against what the model attends to, then each layer gets its ring
// (kv_ring.h). The CPU runtime and the CUDA port both call these; neither has its own copy.
#pragma once
#include <cstdint>

#include "qlite/base/kv_ring.h"
#include "qlite/base/status.h"

namespace qlite {

// n_sink_tokens value that asks for the automatic choice (qlite_session_params).
constexpr uint32_t kKvAutoSinks = UINT32_MAX;

struct KvWindowPlan {
  uint32_t window = 0;     // positions kept by the widest ring
  uint32_t n_sinks = 0;    // sinks asked for (or chosen automatically)
  bool auto_sinks = true;  // sinks only where a ring is shorter than its layer's span
};

// What a layer attends to at most: its own sliding window (0 = none), else the training
// context (0 = unknown).
uint32_t KvLayerSpan(uint32_t context_length, uint32_t sliding_window);

// Checks the session's window (0 = the widest span) and n_sink_tokens (kKvAutoSinks =
// min(4, window / 2)) against `max_span`, the most any layer attends to (0 = unknown: then
// a window is required). Errors are kInvalidArgument.
Status PlanKvWindow(uint32_t max_span, uint32_t window, uint32_t n_sink_tokens, KvWindowPlan* out);

// One layer's ring: min(window, span) slots; sinks where the ring is shorter than the span
// (automatic) or wherever asked for, never on a layer whose ring is its own sliding window;
// at most half the ring.
KvRingShape PlanKvRing(const KvWindowPlan& plan, uint32_t layer_span, bool has_sliding_window);

}  // namespace qlite
