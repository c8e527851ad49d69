// Byte-level BPE on SmolLM2's real vocabulary against ids from Hugging Face tokenizers
// (tests/data/bpe_refs.json, written by scripts/refs/make_bpe_refs.py), and the hand-written
// pre-tokenizers against the regex engine's splits stored in the same file.
#include <gtest/gtest.h>

#include <cstdlib>

#include "../../runtime/src/tokenizer.h"
#include "../common/test_data.h"
#include "test_tokenizer_util.h"

namespace qlite {
namespace {

std::string RefsPath() {
  std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/')) + "/../data/bpe_refs.json";
}

std::string SmolLM2Path() {
  if (const char* p = std::getenv("QLITE_SMOLLM2_GGUF")) return p;
  const char* cache = std::getenv("QLITE_CACHE");
  const char* home = std::getenv("HOME");
  const std::string dir = cache && *cache ? cache : std::string(home ? home : "") + "/.cache/qlite";
  return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf";
}

qlite_test::Json LoadRefs() {
  qlite_test::Json j;
  EXPECT_TRUE(qlite_test::Json::Parse(qlite_test::ReadFile(RefsPath()), &j)) << RefsPath();
  return j;
}

TEST(PreTokenizerRefs, MatchRegexEngineSplits) {
  const qlite_test::Json j = LoadRefs();
  const qlite_test::Json& all = j["pretokenizers"];
  ASSERT_EQ(all.size(), 4u);
  for (const auto& kv : all.obj) {
    PreTokenizer pk;
    ASSERT_TRUE(ParsePreTokenizer(kv.first, &pk).ok()) << kv.first;
    ASSERT_GT(kv.second.size(), 10u);
    for (const auto& c : kv.second.arr) {
      std::vector<std::string_view> words;
      PreTokenize(pk, c["text"].str, &words);
      std::vector<std::string> want;
      for (const auto& w : c["words"].arr) want.push_back(w.str);
      EXPECT_EQ(std::vector<std::string>(words.begin(), words.end()), want) << kv.first << ": " << c["text"].str;
    }
  }
}

TEST(ByteLevelBpeReal, SmolLM2MatchesHuggingFaceTokenizers) {
  const std::string path = SmolLM2Path();
  if (!qlite_test::FileExists(path)) {
    if (qlite_test::InCI()) FAIL() << "missing SmolLM2 GGUF (CI=true): " << path;
    GTEST_SKIP() << "missing " << path << " (bash scripts/fetch_smollm2.sh)";
  }
  TokenizerData d;
  TokenizerSpecialIds special;
  ASSERT_TRUE(qlite_test::LoadGgufTokenizer(path, &d, &special.bos, &special.eos));
  std::unique_ptr<Tokenizer> t;
  const Status s = Tokenizer::Create(d, special, &t);
  ASSERT_TRUE(s.ok()) << s.message();
  const qlite_test::Json j = LoadRefs();
  ASSERT_EQ(t->vocab_size(), static_cast<int32_t>(j["vocab_size"].num));
  ASSERT_GT(j["cases"].size(), 20u);
  for (const auto& c : j["cases"].arr) {
    const std::string& text = c["text"].str;
    std::vector<int32_t> ids;
    EncodeOptions o;
    o.add_bos = false;
    ASSERT_TRUE(t->Encode(text, o, &ids).ok());
    const std::vector<int32_t> want = c["ids"].Ints();
    EXPECT_EQ(ids, want) << "'" << text << "'";
    bool has_control = false;
    for (int32_t id : want) has_control |= t->Kind(id) == fb::TokenKind::Control;
    if (!has_control) EXPECT_EQ(t->Decode(want), text);
  }
}

}  // namespace
}  // namespace qlite
