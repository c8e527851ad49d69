// End to end: each importer -> f32 .qlm (ConvertModel) -> reopen (ModelFile): every
// tensor, the config and the tokenizer come back exactly as the importer produced them.
#include <gtest/gtest.h>

#include <cstring>

#include "import_test_util.h"
#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/format/model_file.h"

namespace {

void RoundTrip(const qlite::SourceModel& src) {
  qlite_test::TempDir dir;
  const std::string out = dir.File("model.qlm");
  qlite::ConvertOptions options;  // QuantSpec defaults to F32 for weights and embeddings
  options.weights.dtype = qlite::fb::DType::F32;
  options.embeddings.dtype = qlite::fb::DType::F32;
  qlite::ConvertSummary summary;
  qlite::Status s = qlite::ConvertModel(src, options, out, nullptr, &summary);
  ASSERT_TRUE(s.ok()) << s.message();
  qlite::ModelFile file;
  qlite::OpenOptions open;
  open.verify_checksums = true;
  s = file.Open(out, open);
  ASSERT_TRUE(s.ok()) << s.message();
  const qlite::ModelConfig &a = src.config, &b = file.config();
  EXPECT_EQ(a.dim, b.dim);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.ffn_dim, b.ffn_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.context_length, b.context_length);
  EXPECT_EQ(a.rope_style, b.rope_style);
  EXPECT_EQ(a.tied_embeddings, b.tied_embeddings);
  EXPECT_EQ(a.bos_id, b.bos_id);
  EXPECT_EQ(a.eos_id, b.eos_id);
  EXPECT_EQ(src.tokenizer.pieces, file.tokenizer().pieces);
  EXPECT_EQ(src.tokenizer.scores, file.tokenizer().scores);
  ASSERT_EQ(file.tensors().size(), src.tensors.size());
  uint64_t params = 0;
  for (const qlite::SourceTensor& t : src.tensors) {
    const qlite::TensorRef* ref = file.FindTensor(t.name);
    ASSERT_NE(ref, nullptr) << t.name;
    EXPECT_EQ(ref->shape, t.shape) << t.name;
    ASSERT_EQ(ref->dtype, qlite::fb::DType::F32) << t.name;
    std::vector<float> want = qlite_test::Load(t);
    ASSERT_EQ(ref->elements(), want.size()) << t.name;
    EXPECT_EQ(0, std::memcmp(ref->view.data, want.data(), want.size() * sizeof(float))) << t.name << " differs";
    params += want.size();
  }
  EXPECT_EQ(summary.n_params, params);
}

TEST(ImportConvert, Llama2cToF32) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  qlite::SourceModel m;
  qlite::Status s = qlite::ImportLlama2c(bin, qlite_test::DataPath("stories260K/tok512.bin"), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  RoundTrip(m);
}

TEST(ImportConvert, HuggingFaceToF32) {
  QLITE_REQUIRE_DATA(cfg, "stories260K-hf/config.json");
  qlite::SourceModel m;
  qlite::Status s = qlite::ImportHuggingFace(qlite_test::DataPath("stories260K-hf"), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  RoundTrip(m);
}

TEST(ImportConvert, GgufToF32) {
  for (const char* rel : {"stories260K-gguf/stories260K-f32.gguf", "stories260K-gguf/stories260K-Q4_0.gguf"}) {
    SCOPED_TRACE(rel);
    QLITE_REQUIRE_DATA(path, rel);
    qlite::SourceModel m;
    qlite::Status s = qlite::ImportGguf(path, &m);
    ASSERT_TRUE(s.ok()) << s.message();
    RoundTrip(m);
  }
}

TEST(ImportConvert, FailedConversionLeavesNoFile) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  qlite_test::TempDir dir;
  const std::string cut = dir.Write("cut.bin", qlite_test::ReadBytes(bin));
  qlite::SourceModel m;
  qlite::Status s = qlite::ImportLlama2c(cut, qlite_test::DataPath("stories260K/tok512.bin"), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  // The source shrinks after import: the lazy load of a late tensor fails mid-conversion.
  ASSERT_EQ(0, truncate(cut.c_str(), 4096));
  const std::string out = dir.File("out.qlm");
  s = qlite::ConvertModel(m, qlite::ConvertOptions(), out, nullptr, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(qlite_test::FileExists(out));
}

}  // namespace
