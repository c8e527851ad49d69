// Shared helpers of the importers (internal): bounded file reads, a bounds-checked byte
// cursor, half-float conversion and tensor-name bookkeeping.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "qlite/format/source_model.h"
#include "qlite/base/status.h"

namespace qlite {
namespace import_internal {

// Hard caps against hostile inputs (a header or vocabulary bigger than this is not a model).
constexpr uint64_t kMaxMetadataBytes = 512ull << 20;  // JSON/protobuf/tokenizer files
constexpr uint64_t kMaxVocab = 4u << 20;
constexpr uint64_t kMaxPieceBytes = 1u << 16;
constexpr uint64_t kMaxTensors = 1u << 20;
constexpr uint32_t kMaxDims = 8;

bool IsDirectory(const std::string& path);
bool IsRegularFile(const std::string& path);
std::string JoinPath(const std::string& dir, const std::string& name);
std::string DirName(const std::string& path);
bool EndsWith(const std::string& s, const std::string& suffix);

// File size in bytes, or an Io error.
Status FileSize(const std::string& path, uint64_t* size);
// Whole file into memory; fails (kFormat) when it is larger than max_bytes.
Status ReadWholeFile(const std::string& path, uint64_t max_bytes, std::string* out);
// Exactly `size` bytes at `offset`; a short read is a kFormat "truncated" error.
Status ReadAt(const std::string& path, uint64_t offset, uint64_t size, void* dst);

// Little-endian cursor over a byte buffer; every read checks the remaining length.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  bool Skip(uint64_t n) {
    if (n > remaining()) return false;
    pos_ += size_t(n);
    return true;
  }
  bool Bytes(uint64_t n, const uint8_t** p) {
    if (n > remaining()) return false;
    *p = data_ + pos_;
    pos_ += size_t(n);
    return true;
  }
  template <typename T>
  bool Read(T* v) {  // T is a plain little-endian scalar
    if (sizeof(T) > remaining()) return false;
    std::memcpy(v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Fills kinds for a SentencePiece vocabulary that carries none (llama2.c tokenizer.bin):
// <unk> -> Unknown, <s>/</s> -> Control, <0xNN> -> Byte.
void InferSentencePieceKinds(TokenizerData* tok);
bool IsBytePiece(const std::string& piece);

// Models often pad the embedding past the tokenizer's vocabulary (to a multiple of 64 or
// 128); the tokenizer gets matching placeholder pieces "<unused_N>" of kind Unused.
void PadVocabulary(uint32_t vocab_size, TokenizerData* tok);

// Checks a SourceModel before returning it: tensor names unique, shapes against config.
Status ValidateSourceModel(const SourceModel& model);

}  // namespace import_internal
}  // namespace qlite
