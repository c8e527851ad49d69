// Gemma 3 270M (llama.cpp's GGUF Q4_K_M, fetched by scripts/fetch_gemma3.sh into the cache)
// converts, plans its local/global layers, tokenizes and continues prompts as llama.cpp does
// on the same file (tests/data/gemma3_270m_llamacpp.json, written by
// scripts/refs/make_gemma3_llamacpp_refs.py). Skipped when absent, failed under CI=true.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace {
using qlite_e2e::Ints;
using qlite_e2e::JsonArray;

// One prompt of the llama.cpp references.
struct LlamaCppCase {
  std::string prompt;
  std::vector<int32_t> prompt_ids, greedy;
  std::vector<double> margins;  // llama.cpp's top-1 minus top-2 logit at each greedy step
};

// The JSON string value after "key": at or after `from` (escapes \n, \" and \\ only: what
// the reference prompts use).
std::string JsonString(const std::string& json, const std::string& key, size_t from, size_t* end) {
  size_t at = json.find("\"" + key + "\"", from);
  if (at == std::string::npos) return "";
  at = json.find('"', json.find(':', at)) + 1;
  std::string out;
  for (; at < json.size() && json[at] != '"'; ++at) {
    if (json[at] == '\\' && at + 1 < json.size()) {
      const char e = json[++at];
      out += e == 'n' ? '\n' : e;
    } else {
      out += json[at];
    }
  }
  *end = at;
  return out;
}

std::vector<LlamaCppCase> ReadLlamaCppRefs() {
  const std::string f = __FILE__;
  const std::string json = qlite_e2e::ReadFile(f.substr(0, f.find_last_of('/')) + "/../data/gemma3_270m_llamacpp.json");
  std::vector<LlamaCppCase> cases;
  for (size_t at = json.find("\"cases\""); at != std::string::npos;) {
    LlamaCppCase c;
    size_t end = 0;
    c.prompt = JsonString(json, "prompt", at, &end);
    if (c.prompt.empty()) break;
    c.prompt_ids = Ints(JsonArray(json, "prompt_ids", end, &end));
    c.greedy = Ints(JsonArray(json, "greedy_ids", end, &end));
    c.margins = JsonArray(json, "margins", end, &end);
    cases.push_back(c);
    at = end;
  }
  return cases;
}

std::string GemmaPath() { return qlite_e2e::CachedModel("QLITE_GEMMA3", "gemma-3-270m-q4_k_m.gguf"); }

// The model is converted once as `qlite convert` does by default (the GGUF's own quantized
// values kept: Q4_K, Q5_0 and Q8_0 exactly, Q6_K in int8) and shared by the tests.
class Gemma3 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string gguf = GemmaPath();
    if (!qlite_test::FileExists(gguf)) return;
    const std::string out = qlite_e2e::TempModelPath("gemma3_270m");
    qlite::Status st = qlite_e2e::ConvertKeepingSource(gguf, out);
    if (!st.ok()) convert_error_ = new std::string(st.message());
    else if (qlite_model_open(out.c_str(), nullptr, &model_) != QLITE_OK) convert_error_ = new std::string(qlite_last_error());
    std::remove(out.c_str());  // 288 MB; the mapping stays valid
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
    qlite_generate_stats stats;
    return qlite_e2e::GenerateGreedy(model_, "Gemma 3 270M", prompt, n, 1024, &stats);
  }

  static qlite_model* model_;
  static std::string* convert_error_;
};
qlite_model* Gemma3::model_ = nullptr;
std::string* Gemma3::convert_error_ = nullptr;

// The base model's GGUF has no chat template: Gemma 3's own is the fallback, and the "<bos>"
// it prints is the BOS token when tokenized (so the chat adds none of its own).
TEST_F(Gemma3, ChatFallsBackToGemmaTurns) {
  qlite_chat_format format;
  ASSERT_EQ(qlite_chat_get_format(model_, &format), QLITE_OK);
  EXPECT_EQ(format, QLITE_CHAT_FORMAT_GEMMA);
  const qlite_chat_message conv[] = {{"system", "Answer in one word."}, {"user", "Colour of the sky?"},
                                     {"assistant", "Blue."},            {"user", "And grass?"},
                                     {"assistant", "Green."},           {"user", "Snow?"}};
  size_t len = 0;
  ASSERT_EQ(qlite_chat_apply_template(model_, conv, 6, 1, nullptr, 0, &len), QLITE_OK) << qlite_last_error();
  std::string text(len + 1, '\0');
  ASSERT_EQ(qlite_chat_apply_template(model_, conv, 6, 1, &text[0], text.size(), &len), QLITE_OK);
  text.resize(len);
  // transformers on gemma3.jinja (tests/data/chat_templates/refs.json, "system_multi_turn")
  EXPECT_EQ(text,
            "<bos><start_of_turn>user\nAnswer in one word.\n\nColour of the sky?<end_of_turn>\n<start_of_turn>model\n"
            "Blue.<end_of_turn>\n<start_of_turn>user\nAnd grass?<end_of_turn>\n<start_of_turn>model\nGreen.<end_of_turn>\n"
            "<start_of_turn>user\nSnow?<end_of_turn>\n<start_of_turn>model\n");
  std::vector<int32_t> ids(len);
  size_t n = 0;
  ASSERT_EQ(qlite_tokenize(model_, text.data(), text.size(), 0, ids.data(), ids.size(), &n), QLITE_OK);
  qlite_model_info info;
  ASSERT_EQ(qlite_model_get_info(model_, &info), QLITE_OK);
  ASSERT_GT(n, 0u);
  EXPECT_EQ(ids[0], info.bos_id);
}

