// The Gemma 3, Qwen3 and Llama 3 vocabularies, loaded through qlite's own importers (the GGUF
// one for Gemma 3, tokenizer.json for Qwen3 and Llama 3: what `qlite convert` reads) into the
// runtime tokenizer, against ids from Hugging Face tokenizers on a multilingual text list
// (tests/data/tokenizer_families_refs.json, written by scripts/refs/make_tokenizer_refs.py),
// plus decode(encode(text)) == text. The vocabularies live in the cache folder
// (scripts/fetch_gemma3.sh, scripts/fetch_tokenizers.sh): skipped when absent, failed under
// CI=true.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "e2e_util.h"
#include "../runtime/test_tokenizer_util.h"

namespace qlite {
namespace {

using qlite_test::At;

std::string RefsPath() {
  const std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/')) + "/../data/tokenizer_families_refs.json";
}

// scripts/test.sh exports QLITE_TOKENIZERS (scripts/fetch_tokenizers.sh's folder); else the cache.
std::string TokenizerJson(const std::string& family) {
  return qlite_e2e::CachedModel("QLITE_TOKENIZERS", "tokenizers") + "/" + family + "/tokenizer.json";
}

std::string Show(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    s += std::to_string(id);
    if (t.Valid(id)) s += "'" + std::string(t.Piece(id)) + "'";
    s += ' ';
  }
  return s;
}

// Encodes every reference text of `family` (no BOS, control markers parsed) and compares ids;
// ids without a control token (which decodes to nothing) must decode back to the text, or to
// the text Hugging Face decodes (Qwen3: the text in NFC).
void CheckFamily(const Tokenizer& t, const std::string& family) {
  const json::Value j = qlite_test::ReadJson(RefsPath());
  const json::Value& v = At(At(j, "vocabularies"), family);
  ASSERT_EQ(t.vocab_size(), static_cast<int32_t>(At(v, "vocab_size").number)) << family;
  const std::vector<json::Value>& cases = At(v, "cases").array;
  ASSERT_GE(cases.size(), 30u) << family;
  size_t equal = 0, round_trips = 0;
  for (const json::Value& c : cases) {
    const std::string& text = At(c, "text").string;
    const std::vector<int32_t> want = qlite_test::Ints(At(c, "ids"));
    std::vector<int32_t> ids;
    EncodeOptions o;
    o.add_bos = false;
    ASSERT_TRUE(t.Encode(text, o, &ids).ok()) << family << ": " << text;
    EXPECT_EQ(ids, want) << family << ": '" << text << "'\n  qlite: " << Show(t, ids) << "\n  HF:    " << Show(t, want);
    equal += ids == want;
    bool has_control = false;
    for (int32_t id : ids) has_control |= t.Kind(id) == fb::TokenKind::Control;
    if (!has_control) {
      const std::string& decoded = At(c, "decoded").string;
      EXPECT_EQ(t.Decode(ids), decoded) << family << ": decode(encode('" << text << "'))";
      round_trips += decoded == text;
    }
  }
  std::printf("%s: %zu/%zu texts with Hugging Face's ids, %zu decode round trips\n", family.c_str(), equal,
              cases.size(), round_trips);
}

template <typename Importer>
void RunFamily(const std::string& family, const std::string& path, Importer import, const char* fetch) {
  if (!qlite_test::FileExists(path)) {
    if (qlite_test::InCI()) FAIL() << "missing " << path << " (CI=true): run " << fetch;
    GTEST_SKIP() << "missing " << path << " (" << fetch << " fetches it)";
  }
  auto t = qlite_test::LoadTokenizer(import, path);
  ASSERT_TRUE(t);
  CheckFamily(*t, family);
}

TEST(TokenizerFamilies, Gemma3GgufMatchesHuggingFace) {
  const std::string gguf = qlite_e2e::CachedModel("QLITE_GEMMA3", "gemma-3-270m-q4_k_m.gguf");
  RunFamily("gemma3", gguf, ImportGgufTokenizer, "scripts/fetch_gemma3.sh");
}

TEST(TokenizerFamilies, Qwen3TokenizerJsonMatchesHuggingFace) {
  RunFamily("qwen3", TokenizerJson("qwen3"), ImportHuggingFaceTokenizer, "scripts/fetch_tokenizers.sh");
}

TEST(TokenizerFamilies, Llama3TokenizerJsonMatchesHuggingFace) {
  RunFamily("llama3", TokenizerJson("llama3"), ImportHuggingFaceTokenizer, "scripts/fetch_tokenizers.sh");
}

}  // namespace
}  // namespace qlite
