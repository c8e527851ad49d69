// qlite convert: llama2.c .bin, Hugging Face folder or GGUF -> quantized .qlm.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "commands.h"
#include "qlite/format/convert.h"
#include "qlite/format/import.h"

namespace {

void PrintHelp(FILE* out) {
  std::fprintf(out,
               "usage: qlite convert SRC -o OUT.qlm [options]\n"
               "  SRC                     llama2.c checkpoint (.bin), Hugging Face folder, or .gguf file\n"
               "  -o, --output OUT.qlm    output file (written atomically; nothing is left on error)\n"
               "  --tokenizer PATH        llama2.c only: tokenizer.bin or tokenizer.model\n"
               "                          (default: tokenizer.bin / tok<vocab>.bin beside SRC)\n"
               "  --weights SCHEME        projection weights: q4 (int4 symmetric, default), q4a (int4 with min),\n"
               "                          q8, nf4, f16, bf16, f32\n"
               "  --embed-weights SCHEME  token_embd/output (default: q8 when --weights is 4-bit, else the same)\n"
               "  --group-size N          32 (default), 64 or 128\n"
               "  --granularity G         group (default), row or tensor\n"
               "  --scale-type T          f16 (default), f32, or dq (u8 double-quantized scales)\n"
               "  --layout L              rowmajor (default) or interleave4 (4-row interleaved blocks)\n"
               "  -q, --quiet             no progress output\n"
               "Norms and biases stay f32.\n");
}

bool ParseScheme(const std::string& s, qlite::fb::DType* dtype) {
  using qlite::fb::DType;
  if (s == "q4") *dtype = DType::I4;
  else if (s == "q4a") *dtype = DType::U4;
  else if (s == "q8") *dtype = DType::I8;
  else if (s == "nf4") *dtype = DType::NF4;
  else if (s == "f16") *dtype = DType::F16;
  else if (s == "bf16") *dtype = DType::BF16;
  else if (s == "f32") *dtype = DType::F32;
  else return false;
  return true;
}

bool Is4Bit(qlite::fb::DType d) {
  return d == qlite::fb::DType::I4 || d == qlite::fb::DType::U4 || d == qlite::fb::DType::NF4;
}

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", b, units[u]);
  return buf;
}

int Usage(const char* msg, const char* arg) {
  std::fprintf(stderr, "qlite convert: %s%s%s\n(see qlite convert --help)\n", msg, arg ? " " : "", arg ? arg : "");
  return 2;
}

