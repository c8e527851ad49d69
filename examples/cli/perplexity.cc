// qlite perplexity: per line of a text file, [BOS] + encode(line); the mean negative
// log-likelihood of every token after BOS, over the whole file; ppl = exp(mean).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "commands.h"
#include "qlite/qlite.h"
#include "session_flags.h"

namespace qlite_cli {
namespace {

double LogSoftmaxAt(const float* x, uint32_t n, int32_t target) {
  float mx = x[0];
  for (uint32_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += std::exp((double)x[i] - mx);
  return (double)x[target] - mx - std::log(sum);
}

int PerplexityCommand(int argc, char** argv) {
  SessionFlags f;
  std::string file;
  for (int i = 1; i < argc; ++i) {
    int r = ParseSessionFlag(argc, argv, &i, &f);
    if (r < 0) return 2;
    if (r > 0) continue;
    if ((!std::strcmp(argv[i], "-f") || !std::strcmp(argv[i], "--file")) && i + 1 < argc) {
      file = argv[++i];
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: qlite perplexity -m model.qlm -f text.txt [flags]\n%s", kSessionFlagsHelp);
      return 0;
    } else {
      std::fprintf(stderr, "qlite perplexity: unknown flag '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  std::ifstream in(file);
  if (file.empty() || !in) {
    std::fprintf(stderr, "qlite perplexity: cannot read -f '%s'\n", file.c_str());
    return 1;
  }
  qlite_model* model = nullptr;
  qlite_session* s = nullptr;
  if (!OpenModelAndSession(f, &model, &s)) return 1;
  qlite_model_info info;
  qlite_model_get_info(model, &info);
  double nll = 0;
  size_t count = 0;
  std::string line;
  std::vector<int32_t> ids;
  int rc = 0;
  while (rc == 0 && std::getline(in, line)) {
    if (line.empty()) continue;
    ids.resize(line.size() + 8);
    size_t n = 0;
    if (qlite_tokenize(model, line.data(), line.size(), 1, ids.data(), ids.size(), &n) != QLITE_OK) {
      rc = 1;
      break;
    }
    qlite_session_reset(s);
    for (size_t t = 0; t + 1 < n; ++t) {
      const float* logits = nullptr;
      if (qlite_decode(s, ids[t]) != QLITE_OK || qlite_get_logits(s, &logits) != QLITE_OK) {
        rc = 1;
        break;
      }
      nll -= LogSoftmaxAt(logits, info.vocab_size, ids[t + 1]);
      ++count;
    }
  }
  if (rc != 0) {
    std::fprintf(stderr, "qlite perplexity: %s\n", qlite_last_error());
  } else if (count == 0) {
    std::fprintf(stderr, "qlite perplexity: no tokens in %s\n", file.c_str());
    rc = 1;
  } else {
    std::printf("perplexity %.4f over %zu tokens (mean nll %.5f)\n", std::exp(nll / count), count, nll / count);
  }
  qlite_session_free(s);
  qlite_model_free(model);
  return rc;
}

}  // namespace

QLITE_CLI_COMMAND(perplexity, "perplexity of a model over a text file (one passage per line)", PerplexityCommand);

}  // namespace qlite_cli
