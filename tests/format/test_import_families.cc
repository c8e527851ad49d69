// Hugging Face config.json of the newer families (tests/data/families): Gemma 3's older
// config dialect reads the same as transformers 5's, the (1 + w) norms are stored shifted,
// and settings qlite does not run are refused with a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "../../format/src/safetensors.h"
#include "import_test_util.h"
#include "qlite/format/import.h"
#include "qlite/format/model_file.h"
#include "qlite/format/quantize.h"

namespace {
using qlite::SourceModel;

std::string FamilyDir(const std::string& family) {
  const std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/')) + "/../data/families/" + family;
}

// The family's folder with config.json's `from` replaced by `to` (which must occur).
std::string EditedFolder(const qlite_test::TempDir& dir, const std::string& family, const std::string& from,
                         const std::string& to) {
  const std::string src = FamilyDir(family);
  dir.Write("config.json", qlite_test::ReplaceOnce(qlite_test::ReadBytes(src + "/config.json"), from, to));
  dir.Write("model.safetensors", qlite_test::ReadBytes(src + "/model.safetensors"));
  dir.Write("tokenizer.json", qlite_test::ReadBytes(src + "/tokenizer.json"));
  return dir.path();
}

std::string ImportError(const std::string& folder) {
  SourceModel m;
  qlite::Status s = qlite::ImportHuggingFace(folder, &m);
  return s.ok() ? "ok" : s.message();
}

TEST(ImportFamilies, Gemma3Config) {
  SourceModel m;
  qlite::Status s = qlite::ImportHuggingFace(FamilyDir("gemma3"), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  const qlite::ModelConfig& c = m.config;
  EXPECT_EQ(c.arch, qlite::Arch::Gemma3);
  EXPECT_TRUE(c.qk_norm && c.post_norms && c.tied_embeddings && !c.qkv_bias);
  EXPECT_EQ(c.ffn_activation, qlite::Activation::GeluTanh);
  EXPECT_FLOAT_EQ(c.embedding_scale, std::sqrt(32.0f));
  EXPECT_FLOAT_EQ(c.attn_scale, 1.0f / std::sqrt(48.0f));
  EXPECT_EQ(c.sliding_window, (std::pmr::vector<uint32_t>{6, 6, 0}));
  EXPECT_FLOAT_EQ(c.rope_theta, 1e6f);
  EXPECT_FLOAT_EQ(c.rope_local_theta, 1e4f);
  EXPECT_EQ(c.rope_style, qlite::RopeStyle::RotateHalf);
}

// config.json as Gemma 3's Hub files have it (before transformers 5): rope_theta,
// rope_local_base_freq and sliding_window_pattern instead of rope_parameters and layer_types.
TEST(ImportFamilies, Gemma3OlderConfigDialect) {
  qlite_test::TempDir dir;
  std::string folder = EditedFolder(dir, "gemma3", "\"rope_parameters\": {", "\"unused_rope\": {");
  const std::string types = "\"layer_types\": [\n    \"sliding_attention\",\n    \"sliding_attention\",\n    \"full_attention\"\n  ],";
  dir.Write("config.json", qlite_test::ReplaceOnce(qlite_test::ReadBytes(folder + "/config.json"), types,
                                                   "\"sliding_window_pattern\": 3, \"rope_theta\": 1000000.0, "
                                                   "\"rope_local_base_freq\": 10000.0,"));
  SourceModel old_style, current;
  ASSERT_TRUE(qlite::ImportHuggingFace(folder, &old_style).ok());
  ASSERT_TRUE(qlite::ImportHuggingFace(FamilyDir("gemma3"), &current).ok());
  EXPECT_EQ(old_style.config.sliding_window, current.config.sliding_window);
  EXPECT_EQ(old_style.config.rope_theta, current.config.rope_theta);
  EXPECT_EQ(old_style.config.rope_local_theta, current.config.rope_local_theta);
}

// HF stores w of Gemma's (1 + w); the importer hands out 1 + w. Other families' norms pass as they are.
TEST(ImportFamilies, GemmaNormsAreShiftedByOne) {
  for (const char* family : {"gemma3", "qwen3"}) {
    SourceModel m;
    ASSERT_TRUE(qlite::ImportHuggingFace(FamilyDir(family), &m).ok());
    std::vector<qlite::safetensors::Tensor> entries;
    const std::string file = FamilyDir(family) + "/model.safetensors";
    ASSERT_TRUE(qlite::safetensors::ReadHeader(file, &entries).ok());
    const std::string bytes = qlite_test::ReadBytes(file);
    for (const auto& e : entries) {
      if (e.name != "model.layers.0.self_attn.k_norm.weight") continue;
      std::vector<float> raw(e.n_bytes / 2);
      ASSERT_TRUE(qlite::safetensors::ToFloat(e.dtype, reinterpret_cast<const uint8_t*>(bytes.data()) + e.offset,
                                              raw.size(), raw.data()).ok());
      const std::vector<float> got = qlite_test::Load(*qlite_test::ByName(m).at("blk.0.attn_k_norm"));
      ASSERT_EQ(got.size(), raw.size());
      const float shift = std::string(family) == "gemma3" ? 1.0f : 0.0f;
      for (size_t i = 0; i < raw.size(); ++i) EXPECT_EQ(got[i], raw[i] + shift) << family << " " << i;
    }
  }
}

// The reader's (and converter's) checks of the new config fields.
TEST(ImportFamilies, ConfigChecksTheLayerFields) {
  SourceModel m;
  ASSERT_TRUE(qlite::ImportHuggingFace(FamilyDir("gemma3"), &m).ok());
  ASSERT_TRUE(qlite::CheckConfig(m.config).ok());
  auto refused = [&](void (*edit)(qlite::ModelConfig*)) {
    qlite::ModelConfig c = m.config;
    edit(&c);
    return !qlite::CheckConfig(c).ok();
  };
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->embedding_scale = 0; }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->embedding_scale = NAN; }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->attn_scale = -1; }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->attn_scale = INFINITY; }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->rope_local_theta = NAN; }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->ffn_activation = static_cast<qlite::Activation>(9); }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->attn_softcap = NAN; }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->final_softcap = -30; }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->no_rope = {true}; }));  // 3 layers
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->rope_freq_factors.assign(31, 1.0f); }));  // 32 pairs
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) {
    c->rope_freq_factors.assign(32, 1.0f);
    c->rope_freq_factors[3] = 0.0f;
  }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) {  // LongRope without long factors
    c->rope_scaling = qlite::RopeScaling::LongRope;
    c->rope_freq_factors.assign(32, 1.0f);
    c->rope_original_context = 16;
  }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->rope_long_freq_factors.assign(32, 1.0f); }));  // without LongRope
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) { c->rope_attn_factor = 0; }));
  EXPECT_TRUE(refused([](qlite::ModelConfig* c) {
    c->rope_scaling = qlite::RopeScaling::Linear;
    c->rope_factor = 0;
  }));
  EXPECT_FALSE(refused([](qlite::ModelConfig* c) {
    c->rope_scaling = qlite::RopeScaling::LongRope;
    c->rope_freq_factors.assign(32, 1.0f);
    c->rope_long_freq_factors.assign(32, 4.0f);
    c->rope_original_context = 16;
    c->no_rope = {false, false, true};
    c->attn_softcap = 50;
  }));
}

