// Tokenizer importers against each other on real tokenizers: the same vocabulary read
// from llama2.c tokenizer.bin, SentencePiece tokenizer.model, GGUF and tokenizer.json.
#include <gtest/gtest.h>

#include "import_test_util.h"
#include "qlite/format/import.h"

namespace {
using qlite::fb::TokenKind;
using qlite::TokenizerData;

void ExpectSameVocab(const TokenizerData& a, const TokenizerData& b, bool compare_kinds = true) {
  ASSERT_EQ(a.pieces.size(), b.pieces.size());
  ASSERT_EQ(a.scores.size(), a.pieces.size());
  ASSERT_EQ(b.scores.size(), b.pieces.size());
  ASSERT_EQ(a.kinds.size(), a.pieces.size());
  ASSERT_EQ(b.kinds.size(), b.pieces.size());
  for (size_t i = 0; i < a.pieces.size(); ++i) {
    ASSERT_EQ(a.pieces[i], b.pieces[i]) << "piece " << i;
    ASSERT_EQ(a.scores[i], b.scores[i]) << "score " << i;
    if (compare_kinds) {
      ASSERT_EQ(int(a.kinds[i]), int(b.kinds[i])) << "kind " << i << " " << a.pieces[i];
    }
  }
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(a.unk_id, b.unk_id);
  EXPECT_EQ(a.byte_fallback, b.byte_fallback);
}

TEST(ImportTokenizer, Tok512BinMatchesModel) {
  QLITE_REQUIRE_DATA(bin, "stories260K/tok512.bin");
  QLITE_REQUIRE_DATA(model, "stories260K/tok512.model");
  TokenizerData a, b;
  qlite::Status s = qlite::ImportLlama2cTokenizer(bin, &a);
  ASSERT_TRUE(s.ok()) << s.message();
  s = qlite::ImportSentencePieceModel(model, &b);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(b.pieces.size(), 512u);
  ExpectSameVocab(a, b);
  EXPECT_EQ(b.bos_id, 1);
  EXPECT_EQ(b.eos_id, 2);
  EXPECT_EQ(b.unk_id, 0);
  EXPECT_TRUE(b.byte_fallback);
  EXPECT_EQ(b.pieces[3], "<0x00>");
  EXPECT_EQ(int(b.kinds[3]), int(TokenKind::Byte));
  EXPECT_EQ(int(b.kinds[1]), int(TokenKind::Control));
  EXPECT_EQ(b.type, qlite::fb::TokenizerType::SentencePieceBPE);
}

TEST(ImportTokenizer, Llama2_32kBinMatchesModel) {
  QLITE_REQUIRE_DATA(bin, "tokenizers/llama2-32k/tokenizer.bin");
  QLITE_REQUIRE_DATA(model, "tokenizers/llama2-32k/tokenizer.model");
  TokenizerData a, b;
  qlite::Status s = qlite::ImportLlama2cTokenizer(bin, &a);
  ASSERT_TRUE(s.ok()) << s.message();
  s = qlite::ImportSentencePieceModel(model, &b);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(b.pieces.size(), 32000u);
  ExpectSameVocab(a, b);
  EXPECT_TRUE(b.add_dummy_prefix);
  EXPECT_EQ(b.pieces[29871], "\xE2\x96\x81");  // "▁" alone
}

TEST(ImportTokenizer, GgufVocabMatchesModel) {
  QLITE_REQUIRE_DATA(gguf, "tokenizers/llama-spm-gguf/ggml-vocab-llama-spm.gguf");
  QLITE_REQUIRE_DATA(model, "tokenizers/llama2-32k/tokenizer.model");
  TokenizerData a, b;
  qlite::Status s = qlite::ImportGgufTokenizer(gguf, &a);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(a.pieces.size(), 32000u);
  s = qlite::ImportSentencePieceModel(model, &b);
  ASSERT_TRUE(s.ok()) << s.message();
  ExpectSameVocab(a, b);
  EXPECT_TRUE(a.add_bos);
  EXPECT_TRUE(a.add_dummy_prefix);
}

TEST(ImportTokenizer, HfJsonPrefersTokenizerModel) {
  QLITE_REQUIRE_DATA(json, "stories260K-hf/tokenizer.json");
  QLITE_REQUIRE_DATA(model, "stories260K/tok512.model");
  TokenizerData a, b;
  qlite::Status s = qlite::ImportHuggingFaceTokenizer(json, &a);
  ASSERT_TRUE(s.ok()) << s.message();
  s = qlite::ImportSentencePieceModel(model, &b);
  ASSERT_TRUE(s.ok()) << s.message();
  ExpectSameVocab(a, b);
  EXPECT_TRUE(a.add_bos);
  EXPECT_FALSE(a.add_eos);
}

// Without tokenizer.model beside it, a SentencePiece-style tokenizer.json still yields the
// same pieces and kinds; scores are rebuilt from merge ranks, so merging by score replays
// the merge order (checked: a piece made by an earlier merge scores higher).
TEST(ImportTokenizer, HfJsonAloneSentencePieceStyle) {
  QLITE_REQUIRE_DATA(json, "stories260K-hf/tokenizer.json");
  QLITE_REQUIRE_DATA(model, "stories260K/tok512.model");
  qlite_test::TempDir dir;
  const std::string copy = dir.Write("tokenizer.json", qlite_test::ReadBytes(json));
  TokenizerData a, b;
  qlite::Status s = qlite::ImportHuggingFaceTokenizer(copy, &a);
  ASSERT_TRUE(s.ok()) << s.message();
  s = qlite::ImportSentencePieceModel(model, &b);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(a.pieces, b.pieces);
  for (size_t i = 0; i < a.pieces.size(); ++i) ASSERT_EQ(int(a.kinds[i]), int(b.kinds[i])) << a.pieces[i];
  EXPECT_EQ(a.type, qlite::fb::TokenizerType::SentencePieceBPE);
  EXPECT_TRUE(a.byte_fallback);
  EXPECT_TRUE(a.add_dummy_prefix);
  EXPECT_EQ(a.unk_id, 0);
  EXPECT_EQ(a.bos_id, 1);
  EXPECT_EQ(a.eos_id, 2);
  ASSERT_FALSE(a.merges.empty());
  // Merged pieces are ordered the same way by both score sets (SentencePiece BPE scores
  // fall with the merge order).
  int compared = 0;
  for (size_t i = 0; i + 1 < a.pieces.size(); ++i) {
    if (a.scores[i] == 0 || a.scores[i + 1] == 0) continue;
    ASSERT_EQ(a.scores[i] > a.scores[i + 1], b.scores[i] > b.scores[i + 1]) << a.pieces[i];
    ++compared;
  }
  EXPECT_GT(compared, 100);
}

TEST(ImportTokenizer, HfJsonAddedTokensOnTopOfModel) {
  QLITE_REQUIRE_DATA(json, "stories260K-hf/tokenizer.json");
  qlite_test::TempDir dir;
  std::string text = qlite_test::ReadBytes(json);
  const std::string anchor = "\"added_tokens\": [";
  ASSERT_NE(text.find(anchor), std::string::npos);
  text.replace(text.find(anchor), anchor.size(), anchor + R"({"id": 513, "content": "<|im_start|>", "special": true},)");
  const std::string copy = dir.Write("tokenizer.json", text);
  dir.Write("tokenizer.model", qlite_test::ReadBytes(qlite_test::DataPath("stories260K-hf/tokenizer.model")));
  TokenizerData t;
  qlite::Status s = qlite::ImportHuggingFaceTokenizer(copy, &t);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(t.pieces.size(), 514u);
  EXPECT_EQ(t.pieces[513], "<|im_start|>");
  EXPECT_EQ(int(t.kinds[513]), int(TokenKind::Control));
  EXPECT_EQ(int(t.kinds[512]), int(TokenKind::Unused));
  EXPECT_EQ(t.scores.size(), 514u);
}

TEST(ImportTokenizer, HfJsonByteLevel) {
  qlite_test::TempDir dir;
  const std::string path = dir.Write("tokenizer.json", R"({
    "version": "1.0",
    "added_tokens": [{"id": 5, "content": "<|endoftext|>", "special": true},
                     {"id": 6, "content": "<tool>", "special": false}],
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": true},
        {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}]},
    "post_processor": {"type": "ByteLevel"},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "\u0120": 2, "ab": 3, "\u0120ab": 4},
              "merges": ["a b", ["\u0120", "ab"]]}
  })");
  dir.Write("tokenizer_config.json", R"({"chat_template": "{{ messages }}", "eos_token": "<|endoftext|>"})");
  TokenizerData t;
  qlite::Status s = qlite::ImportHuggingFaceTokenizer(path, &t);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(t.type, qlite::fb::TokenizerType::ByteLevelBPE);
  ASSERT_EQ(t.pieces.size(), 7u);
  EXPECT_EQ(t.pieces[2], "\xC4\xA0");
  EXPECT_EQ(t.pieces[5], "<|endoftext|>");
  EXPECT_EQ(int(t.kinds[5]), int(TokenKind::Control));
  EXPECT_EQ(int(t.kinds[6]), int(TokenKind::UserDefined));
  ASSERT_EQ(t.merges.size(), 2u);
  EXPECT_EQ(t.merges[1], "\xC4\xA0 ab");
  EXPECT_EQ(t.pre_tokenizer, "smollm");
  EXPECT_FALSE(t.add_bos);
  EXPECT_FALSE(t.add_dummy_prefix);
  EXPECT_EQ(t.eos_id, 5);
  EXPECT_EQ(t.chat_template, "{{ messages }}");

  // The list of named templates: "default" wins wherever it stands.
  dir.Write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "T"},
      {"name": "default", "template": "D"}, {"name": "rag", "template": "R"}]})");
  ASSERT_TRUE(qlite::ImportHuggingFaceTokenizer(path, &t).ok());
  EXPECT_EQ(t.chat_template, "D");
  // chat_template.jinja beside the config takes precedence, as in transformers.
  dir.Write("chat_template.jinja", "{{ 'from the file' }}\n");
  ASSERT_TRUE(qlite::ImportHuggingFaceTokenizer(path, &t).ok());
  EXPECT_EQ(t.chat_template, "{{ 'from the file' }}\n");
  // A template over the bound is refused, not stored.
  dir.Write("chat_template.jinja", std::string(qlite::kMaxChatTemplateBytes + 1, 'x'));
  s = qlite::ImportHuggingFaceTokenizer(path, &t);
  EXPECT_EQ(s.code(), qlite::StatusCode::kFormat) << s.message();
}

