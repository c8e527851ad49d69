// LoRA merged at load time (qlite_adapter_open / qlite_session_set_adapters) over a shared
// quantized base, against merge at conversion; .qla binding, sizing and robustness.
#include <cstdio>

#include "lora_test_util.h"
#include "qlite/format/model_file.h"

namespace {

using namespace lora_test;
using qlite::fb::DType;

// Base models (f32, q8, q4) and .qla adapters, built once per process.
class LoadMerge : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!qlite_test::FileExists(Data("stories260K/stories260K.bin"))) return;
    for (DType d : {DType::F32, DType::I8, DType::I4}) {
      const std::string path = BasePath(d);
      ASSERT_TRUE(ConvertMerged(Base::kLlama2c, {}, {}, d, path).ok());
    }
    qlite::ModelFile f;
    ASSERT_TRUE(f.Open(BasePath(DType::F32)).ok());
    qlite::SourceModel src;
    ASSERT_TRUE(ImportBase(Base::kLlama2c, &src).ok());
    for (const std::string v : {"pip", "sea"}) {
      qlite::LoraAdapter a;
      ASSERT_TRUE(qlite::ReadLoraAdapter(PeftDir(v), src.config, &a).ok());
      ASSERT_TRUE(qlite::WriteAdapterFile(a, f.fingerprint(), {}, QlaPath(v)).ok());
    }
  }
  static void TearDownTestSuite() {
    for (DType d : {DType::F32, DType::I8, DType::I4}) std::remove(BasePath(d).c_str());
    for (const std::string v : {"pip", "sea"}) std::remove(QlaPath(v).c_str());
  }
  void SetUp() override {
    if (!qlite_test::FileExists(Data("stories260K/stories260K.bin"))) {
      if (qlite_test::InCI()) FAIL() << "missing test data (CI=true)";
      GTEST_SKIP() << "missing test data";
    }
  }
  static std::string BasePath(DType d) { return TempPath("base_" + std::to_string(int(d)) + ".qlm"); }
  static std::string QlaPath(const std::string& v) { return TempPath(v + ".qla"); }

  // Teacher-forced logits of `ids` with the adapters set at load time on the `d` base.
  static std::vector<float> LoadTimeLogits(DType d, const std::vector<std::string>& variants,
                                           const std::vector<float>& scales, const std::vector<int32_t>& ids) {
    return LoadTimeLogitsOf(BasePath(d), variants, scales, ids);
  }
  static std::vector<float> LoadTimeLogitsOf(const std::string& base, const std::vector<std::string>& variants,
                                             const std::vector<float>& scales, const std::vector<int32_t>& ids) {
    qlite_model* m = nullptr;
    if (qlite_model_open(base.c_str(), nullptr, &m) != QLITE_OK) return {};
    std::vector<qlite_adapter*> as(variants.size());
    for (size_t i = 0; i < variants.size(); ++i)
      if (qlite_adapter_open(m, QlaPath(variants[i]).c_str(), &as[i]) != QLITE_OK) return {};
    uint64_t bytes = 0;
    EXPECT_EQ(qlite_adapters_memory(m, as.data(), as.size(), &bytes), QLITE_OK);
    qlite_session* s = GreedySession(m, bytes);
    std::vector<float> out;
    if (s && qlite_session_set_adapters(s, as.data(), scales.data(), as.size()) == QLITE_OK)
      out = TeacherForced(s, ids, 512);
    qlite_session_free(s);
    for (qlite_adapter* a : as) qlite_adapter_free(a);
    qlite_model_free(m);
    return out;
  }
};

TEST_F(LoadMerge, F32EqualsMergeAtConversion) {
  const auto ids = Logits16Ids();
  for (const std::string v : {"pip", "sea"}) {
    const std::string merged = TempPath("conv_" + v + ".qlm");
    ASSERT_TRUE(ConvertMerged(Base::kLlama2c, {PeftDir(v)}, {1.0f}, DType::F32, merged).ok());
    const auto want = LogitsOfFile(merged, ids);
    const auto got = LoadTimeLogits(DType::F32, {v}, {1.0f}, ids);
    EXPECT_LT(MaxAbsDiff(got, want), 1e-5f) << v;
    EXPECT_LT(MaxAbsDiff(got, RefLogits(v)), 1e-4f) << v;
    std::remove(merged.c_str());
  }
  EXPECT_LT(MaxAbsDiff(LoadTimeLogits(DType::F32, {"pip", "sea"}, {1.0f, 1.0f}, ids), RefLogits("pip_sea")), 1e-4f);
  // Scale 0 leaves the base untouched.
  EXPECT_EQ(LoadTimeLogits(DType::F32, {"pip"}, {0.0f}, ids), LogitsOfFile(BasePath(DType::F32), ids));
}