int RunConvert(int argc, char** argv) {
  std::string src, out, weights = "q4", embed, granularity = "group", scale_type = "f16", layout = "rowmajor";
  qlite::ImportOptions import_options;
  uint32_t group_size = 32;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* dst) {
      if (i + 1 >= argc) return false;
      *dst = argv[++i];
      return true;
    };
    if (a == "-h" || a == "--help") {
      PrintHelp(stdout);
      return 0;
    } else if (a == "-o" || a == "--output") {
      if (!value(&out)) return Usage("missing value for", a.c_str());
    } else if (a == "--tokenizer") {
      if (!value(&import_options.tokenizer)) return Usage("missing value for", a.c_str());
    } else if (a == "--weights") {
      if (!value(&weights)) return Usage("missing value for", a.c_str());
    } else if (a == "--embed-weights") {
      if (!value(&embed)) return Usage("missing value for", a.c_str());
    } else if (a == "--granularity") {
      if (!value(&granularity)) return Usage("missing value for", a.c_str());
    } else if (a == "--scale-type") {
      if (!value(&scale_type)) return Usage("missing value for", a.c_str());
    } else if (a == "--layout") {
      if (!value(&layout)) return Usage("missing value for", a.c_str());
    } else if (a == "--group-size") {
      std::string v;
      if (!value(&v)) return Usage("missing value for", a.c_str());
      if (v != "32" && v != "64" && v != "128") return Usage("--group-size must be 32, 64 or 128, not", v.c_str());
      group_size = uint32_t(std::atoi(v.c_str()));
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      return Usage("unknown option", a.c_str());
    } else if (src.empty()) {
      src = a;
    } else {
      return Usage("unexpected argument", a.c_str());
    }
  }
  if (src.empty()) return Usage("missing SRC", nullptr);
  if (out.empty()) return Usage("missing -o OUT.qlm", nullptr);

  qlite::ConvertOptions options;
  qlite::QuantSpec& w = options.weights;
  if (!ParseScheme(weights, &w.dtype)) return Usage("unknown --weights scheme", weights.c_str());
  if (granularity == "group") w.granularity = qlite::fb::Granularity::Group;
  else if (granularity == "row") w.granularity = qlite::fb::Granularity::PerRow;
  else if (granularity == "tensor") w.granularity = qlite::fb::Granularity::PerTensor;
  else return Usage("unknown --granularity", granularity.c_str());
  if (scale_type == "f16") w.scale_type = qlite::fb::DType::F16;
  else if (scale_type == "f32") w.scale_type = qlite::fb::DType::F32;
  else if (scale_type == "dq") w.scale_type = qlite::fb::DType::U8;
  else return Usage("unknown --scale-type", scale_type.c_str());
  if (layout == "rowmajor") w.layout = qlite::fb::Layout::RowMajor;
  else if (layout == "interleave4") w.layout = qlite::fb::Layout::Interleave4x32;
  else return Usage("unknown --layout", layout.c_str());
  w.group_size = group_size;
  if (embed.empty()) embed = Is4Bit(w.dtype) ? "q8" : weights;
  options.embeddings = w;
  if (!ParseScheme(embed, &options.embeddings.dtype)) return Usage("unknown --embed-weights scheme", embed.c_str());
  options.embeddings.layout = qlite::fb::Layout::RowMajor;  // embeddings are looked up row by row
  options.quantization_text = "--weights " + weights + " --embed-weights " + embed + " --group-size " +
                              std::to_string(group_size) + " --granularity " + granularity + " --scale-type " +
                              scale_type + " --layout " + layout;

  qlite::SourceModel model;
  qlite::Status s = qlite::ImportAuto(src, import_options, &model);
  if (!s.ok()) {
    std::fprintf(stderr, "qlite convert: %s\n", s.message().c_str());
    return 1;
  }
  const auto& c = model.config;
  if (!quiet)
    std::fprintf(stderr, "%s (%s): %u layers, dim %u, heads %u/%u, ffn %u, vocab %u, %zu tensors\n", src.c_str(),
                 model.source_format.c_str(), c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.ffn_dim, c.vocab_size,
                 model.tensors.size());
  const bool tty = isatty(STDERR_FILENO);
  size_t last_pct = 0;
  auto progress = [&](size_t done, size_t total, const std::string& name) {
    if (quiet || total == 0) return;
    const size_t pct = done * 100 / total;
    if (tty) {
      std::fprintf(stderr, "\r[%3zu%%] %zu/%zu %-40s", pct, done, total, name.c_str());
      if (done == total) std::fputc('\n', stderr);
    } else if (pct >= last_pct + 10 || done == total) {
      std::fprintf(stderr, "[%3zu%%] %zu/%zu %s\n", pct, done, total, name.c_str());
      last_pct = pct;
    }
  };
  qlite::ConvertSummary summary;
  s = qlite::ConvertModel(model, options, out, progress, &summary);
  if (!s.ok()) {
    if (tty && !quiet) std::fputc('\n', stderr);
    std::fprintf(stderr, "qlite convert: %s\n", s.message().c_str());
    return 1;
  }
  const double params = double(summary.n_params);
  std::printf("wrote %s: %.2fM params, %s (%.2f bits/param, %.1f%% of fp16's %s)\n", out.c_str(), params / 1e6,
              HumanBytes(double(summary.file_size)).c_str(), params > 0 ? 8.0 * summary.file_size / params : 0.0,
              summary.fp16_size ? 100.0 * summary.file_size / summary.fp16_size : 0.0,
              HumanBytes(double(summary.fp16_size)).c_str());
  return 0;
}

}  // namespace

QLITE_CLI_COMMAND(convert, "convert a llama2.c / Hugging Face / GGUF model to .qlm", RunConvert);
