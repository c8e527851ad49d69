// What an importer produces and the converter consumes: a model's config, tokenizer and
// tensors, each tensor loaded lazily as f32 (one at a time, so large models convert in
// bounded memory). Tensor names and row orders are qlite's (format/FORMAT.md).
#pragma once
#include <cstdint>
#include <functional>
#include <memory_resource>
#include <string>
#include <vector>

#include "qlite/format/qlite_generated.h"
#include "qlite/base/model_config.h"
#include "qlite/base/status.h"
#include "qlite/format/quantize.h"

namespace qlite {

// The largest chat template (Jinja text) a model file may carry: importers refuse a longer one
// and the reader rejects a file that has one (real templates are a few KiB).
constexpr size_t kMaxChatTemplateBytes = size_t(1) << 20;

struct TokenizerData {
  fb::TokenizerType type = fb::TokenizerType::SentencePieceBPE;
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<fb::TokenKind> kinds;
  std::vector<std::string> merges;  // byte-level BPE, "left right" in rank order
  bool add_bos = true, add_eos = false, add_dummy_prefix = true, byte_fallback = true;
  std::string pre_tokenizer;
  std::string chat_template;
  int32_t unk_id = -1;
  // Special ids as the tokenizer source declares them (-1 = unknown); importers copy them
  // into ModelConfig where the model itself does not say.
  int32_t bos_id = -1, eos_id = -1, pad_id = -1;
};

struct SourceTensor {
  std::string name;               // qlite name, e.g. "blk.0.attn_q"
  std::vector<uint64_t> shape;    // [out, in] for matrices
  std::string source_dtype;       // what the source stored ("F32", "Q4_0", ...), for messages
  // Fills `out` with shape-product f32 values in qlite layout (rows permuted as needed).
  // `out` may arrive holding another tensor's values (the converter reuses buffers): set
  // its whole contents (resize or assign), never append.
  std::function<Status(std::vector<float>* out)> load;
  // Optional, for sources whose rows can be read on their own (GGUF): rows [first, first +
  // count) of load's values, count * cols floats into out. The converter then decodes a
  // tensor in row blocks that stay in cache instead of holding all its f32 values. Whatever
  // replaces `load` (a transform of the values) clears or replaces this too.
  std::function<Status(uint64_t first, uint64_t count, float* out)> load_rows{};
  // Sources that store a tensor in a scheme of their own (GGUF: F16, Q4_0, Q4_K, ...): the
  // qlite scheme nearest it (RowMajor), whether that scheme holds every stored value
  // exactly, and, for quantized storage it holds exactly, a loader that encodes the stored
  // codes and scales in it directly (Dequantize of the result equals `load`'s values bit
  // for bit). has_stored_scheme is false for sources whose storage qlite has no name for.
  bool has_stored_scheme = false;
  QuantSpec stored_scheme{};
  bool stored_exact = false;
  std::function<Status(QuantizedTensor* out)> load_stored{};
};

struct SourceModel {
  ModelConfig config;
  TokenizerData tokenizer;
  std::vector<SourceTensor> tensors;
  std::string source_path;
  std::string source_format;  // "llama2c", "hf", "gguf"
};

}  // namespace qlite
