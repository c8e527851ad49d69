// Qwen3, Qwen2.5, Gemma 3, Gemma 2, Llama 3.2, Phi-3 (Phi-4-mini shape) and SmolLM3 layers
// against Hugging Face transformers: tiny random-weight models (tests/data/families, made by
// scripts/refs/make_family_refs.py) convert from their HF folders and from GGUFs in
// llama.cpp's layout, and reproduce transformers' teacher-forced logits at f32 and its
// greedy tokens.
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
  // Phi-3: a sequence within the original context, run by transformers with LongRoPE's
  // short factors (the others are longer: long factors).
  std::vector<int32_t> short_ids;
  std::vector<double> short_logits;
};

Refs ReadRefs(const std::string& family) {
  const std::string json = ReadFile(FamilyDir(family) + "/refs.json");
  Refs r;
  r.ids = Ints(JsonArray(json, "token_ids"));
  r.logits = JsonArray(json, "logits");
  r.prompt = Ints(JsonArray(json, "prompt_ids"));
  r.greedy = Ints(JsonArray(json, "greedy_ids"));
  if (json.find("\"short_token_ids\"") != std::string::npos) {
    r.short_ids = Ints(JsonArray(json, "short_token_ids"));
    r.short_logits = JsonArray(json, "short_logits");
  }
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

  // Largest |qlite - transformers| over the logits of every position after feeding the
  // reference ids in prefill chunks of max_batch (1 = token by token). window: the
  // session's KV window (0 = the model's context).
  double WorstLogitError(uint32_t max_batch, uint32_t n_threads) {
    return WorstLogitError(max_batch, n_threads, 0, refs_.ids, refs_.logits);
  }
  double WorstLogitError(uint32_t max_batch, uint32_t n_threads, uint32_t window, const std::vector<int32_t>& ids,
                         const std::vector<double>& want) {
    qlite_session_params p = qlite_session_default_params();
    p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
    p.max_batch = max_batch;
    p.n_threads = n_threads;
    p.window = window;
    qlite_session* s = nullptr;
    EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK) << qlite_last_error();
    if (!s) return INFINITY;
    double worst = 0;
    for (size_t t = 0; t < ids.size(); t += max_batch) {
      const size_t n = std::min<size_t>(max_batch, ids.size() - t);
      EXPECT_EQ(qlite_prefill(s, ids.data() + t, n), QLITE_OK) << qlite_last_error();
      const float* logits = nullptr;
      EXPECT_EQ(qlite_get_logits(s, &logits), QLITE_OK);
      const size_t last = t + n - 1;  // only the chunk's last position has logits
      for (uint32_t v = 0; logits && v < vocab_; ++v)
        worst = std::max(worst, std::fabs(double(logits[v]) - want[last * vocab_ + v]));
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

// LongRoPE picks its factors by the session: a window within the original context (16)
// rotates with the short factors, as transformers does for a sequence that short.
class LongRope : public Families {};

TEST_P(LongRope, ShortFactorsWithinTheOriginalContext) {
  ASSERT_FALSE(refs_.short_ids.empty()) << "no short_token_ids in refs.json";
  ASSERT_EQ(refs_.short_logits.size(), refs_.short_ids.size() * vocab_);
  EXPECT_LT(WorstLogitError(1, 1, 16, refs_.short_ids, refs_.short_logits), 1e-4);
  EXPECT_LT(WorstLogitError(5, 2, 16, refs_.short_ids, refs_.short_logits), 1e-4);
  // The long factors give other logits: the choice is real.
  EXPECT_GT(WorstLogitError(1, 1, 0, refs_.short_ids, refs_.short_logits), 1e-2);
}

TEST_P(Families, GreedyTokensMatchTransformers) {
  EXPECT_EQ(qlite_e2e::Greedy(model_, refs_.prompt, refs_.greedy.size()), refs_.greedy);
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, LongRope, ::testing::Values("phi3", "phi3.gguf"),
                         [](const testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param) == "phi3" ? std::string("phi3") : std::string("phi3_gguf");
                         });

// The optional layer parts run from the session arena: prefill and decode allocate nothing.
TEST_P(Families, PrefillAndDecodeAllocateNothing) {
  qlite_session_params p = qlite_session_default_params();
  p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
  p.n_threads = 2;
  p.max_batch = 7;
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK) << qlite_last_error();
  g_allocs = 0;
  ASSERT_EQ(qlite_prefill(s, refs_.ids.data(), refs_.ids.size()), QLITE_OK);
  for (int i = 0; i < 40; ++i) ASSERT_EQ(qlite_decode(s, refs_.ids[i % refs_.ids.size()]), QLITE_OK);
  if (QLITE_COUNT_ALLOCS) { EXPECT_EQ(g_allocs.load(), 0) << "heap allocations on the token path"; }
  qlite_session_free(s);
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, Families,
                         ::testing::Values("qwen3", "qwen2", "gemma3", "gemma2", "llama", "phi3", "smollm3", "qwen3.gguf",
                                           "qwen2.gguf", "gemma2.gguf", "llama.gguf", "phi3.gguf", "smollm3.gguf"),
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
  p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
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

// qlite inspect shows what each new family's config turned into.
std::string InspectFamily(const std::string& source) {
  const std::string path = qlite_e2e::TempModelPath("family_inspect_" + source);
  qlite::Status st = qlite_e2e::Convert(FamilyDir(source), "", qlite::fb::DType::F32, path);
  EXPECT_TRUE(st.ok()) << st.message();
  char* text = nullptr;
  size_t len = 0;
  FILE* out = open_memstream(&text, &len);
  EXPECT_TRUE(qlite::InspectFile(path, qlite::InspectOptions(), out).ok());
  std::fclose(out);
  const std::string info(text, len);
  std::free(text);
  std::remove(path.c_str());
  return info;
}

TEST(FamilyPlans, InspectShowsTheNewLayerParts) {
  for (const char* source : {"smollm3", "smollm3.gguf"}) {
    const std::string info = InspectFamily(source);
    EXPECT_NE(info.find("arch SmolLM3"), std::string::npos) << info;
    EXPECT_NE(info.find("layers: 0-2 global (rope 2e+06), 3 global (no rope)"), std::string::npos) << info;
  }
  for (const char* source : {"gemma2", "gemma2.gguf"}) {
    const std::string info = InspectFamily(source);
    EXPECT_NE(info.find("arch Gemma2"), std::string::npos) << info;
    EXPECT_NE(info.find("softcap attention 5, final 3"), std::string::npos) << info;
    EXPECT_NE(info.find("layers: 0 local (window 6, rope 10000), 1 global (rope 10000), 2 local"), std::string::npos)
        << info;
  }
  for (const char* source : {"phi3", "phi3.gguf"}) {
    const std::string info = InspectFamily(source);
    EXPECT_NE(info.find("arch Phi3"), std::string::npos) << info;
    EXPECT_NE(info.find("scaling LongRope"), std::string::npos) << info;
    EXPECT_NE(info.find("rotary_dim 12"), std::string::npos) << info;
    EXPECT_NE(info.find("rope frequency factors 6 (short and long), original context 16, attn_factor 1.22474"),
              std::string::npos)
        << info;
  }
  // llama.cpp writes Llama 3's scaling as per-frequency factors; the HF folder keeps its parameters.
  EXPECT_NE(InspectFamily("llama.gguf").find("rope frequency factors 32, original context 0"), std::string::npos);
  EXPECT_NE(InspectFamily("llama").find("scaling Llama3 (factor 8)"), std::string::npos);
}

}  // namespace