// Sessions over one model with different adapters; swapping does not reopen the base.
TEST_F(LoadMerge, SessionsShareTheBaseAndSwap) {
  const auto ids = Logits16Ids();
  qlite_model* m = nullptr;
  ASSERT_EQ(qlite_model_open(BasePath(DType::F32).c_str(), nullptr, &m), QLITE_OK);
  qlite_adapter *pip = nullptr, *sea = nullptr;
  ASSERT_EQ(qlite_adapter_open(m, QlaPath("pip").c_str(), &pip), QLITE_OK) << qlite_last_error();
  ASSERT_EQ(qlite_adapter_open(m, QlaPath("sea").c_str(), &sea), QLITE_OK);
  const qlite_adapter* both[] = {pip, sea};
  uint64_t bytes_pip = 0, bytes_both = 0;
  ASSERT_EQ(qlite_adapters_memory(m, both, 1, &bytes_pip), QLITE_OK);
  ASSERT_EQ(qlite_adapters_memory(m, both, 2, &bytes_both), QLITE_OK);
  EXPECT_GT(bytes_pip, 0u);
  EXPECT_EQ(bytes_both, bytes_pip);  // sea adapts a subset of pip's tensors (q, v)

  qlite_session_params p = qlite_session_default_params();
  p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
  p.adapter_memory = bytes_both;
  qlite_memory_estimate est;
  ASSERT_EQ(qlite_estimate_memory(m, &p, &est), QLITE_OK);
  EXPECT_GE(est.adapters, bytes_both);
  qlite_memory_estimate plain;
  qlite_session_params p0 = qlite_session_default_params();
  p0.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
  ASSERT_EQ(qlite_estimate_memory(m, &p0, &plain), QLITE_OK);
  EXPECT_EQ(plain.adapters, 0u);
  EXPECT_GE(est.session_total - plain.session_total, est.adapters);
  EXPECT_LT(est.session_total - plain.session_total, est.adapters + 64);  // + alignment

  qlite_session* a = GreedySession(m, bytes_both);
  qlite_session* b = GreedySession(m, bytes_both);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(qlite_session_set_adapters(a, both, nullptr, 1), QLITE_OK);
  ASSERT_EQ(qlite_session_set_adapters(b, both + 1, nullptr, 1), QLITE_OK);
  EXPECT_LT(MaxAbsDiff(TeacherForced(a, ids, 512), RefLogits("pip")), 1e-4f);
  EXPECT_LT(MaxAbsDiff(TeacherForced(b, ids, 512), RefLogits("sea")), 1e-4f);
  ASSERT_EQ(qlite_session_set_adapters(a, both + 1, nullptr, 1), QLITE_OK);  // swap
  EXPECT_LT(MaxAbsDiff(TeacherForced(a, ids, 512), RefLogits("sea")), 1e-4f);
  ASSERT_EQ(qlite_session_set_adapters(a, both, nullptr, 2), QLITE_OK);
  EXPECT_LT(MaxAbsDiff(TeacherForced(a, ids, 512), RefLogits("pip_sea")), 1e-4f);
  ASSERT_EQ(qlite_session_set_adapters(a, nullptr, nullptr, 0), QLITE_OK);
  EXPECT_LT(MaxAbsDiff(TeacherForced(a, ids, 512), RefLogits("base")), 1e-4f);
  EXPECT_LT(MaxAbsDiff(TeacherForced(b, ids, 512), RefLogits("sea")), 1e-4f);  // b untouched

  // Too little adapter memory: refused with the numbers, and the session runs the base.
  qlite_session* small = GreedySession(m, bytes_pip / 2);
  ASSERT_TRUE(small);
  EXPECT_EQ(qlite_session_set_adapters(small, both, nullptr, 1), QLITE_ERR_OUT_OF_MEMORY);
  EXPECT_NE(std::string(qlite_last_error()).find("adapter_memory"), std::string::npos);
  EXPECT_LT(MaxAbsDiff(TeacherForced(small, ids, 512), RefLogits("base")), 1e-4f);
  EXPECT_EQ(qlite_session_set_adapters(small, both + 1, nullptr, 1), QLITE_OK);  // sea fits
  const float bad = NAN;
  EXPECT_EQ(qlite_session_set_adapters(small, both + 1, &bad, 1), QLITE_ERR_INVALID_ARGUMENT);
  qlite_session_free(small);
  qlite_session_free(a);
  qlite_session_free(b);
  qlite_adapter_free(pip);
  qlite_adapter_free(sea);
  qlite_model_free(m);
}

