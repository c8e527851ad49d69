// ImportAuto: picks the importer from the path (folder = HF, GGUF magic or .gguf, else
// a llama2.c checkpoint).
#include <cstring>

#include "import_common.h"
#include "qlite/format/import.h"

namespace qlite {
namespace ii = import_internal;

Status ImportAuto(const std::string& path, const ImportOptions& options, SourceModel* out) {
  if (ii::IsDirectory(path)) return ImportHuggingFace(path, out);
  if (ii::EndsWith(path, ".gguf")) return ImportGguf(path, out);
  char magic[4] = {};
  uint64_t size = 0;
  QLITE_RETURN_IF_ERROR(ii::FileSize(path, &size));
  if (size >= 4) QLITE_RETURN_IF_ERROR(ii::ReadAt(path, 0, 4, magic));
  if (std::memcmp(magic, "GGUF", 4) == 0) return ImportGguf(path, out);
  return ImportLlama2c(path, options.tokenizer, out);
}

}  // namespace qlite
