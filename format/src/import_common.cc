#include "import_common.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "qlite/base/files.h"
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
  int fd = -1;
  QLITE_RETURN_IF_ERROR(OpenRegularFile(path, &fd, size));
  ::close(fd);
  return Status::Ok();
}

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
  int fd = -1;
  uint64_t file_size = 0;
  QLITE_RETURN_IF_ERROR(OpenRegularFile(path, &fd, &file_size));
  Status s;
  if (size > file_size || offset > file_size - size) {
    s = StatusError(StatusCode::kFormat, "%s: truncated (wanted %llu bytes at offset %llu of %llu)", path.c_str(),
                    (unsigned long long)size, (unsigned long long)offset, (unsigned long long)file_size);
  }
  for (uint64_t got = 0; s.ok() && got < size;) {
    const ssize_t n = ::pread(fd, static_cast<char*>(dst) + got, size_t(std::min<uint64_t>(size - got, 1 << 30)),
                              off_t(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      s = StatusError(StatusCode::kFormat, "%s: truncated (wanted %llu bytes at offset %llu, got %llu)", path.c_str(),
                      (unsigned long long)size, (unsigned long long)offset, (unsigned long long)got);
    else
      got += uint64_t(n);
  }
  ::close(fd);
  return s;
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
  QLITE_RETURN_IF_ERROR(CheckLayerCount(m.config, m.tensors.size()));  // before ExpectedTensors
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
