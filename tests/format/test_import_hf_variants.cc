// Hugging Face folder variants built from the real stories260K-hf files: sharded
// safetensors with an index, F16/BF16 storage, and config.json dialects (Mistral sliding
// window, llama3 rope scaling, Qwen2 biases, eos lists).
#include <gtest/gtest.h>

#include <cstring>

#include "qlite/format/json.h"
#include "../../format/src/safetensors.h"
#include "import_test_util.h"
#include "qlite/format/import.h"
#include "qlite/format/quantize.h"

namespace {
using qlite::SourceModel;
namespace st = qlite::safetensors;

// Writes `names` from the source file into a new safetensors file, converting to `dtype`.
void WriteShard(const std::string& src, const std::vector<st::Tensor>& all, const std::vector<std::string>& names,
                const std::string& dtype, const std::string& dst) {
  const std::string bytes = qlite_test::ReadBytes(src);
  std::string header = "{\"__metadata__\": {\"format\": \"pt\"}", data;
  for (const st::Tensor& t : all) {
    if (std::find(names.begin(), names.end(), t.name) == names.end()) continue;
    std::vector<float> v(t.n_bytes / 4);
    std::memcpy(v.data(), bytes.data() + t.offset, t.n_bytes);
    const size_t begin = data.size();
    for (float x : v) {
      if (dtype == "F32") {
        data.append(reinterpret_cast<const char*>(&x), 4);
      } else {
        const uint16_t h = dtype == "F16" ? qlite::F32ToF16(x) : qlite::F32ToBF16(x);
        data.append(reinterpret_cast<const char*>(&h), 2);
      }
    }
    header += ", \"" + t.name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": [";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "], \"data_offsets\": [" + std::to_string(begin) + ", " + std::to_string(data.size()) + "]}";
  }
  header += "}";
  const uint64_t len = header.size();
  std::ofstream(dst, std::ios::binary) << std::string(reinterpret_cast<const char*>(&len), 8) << header << data;
}

class HfVariants : public ::testing::Test {
 protected:
  void SetUp() override {
    hf_ = qlite_test::DataPath("stories260K-hf");
    if (!qlite_test::FileExists(hf_ + "/model.safetensors")) {
      if (qlite_test::InCI()) FAIL() << "missing test data (CI=true): " << hf_;
      GTEST_SKIP() << "missing test data: " << hf_;
    }
    ASSERT_TRUE(st::ReadHeader(hf_ + "/model.safetensors", &entries_).ok());
    qlite::Status s = qlite::ImportHuggingFace(hf_, &base_);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  // A folder with config (edited by `edit`), tokenizer, and two shards in `dtype`.
  void MakeSharded(const qlite_test::TempDir& dir, const std::string& dtype) {
    std::vector<std::string> first, second;
    std::string map;
    for (const st::Tensor& t : entries_) {
      const bool a = t.name.find("layers.0.") != std::string::npos || t.name.find("layers.1.") != std::string::npos ||
                     t.name.find("embed") != std::string::npos;
      (a ? first : second).push_back(t.name);
      map += std::string(map.empty() ? "" : ", ") + "\"" + t.name + "\": \"" +
             (a ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors") + "\"";
    }
    WriteShard(hf_ + "/model.safetensors", entries_, first, dtype, dir.File("model-00001-of-00002.safetensors"));
    WriteShard(hf_ + "/model.safetensors", entries_, second, dtype, dir.File("model-00002-of-00002.safetensors"));
    dir.Write("model.safetensors.index.json", "{\"metadata\": {}, \"weight_map\": {" + map + "}}");
    dir.Write("config.json", qlite_test::ReadBytes(hf_ + "/config.json"));
    dir.Write("tokenizer.model", qlite_test::ReadBytes(hf_ + "/tokenizer.model"));
  }
  std::string hf_;
  std::vector<st::Tensor> entries_;
  SourceModel base_;
};

TEST_F(HfVariants, ShardedF32F16Bf16) {
  for (const char* dtype : {"F32", "F16", "BF16"}) {
    SCOPED_TRACE(dtype);
    qlite_test::TempDir dir;
    MakeSharded(dir, dtype);
    SourceModel m;
    qlite::Status s = qlite::ImportHuggingFace(dir.path(), &m);
    ASSERT_TRUE(s.ok()) << s.message();
    auto want = qlite_test::ByName(base_), got = qlite_test::ByName(m);
    ASSERT_EQ(want.size(), got.size());
    for (const auto& kv : want) {
      ASSERT_TRUE(got.count(kv.first)) << kv.first;
      EXPECT_EQ(got[kv.first]->source_dtype, dtype);
      std::vector<float> a = qlite_test::Load(*kv.second), b = qlite_test::Load(*got[kv.first]);
      ASSERT_EQ(a.size(), b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        const float expect = std::string(dtype) == "F32"  ? a[i]
                             : std::string(dtype) == "F16" ? qlite::F16ToF32(qlite::F32ToF16(a[i]))
                                                           : qlite::BF16ToF32(qlite::F32ToBF16(a[i]));
        ASSERT_EQ(expect, b[i]) << kv.first << " element " << i;
      }
    }
  }
}

TEST_F(HfVariants, ConfigDialects) {
  const std::string config = qlite_test::ReadBytes(hf_ + "/config.json");
  auto with = [&](const std::string& from, const std::string& to, SourceModel* m) {
    qlite_test::TempDir dir;
    dir.Write("config.json", qlite_test::ReplaceOnce(config, from, to));
    dir.Write("model.safetensors", qlite_test::ReadBytes(hf_ + "/model.safetensors"));
    dir.Write("tokenizer.model", qlite_test::ReadBytes(hf_ + "/tokenizer.model"));
    qlite::Status s = qlite::ImportHuggingFace(dir.path(), m);
    return s.ok() ? std::string() : s.message();
  };
  SourceModel m;
  ASSERT_EQ(with("\"LlamaForCausalLM\"", "\"MistralForCausalLM\"], \"sliding_window\": 256, \"x\": [0", &m), "");
  EXPECT_EQ(m.config.arch, qlite::Arch::Mistral);
  EXPECT_EQ(m.config.sliding_window, std::pmr::vector<uint32_t>(5, 256));
  ASSERT_EQ(with("\"rope_scaling\": null",
                 "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
                 "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}",
                 &m),
            "");
  EXPECT_EQ(m.config.rope_scaling, qlite::RopeScaling::Llama3);
  EXPECT_EQ(m.config.rope_factor, 8.0f);
  EXPECT_EQ(m.config.rope_original_context, 8192u);
  ASSERT_EQ(with("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}", &m), "");
  EXPECT_EQ(m.config.rope_scaling, qlite::RopeScaling::Linear);
  EXPECT_EQ(m.config.rope_factor, 2.0f);
  EXPECT_NE(with("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2.0}", &m)
                .find("unsupported rope_scaling type yarn"),
            std::string::npos);
  ASSERT_EQ(with("\"eos_token_id\": 2", "\"eos_token_id\": [2, 3]", &m), "");
  EXPECT_EQ(m.config.eos_id, 2);
  EXPECT_EQ(m.config.eot_ids, std::pmr::vector<int32_t>{3});
  // Qwen2 always has q/k/v biases; this checkpoint has none.
  EXPECT_NE(with("\"LlamaForCausalLM\"", "\"Qwen2ForCausalLM\"", &m).find("missing tensor blk.0.attn_q.bias"),
            std::string::npos);
}

}  // namespace
