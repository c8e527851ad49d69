#include "safetensors.h"

#include <cstring>

#include "import_common.h"
#include "qlite/format/quantize.h"
#include "qlite/format/json.h"

namespace qlite {
namespace safetensors {
namespace ii = import_internal;

namespace {
constexpr uint64_t kMaxHeader = 100ull << 20;  // the format's own limit
}

uint64_t ElementSize(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

Status ReadHeader(const std::string& path, std::vector<Tensor>* out) {
  uint64_t file_size = 0;
  QLITE_RETURN_IF_ERROR(ii::FileSize(path, &file_size));
  uint64_t header_len = 0;
  if (file_size < 8) return StatusError(StatusCode::kFormat, "%s: truncated safetensors header", path.c_str());
  QLITE_RETURN_IF_ERROR(ii::ReadAt(path, 0, 8, &header_len));
  if (header_len > kMaxHeader || header_len > file_size - 8)
    return StatusError(StatusCode::kFormat, "%s: truncated safetensors header (%llu bytes declared, file has %llu)",
                       path.c_str(), (unsigned long long)header_len, (unsigned long long)file_size);
  std::string text(size_t(header_len), '\0');
  QLITE_RETURN_IF_ERROR(ii::ReadAt(path, 8, header_len, header_len ? &text[0] : nullptr));
  json::Value root;
  if (Status s = json::Parse(text, &root); !s.ok()) return Status(s.code(), path + ": " + s.message());
  if (!root.IsObject()) return StatusError(StatusCode::kFormat, "%s: safetensors header is not an object", path.c_str());
  const uint64_t data_start = 8 + header_len, data_size = file_size - data_start;
  out->clear();
  for (const auto& kv : root.object) {
    if (kv.first == "__metadata__") continue;
    const json::Value& v = kv.second;
    Tensor t;
    t.name = kv.first;
    const json::Value* dtype = v.Find("dtype");
    const json::Value* shape = v.Find("shape");
    const json::Value* offs = v.Find("data_offsets");
    if (!dtype || !dtype->IsString() || !shape || !shape->IsArray() || shape->array.size() > ii::kMaxDims || !offs ||
        !offs->IsArray() || offs->array.size() != 2 || !offs->array[0].is_integer || !offs->array[1].is_integer)
      return StatusError(StatusCode::kFormat, "%s: bad header entry for %s", path.c_str(), t.name.c_str());
    t.dtype = dtype->string;
    uint64_t n = 1;
    for (const json::Value& d : shape->array) {
      if (!d.is_integer || d.integer <= 0 || uint64_t(d.integer) > (1ull << 40) || n > (1ull << 40) / uint64_t(d.integer))
        return StatusError(StatusCode::kFormat, "%s: bad shape for %s", path.c_str(), t.name.c_str());
      t.shape.push_back(uint64_t(d.integer));
      n *= uint64_t(d.integer);
    }
    const int64_t b = offs->array[0].integer, e = offs->array[1].integer;
    if (b < 0 || e < b || uint64_t(e) > data_size)
      return StatusError(StatusCode::kFormat, "%s: tensor %s lies outside the file (truncated?)", path.c_str(),
                         t.name.c_str());
    t.offset = data_start + uint64_t(b);
    t.n_bytes = uint64_t(e - b);
    const uint64_t es = ElementSize(t.dtype);
    if (es != 0 && t.n_bytes != n * es)
      return StatusError(StatusCode::kFormat, "%s: tensor %s: %llu bytes for %llu %s values", path.c_str(),
                         t.name.c_str(), (unsigned long long)t.n_bytes, (unsigned long long)n, t.dtype.c_str());
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

Status ToFloat(const std::string& dtype, const uint8_t* src, uint64_t n, float* dst) {
  if (dtype == "F32") {
    std::memcpy(dst, src, n * 4);
  } else if (dtype == "F16" || dtype == "BF16") {
    const bool bf = dtype == "BF16";
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = bf ? BF16ToF32(h) : F16ToF32(h);
    }
  } else {
    return StatusError(StatusCode::kUnsupported, "unsupported dtype %s", dtype.c_str());
  }
  return Status::Ok();
}

}  // namespace safetensors
}  // namespace qlite
