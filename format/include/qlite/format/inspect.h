// Human-readable report of a .qlm file (used by `qlite inspect`): header, config, tokenizer
// summary, provenance, optional tensor table, totals and bytes per parameter.
#pragma once
#include <cstdio>
#include <string>

#include "qlite/format/model_file.h"
#include "qlite/base/status.h"

namespace qlite {

struct InspectOptions {
  bool tensors = false;  // print the per-tensor table
  bool verify = false;   // also verify every tensor checksum (reads all data)
};

void PrintModelInfo(const ModelFile& file, const InspectOptions& options, std::FILE* out);
// Opens `path` (with checksum verification when options.verify) and prints the report.
Status InspectFile(const std::string& path, const InspectOptions& options, std::FILE* out);

}  // namespace qlite
