// SentencePiece BPE on real vocabularies: stories260K's tok512 (greedy.json prompt ids),
// the Llama 2 32k tokenizer (llama2.c's published encode cases) and llama.cpp's own
// vocabulary test inputs/outputs for the same tokenizer.
#include <gtest/gtest.h>

#include <sstream>

#include "../../runtime/src/tokenizer.h"
#include "../common/test_data.h"
#include "test_tokenizer_util.h"

namespace qlite {
namespace {

std::unique_ptr<Tokenizer> LoadBin(const std::string& path) {
  TokenizerData d;
  EXPECT_TRUE(qlite_test::LoadLlama2cTokenizerBin(path, &d)) << path;
  std::unique_ptr<Tokenizer> t;
  const Status s = Tokenizer::Create(d, TokenizerSpecialIds{}, &t);
  EXPECT_TRUE(s.ok()) << s.message();
  return t;
}

std::vector<int32_t> Encode(const Tokenizer& t, const std::string& text, bool bos, bool special = false) {
  std::vector<int32_t> ids;
  EncodeOptions o;
  o.add_bos = bos;
  o.parse_special = special;
  const Status s = t.Encode(text, o, &ids);
  EXPECT_TRUE(s.ok()) << s.message();
  return ids;
}

TEST(SpmReal, Tok512PromptIdsMatchGreedyRefs) {
  QLITE_REQUIRE_DATA(tok, "stories260K/tok512.bin");
  QLITE_REQUIRE_DATA(refs, "refs/greedy.json");
  auto t = LoadBin(tok);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->vocab_size(), 512);
  qlite_test::Json j;
  ASSERT_TRUE(qlite_test::Json::Parse(qlite_test::ReadFile(refs), &j));
  const qlite_test::Json& base = j["results"]["base"];
  ASSERT_EQ(base.size(), 3u);
  for (size_t i = 0; i < base.size(); ++i) {
    const std::string prompt = base[i]["prompt"].str;
    const std::vector<int32_t> want = base[i]["prompt_ids"].Ints();
    EXPECT_EQ(Encode(*t, prompt, true), want) << prompt;
    EXPECT_EQ(t->Decode(want), prompt);
    // The generated ids decode to the reference continuation (pieces concatenated).
    std::string cont;
    for (int32_t id : base[i]["generated_ids"].Ints()) cont += std::string(t->TokenBytes(id));
    EXPECT_EQ(cont, base[i]["continuation_text"].str);
  }
}

TEST(SpmReal, Llama2EncodeCases) {
  QLITE_REQUIRE_DATA(tok, "tokenizers/llama2-32k/tokenizer.bin");
  QLITE_REQUIRE_DATA(cases, "tokenizers/llama2-32k/encode_cases.json");
  auto t = LoadBin(tok);
  ASSERT_TRUE(t);
  ASSERT_EQ(t->vocab_size(), 32000);
  qlite_test::Json j;
  ASSERT_TRUE(qlite_test::Json::Parse(qlite_test::ReadFile(cases), &j));
  ASSERT_GE(j["cases"].size(), 5u);
  for (const auto& c : j["cases"].arr) {
    const std::vector<int32_t> want = c["ids"].Ints();
    EXPECT_EQ(Encode(*t, c["text"].str, true), want) << c["text"].str;
    EXPECT_EQ(t->Decode(want), c["text"].str);
  }
}

// llama.cpp's test-tokenizer-0 data: inputs separated by "\n__ggml_vocab_test__\n", one
// line of space-separated ids per input (no BOS).
void ReadLlamaCppVocabTest(const std::string& base, std::vector<std::string>* inputs,
                           std::vector<std::vector<int32_t>>* outputs) {
  const std::string inp = qlite_test::ReadFile(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  for (size_t pos = 0; pos < inp.size();) {
    size_t end = inp.find(sep, pos);
    if (end == std::string::npos) end = inp.size();
    inputs->push_back(inp.substr(pos, end - pos));
    pos = end + sep.size();
  }
  std::istringstream out(qlite_test::ReadFile(base + ".out"));
  std::string line;
  while (std::getline(out, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    outputs->push_back(ids);
  }
}

void CheckLlamaCppCases(const Tokenizer& t, const std::string& base) {
  std::vector<std::string> inputs;
  std::vector<std::vector<int32_t>> outputs;
  ReadLlamaCppVocabTest(base, &inputs, &outputs);
  ASSERT_GT(inputs.size(), 30u);
  ASSERT_EQ(inputs.size(), outputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(Encode(t, inputs[i], false), outputs[i]) << "case " << i << ": '" << inputs[i] << "'";
    std::vector<int32_t> with_bos = {t.bos_id()};
    with_bos.insert(with_bos.end(), outputs[i].begin(), outputs[i].end());
    EXPECT_EQ(t.Decode(with_bos), inputs[i]) << "case " << i;
  }
}

TEST(SpmReal, LlamaCppVocabTestWithLlama2cVocab) {
  QLITE_REQUIRE_DATA(tok, "tokenizers/llama2-32k/tokenizer.bin");
  QLITE_REQUIRE_DATA(inp, "tokenizers/llama-spm-gguf/ggml-vocab-llama-spm.gguf.inp");
  auto t = LoadBin(tok);
  ASSERT_TRUE(t);
  CheckLlamaCppCases(*t, qlite_test::DataPath("tokenizers/llama-spm-gguf/ggml-vocab-llama-spm.gguf"));
}

TEST(SpmReal, LlamaCppVocabTestWithItsGguf) {
  QLITE_REQUIRE_DATA(gguf, "tokenizers/llama-spm-gguf/ggml-vocab-llama-spm.gguf");
  TokenizerData d;
  TokenizerSpecialIds special;
  ASSERT_TRUE(qlite_test::LoadGgufTokenizer(gguf, &d, &special.bos, &special.eos));
  ASSERT_EQ(d.type, fb::TokenizerType::SentencePieceBPE);
  std::unique_ptr<Tokenizer> t;
  const Status s = Tokenizer::Create(d, special, &t);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(t->vocab_size(), 32000);
  EXPECT_EQ(t->Kind(13), fb::TokenKind::Byte);  // <0x0A>, from the file's token types
  CheckLlamaCppCases(*t, gguf);
}

}  // namespace
}  // namespace qlite
