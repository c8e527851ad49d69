// QLITE_CUDA_GPU_TEST: whole-model forward passes on the GPU against a CPU forward pass
// (synthetic models in every scheme), and stories260K converted to .qlm (f32 against the
// published llama2.c logits and greedy output; q8/q4 against the CPU pass on the same file).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "cuda_reference_model.h"
#include "qlite/cuda/model.h"
#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/format/model_file.h"
#include "test_data.h"

namespace {

using namespace qlite_cuda_test;
using qlite::ModelConfig;
using qlite::cuda::CudaModel;
using qlite::cuda::CudaSession;
using qlite::cuda::CudaSessionParams;
using qlite::cuda::KvCacheType;
using qlite::KvRingShape;

QuantizedTensor F32Vector(uint32_t n, std::mt19937* rng, float base, float amp) {
  QuantSpec spec;
  spec.dtype = DType::F32;
  QuantizedTensor t = RandomTensor(1, n, spec, rng);
  std::uniform_real_distribution<float> u(-amp, amp);
  for (uint32_t i = 0; i < n; ++i) Put(&t.data, i, base + u(*rng));
  return t;
}

TensorMap SyntheticModel(const ModelConfig& c, const QuantSpec& w, const QuantSpec& e, uint32_t seed) {
  std::mt19937 rng(seed);
  TensorMap m;
  const uint32_t qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim;
  m.tensors["token_embd"] = RandomTensor(c.vocab_size, c.dim, e, &rng);
  if (!c.tied_embeddings) m.tensors["output"] = RandomTensor(c.vocab_size, c.dim, e, &rng);
  m.tensors["output_norm"] = F32Vector(c.dim, &rng, 1.0f, 0.2f);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    m.tensors[p + "attn_norm"] = F32Vector(c.dim, &rng, 1.0f, 0.2f);
    m.tensors[p + "ffn_norm"] = F32Vector(c.dim, &rng, 1.0f, 0.2f);
    m.tensors[p + "attn_q"] = RandomTensor(qd, c.dim, w, &rng);
    m.tensors[p + "attn_k"] = RandomTensor(kvd, c.dim, w, &rng);
    m.tensors[p + "attn_v"] = RandomTensor(kvd, c.dim, w, &rng);
    m.tensors[p + "attn_output"] = RandomTensor(c.dim, qd, w, &rng);
    m.tensors[p + "ffn_gate"] = RandomTensor(c.ffn_dim, c.dim, w, &rng);
    m.tensors[p + "ffn_up"] = RandomTensor(c.ffn_dim, c.dim, w, &rng);
    m.tensors[p + "ffn_down"] = RandomTensor(c.dim, c.ffn_dim, w, &rng);
    if (c.qkv_bias) {
      m.tensors[p + "attn_q.bias"] = F32Vector(qd, &rng, 0.0f, 0.5f);
      m.tensors[p + "attn_k.bias"] = F32Vector(kvd, &rng, 0.0f, 0.5f);
      m.tensors[p + "attn_v.bias"] = F32Vector(kvd, &rng, 0.0f, 0.5f);
    }
  }
  return m;
}

void ExpectLogitsNear(const float* got, const std::vector<float>& want, double rel,
                      const std::string& what) {
  double mx = 1.0;
  for (float v : want) mx = std::max(mx, double(std::fabs(v)));
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], rel * mx) << what << " logit " << i;
  }
}

struct SynthCase {
  const char* name;
  DType weights, embed;
  int group;  // 0 = per row
  bool tied, rotate_half, qkv_bias;
  uint32_t window, steps, max_batch;
  std::vector<uint32_t> sliding;
  uint32_t n_sinks = UINT32_MAX;  // automatic, as the CPU runtime's default
  KvCacheType kv = KvCacheType::kF32;
};

// Relative logit tolerance: f16/int8 caches may round a value the other way when the GPU's
// key differs from the reference's in its last bit.
double KvTolerance(KvCacheType t) {
  return t == KvCacheType::kF32 ? 2e-4 : t == KvCacheType::kF16 ? 2e-3 : 1e-2;
}

