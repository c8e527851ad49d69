// Reading a .qlm file: Open() maps it (or reads it into an aligned buffer), OpenMemory()
// works zero-copy over a caller buffer. Both verify everything the runtime relies on before
// returning: header, FlatBuffers verifier, every tensor's regions and sizes (overflow-safe),
// enum values, required tensors and their shapes for the config, and the tokenizer against
// vocab_size. Options.verify_checksums additionally hashes every tensor (reads all data).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

#include "qlite/format/header.h"
#include "qlite/format/qlite_generated.h"
#include "qlite/format/quantize.h"
#include "qlite/format/source_model.h"
#include "qlite/base/status.h"

namespace qlite {

// A tensor's dimensions: rank 1 or 2 (the reader refuses others), kept inline.
struct TensorShape {
  uint64_t dims[2] = {0, 0};
  size_t rank = 0;
  size_t size() const { return rank; }
  const uint64_t* begin() const { return dims; }
  const uint64_t* end() const { return dims + rank; }
  uint64_t operator[](size_t i) const { return dims[i]; }
  uint64_t back() const { return dims[rank - 1]; }
  std::vector<uint64_t> ToVector() const { return std::vector<uint64_t>(begin(), end()); }
  bool Equals(const uint64_t* shape, size_t n) const {
    return n == rank && std::equal(begin(), end(), shape);
  }
  friend bool operator==(const TensorShape& a, const std::vector<uint64_t>& b) { return a.Equals(b.data(), b.size()); }
};

struct TensorRef {
  std::string_view name;  // into the file's metadata
  TensorShape shape;
  fb::DType dtype = fb::DType::F32;
  QuantizedView view;  // over the file's bytes; F32/F16/BF16 use view.data only
  uint64_t data_bytes = 0;   // all regions (data, scales, mins, dq arrays)
  uint64_t checksum = 0;
  uint64_t elements() const { return view.rows * view.cols; }
};

struct OpenOptions {
  bool use_mmap = true;          // false: read the file into an aligned heap buffer
  bool verify_checksums = false; // full check: every Tensor.checksum (FORMAT.md)
};

// A required tensor and its shape for a config (format/FORMAT.md's table).
struct ExpectedTensor {
  std::string name;
  std::vector<uint64_t> shape;
};
// Sanity of the dimensions (non-zero, heads divide, rotary_dim, sliding_window length).
Status CheckConfig(const ModelConfig& config);
// Bounds n_layers by what a file holds (every layer has tensors of its own) before
// ExpectedTensors builds a list that long: refuses more layers than `n_tensors`.
Status CheckLayerCount(const ModelConfig& config, uint64_t n_tensors);
std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& config);
// Calls fn(ctx, name, shape, rank) for each tensor ExpectedTensors lists, in its order, and
// stops at the first error; allocates nothing (the reader checks files with it).
using ExpectedTensorFn = Status (*)(void* ctx, std::string_view name, const uint64_t* shape, size_t rank);
Status ForEachExpectedTensor(const ModelConfig& config, ExpectedTensorFn fn, void* ctx);
// A tokenizer's fields without a copy: over a TokenizerData or a file's Tokenizer table
// (which must outlive it). The runtime's tokenizer is built from one; importers and the
// runtime check one with CheckTokenizer.
class TokenizerView {
 public:
  using FbStrings = flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>;
  explicit TokenizerView(const TokenizerData& d);
  // The table must have passed ModelFile's checks (enum values, vector lengths).
  explicit TokenizerView(const fb::Tokenizer& t);

