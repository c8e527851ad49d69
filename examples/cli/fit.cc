// qlite fit: the memory math of a session before creating one. Exit status 0 when it fits
// the --memory-budget (or no budget was given), 1 when it does not.
#include <cstdio>
#include <cstring>

#include "commands.h"
#include "qlite/qlite.h"
#include "session_flags.h"

namespace qlite_cli {
namespace {

int FitCommand(int argc, char** argv) {
  SessionFlags f;
  for (int i = 1; i < argc; ++i) {
    int r = ParseSessionFlag(argc, argv, &i, &f);
    if (r < 0) return 2;
    if (r > 0) continue;
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: qlite fit -m model.qlm [--window N --kv-type q8 --threads N --memory-budget 64M ...]\n%s",
                  kSessionFlagsHelp);
      return 0;
    }
    std::fprintf(stderr, "qlite fit: unknown flag '%s' (see --help)\n", argv[i]);
    return 2;
  }
  qlite_model* model = OpenModel(f);
  if (!model) return 1;
  qlite_model_info info;
  std::vector<qlite_adapter*> adapters;  // --lora: their merged copies are part of the session
  if (!OpenAdapters(model, &f, &adapters)) {
    qlite_model_free(model);
    return 1;
  }
  for (qlite_adapter* a : adapters) qlite_adapter_free(a);
  qlite_memory_estimate e;
  if (qlite_model_get_info(model, &info) != QLITE_OK || qlite_estimate_memory(model, &f.session, &e) != QLITE_OK) {
    std::fprintf(stderr, "qlite fit: %s\n", qlite_last_error());
    qlite_model_free(model);
    return 1;
  }
  const qlite_session_params& p = f.session;
  uint32_t window = p.window ? p.window : (info.sliding_window ? info.sliding_window : info.context_length);
  const bool q4 = p.kv_type == QLITE_KV_Q4, q8 = p.kv_type == QLITE_KV_Q8;
  const char* kv_name = p.kv_type == QLITE_KV_F16 ? "f16" : q8 ? "q8" : q4 ? "q4" : "f32";
  const double el = p.kv_type == QLITE_KV_F16 ? 2 : q8 ? 1 : q4 ? 0.5 : 4;
  const unsigned long long kv_data =
      (unsigned long long)(2.0 * info.n_layers * info.n_kv_heads * info.head_dim * window * el);
  // Scales: q8 one per position and head, q4 one per group of 32 (16 or 8 for small heads).
  const unsigned q4_group = info.head_dim % 32 == 0 ? 32 : info.head_dim % 16 == 0 ? 16 : 8;
  const unsigned long long scales_per_row = q8 ? 1 : q4 ? info.head_dim / q4_group : 0;
  const unsigned long long kv_scales = 2ull * info.n_layers * info.n_kv_heads * window * scales_per_row * 4;
  std::printf("model: %s\n  %u layers, dim %u, %u heads / %u kv heads x %u, ffn %u, vocab %u, context %u\n",
              f.model.c_str(), info.n_layers, info.dim, info.n_heads, info.n_kv_heads, info.head_dim, info.ffn_dim,
              info.vocab_size, info.context_length);
  std::printf("kv cache = layers %u x 2 (K,V) x kv heads %u x head dim %u x window %u x %g B (%s) = %llu B",
              info.n_layers, info.n_kv_heads, info.head_dim, window, el, kv_name, kv_data);
  if (kv_scales)
    std::printf("\n         + scales: layers %u x 2 x kv heads %u x window %u x %llu x 4 B = %llu B", info.n_layers,
                info.n_kv_heads, window, scales_per_row, kv_scales);
  if (q4 && e.kv_cache > kv_data + kv_scales)  // the rest of the estimate's kv cache
    std::printf("\n         + f16 rows of the sinks and the newest 64 (+ 31 for prefill) positions per layer"
                " and kv head = %llu B",
                (unsigned long long)e.kv_cache - kv_data - kv_scales);
  std::printf("\nactivations: batch %u tokens x (x, norm, q, k, v, attn, proj, gate, up) + logits %u x 4 B\n",
              p.max_batch, info.vocab_size);
  if (p.n_threads)
    std::printf("scratch: %u threads x window x 4 B scores + rope + sampler\n\n", p.n_threads);
  else
    std::printf("scratch: threads (one per performance core) x window x 4 B scores + rope + sampler\n\n");
  char text[2048];
  qlite_format_memory_estimate(&e, text, sizeof(text));
  std::fputs(text, stdout);
  int rc = 0;
  if (p.memory_budget) {
    const bool fits = e.total <= p.memory_budget;
    std::printf("\nbudget %.2f MiB: %s (%+.2f MiB)\n", p.memory_budget / 1048576.0, fits ? "fits" : "DOES NOT FIT",
                ((double)p.memory_budget - (double)e.total) / 1048576.0);
    rc = fits ? 0 : 1;
  }
  qlite_model_free(model);
  return rc;
}

}  // namespace

QLITE_CLI_COMMAND(fit, "show the memory a session needs (and whether it fits a budget)", FitCommand);

}  // namespace qlite_cli
