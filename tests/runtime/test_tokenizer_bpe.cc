// Byte-level BPE on SmolLM2's real vocabulary against ids from Hugging Face tokenizers
// (tests/data/bpe_refs.json, written by scripts/refs/make_bpe_refs.py), and the hand-written
// pre-tokenizers against the regex engine's splits stored in the same file.
#include <gtest/gtest.h>

#include <cstdlib>

#include "test_data.h"
#include "test_tokenizer_util.h"

namespace qlite {
namespace {

std::string RefsPath() {
  std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/')) + "/../data/bpe_refs.json";
}

std::string SmolLM2Path() {
  // scripts/test.sh exports QLITE_SMOLLM2 (from scripts/fetch_smollm2.sh); else its cache.
  if (const char* p = std::getenv("QLITE_SMOLLM2"); p && *p) return p;
  const char* cache = std::getenv("QLITE_CACHE");
  const char* home = std::getenv("HOME");
  const std::string dir = cache && *cache ? cache : std::string(home ? home : "") + "/.cache/qlite";
  return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf";
}

using qlite_test::At;

TEST(PreTokenizerRefs, MatchRegexEngineSplits) {
  const json::Value j = qlite_test::ReadJson(RefsPath());
  const json::Value& all = At(j, "pretokenizers");
  ASSERT_EQ(all.object.size(), 4u);
  for (const auto& kv : all.object) {
    PreTokenizer pk;
    ASSERT_TRUE(ParsePreTokenizer(kv.first, &pk).ok()) << kv.first;
    ASSERT_GT(kv.second.array.size(), 10u);
    for (const json::Value& c : kv.second.array) {
      const std::string& text = At(c, "text").string;
      std::vector<std::string_view> words;
      PreTokenize(pk, text, &words);
      std::vector<std::string> want;
      for (const json::Value& w : At(c, "words").array) want.push_back(w.string);
      EXPECT_EQ(std::vector<std::string>(words.begin(), words.end()), want) << kv.first << ": " << text;
    }
  }
}

TEST(ByteLevelBpeReal, SmolLM2MatchesHuggingFaceTokenizers) {
  const std::string path = SmolLM2Path();
  if (!qlite_test::FileExists(path)) {
    if (qlite_test::InCI()) FAIL() << "missing SmolLM2 GGUF (CI=true): " << path;
    GTEST_SKIP() << "missing " << path << " (bash scripts/fetch_smollm2.sh)";
  }
  auto t = qlite_test::LoadTokenizer(ImportGgufTokenizer, path);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->type(), fb::TokenizerType::ByteLevelBPE);
  const json::Value j = qlite_test::ReadJson(RefsPath());
  ASSERT_EQ(t->vocab_size(), static_cast<int32_t>(At(j, "vocab_size").number));
  ASSERT_GT(At(j, "cases").array.size(), 20u);
  for (const json::Value& c : At(j, "cases").array) {
    const std::string& text = At(c, "text").string;
    std::vector<int32_t> ids;
    EncodeOptions o;
    o.add_bos = false;
    ASSERT_TRUE(t->Encode(text, o, &ids).ok());
    const std::vector<int32_t> want = qlite_test::Ints(At(c, "ids"));
    EXPECT_EQ(ids, want) << "'" << text << "'";
    bool has_control = false;
    for (int32_t id : want) has_control |= t->Kind(id) == fb::TokenKind::Control;
    if (!has_control) { EXPECT_EQ(t->Decode(want), text); }
  }
}

}  // namespace
}  // namespace qlite