  size_t n_pieces() const { return data_ ? data_->pieces.size() : fb_pieces_->size(); }
  std::string_view piece(size_t i) const {
    return data_ ? std::string_view(data_->pieces[i]) : Str(fb_pieces_->Get(static_cast<flatbuffers::uoffset_t>(i)));
  }
  size_t n_merges() const { return data_ ? data_->merges.size() : fb_merges_ ? fb_merges_->size() : 0; }
  std::string_view merge(size_t r) const {
    return data_ ? std::string_view(data_->merges[r]) : Str(fb_merges_->Get(static_cast<flatbuffers::uoffset_t>(r)));
  }
  // Scores and kinds: empty or one per piece. A file's floats are read bytewise (see ToVector
  // in model_file.cc); kinds are bytes.
  size_t n_scores() const { return n_scores_; }
  float score(size_t i) const;
  size_t n_kinds() const { return n_kinds_; }
  fb::TokenKind kind(size_t i) const { return static_cast<fb::TokenKind>(kinds_[i]); }

  fb::TokenizerType type = fb::TokenizerType::SentencePieceBPE;
  bool add_bos = true, add_eos = false, add_dummy_prefix = true, byte_fallback = true;
  std::string_view pre_tokenizer, chat_template;
  int32_t unk_id = -1, bos_id = -1, eos_id = -1;

 private:
  static std::string_view Str(const flatbuffers::String* s) { return std::string_view(s->data(), s->size()); }
  const TokenizerData* data_ = nullptr;
  const FbStrings* fb_pieces_ = nullptr;
  const FbStrings* fb_merges_ = nullptr;
  const uint8_t* scores_ = nullptr;  // n_scores_ little-endian floats
  const uint8_t* kinds_ = nullptr;
  size_t n_scores_ = 0, n_kinds_ = 0;
};

// What the runtime's tokenizer needs of its data (piece count, scores/kinds lengths, ids in
// range, a supported type, <0xNN> byte pieces, a known pre-tokenizer, "left right" merges):
// the reader's runtime and the converter share it, so no file is written that cannot run.
Status CheckTokenizer(const TokenizerView& tokenizer);
inline Status CheckTokenizer(const TokenizerData& tokenizer) { return CheckTokenizer(TokenizerView(tokenizer)); }
// True for tensors stored F32 whatever the options say (norms, biases, all 1-D tensors).
bool IsAlwaysF32(const std::string& name, size_t rank);

class ModelFile {
 public:
  // The config's arrays, the tensor table and its index come from `mem`, which must outlive
  // the object.
  explicit ModelFile(std::pmr::memory_resource* mem = std::pmr::get_default_resource())
      : config_(mem), tensors_(mem), by_name_(mem) {}
  ~ModelFile();
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  Status Open(const std::string& path, const OpenOptions& options = {});
  // The buffer must outlive this object; nothing is copied.
  Status OpenMemory(const void* data, size_t size, const OpenOptions& options = {});
  void Close();
  // Hashes every tensor and compares with Tensor.checksum.
  Status VerifyChecksums() const;

  const QlmHeader& header() const { return header_; }
  const fb::Model* meta() const { return meta_; }
  const uint8_t* data_segment() const { return base_ + header_.data_offset; }
  uint64_t file_size() const { return size_; }
  const ModelConfig& config() const { return config_; }
  // A copy of the tokenizer table (empty without one); the runtime reads the table in place
  // through TokenizerView(*meta()->tokenizer()).
  TokenizerData tokenizer() const;
  bool has_tokenizer() const { return meta_ && meta_->tokenizer(); }
  uint64_t fingerprint() const { return meta_ ? meta_->fingerprint() : 0; }
  const std::pmr::vector<TensorRef>& tensors() const { return tensors_; }
  const TensorRef* FindTensor(std::string_view name) const;

 private:
  Status Load(const OpenOptions& options);
  Status LoadTensor(const fb::Tensor& t, TensorRef* ref) const;

  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;  // mmap'ed region (munmap on Close)
  uint8_t* owned_ = nullptr; // aligned heap copy (free on Close)
  QlmHeader header_;
  const fb::Model* meta_ = nullptr;
  ModelConfig config_;
  std::pmr::vector<TensorRef> tensors_;
  std::pmr::vector<uint32_t> by_name_;  // tensor indexes sorted by name
};

}  // namespace qlite