TEST(ImportTokenizer, SmolLM2GgufByteLevel) {
  QLITE_REQUIRE_SMOLLM2(path);
  TokenizerData t;
  qlite::Status s = qlite::ImportGgufTokenizer(path, &t);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(t.type, qlite::fb::TokenizerType::ByteLevelBPE);
  EXPECT_EQ(t.pieces.size(), 49152u);
  EXPECT_GT(t.merges.size(), 40000u);
  EXPECT_EQ(t.pre_tokenizer, "smollm");
  EXPECT_FALSE(t.chat_template.empty());
  ASSERT_GE(t.eos_id, 0);
  EXPECT_EQ(int(t.kinds[size_t(t.eos_id)]), int(TokenKind::Control));
}

TEST(ImportTokenizer, RejectsMalformed) {
  qlite_test::TempDir dir;
  TokenizerData t;
  // llama2.c: truncated inside a piece, negative length, empty.
  std::string bin(8, '\0');
  bin[0] = 16;                          // max_token_length 16
  bin += std::string("\0\0\0\0", 4);    // score
  bin += std::string("\x09\0\0\0", 4);  // len 9, but only 3 bytes follow
  bin += "abc";
  EXPECT_FALSE(qlite::ImportLlama2cTokenizer(dir.Write("a.bin", bin.substr(4)), &t).ok());
  EXPECT_FALSE(qlite::ImportLlama2cTokenizer(dir.Write("b.bin", ""), &t).ok());
  EXPECT_FALSE(qlite::ImportLlama2cTokenizer(dir.Write("c.bin", std::string("\xff\xff\xff\xff", 4)), &t).ok());
  EXPECT_FALSE(qlite::ImportLlama2cTokenizer(dir.File("missing.bin"), &t).ok());
  // SentencePiece: garbage, a length prefix past the end, a varint that never ends.
  EXPECT_FALSE(qlite::ImportSentencePieceModel(dir.Write("a.model", "\x0a\x7f" "abc"), &t).ok());
  EXPECT_FALSE(qlite::ImportSentencePieceModel(dir.Write("b.model", std::string(12, '\xff')), &t).ok());
  EXPECT_FALSE(qlite::ImportSentencePieceModel(dir.Write("c.model", ""), &t).ok());
  // tokenizer.json: bad JSON, wrong model type, deep nesting.
  EXPECT_FALSE(qlite::ImportHuggingFaceTokenizer(dir.Write("tokenizer.json", "{\"model\": {"), &t).ok());
  EXPECT_FALSE(qlite::ImportHuggingFaceTokenizer(dir.Write("tokenizer.json", R"({"model": {"type": "Unigram"}})"), &t).ok());
  EXPECT_FALSE(qlite::ImportHuggingFaceTokenizer(dir.Write("tokenizer.json", std::string(100000, '[')), &t).ok());
  EXPECT_FALSE(qlite::ImportHuggingFaceTokenizer(
                   dir.Write("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 99999999999}}})"), &t)
                   .ok());
  // A SentencePiece file truncated halfway.
  const std::string real = qlite_test::DataPath("stories260K/tok512.model");
  if (qlite_test::FileExists(real)) {
    const std::string bytes = qlite_test::ReadBytes(real);
    EXPECT_FALSE(qlite::ImportSentencePieceModel(dir.Write("t.model", bytes.substr(0, bytes.size() / 2)), &t).ok());
  }
}

}  // namespace
