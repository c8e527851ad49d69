// qlite convert-lora: a PEFT / GGUF LoRA adapter -> a small .qla file bound to one base .qlm
// (format/LORA.md), for merging at load time (`qlite run --lora X.qla`).
#include <cstdio>
#include <string>

#include "commands.h"
#include "qlite/base/files.h"
#include "qlite/format/adapter_file.h"
#include "qlite/format/lora.h"
#include "qlite/format/model_file.h"

namespace {

int Usage(const char* msg, const char* arg) {
  std::fprintf(stderr, "qlite convert-lora: %s%s%s\n(see qlite convert-lora --help)\n", msg, arg ? " " : "",
               arg ? arg : "");
  return 2;
}

int RunConvertLora(int argc, char** argv) {
  std::string src, base, out;
  qlite::AdapterWriteOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf("usage: qlite convert-lora ADAPTER --base BASE.qlm -o OUT.qla [--f16]\n"
                  "  ADAPTER        PEFT folder (adapter_config.json + adapter_model.safetensors) or GGUF LoRA\n"
                  "  --base BASE    the converted base model the adapter binds to (by fingerprint)\n"
                  "  --f16          store A and B as f16 (default f32)\n");
      return 0;
    } else if ((a == "--base" || a == "-o" || a == "--output") && i + 1 < argc) {
      (a == "--base" ? base : out) = argv[++i];
    } else if (a == "--f16") {
      options.f16 = true;
    } else if (!a.empty() && a[0] == '-') {
      return Usage("unknown option or missing value:", a.c_str());
    } else if (src.empty()) {
      src = a;
    } else {
      return Usage("unexpected argument", a.c_str());
    }
  }
  if (src.empty() || base.empty() || out.empty()) return Usage("need ADAPTER, --base BASE.qlm and -o OUT.qla", nullptr);
  qlite::ModelFile model;
  qlite::Status s = qlite::CheckOutputPath(out, {src, base});
  if (s.ok()) s = model.Open(base);
  qlite::LoraAdapter adapter;
  if (s.ok()) s = qlite::ReadLoraAdapter(src, model.config(), &adapter);
  if (s.ok() && adapter.base_fingerprint != 0 && adapter.base_fingerprint != model.fingerprint())
    s = qlite::Status(qlite::StatusCode::kMismatch, "the adapter file is bound to another base model");
  if (s.ok()) s = qlite::WriteAdapterFile(adapter, model.fingerprint(), options, out);
  if (!s.ok()) {
    std::fprintf(stderr, "qlite convert-lora: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("wrote %s: %zu tensors, rank %u, alpha %g, %.1f K params, bound to base %016llx\n", out.c_str(),
              adapter.tensors.size(), adapter.rank, adapter.alpha, adapter.n_params() / 1e3,
              (unsigned long long)model.fingerprint());
  return 0;
}

}  // namespace

// Registered by hand: the command name has a hyphen, which QLITE_CLI_COMMAND cannot spell.
static const bool qlite_cli_registered_convert_lora =
    qlite_cli::RegisterCommand({"convert-lora", "convert a LoRA adapter to a .qla bound to a base .qlm", RunConvertLora});
