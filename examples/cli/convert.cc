// qlite convert: llama2.c .bin, Hugging Face folder or GGUF -> quantized .qlm.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"
#include "number_flags.h"
#include "qlite/base/files.h"
#include "quant_flags.h"
#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/format/lora.h"

namespace {

void PrintHelp(FILE* out) {
  std::fprintf(out,
               "usage: qlite convert SRC -o OUT.qlm [options]\n"
               "  SRC                     llama2.c checkpoint (.bin), Hugging Face folder, or .gguf file\n"
               "  -o, --output OUT.qlm    output file (written atomically; nothing is left on error)\n"
               "  --tokenizer PATH        llama2.c only: tokenizer.bin or tokenizer.model\n"
               "                          (default: tokenizer.bin / tok<vocab>.bin beside SRC)\n"
               "%s"
               "  --lora PATH[:SCALE]     merge a LoRA adapter before quantizing (PEFT folder, GGUF LoRA or .qla;\n"
               "                          scale default 1; repeatable: adapters add up)\n"
               "  -q, --quiet             no progress output\n"
               "Norms and biases stay f32.\n",
               qlite_cli::kQuantFlagsHelp);
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
  std::string src, out;
  qlite_cli::QuantFlags quant;
  qlite::ImportOptions import_options;
  bool quiet = false;
  std::vector<std::string> loras;
  for (int i = 1; i < argc; ++i) {
    const int r = qlite_cli::ParseQuantFlag(argc, argv, &i, &quant, "qlite convert");
    if (r < 0) return 2;
    if (r > 0) continue;
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
    } else if (a == "--lora") {
      loras.emplace_back();
      if (!value(&loras.back())) return Usage("missing value for", a.c_str());
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
  if (!qlite_cli::QuantFlagsToOptions(quant, &options, "qlite convert")) return 2;

  std::vector<std::string> inputs = {src, import_options.tokenizer};
  for (const std::string& l : loras) inputs.push_back(l.substr(0, l.rfind(':')));
  inputs.insert(inputs.end(), loras.begin(), loras.end());
  qlite::Status s = qlite::CheckOutputPath(out, inputs);
  if (!s.ok()) {
    std::fprintf(stderr, "qlite convert: %s\n", s.message().c_str());
    return 1;
  }
  qlite::SourceModel model;
  s = qlite::ImportAuto(src, import_options, &model);
  if (!s.ok()) {
    std::fprintf(stderr, "qlite convert: %s\n", s.message().c_str());
    return 1;
  }
  // Adapters are read against the base's config (q/k row order) and merged in f64 per tensor.
  std::vector<qlite::LoraAdapter> adapters(loras.size());
  std::vector<qlite::ScaledLora> scaled;
  for (size_t i = 0; i < loras.size(); ++i) {
    std::string path = loras[i];
    float scale = 1.0f;
    const size_t colon = path.rfind(':');
    float v = 0.0f;
    if (colon != std::string::npos && qlite_cli::ParseReal(path.c_str() + colon + 1, -1e6, 1e6, &v))
      scale = v, path.resize(colon);
    s = qlite::ReadLoraAdapter(path, model.config, &adapters[i]);
    if (!s.ok()) {
      std::fprintf(stderr, "qlite convert: adapter %s: %s\n", path.c_str(), s.message().c_str());
      return 1;
    }
    scaled.push_back({&adapters[i], scale});
  }
  if (!scaled.empty()) {
    s = qlite::SetLoraMerge(scaled, model.config, &options);
    if (!s.ok()) {
      std::fprintf(stderr, "qlite convert: %s\n", s.message().c_str());
      return 1;
    }
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
  // Per source dtype: the scheme written and the error against the source's values.
  for (const qlite::ConversionStat& c : summary.conversions) {
    std::string scheme = qlite::fb::EnumNameDType(c.stored.dtype);
    if (!qlite::IsFloatType(c.stored.dtype))
      scheme += " " + qlite::QuantText(c.stored) + " " + qlite::fb::EnumNameLayout(c.stored.layout);
    const char* what = !c.kept ? (qlite::IsFloatType(c.stored.dtype) ? "converted" : "quantized")
                       : c.exact_scheme  ? "kept (the scheme holds it exactly)"
                                         : "kept in the nearest larger scheme (none holds it exactly)";
    std::printf("%-5s x%-4llu -> %s: %s; error max %.3g, rms %.3g\n", c.source_dtype.c_str(),
                static_cast<unsigned long long>(c.tensors), scheme.c_str(), what, c.max_abs_error, c.RmsError());
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
