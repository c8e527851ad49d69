// The conversion pipeline: SourceModel -> quantized .qlm file. Importers fill the
// SourceModel; LoRA merges at conversion wrap its tensors' loaders before this runs.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "qlite/format/calibration.h"
#include "qlite/format/quantize.h"
#include "qlite/format/source_model.h"
#include "qlite/base/status.h"

namespace qlite {

struct AdapterRecord {  // provenance of an adapter merged at conversion
  std::string name;
  float scale = 1.0f;
  uint32_t rank = 0;
  float alpha = 0.0f;
  uint64_t fingerprint = 0;
};

struct ConvertOptions {
  QuantSpec weights;             // 2-D projection weights
  QuantSpec embeddings;          // token_embd and output
  // Sources with quantized tensors (a GGUF file of Q4_0, Q4_K, ... blocks): each tensor of
  // the part is stored in SourceTensor::stored_scheme instead of `weights` / `embeddings`,
  // so a scheme that holds the source's values keeps them exactly (float tensors stay
  // float); `weights.layout` / `embeddings.layout` still apply where the scheme allows.
  // Sources without quantized tensors ignore these.
  bool keep_source_weights = false, keep_source_embeddings = false;
  // Per-tensor schemes, first match wins: a tensor named exactly so, or blk.N.<name> in any
  // layer ("ffn_down"). They take precedence over weights/embeddings and kept source schemes.
  std::vector<std::pair<std::string, QuantSpec>> tensor_weights;
  // Norms and biases are always F32.
  std::string quantization_text; // recorded in provenance ("--weights q4 --group-size 32")
  std::vector<AdapterRecord> adapters;
  // Optional: applied to each tensor's f32 values after they are fingerprinted and before
  // they are quantized (LoRA merges at conversion, format/include/qlite/format/lora.h).
  std::function<Status(const std::string& name, const std::vector<uint64_t>& shape, std::vector<float>* values)>
      merge;
  // Calibration-aware quantization of the integer-scheme tensors that are not kept (off
  // while calibration.stats is null; qlite/format/calibration.h).
  CalibrationOptions calibration;
  uint32_t tensor_alignment = 64;
  uint32_t segment_alignment = 16384;
  // Worker threads (0: all hardware threads). The file is byte-identical for any count.
  uint32_t threads = 0;
  // Tensors of more than twice this many values are quantized in row pieces of about this
  // size by several workers. The file does not depend on it (tests make it small).
  uint64_t piece_values = uint64_t{1} << 22;
  // Sources that read row ranges (SourceTensor::load_rows) are decoded in blocks of whole
  // 16-row groups of about this many values (small enough to stay in cache; at least 16
  // rows). The file does not depend on it either.
  uint64_t block_values = uint64_t{1} << 17;
};

// What conversion did to the tensors of one source dtype stored in one scheme, and the
// error it introduced against the source's values (after any LoRA merge).
struct ConversionStat {
  std::string source_dtype;  // SourceTensor::source_dtype, "Q4_1"
  QuantSpec stored;          // the scheme written
  bool kept = false;         // stored in the source's nearest scheme (keep_source_*)
  bool exact_scheme = false; // ... one that holds the source dtype exactly
  uint64_t tensors = 0, values = 0;
  double max_abs_error = 0, sum_sq_error = 0;
  double RmsError() const;
};

struct ConvertSummary {
  std::vector<ConversionStat> conversions;  // in order of first appearance
  uint64_t n_params = 0;
  uint64_t file_size = 0;
  uint64_t fp16_size = 0;      // what the same tensors take in fp16
  uint64_t fingerprint = 0;
};

using ProgressFn = std::function<void(size_t done, size_t total, const std::string& tensor)>;

// Writes out_path atomically (temp file + rename): on any error no partial file is left.
// Tensors are loaded, quantized and measured by options.threads workers (large ones split by
// rows) and written in name order; about threads + 2 tensors are in memory at a time.
// `progress` is called from the calling thread, once per tensor written.
Status ConvertModel(const SourceModel& source, const ConvertOptions& options,
                    const std::string& out_path, const ProgressFn& progress, ConvertSummary* summary);

}  // namespace qlite
