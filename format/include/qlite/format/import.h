// Importers: read the model formats people already have into a SourceModel (lazy f32
// tensors in qlite naming and layout, config, tokenizer). See format/FORMAT.md for names.
//
// q/k row order is kept as the source stores it and recorded in config.rope_style:
//   llama2.c and GGUF (llama arch): Meta interleaved pairs   -> RopeStyle::Interleaved
//   Hugging Face (and GGUF qwen2):  rotate-half              -> RopeStyle::RotateHalf
// The two orders are related per head (hd = head_dim, H heads, rows of W are outputs):
//   W_hf = W_meta.reshape(H, hd/2, 2, in).transpose(1, 2).reshape(H*hd, in)
//   i.e. HF row h*hd + t*hd/2 + i holds Meta row h*hd + 2*i + t (t in {0,1}, i < hd/2),
// and each gives the same model with its matching RoPE pairing.
//
// Tokenizer pieces keep the source's spelling: SentencePiece pieces use U+2581 for spaces
// (llama2.c's tokenizer.bin spaces are mapped back), byte-level BPE pieces use GPT-2's
// byte-to-unicode alphabet. When the embedding has more rows than the tokenizer has
// pieces, placeholder pieces "<unused_N>" of kind Unused fill the gap.
// A GGUF output.weight that is byte-identical to token_embd is dropped (tied embeddings).
// All readers bound every read and cap counts; bad input yields a Status error.
#pragma once
#include <string>

#include "qlite/format/source_model.h"
#include "qlite/base/status.h"

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
