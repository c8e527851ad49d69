// Hostile and broken inputs: every importer must answer with an error Status (and a
// message that says what is wrong), never crash or read out of bounds (run under ASan).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "import_test_util.h"
#include "qlite/format/import.h"

namespace {
using qlite::SourceModel;
using qlite_test::TempDir;

// Minimal GGUF writer for crafted files.
struct GgufBytes {
  std::string b;
  template <typename T>
  GgufBytes& Put(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof(v));
    return *this;
  }
  GgufBytes& Str(const std::string& s) {
    Put(uint64_t(s.size()));
    b += s;
    return *this;
  }
};

// A header with one u32 metadata key and one F32 tensor of `n` values at offset 0.
std::string TinyGguf(uint32_t version, uint64_t n_tensors, uint64_t n_kv, uint32_t dtype, uint64_t offset) {
  GgufBytes g;
  g.b = "GGUF";
  g.Put(version).Put(n_tensors).Put(n_kv);
  g.Str("general.alignment").Put(uint32_t(4)).Put(uint32_t(32));
  g.Str("w.weight").Put(uint32_t(1)).Put(uint64_t(32)).Put(dtype).Put(offset);
  while (g.b.size() % 32) g.b.push_back('\0');
  g.b += std::string(32 * 4, '\0');
  return g.b;
}

std::string ImportGgufError(const std::string& path) {
  SourceModel m;
  qlite::Status s = qlite::ImportGguf(path, &m);
  return s.ok() ? "" : s.message();
}

TEST(ImportMalformed, GgufHeaders) {
  TempDir dir;
  // The well-formed tiny file parses its header but is not a model.
  EXPECT_NE(ImportGgufError(dir.Write("ok.gguf", TinyGguf(3, 1, 1, 0, 0))), "");
  EXPECT_NE(ImportGgufError(dir.Write("magic.gguf", "GGUX" + TinyGguf(3, 1, 1, 0, 0).substr(4))).find("bad magic"),
            std::string::npos);
  EXPECT_NE(ImportGgufError(dir.Write("v1.gguf", TinyGguf(1, 1, 1, 0, 0))).find("version"), std::string::npos);
  EXPECT_NE(ImportGgufError(dir.Write("count.gguf", TinyGguf(3, 1ull << 40, 1, 0, 0))).find("absurd"),
            std::string::npos);
  EXPECT_NE(ImportGgufError(dir.Write("count2.gguf", TinyGguf(3, 100000, 1, 0, 0))).find("absurd"),
            std::string::npos);  // under the hard cap, but more than the file can hold
  EXPECT_NE(ImportGgufError(dir.Write("kv.gguf", TinyGguf(3, 1, 1ull << 50, 0, 0))).find("absurd"), std::string::npos);
  EXPECT_NE(ImportGgufError(dir.Write("dtype.gguf", TinyGguf(3, 1, 1, 99, 0))).find("unsupported dtype"),
            std::string::npos);
  EXPECT_NE(ImportGgufError(dir.Write("q5k.gguf", TinyGguf(3, 1, 1, 13, 0))), "");  // Q5_K needs 256-element rows
  EXPECT_NE(ImportGgufError(dir.Write("offset.gguf", TinyGguf(3, 1, 1, 0, 1ull << 60))).find("outside"),
            std::string::npos);
  EXPECT_NE(ImportGgufError(dir.Write("offset2.gguf", TinyGguf(3, 1, 1, 0, 64))).find("outside"), std::string::npos);
  // A string and an array claiming absurd lengths.
  GgufBytes s;
  s.b = "GGUF";
  s.Put(uint32_t(3)).Put(uint64_t(0)).Put(uint64_t(1)).Put(uint64_t(1ull << 62));
  EXPECT_NE(ImportGgufError(dir.Write("str.gguf", s.b)), "");
  GgufBytes a;
  a.b = "GGUF";
  a.Put(uint32_t(3)).Put(uint64_t(0)).Put(uint64_t(1)).Str("k").Put(uint32_t(9)).Put(uint32_t(8)).Put(uint64_t(1ull << 61));
  EXPECT_NE(ImportGgufError(dir.Write("arr.gguf", a.b)).find("absurd"), std::string::npos);
  GgufBytes nested;  // arrays of arrays of arrays ... deeper than allowed
  nested.b = "GGUF";
  nested.Put(uint32_t(3)).Put(uint64_t(0)).Put(uint64_t(1)).Str("k").Put(uint32_t(9));
  for (int i = 0; i < 10; ++i) nested.Put(uint32_t(9)).Put(uint64_t(1));
  EXPECT_NE(ImportGgufError(dir.Write("nest.gguf", nested.b)), "");
  EXPECT_NE(ImportGgufError(dir.Write("empty.gguf", "")), "");
  EXPECT_NE(ImportGgufError(dir.File("missing.gguf")), "");
}

