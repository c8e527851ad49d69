// Flags shared by the subcommands that run a model (run, chat, bench, perplexity, fit):
// model path, session and sampler parameters. Header-only; every command parses its own
// extra flags first and hands the rest here.
#pragma once
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "number_flags.h"
#include "qlite/qlite.h"

namespace qlite_cli {

struct SessionFlags {
  std::string model;
  qlite_model_params model_params = qlite_model_default_params();
  qlite_session_params session = qlite_session_default_params();
  std::vector<std::pair<std::string, float>> loras;  // --lora FILE[:SCALE], merged at load time
  std::vector<std::string> stops;                     // --stop STR (repeatable)
  std::vector<qlite_logit_bias> logit_bias;           // --logit-bias TOKEN=BIAS (repeatable)
};

// "path[:scale]" -> (path, scale); the suffix counts as a scale only when it is a number.
inline std::pair<std::string, float> SplitLoraSpec(const std::string& spec) {
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon + 1 < spec.size()) {
    float scale = 0.0f;
    if (ParseReal(spec.c_str() + colon + 1, -1e6, 1e6, &scale)) return {spec.substr(0, colon), scale};
  }
  return {spec, 1.0f};
}

// "64M", "512K", "2G", "1000" -> bytes; false on junk.
inline bool ParseBytes(const char* s, uint64_t* out) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (end == s || !(v >= 0 && v < 1e15) || *s < '0' || *s > '9') return false;
  uint64_t mult = 1;
  switch (*end) {
    case 'k': case 'K': mult = 1ull << 10; ++end; break;
    case 'm': case 'M': mult = 1ull << 20; ++end; break;
    case 'g': case 'G': mult = 1ull << 30; ++end; break;
    default: break;
  }
  if (*end == 'i' || *end == 'I') ++end;
  if (*end == 'b' || *end == 'B') ++end;
  if (*end) return false;
  const double bytes = v * (double)mult;
  if (!(bytes < 9.2e18)) return false;  // beyond uint64_t: the cast would be undefined
  *out = (uint64_t)bytes;
  return true;
}

inline const char* kSessionFlagsHelp =
    "  -m, --model PATH        .qlm model (required)\n"
    "  -t, --threads N         threads (default: one per performance core)\n"
    "  --cpu-mask MASK         pin worker threads to these CPUs (hex, bit i = CPU i; default:\n"
    "                          the performance cores on big.LITTLE CPUs, else not pinned)\n"
    "  --window N              KV positions kept (default: model's window or context)\n"
    "  --sinks N               attention sinks kept when the window slides (default auto)\n"
    "  --kv-type f32|f16|q8|q4 KV cache storage (default f16; q4: 4-bit after a Hadamard rotation)\n"
    "  --batch N               prefill chunk size (default 64)\n"
    "  --memory-budget SIZE    fail unless the whole run fits, e.g. 64M\n"
    "  --lora FILE[:SCALE]     LoRA adapter merged at load time (.qla, PEFT folder or GGUF LoRA); repeatable\n"
    "  --temp T --top-k K --top-p P --min-p P --repeat-penalty R --repeat-last-n N --seed S\n"
    "  --stop STR              end generation where the text contains STR (not printed); repeatable\n"
    "  --logit-bias TOKEN=BIAS add BIAS to a token's logit (-inf bans it); repeatable\n"
    "  --no-mmap --verify      read the file instead of mapping it; verify checksums\n"
    "  --device cpu|cuda[:N]   run on this CPU (default) or NVIDIA GPU N (a build with -DQLITE_CUDA=ON)\n";

// "cpu", "cuda", "cuda:1" -> device and index; false on anything else.
inline bool ParseDevice(const char* s, qlite_device* device, int32_t* index) {
  *index = 0;
  if (!std::strcmp(s, "cpu")) {
    *device = QLITE_DEVICE_CPU;
    return true;
  }
  if (std::strncmp(s, "cuda", 4) != 0) return false;
  *device = QLITE_DEVICE_CUDA;
  if (s[4] == '\0') return true;
  if (s[4] != ':' || s[5] < '0' || s[5] > '9') return false;
  char* end = nullptr;
  const long n = std::strtol(s + 5, &end, 10);
  if (*end || n > 1024) return false;
  *index = (int32_t)n;
  return true;
}

