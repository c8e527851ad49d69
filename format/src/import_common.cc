#include "import_common.h"

#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>

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

float HalfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | (uint32_t(112 - e) << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void PermuteRopeRows(const std::vector<float>& src, uint64_t rows, uint64_t cols, uint32_t head_dim,
                     bool inverse, std::vector<float>* dst) {
  dst->resize(src.size());
  const uint64_t half = head_dim / 2;
  for (uint64_t r = 0; r < rows; ++r) {
    const uint64_t h = r / head_dim, j = r % head_dim;
    const uint64_t t = j / half, i = j % half;           // r as an HF row
    const uint64_t meta = h * head_dim + 2 * i + t;      // its Meta row
    const uint64_t from = inverse ? r : meta, to = inverse ? meta : r;
    std::memcpy(dst->data() + to * cols, src.data() + from * cols, cols * sizeof(float));
  }
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

Status ValidateSourceModel(const SourceModel& m) {
  const ModelConfig& c = m.config;
  if (c.dim == 0 || c.n_layers == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.head_dim == 0 ||
      c.ffn_dim == 0 || c.vocab_size == 0)
    return StatusError(StatusCode::kFormat, "incomplete config (dim %u, layers %u, heads %u/%u, head_dim %u, ffn %u, vocab %u)",
                       c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim, c.vocab_size);
  if (c.n_heads % c.n_kv_heads != 0)
    return StatusError(StatusCode::kFormat, "heads %u not a multiple of kv heads %u", c.n_heads, c.n_kv_heads);
  if (c.head_dim % 2 != 0) return StatusError(StatusCode::kFormat, "odd head_dim %u", c.head_dim);
  std::map<std::string, const SourceTensor*> by_name;
  for (const SourceTensor& t : m.tensors) {
    if (!by_name.emplace(t.name, &t).second)
      return StatusError(StatusCode::kFormat, "duplicate tensor %s", t.name.c_str());
  }
  const uint64_t q = uint64_t(c.n_heads) * c.head_dim, kv = uint64_t(c.n_kv_heads) * c.head_dim;
  std::set<std::string> expected_names;
  auto expect = [&](const std::string& name, std::vector<uint64_t> shape) -> Status {
    expected_names.insert(name);
    auto it = by_name.find(name);
    if (it == by_name.end()) return StatusError(StatusCode::kFormat, "missing tensor %s", name.c_str());
    if (it->second->shape != shape) {
      std::string got, want;
      for (uint64_t d : it->second->shape) got += (got.empty() ? "" : ",") + std::to_string(d);
      for (uint64_t d : shape) want += (want.empty() ? "" : ",") + std::to_string(d);
      return StatusError(StatusCode::kFormat, "shape mismatch for %s: [%s], expected [%s]", name.c_str(), got.c_str(),
                         want.c_str());
    }
    return Status::Ok();
  };
  QLITE_RETURN_IF_ERROR(expect("token_embd", {c.vocab_size, c.dim}));
  QLITE_RETURN_IF_ERROR(expect("output_norm", {c.dim}));
  if (!c.tied_embeddings) {
    QLITE_RETURN_IF_ERROR(expect("output", {c.vocab_size, c.dim}));
  }
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    QLITE_RETURN_IF_ERROR(expect(b + "attn_norm", {c.dim}));
    QLITE_RETURN_IF_ERROR(expect(b + "ffn_norm", {c.dim}));
    QLITE_RETURN_IF_ERROR(expect(b + "attn_q", {q, c.dim}));
    QLITE_RETURN_IF_ERROR(expect(b + "attn_k", {kv, c.dim}));
    QLITE_RETURN_IF_ERROR(expect(b + "attn_v", {kv, c.dim}));
    QLITE_RETURN_IF_ERROR(expect(b + "attn_output", {c.dim, q}));
    QLITE_RETURN_IF_ERROR(expect(b + "ffn_gate", {c.ffn_dim, c.dim}));
    QLITE_RETURN_IF_ERROR(expect(b + "ffn_up", {c.ffn_dim, c.dim}));
    QLITE_RETURN_IF_ERROR(expect(b + "ffn_down", {c.dim, c.ffn_dim}));
    if (c.qkv_bias) {
      QLITE_RETURN_IF_ERROR(expect(b + "attn_q.bias", {q}));
      QLITE_RETURN_IF_ERROR(expect(b + "attn_k.bias", {kv}));
      QLITE_RETURN_IF_ERROR(expect(b + "attn_v.bias", {kv}));
    }
  }
  for (const SourceTensor& t : m.tensors)
    if (!expected_names.count(t.name))
      return StatusError(StatusCode::kFormat, "unexpected tensor %s (source %s)", t.name.c_str(),
                         t.source_dtype.c_str());
  if (m.tokenizer.pieces.size() > c.vocab_size)
    return StatusError(StatusCode::kFormat, "tokenizer has %zu pieces, model vocab is %u", m.tokenizer.pieces.size(),
                       c.vocab_size);
  return Status::Ok();
}

}  // namespace import_internal
}  // namespace qlite
