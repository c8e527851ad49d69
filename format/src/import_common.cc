#include "import_common.h"

#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "qlite/format/model_file.h"

namespace qlite {
namespace import_internal {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Status FileSize(const std::string& path, uint64_t* size) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return StatusError(StatusCode::kIo, "cannot open %s", path.c_str());
  if (!S_ISREG(st.st_mode)) return StatusError(StatusCode::kIo, "%s is not a regular file", path.c_str());
  *size = uint64_t(st.st_size);
  return Status::Ok();
}

namespace {
struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;
}  // namespace

Status ReadWholeFile(const std::string& path, uint64_t max_bytes, std::string* out) {
  uint64_t size = 0;
  QLITE_RETURN_IF_ERROR(FileSize(path, &size));
  if (size > max_bytes)
    return StatusError(StatusCode::kFormat, "%s: %llu bytes is too large for this kind of file", path.c_str(),
                       (unsigned long long)size);
  out->assign(size_t(size), '\0');
  return ReadAt(path, 0, size, size ? &(*out)[0] : nullptr);
}

Status ReadAt(const std::string& path, uint64_t offset, uint64_t size, void* dst) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) return StatusError(StatusCode::kIo, "cannot open %s", path.c_str());
  if (size == 0) return Status::Ok();
  if (offset > uint64_t(INT64_MAX) || fseeko(f.get(), off_t(offset), SEEK_SET) != 0)
    return StatusError(StatusCode::kIo, "%s: cannot seek to %llu", path.c_str(), (unsigned long long)offset);
  size_t got = std::fread(dst, 1, size_t(size), f.get());
  if (got != size)
    return StatusError(StatusCode::kFormat, "%s: truncated (wanted %llu bytes at offset %llu, got %zu)",
                       path.c_str(), (unsigned long long)size, (unsigned long long)offset, got);
  return Status::Ok();
}

bool IsBytePiece(const std::string& p) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return p.size() == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && hex(p[3]) && hex(p[4]) && p[5] == '>';
}

void InferSentencePieceKinds(TokenizerData* tok) {
  tok->kinds.assign(tok->pieces.size(), fb::TokenKind::Normal);
  for (size_t i = 0; i < tok->pieces.size(); ++i) {
    const std::string& p = tok->pieces[i];
    if (p == "<unk>") {
      tok->kinds[i] = fb::TokenKind::Unknown;
      if (tok->unk_id < 0) tok->unk_id = int32_t(i);
    } else if (p == "<s>" || p == "</s>") {
      tok->kinds[i] = fb::TokenKind::Control;
    } else if (IsBytePiece(p)) {
      tok->kinds[i] = fb::TokenKind::Byte;
    }
  }
}

void PadVocabulary(uint32_t vocab_size, TokenizerData* tok) {
  if (tok->pieces.size() >= vocab_size) return;
  if (!tok->scores.empty()) tok->scores.resize(vocab_size, 0.0f);
  tok->kinds.resize(tok->pieces.size(), fb::TokenKind::Normal);
  tok->kinds.resize(vocab_size, fb::TokenKind::Unused);
  for (size_t i = tok->pieces.size(); i < vocab_size; ++i) tok->pieces.push_back("<unused_" + std::to_string(i) + ">");
}

Status ValidateSourceModel(const SourceModel& m) {
  QLITE_RETURN_IF_ERROR(CheckConfig(m.config));  // the reader's rules (model_rules.cc)
  std::map<std::string, const SourceTensor*> by_name;
  for (const SourceTensor& t : m.tensors)
    if (!by_name.emplace(t.name, &t).second)
      return StatusError(StatusCode::kFormat, "duplicate tensor %s", t.name.c_str());
  std::set<std::string> expected;
  for (const ExpectedTensor& e : ExpectedTensors(m.config)) {
    expected.insert(e.name);
    auto it = by_name.find(e.name);
    if (it == by_name.end()) return StatusError(StatusCode::kFormat, "missing tensor %s", e.name.c_str());
    if (it->second->shape != e.shape) {
      std::string got, want;
      for (uint64_t d : it->second->shape) got += (got.empty() ? "" : ",") + std::to_string(d);
      for (uint64_t d : e.shape) want += (want.empty() ? "" : ",") + std::to_string(d);
      return StatusError(StatusCode::kFormat, "shape mismatch for %s: [%s], expected [%s]", e.name.c_str(),
                         got.c_str(), want.c_str());
    }
  }
  for (const SourceTensor& t : m.tensors)
    if (!expected.count(t.name))
      return StatusError(StatusCode::kFormat, "unexpected tensor %s (source %s)", t.name.c_str(),
                         t.source_dtype.c_str());
  if (m.tokenizer.pieces.size() > m.config.vocab_size)
    return StatusError(StatusCode::kFormat, "tokenizer has %zu pieces, model vocab is %u", m.tokenizer.pieces.size(),
                       m.config.vocab_size);
  return Status::Ok();
}

}  // namespace import_internal
}  // namespace qlite
