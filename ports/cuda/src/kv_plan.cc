// The CPU runtime's KV ring plan (runtime/src/session.cc: PlanSession and Session::Bind),
// mirrored for the GPU session; test_cuda_ring checks the decisions case by case and
// test_cuda_runtime compares whole conversations past the window with the CPU runtime.
#include <algorithm>

#include "qlite/cuda/model.h"

namespace qlite {
namespace cuda {
namespace {

constexpr uint32_t kDefaultSinks = 4;  // StreamingLLM keeps 4 initial tokens

// What layer l attends to at most: its own sliding window, else the training context.
uint32_t LayerSpan(const ModelConfig& c, uint32_t l) {
  const uint32_t ctx = c.context_length;
  const uint32_t sw = c.sliding_window.empty() ? 0 : c.sliding_window[l];
  return sw && (sw < ctx || ctx == 0) ? sw : ctx;
}

}  // namespace

Status PlanKvRings(const ModelConfig& c, const CudaSessionParams& p,
                   std::vector<KvRingShape>* rings) {
  if (!c.sliding_window.empty() && c.sliding_window.size() != c.n_layers) {
    return StatusError(StatusCode::kFormat, "sliding_window has %zu entries for %u layers",
                       c.sliding_window.size(), c.n_layers);
  }
  uint32_t span = 0;
  for (uint32_t l = 0; l < c.n_layers; ++l) span = std::max(span, LayerSpan(c, l));
  uint32_t window = p.window;
  if (window) {
    if (span && window > span) {
      return StatusError(StatusCode::kInvalidArgument,
                         "window %u exceeds the positions the model attends to (%u: context "
                         "length or sliding window)", window, span);
    }
  } else {
    if (!span) {
      return StatusError(StatusCode::kInvalidArgument,
                         "the model records no context length: set a window");
    }
    window = span;
  }
  if (window < 2) return StatusError(StatusCode::kInvalidArgument, "window must be at least 2");
  const bool auto_sinks = p.n_sink_tokens == UINT32_MAX;
  uint32_t n_sinks = p.n_sink_tokens;
  if (auto_sinks) {
    n_sinks = std::min(kDefaultSinks, window / 2);
  } else if (n_sinks >= window) {
    return StatusError(StatusCode::kInvalidArgument, "n_sink_tokens %u must be below the window %u",
                       n_sinks, window);
  }
  rings->assign(c.n_layers, KvRingShape());
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    KvRingShape& r = (*rings)[l];
    const uint32_t layer_span = LayerSpan(c, l);
    r.slots = layer_span ? std::min(window, layer_span) : window;
    // Sinks where the ring is shorter than what the layer was trained to see (automatic),
    // or wherever asked for; never on a layer whose ring is its own sliding window.
    const bool shorter = r.slots < layer_span;
    const bool own_window = !c.sliding_window.empty() && c.sliding_window[l] && r.slots == layer_span;
    r.sinks = (auto_sinks ? shorter : !own_window) ? std::min(n_sinks, r.slots / 2) : 0;
  }
  return Status::Ok();
}

}  // namespace cuda
}  // namespace qlite