TEST(ImportMalformed, GgufTruncatedAndCorrupted) {
  QLITE_REQUIRE_DATA(path, "stories260K-gguf/stories260K-Q4_0.gguf");
  const std::string bytes = qlite_test::ReadBytes(path);
  TempDir dir;
  for (size_t cut : {size_t(3), size_t(10), size_t(24), size_t(100), size_t(1000), size_t(5000), bytes.size() / 2,
                     bytes.size() - 100}) {
    const std::string err = ImportGgufError(dir.Write("cut.gguf", bytes.substr(0, cut)));
    EXPECT_NE(err, "") << "cut at " << cut;
  }
  // Random byte flips in the header region: any outcome but a crash is acceptable, and
  // a file that still imports must load every tensor.
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 60; ++iter) {
    std::string c = bytes;
    for (int k = 0; k < 4; ++k) c[rng() % 20000] = char(rng());
    SourceModel m;
    if (qlite::ImportGguf(dir.Write("flip.gguf", c), &m).ok()) {
      std::vector<float> v;
      for (const auto& t : m.tensors) (void)t.load(&v).ok();
    }
  }
}

TEST(ImportMalformed, Safetensors) {
  QLITE_REQUIRE_DATA(cfg, "stories260K-hf/config.json");
  const std::string config = qlite_test::ReadBytes(cfg);
  const std::string st = qlite_test::ReadBytes(qlite_test::DataPath("stories260K-hf/model.safetensors"));
  const std::string tok = qlite_test::ReadBytes(qlite_test::DataPath("stories260K-hf/tokenizer.model"));
  auto import_with = [&](const std::string& safetensors, const std::string& config_json) {
    TempDir dir;
    dir.Write("config.json", config_json);
    dir.Write("model.safetensors", safetensors);
    dir.Write("tokenizer.model", tok);
    SourceModel m;
    qlite::Status s = qlite::ImportHuggingFace(dir.path(), &m);
    return s.ok() ? std::string() : s.message();
  };
  EXPECT_EQ(import_with(st, config), "");
  EXPECT_NE(import_with(st.substr(0, 5), config).find("truncated"), std::string::npos);
  EXPECT_NE(import_with(st.substr(0, 200), config).find("truncated"), std::string::npos);
  EXPECT_NE(import_with(st.substr(0, st.size() - 4), config).find("outside"), std::string::npos);
  std::string huge = st;
  const uint64_t big = 1ull << 62;
  std::memcpy(&huge[0], &big, 8);
  EXPECT_NE(import_with(huge, config), "");
  std::string bad_json = st;
  bad_json[8] = '[';
  EXPECT_NE(import_with(bad_json, config).find("JSON"), std::string::npos);
  // config.json: broken, unknown architecture, one layer too many, wrong ffn size.
  EXPECT_NE(import_with(st, "{\"architectures\": [\"LlamaForCausalLM\"")
                .find("bad JSON"),
            std::string::npos);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string c = config;
    size_t at = c.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) c.replace(at, from.size(), to);
    return c;
  };
  EXPECT_NE(import_with(st, replace("LlamaForCausalLM", "GPTNeoXForCausalLM")).find("unsupported architecture GPTNeoX"),
            std::string::npos);
  EXPECT_NE(import_with(st, replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 6"))
                .find("missing tensor blk.5."),
            std::string::npos);
  EXPECT_NE(import_with(st, replace("\"intermediate_size\": 172", "\"intermediate_size\": 173")).find("shape mismatch"),
            std::string::npos);
  EXPECT_NE(import_with(st, replace("\"hidden_size\": 64", "\"hidden_size\": \"64\"")).find("hidden_size"),
            std::string::npos);
}

