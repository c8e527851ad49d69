// Gemma 3 270M (llama.cpp's GGUF Q4_K_M, fetched by scripts/fetch_gemma3.sh into the cache)
// converts, plans its local/global layers, and continues prompts coherently.
// Skipped when absent, failed under CI=true.
#include <gtest/gtest.h>

#include <string>

#include "e2e_util.h"

namespace {

std::string GemmaPath() { return qlite_e2e::CachedModel("QLITE_GEMMA3", "gemma-3-270m-q4_k_m.gguf"); }

int Collect(void* user, int32_t, const char* piece, size_t len) {
  static_cast<std::string*>(user)->append(piece, len);
  return 0;
}

// The model is converted once (q8 weights) and shared by the tests.
class Gemma3 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string gguf = GemmaPath();
    if (!qlite_test::FileExists(gguf)) return;
    const std::string out = testing::TempDir() + "/gemma3_270m.qlm";
    qlite::Status st = qlite_e2e::Convert(gguf, "", qlite::fb::DType::I8, out);
    if (!st.ok()) convert_error_ = new std::string(st.message());
    else if (qlite_model_open(out.c_str(), nullptr, &model_) != QLITE_OK) convert_error_ = new std::string(qlite_last_error());
  }
  static void TearDownTestSuite() {
    qlite_model_free(model_);
    model_ = nullptr;
    delete convert_error_;
  }
  void SetUp() override {
    const std::string gguf = GemmaPath();
    if (!qlite_test::FileExists(gguf)) {
      if (qlite_test::InCI()) FAIL() << "missing " << gguf << " (CI=true): run scripts/fetch_gemma3.sh";
      GTEST_SKIP() << "missing " << gguf << " (scripts/fetch_gemma3.sh fetches it)";
    }
    ASSERT_EQ(convert_error_, nullptr) << *convert_error_;
    ASSERT_NE(model_, nullptr);
  }

  // Greedy continuation of `prompt` (with BOS), n tokens.
  std::string Continue(const char* prompt, uint32_t n) {
    qlite_session_params p = qlite_session_default_params();
    p.n_threads = 2;
    p.window = 1024;
    p.sampler.temperature = 0;
    qlite_session* s = nullptr;
    EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK) << qlite_last_error();
    std::string text;
    qlite_generate_stats stats;
    EXPECT_EQ(qlite_generate(s, prompt, n, 1, Collect, &text, &stats), QLITE_OK) << qlite_last_error();
    std::printf("Gemma 3 270M: %s|%s\n(prefill %.1f tok/s, decode %.1f tok/s)\n", prompt, text.c_str(),
                stats.n_prompt_tokens / stats.prefill_seconds, stats.n_generated / stats.decode_seconds);
    qlite_session_free(s);
    return text;
  }

  static qlite_model* model_;
  static std::string* convert_error_;
};
qlite_model* Gemma3::model_ = nullptr;
std::string* Gemma3::convert_error_ = nullptr;

TEST_F(Gemma3, ConfigAndMemoryPlan) {
  qlite_model_info info;
  ASSERT_EQ(qlite_model_get_info(model_, &info), QLITE_OK);
  EXPECT_EQ(info.vocab_size, 262144u);
  EXPECT_EQ(info.n_layers, 18u);
  EXPECT_EQ(info.n_kv_heads, 1u);
  // 15 local layers hold 512 positions, 3 global ones the window asked for (f32 K and V,
  // one KV head of 256): memory follows the local/global split.
  qlite_session_params p = qlite_session_default_params();
  p.window = 4096;
  qlite_memory_estimate est;
  ASSERT_EQ(qlite_estimate_memory(model_, &p, &est), QLITE_OK) << qlite_last_error();
  EXPECT_EQ(est.kv_cache, uint64_t{2} * (15 * 512 + 3 * 4096) * 256 * 4);
}

TEST_F(Gemma3, ContinuesPromptsCoherently) {
  EXPECT_NE(Continue("Water boils at a temperature of", 8).find("100 degrees"), std::string::npos);
  EXPECT_NE(Continue("The first president of the United States was", 8).find("Lincoln"), std::string::npos);
}

}  // namespace