TEST(ImportFamilies, RefusesWhatItDoesNotRun) {
  struct Case {
    const char *family, *from, *to, *error;
  } cases[] = {
      {"gemma3", "\"final_logit_softcapping\": null", "\"final_logit_softcapping\": -1.0", "bad final_logit_softcapping"},
      {"gemma3", "\"gelu_pytorch_tanh\"", "\"gelu\"", "unsupported hidden_activation gelu"},
      {"gemma3", "\"use_bidirectional_attention\": false", "\"use_bidirectional_attention\": true", "bidirectional"},
      {"gemma3", "\"full_attention\"\n  ]", "\"chunked_attention\"\n  ]", "unsupported layer type chunked_attention"},
      {"qwen3", "\"silu\"", "\"relu\"", "unsupported hidden_act relu"},
      {"qwen3", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "unsupported architecture Qwen3MoeForCausalLM"},
      {"qwen3", "Qwen3ForCausalLM", "Lfm2ForCausalLM", "unsupported architecture Lfm2ForCausalLM"},
      {"qwen3", "Qwen3ForCausalLM", "Qwen3NextForCausalLM", "unsupported architecture Qwen3NextForCausalLM"},
      {"qwen3", "\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"", "unsupported rope_scaling type yarn"},
  };
  for (const Case& c : cases) {
    qlite_test::TempDir dir;
    const std::string error = ImportError(EditedFolder(dir, c.family, c.from, c.to));
    EXPECT_NE(error.find(c.error), std::string::npos) << c.to << " -> " << error;
  }
}

}  // namespace
