// Hostile inputs to the converter and readers, one class of the hardening audit per test:
// what the runtime refuses is refused at conversion, header fields are bounded before they
// size anything, output paths never replace an input or a device, FIFOs never block.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "import_test_util.h"
#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/format/lora.h"
#include "qlite/format/model_file.h"
#include "qlite/format/writer.h"
#include "synthetic_model.h"

namespace {

using qlite_test::TempDir;

std::string ConvertError(const qlite::SourceModel& m, const std::string& out) {
  qlite::ConvertOptions options;
  const qlite::Status s = qlite::ConvertModel(m, options, out, nullptr, nullptr);
  return s.ok() ? "" : s.message();
}

bool Contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Each of these was written without complaint and refused only by `qlite run`.
TEST(Hardening, ConverterRefusesWhatTheRuntimeRefuses) {
  TempDir dir;
  const std::string out = dir.File("out.qlm");
  {
    qlite::ModelConfig c = qlite_test::TinyConfig();
    c.sliding_window = {1, 0};
    EXPECT_TRUE(Contains(ConvertError(qlite_test::TinyModel(1, c), out), "sliding window of 1"));
  }
  {
    qlite::ModelConfig c = qlite_test::TinyConfig();
    c.rope_scaling = qlite::RopeScaling::Linear;
    c.rope_factor = 0.0f;
    EXPECT_TRUE(Contains(ConvertError(qlite_test::TinyModel(1, c), out), "RoPE scaling factor"));
  }
  {
    qlite::SourceModel m = qlite_test::TinyModel();
    m.tokenizer.type = qlite::fb::TokenizerType::ByteLevelBPE;
    m.tokenizer.merges = {"t o"};
    m.tokenizer.pre_tokenizer = "no-such-regex";
    EXPECT_TRUE(Contains(ConvertError(m, out), "pre-tokenizer 'no-such-regex'"));
    m.tokenizer.pre_tokenizer = "llama3";
    m.tokenizer.merges = {"nospace"};
    EXPECT_TRUE(Contains(ConvertError(m, out), "is not 'left right'"));
  }
  {
    qlite::SourceModel m = qlite_test::TinyModel();
    m.tokenizer.kinds[5] = qlite::fb::TokenKind::Byte;  // "tok5" is no <0xNN>
    EXPECT_TRUE(Contains(ConvertError(m, out), "byte token 5"));
    m = qlite_test::TinyModel();
    m.tokenizer.eos_id = 4000;
    EXPECT_TRUE(Contains(ConvertError(m, out), "EOS id 4000"));
  }
  EXPECT_FALSE(qlite_test::FileExists(out));
}

// n_layers = 2^20 passes the per-dimension limit, but a list of 9.4 M expected tensors
// (1.5 GB) must not be built for a file that holds a handful.
TEST(Hardening, LayerCountIsBoundedByTheTensorsPresent) {
  TempDir dir;
  qlite::ModelConfig c = qlite_test::TinyConfig();
  c.n_layers = 1u << 20;
  qlite::SourceModel m = qlite_test::TinyModel();
  m.config = c;
  EXPECT_TRUE(Contains(ConvertError(m, dir.File("out.qlm")), "1048576 layers, but only"));

  // The reader, on a file whose config claims the layers.
  const std::string path = dir.File("layers.qlm");
  {
    qlite::ModelWriter w;
    ASSERT_TRUE(w.Open(path).ok());
    w.SetConfig(c);
    w.SetTokenizer(m.tokenizer);
    ASSERT_TRUE(w.Finish().ok());
  }
  qlite::ModelFile f;
  const qlite::Status s = f.Open(path);
  EXPECT_TRUE(Contains(s.message(), "1048576 layers, but only")) << s.message();
}

// -o naming the input (any spelling of it), a device or a FIFO is refused; the input is intact.
TEST(Hardening, OutputNeverReplacesTheInputOrADevice) {
  TempDir dir;
  qlite::SourceModel m = qlite_test::TinyModel();
  m.source_path = dir.Write("source.bin", "the source bytes");
  EXPECT_TRUE(Contains(ConvertError(m, m.source_path), "is the input"));
  ASSERT_EQ(0, symlink(m.source_path.c_str(), dir.File("link.bin").c_str()));
  EXPECT_TRUE(Contains(ConvertError(m, dir.File("link.bin")), "is the input"));
  EXPECT_TRUE(Contains(ConvertError(m, dir.path() + "/./source.bin"), "is the input"));
  EXPECT_EQ(qlite_test::ReadBytes(m.source_path), "the source bytes");
  EXPECT_TRUE(Contains(ConvertError(m, "/dev/null"), "not a regular file"));
  ASSERT_EQ(0, mkfifo(dir.File("fifo.qlm").c_str(), 0600));
  EXPECT_TRUE(Contains(ConvertError(m, dir.File("fifo.qlm")), "not a regular file"));
  EXPECT_TRUE(Contains(ConvertError(m, dir.path()), "not a regular file"));
  EXPECT_EQ(ConvertError(m, dir.File("fine.qlm")), "");
}

// Opening a FIFO blocks until a writer comes: every reader must refuse it first.
TEST(Hardening, FifoInputsAreRefusedWithoutBlocking) {
  TempDir dir;
  for (const char* name : {"fifo.gguf", "fifo.bin", "fifo.qlm"}) {
    const std::string fifo = dir.File(name);
    ASSERT_EQ(0, mkfifo(fifo.c_str(), 0600));
    qlite::SourceModel m;
    EXPECT_TRUE(Contains(qlite::ImportAuto(fifo, qlite::ImportOptions(), &m).message(), "not a regular file"))
        << name;
    qlite::ModelFile f;
    EXPECT_TRUE(Contains(f.Open(fifo).message(), "not a regular file")) << name;
  }
  ASSERT_EQ(0, mkfifo(dir.File("tokenizer.bin").c_str(), 0600));
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  qlite::SourceModel m;
  EXPECT_TRUE(Contains(qlite::ImportLlama2c(bin, dir.File("tokenizer.bin"), &m).message(), "not a regular file"));
}

// Patches the u32 value of GGUF key `key` in place (type and value).
std::string PatchGgufKey(std::string bytes, const std::string& key, uint32_t type, uint32_t value) {
  const size_t at = bytes.find(key);
  EXPECT_NE(at, std::string::npos) << key;
  if (at == std::string::npos) return bytes;
  std::memcpy(&bytes[at + key.size()], &type, 4);
  std::memcpy(&bytes[at + key.size() + 4], &value, 4);
  return bytes;
}

std::string GgufError(const std::string& path) {
  qlite::SourceModel m;
  const qlite::Status s = qlite::ImportGguf(path, &m);
  return s.ok() ? "" : s.message();
}

// embedding_length 64.5 was read as 64; a BOS id past the vocabulary was dropped silently.
TEST(Hardening, GgufCountsAreWholeAndIdsInRange) {
  QLITE_REQUIRE_DATA(path, "stories260K-gguf/stories260K-f32.gguf");
  const std::string bytes = qlite_test::ReadBytes(path);
  TempDir dir;
  ASSERT_EQ(GgufError(dir.Write("ok.gguf", bytes)), "");
  float half = 64.5f;
  uint32_t half_bits = 0;
  std::memcpy(&half_bits, &half, 4);
  const std::string frac = PatchGgufKey(bytes, "llama.embedding_length", 6 /* F32 */, half_bits);
  EXPECT_TRUE(Contains(GgufError(dir.Write("frac.gguf", frac)), "not a whole number"));
  const std::string bos = PatchGgufKey(bytes, "tokenizer.ggml.bos_token_id", 4 /* U32 */, 100000);
  EXPECT_TRUE(Contains(GgufError(dir.Write("bos.gguf", bos)), "bos_token_id is not a token id"));
}

// A PEFT adapter's shapes are compared with the base before its tensor data is read: the
// data here is all NaN, which the reader would report had it read it first.
TEST(Hardening, PeftShapesAreCheckedBeforeTheData) {
  TempDir dir;
  dir.Write("adapter_config.json", R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4})");
  const std::string a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
  const std::string b = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
  const uint64_t a_bytes = 2 * 100 * 4, b_bytes = 64 * 2 * 4;  // A claims in = 100, the base has 64
  std::string header = "{\"" + a + "\": {\"dtype\": \"F32\", \"shape\": [2, 100], \"data_offsets\": [0, " +
                       std::to_string(a_bytes) + "]}, \"" + b + "\": {\"dtype\": \"F32\", \"shape\": [64, 2], " +
                       "\"data_offsets\": [" + std::to_string(a_bytes) + ", " + std::to_string(a_bytes + b_bytes) +
                       "]}}";
  while (header.size() % 8) header += ' ';
  std::string file(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(&file[0], &n, 8);
  file += header + std::string(a_bytes + b_bytes, '\xff');  // 0xffffffff is a NaN
  dir.Write("adapter_model.safetensors", file);
  qlite::LoraAdapter adapter;
  const qlite::Status s = qlite::ReadLoraAdapter(dir.path(), qlite_test::TinyConfig(), &adapter);
  EXPECT_EQ(s.code(), qlite::StatusCode::kMismatch) << s.message();
  EXPECT_TRUE(Contains(s.message(), "the base has [64, 64]")) << s.message();
}

}  // namespace
