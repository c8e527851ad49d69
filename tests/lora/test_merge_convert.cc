// LoRA merged at conversion against the independent references in ../shared/models:
// teacher-forced logits and greedy outputs of the merged f32 model (llama2.c base, where
// q/k rows of PEFT's B are permuted, and HF base), the merged tensors against the merged
// safetensors, and llama.cpp's GGUF LoRA against PEFT.
#include <cstdio>
#include <map>

#include "lora_test_util.h"

namespace {

using namespace lora_test;
using qlite::fb::DType;

struct Case {
  Base base;
  std::string variant;
};

class MergeAtConversion : public ::testing::TestWithParam<Case> {};

std::vector<std::string> Adapters(const std::string& variant) {
  if (variant == "pip_sea") return {PeftDir("pip"), PeftDir("sea")};
  return {PeftDir(variant)};
}

TEST_P(MergeAtConversion, MatchesReferenceLogitsAndGreedy) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  QLITE_REQUIRE_DATA(refs, "refs/logits16_pip_sea.f32");
  const Case c = GetParam();
  const std::vector<std::string> adapters = Adapters(c.variant);
  const std::string out = TempPath("merged_" + c.variant + ".qlm");
  qlite::Status s = ConvertMerged(c.base, adapters, std::vector<float>(adapters.size(), 1.0f), DType::F32, out);
  ASSERT_TRUE(s.ok()) << s.message();

  const std::vector<float> logits = LogitsOfFile(out, Logits16Ids());
  EXPECT_LT(MaxAbsDiff(logits, RefLogits(c.variant)), 1e-4f);
  // The adapters do change the model (the test would pass vacuously otherwise).
  EXPECT_GT(MaxAbsDiff(logits, RefLogits("base")), 1e-2f);

  if (c.variant != "pip_sea") {  // pip_sea has near-ties: its logits are the check
    const std::string greedy = ReadFile(Data("refs/greedy.json"));
    size_t at = greedy.find("\"" + c.variant + "\": [");
    ASSERT_NE(at, std::string::npos);
    qlite_model* m = nullptr;
    ASSERT_EQ(qlite_model_open(out.c_str(), nullptr, &m), QLITE_OK);
    for (int p = 0; p < 3; ++p) {
      size_t end = 0;
      const auto prompt = qlite_e2e::Ints(qlite_e2e::JsonArray(greedy, "prompt_ids", at, &end));
      const auto want = qlite_e2e::Ints(qlite_e2e::JsonArray(greedy, "generated_ids", end, &end));
      const auto margins = qlite_e2e::JsonArray(greedy, "top2_margins", end, &end);
      at = end;
      const auto got = qlite_e2e::Greedy(m, prompt, want.size());
      ASSERT_EQ(got.size(), want.size());
      size_t i = 0;
      while (i < got.size() && got[i] == want[i]) ++i;
      // A flip is only acceptable at a near-tie of the reference.
      if (i < got.size()) { EXPECT_LT(margins[i], 1e-3) << c.variant << " prompt " << p << " diverges at " << i; }
    }
    qlite_model_free(m);
  }
  std::remove(out.c_str());
}

INSTANTIATE_TEST_SUITE_P(Bases, MergeAtConversion,
                         ::testing::Values(Case{Base::kLlama2c, "pip"}, Case{Base::kLlama2c, "sea"},
                                           Case{Base::kLlama2c, "pip_sea"}, Case{Base::kHf, "pip"},
                                           Case{Base::kHf, "sea"}, Case{Base::kHf, "pip_sea"}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.base == Base::kHf ? "hf_" : "llama2c_") + i.param.variant;
                         });

