// .qla writer and reader. Adapters are small (a few MB even for 7B models at r = 16), so the
// whole file is built and read in memory.
#include "qlite/format/adapter_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "import_common.h"
#include "qlite/base/files.h"
#include "qlite/format/adapter_generated.h"
#include "qlite/format/checksum.h"
#include "qlite/format/header.h"
#include "qlite/format/quantize.h"

namespace qlite {
namespace {

constexpr uint32_t kAlign = 64;
constexpr uint32_t kSegmentAlign = 4096;
constexpr uint64_t kMaxAdapterBytes = 4ull << 30;
constexpr uint64_t kMaxDim = 1u << 24, kMaxRank = 65536;

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// Appends the values as f32 or f16 at the next aligned offset; returns the region.
fba::Region Append(const std::vector<float>& v, bool f16, std::vector<uint8_t>* data) {
  data->resize(RoundUp(data->size(), kAlign), 0);
  const uint64_t offset = data->size();
  if (f16) {
    for (float x : v) {
      const uint16_t h = F32ToF16(x);
      data->push_back(uint8_t(h));
      data->push_back(uint8_t(h >> 8));
    }
  } else {
    data->resize(offset + v.size() * 4);
    std::memcpy(data->data() + offset, v.data(), v.size() * 4);  // little-endian hosts
  }
  return fba::Region(offset, data->size() - offset);
}

Status Decode(const uint8_t* seg, uint64_t seg_size, const fba::Region* r, uint64_t n, fba::DType dtype,
              const std::string& what, std::vector<float>* out) {
  const uint64_t es = dtype == fba::DType::F16 ? 2 : 4;
  if (r->offset() % kAlign != 0 || r->offset() > seg_size || r->size() > seg_size - r->offset() || r->size() != n * es)
    return StatusError(StatusCode::kFormat, "adapter file: %s region is out of bounds or of the wrong size", what.c_str());
  const uint8_t* p = seg + r->offset();
  out->resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    float v;
    if (es == 2) {
      v = F16ToF32(uint16_t(p[2 * i] | (p[2 * i + 1] << 8)));
    } else {
      std::memcpy(&v, p + 4 * i, 4);
    }
    if (!std::isfinite(v)) return StatusError(StatusCode::kFormat, "adapter file: %s has non-finite values", what.c_str());
    (*out)[i] = v;
  }
  return Status::Ok();
}

}  // namespace

Status WriteAdapterFile(const LoraAdapter& a, uint64_t base_fingerprint, const AdapterWriteOptions& options,
                        const std::string& path) {
  std::vector<uint8_t> data;
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fba::LoraTensor>> tensors;
  std::vector<const LoraTensor*> sorted;
  for (const LoraTensor& t : a.tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](const LoraTensor* x, const LoraTensor* y) { return x->target < y->target; });
  for (const LoraTensor* t : sorted) {
    if (t->a.size() != uint64_t{t->rank} * t->in || t->b.size() != t->out * t->rank)
      return StatusError(StatusCode::kInvalidArgument, "adapter %s: inconsistent sizes", t->target.c_str());
    const fba::Region ra = Append(t->a, options.f16, &data);
    const fba::Region rb = Append(t->b, options.f16, &data);
    uint64_t sum = Fnv1a64(data.data() + ra.offset(), ra.size());
    sum = Fnv1a64(data.data() + rb.offset(), rb.size(), sum);
    auto name = b.CreateString(t->target);
    fba::LoraTensorBuilder tb(b);
    tb.add_target(name);
    tb.add_rank(t->rank);
    tb.add_rows(t->out);
    tb.add_cols(t->in);
    tb.add_factor(t->factor);
    tb.add_dtype(options.f16 ? fba::DType::F16 : fba::DType::F32);
    tb.add_a(&ra);
    tb.add_b(&rb);
    tb.add_checksum(sum);
    tensors.push_back(tb.Finish());
  }
  auto tvec = b.CreateVector(tensors);
  auto name = b.CreateString(a.name);
  fba::AdapterBuilder ab(b);
  ab.add_format_version(1);
  ab.add_name(name);
  ab.add_rank(a.rank);
  ab.add_alpha(a.alpha);
  ab.add_base_fingerprint(base_fingerprint);
  ab.add_tensors(tvec);
  b.Finish(ab.Finish(), fba::AdapterIdentifier());

  QlmHeader h;
  h.version = kQlaVersion;
  h.tensor_alignment = kAlign;
  h.segment_alignment = kSegmentAlign;
  h.meta_size = b.GetSize();
  h.data_offset = RoundUp(kQlmHeaderSize + h.meta_size, kSegmentAlign);
  h.data_size = data.size();
  h.file_size = h.data_offset + data.size();
  std::vector<uint8_t> file(h.file_size, 0);
  EncodeHeader(h, file.data(), kQlaMagic);
  std::memcpy(file.data() + kQlmHeaderSize, b.GetBufferPointer(), b.GetSize());
  if (!data.empty()) std::memcpy(file.data() + h.data_offset, data.data(), data.size());

  QLITE_RETURN_IF_ERROR(CheckOutputPath(path, {}));  // renamed over below: never a device or FIFO
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return StatusError(StatusCode::kIo, "cannot create %s", tmp.c_str());
  const bool ok = std::fwrite(file.data(), 1, file.size(), f) == file.size();
  if (std::fclose(f) != 0 || !ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return StatusError(StatusCode::kIo, "cannot write %s", path.c_str());
  }
  return Status::Ok();
}

