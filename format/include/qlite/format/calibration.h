// Calibration-aware quantization (qlite convert --calibrate): what each matrix's input looked
// like over a calibration text (collected by the runtime's forward pass,
// qlite/runtime/activation_stats.h), and what the converter does with it: an importance-
// weighted scale/clip search per group, error-compensating rounding (GPTQ), and activation-
// aware scaling folded into the preceding norm or projection (AWQ).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "qlite/base/status.h"
#include "qlite/format/quantize.h"
#include "qlite/format/source_model.h"

namespace qlite {

// One matrix input over the calibration tokens (q/k/v read one, gate/up another).
struct InputStats {
  uint64_t tokens = 0;
  std::vector<double> mean_sq;   // [cols] E[x_c^2]: how much an error in column c costs
  std::vector<double> mean_abs;  // [cols] E[|x_c|]: AWQ's salience
  std::vector<float> gram;       // [cols*cols] E[x x^T] when collected (GPTQ), else empty
};

struct ActivationStats {
  // By input name: "blk.N.attn_in" (q, k, v), "blk.N.attn_output_in", "blk.N.ffn_in" (gate,
  // up), "blk.N.ffn_down_in", "output_in" (the output matrix, or tied token_embd).
  std::map<std::string, InputStats> inputs;
  const InputStats* Find(const std::string& input) const {
    auto it = inputs.find(input);
    return it == inputs.end() ? nullptr : &it->second;
  }
};

// The input a tensor multiplies ("" for tensors that multiply none: norms, biases, an
// untied token_embd, which is a lookup table).
std::string MatrixInputOf(const std::string& tensor, bool tied_embeddings);

struct CalibrationOptions {
  const ActivationStats* stats = nullptr;
  bool importance = true;  // weighted scale/clip search (weights 1 where a matrix has no
                           // stats); false: round-to-nearest's parameters
  bool gptq = false;       // error-compensating rounding (needs gram)
  float gptq_damp = 0.01f; // added to the Hessian's diagonal, times its mean
};

// Quantize() with parameters chosen to minimize the importance-weighted squared error of
// each group (a search over clipping ranges with a least-squares refit, as llama.cpp's
// imatrix quantizers do), and, with gptq and a gram, codes chosen column by column so that
// each one's rounding error is compensated by the columns after it through the inverse
// Hessian of the inputs (GPTQ, with the group parameters fixed first). Float schemes and
// tensors without stats behave as far as they can (uniform weights, no GPTQ).
Status QuantizeCalibrated(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec,
                          const InputStats* stats, const CalibrationOptions& how, QuantizedTensor* out);

// The importance-weighted squared error sum_r sum_c w_c (q_rc - x_rc)^2 of a quantized
// tensor against src, w = stats' mean_sq (1 without stats); and with a gram, the output
// error sum_r (q_r - x_r)^T G (q_r - x_r) instead. For reports and tests.
Status QuantizationError(const QuantizedTensor& q, const float* src, const InputStats* stats, bool use_gram,
                         double* error);

// Activation-aware scaling: for each input that can be folded (attn_in into attn_norm,
// ffn_in into ffn_norm, ffn_down_in into ffn_up's rows, attn_output_in into attn_v's rows
// where heads line up), per-channel scales s = mean|x|^alpha (alpha searched per input for
// the least importance-weighted quantization error of the matrices reading it in
// `weights`); the matrices' columns are multiplied by s and the fold divides by s, so the
// model computes the same function before rounding. Wraps the tensors' loaders (the
// transformed tensors lose their stored scheme) and rescales *stats to the new inputs.
// alphas: the chosen alpha per input, for the report.
Status ApplyAwq(const QuantSpec& weights, SourceModel* model, ActivationStats* stats,
                std::map<std::string, float>* alphas);

}  // namespace qlite
