// The fixed 64-byte header at the start of every .qlm file (layout in format/FORMAT.md).
// Encoded byte by byte in little-endian order so firmware can parse it without FlatBuffers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/base/status.h"

namespace qlite {

// .qlm version written. Version 1 (FNV-1a 64 checksums and fingerprint) is still read;
// version 2 changed only those two hashes (FORMAT.md, "Integrity").
constexpr uint32_t kQlmVersion = 2;
constexpr uint32_t kQlmOldestVersion = 1;
constexpr uint32_t kQlaVersion = 1;  // .qla files keep their own version
constexpr uint32_t kQlmHeaderSize = 64;
constexpr char kQlmMagic[4] = {'Q', 'L', 'M', '1'};
constexpr char kQlaMagic[4] = {'Q', 'L', 'A', '1'};  // LoRA adapter files (format/LORA.md), same layout

struct QlmHeader {
  uint32_t version = kQlmVersion;  // kQlaVersion for .qla files
  uint32_t header_size = kQlmHeaderSize;
  uint32_t tensor_alignment = 64;
  uint64_t meta_offset = kQlmHeaderSize;
  uint64_t meta_size = 0;
  uint64_t data_offset = 0;
  uint64_t data_size = 0;
  uint64_t file_size = 0;
  uint32_t segment_alignment = 16384;
  uint32_t header_checksum = 0;  // filled by EncodeHeader, checked by DecodeHeader
};

// Writes the magic, all fields and the checksum of bytes 0..59.
void EncodeHeader(const QlmHeader& header, uint8_t out[kQlmHeaderSize], const char* magic = kQlmMagic);

// Parses and validates a header against the `available` bytes of the file: magic, version,
// checksum, alignments (powers of two), and meta/data ranges inside the file without
// overlap or overflow. kFormat errors name the failing field.
// `magic` selects the file kind (kQlmMagic or kQlaMagic).
Status DecodeHeader(const uint8_t* bytes, uint64_t available, QlmHeader* out, const char* magic = kQlmMagic);

}  // namespace qlite
