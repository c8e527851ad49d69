// Qwen3, Qwen2.5 and Gemma 3 layers against Hugging Face transformers: tiny random-weight
// models (tests/data/families, made by scripts/refs/make_family_refs.py) convert from their
// HF folders (and Qwen3, Qwen2.5 from GGUFs in llama.cpp's layout) and reproduce transformers'
// teacher-forced logits at f32 and its greedy tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "count_allocs.h"
#include "e2e_util.h"
#include "qlite/format/inspect.h"

namespace {
using qlite_e2e::Ints;
using qlite_e2e::JsonArray;
using qlite_e2e::ReadFile;

std::string FamilyDir(const std::string& family) {
  const std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/')) + "/../data/families/" + family;
}

struct Refs {
  std::vector<int32_t> ids, prompt, greedy;
  std::vector<double> logits;  // [ids.size()][vocab]
};

Refs ReadRefs(const std::string& family) {
  const std::string json = ReadFile(FamilyDir(family) + "/refs.json");
  Refs r;
  r.ids = Ints(JsonArray(json, "token_ids"));
  r.logits = JsonArray(json, "logits");
  r.prompt = Ints(JsonArray(json, "prompt_ids"));
  r.greedy = Ints(JsonArray(json, "greedy_ids"));
  return r;
}

// The parameter names the source: a family's HF folder, or "<family>.gguf".
class Families : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string source = GetParam();
    refs_ = ReadRefs(source.substr(0, source.find('.')));
    ASSERT_FALSE(refs_.ids.empty()) << "no refs.json for " << source;
    const std::string out = qlite_e2e::TempModelPath("family_" + source);
    qlite::Status st = qlite_e2e::Convert(FamilyDir(source), "", qlite::fb::DType::F32, out);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(qlite_model_open(out.c_str(), nullptr, &model_), QLITE_OK) << qlite_last_error();
    std::remove(out.c_str());  // the mapping stays valid
    qlite_model_info info;
    ASSERT_EQ(qlite_model_get_info(model_, &info), QLITE_OK);
    vocab_ = info.vocab_size;
    ASSERT_EQ(refs_.logits.size(), refs_.ids.size() * vocab_);
  }
  void TearDown() override { qlite_model_free(model_); }

  // Largest |qlite - transformers| over the logits of positions [from, to) after feeding
  // the reference ids in prefill chunks of max_batch (1 = token by token).
  double WorstLogitError(uint32_t max_batch, uint32_t n_threads) {
    qlite_session_params p = qlite_session_default_params();
    p.max_batch = max_batch;
    p.n_threads = n_threads;
    qlite_session* s = nullptr;
    EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK) << qlite_last_error();
    if (!s) return INFINITY;
    double worst = 0;
    for (size_t t = 0; t < refs_.ids.size(); t += max_batch) {
      const size_t n = std::min<size_t>(max_batch, refs_.ids.size() - t);
      EXPECT_EQ(qlite_prefill(s, refs_.ids.data() + t, n), QLITE_OK) << qlite_last_error();
      const float* logits = nullptr;
      EXPECT_EQ(qlite_get_logits(s, &logits), QLITE_OK);
      const size_t last = t + n - 1;  // only the chunk's last position has logits
      for (uint32_t v = 0; logits && v < vocab_; ++v)
        worst = std::max(worst, std::fabs(double(logits[v]) - refs_.logits[last * vocab_ + v]));
    }
    qlite_session_free(s);
    std::printf("%s: worst |logit error| %.2e (chunks of %u)\n", GetParam(), worst, max_batch);
    return worst;
  }

  Refs refs_;
  qlite_model* model_ = nullptr;
  uint32_t vocab_ = 0;
};

TEST_P(Families, TeacherForcedLogitsMatchTransformers) {
  // Token by token (decode path) at every position, past Gemma's sliding window of 6.
  EXPECT_LT(WorstLogitError(1, 1), 1e-4);
}

TEST_P(Families, PrefillChunksMatchTransformers) {
  // Chunks of 4 and 7 (GEMM path; 7 wraps the 6-slot local rings inside a chunk) and one
  // chunk of all 20 tokens, on two threads.
  EXPECT_LT(WorstLogitError(4, 2), 1e-4);
  EXPECT_LT(WorstLogitError(7, 2), 1e-4);
  EXPECT_LT(WorstLogitError(64, 2), 1e-4);
}

TEST_P(Families, GreedyTokensMatchTransformers) {
  EXPECT_EQ(qlite_e2e::Greedy(model_, refs_.prompt, refs_.greedy.size()), refs_.greedy);
}

// The optional layer parts run from the session arena: prefill and decode allocate nothing.
TEST_P(Families, PrefillAndDecodeAllocateNothing) {
  qlite_session_params p = qlite_session_default_params();
  p.n_threads = 2;
  p.max_batch = 7;
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK) << qlite_last_error();
  g_allocs = 0;
  ASSERT_EQ(qlite_prefill(s, refs_.ids.data(), refs_.ids.size()), QLITE_OK);
  for (int i = 0; i < 40; ++i) ASSERT_EQ(qlite_decode(s, refs_.ids[i % refs_.ids.size()]), QLITE_OK);
  if (QLITE_COUNT_ALLOCS) EXPECT_EQ(g_allocs.load(), 0) << "heap allocations on the token path";
  qlite_session_free(s);
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, Families, ::testing::Values("qwen3", "qwen2", "gemma3", "qwen3.gguf", "qwen2.gguf"),
                         [](const testing::TestParamInfo<const char*>& i) {
                           std::string name = i.param;
                           return name.replace(name.find('.') == std::string::npos ? name.size() : name.find('.'), 1, "_");
                         });

// Gemma 3's local layers keep their sliding window, not the context: 2 local layers of 6
// slots and 1 global layer of 64 (the context), one KV head of 64 dims, f32 keys and values.
TEST(Gemma3Plan, LocalLayersHoldTheirWindow) {
  const std::string path = qlite_e2e::TempModelPath("family_gemma3_plan");
  qlite::Status st = qlite_e2e::Convert(FamilyDir("gemma3"), "", qlite::fb::DType::F32, path);
  ASSERT_TRUE(st.ok()) << st.message();
  qlite_model* m = nullptr;
  ASSERT_EQ(qlite_model_open(path.c_str(), nullptr, &m), QLITE_OK) << qlite_last_error();
  qlite_session_params p = qlite_session_default_params();
  qlite_memory_estimate est;
  ASSERT_EQ(qlite_estimate_memory(m, &p, &est), QLITE_OK) << qlite_last_error();
  EXPECT_EQ(est.kv_cache, uint64_t{2 * (2 * 6 + 64) * 64 * 4});
  qlite_model_free(m);
  // qlite inspect names the family and the per-layer plan.
  char* text = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&text, &len);
  ASSERT_TRUE(qlite::InspectFile(path, qlite::InspectOptions(), out).ok());
  std::fclose(out);
  const std::string info(text, len);
  std::free(text);
  EXPECT_NE(info.find("arch Gemma3"), std::string::npos) << info;
  EXPECT_NE(info.find("layers: 0-1 local (window 6, rope 10000), 2 global (rope 1e+06)"), std::string::npos) << info;
  EXPECT_NE(info.find("qk_norm yes, post_norms yes, ffn GeGLU (tanh GELU)"), std::string::npos) << info;
  std::remove(path.c_str());
}

}  // namespace
