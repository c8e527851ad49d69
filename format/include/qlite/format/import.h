// Importers: read the model formats people already have into a SourceModel (lazy f32
// tensors in qlite naming and layout, config, tokenizer). See format/FORMAT.md for names.
#pragma once
#include <string>

#include "qlite/format/source_model.h"
#include "qlite/format/status.h"

namespace qlite {

// llama2.c v0 checkpoint (.bin) plus its tokenizer.bin.
Status ImportLlama2c(const std::string& checkpoint, const std::string& tokenizer_bin, SourceModel* out);
// Hugging Face folder: config.json + *.safetensors (sharded too) + tokenizer.json / tokenizer.model.
Status ImportHuggingFace(const std::string& dir, SourceModel* out);
// GGUF file (F32, F16, BF16, Q8_0, Q4_0, Q4_1 tensors and more; tokenizer from metadata).
Status ImportGguf(const std::string& path, SourceModel* out);

// Tokenizers alone.
Status ImportLlama2cTokenizer(const std::string& path, TokenizerData* out);      // tokenizer.bin
Status ImportSentencePieceModel(const std::string& path, TokenizerData* out);    // tokenizer.model
Status ImportHuggingFaceTokenizer(const std::string& tokenizer_json, TokenizerData* out);
Status ImportGgufTokenizer(const std::string& path, TokenizerData* out);

struct ImportOptions {
  std::string tokenizer;  // llama2.c: path of tokenizer.bin (or tokenizer.model)
};
// Picks the importer from the path: a directory (HF), *.gguf, else llama2.c .bin.
Status ImportAuto(const std::string& path, const ImportOptions& options, SourceModel* out);

}  // namespace qlite
