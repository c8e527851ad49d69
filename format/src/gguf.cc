#include "gguf.h"

#include <cstring>

#include "import_common.h"

namespace qlite {
namespace gguf {
namespace ii = import_internal;

namespace {

constexpr uint64_t kMaxKvs = 1u << 16;
constexpr uint64_t kMaxArray = 1u << 24;   // elements of one metadata array
constexpr uint64_t kMaxString = 64u << 20; // one metadata string (chat templates are KBs)
constexpr int kMaxArrayDepth = 4;

struct Reader {
  ii::ByteReader r;
  bool truncated = false;  // ran past the buffer: retry with more of the file

  template <typename T>
  bool Read(T* v) {
    if (!r.Read(v)) return Short();
    return true;
  }
  bool Short() {
    truncated = true;
    return false;
  }
  Status Str(std::string* s, const char* what) {
    uint64_t len;
    if (!Read(&len)) return Truncated(what);
    if (len > kMaxString) return StatusError(StatusCode::kFormat, "GGUF %s: string of %llu bytes is too long", what,
                                             (unsigned long long)len);
    const uint8_t* p;
    if (!r.Bytes(len, &p)) {
      Short();
      return Truncated(what);
    }
    s->assign(reinterpret_cast<const char*>(p), size_t(len));
    return Status::Ok();
  }
  static Status Truncated(const char* what) {
    return StatusError(StatusCode::kFormat, "GGUF truncated while reading %s", what);
  }
};

size_t ScalarSize(ValueType t) {
  switch (t) {
    case ValueType::U8: case ValueType::I8: case ValueType::Bool: return 1;
    case ValueType::U16: case ValueType::I16: return 2;
    case ValueType::U32: case ValueType::I32: case ValueType::F32: return 4;
    case ValueType::U64: case ValueType::I64: case ValueType::F64: return 8;
    default: return 0;
  }
}

// Reads one scalar of type t into kv's i/u/f fields.
bool ReadScalar(Reader* rd, ValueType t, KeyValue* kv) {
  uint8_t b[8] = {};
  const uint8_t* p;
  size_t n = ScalarSize(t);
  if (!rd->r.Bytes(n, &p)) return rd->Short();
  std::memcpy(b, p, n);
  auto get = [&](auto v) {
    std::memcpy(&v, b, sizeof(v));
    return v;
  };
  switch (t) {
    case ValueType::U8: kv->u = get(uint8_t()); kv->i = int64_t(kv->u); break;
    case ValueType::I8: kv->i = get(int8_t()); kv->u = uint64_t(kv->i); break;
    case ValueType::U16: kv->u = get(uint16_t()); kv->i = int64_t(kv->u); break;
    case ValueType::I16: kv->i = get(int16_t()); kv->u = uint64_t(kv->i); break;
    case ValueType::U32: kv->u = get(uint32_t()); kv->i = int64_t(kv->u); break;
    case ValueType::I32: kv->i = get(int32_t()); kv->u = uint64_t(kv->i); break;
    case ValueType::U64: kv->u = get(uint64_t()); kv->i = int64_t(kv->u); break;
    case ValueType::I64: kv->i = get(int64_t()); kv->u = uint64_t(kv->i); break;
    case ValueType::Bool: kv->u = b[0] != 0; kv->i = int64_t(kv->u); break;
    case ValueType::F32: kv->f = get(float()); break;
    case ValueType::F64: kv->f = get(double()); break;
    default: return false;
  }
  if (t != ValueType::F32 && t != ValueType::F64) kv->f = (t == ValueType::U64) ? double(kv->u) : double(kv->i);
  return true;
}

Status ReadValue(Reader* rd, ValueType t, KeyValue* kv, int depth) {
  const char* what = kv->key.c_str();
  if (t == ValueType::String) return rd->Str(&kv->str, what);
  if (t != ValueType::Array) {
    if (ScalarSize(t) == 0)
      return StatusError(StatusCode::kFormat, "GGUF key %s: unknown value type %u", what, uint32_t(t));
    if (!ReadScalar(rd, t, kv)) return Reader::Truncated(what);
    return Status::Ok();
  }
  if (depth >= kMaxArrayDepth) return StatusError(StatusCode::kFormat, "GGUF key %s: arrays nested too deep", what);
  uint32_t et;
  uint64_t count;
  if (!rd->Read(&et) || !rd->Read(&count)) return Reader::Truncated(what);
  if (count > kMaxArray)
    return StatusError(StatusCode::kFormat, "GGUF key %s: absurd array length %llu", what, (unsigned long long)count);
  const ValueType elem = ValueType(et);
  if (depth == 0) {
    kv->elem_type = elem;
    kv->count = count;
  }
  if (elem == ValueType::String) {
    if (count * 8 > rd->r.remaining()) {  // each string needs at least its length field
      rd->Short();
      return Reader::Truncated(what);
    }
    if (depth == 0) kv->strings.resize(size_t(count));
    std::string scratch;
    for (uint64_t k = 0; k < count; ++k) QLITE_RETURN_IF_ERROR(rd->Str(depth == 0 ? &kv->strings[k] : &scratch, what));
    return Status::Ok();
  }
  if (elem == ValueType::Array) {
    KeyValue inner;
    inner.key = kv->key;
    for (uint64_t k = 0; k < count; ++k) QLITE_RETURN_IF_ERROR(ReadValue(rd, elem, &inner, depth + 1));
    return Status::Ok();
  }
  const size_t size = ScalarSize(elem);
  if (size == 0) return StatusError(StatusCode::kFormat, "GGUF key %s: unknown array element type %u", what, et);
  if (count * size > rd->r.remaining()) {
    rd->Short();
    return Reader::Truncated(what);
  }
  if (depth == 0) kv->numbers.resize(size_t(count));
  KeyValue scalar;
  for (uint64_t k = 0; k < count; ++k) {
    ReadScalar(rd, elem, &scalar);
    if (depth == 0) kv->numbers[k] = scalar.f;
  }
  return Status::Ok();
}

// Parses the header from the first `buf` bytes of the file; sets rd.truncated when the
// header runs past them (the caller retries with a larger prefix).
Status ParseHeader(uint64_t file_size, Reader* rd, File* f) {
  char magic[4];
  if (!rd->Read(&magic) || std::memcmp(magic, "GGUF", 4) != 0)
    return StatusError(StatusCode::kFormat, "%s: not a GGUF file (bad magic)", f->path.c_str());
  if (!rd->Read(&f->version)) return Reader::Truncated("version");
  if (f->version != 2 && f->version != 3)
    return StatusError(StatusCode::kUnsupported, "%s: GGUF version %u is not supported (2 or 3)", f->path.c_str(),
                       f->version);
  uint64_t n_tensors, n_kv;
  if (!rd->Read(&n_tensors) || !rd->Read(&n_kv)) return Reader::Truncated("counts");
  if (n_tensors > ii::kMaxTensors || n_kv > kMaxKvs)
    return StatusError(StatusCode::kFormat, "%s: absurd counts (%llu tensors, %llu metadata keys)", f->path.c_str(),
                       (unsigned long long)n_tensors, (unsigned long long)n_kv);
  // Each entry takes at least 13 (key/value) or 32 (tensor info) bytes: a count the file
  // cannot hold is rejected before anything is allocated for it.
  if (n_kv * 13 > file_size || n_tensors * 32 > file_size)
    return StatusError(StatusCode::kFormat, "%s: absurd counts for a %llu-byte file (%llu tensors, %llu keys)",
                       f->path.c_str(), (unsigned long long)file_size, (unsigned long long)n_tensors,
                       (unsigned long long)n_kv);
  f->kvs.resize(size_t(n_kv));
  for (KeyValue& kv : f->kvs) {
    QLITE_RETURN_IF_ERROR(rd->Str(&kv.key, "metadata key"));
    uint32_t t;
    if (!rd->Read(&t)) return Reader::Truncated(kv.key.c_str());
    kv.type = ValueType(t);
    QLITE_RETURN_IF_ERROR(ReadValue(rd, kv.type, &kv, 0));
  }
  if (const KeyValue* a = f->Find("general.alignment")) {
    if (!a->IsInteger() || a->u == 0 || a->u > (1u << 20) || (a->u & (a->u - 1)) != 0)
      return StatusError(StatusCode::kFormat, "%s: bad general.alignment", f->path.c_str());
    f->alignment = uint32_t(a->u);
  }
  f->tensors.resize(size_t(n_tensors));
  for (TensorInfo& t : f->tensors) {
    QLITE_RETURN_IF_ERROR(rd->Str(&t.name, "tensor name"));
    uint32_t n_dims;
    if (!rd->Read(&n_dims)) return Reader::Truncated("tensor info");
    if (n_dims == 0 || n_dims > 4)
      return StatusError(StatusCode::kFormat, "%s: tensor %s has %u dimensions", f->path.c_str(), t.name.c_str(), n_dims);
    t.ne.resize(n_dims);
    t.n_elements = 1;
    for (uint64_t& d : t.ne) {
      if (!rd->Read(&d)) return Reader::Truncated("tensor dims");
      if (d == 0 || d > (1ull << 40) || t.n_elements > (1ull << 40) / d)
        return StatusError(StatusCode::kFormat, "%s: tensor %s has absurd dimensions", f->path.c_str(), t.name.c_str());
      t.n_elements *= d;
    }
    if (!rd->Read(&t.type) || !rd->Read(&t.offset)) return Reader::Truncated("tensor info");
  }
  const uint64_t end = rd->r.pos();
  f->data_offset = (end + f->alignment - 1) / f->alignment * f->alignment;
  f->file_size = file_size;
  // Tensor extents, checked only after the whole header parsed.
  for (TensorInfo& t : f->tensors) {
    uint64_t be, bb;
    if (!BlockLayout(t.type, &be, &bb))
      return StatusError(StatusCode::kUnsupported, "%s: tensor %s has unsupported dtype %s", f->path.c_str(),
                         t.name.c_str(), TypeName(t.type));
    if (t.ne[0] % be != 0)
      return StatusError(StatusCode::kFormat, "%s: tensor %s: row of %llu is not a multiple of the %s block",
                         f->path.c_str(), t.name.c_str(), (unsigned long long)t.ne[0], TypeName(t.type));
    t.n_bytes = t.n_elements / be * bb;
    if (t.offset % f->alignment != 0 || f->data_offset > file_size || t.offset > file_size - f->data_offset ||
        t.n_bytes > file_size - f->data_offset - t.offset)
      return StatusError(StatusCode::kFormat, "%s: tensor %s lies outside the file (truncated?)", f->path.c_str(),
                         t.name.c_str());
  }
  return Status::Ok();
}

}  // namespace

bool KeyValue::IsInteger() const {
  switch (type) {
    case ValueType::U8: case ValueType::I8: case ValueType::U16: case ValueType::I16: case ValueType::U32:
    case ValueType::I32: case ValueType::U64: case ValueType::I64: case ValueType::Bool: return true;
    default: return false;
  }
}
bool KeyValue::IsNumber() const { return IsInteger() || type == ValueType::F32 || type == ValueType::F64; }

const KeyValue* File::Find(const std::string& key) const {
  for (const KeyValue& kv : kvs)
    if (kv.key == key) return &kv;
  return nullptr;
}

const TensorInfo* File::FindTensor(const std::string& name) const {
  for (const TensorInfo& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Status Open(const std::string& path, File* out) {
  uint64_t file_size = 0;
  QLITE_RETURN_IF_ERROR(ii::FileSize(path, &file_size));
  // The header's size is unknown until parsed: read a prefix, grow it when too short.
  uint64_t want = std::min<uint64_t>(file_size, 4u << 20);
  for (;;) {
    std::string buf(size_t(want), '\0');
    QLITE_RETURN_IF_ERROR(ii::ReadAt(path, 0, want, want ? &buf[0] : nullptr));
    Reader rd{ii::ByteReader(reinterpret_cast<const uint8_t*>(buf.data()), buf.size())};
    File f;
    f.path = path;
    Status s = ParseHeader(file_size, &rd, &f);
    if (s.ok()) {
      *out = std::move(f);
      return s;
    }
    if (!rd.truncated || want == file_size || want >= ii::kMaxMetadataBytes) return s;
    want = std::min<uint64_t>({file_size, want * 4, ii::kMaxMetadataBytes});
  }
}

}  // namespace gguf
}  // namespace qlite