TEST(ImportMalformed, Llama2c) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  const std::string bytes = qlite_test::ReadBytes(bin);
  const std::string tok = qlite_test::DataPath("stories260K/tok512.bin");
  TempDir dir;
  SourceModel m;
  qlite::Status s = qlite::ImportLlama2c(dir.Write("cut.bin", bytes.substr(0, bytes.size() - 100)), tok, &m);
  EXPECT_NE(s.message().find("truncated"), std::string::npos) << s.message();
  EXPECT_FALSE(qlite::ImportLlama2c(dir.Write("short.bin", bytes.substr(0, 20)), tok, &m).ok());
  std::string absurd = bytes;
  const int32_t heads = 7;  // dim 64 is not a multiple of 7
  std::memcpy(&absurd[12], &heads, 4);
  EXPECT_FALSE(qlite::ImportLlama2c(dir.Write("heads.bin", absurd), tok, &m).ok());
  const int32_t vocab = 1 << 30;
  absurd = bytes;
  std::memcpy(&absurd[20], &vocab, 4);
  EXPECT_FALSE(qlite::ImportLlama2c(dir.Write("vocab.bin", absurd), tok, &m).ok());
  // A tokenizer of the wrong size for the checkpoint.
  s = qlite::ImportLlama2c(bin, qlite_test::DataPath("tokenizers/llama2-32k/tokenizer.bin"), &m);
  EXPECT_EQ(s.code(), qlite::StatusCode::kMismatch) << s.message();
  // No tokenizer beside a checkpoint in an empty folder.
  s = qlite::ImportLlama2c(dir.Write("alone.bin", bytes), "", &m);
  EXPECT_NE(s.message().find("tokenizer"), std::string::npos) << s.message();
}

// Random byte flips in real tokenizer files and a safetensors header: no crash, every
// rejection says why, a file that still imports loads each tensor to its full shape or says
// why not, and some flips are caught (the unflipped files import: the control).
TEST(ImportMalformed, BitFlippedTokenizersAndSafetensors) {
  QLITE_REQUIRE_DATA(model, "stories260K/tok512.model");
  TempDir dir;
  std::mt19937 rng(99);
  auto flipped = [&](const std::string& bytes, size_t region) {
    std::string c = bytes;
    for (int k = 0; k < 3; ++k) c[rng() % std::min(region, c.size())] = char(rng());
    return c;
  };
  const std::string sp = qlite_test::ReadBytes(model);
  const std::string bin = qlite_test::ReadBytes(qlite_test::DataPath("stories260K/tok512.bin"));
  const std::string json = qlite_test::ReadBytes(qlite_test::DataPath("stories260K-hf/tokenizer.json"));
  const std::string st = qlite_test::ReadBytes(qlite_test::DataPath("stories260K-hf/model.safetensors"));
  const std::string config = qlite_test::ReadBytes(qlite_test::DataPath("stories260K-hf/config.json"));
  size_t rejected = 0;
  // ok, or an error with a message; counts the errors.
  auto check = [&](const qlite::Status& s, const char* what) {
    if (s.ok()) return;
    ++rejected;
    EXPECT_FALSE(s.message().empty()) << what;
  };
  qlite::TokenizerData t;
  ASSERT_TRUE(qlite::ImportSentencePieceModel(dir.Write("f.model", sp), &t).ok());
  ASSERT_TRUE(qlite::ImportLlama2cTokenizer(dir.Write("f.bin", bin), &t).ok());
  ASSERT_TRUE(qlite::ImportHuggingFaceTokenizer(dir.Write("tokenizer.json", json), &t).ok());
  for (int iter = 0; iter < 100; ++iter) {
    check(qlite::ImportSentencePieceModel(dir.Write("f.model", flipped(sp, sp.size())), &t), "sentencepiece");
    check(qlite::ImportLlama2cTokenizer(dir.Write("f.bin", flipped(bin, bin.size())), &t), "llama2c tokenizer");
    check(qlite::ImportHuggingFaceTokenizer(dir.Write("tokenizer.json", flipped(json, json.size())), &t),
          "tokenizer.json");
  }
  EXPECT_GT(rejected, 0u) << "no flipped tokenizer was rejected";
  TempDir hf;
  hf.Write("config.json", config);
  hf.Write("tokenizer.model", sp);
  hf.Write("model.safetensors", st);
  SourceModel control;
  ASSERT_TRUE(qlite::ImportHuggingFace(hf.path(), &control).ok());
  uint64_t header_len = 0;
  std::memcpy(&header_len, st.data(), 8);
  rejected = 0;
  for (int iter = 0; iter < 40; ++iter) {
    hf.Write("model.safetensors", flipped(st, size_t(header_len) + 8));
    SourceModel m;
    const qlite::Status s = qlite::ImportHuggingFace(hf.path(), &m);
    check(s, "safetensors header");
    if (!s.ok()) continue;
    std::vector<float> v;
    for (const auto& tensor : m.tensors) {
      const qlite::Status ls = tensor.load(&v);
      check(ls, tensor.name.c_str());
      if (!ls.ok()) continue;
      uint64_t n = 1;
      for (uint64_t d : tensor.shape) n *= d;
      EXPECT_EQ(v.size(), n) << tensor.name;
    }
  }
  EXPECT_GT(rejected, 0u) << "no flipped safetensors header was rejected";
}

}  // namespace
