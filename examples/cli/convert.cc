// qlite convert: llama2.c .bin, Hugging Face folder or GGUF -> quantized .qlm.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "number_flags.h"
#include "qlite/base/files.h"
#include "quant_flags.h"
#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/format/lora.h"
#include "qlite/runtime/activation_stats.h"

namespace {

void PrintHelp(FILE* out) {
  std::fprintf(out,
               "usage: qlite convert SRC -o OUT.qlm [options]\n"
               "  SRC                     llama2.c checkpoint (.bin), Hugging Face folder, or .gguf file\n"
               "  -o, --output OUT.qlm    output file (written atomically; nothing is left on error)\n"
               "  --tokenizer PATH        llama2.c only: tokenizer.bin or tokenizer.model\n"
               "                          (default: tokenizer.bin / tok<vocab>.bin beside SRC)\n"
               "  --chat-template FILE    store this Jinja chat template instead of the source's (if any)\n"
               "%s"
               "  --lora PATH[:SCALE]     merge a LoRA adapter before quantizing (PEFT folder, GGUF LoRA or .qla;\n"
               "                          scale default 1; repeatable: adapters add up)\n"
               "  --calibrate TEXT        calibration-aware 4-bit: run the source over TEXT (qlite's forward pass\n"
               "                          at full precision) and quantize with what its matrix inputs looked like;\n"
               "                          re-quantizes a quantized source (default --weights q4). Methods (all\n"
               "                          three unless some are named):\n"
               "  --imatrix               importance-weighted scale/clip search per group (E[x^2] per input channel)\n"
               "  --awq                   activation-aware scaling folded into the preceding norm / projection\n"
               "  --gptq                  error-compensating rounding through the inputs' inverse Hessian\n"
               "  --calib-tokens N        calibration tokens used (default 4096; 0 = the whole text)\n"
               "  -t, --threads N         worker threads (default: all hardware threads; same output for any N)\n"
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

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// --calibrate: the source at full precision in a temporary file beside OUT, run over the
// text for its matrices' input statistics; then AWQ's scaling on the source (if asked) and
// the calibrated quantizer in *options.
qlite::Status Calibrate(const std::string& text_path, uint64_t max_tokens, bool imatrix, bool awq, bool gptq,
                        const std::string& out, bool quiet, qlite::SourceModel* model, qlite::ConvertOptions* options,
                        qlite::ActivationStats* stats) {
  std::string text;
  QLITE_RETURN_IF_ERROR(qlite::ReadRegularFile(text_path, &text));
  auto t0 = std::chrono::steady_clock::now();
  uint64_t values = 0;
  for (const qlite::SourceTensor& t : model->tensors) values += t.shape.size() == 2 ? t.shape[0] * t.shape[1] : t.shape[0];
  qlite::ConvertOptions full = *options;  // LoRA merges included, nothing rounded
  full.weights = qlite::QuantSpec();
  full.weights.dtype = values > (uint64_t{1} << 29) ? qlite::fb::DType::F16 : qlite::fb::DType::F32;
  full.embeddings = full.weights;
  full.keep_source_weights = full.keep_source_embeddings = false;
  full.tensor_weights.clear();
  const std::string tmp = out + ".calibration." + std::to_string(getpid());
  qlite::Status s = qlite::ConvertModel(*model, full, tmp, nullptr, nullptr);
  if (s.ok()) {
    qlite::CollectOptions collect;
    collect.max_tokens = max_tokens;
    collect.gram = gptq;
    collect.threads = options->threads ? options->threads : std::max(1u, std::thread::hardware_concurrency());
    uint64_t used = 0;
    auto t1 = std::chrono::steady_clock::now();
    s = qlite::CollectActivationStats(tmp, text, collect, stats, &used);
    if (s.ok() && !quiet)
      std::fprintf(stderr, "calibration: %llu tokens of %s: full-precision copy %.1f s, statistics%s %.1f s\n",
                   static_cast<unsigned long long>(used), text_path.c_str(), std::chrono::duration<double>(t1 - t0).count(),
                   gptq ? " with Hessians" : "", Since(t1));
  }
  std::remove(tmp.c_str());
  if (!s.ok()) return s;
  if (awq) {
    t0 = std::chrono::steady_clock::now();
    std::map<std::string, float> alphas;
    QLITE_RETURN_IF_ERROR(qlite::ApplyAwq(options->weights, model, stats, &alphas));
    if (!quiet) {
      int scaled = 0;
      for (const auto& [input, alpha] : alphas) scaled += alpha > 0.0f;
      std::fprintf(stderr, "calibration: AWQ scaled %d of %zu inputs in %.1f s\n", scaled, alphas.size(), Since(t0));
    }
  }
  options->calibration.stats = stats;
  options->calibration.importance = imatrix;
  options->calibration.gptq = gptq;
  options->keep_source_weights = options->keep_source_embeddings = false;
  options->quantization_text += std::string(options->quantization_text.empty() ? "" : " ") + "--calibrate" +
                                (imatrix ? " --imatrix" : "") + (awq ? " --awq" : "") + (gptq ? " --gptq" : "");
  return qlite::Status::Ok();
}

int RunConvert(int argc, char** argv) {
  std::string src, out;
  std::string chat_template_path;  // --chat-template: replaces the source's template
  qlite_cli::QuantFlags quant;
  qlite::ImportOptions import_options;
  bool quiet = false;
  uint32_t threads = 0;
  std::vector<std::string> loras;
  std::string calib_text;
  bool imatrix = false, awq = false, gptq = false;
  uint64_t calib_tokens = 4096;
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
    } else if (a == "--chat-template") {
      if (!value(&chat_template_path)) return Usage("missing value for", a.c_str());
    } else if (a == "--lora") {
      loras.emplace_back();
      if (!value(&loras.back())) return Usage("missing value for", a.c_str());
    } else if (a == "--calibrate") {
      if (!value(&calib_text)) return Usage("missing value for", a.c_str());
    } else if (a == "--imatrix") {
      imatrix = true;
    } else if (a == "--awq") {
      awq = true;
    } else if (a == "--gptq") {
      gptq = true;
    } else if (a == "--calib-tokens") {
      std::string v;
      char* end = nullptr;
      if (!value(&v) || v.empty() || v[0] == '-') return Usage("--calib-tokens needs a count", nullptr);
      calib_tokens = std::strtoull(v.c_str(), &end, 10);
      if (*end) return Usage("--calib-tokens needs a count, not", v.c_str());
    } else if (a == "-t" || a == "--threads") {
      std::string v;
      if (!value(&v)) return Usage("missing value for", a.c_str());
      char* end = nullptr;
      const unsigned long n = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n == 0 || n > 1024) return Usage("bad thread count", v.c_str());
      threads = static_cast<uint32_t>(n);
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

  const bool calibrate = !calib_text.empty();
  if (!calibrate && (imatrix || awq || gptq)) return Usage("--imatrix, --awq and --gptq need --calibrate TEXT", nullptr);
  if (calibrate && !imatrix && !awq && !gptq) imatrix = awq = gptq = true;
  if (awq && !loras.empty())
    return Usage("--awq rescales the merged weights' inputs: merge the adapter first (--lora without --awq)", nullptr);
  if (calibrate && quant.weights.empty()) quant.weights = "q4";  // calibration re-quantizes
  qlite::ConvertOptions options;
  if (!qlite_cli::QuantFlagsToOptions(quant, &options, "qlite convert")) return 2;
  if (calibrate && qlite::IsFloatType(options.weights.dtype) && qlite::IsFloatType(options.embeddings.dtype))
    return Usage("--calibrate needs an integer scheme (q4, q4a, q8, nf4) for --weights or --embed-weights", nullptr);
  options.threads = threads;

  std::vector<std::string> inputs = {src, import_options.tokenizer, chat_template_path};
  for (const std::string& l : loras) inputs.push_back(l.substr(0, l.rfind(':')));
  inputs.insert(inputs.end(), loras.begin(), loras.end());
  if (!calib_text.empty()) inputs.push_back(calib_text);
  qlite::Status s = qlite::CheckOutputPath(out, inputs);
  if (!s.ok()) {
    std::fprintf(stderr, "qlite convert: %s\n", s.message().c_str());
    return 1;
  }
  qlite::SourceModel model;
  s = qlite::ImportAuto(src, import_options, &model);
  if (s.ok() && !chat_template_path.empty()) {
    s = qlite::ReadRegularFile(chat_template_path, &model.tokenizer.chat_template);
    if (s.ok() && model.tokenizer.chat_template.size() > qlite::kMaxChatTemplateBytes)
      s = qlite::StatusError(qlite::StatusCode::kInvalidArgument, "%s: chat template longer than %zu bytes",
                             chat_template_path.c_str(), qlite::kMaxChatTemplateBytes);
  }
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
  qlite::ActivationStats stats;
  if (calibrate) {
    s = Calibrate(calib_text, calib_tokens, imatrix, awq, gptq, out, quiet, &model, &options, &stats);
    if (!s.ok()) {
      std::fprintf(stderr, "qlite convert: calibration: %s\n", s.message().c_str());
      return 1;
    }
  }
  qlite::ConvertSummary summary;
  const auto t0 = std::chrono::steady_clock::now();
  s = qlite::ConvertModel(model, options, out, progress, &summary);
  if (calibrate && !quiet)
    std::fprintf(stderr, "calibration: quantized in %.1f s\n",
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
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