Status ReadAdapterMemory(const uint8_t* bytes, size_t size, LoraAdapter* out) {
  QlmHeader h;
  QLITE_RETURN_IF_ERROR(DecodeHeader(bytes, size, &h, kQlaMagic));
  const uint8_t* meta = bytes + h.meta_offset;
  flatbuffers::Verifier v(meta, size_t(h.meta_size));
  if (!fba::VerifyAdapterBuffer(v)) return Status(StatusCode::kFormat, "adapter file: metadata fails verification");
  const fba::Adapter* m = fba::GetAdapter(meta);
  if (m->format_version() != 1)
    return StatusError(StatusCode::kUnsupported, "adapter file: format_version %u (this build reads 1)", m->format_version());
  LoraAdapter a;
  a.name = m->name() ? m->name()->str() : "";
  a.rank = m->rank();
  a.alpha = m->alpha();
  a.base_fingerprint = m->base_fingerprint();
  const uint8_t* seg = bytes + h.data_offset;
  for (const fba::LoraTensor* t : *m->tensors()) {
    LoraTensor lt;
    lt.target = t->target()->str();
    if (t->rank() == 0 || t->rank() > kMaxRank || t->rows() == 0 || t->rows() > kMaxDim || t->cols() == 0 ||
        t->cols() > kMaxDim || static_cast<int>(t->dtype()) > static_cast<int>(fba::DType::MAX) ||
        !std::isfinite(t->factor()))
      return StatusError(StatusCode::kFormat, "adapter file: tensor %s has bad dimensions or type", lt.target.c_str());
    if (!a.tensors.empty() && !(a.tensors.back().target < lt.target))
      return StatusError(StatusCode::kFormat, "adapter file: tensors not sorted or duplicated at %s", lt.target.c_str());
    lt.rank = t->rank();
    lt.out = t->rows();
    lt.in = t->cols();
    lt.factor = t->factor();
    const fba::Region *ra = t->a(), *rb = t->b();
    QLITE_RETURN_IF_ERROR(Decode(seg, h.data_size, ra, uint64_t{lt.rank} * lt.in, t->dtype(), lt.target + " A", &lt.a));
    QLITE_RETURN_IF_ERROR(Decode(seg, h.data_size, rb, lt.out * lt.rank, t->dtype(), lt.target + " B", &lt.b));
    uint64_t sum = Fnv1a64(seg + ra->offset(), ra->size());
    sum = Fnv1a64(seg + rb->offset(), rb->size(), sum);
    if (sum != t->checksum())
      return StatusError(StatusCode::kFormat, "adapter file: checksum mismatch in %s", lt.target.c_str());
    a.tensors.push_back(std::move(lt));
  }
  *out = std::move(a);
  return Status::Ok();
}

Status ReadAdapterFile(const std::string& path, LoraAdapter* out) {
  std::string bytes;
  QLITE_RETURN_IF_ERROR(import_internal::ReadWholeFile(path, kMaxAdapterBytes, &bytes));
  Status s = ReadAdapterMemory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), out);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  if (out->name.empty()) out->name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  return Status::Ok();
}

}  // namespace qlite