// Requantizing the merged tensors adds error: measured against merging before quantizing.
TEST_F(LoadMerge, QuantizedBasesStayCloseToMergeAtConversion) {
  // Teacher-forced over the reference greedy continuations of the pip variant (3 x 69 ids).
  const std::string greedy = ReadFile(Data("refs/greedy.json"));
  std::vector<std::vector<int32_t>> seqs;
  size_t at = greedy.find("\"pip\": [");
  for (int p = 0; p < 3; ++p) {
    size_t end = 0;
    auto ids = qlite_e2e::Ints(qlite_e2e::JsonArray(greedy, "prompt_ids", at, &end));
    const auto gen = qlite_e2e::Ints(qlite_e2e::JsonArray(greedy, "generated_ids", end, &end));
    at = end;
    ids.insert(ids.end(), gen.begin(), gen.end());
    seqs.push_back(ids);
  }
  for (DType d : {DType::I8, DType::I4}) {
    const std::string merged = TempPath("convq_" + std::to_string(int(d)) + ".qlm");
    ASSERT_TRUE(ConvertMerged(Base::kLlama2c, {PeftDir("pip")}, {1.0f}, d, merged).ok());
    std::vector<float> conv, load, f32;
    for (const auto& ids : seqs) {
      const auto c = LogitsOfFile(merged, ids), l = LoadTimeLogits(d, {"pip"}, {1.0f}, ids);
      const auto r = LoadTimeLogits(DType::F32, {"pip"}, {1.0f}, ids);
      ASSERT_EQ(c.size(), ids.size() * 512);
      ASSERT_EQ(l.size(), c.size());
      conv.insert(conv.end(), c.begin(), c.end());
      load.insert(load.end(), l.begin(), l.end());
      f32.insert(f32.end(), r.begin(), r.end());
    }
    double kl = 0, agree = 0, kl_conv = 0, agree_conv = 0, kl_load = 0, agree_load = 0;
    KlAndAgreement(conv, load, 512, &kl, &agree);
    KlAndAgreement(f32, conv, 512, &kl_conv, &agree_conv);
    KlAndAgreement(f32, load, 512, &kl_load, &agree_load);
    const char* name = d == DType::I8 ? "q8" : "q4";
    std::printf("[ figures  ] %s over %zu positions: load-time vs conversion merge: KL %.3g nats, top-1 agreement "
                "%.1f%%; vs the f32 merge: conversion KL %.3g (%.1f%%), load-time KL %.3g (%.1f%%)\n",
                name, conv.size() / 512, kl, 100 * agree, kl_conv, 100 * agree_conv, kl_load, 100 * agree_load);
    EXPECT_GT(kl, 0.0) << name;  // requantization does change something
    // Requantizing adds about one more quantization error: bounded relative to the first.
    EXPECT_LT(kl_load, 4 * kl_conv + 1e-4) << name;
    EXPECT_LT(kl, d == DType::I8 ? 1e-2 : 1.0) << name;
    EXPECT_GE(agree, d == DType::I8 ? 0.95 : 0.7) << name;
    std::remove(merged.c_str());
  }
}

// A base stored Interleave16x4: the load-time merge requantizes into the same layout, and
// the result agrees with the RowMajor base's merge up to the kernels' summation order.
TEST_F(LoadMerge, Interleave16BaseMergesLikeRowMajor) {
  const auto ids = Logits16Ids();
  const std::string il16 = TempPath("base_il16.qlm");
  ASSERT_TRUE(ConvertMerged(Base::kLlama2c, {}, {}, DType::I4, il16, qlite::fb::Layout::Interleave16x4).ok());
  const auto want = LoadTimeLogits(DType::I4, {"pip"}, {1.0f}, ids);
  const auto got = LoadTimeLogitsOf(il16, {"pip"}, {1.0f}, ids);
  ASSERT_EQ(got.size(), want.size());
  ASSERT_FALSE(got.empty());
  double kl = 0, agree = 0;
  KlAndAgreement(want, got, 512, &kl, &agree);
  std::printf("[ figures  ] q4 Interleave16x4 vs RowMajor base, pip merged at load: KL %.3g nats, top-1 %.1f%%\n", kl,
              100 * agree);
  EXPECT_LT(kl, 1e-3);
  EXPECT_GE(agree, 0.95);
  // And the merge changed the output (the adapter was applied to the interleaved weights).
  const auto plain = LoadTimeLogitsOf(il16, {"pip"}, {0.0f}, ids);
  EXPECT_GT(MaxAbsDiff(plain, got), 0.1f);
  std::remove(il16.c_str());
}

