#include "qlite/base/kv_plan.h"

#include <algorithm>

namespace qlite {
namespace {

constexpr uint32_t kDefaultSinks = 4;  // StreamingLLM keeps 4 initial tokens

}  // namespace

uint32_t KvLayerSpan(uint32_t context_length, uint32_t sliding_window) {
  return sliding_window && (sliding_window < context_length || context_length == 0) ? sliding_window
                                                                                     : context_length;
}

Status PlanKvWindow(uint32_t max_span, uint32_t window, uint32_t n_sink_tokens, KvWindowPlan* out) {
  KvWindowPlan p;
  if (window) {
    if (max_span && window > max_span)
      return StatusError(StatusCode::kInvalidArgument,
                         "window %u exceeds the positions the model attends to (%u: context length or sliding window)",
                         window, max_span);
    p.window = window;
  } else {
    if (!max_span) return StatusError(StatusCode::kInvalidArgument, "the model records no context length: set a window");
    p.window = max_span;
  }
  if (p.window < 2) return StatusError(StatusCode::kInvalidArgument, "window must be at least 2");
  p.auto_sinks = n_sink_tokens == kKvAutoSinks;
  if (p.auto_sinks) {
    p.n_sinks = std::min(kDefaultSinks, p.window / 2);
  } else {
    if (n_sink_tokens >= p.window)
      return StatusError(StatusCode::kInvalidArgument, "n_sink_tokens %u must be below the window %u", n_sink_tokens,
                         p.window);
    p.n_sinks = n_sink_tokens;
  }
  *out = p;
  return Status::Ok();
}

KvRingShape PlanKvRing(const KvWindowPlan& plan, uint32_t layer_span, bool has_sliding_window) {
  KvRingShape r;
  r.slots = layer_span ? std::min(plan.window, layer_span) : plan.window;
  const bool shorter = r.slots < layer_span;
  const bool own_window = has_sliding_window && r.slots == layer_span;
  r.sinks = (plan.auto_sinks ? shorter : !own_window) ? std::min(plan.n_sinks, r.slots / 2) : 0;
  return r;
}

}  // namespace qlite
