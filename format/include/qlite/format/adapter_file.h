// .qla files: one LoRA adapter, stored alone and bound to its base model by fingerprint
// (layout in format/LORA.md). A and B are kept in the base's row order, f32 or f16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "qlite/format/lora.h"
#include "qlite/base/status.h"

namespace qlite {

struct AdapterWriteOptions {
  bool f16 = false;  // store A and B as f16 (half the size; rounds them once)
};

// Writes `adapter` bound to `base_fingerprint`, atomically (temp file + rename).
Status WriteAdapterFile(const LoraAdapter& adapter, uint64_t base_fingerprint, const AdapterWriteOptions& options,
                        const std::string& path);

// Reads and fully verifies a .qla file (header, FlatBuffers verifier, regions, sizes,
// per-tensor checksums, finite values) into `out` (f32). Shapes against a base are checked
// by ReadLoraAdapter / CheckLoraShapes; the fingerprint binding by the caller.
Status ReadAdapterFile(const std::string& path, LoraAdapter* out);
Status ReadAdapterMemory(const uint8_t* data, size_t size, LoraAdapter* out);

}  // namespace qlite
