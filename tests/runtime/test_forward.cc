// The forward pass against a plain double-precision reference on small random models that
// exercise each architecture feature, and prefill (batched, chunked) against decode.
#include <gtest/gtest.h>

#include <memory>
#include <utility>
#include <vector>

#include "model.h"
#include "qlite/qlite.h"
#include "session.h"
#include "synthetic_model.h"

namespace qlite {
namespace {

using qlite_test::Reference;
using qlite_test::TinyConfig;

struct Case {
  const char* name;
  ModelConfig config;
  uint32_t window = 0;
  uint32_t batch = 64;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  cases.push_back({"llama_gqa_tied", TinyConfig()});
  {
    ModelConfig c = TinyConfig();  // Qwen2: q/k/v biases, HF rotate-half RoPE, MQA, q_dim != dim
    c.arch = Arch::Qwen2;
    c.qkv_bias = true;
    c.rope_style = RopeStyle::RotateHalf;
    c.n_heads = 4;
    c.n_kv_heads = 1;
    c.head_dim = 16;
    c.dim = 48;
    c.tied_embeddings = false;
    c.rope_theta = 1000000.0f;
    cases.push_back({"qwen2_bias_rotate_half_mqa", c});
  }
  {
    ModelConfig c = TinyConfig();  // Mistral: sliding window on one layer
    c.arch = Arch::Mistral;
    c.sliding_window = {6, 0};
    c.n_kv_heads = 4;  // MHA
    cases.push_back({"mistral_sliding_mha", c});
  }
  {
    ModelConfig c = TinyConfig();  // partial rotary dims + linear scaling
    c.rotary_dim = 4;
    c.rope_scaling = RopeScaling::Linear;
    c.rope_factor = 2.0f;
    cases.push_back({"partial_rotary_linear_scaling", c});
  }
  {
    ModelConfig c = TinyConfig();  // Llama 3.1 RoPE scaling (some frequencies in each band)
    c.rope_theta = 500000.0f;
    c.rope_scaling = RopeScaling::Llama3;
    c.rope_factor = 8.0f;
    c.rope_low_freq_factor = 1.0f;
    c.rope_high_freq_factor = 16.0f;
    c.rope_original_context = 256;  // wavelengths 6.3 (kept), 167 (blended), 4443 (scaled)
    cases.push_back({"llama3_rope_scaling", c});
  }
  {
    Case c{"window_with_sinks_small_batches", TinyConfig()};
    c.window = 10;  // < context: sinks on; 40 tokens wrap the ring several times
    c.batch = 7;
    cases.push_back(c);
  }
  return cases;
}

class ForwardTest : public testing::TestWithParam<size_t> {};

TEST_P(ForwardTest, MatchesReferenceInPrefillAndDecode) {
  const Case tc = Cases()[GetParam()];
  const qlite_test::Weights w = qlite_test::RandomWeights(tc.config, 11 + (uint32_t)GetParam());
  const std::string path = qlite_test::TempPath(std::string(tc.name) + ".qlm");
  ASSERT_TRUE(qlite_test::WriteModel(tc.config, w, path).ok());
  std::unique_ptr<Model> model;
  Status st = Model::Open(path, ModelOpenOptions(), &model);
  ASSERT_TRUE(st.ok()) << st.message();

  std::vector<int32_t> tokens;
  for (int i = 0; i < 40; ++i) tokens.push_back((i * 37 + 5) % (int)tc.config.vocab_size);
  Reference ref(tc.config, w, tc.window, 4);
  std::vector<std::vector<float>> want;
  for (int32_t t : tokens) want.push_back(ref.Step(t));

  qlite_session_params p = qlite_session_default_params();
  p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
  p.window = tc.window;
  p.max_batch = tc.batch;
  for (uint32_t threads : {1u, 2u}) {
    p.n_threads = threads;
    Session* s = nullptr;
    st = Session::Create(*model, p, &s);
    ASSERT_TRUE(st.ok()) << st.message();
    // Decode one at a time: every step's logits.
    for (size_t i = 0; i < tokens.size(); ++i) {
      ASSERT_TRUE(s->Decode(tokens[i]).ok());
      for (uint32_t v = 0; v < tc.config.vocab_size; ++v)
        ASSERT_NEAR(s->logits()[v], want[i][v], 1e-3f * (1 + std::fabs(want[i][v])))
            << tc.name << " decode step " << i << " vocab " << v;
    }
    // Prefill in chunks of max_batch: the last logits.
    s->Reset();
    for (size_t n : {size_t(1), size_t(9), tokens.size()}) {
      s->Reset();
      ASSERT_TRUE(s->Prefill(tokens.data(), n).ok());
      for (uint32_t v = 0; v < tc.config.vocab_size; ++v)
        ASSERT_NEAR(s->logits()[v], want[n - 1][v], 1e-3f * (1 + std::fabs(want[n - 1][v])))
            << tc.name << " prefill of " << n << " vocab " << v;
    }
    Session::Destroy(s);
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, ForwardTest, testing::Range<size_t>(0, Cases().size()),
                         [](const testing::TestParamInfo<size_t>& i) { return Cases()[i.param].name; });

TEST(Forward, QuantizedWeightsStayCloseToFloat) {
  ModelConfig c = TinyConfig();
  const qlite_test::Weights w = qlite_test::RandomWeights(c, 3);
  std::vector<int32_t> tokens;
  for (int i = 0; i < 16; ++i) tokens.push_back((i * 53 + 3) % (int)c.vocab_size);
  Reference ref(c, w, 0, 4);
  std::vector<float> want;
  for (int32_t t : tokens) want = ref.Step(t);
  // Float weights go through Gemv/Gemm; integer ones through GemvQ8 with int8 activations.
  const std::pair<fb::DType, double> schemes[] = {{fb::DType::F16, 0.01}, {fb::DType::BF16, 0.05},
                                                  {fb::DType::I8, 0.05},  {fb::DType::I4, 0.3},
                                                  {fb::DType::U4, 0.3},   {fb::DType::NF4, 0.3}};
  for (const auto& scheme : schemes) {
    const fb::DType dt = scheme.first;
    const std::string path = qlite_test::TempPath("quant.qlm");
    ASSERT_TRUE(qlite_test::WriteModel(c, w, path, dt).ok());
    std::unique_ptr<Model> model;
    ASSERT_TRUE(Model::Open(path, ModelOpenOptions(), &model).ok());
    qlite_session_params p = qlite_session_default_params();
    p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
    Session* s = nullptr;
    ASSERT_TRUE(Session::Create(*model, p, &s).ok());
    for (int32_t t : tokens) ASSERT_TRUE(s->Decode(t).ok());  // GemvQ8 path
    double err = 0, norm = 0;
    for (uint32_t v = 0; v < c.vocab_size; ++v) {
      err += (s->logits()[v] - want[v]) * (s->logits()[v] - want[v]);
      norm += want[v] * want[v];
    }
    const double rel = std::sqrt(err / norm);
    std::printf("dtype %d: relative logit error %.4f\n", (int)dt, rel);
    EXPECT_LT(rel, scheme.second);
    EXPECT_GT(rel, 0.0);  // it is quantized
    Session::Destroy(s);
  }
}

}  // namespace
}  // namespace qlite
