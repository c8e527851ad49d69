#include "qlite/format/header.h"

#include <cstring>

#include "qlite/format/checksum.h"

namespace qlite {
namespace {

void Put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void Put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t Get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
bool IsPow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace

void EncodeHeader(const QlmHeader& h, uint8_t out[kQlmHeaderSize], const char* magic) {
  std::memcpy(out, magic, 4);
  Put32(out + 4, h.version);
  Put32(out + 8, h.header_size);
  Put32(out + 12, h.tensor_alignment);
  Put64(out + 16, h.meta_offset);
  Put64(out + 24, h.meta_size);
  Put64(out + 32, h.data_offset);
  Put64(out + 40, h.data_size);
  Put64(out + 48, h.file_size);
  Put32(out + 56, h.segment_alignment);
  Put32(out + 60, Fnv1a32(out, 60));
}

Status DecodeHeader(const uint8_t* b, uint64_t available, QlmHeader* out, const char* magic) {
  const char* kind = std::memcmp(magic, kQlmMagic, 4) == 0 ? ".qlm" : ".qla";
  if (available < kQlmHeaderSize)
    return StatusError(StatusCode::kFormat, "file too small for a %s header (%llu bytes)", kind,
                       static_cast<unsigned long long>(available));
  if (std::memcmp(b, magic, 4) != 0) return StatusError(StatusCode::kFormat, "not a %s file (bad magic)", kind);
  QlmHeader h;
  h.version = Get32(b + 4);
  h.header_size = Get32(b + 8);
  h.tensor_alignment = Get32(b + 12);
  h.meta_offset = Get64(b + 16);
  h.meta_size = Get64(b + 24);
  h.data_offset = Get64(b + 32);
  h.data_size = Get64(b + 40);
  h.file_size = Get64(b + 48);
  h.segment_alignment = Get32(b + 56);
  h.header_checksum = Get32(b + 60);
  if (h.header_checksum != Fnv1a32(b, 60)) return Status(StatusCode::kFormat, "header checksum mismatch");
  const bool qla = std::memcmp(magic, kQlaMagic, 4) == 0;
  const uint32_t oldest = qla ? kQlaVersion : kQlmOldestVersion, newest = qla ? kQlaVersion : kQlmVersion;
  if (h.version < oldest || h.version > newest)
    return StatusError(StatusCode::kUnsupported, "unsupported %s version %u (this build reads %u to %u)", kind,
                       h.version, oldest, newest);
  if (h.header_size != kQlmHeaderSize) return StatusError(StatusCode::kFormat, "bad header_size %u", h.header_size);
  if (!IsPow2(h.tensor_alignment) || h.tensor_alignment < 64)
    return StatusError(StatusCode::kFormat, "bad tensor_alignment %u", h.tensor_alignment);
  if (!IsPow2(h.segment_alignment) || h.segment_alignment < 4096 || h.segment_alignment < h.tensor_alignment)
    return StatusError(StatusCode::kFormat, "bad segment_alignment %u", h.segment_alignment);
  if (h.file_size != available)
    return StatusError(StatusCode::kFormat, "file size %llu does not match header (%llu): truncated or padded",
                       static_cast<unsigned long long>(available), static_cast<unsigned long long>(h.file_size));
  if (h.meta_offset != kQlmHeaderSize) return Status(StatusCode::kFormat, "bad meta_offset");
  // All ranges are checked by subtraction so nothing can wrap around.
  if (h.meta_size == 0 || h.meta_size > h.file_size - h.meta_offset)
    return Status(StatusCode::kFormat, "meta_size outside the file");
  if (h.data_offset % h.segment_alignment != 0) return Status(StatusCode::kFormat, "data_offset not segment-aligned");
  if (h.data_offset < h.meta_offset + h.meta_size) return Status(StatusCode::kFormat, "data segment overlaps meta");
  if (h.data_offset > h.file_size || h.data_size != h.file_size - h.data_offset)
    return Status(StatusCode::kFormat, "data segment does not end at file_size");
  *out = h;
  return Status::Ok();
}

}  // namespace qlite
