// Constrained generation on stories260K (a model that knows nothing of JSON, so nearly every
// token is steered by the grammar): the output always parses, over seeds and temperatures,
// and the token loop allocates nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "../common/count_allocs.h"
#include "e2e_util.h"
#include "grammar.h"
#include "qlite/format/json.h"

namespace {

using namespace qlite_e2e;

// Bounded: every sentence ends well within the token budget (stories260K's pieces are short).
const char* kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 12},
    "age": {"type": "integer"},
    "mood": {"enum": ["happy", "sad", null]},
    "tags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3},
    "pet": {"type": "object", "properties": {"kind": {"const": "cat"}, "legs": {"type": "number"}}, "required": ["kind"]}
  },
  "required": ["name", "age", "pet"],
  "additionalProperties": false
})";

class Grammar : public testing::Test {
 protected:
  static qlite_model* model_;
  static void SetUpTestSuite() {
    const std::string bin = qlite_test::DataPath("stories260K/stories260K.bin");
    if (!qlite_test::FileExists(bin)) return;
    const std::string out = TempModelPath("grammar_stories");
    const qlite::Status st = Convert(bin, qlite_test::DataPath("stories260K/tok512.bin"), qlite::fb::DType::I8, out);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(qlite_model_open(out.c_str(), nullptr, &model_), QLITE_OK) << qlite_last_error();
  }
  static void TearDownTestSuite() {
    qlite_model_free(model_);
    model_ = nullptr;
  }
  void SetUp() override {
    if (model_) return;
    if (qlite_test::InCI()) FAIL() << "missing test data (CI=true): stories260K";
    GTEST_SKIP() << "missing test data: stories260K";
  }

  static qlite_session* NewSession(float temperature, uint64_t seed, uint64_t grammar_memory = 256 << 10) {
    qlite_session_params p = qlite_session_default_params();
    p.n_threads = 1;
    p.sampler.temperature = temperature;
    p.sampler.seed = seed;
    p.grammar_memory = grammar_memory;
    qlite_session* s = nullptr;
    EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK) << qlite_last_error();
    return s;
  }

  static std::string SchemaGrammar(const char* schema) {
    size_t len = 0;
    EXPECT_EQ(qlite_json_schema_to_grammar(schema, strlen(schema), nullptr, 0, &len), QLITE_OK) << qlite_last_error();
    std::string g(len + 1, '\0');
    EXPECT_EQ(qlite_json_schema_to_grammar(schema, strlen(schema), &g[0], g.size(), &len), QLITE_OK);
    g.resize(len);
    return g;
  }

  struct Run {
    std::string text;
    qlite_generate_stats stats = {};
  };
  static Run Generate(qlite_session* s, uint32_t max_tokens) {
    Run r;
    auto collect = [](void* user, int32_t, const char* piece, size_t len) {
      static_cast<std::string*>(user)->append(piece, len);
      return 0;
    };
    EXPECT_EQ(qlite_generate(s, "Once upon a time", max_tokens, 1, collect, &r.text, &r.stats), QLITE_OK)
        << qlite_last_error();
    return r;
  }
};
qlite_model* Grammar::model_ = nullptr;

TEST_F(Grammar, SchemaOutputAlwaysParsesAndMatches) {
  const std::string text = SchemaGrammar(kSchema);
  qlite::grammar::Compiled g;
  ASSERT_TRUE(qlite::grammar::Compile(text, &g).ok());
  int ended = 0;
  for (float temperature : {0.0f, 0.7f, 1.5f}) {
    for (uint64_t seed : {1u, 2u, 3u, 4u}) {
      qlite_session* s = NewSession(temperature, seed);
      ASSERT_TRUE(s);
      ASSERT_EQ(qlite_session_set_grammar(s, text.data(), text.size()), QLITE_OK) << qlite_last_error();
      const Run r = Generate(s, 600);
      std::printf("t=%.1f seed=%llu (%u tokens): %s\n", temperature, (unsigned long long)seed, r.stats.n_generated,
                  r.text.c_str());
      EXPECT_TRUE(qlite::grammar::MatchText(g, r.text, true)) << r.text;
      qlite::json::Value v;
      ASSERT_TRUE(qlite::json::Parse(r.text, &v).ok()) << r.text;
      ASSERT_TRUE(v.IsObject());
      const qlite::json::Value* name = v.Find("name");
      ASSERT_TRUE(name && name->IsString());
      EXPECT_GE(name->string.size(), 1u);
      const qlite::json::Value* age = v.Find("age");
      ASSERT_TRUE(age && age->IsNumber() && age->is_integer) << r.text;
      const qlite::json::Value* pet = v.Find("pet");
      ASSERT_TRUE(pet && pet->IsObject());
      ASSERT_TRUE(pet->Find("kind") && pet->Find("kind")->string == "cat");
      for (const auto& kv : v.object)
        EXPECT_TRUE(kv.first == "name" || kv.first == "age" || kv.first == "mood" || kv.first == "tags" ||
                    kv.first == "pet") << kv.first;
      ended += r.stats.n_generated < 600;
      qlite_session_free(s);
    }
  }
  EXPECT_EQ(ended, 12) << "a bounded schema's output ends by itself";
}