TEST_F(Gemma3, ConfigAndMemoryPlan) {
  qlite_model_info info;
  ASSERT_EQ(qlite_model_get_info(model_, &info), QLITE_OK);
  EXPECT_EQ(info.vocab_size, 262144u);
  EXPECT_EQ(info.n_layers, 18u);
  EXPECT_EQ(info.n_kv_heads, 1u);
  // 15 local layers hold 512 positions, 3 global ones the window asked for (f32 K and V,
  // one KV head of 256): memory follows the local/global split.
  qlite_session_params p = qlite_session_default_params();
  p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
  p.window = 4096;
  qlite_memory_estimate est;
  ASSERT_EQ(qlite_estimate_memory(model_, &p, &est), QLITE_OK) << qlite_last_error();
  EXPECT_EQ(est.kv_cache, uint64_t{2} * (15 * 512 + 3 * 4096) * 256 * 4);
}

// Answers the model gives by clear margins (a top-2 logit gap over 1 at each of these
// tokens), so that no target's rounding can flip them.
TEST_F(Gemma3, ContinuesPromptsCoherently) {
  EXPECT_NE(Continue("Water boils at a temperature of", 8).find("100 degrees"), std::string::npos);
  EXPECT_NE(Continue("Two plus two equals", 4).find("four"), std::string::npos);
}

// Same prompt ids as llama.cpp (BOS, SentencePiece without a dummy prefix, <start_of_turn>
// as one token); greedy tokens equal to llama.cpp's up to its first near-tie (top-2 gap
// under kTie), and at least kMinSteps of each continuation compared. qlite (int8 group-32
// activations, f32 KV) and llama.cpp (q8_K activations, f16 KV) round differently: on
// llama.cpp's own greedy path their top-2 gaps differ by up to ~0.5 logit before its first
// near-tie, and the order of closer pairs changes with the SIMD target's summation order.
TEST_F(Gemma3, MatchesLlamaCppOnTheSameFile) {
  constexpr double kTie = 0.5;
  constexpr size_t kMinSteps = 4;
  const std::vector<LlamaCppCase> cases = ReadLlamaCppRefs();
  ASSERT_EQ(cases.size(), 6u);
  size_t compared = 0, total = 0;
  for (const LlamaCppCase& c : cases) {
    SCOPED_TRACE(c.prompt);
    std::vector<int32_t> ids(c.prompt.size() + 8);
    size_t n = 0;
    ASSERT_EQ(qlite_tokenize(model_, c.prompt.data(), c.prompt.size(), 1, ids.data(), ids.size(), &n), QLITE_OK);
    ids.resize(n);
    EXPECT_EQ(ids, c.prompt_ids);
    size_t steps = 0;  // the steps before llama.cpp's first near-tie
    while (steps < c.margins.size() && c.margins[steps] >= kTie) ++steps;
    const std::vector<int32_t> got = qlite_e2e::Greedy(model_, c.prompt_ids, c.greedy.size(), 1024);
    size_t agree = 0;
    while (agree < got.size() && got[agree] == c.greedy[agree]) ++agree;
    std::printf("llama.cpp agreement: %zu of %zu tokens (first near-tie at %zu): %s\n", agree, c.greedy.size(), steps,
                c.prompt.c_str());
    EXPECT_GE(agree, std::min(steps, c.greedy.size()));
    compared += std::min(steps, c.greedy.size());
    total += agree;
  }
  EXPECT_GE(compared, kMinSteps * cases.size() / 2) << "too few steps compared: the references are all near-ties";
  std::printf("llama.cpp agreement: %zu greedy tokens in all (%zu required)\n", total, compared);
}

}  // namespace