std::vector<KvRingShape> PlanOrFail(const ModelConfig& c, const CudaSessionParams& p) {
  std::vector<KvRingShape> rings;
  const qlite::Status st = qlite::cuda::PlanKvRings(c, p, &rings);
  EXPECT_TRUE(st.ok()) << st.message();
  return rings;
}

void ExpectSameRings(const CudaSession& s, const std::vector<KvRingShape>& want) {
  ASSERT_EQ(s.kv_rings().size(), want.size());
  for (size_t l = 0; l < want.size(); ++l) {
    EXPECT_EQ(s.kv_rings()[l].slots, want[l].slots) << "layer " << l;
    EXPECT_EQ(s.kv_rings()[l].sinks, want[l].sinks) << "layer " << l;
  }
}

TEST(CudaModel, SyntheticModelsMatchCpuForwardPass) {
  const SynthCase cases[] = {
      {"i4 tied interleaved", DType::I4, DType::I8, 32, true, false, false, 64, 9, 4, {}},
      {"u4 rotate-half qwen bias", DType::U4, DType::F16, 64, false, true, true, 64, 7, 3, {}},
      {"i8 per-row, ring wraps", DType::I8, DType::I8, 0, true, false, false, 8, 20, 3, {}},
      {"nf4, i4 embeddings", DType::NF4, DType::I4, 64, false, false, false, 32, 6, 6, {}},
      // Layer 0's ring is its own 4-position window (no sinks), layer 1's 16 of 256 (4 sinks).
      {"f32 sliding window", DType::F32, DType::F32, 32, false, true, false, 16, 24, 5, {4, 0}},
      {"f32 no sinks, wraps", DType::F32, DType::F32, 32, true, false, false, 8, 21, 4, {}, 0},
      {"i4 f16 kv, 2 sinks", DType::I4, DType::I8, 32, true, false, false, 10, 30, 7, {}, 2, KvCacheType::kF16},
      {"f32 f16 kv, auto sinks", DType::F32, DType::F32, 32, false, false, false, 12, 29, 5, {}, UINT32_MAX, KvCacheType::kF16},
      {"i8 q8 kv, qwen bias", DType::I8, DType::F16, 32, false, true, true, 12, 26, 8, {}, 1, KvCacheType::kQ8},
      // Window 8 inside layer 0's 16-position sliding window: sinks there too (automatic).
      {"f32 ring shorter than sliding window", DType::F32, DType::F32, 32, false, false, false, 8, 25, 6, {16, 0}},
  };
  for (const SynthCase& sc : cases) {
    SCOPED_TRACE(sc.name);
    ModelConfig c;
    c.dim = 96, c.n_layers = 2, c.n_heads = 6, c.n_kv_heads = 2, c.head_dim = 16;
    c.ffn_dim = 172, c.vocab_size = 77, c.context_length = 256;
    c.tied_embeddings = sc.tied, c.qkv_bias = sc.qkv_bias;
    c.sliding_window.assign(sc.sliding.begin(), sc.sliding.end());
    c.rope_style = sc.rotate_half ? qlite::RopeStyle::RotateHalf : qlite::RopeStyle::Interleaved;
    QuantSpec w, e;
    w.dtype = sc.weights, e.dtype = sc.embed;
    w.granularity = e.granularity = sc.group ? qlite::fb::Granularity::Group : qlite::fb::Granularity::PerRow;
    w.group_size = e.group_size = sc.group ? sc.group : 32;
    const TensorMap tm = SyntheticModel(c, w, e, 11);
    std::unique_ptr<CudaModel> model;
    const qlite::Status st = CudaModel::Load(c, tm.Lookup(), &model);
    ASSERT_TRUE(st.ok()) << st.message();
    CudaSessionParams sp;
    sp.window = sc.window;
    sp.max_batch = sc.max_batch;
    sp.n_sink_tokens = sc.n_sinks;
    sp.kv_type = sc.kv;
    const std::vector<KvRingShape> rings = PlanOrFail(c, sp);
    std::unique_ptr<CudaSession> decode, direct, prefill;
    ASSERT_TRUE(CudaSession::Create(*model, sp, &decode).ok());
    ASSERT_TRUE(CudaSession::Create(*model, sp, &prefill).ok());
    sp.use_graphs = false;
    ASSERT_TRUE(CudaSession::Create(*model, sp, &direct).ok());
    ExpectSameRings(*decode, rings);
    RefModel ref(c, tm.Lookup(), rings, sc.kv);
    const double tol = KvTolerance(sc.kv);
    std::mt19937 rng(5);
    std::vector<int32_t> tokens;
    for (uint32_t s = 0; s < sc.steps; ++s) {
      tokens.push_back(static_cast<int32_t>(rng() % c.vocab_size));
      const std::vector<float> want = ref.Step(tokens.back());
      const float* got = nullptr;
      ASSERT_TRUE(decode->Decode(tokens.back(), &got).ok());
      ExpectLogitsNear(got, want, tol, "decode step " + std::to_string(s));
      ASSERT_TRUE(direct->Decode(tokens.back(), &got).ok());
      ExpectLogitsNear(got, want, tol, "direct decode step " + std::to_string(s));
      if (s == sc.steps - 1) {
        // Prefill in max_batch chunks; those that wrap a layer's ring store and attend token
        // by token there.
        const float* pl = nullptr;
        ASSERT_TRUE(prefill->Prefill(tokens.data(), tokens.size(), &pl).ok());
        ExpectLogitsNear(pl, want, tol, "prefill");
        EXPECT_EQ(prefill->position(), sc.steps);
      }
    }
    // Decoding on after a prefill that passed the window.
    const int32_t next = static_cast<int32_t>(rng() % c.vocab_size);
    const std::vector<float> want = ref.Step(next);
    const float* got = nullptr;
    ASSERT_TRUE(prefill->Decode(next, &got).ok());
    ExpectLogitsNear(got, want, tol, "decode after prefill");
    ASSERT_TRUE(decode->Decode(next, &got).ok());
    ExpectLogitsNear(got, want, tol, "last decode step");
    EXPECT_EQ(decode->Decode(-1, &got).code(), qlite::StatusCode::kInvalidArgument);
    EXPECT_EQ(decode->Decode(c.vocab_size, &got).code(), qlite::StatusCode::kInvalidArgument);
    decode->Reset();
    EXPECT_EQ(decode->position(), 0u);
  }
}

