// Writes a .qlm file: tensors stream to disk as they are added (bounded memory for models
// of any size) into a temp file, after a gap reserved for header + FlatBuffer meta; Finish()
// writes those into the gap and renames the temp file into place. If the meta outgrows the
// gap, Finish() rewrites the file once with a larger gap (slower, correct). Any error, or
// destruction before Finish(), removes every temporary file.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "qlite/format/convert.h"
#include "qlite/format/quantize.h"
#include "qlite/format/source_model.h"
#include "qlite/base/status.h"

namespace qlite {

struct ProvenanceInfo {
  std::string source, source_format, converter_version, quantization;
  std::vector<AdapterRecord> adapters;
  uint64_t created_unix = 0;
};

struct WriterOptions {
  uint32_t tensor_alignment = 64;     // power of two >= 64
  uint32_t segment_alignment = 16384; // power of two >= 4096
  uint64_t meta_reserve = 0;          // expected meta size (estimate generously; 0: one segment)
};

class ModelWriter {
 public:
  ModelWriter() = default;
  ~ModelWriter();
  ModelWriter(const ModelWriter&) = delete;
  ModelWriter& operator=(const ModelWriter&) = delete;

  Status Open(const std::string& path, const WriterOptions& options = {});
  void SetConfig(const ModelConfig& config) { config_ = config; }
  void SetTokenizer(const TokenizerData& tokenizer) { tokenizer_ = tokenizer; has_tokenizer_ = true; }
  void SetProvenance(const ProvenanceInfo& provenance) { provenance_ = provenance; }
  void SetFingerprint(uint64_t fingerprint) { fingerprint_ = fingerprint; }
  // shape: [rows, cols] for matrices, [n] for vectors; must hold t.rows*t.cols elements.
  Status AddTensor(const std::string& name, const std::vector<uint64_t>& shape, const QuantizedTensor& t);
  // The same with t's checksum computed beforehand by TensorChecksum (in parallel, by the
  // converter's workers), so the writing thread only writes.
  Status AddTensor(const std::string& name, const std::vector<uint64_t>& shape, const QuantizedTensor& t,
                   uint64_t checksum);
  // The checksum AddTensor stores for t: XXH64 over its data, scales, mins, dq_scales and
  // dq_offsets in that order (FORMAT.md, "Integrity").
  static uint64_t TensorChecksum(const QuantizedTensor& t);
  // Writes the final file; *file_size (optional) receives its size.
  Status Finish(uint64_t* file_size = nullptr);
  // Removes temporary files; the destination is untouched.
  void Abort();

 private:
  struct Region { uint64_t offset = 0, size = 0; };
  struct Entry {
    std::string name;
    std::vector<uint64_t> shape;
    QuantSpec spec;
    uint64_t row_stride = 0, checksum = 0;
    Region data, scales, mins, dq_scales, dq_offsets;
  };
  Status AddTensor(const std::string& name, const std::vector<uint64_t>& shape, const QuantizedTensor& t,
                   const uint64_t* checksum);
  Status WriteRegion(const std::vector<uint8_t>& bytes, Region* region);
  void StartWriteback();
  std::vector<uint8_t> BuildMeta() const;

  std::string path_, tmp_path_, data_path_;
  WriterOptions options_;
  std::FILE* data_file_ = nullptr;  // the whole file; data streamed from data_offset_
  uint64_t data_offset_ = 0;        // reserved gap for header + meta
  uint64_t data_size_ = 0;
  uint64_t writeback_at_ = 0;  // data_size_ when write-back was last started
  std::vector<Entry> entries_;
  ModelConfig config_;
  TokenizerData tokenizer_;
  bool has_tokenizer_ = false;
  ProvenanceInfo provenance_;
  uint64_t fingerprint_ = 0;
};

}  // namespace qlite