TEST_F(LoadMerge, WrongBaseAndWrongShapeAreRefused) {
  // The .qla files are bound to the llama2.c base; the HF base has other q/k row order.
  const std::string hf = TempPath("hf_base.qlm");
  ASSERT_TRUE(ConvertMerged(Base::kHf, {}, {}, DType::F32, hf).ok());
  qlite_model* m = nullptr;
  ASSERT_EQ(qlite_model_open(hf.c_str(), nullptr, &m), QLITE_OK);
  qlite_adapter* a = nullptr;
  EXPECT_EQ(qlite_adapter_open(m, QlaPath("pip").c_str(), &a), QLITE_ERR_MISMATCH);
  EXPECT_NE(std::string(qlite_last_error()).find("base model"), std::string::npos) << qlite_last_error();
  EXPECT_EQ(a, nullptr);
  // PEFT folders bind by shape only, and are put in this base's order.
  ASSERT_EQ(qlite_adapter_open(m, PeftDir("sea").c_str(), &a), QLITE_OK) << qlite_last_error();
  qlite_session* s = GreedySession(m, 1 << 20);
  const qlite_adapter* set[] = {a};
  ASSERT_EQ(qlite_session_set_adapters(s, set, nullptr, 1), QLITE_OK);
  EXPECT_LT(MaxAbsDiff(TeacherForced(s, Logits16Ids(), 512), RefLogits("sea")), 1e-4f);
  // An adapter opened for another model is refused by the session.
  qlite_model* other = nullptr;
  ASSERT_EQ(qlite_model_open(BasePath(DType::F32).c_str(), nullptr, &other), QLITE_OK);
  qlite_session* s2 = GreedySession(other, 1 << 20);
  EXPECT_EQ(qlite_session_set_adapters(s2, set, nullptr, 1), QLITE_ERR_MISMATCH);
  qlite_session_free(s2);
  qlite_session_free(s);
  qlite_adapter_free(a);
  qlite_model_free(m);

  // Wrong shape: a correctly bound file whose tensor does not fit the base.
  qlite::LoraAdapter lora;
  ASSERT_TRUE(qlite::ReadAdapterFile(QlaPath("sea"), &lora).ok());
  lora.tensors[0].out += 4;
  lora.tensors[0].b.resize(lora.tensors[0].out * lora.tensors[0].rank, 0.5f);
  const std::string bad = TempPath("bad_shape.qla");
  ASSERT_TRUE(qlite::WriteAdapterFile(lora, lora.base_fingerprint, {}, bad).ok());
  EXPECT_EQ(qlite_adapter_open(other, bad.c_str(), &a), QLITE_ERR_MISMATCH);
  EXPECT_NE(std::string(qlite_last_error()).find("the base has"), std::string::npos) << qlite_last_error();
  qlite_model_free(other);
  std::remove(bad.c_str());

  // An adapter already merged at conversion is not applied a second time.
  const std::string merged = TempPath("merged_sea.qlm");
  ASSERT_TRUE(ConvertMerged(Base::kLlama2c, {PeftDir("sea")}, {1.0f}, DType::F32, merged).ok());
  ASSERT_EQ(qlite_model_open(merged.c_str(), nullptr, &m), QLITE_OK);
  EXPECT_EQ(qlite_adapter_open(m, QlaPath("sea").c_str(), &a), QLITE_ERR_MISMATCH);
  EXPECT_NE(std::string(qlite_last_error()).find("already merged"), std::string::npos) << qlite_last_error();
  ASSERT_EQ(qlite_adapter_open(m, QlaPath("pip").c_str(), &a), QLITE_OK);  // same base fingerprint
  qlite_adapter_free(a);
  qlite_model_free(m);
  std::remove(merged.c_str());
  std::remove(hf.c_str());
}

}  // namespace
