// Helpers for the end-to-end tests: converting the shared models, reading reference JSON
// (just enough: integer/float arrays by key), running greedy generation via the C API.
#pragma once
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/qlite.h"
#include "../common/test_data.h"

namespace qlite_e2e {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Numbers of the JSON array that follows "key": at or after `from`. Empty if absent.
inline std::vector<double> JsonArray(const std::string& json, const std::string& key, size_t from = 0,
                                     size_t* end = nullptr) {
  std::vector<double> out;
  size_t k = json.find("\"" + key + "\"", from);
  if (k == std::string::npos) return out;
  size_t open = json.find('[', k), close = json.find(']', open);
  if (open == std::string::npos || close == std::string::npos) return out;
  std::stringstream ss(json.substr(open + 1, close - open - 1));
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stod(item));
  if (end) *end = close;
  return out;
}

// A model fetched into the cache by a scripts/fetch_*.sh: $ENV_VAR if set, else
// $QLITE_CACHE/file or ~/.cache/qlite/file.
inline std::string CachedModel(const char* env_var, const std::string& file) {
  if (const char* p = std::getenv(env_var); p && *p) return p;
  const char* cache = std::getenv("QLITE_CACHE");
  const char* home = std::getenv("HOME");
  const std::string dir = cache && *cache ? cache : std::string(home ? home : "") + "/.cache/qlite";
  return dir + "/" + file;
}

inline std::vector<int32_t> Ints(const std::vector<double>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

inline std::vector<float> ReadF32(const std::string& path) {
  const std::string bytes = ReadFile(path);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

inline qlite::QuantSpec Spec(qlite::fb::DType dtype) {
  qlite::QuantSpec s;
  s.dtype = dtype;
  return s;
}

// A .qlm path in the temp folder unique to this process: ctest runs each test of a binary
// as its own process, in parallel, so fixed names would be written concurrently.
inline std::string TempModelPath(const std::string& name) {
  return testing::TempDir() + "/" + name + "." + std::to_string(getpid()) + ".qlm";
}

// Imports `src` (any supported format) and writes a .qlm with the given options.
inline qlite::Status ConvertWith(const std::string& src, const std::string& tokenizer,
                                 const qlite::ConvertOptions& co, const std::string& out) {
  qlite::ImportOptions io;
  io.tokenizer = tokenizer;
  qlite::SourceModel model;
  QLITE_RETURN_IF_ERROR(qlite::ImportAuto(src, io, &model));
  qlite::ConvertSummary summary;
  return qlite::ConvertModel(model, co, out, nullptr, &summary);
}

// ... with the given weight scheme.
inline qlite::Status Convert(const std::string& src, const std::string& tokenizer, qlite::fb::DType weights,
                             const std::string& out, qlite::fb::Layout layout = qlite::fb::Layout::RowMajor) {
  qlite::ConvertOptions co;
  co.weights = Spec(weights);
  co.embeddings = Spec(weights == qlite::fb::DType::I4 ? qlite::fb::DType::I8 : weights);
  co.weights.layout = co.embeddings.layout = layout;
  return ConvertWith(src, tokenizer, co, out);
}

// ... as `qlite convert SRC -o OUT` without --weights: a quantized source keeps its values.
inline qlite::Status ConvertKeepingSource(const std::string& src, const std::string& out) {
  qlite::ConvertOptions co;
  co.weights = Spec(qlite::fb::DType::I4);
  co.embeddings = Spec(qlite::fb::DType::I8);
  co.keep_source_weights = co.keep_source_embeddings = true;
  return ConvertWith(src, "", co, out);
}

// Session parameters for comparisons with exact references: the defaults with an f32 KV cache
// (the default f16 cache rounds keys and values).
inline const qlite_session_params* ExactParams() {
  static const qlite_session_params p = [] {
    qlite_session_params q = qlite_session_default_params();
    q.kv_type = QLITE_KV_F32;
    return q;
  }();
  return &p;
}

// Greedy text continuation of `prompt` (tokenized with BOS) by qlite_generate on two
// threads, stopping at EOS; prints it with its speed under `label`.
inline std::string GenerateGreedy(qlite_model* m, const char* label, const char* prompt, uint32_t max_tokens,
                                  uint32_t window, qlite_generate_stats* stats) {
  qlite_session_params p = qlite_session_default_params();
  p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
  p.n_threads = 2;
  p.window = window;
  p.sampler.temperature = 0;
  qlite_session* s = nullptr;
  std::string text;
  EXPECT_EQ(qlite_session_create(m, &p, &s), QLITE_OK) << qlite_last_error();
  if (!s) return text;
  auto collect = [](void* user, int32_t, const char* piece, size_t len) {
    static_cast<std::string*>(user)->append(piece, len);
    return 0;
  };
  EXPECT_EQ(qlite_generate(s, prompt, max_tokens, 1, collect, &text, stats), QLITE_OK) << qlite_last_error();
  std::printf("%s: %s|%s\n(prefill %.1f tok/s, decode %.1f tok/s)\n", label, prompt, text.c_str(),
              stats->n_prompt_tokens / stats->prefill_seconds, stats->n_generated / stats->decode_seconds);
  qlite_session_free(s);
  return text;
}

// Greedy (temperature 0: argmax, ties to the lowest id) continuation of `prompt`.
inline std::vector<int32_t> Greedy(qlite_model* m, const std::vector<int32_t>& prompt, size_t n,
                                   uint32_t window = 0) {
  qlite_session_params p = qlite_session_default_params();
  p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
  p.sampler.temperature = 0;
  p.sampler.repeat_penalty = 1;
  p.window = window;
  qlite_session* s = nullptr;
  std::vector<int32_t> out;
  if (qlite_session_create(m, &p, &s) != QLITE_OK) return out;
  if (qlite_prefill(s, prompt.data(), prompt.size()) == QLITE_OK) {
    for (size_t i = 0; i < n; ++i) {
      int32_t t = 0;
      if (qlite_sample(s, &t) != QLITE_OK) break;
      out.push_back(t);
      if (qlite_decode(s, t) != QLITE_OK) break;
    }
  }
  qlite_session_free(s);
  return out;
}

}  // namespace qlite_e2e
