// qlite_bench_grammar: what a grammar costs per token. Two sessions on the same model run side
// by side, step by step: one samples under a JSON schema's grammar, the other without; both
// decode. Reports medians (and the tail, where the grammar masks the whole vocabulary) of
// qlite_sample with and without the grammar, and of a decode step.
//
// usage: qlite_bench_grammar model.qlm schema.json [--prompt TEXT] [--steps N] [--threads T] [--temp X]
//   --prompt TEXT   the user's question, in the model's chat template (default: a weather question)
//   --raw TEXT      plain text instead (e.g. a story opening: the model then rarely picks a token
//                   the grammar allows, so nearly every step masks the whole vocabulary)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "qlite/qlite.h"

namespace {

using Clock = std::chrono::steady_clock;

double Us(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::micro>(b - a).count(); }

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

bool Check(qlite_status s, const char* what) {
  if (s == QLITE_OK) return true;
  std::fprintf(stderr, "%s: %s\n", what, qlite_last_error());
  return false;
}

// The chat prompt (the model's template) asking for a tool call, tokenized.
std::vector<int32_t> Prompt(qlite_model* m, const std::string& question, bool raw) {
  size_t len = 0, n = 0;
  std::vector<int32_t> ids;
  if (raw) {
    qlite_tokenize(m, question.data(), question.size(), 1, nullptr, 0, &n);
    ids.resize(n);
    if (!Check(qlite_tokenize(m, question.data(), question.size(), 1, ids.data(), n, &n), "tokenize")) ids.clear();
    return ids;
  }
  qlite_chat_message chat[2] = {
      {"system", "Answer with a JSON tool call: {\"tool\": \"get_weather\", \"arguments\": {\"city\": ..., \"unit\": ...}}"},
      {"user", question.c_str()}};
  if (!Check(qlite_chat_apply_template(m, chat, 2, 1, nullptr, 0, &len), "template")) return ids;
  std::string text(len + 1, '\0');
  if (!Check(qlite_chat_apply_template(m, chat, 2, 1, &text[0], text.size(), &len), "template")) return ids;
  text.resize(len);
  qlite_tokenize(m, text.data(), text.size(), 0, nullptr, 0, &n);
  ids.resize(n);
  if (!Check(qlite_tokenize(m, text.data(), text.size(), 0, ids.data(), n, &n), "tokenize")) ids.clear();
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s model.qlm schema.json [--prompt TEXT] [--steps N] [--threads T] [--temp X]\n", argv[0]);
    return 2;
  }
  std::string question = "What is the weather in Lisbon, in celsius?";
  int steps = 400, threads = 2;
  float temp = 0.8f;
  bool raw = false;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--prompt")) question = argv[i + 1];
    else if (!std::strcmp(argv[i], "--raw")) question = argv[i + 1], raw = true;
    else if (!std::strcmp(argv[i], "--steps")) steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--temp")) temp = float(std::atof(argv[i + 1]));
  }
  std::ifstream in(argv[2], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string schema = ss.str();
  size_t glen = 0;
  if (!Check(qlite_json_schema_to_grammar(schema.data(), schema.size(), nullptr, 0, &glen), "schema")) return 1;
  std::string grammar(glen + 1, '\0');
  qlite_json_schema_to_grammar(schema.data(), schema.size(), &grammar[0], grammar.size(), &glen);
  grammar.resize(glen);

  qlite_model* m = nullptr;
  if (!Check(qlite_model_open(argv[1], nullptr, &m), "model")) return 1;
  qlite_model_info info;
  qlite_model_get_info(m, &info);
  qlite_session_params p = qlite_session_default_params();
  p.n_threads = uint32_t(threads);
  p.sampler.temperature = temp;
  p.grammar_memory = 256 << 10;
  qlite_session *plain = nullptr, *constrained = nullptr;
  if (!Check(qlite_session_create(m, &p, &plain), "session") || !Check(qlite_session_create(m, &p, &constrained), "session") ||
      !Check(qlite_session_set_grammar(constrained, grammar.data(), grammar.size()), "grammar"))
    return 1;
  const std::vector<int32_t> prompt = Prompt(m, question, raw);
  if (prompt.empty()) return 1;

  std::vector<double> sample_plain, sample_grammar, decode;
  int replies = 0;
  while (int(sample_grammar.size()) < steps) {  // one reply per round; the grammar restarts with it
    qlite_session_reset(plain);
    qlite_session_reset(constrained);
    if (!Check(qlite_prefill(plain, prompt.data(), prompt.size()), "prefill") ||
        !Check(qlite_prefill(constrained, prompt.data(), prompt.size()), "prefill"))
      return 1;
    ++replies;
    for (int i = 0; i < 200 && int(sample_grammar.size()) < steps; ++i) {
      int32_t a = 0, b = 0;
      const Clock::time_point t0 = Clock::now();
      if (!Check(qlite_sample(plain, &a), "sample")) return 1;
      const Clock::time_point t1 = Clock::now();
      if (!Check(qlite_sample(constrained, &b), "sample")) return 1;
      const Clock::time_point t2 = Clock::now();
      sample_plain.push_back(Us(t0, t1));
      sample_grammar.push_back(Us(t1, t2));
      if (b == info.eos_id) break;  // the call is complete
      const Clock::time_point t3 = Clock::now();
      if (!Check(qlite_decode(constrained, b), "decode")) return 1;
      decode.push_back(Us(t3, Clock::now()));
      if (!Check(qlite_decode(plain, a == info.eos_id ? b : a), "decode")) return 1;
    }
  }
  const double plain_med = Quantile(sample_plain, 0.5), grammar_med = Quantile(sample_grammar, 0.5);
  const double decode_med = Quantile(decode, 0.5);
  std::printf("model %s, %d threads, temperature %.2f, %s prompt, %zu steps over %d replies\n", argv[1], threads,
              temp, raw ? "raw" : "chat", sample_grammar.size(), replies);
  std::printf("decode step (qlite_decode)      median %9.1f us\n", decode_med);
  std::printf("qlite_sample, no grammar        median %9.1f us   p90 %9.1f us   max %9.1f us\n", plain_med,
              Quantile(sample_plain, 0.9), Quantile(sample_plain, 1.0));
  std::printf("qlite_sample, JSON schema       median %9.1f us   p90 %9.1f us   max %9.1f us\n", grammar_med,
              Quantile(sample_grammar, 0.9), Quantile(sample_grammar, 1.0));
  double mean_extra = 0;
  for (size_t i = 0; i < sample_grammar.size(); ++i) mean_extra += sample_grammar[i] - sample_plain[i];
  mean_extra /= double(sample_grammar.size());
  std::printf("grammar cost per token: median %.1f us (%.2f%% of a decode step), mean %.1f us (%.2f%%)\n",
              grammar_med - plain_med, 100.0 * (grammar_med - plain_med) / decode_med, mean_extra,
              100.0 * mean_extra / decode_med);
  qlite_session_free(plain);
  qlite_session_free(constrained);
  qlite_model_free(m);
  return 0;
}