// Consumes argv[*i] (and its value) when it is a shared flag. Returns 1 if consumed,
// 0 if not ours, -1 on a bad value (message printed).
inline int ParseSessionFlag(int argc, char** argv, int* i, SessionFlags* f) {
  const char* a = argv[*i];
  auto value = [&]() -> const char* {
    if (*i + 1 >= argc) {
      std::fprintf(stderr, "qlite: %s needs a value\n", a);
      return nullptr;
    }
    return argv[++*i];
  };
  auto is = [&](const char* name) { return std::strcmp(a, name) == 0; };
  const char* v = nullptr;
  qlite_session_params& p = f->session;
  if (is("-m") || is("--model")) {
    if (!(v = value())) return -1;
    f->model = v;
  } else if (is("-t") || is("--threads")) {
    if (!(v = value())) return -1;
    if (!IntegerFlag("qlite", a, v, 1, 4096, &p.n_threads)) return -1;
  } else if (is("--cpu-mask")) {
    if (!(v = value())) return -1;
    char* end = nullptr;
    errno = 0;
    const unsigned long long mask = std::strtoull(v, &end, 16);
    if (errno || end == v || *end || mask == 0 || *v == '-') {
      std::fprintf(stderr, "qlite: --cpu-mask needs a nonzero hex mask (bit i = CPU i), not '%s'\n", v);
      return -1;
    }
    p.cpu_mask = mask;
  } else if (is("--window")) {
    if (!(v = value())) return -1;
    if (!IntegerFlag("qlite", a, v, 0, UINT32_MAX, &p.window)) return -1;
  } else if (is("--sinks")) {
    if (!(v = value())) return -1;
    if (!IntegerFlag("qlite", a, v, 0, UINT32_MAX, &p.n_sink_tokens)) return -1;
  } else if (is("--batch")) {
    if (!(v = value())) return -1;
    if (!IntegerFlag("qlite", a, v, 1, 1 << 20, &p.max_batch)) return -1;
  } else if (is("--kv-type")) {
    if (!(v = value())) return -1;
    if (!std::strcmp(v, "f32")) p.kv_type = QLITE_KV_F32;
    else if (!std::strcmp(v, "f16")) p.kv_type = QLITE_KV_F16;
    else if (!std::strcmp(v, "q8")) p.kv_type = QLITE_KV_Q8;
    else if (!std::strcmp(v, "q4")) p.kv_type = QLITE_KV_Q4;
    else {
      std::fprintf(stderr, "qlite: --kv-type must be f32, f16, q8 or q4\n");
      return -1;
    }
  } else if (is("--memory-budget")) {
    if (!(v = value())) return -1;
    if (!ParseBytes(v, &p.memory_budget)) {
      std::fprintf(stderr, "qlite: bad --memory-budget '%s' (e.g. 64M)\n", v);
      return -1;
    }
  } else if (is("--temp")) {
    if (!(v = value())) return -1;
    if (!RealFlag("qlite", a, v, 0.0, 100.0, &p.sampler.temperature)) return -1;
  } else if (is("--top-k")) {
    if (!(v = value())) return -1;
    if (!IntegerFlag("qlite", a, v, 0, INT32_MAX, &p.sampler.top_k)) return -1;
  } else if (is("--top-p")) {
    if (!(v = value())) return -1;
    if (!RealFlag("qlite", a, v, 0.0, 1.0, &p.sampler.top_p)) return -1;
  } else if (is("--min-p")) {
    if (!(v = value())) return -1;
    if (!RealFlag("qlite", a, v, 0.0, 1.0, &p.sampler.min_p)) return -1;
  } else if (is("--repeat-penalty")) {
    if (!(v = value())) return -1;
    if (!RealFlag("qlite", a, v, 0.0, 100.0, &p.sampler.repeat_penalty)) return -1;
  } else if (is("--repeat-last-n")) {
    if (!(v = value())) return -1;
    if (!IntegerFlag("qlite", a, v, 0, INT32_MAX, &p.sampler.repeat_last_n)) return -1;
  } else if (is("--seed")) {
    if (!(v = value())) return -1;
    if (!ParseUnsigned(v, UINT64_MAX, &p.sampler.seed)) {
      std::fprintf(stderr, "qlite: --seed needs an unsigned integer, not '%s'\n", v);
      return -1;
    }
  } else if (is("--stop")) {
    if (!(v = value())) return -1;
    f->stops.push_back(v);
  } else if (is("--logit-bias")) {
    if (!(v = value())) return -1;
    const char* eq = std::strchr(v, '=');
    uint64_t token = 0;
    float bias = 0;
    const std::string id(v, eq ? (size_t)(eq - v) : 0);
    const bool ban = eq && (!std::strcmp(eq + 1, "-inf") || !std::strcmp(eq + 1, "-INF"));
    if (!eq || !ParseUnsigned(id.c_str(), INT32_MAX, &token) || (!ban && !ParseReal(eq + 1, -1e6, 1e6, &bias))) {
      std::fprintf(stderr, "qlite: --logit-bias needs TOKEN=BIAS (a token id, a number or -inf), not '%s'\n", v);
      return -1;
    }
    f->logit_bias.push_back({(int32_t)token, ban ? -INFINITY : bias});
  } else if (is("--lora")) {
    if (!(v = value())) return -1;
    f->loras.push_back(SplitLoraSpec(v));
  } else if (is("--device")) {
    if (!(v = value())) return -1;
    if (!ParseDevice(v, &f->model_params.device, &f->model_params.device_index)) {
      std::fprintf(stderr, "qlite: --device must be cpu, cuda or cuda:N\n");
      return -1;
    }
  } else if (is("--no-mmap")) {
    f->model_params.use_mmap = 0;
  } else if (is("--verify")) {
    f->model_params.verify_checksums = 1;
  } else {
    return 0;
  }
  return 1;
}

