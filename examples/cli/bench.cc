// qlite bench: whole-model prefill and decode speed, median over repetitions.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "commands.h"
#include "qlite/qlite.h"
#include "session_flags.h"
#if defined(QLITE_CLI_CUDA)
#include "qlite/cuda/model.h"
#endif

namespace qlite_cli {
namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

int Argmax(const float* x, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return (int)best;
}

// GB/s the model's device reads at (measured now, on the device the model was opened on); 0
// where that is not measured (the CPU: scripts/bench_models.sh probes it).
double DeviceReadBandwidth(const qlite_model_info& info) {
#if defined(QLITE_CLI_CUDA)
  double gbs = 0;
  if (info.device == QLITE_DEVICE_CUDA && qlite::cuda::MeasureReadBandwidth(2ull << 30, 10, &gbs).ok()) return gbs;
#else
  (void)info;
#endif
  return 0;
}

int BenchCommand(int argc, char** argv) {
  SessionFlags f;
  uint32_t n_prompt = 64, n_gen = 64, reps = 5, n_turn = 0;
  for (int i = 1; i < argc; ++i) {
    int r = ParseSessionFlag(argc, argv, &i, &f);
    if (r < 0) return 2;
    if (r > 0) continue;
    if (!std::strcmp(argv[i], "--prompt-tokens") && i + 1 < argc) {
      if (!IntegerFlag("qlite bench", argv[i], argv[i + 1], 0, 1 << 24, &n_prompt)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--gen-tokens") && i + 1 < argc) {
      if (!IntegerFlag("qlite bench", argv[i], argv[i + 1], 0, 1 << 24, &n_gen)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--turn-tokens") && i + 1 < argc) {
      if (!IntegerFlag("qlite bench", argv[i], argv[i + 1], 0, 1 << 24, &n_turn)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      if (!IntegerFlag("qlite bench", argv[i], argv[i + 1], 1, 1 << 20, &reps)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: qlite bench -m model.qlm [--prompt-tokens 64] [--gen-tokens 64] [--reps 5] [flags]\n"
                  "  --turn-tokens T   also time a chat turn of T tokens after the prompt: qlite_session_sync\n"
                  "                    of the grown conversation (only the turn is processed) against\n"
                  "                    prefilling the whole conversation again\n%s",
                  kSessionFlagsHelp);
      return 0;
    } else {
      std::fprintf(stderr, "qlite bench: unknown flag '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (n_prompt == 0 || reps == 0) {
    std::fprintf(stderr, "qlite bench: --prompt-tokens and --reps must be positive\n");
    return 2;
  }
  qlite_model* model = nullptr;
  qlite_session* s = nullptr;
  if (!OpenModelAndSession(f, &model, &s)) return 1;
  qlite_model_info info;
  qlite_model_get_info(model, &info);
  // A fixed, model-independent prompt: token ids spread over the vocabulary.
  std::vector<int32_t> prompt(n_prompt);
  for (uint32_t i = 0; i < n_prompt; ++i) prompt[i] = (int32_t)((i * 2654435761u) % info.vocab_size);
  if (info.bos_id >= 0) prompt[0] = info.bos_id;
  std::vector<double> prefill, decode;
  int rc = 0;
  for (uint32_t r = 0; r <= reps && rc == 0; ++r) {  // r == 0 warms up (page faults, caches)
    qlite_session_reset(s);
    auto t0 = std::chrono::steady_clock::now();
    if (qlite_prefill(s, prompt.data(), prompt.size()) != QLITE_OK) rc = 1;
    auto t1 = std::chrono::steady_clock::now();
    const float* logits = nullptr;
    for (uint32_t g = 0; g < n_gen && rc == 0; ++g) {
      qlite_get_logits(s, &logits);
      if (qlite_decode(s, Argmax(logits, info.vocab_size)) != QLITE_OK) rc = 1;
    }
    auto t2 = std::chrono::steady_clock::now();
    if (r == 0) continue;
    prefill.push_back(n_prompt / Seconds(t0, t1));
    if (n_gen) decode.push_back(n_gen / Seconds(t1, t2));
  }
  // A chat turn: the conversation so far is held; the next one is the prompt plus n_turn tokens.
  std::vector<double> turn_sync, turn_full;
  std::vector<int32_t> grown = prompt;
  for (uint32_t i = 0; i < n_turn; ++i) grown.push_back((int32_t)(((n_prompt + i) * 2654435761u) % info.vocab_size));
  for (uint32_t r = 0; n_turn && r <= reps && rc == 0; ++r) {
    qlite_session_reset(s);
    if (qlite_prefill(s, prompt.data(), prompt.size()) != QLITE_OK) rc = 1;
    size_t reused = 0;
    auto t0 = std::chrono::steady_clock::now();
    if (rc == 0 && qlite_session_sync(s, grown.data(), grown.size(), &reused) != QLITE_OK) rc = 1;
    auto t1 = std::chrono::steady_clock::now();
    qlite_session_reset(s);
    if (rc == 0 && qlite_prefill(s, grown.data(), grown.size()) != QLITE_OK) rc = 1;
    auto t2 = std::chrono::steady_clock::now();
    if (rc == 0 && reused != prompt.size()) {
      std::fprintf(stderr, "qlite bench: the turn reused %zu of %u positions\n", reused, n_prompt);
      rc = 1;
    }
    if (r == 0) continue;
    turn_sync.push_back(Seconds(t0, t1) * 1e3);
    turn_full.push_back(Seconds(t1, t2) * 1e3);
  }
  if (rc != 0) {
    std::fprintf(stderr, "qlite bench: %s\n", qlite_last_error());
  } else {
    char where[64] = "cuda";
    qlite_session_info si;
    if (info.device != QLITE_DEVICE_CUDA && qlite_session_get_info(s, &si) == QLITE_OK)
      std::snprintf(where, sizeof(where), "threads %u%s", si.n_threads, si.cpu_mask ? " (pinned)" : "");
    std::printf("model %s: %llu params, %.2f MiB weights, %s, kv %s\n", f.model.c_str(),
                (unsigned long long)info.n_params, info.weight_bytes / 1048576.0, where,
                f.session.kv_type == QLITE_KV_F16   ? "f16"
                : f.session.kv_type == QLITE_KV_Q8 ? "q8"
                : f.session.kv_type == QLITE_KV_Q4 ? "q4"
                                                   : "f32");
    if (info.n_slow_layout_tensors)
      std::printf("note: %u weight tensors are in a layout this CPU reads through an unpacking copy; "
                  "convert with --layout auto for a file made for this CPU\n",
                  info.n_slow_layout_tensors);
    std::printf("prefill %u tokens: %.1f tok/s   decode %u tokens: %.1f tok/s   (median of %u)\n", n_prompt,
                Median(prefill), n_gen, Median(decode), reps);
    if (n_turn)
      std::printf("turn of %u tokens after %u: sync (prefix reused) %.2f ms, whole conversation re-prefilled "
                  "%.2f ms (medians of %u)\n",
                  n_turn, n_prompt, Median(turn_sync), Median(turn_full), reps);
    const double streamed = Median(decode) * info.decode_bytes / 1e9;
    if (const double peak = DeviceReadBandwidth(info)) {
      std::printf("device: decode reads %.1f MB/token = %.1f GB/s, %.0f%% of the %.1f GB/s measured read bandwidth\n",
                  info.decode_bytes / 1e6, streamed, 100 * streamed / peak, peak);
    } else if (n_gen) {
      std::printf("decode reads %.1f MB of weights per token = %.1f GB/s\n", info.decode_bytes / 1e6, streamed);
    }
  }
  qlite_session_free(s);
  qlite_model_free(model);
  return rc;
}

}  // namespace

QLITE_CLI_COMMAND(bench, "measure prefill and decode tokens/s", BenchCommand);

}  // namespace qlite_cli
