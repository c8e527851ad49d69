#include "memory_text.h"

#include <cstdio>

#include "device.h"
#include "kv_cache.h"

namespace qlite {

qlite_memory_estimate EstimateFor(const Model& model, const SessionMemory& mem) {
  qlite_memory_estimate e = {};
  e.weights_mapped = model.weight_bytes();
  // On the CPU every weight is read once per token; a device model read its file once, at open.
  e.weights_resident = !model.device() || !model.mapped() ? model.weight_bytes() : 0;
  e.kv_cache = mem.kv_cache;
  e.activations = mem.activations;
  e.scratch = mem.scratch;
  e.adapters = mem.adapters;  // merged copies of adapted tensors (qlite_session_set_adapters)
  e.grammar = mem.grammar;
  e.session_total = mem.total;
  e.model_host = model.host_bytes();
  e.total = e.session_total + e.weights_resident + e.model_host;
  if (model.device()) e.device = model.device()->weight_bytes() + mem.device;
  return e;
}

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof(buf), "%llu B", (unsigned long long)bytes);
  } else if (bytes < (1ull << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2f KiB", bytes / 1024.0);
  } else if (bytes < (1ull << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB", bytes / 1048576.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / 1073741824.0);
  }
  return buf;
}

std::string FormatEstimate(const qlite_memory_estimate& e) {
  std::string s;
  auto line = [&](const char* name, uint64_t v, const char* note) {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "  %-17s %12s  %s\n", name, FormatBytes(v).c_str(), note);
    s += buf;
  };
  line("weights (mapped)", e.weights_mapped, "file-backed, shared by all sessions");
  line("weights resident", e.weights_resident, "once every page has been touched");
  line("kv cache", e.kv_cache, "");
  line("activations", e.activations, "");
  line("scratch", e.scratch, "attention scores, rope, thread pool, sampler arrays");
  line("adapters", e.adapters, "LoRA-merged tensor copies (in the session)");
  if (e.grammar) line("grammar", e.grammar, "grammar_memory + the vocabulary index it walks");
  line("session total", e.session_total, "allocated at session creation, fixed after");
  line("model (host)", e.model_host, "tensor table, tokenizer, layer views (qlite_model_memory)");
  line("total", e.total, "session + resident weights + model");
  if (e.device) line("device", e.device, "GPU: weights + kv cache + activations");
  return s;
}

std::string KvFormula(const Model& model, const SessionPlan& plan) {
  const ModelConfig& c = model.config();
  const arch::KvType t = plan.kv_type;
  const char* type = t == arch::KvType::kF32 ? "f32" : t == arch::KvType::kF16 ? "f16" : t == arch::KvType::kQ8 ? "q8" : "q4";
  const char* scales = t == arch::KvType::kQ8 ? " + 4 B scale per position and head"
                       : t == arch::KvType::kQ4 ? " + 4 B scale per group" : "";
  char buf[384];
  int n = std::snprintf(buf, sizeof(buf), "%u layers x 2 (K,V) x %u kv heads x %u head dim x %u positions x %g B (%s)%s",
                        c.n_layers, c.n_kv_heads, c.head_dim, plan.kv.window,
                        double(arch::KvRowBytes(t, c.head_dim)) / c.head_dim, type, scales);
  if (t == arch::KvType::kQ4 && n > 0 && size_t(n) < sizeof(buf))
    std::snprintf(buf + n, sizeof(buf) - n, ", + 2 B (f16) per value for the sinks and the newest %u + %u positions",
                  kKvExactRecent, kKvExactPiece - 1);
  return buf;
}

}  // namespace qlite