// Opens the model named by the flags; prints the error and returns null on failure.
inline qlite_model* OpenModel(const SessionFlags& f) {
  if (f.model.empty()) {
    std::fprintf(stderr, "qlite: -m model.qlm is required\n");
    return nullptr;
  }
  qlite_model* m = nullptr;
  if (qlite_model_open(f.model.c_str(), &f.model_params, &m) != QLITE_OK) {
    std::fprintf(stderr, "qlite: cannot open %s: %s\n", f.model.c_str(), qlite_last_error());
    return nullptr;
  }
  return m;
}

// Opens the --lora adapters against `m` (printing the error and freeing them on failure)
// and raises f->session.adapter_memory to what they need, so fit and sessions count it.
inline bool OpenAdapters(qlite_model* m, SessionFlags* f, std::vector<qlite_adapter*>* out) {
  for (const auto& l : f->loras) {
    qlite_adapter* a = nullptr;
    if (qlite_adapter_open(m, l.first.c_str(), &a) != QLITE_OK) {
      std::fprintf(stderr, "qlite: cannot open adapter %s: %s\n", l.first.c_str(), qlite_last_error());
      for (qlite_adapter* o : *out) qlite_adapter_free(o);
      out->clear();
      return false;
    }
    out->push_back(a);
  }
  uint64_t bytes = 0;
  if (!out->empty() && qlite_adapters_memory(m, out->data(), out->size(), &bytes) == QLITE_OK &&
      bytes > f->session.adapter_memory)
    f->session.adapter_memory = bytes;
  return true;
}

inline qlite_session* CreateSession(qlite_model* m, const SessionFlags& flags) {
  SessionFlags f = flags;
  std::vector<qlite_adapter*> adapters;
  if (!OpenAdapters(m, &f, &adapters)) return nullptr;
  std::vector<const char*> stops;  // the session copies the lists at creation
  for (const std::string& t : f.stops) stops.push_back(t.c_str());
  f.session.sampler.stop_strings = stops.data();
  f.session.sampler.n_stop_strings = stops.size();
  f.session.sampler.logit_bias = f.logit_bias.data();
  f.session.sampler.n_logit_bias = f.logit_bias.size();
  qlite_session* s = nullptr;
  if (qlite_session_create(m, &f.session, &s) != QLITE_OK) {
    std::fprintf(stderr, "qlite: cannot create a session: %s\n", qlite_last_error());
  } else if (!adapters.empty()) {
    std::vector<float> scales;
    for (const auto& l : f.loras) scales.push_back(l.second);
    // The session keeps merged copies; the adapters themselves are not needed afterwards.
    if (qlite_session_set_adapters(s, adapters.data(), scales.data(), adapters.size()) != QLITE_OK) {
      std::fprintf(stderr, "qlite: cannot apply adapters: %s\n", qlite_last_error());
      qlite_session_free(s);
      s = nullptr;
    }
  }
  for (qlite_adapter* a : adapters) qlite_adapter_free(a);
  return s;
}

// Opens the model and a session on it (both freed again on failure, with a message).
inline bool OpenModelAndSession(const SessionFlags& f, qlite_model** model, qlite_session** session) {
  *model = OpenModel(f);
  if (!*model) return false;
  *session = CreateSession(*model, f);
  if (*session) return true;
  qlite_model_free(*model);
  *model = nullptr;
  return false;
}

// Peak resident set size of this process in bytes (0 where unknown).
uint64_t PeakRssBytes();

}  // namespace qlite_cli