TEST_F(Grammar, AnyJsonIsAValidPrefixOrWhole) {
  const std::string text = SchemaGrammar("{}");
  qlite::grammar::Compiled g;
  ASSERT_TRUE(qlite::grammar::Compile(text, &g).ok());
  for (uint64_t seed : {5u, 6u, 7u}) {
    qlite_session* s = NewSession(1.0f, seed);
    ASSERT_EQ(qlite_session_set_grammar(s, text.data(), text.size()), QLITE_OK) << qlite_last_error();
    const Run r = Generate(s, 120);
    EXPECT_TRUE(qlite::grammar::MatchText(g, r.text, false)) << r.text;
    if (r.stats.n_generated < 120) {  // it ended: a whole JSON value
      qlite::json::Value v;
      EXPECT_TRUE(qlite::json::Parse(r.text, &v).ok()) << r.text;
    }
    qlite_session_free(s);
  }
}

TEST_F(Grammar, GbnfGrammarAndReset) {
  const char* gbnf = "root ::= (\"yes\" | \"no\") \", \" [0-9]{2} \" cats\"\n";
  qlite::grammar::Compiled g;
  ASSERT_TRUE(qlite::grammar::Compile(gbnf, &g).ok());
  qlite_session* s = NewSession(0.9f, 11);
  ASSERT_EQ(qlite_session_set_grammar(s, gbnf, strlen(gbnf)), QLITE_OK) << qlite_last_error();
  for (int i = 0; i < 3; ++i) {  // reset restarts the grammar too
    ASSERT_EQ(qlite_session_reset(s), QLITE_OK);
    const Run r = Generate(s, 50);
    EXPECT_TRUE(qlite::grammar::MatchText(g, r.text, true)) << r.text;
  }
  // Done: qlite_sample can only give EOS now.
  int32_t t = -1;
  ASSERT_EQ(qlite_sample(s, &t), QLITE_OK);
  qlite_model_info info;
  ASSERT_EQ(qlite_model_get_info(model_, &info), QLITE_OK);
  EXPECT_EQ(t, info.eos_id);
  // A saved state holds no matcher state: saving or loading with a grammar set is refused.
  size_t state_size = 0;
  EXPECT_EQ(qlite_session_state_size(s, &state_size), QLITE_ERR_UNSUPPORTED);
  char state_byte = 0;
  EXPECT_EQ(qlite_session_load_state(s, &state_byte, 1), QLITE_ERR_UNSUPPORTED);
  // Cleared: unconstrained again (the story continues with letters, not this grammar).
  ASSERT_EQ(qlite_session_clear_grammar(s), QLITE_OK);
  ASSERT_EQ(qlite_session_reset(s), QLITE_OK);
  const Run free_text = Generate(s, 30);
  EXPECT_FALSE(qlite::grammar::MatchText(g, free_text.text, false)) << free_text.text;
  qlite_session_free(s);
}

TEST_F(Grammar, ErrorsAndMemory) {
  qlite_session* none = NewSession(0.0f, 1, 0);
  EXPECT_EQ(qlite_session_set_grammar(none, "root ::= \"a\"", 12), QLITE_ERR_OUT_OF_MEMORY);
  EXPECT_NE(std::string(qlite_last_error()).find("grammar_memory"), std::string::npos);
  qlite_session_free(none);

  qlite_session* s = NewSession(0.0f, 1, 4096);
  EXPECT_EQ(qlite_session_set_grammar(s, "root ::= \"a\"\nb ::= (", 20), QLITE_ERR_FORMAT);
  EXPECT_NE(std::string(qlite_last_error()).find("grammar:2:"), std::string::npos) << qlite_last_error();
  const std::string big = SchemaGrammar(kSchema);
  EXPECT_EQ(qlite_session_set_grammar(s, big.data(), big.size()), QLITE_ERR_OUT_OF_MEMORY);
  EXPECT_NE(std::string(qlite_last_error()).find("needs"), std::string::npos) << qlite_last_error();
  EXPECT_EQ(qlite_session_set_grammar(nullptr, "x", 1), QLITE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(qlite_session_set_grammar(s, nullptr, 3), QLITE_ERR_INVALID_ARGUMENT);
  qlite_session_free(s);

  qlite_session_params p = qlite_session_default_params();
  qlite_memory_estimate without, with;
  ASSERT_EQ(qlite_estimate_memory(model_, &p, &without), QLITE_OK);
  p.grammar_memory = 100000;
  ASSERT_EQ(qlite_estimate_memory(model_, &p, &with), QLITE_OK);
  EXPECT_EQ(without.grammar, 0u);
  EXPECT_GE(with.grammar, 100000u);
  EXPECT_EQ(with.session_total - without.session_total, with.grammar);
}

// The token loop under a grammar (check, mask on refusal, advance) allocates nothing.
long g_at_first = -1, g_at_last = -1;
int Probe(void*, int32_t, const char*, size_t) {
  (g_at_first < 0 ? g_at_first : g_at_last) = g_allocs.load();
  return 0;
}

TEST_F(Grammar, TokenLoopNeverAllocates) {
  if (!QLITE_COUNT_ALLOCS) GTEST_SKIP() << "allocations are not counted under sanitizers";
  const std::string text = SchemaGrammar(kSchema);
  qlite_session* s = NewSession(1.0f, 9);
  ASSERT_EQ(qlite_session_set_grammar(s, text.data(), text.size()), QLITE_OK);
  ASSERT_EQ(qlite_generate(s, "Once", 150, 1, Probe, nullptr, nullptr), QLITE_OK) << qlite_last_error();
  EXPECT_GE(g_at_first, 0);
  EXPECT_EQ(g_at_last, g_at_first) << "allocations between the first and the last streamed token";
  qlite_session_free(s);
}

}  // namespace
