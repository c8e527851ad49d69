// SentencePiece BPE on real vocabularies, each loaded through every importer that reads
// it: stories260K's tok512 (greedy.json prompt ids), the Llama 2 32k tokenizer (llama2.c's
// published encode cases) and llama.cpp's own vocabulary test inputs/outputs.
#include <gtest/gtest.h>

#include <sstream>

#include "test_data.h"
#include "test_tokenizer_util.h"

namespace qlite {
namespace {

using qlite_test::At;
using qlite_test::Ints;
using qlite_test::LoadTokenizer;

std::vector<int32_t> Encode(const Tokenizer& t, const std::string& text, bool bos) {
  std::vector<int32_t> ids;
  EncodeOptions o;
  o.add_bos = bos;
  o.parse_special = false;  // as llama.cpp's and SentencePiece's reference runs
  const Status s = t.Encode(text, o, &ids);
  EXPECT_TRUE(s.ok()) << s.message();
  return ids;
}

void CheckGreedyPrompts(const Tokenizer& t, const std::string& what) {
  ASSERT_EQ(t.vocab_size(), 512);
  const json::Value j = qlite_test::ReadJson(qlite_test::DataPath("refs/greedy.json"));
  const json::Value& base = At(At(j, "results"), "base");
  ASSERT_EQ(base.array.size(), 3u);
  for (const json::Value& r : base.array) {
    const std::string prompt = At(r, "prompt").string;
    const std::vector<int32_t> want = Ints(At(r, "prompt_ids"));
    EXPECT_EQ(Encode(t, prompt, true), want) << what << ": " << prompt;
    EXPECT_EQ(t.Decode(want), prompt) << what;
    // Generated ids decode to the reference continuation (pieces concatenated).
    std::string cont;
    for (int32_t id : Ints(At(r, "generated_ids"))) cont += std::string(t.TokenBytes(id));
    EXPECT_EQ(cont, At(r, "continuation_text").string) << what;
  }
}

TEST(SpmReal, Tok512PromptIdsMatchGreedyRefs) {
  QLITE_REQUIRE_DATA(refs, "refs/greedy.json");
  QLITE_REQUIRE_DATA(bin, "stories260K/tok512.bin");
  QLITE_REQUIRE_DATA(model, "stories260K/tok512.model");
  QLITE_REQUIRE_DATA(hf, "stories260K-hf/tokenizer.json");
  for (auto& [what, t] : {std::make_pair("tok512.bin", LoadTokenizer(ImportLlama2cTokenizer, bin)),
                          std::make_pair("tok512.model", LoadTokenizer(ImportSentencePieceModel, model)),
                          std::make_pair("tokenizer.json", LoadTokenizer(ImportHuggingFaceTokenizer, hf))}) {
    ASSERT_TRUE(t) << what;
    EXPECT_EQ(t->type(), fb::TokenizerType::SentencePieceBPE) << what;
    CheckGreedyPrompts(*t, what);
  }
}

TEST(SpmReal, Llama2EncodeCases) {
  QLITE_REQUIRE_DATA(cases, "tokenizers/llama2-32k/encode_cases.json");
  QLITE_REQUIRE_DATA(bin, "tokenizers/llama2-32k/tokenizer.bin");
  QLITE_REQUIRE_DATA(model, "tokenizers/llama2-32k/tokenizer.model");
  const json::Value j = qlite_test::ReadJson(cases);
  ASSERT_GE(At(j, "cases").array.size(), 5u);
  for (auto& [what, t] : {std::make_pair("tokenizer.bin", LoadTokenizer(ImportLlama2cTokenizer, bin)),
                          std::make_pair("tokenizer.model", LoadTokenizer(ImportSentencePieceModel, model))}) {
    ASSERT_TRUE(t) << what;
    ASSERT_EQ(t->vocab_size(), 32000);
    for (const json::Value& c : At(j, "cases").array) {
      const std::string& text = At(c, "text").string;
      const std::vector<int32_t> want = Ints(At(c, "ids"));
      EXPECT_EQ(Encode(*t, text, true), want) << what << ": " << text;
      EXPECT_EQ(t->Decode(want), text) << what;
    }
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

TEST(SpmReal, LlamaCppVocabTest) {
  QLITE_REQUIRE_DATA(gguf, "tokenizers/llama-spm-gguf/ggml-vocab-llama-spm.gguf");
  QLITE_REQUIRE_DATA(model, "tokenizers/llama2-32k/tokenizer.model");
  std::vector<std::string> inputs;
  std::vector<std::vector<int32_t>> outputs;
  ReadLlamaCppVocabTest(gguf, &inputs, &outputs);
  ASSERT_GT(inputs.size(), 30u);
  ASSERT_EQ(inputs.size(), outputs.size());
  for (auto& [what, t] : {std::make_pair("gguf", LoadTokenizer(ImportGgufTokenizer, gguf)),
                          std::make_pair("tokenizer.model", LoadTokenizer(ImportSentencePieceModel, model))}) {
    ASSERT_TRUE(t) << what;
    EXPECT_EQ(t->Kind(13), fb::TokenKind::Byte) << what;  // <0x0A>
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(Encode(*t, inputs[i], false), outputs[i]) << what << " case " << i << ": '" << inputs[i] << "'";
      std::vector<int32_t> with_bos = {t->bos_id()};
      with_bos.insert(with_bos.end(), outputs[i].begin(), outputs[i].end());
      EXPECT_EQ(t->Decode(with_bos), inputs[i]) << what << " case " << i;
    }
  }
}

}  // namespace
}  // namespace qlite