TEST(CudaModel, RejectsBadSessionParamsAsTheCpuRuntimeDoes) {
  ModelConfig c;
  c.dim = 64, c.n_layers = 1, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 16;
  c.ffn_dim = 64, c.vocab_size = 10, c.context_length = 32;
  QuantSpec w;
  w.dtype = DType::I8;
  const TensorMap tm = SyntheticModel(c, w, w, 1);
  std::unique_ptr<CudaModel> model;
  ASSERT_TRUE(CudaModel::Load(c, tm.Lookup(), &model).ok());
  std::unique_ptr<CudaSession> s;
  CudaSessionParams p;
  p.window = 33;  // past the context length
  EXPECT_EQ(CudaSession::Create(*model, p, &s).code(), qlite::StatusCode::kInvalidArgument);
  p.window = 1;
  EXPECT_EQ(CudaSession::Create(*model, p, &s).code(), qlite::StatusCode::kInvalidArgument);
  p.window = 16, p.n_sink_tokens = 16;
  EXPECT_EQ(CudaSession::Create(*model, p, &s).code(), qlite::StatusCode::kInvalidArgument);
  p.n_sink_tokens = UINT32_MAX, p.kv_type = static_cast<KvCacheType>(7);
  EXPECT_EQ(CudaSession::Create(*model, p, &s).code(), qlite::StatusCode::kInvalidArgument);
  p.kv_type = KvCacheType::kF16;
  ASSERT_TRUE(CudaSession::Create(*model, p, &s).ok());
  EXPECT_EQ(s->window(), 16u);
  EXPECT_EQ(s->memory().kv_cache, 2u * 2 * 16 * 16 * 2);  // k and v, 2 heads, 16 slots, hd 16, f16
  EXPECT_EQ(s->kv_rings()[0].sinks, 4u);
  p.kv_type = KvCacheType::kQ8;
  ASSERT_TRUE(CudaSession::Create(*model, p, &s).ok());
  EXPECT_EQ(s->memory().kv_cache, 2u * 2 * 16 * (16 + 4));  // int8 rows + one f32 scale each
  c.context_length = 0;  // nothing recorded: the window must be given
  std::unique_ptr<CudaModel> open_ended;
  ASSERT_TRUE(CudaModel::Load(c, tm.Lookup(), &open_ended).ok());
  EXPECT_EQ(CudaSession::Create(*open_ended, CudaSessionParams(), &s).code(),
            qlite::StatusCode::kInvalidArgument);
}

