// qlite soak: a long generation that checks what must hold for any length of run: resident
// memory stays flat (nothing is allocated per token, the KV window is bounded) and decode
// speed does not drift with position (attention costs the window, not the tokens so far).
// Prints one row per segment; exits 1 when either rule is broken.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "commands.h"
#include "qlite/qlite.h"
#include "session_flags.h"

namespace qlite_cli {
namespace {

// Resident set size in bytes (Linux /proc/self/statm); 0 where it cannot be read.
uint64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long pages_total = 0, pages_resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &pages_total, &pages_resident);
  std::fclose(f);
  return n == 2 ? pages_resident * 4096ull : 0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

int SoakCommand(int argc, char** argv) {
  SessionFlags f;
  f.session.window = 64;
  uint32_t n_tokens = 100000, segment = 5000;
  float max_growth_kib = 256, max_slowdown = 1.5f;
  for (int i = 1; i < argc; ++i) {
    int r = ParseSessionFlag(argc, argv, &i, &f);
    if (r < 0) return 2;
    if (r > 0) continue;
    if (!std::strcmp(argv[i], "-n") && i + 1 < argc) {
      if (!IntegerFlag("qlite soak", argv[i], argv[i + 1], 1, 1u << 31, &n_tokens)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--segment") && i + 1 < argc) {
      if (!IntegerFlag("qlite soak", argv[i], argv[i + 1], 1, 1u << 31, &segment)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--max-rss-growth-kib") && i + 1 < argc) {
      if (!RealFlag("qlite soak", argv[i], argv[i + 1], 0, 1e9, &max_growth_kib)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--max-slowdown") && i + 1 < argc) {
      if (!RealFlag("qlite soak", argv[i], argv[i + 1], 1, 1e6, &max_slowdown)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf(
          "usage: qlite soak -m model.qlm [-n 100000] [--segment 5000] [--max-rss-growth-kib 256]\n"
          "                  [--max-slowdown 1.5] [flags]   (window 64 unless --window is given)\n"
          "Generates n tokens (sampled, end-of-text ignored) and samples resident memory and\n"
          "decode speed every segment. Fails when resident memory grows more than the limit\n"
          "after the first segment (which touches the mapped weights), or when the median\n"
          "speed of the last quarter of segments is below that of the first quarter divided\n"
          "by --max-slowdown.\n%s",
          kSessionFlagsHelp);
      return 0;
    } else {
      std::fprintf(stderr, "qlite soak: unknown flag '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if (segment > n_tokens) segment = n_tokens;
  const uint32_t n_segments = n_tokens / segment;
  if (n_segments < 4) {
    std::fprintf(stderr, "qlite soak: -n must be at least 4 segments (--segment %u)\n", segment);
    return 2;
  }
  qlite_model* model = nullptr;
  qlite_session* s = nullptr;
  if (!OpenModelAndSession(f, &model, &s)) return 1;
  qlite_model_info info;
  qlite_model_get_info(model, &info);
  std::printf("model %s, window %u, %u tokens in %u segments of %u\n", f.model.c_str(), f.session.window,
              n_segments * segment, n_segments, segment);
  std::printf("%10s %12s %12s\n", "tokens", "tok/s", "RSS KiB");

  int32_t token = info.bos_id >= 0 ? info.bos_id : 0;
  int rc = qlite_decode(s, token) == QLITE_OK ? 0 : 1;
  std::vector<double> speed;
  std::vector<uint64_t> rss;
  for (uint32_t seg = 0; seg < n_segments && rc == 0; ++seg) {
    const auto t0 = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < segment; ++i) {
      if (qlite_sample(s, &token) != QLITE_OK || qlite_decode(s, token) != QLITE_OK) {
        rc = 1;
        break;
      }
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (rc) break;
    speed.push_back(segment / std::chrono::duration<double>(t1 - t0).count());
    rss.push_back(ResidentBytes());
    std::printf("%10llu %12.1f %12llu\n", (unsigned long long)(seg + 1) * segment, speed.back(),
                (unsigned long long)(rss.back() >> 10));
    std::fflush(stdout);
  }
  if (rc) {
    std::fprintf(stderr, "qlite soak: %s\n", qlite_last_error());
  } else {
    const size_t quarter = n_segments / 4;
    const double first = Median(std::vector<double>(speed.begin() + 1, speed.begin() + 1 + quarter));
    const double last = Median(std::vector<double>(speed.end() - quarter, speed.end()));
    const uint64_t peak = *std::max_element(rss.begin() + 1, rss.end());
    const double growth_kib = rss[0] && peak > rss[0] ? (double)(peak - rss[0]) / 1024 : 0;
    std::printf("resident: %s; after the first segment it grew %.0f KiB (limit %.0f)\n",
                rss[0] ? "sampled" : "not measured on this system", growth_kib, max_growth_kib);
    std::printf("decode: median %.1f tok/s in the first quarter, %.1f in the last (ratio %.2f, limit %.2f)\n",
                first, last, first / last, max_slowdown);
    if (growth_kib > max_growth_kib) {
      std::fprintf(stderr, "qlite soak: resident memory grew by %.0f KiB\n", growth_kib);
      rc = 1;
    }
    if (last * max_slowdown < first) {
      std::fprintf(stderr, "qlite soak: decode slowed from %.1f to %.1f tok/s\n", first, last);
      rc = 1;
    }
  }
  qlite_session_free(s);
  qlite_model_free(model);
  return rc;
}

}  // namespace

QLITE_CLI_COMMAND(soak, "generate many tokens; check flat memory and steady speed", SoakCommand);

}  // namespace qlite_cli
