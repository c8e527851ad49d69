// Calibration statistics from qlite's own forward pass (qlite convert --calibrate): runs a
// model over a text and records what each matrix's input looked like (format's
// ActivationStats: E[x^2], E[|x|] and, when asked, E[x x^T] per input channel).
#pragma once
#include <cstdint>
#include <string>

#include "qlite/base/status.h"
#include "qlite/format/calibration.h"

namespace qlite {

struct CollectOptions {
  uint32_t sequence = 512;     // tokens per sequence, each from a fresh session after BOS
                               // (at most the model's context)
  uint64_t max_tokens = 4096;  // tokens used in all; 0 = the whole text
  bool gram = false;           // also E[x x^T] (GPTQ): cols^2 floats per input
  uint32_t threads = 1;
};

// Runs the .qlm at model_path (float weights give the exact activations) over `text`.
// *tokens_used: how many tokens the statistics cover.
Status CollectActivationStats(const std::string& model_path, const std::string& text, const CollectOptions& options,
                              ActivationStats* out, uint64_t* tokens_used);

}  // namespace qlite