TEST(CudaModel, RejectsBadModels) {
  ModelConfig c;
  c.dim = 64, c.n_layers = 1, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 16;
  c.ffn_dim = 64, c.vocab_size = 10, c.context_length = 32;
  QuantSpec w;
  w.dtype = DType::I4;
  TensorMap tm = SyntheticModel(c, w, w, 1);
  std::unique_ptr<CudaModel> model;
  TensorMap missing = tm;
  missing.tensors.erase("blk.0.ffn_up");
  EXPECT_EQ(CudaModel::Load(c, missing.Lookup(), &model).code(), qlite::StatusCode::kFormat);
  ModelConfig wrong = c;
  wrong.ffn_dim = 96;
  EXPECT_EQ(CudaModel::Load(wrong, tm.Lookup(), &model).code(), qlite::StatusCode::kFormat);
  wrong = c;
  wrong.n_kv_heads = 3;
  EXPECT_EQ(CudaModel::Load(wrong, tm.Lookup(), &model).code(), qlite::StatusCode::kFormat);
  QuantSpec g48 = w;
  g48.group_size = 48;
  TensorMap odd = SyntheticModel(c, g48, w, 1);
  EXPECT_EQ(CudaModel::Load(c, odd.Lookup(), &model).code(), qlite::StatusCode::kUnsupported);
}

// stories260K converted to .qlm with the project's own importer and converter.
class CudaStories : public ::testing::Test {
 protected:
  std::string Convert(const std::string& bin, const std::string& tok, DType dtype) {
    qlite::SourceModel src;
    const qlite::Status is = qlite::ImportLlama2c(bin, tok, &src);
    EXPECT_TRUE(is.ok()) << is.message();
    qlite::ConvertOptions opts;
    opts.weights.dtype = opts.embeddings.dtype = dtype;
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("qlite_cuda_" + std::to_string(getpid()) + "_" +
                               std::to_string(int(dtype)) + ".qlm")).string();
    const qlite::Status cs = qlite::ConvertModel(src, opts, path, nullptr, nullptr);
    EXPECT_TRUE(cs.ok()) << cs.message();
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& p : paths_) std::remove(p.c_str());
  }
  std::vector<std::string> paths_;
};

std::vector<int32_t> JsonInts(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  const std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<int32_t> out;
  const size_t k = s.find("\"" + key + "\"");
  if (k == std::string::npos) return out;
  const size_t b = s.find('[', k), e = s.find(']', b);
  const std::string list = s.substr(b + 1, e - b - 1);
  const std::regex num("-?[0-9]+");
  for (auto it = std::sregex_iterator(list.begin(), list.end(), num); it != std::sregex_iterator(); ++it) {
    out.push_back(std::stoi(it->str()));
  }
  return out;
}

