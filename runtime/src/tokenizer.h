// Tokenizer: SentencePiece-style BPE (Llama 1/2, llama2.c) and byte-level BPE (GPT-2,
// Llama 3, Qwen2, SmolLM), built in place over a model file's tokenizer table (TokenizerView:
// pieces are views into the file) or from an importer's TokenizerData (pieces copied).
//
// Semantics follow llama.cpp: SentencePiece text gets U+2581 for spaces and a dummy-prefix
// space at the start and after each special token (no whitespace collapsing, no Unicode
// normalization: Llama/llama2.c vocabularies use neither); byte-level BPE splits with the
// named pre-tokenizer regex (tokenizer_pretok.cc) and merges by rank. The pre-tokenizer
// family also fixes what its Hugging Face tokenizer.json declares besides the split: Llama 3
// looks whole words up before merging (ignore_merges, as tiktoken and llama.cpp do), Qwen2 and
// Qwen3 normalize text to NFC first (their NFC normalizer; llama.cpp skips it, which differs
// only on text that is not in NFC). Checked against llama.cpp's vocab tests, llama2.c's and
// SentencePiece's ids, and HF tokenizers on Gemma 3, Qwen3, Llama 3 and SmolLM2 (tests/).
// Not covered: WordPiece/Unigram models, SentencePiece user-defined-piece scoring subtleties,
// HF normalizers other than the above, pre-tokenizers other than gpt2/llama3/qwen2/smollm.
//
// Construction takes every block (piece views, scores, kinds, indexes, token bytes) once from
// the memory resource it is given. Encoding is not on the per-token path and may allocate. Decoding is: every token's bytes
// are precomputed at Create(), so TokenBytes() is a lookup and Utf8Stream (utf8.h) turns
// them into whole characters without allocating. Encode/Decode are const: thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

#include "qlite/format/model_file.h"
#include "qlite/format/source_model.h"
#include "qlite/base/status.h"
#include "tokenizer_index.h"
#include "tokenizer_pretok.h"

namespace qlite {

// The model's special ids (ModelConfig); -1: TokenizerData's, else the usual pieces
// ("<s>", "</s>", "<|endoftext|>", ...).
struct TokenizerSpecialIds {
  int32_t bos = -1, eos = -1;
};

struct EncodeOptions {
  bool add_bos = true;         // only when the tokenizer has a BOS and its add_bos flag is set
  bool add_eos = false;        // likewise with add_eos
  bool parse_special = true;   // match control pieces ("<|im_start|>", "</s>") literally;
                               // user-defined pieces are always matched
};

class Tokenizer {
 public:
  // Blocks come from `mem`, which must outlive the tokenizer.
  explicit Tokenizer(std::pmr::memory_resource* mem = std::pmr::get_default_resource());
  // Builds over `view`'s pieces, which must outlive the tokenizer (a file's table does: the
  // model keeps the file); the merges are read only here.
  Status Init(const TokenizerView& view, const TokenizerSpecialIds& special);
  // Copies the pieces: `data` may go away afterwards.
  static Status Create(const TokenizerData& data, const TokenizerSpecialIds& special,
                       std::unique_ptr<Tokenizer>* out);

  // Appends the ids of `text` to *out. Flags of the model decide BOS/EOS (see EncodeOptions).
  Status Encode(std::string_view text, const EncodeOptions& options, std::vector<int32_t>* out) const;

  // Bytes a token stands for (U+2581 -> ' ', <0xNN> -> byte, byte-level chars -> bytes);
  // empty for control tokens. May be part of a UTF-8 character.
  std::string_view TokenBytes(int32_t id) const {
    return std::string_view(bytes_.data() + bytes_off_[id], bytes_off_[id + 1] - bytes_off_[id]);
  }
  // Every token's bytes, back to back (TokenBytes views into it).
  std::string_view all_token_bytes() const { return std::string_view(bytes_.data(), bytes_.size()); }
  // As TokenBytes, but drops the dummy-prefix space of the first piece after BOS
  // (llama2.c's rule; SentencePiece only).
  std::string_view TokenBytesAfter(int32_t prev, int32_t id) const;
  // Whole text of a sequence (uses TokenBytesAfter). Allocates; not for the token loop.
  std::string Decode(const std::vector<int32_t>& ids) const;

  bool Valid(int32_t id) const { return id >= 0 && id < vocab_size(); }
  int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  std::string_view Piece(int32_t id) const { return pieces_[id]; }
  fb::TokenKind Kind(int32_t id) const { return kinds_[id]; }
  float Score(int32_t id) const { return scores_[id]; }
  int32_t bos_id() const { return bos_; }
  int32_t eos_id() const { return eos_; }
  int32_t unk_id() const { return unk_; }
  fb::TokenizerType type() const { return type_; }
  size_t max_token_bytes() const { return max_token_bytes_; }
  // Vocabulary lookup of an exact piece; -1 if absent.
  int32_t Find(std::string_view piece) const { return all_.Find(piece); }

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

 private:
  Status Build(const TokenizerView& view, const TokenizerSpecialIds& special, bool copy_pieces);
  Status InitSpm();
  Status InitByteLevel(const TokenizerView& view);
  void InitBytes();

  // Raw text fragment (no special tokens) -> ids.
  Status EncodeSpm(std::string_view text, bool add_prefix, std::vector<int32_t>* out) const;
  Status EncodeByteLevel(std::string_view text, std::vector<int32_t>* out) const;
  Status EncodeBpeWord(std::string_view word, std::vector<int32_t>* out) const;
  // Longest special piece starting at text[pos] (control pieces only when `control`);
  // -1 if none. *len gets its length.
  int32_t MatchSpecial(std::string_view text, size_t pos, bool control, size_t* len) const;

  fb::TokenizerType type_ = fb::TokenizerType::SentencePieceBPE;
  std::pmr::string owned_pieces_;  // Create(TokenizerData)'s copy of the piece bytes
  std::pmr::vector<std::string_view> pieces_;
  std::pmr::vector<float> scores_;
  std::pmr::vector<fb::TokenKind> kinds_;
  bool add_bos_ = true, add_eos_ = false, add_dummy_prefix_ = true, byte_fallback_ = true;
  int32_t bos_ = -1, eos_ = -1, unk_ = -1;

  PieceIndex all_;       // every piece
  PieceIndex normal_;    // pieces BPE may produce (normal and user-defined)
  std::pmr::vector<int32_t> specials_;   // control + user-defined pieces, longest first
  bool special_first_byte_[256] = {};
  int32_t byte_token_[256];              // byte -> token (<0xNN> or byte-level char)

  // Byte-level BPE.
  PreTokenizer pretok_ = PreTokenizer::kGpt2;
  bool ignore_merges_ = false;           // Llama 3: a word found in the vocab is one token
  bool nfc_ = false;                     // Qwen2/Qwen3: text is normalized to NFC first
  MergeTable merges_;

  // Decoded bytes of every token: bytes_[bytes_off_[id], bytes_off_[id + 1]).
  std::pmr::vector<char> bytes_;
  std::pmr::vector<uint32_t> bytes_off_;
  size_t max_token_bytes_ = 0;
};

}  // namespace qlite
