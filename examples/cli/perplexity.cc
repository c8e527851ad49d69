// qlite perplexity: the mean negative log-likelihood of a text under a model, ppl = exp(mean).
// Per line (default): each line is [BOS] + encode(line), every token after BOS scored. With
// --chunk N: the whole file is one token stream cut into N-token chunks, each from a fresh
// session after [BOS]. With --kl-base BASE.qlm the same tokens also run through BASE (the
// reference, e.g. exact weights): KL(base || model) per token, top-1 agreement and the
// perplexity ratio with a 95 % confidence interval, in one run. --breakdown N adds the
// perplexity of each N-token span of positions (does quality drift along a long text?).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "qlite/base/files.h"
#include "qlite/qlite.h"
#include "session_flags.h"

namespace qlite_cli {
namespace {

// log softmax(x)[i] for every i, in double.
void LogSoftmax(const float* x, uint32_t n, std::vector<double>* out) {
  float mx = x[0];
  for (uint32_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - mx);
  const double log_sum = std::log(sum) + mx;
  out->resize(n);
  for (uint32_t i = 0; i < n; ++i) (*out)[i] = double(x[i]) - log_sum;
}

uint32_t ArgMax(const float* x, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

// Mean and standard error of a running sum.
struct Moments {
  double sum = 0, sum_sq = 0;
  size_t n = 0;
  void Add(double v) { sum += v, sum_sq += v * v, ++n; }
  double Mean() const { return n ? sum / double(n) : 0.0; }
  double StdErr() const {
    if (n < 2) return 0.0;
    const double var = (sum_sq - sum * sum / double(n)) / double(n - 1);
    return std::sqrt(std::max(0.0, var) / double(n));
  }
};

// The token sequences to score: per line [BOS] + encode(line), or with chunk > 0 the whole
// text's tokens in chunks of `chunk`, each after the tokenizer's BOS (if it adds one).
bool Sequences(const qlite_model* model, const std::string& text, size_t chunk,
               std::vector<std::vector<int32_t>>* out) {
  auto encode = [&](const std::string& s, int add_bos, std::vector<int32_t>* ids) {
    ids->resize(s.size() + 8);
    size_t n = 0;
    if (qlite_tokenize(model, s.data(), s.size(), add_bos, ids->data(), ids->size(), &n) != QLITE_OK) return false;
    ids->resize(n);
    return true;
  };
  if (chunk == 0) {
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      out->emplace_back();
      if (!encode(line, 1, &out->back())) return false;
    }
    return true;
  }
  std::vector<int32_t> prefix, all;
  if (!encode("", 1, &prefix) || !encode(text, 0, &all)) return false;
  for (size_t b = 0; b < all.size(); b += chunk) {
    std::vector<int32_t> seq = prefix;
    seq.insert(seq.end(), all.begin() + b, all.begin() + std::min(all.size(), b + chunk));
    if (seq.size() > 1) out->push_back(std::move(seq));
  }
  return true;
}

int PerplexityCommand(int argc, char** argv) {
  SessionFlags f;
  std::string file, base_path;
  size_t chunk = 0, breakdown = 0;
  for (int i = 1; i < argc; ++i) {
    int r = ParseSessionFlag(argc, argv, &i, &f);
    if (r < 0) return 2;
    if (r > 0) continue;
    if ((!std::strcmp(argv[i], "-f") || !std::strcmp(argv[i], "--file")) && i + 1 < argc) {
      file = argv[++i];
    } else if (!std::strcmp(argv[i], "--kl-base") && i + 1 < argc) {
      base_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--chunk") && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (!end || *end || v < 1 || v > (1 << 24)) {
        std::fprintf(stderr, "qlite perplexity: --chunk needs a token count >= 1, not '%s'\n", argv[i]);
        return 2;
      }
      chunk = size_t(v);
    } else if (!std::strcmp(argv[i], "--breakdown") && i + 1 < argc) {
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (!end || *end || v < 1 || v > (1 << 24)) {
        std::fprintf(stderr, "qlite perplexity: --breakdown needs a token count >= 1, not '%s'\n", argv[i]);
        return 2;
      }
      breakdown = size_t(v);
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf(
          "usage: qlite perplexity -m model.qlm -f text.txt [--chunk N] [--breakdown N] [--kl-base base.qlm] [flags]\n"
          "  -f, --file PATH         text: per line, [BOS] + the line's tokens, all after BOS scored\n"
          "  --chunk N               instead: the whole file as one token stream in chunks of N tokens,\n"
          "                          each scored from a fresh session after [BOS]\n"
          "  --breakdown N           also the perplexity of positions [0, N), [N, 2N), ... of the sequences\n"
          "  --kl-base BASE.qlm      also run BASE (same tokenizer; e.g. exact weights) on the same tokens:\n"
          "                          KL(base || model) per token, top-1 agreement, ppl ratio with a 95%%\n"
          "                          confidence interval (tokens taken as independent). --lora applies to -m only\n"
          "%s",
          kSessionFlagsHelp);
      return 0;
    } else {
      std::fprintf(stderr, "qlite perplexity: unknown flag '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  std::string text;
  const qlite::Status read = file.empty() ? qlite::Status(qlite::StatusCode::kInvalidArgument, "missing -f FILE")
                                          : qlite::ReadRegularFile(file, &text);
  if (!read.ok()) {
    std::fprintf(stderr, "qlite perplexity: cannot read -f '%s': %s\n", file.c_str(), read.message().c_str());
    return 1;
  }
  qlite_model* model = nullptr;
  qlite_session* s = nullptr;
  if (!OpenModelAndSession(f, &model, &s)) return 1;
  qlite_model* base = nullptr;
  qlite_session* bs = nullptr;
  SessionFlags base_flags = f;
  base_flags.model = base_path;
  base_flags.loras.clear();
  int rc = 0;
  qlite_model_info info, base_info;
  qlite_model_get_info(model, &info);
  if (!base_path.empty()) {
    if (!OpenModelAndSession(base_flags, &base, &bs)) {
      rc = 1;
    } else {
      qlite_model_get_info(base, &base_info);
      if (base_info.vocab_size != info.vocab_size) {
        std::fprintf(stderr, "qlite perplexity: --kl-base has vocabulary %u, the model %u\n", base_info.vocab_size,
                     info.vocab_size);
        rc = 1;
      }
    }
  }
  std::vector<std::vector<int32_t>> seqs;
  if (rc == 0 && !Sequences(model, text, chunk, &seqs)) {
    std::fprintf(stderr, "qlite perplexity: %s\n", qlite_last_error());
    rc = 1;
  }
  Moments nll, base_nll, diff, kl;
  std::vector<Moments> spans;  // --breakdown: by position
  size_t top1 = 0;
  std::vector<double> lp, base_lp;
  for (size_t q = 0; rc == 0 && q < seqs.size(); ++q) {
    const std::vector<int32_t>& ids = seqs[q];
    qlite_session_reset(s);
    if (bs) qlite_session_reset(bs);
    for (size_t t = 0; t + 1 < ids.size(); ++t) {
      const float* logits = nullptr;
      const float* base_logits = nullptr;
      if (qlite_decode(s, ids[t]) != QLITE_OK || qlite_get_logits(s, &logits) != QLITE_OK ||
          (bs && (qlite_decode(bs, ids[t]) != QLITE_OK || qlite_get_logits(bs, &base_logits) != QLITE_OK))) {
        std::fprintf(stderr, "qlite perplexity: %s\n", qlite_last_error());
        rc = 1;
        break;
      }
      LogSoftmax(logits, info.vocab_size, &lp);
      const int32_t next = ids[t + 1];
      nll.Add(-lp[next]);
      if (breakdown) {
        if (t / breakdown >= spans.size()) spans.resize(t / breakdown + 1);
        spans[t / breakdown].Add(-lp[next]);
      }
      if (!bs) continue;
      LogSoftmax(base_logits, info.vocab_size, &base_lp);
      base_nll.Add(-base_lp[next]);
      diff.Add(base_lp[next] - lp[next]);
      double k = 0;
      for (uint32_t v = 0; v < info.vocab_size; ++v) k += std::exp(base_lp[v]) * (base_lp[v] - lp[v]);
      kl.Add(k);
      top1 += ArgMax(logits, info.vocab_size) == ArgMax(base_logits, info.vocab_size);
    }
  }
  if (rc == 0 && nll.n == 0) {
    std::fprintf(stderr, "qlite perplexity: no tokens in %s\n", file.c_str());
    rc = 1;
  }
  if (rc == 0) {
    std::printf("perplexity %.4f over %zu tokens (mean nll %.5f)\n", std::exp(nll.Mean()), nll.n, nll.Mean());
    for (size_t b = 0; b < spans.size(); ++b)
      std::printf("  positions %zu-%zu: perplexity %.4f over %zu tokens\n", b * breakdown,
                  b * breakdown + breakdown - 1, std::exp(spans[b].Mean()), spans[b].n);
    if (bs) {
      // ppl / base ppl = exp(mean of nll - base nll); the interval from that mean's standard error.
      const double m = diff.Mean(), e = 1.96 * diff.StdErr();
      std::printf("base perplexity %.4f (%s)\n", std::exp(base_nll.Mean()), base_path.c_str());
      std::printf("delta ppl %+.3f%% (95%% CI %+.3f%% .. %+.3f%%)\n", 100 * std::expm1(m), 100 * std::expm1(m - e),
                  100 * std::expm1(m + e));
      std::printf("KL divergence %.6f +- %.6f nats/token (mean +- standard error), top-1 agreement %.3f%%\n",
                  kl.Mean(), kl.StdErr(), 100.0 * double(top1) / double(nll.n));
    }
  }
  if (bs) qlite_session_free(bs);
  if (base) qlite_model_free(base);
  qlite_session_free(s);
  qlite_model_free(model);
  return rc;
}

}  // namespace

QLITE_CLI_COMMAND(perplexity, "perplexity of a model over a text file, optionally against a base model",
                  PerplexityCommand);

}  // namespace qlite_cli