TEST_F(CudaStories, F32MatchesPublishedLogitsAndGreedyOutput) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  QLITE_REQUIRE_DATA(tok, "stories260K/tok512.bin");
  QLITE_REQUIRE_DATA(ref_logits, "stories260K/reference_logits_first8.f32");
  QLITE_REQUIRE_DATA(ref_json, "stories260K/reference_logits_first8.json");
  QLITE_REQUIRE_DATA(greedy, "stories260K/reference_greedy_t0_ids.json");
  qlite::ModelFile file;
  ASSERT_TRUE(file.Open(Convert(bin, tok, DType::F32)).ok());
  std::unique_ptr<CudaModel> model;
  const qlite::Status st = CudaModel::Load(file, &model);
  ASSERT_TRUE(st.ok()) << st.message();
  std::unique_ptr<CudaSession> s;
  ASSERT_TRUE(CudaSession::Create(*model, CudaSessionParams(), &s).ok());
  const std::vector<int32_t> ids = JsonInts(ref_json, "input_ids");
  ASSERT_EQ(ids.size(), 8u);
  std::vector<float> want(8 * 512);
  std::ifstream(ref_logits, std::ios::binary).read(reinterpret_cast<char*>(want.data()), want.size() * 4);
  for (size_t t = 0; t < ids.size(); ++t) {
    const float* got = nullptr;
    ASSERT_TRUE(s->Decode(ids[t], &got).ok());
    for (int i = 0; i < 512; ++i) ASSERT_NEAR(got[i], want[t * 512 + i], 2e-4) << t << "," << i;
  }
  // Greedy from BOS, llama2.c semantics (stop at BOS or after 256 positions).
  const std::vector<int32_t> expected = JsonInts(greedy, "generated_ids");
  ASSERT_FALSE(expected.empty());
  s->Reset();
  int32_t token = 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const float* logits = nullptr;
    ASSERT_TRUE(s->Decode(token, &logits).ok());
    token = static_cast<int32_t>(std::max_element(logits, logits + 512) - logits);
    ASSERT_EQ(token, expected[i]) << "greedy step " << i;
  }
}

TEST_F(CudaStories, QuantizedMatchCpuForwardPassOnTheSameFile) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  QLITE_REQUIRE_DATA(tok, "stories260K/tok512.bin");
  const std::vector<int32_t> ids = {1, 403, 407, 261, 378, 432, 383, 286, 300, 17};
  for (DType dt : {DType::I8, DType::I4, DType::U4, DType::NF4}) {
    SCOPED_TRACE(int(dt));
    qlite::ModelFile file;
    ASSERT_TRUE(file.Open(Convert(bin, tok, dt)).ok());
    std::unique_ptr<CudaModel> model;
    ASSERT_TRUE(CudaModel::Load(file, &model).ok());
    std::unique_ptr<CudaSession> s;
    ASSERT_TRUE(CudaSession::Create(*model, CudaSessionParams(), &s).ok());
    RefModel ref(file.config(), [&file](const std::string& n, QuantizedView* v, bool* found) {
      const qlite::TensorRef* t = file.FindTensor(n);
      *found = t != nullptr;
      if (t) *v = t->view;
      return qlite::Status::Ok();
    }, PlanOrFail(file.config(), CudaSessionParams()));
    for (size_t t = 0; t < ids.size(); ++t) {
      const float* got = nullptr;
      ASSERT_TRUE(s->Decode(ids[t], &got).ok());
      ExpectLogitsNear(got, ref.Step(ids[t]), 2e-4, "position " + std::to_string(t));
    }
    std::unique_ptr<CudaSession> p;
    ASSERT_TRUE(CudaSession::Create(*model, CudaSessionParams(), &p).ok());
    const float* pl = nullptr;
    ASSERT_TRUE(p->Prefill(ids.data(), ids.size(), &pl).ok());
    RefModel ref2(file.config(), [&file](const std::string& n, QuantizedView* v, bool* found) {
      const qlite::TensorRef* t = file.FindTensor(n);
      *found = t != nullptr;
      if (t) *v = t->view;
      return qlite::Status::Ok();
    }, PlanOrFail(file.config(), CudaSessionParams()));
    std::vector<float> last;
    for (int32_t id : ids) last = ref2.Step(id);
    ExpectLogitsNear(pl, last, 2e-4, "prefill");
  }
}

}  // namespace