// Merged HF-layout tensors equal the reference merge (float64 accumulation, one rounding).
TEST(MergeAtConversion, TensorsMatchMergedSafetensors) {
  QLITE_REQUIRE_DATA(merged, "lora/stories260K-pip-merged/model.safetensors");
  for (const std::string variant : {"pip", "sea"}) {
    qlite::SourceModel base, ref;
    ASSERT_TRUE(ImportBase(Base::kHf, &base).ok());
    ASSERT_TRUE(qlite::ImportHuggingFace(Data("lora/stories260K-" + variant + "-merged"), &ref).ok());
    qlite::LoraAdapter a;
    qlite::Status s = qlite::ReadLoraAdapter(PeftDir(variant), base.config, &a);
    ASSERT_TRUE(s.ok()) << s.message();
    qlite::ConvertOptions co;
    ASSERT_TRUE(qlite::SetLoraMerge({{&a, 1.0f}}, base.config, &co).ok());
    std::map<std::string, const qlite::SourceTensor*> refs;
    for (const auto& t : ref.tensors) refs[t.name] = &t;
    size_t changed = 0;
    for (const auto& t : base.tensors) {
      std::vector<float> w, want;
      ASSERT_TRUE(t.load(&w).ok());
      const std::vector<float> before = w;
      ASSERT_TRUE(co.merge(t.name, t.shape, &w).ok());
      ASSERT_TRUE(refs.count(t.name)) << t.name;
      ASSERT_TRUE(refs[t.name]->load(&want).ok());
      ASSERT_EQ(w.size(), want.size());
      size_t off = 0;
      for (size_t i = 0; i < w.size(); ++i)
        off += std::fabs(w[i] - want[i]) > 1.2e-7f * std::fabs(want[i]) + 1e-12f;  // one f32 rounding apart
      EXPECT_EQ(off, 0u) << variant << " " << t.name;
      changed += MaxAbsDiff(before, w) > 0;
    }
    EXPECT_EQ(changed, a.tensors.size()) << variant;
  }
}

// llama.cpp's converter permuted q/k B rows to Meta order; PEFT's are permuted by the
// reader. Both must give identical A/B for either base.
TEST(MergeAtConversion, GgufLoraEqualsPeft) {
  QLITE_REQUIRE_DATA(g, "lora/stories260K-lora-pip-f32.gguf");
  for (Base b : {Base::kLlama2c, Base::kHf}) {
    qlite::SourceModel base;
    ASSERT_TRUE(ImportBase(b, &base).ok());
    for (const std::string variant : {"pip", "sea"}) {
      qlite::LoraAdapter peft, gg;
      ASSERT_TRUE(qlite::ReadLoraAdapter(PeftDir(variant), base.config, &peft).ok());
      qlite::Status s = qlite::ReadLoraAdapter(GgufLora(variant), base.config, &gg);
      ASSERT_TRUE(s.ok()) << s.message();
      ASSERT_EQ(peft.tensors.size(), gg.tensors.size());
      EXPECT_EQ(peft.alpha, gg.alpha);
      for (size_t i = 0; i < peft.tensors.size(); ++i) {
        const auto &p = peft.tensors[i], &q = gg.tensors[i];
        EXPECT_EQ(p.target, q.target);
        EXPECT_EQ(p.factor, q.factor);
        EXPECT_EQ(p.a, q.a) << p.target;
        EXPECT_EQ(p.b, q.b) << p.target;
      }
    }
  }
  // And the merged model from GGUF LoRA reproduces the reference.
  const std::string out = TempPath("gguf_sea.qlm");
  ASSERT_TRUE(ConvertMerged(Base::kLlama2c, {GgufLora("sea")}, {1.0f}, DType::F32, out).ok());
  EXPECT_LT(MaxAbsDiff(LogitsOfFile(out, Logits16Ids()), RefLogits("sea")), 1e-4f);
  std::remove(out.c_str());
}

TEST(MergeAtConversion, ScaleZeroIsTheBaseAndProvenanceIsRecorded) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  const std::string out = TempPath("scale0.qlm");
  ASSERT_TRUE(ConvertMerged(Base::kLlama2c, {PeftDir("pip")}, {0.0f}, DType::F32, out).ok());
  EXPECT_LT(MaxAbsDiff(LogitsOfFile(out, Logits16Ids()), RefLogits("base")), 1e-4f);
  std::remove(out.c_str());
}

TEST(MergeAtConversion, WrongShapeAndUnsupportedAreRefused) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  qlite::SourceModel base;
  ASSERT_TRUE(ImportBase(Base::kLlama2c, &base).ok());
  qlite::ModelConfig other = base.config;
  other.ffn_dim = 176;  // pip adapts ffn_* of width 172
  qlite::LoraAdapter a;
  qlite::Status s = qlite::ReadLoraAdapter(PeftDir("pip"), other, &a);
  EXPECT_EQ(s.code(), qlite::StatusCode::kMismatch) << s.message();
  s = qlite::ReadLoraAdapter(Data("stories260K"), base.config, &a);  // no adapter_config.json
  EXPECT_FALSE(s.ok());
  s = qlite::ReadLoraAdapter(Data("stories260K-gguf/stories260K-f32.gguf"), base.config, &a);  // a model, not an adapter
  EXPECT_EQ(s.code(), qlite::StatusCode::kFormat) << s.message();
}

}  // namespace
