// QuantizeCalibrated and ApplyAwq on synthetic data: importance weighting and GPTQ lower
// the errors they target, the stored tensors decode like any other, AWQ is exact before
// rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "qlite/format/calibration.h"

namespace qlite {
namespace {

using fb::DType;

QuantSpec Spec(DType dtype, fb::DType scale_type = DType::F16, fb::Layout layout = fb::Layout::RowMajor) {
  QuantSpec s;
  s.dtype = dtype;
  s.scale_type = scale_type;
  s.layout = layout;
  return s;
}

// Inputs with a few loud channels and correlated neighbours, like real activations; their
// statistics and a weight matrix with outliers.
struct Problem {
  uint64_t rows = 48, cols = 96;
  std::vector<float> w;
  InputStats stats;
};

Problem MakeProblem(uint32_t seed) {
  Problem p;
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  p.w.resize(p.rows * p.cols);
  for (float& v : p.w) v = n01(rng) * (std::uniform_real_distribution<float>(0, 1)(rng) < 0.02f ? 6.0f : 1.0f);
  const uint64_t tokens = 400;
  std::vector<float> loud(p.cols);
  for (uint64_t c = 0; c < p.cols; ++c) loud[c] = c % 17 == 3 ? 20.0f : 0.3f + 0.02f * float(c % 5);
  p.stats.mean_sq.assign(p.cols, 0.0);
  p.stats.mean_abs.assign(p.cols, 0.0);
  p.stats.gram.assign(p.cols * p.cols, 0.0f);
  std::vector<double> gram(p.cols * p.cols, 0.0);
  std::vector<float> x(p.cols);
  for (uint64_t t = 0; t < tokens; ++t) {
    float prev = 0.0f;
    for (uint64_t c = 0; c < p.cols; ++c) {
      prev = 0.6f * prev + n01(rng);
      x[c] = prev * loud[c];
    }
    for (uint64_t i = 0; i < p.cols; ++i) {
      p.stats.mean_sq[i] += double(x[i]) * x[i] / tokens;
      p.stats.mean_abs[i] += std::fabs(x[i]) / tokens;
      for (uint64_t j = 0; j < p.cols; ++j) gram[i * p.cols + j] += double(x[i]) * x[j] / tokens;
    }
  }
  for (size_t i = 0; i < gram.size(); ++i) p.stats.gram[i] = float(gram[i]);
  p.stats.tokens = tokens;
  return p;
}

double Error(const QuantizedTensor& q, const Problem& p, bool gram) {
  double e = -1.0;
  EXPECT_TRUE(QuantizationError(q, p.w.data(), &p.stats, gram, &e).ok());
  return e;
}

TEST(QuantizeCalibrated, ImportanceLowersTheWeightedError) {
  const Problem p = MakeProblem(1);
  for (DType dt : {DType::I4, DType::U4, DType::NF4, DType::I8}) {
    QuantizedTensor rtn, weighted;
    ASSERT_TRUE(Quantize(p.w.data(), p.rows, p.cols, Spec(dt), &rtn).ok());
    CalibrationOptions how;
    ASSERT_TRUE(QuantizeCalibrated(p.w.data(), p.rows, p.cols, Spec(dt), &p.stats, how, &weighted).ok());
    const double e_rtn = Error(rtn, p, false), e_w = Error(weighted, p, false);
    std::printf("%s: weighted error %.4g (round-to-nearest %.4g)\n", fb::EnumNameDType(dt), e_w, e_rtn);
    EXPECT_LT(e_w, 0.9 * e_rtn) << fb::EnumNameDType(dt);
  }
}

TEST(QuantizeCalibrated, GptqLowersTheOutputError) {
  const Problem p = MakeProblem(2);
  for (DType dt : {DType::I4, DType::U4, DType::NF4}) {
    CalibrationOptions how;
    QuantizedTensor plain, gptq;
    ASSERT_TRUE(QuantizeCalibrated(p.w.data(), p.rows, p.cols, Spec(dt), &p.stats, how, &plain).ok());
    how.gptq = true;
    ASSERT_TRUE(QuantizeCalibrated(p.w.data(), p.rows, p.cols, Spec(dt), &p.stats, how, &gptq).ok());
    const double e_plain = Error(plain, p, true), e_gptq = Error(gptq, p, true);
    std::printf("%s: output error with GPTQ %.4g (without %.4g)\n", fb::EnumNameDType(dt), e_gptq, e_plain);
    EXPECT_LT(e_gptq, 0.8 * e_plain) << fb::EnumNameDType(dt);
  }
}

// The calibrated tensor is an ordinary stored tensor: every layout and scale type decodes to
// the same values, and without stats or importance it is Quantize's.
TEST(QuantizeCalibrated, StoresAnOrdinaryTensor) {
  const Problem p = MakeProblem(3);
  CalibrationOptions how;
  how.gptq = true;
  for (DType dt : {DType::I4, DType::U4}) {
    for (DType st : {DType::F16, DType::F32, DType::U8}) {
      QuantizedTensor rm, il;
      ASSERT_TRUE(QuantizeCalibrated(p.w.data(), p.rows, p.cols, Spec(dt, st), &p.stats, how, &rm).ok());
      std::vector<float> a(p.rows * p.cols), b(p.rows * p.cols);
      ASSERT_TRUE(Dequantize(ViewOf(rm), a.data()).ok());
      if (st != DType::U8) {
        ASSERT_TRUE(
            QuantizeCalibrated(p.w.data(), p.rows, p.cols, Spec(dt, st, fb::Layout::Interleave16x4), &p.stats, how, &il)
                .ok());
        ASSERT_TRUE(Dequantize(ViewOf(il), b.data()).ok());
        EXPECT_EQ(a, b);
      }
      double max_err = 0;
      for (size_t i = 0; i < a.size(); ++i) max_err = std::max(max_err, double(std::fabs(a[i] - p.w[i])));
      EXPECT_LT(max_err, 8.0);  // GPTQ moves values, but within the groups' ranges
    }
  }
  QuantizedTensor q, c;
  ASSERT_TRUE(Quantize(p.w.data(), p.rows, p.cols, Spec(DType::I4), &q).ok());
  CalibrationOptions rtn;
  rtn.importance = false;
  ASSERT_TRUE(QuantizeCalibrated(p.w.data(), p.rows, p.cols, Spec(DType::I4), &p.stats, rtn, &c).ok());
  EXPECT_EQ(q.data, c.data);
  EXPECT_EQ(q.scales, c.scales);
}

TEST(QuantizeCalibrated, RefusesMismatchedStatistics) {
  const Problem p = MakeProblem(4);
  InputStats wrong = p.stats;
  wrong.mean_sq.pop_back();
  QuantizedTensor q;
  EXPECT_FALSE(QuantizeCalibrated(p.w.data(), p.rows, p.cols, Spec(DType::I4), &wrong, CalibrationOptions(), &q).ok());
  wrong = p.stats;
  wrong.gram.resize(10);
  CalibrationOptions how;
  how.gptq = true;
  EXPECT_FALSE(QuantizeCalibrated(p.w.data(), p.rows, p.cols, Spec(DType::I4), &wrong, how, &q).ok());
}

TEST(QuantizeCalibrated, MatrixInputs) {
  EXPECT_EQ(MatrixInputOf("blk.3.attn_k", false), "blk.3.attn_in");
  EXPECT_EQ(MatrixInputOf("blk.12.attn_output", false), "blk.12.attn_output_in");
  EXPECT_EQ(MatrixInputOf("blk.0.ffn_up", false), "blk.0.ffn_in");
  EXPECT_EQ(MatrixInputOf("blk.0.ffn_down", false), "blk.0.ffn_down_in");
  EXPECT_EQ(MatrixInputOf("output", false), "output_in");
  EXPECT_EQ(MatrixInputOf("token_embd", true), "output_in");
  EXPECT_EQ(MatrixInputOf("token_embd", false), "");
  EXPECT_EQ(MatrixInputOf("blk.0.attn_norm", false), "");
  EXPECT_EQ(MatrixInputOf("blk.0.attn_q.bias", false), "");
}

// One layer of a model (GQA: 4 query heads over 2 KV heads) as a SourceModel whose
// tensors load from memory.
SourceModel OneLayer(std::mt19937* rng) {
  SourceModel m;
  ModelConfig& c = m.config;
  c.dim = 32, c.n_layers = 1, c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 8, c.ffn_dim = 48, c.vocab_size = 16;
  std::normal_distribution<float> n01(0.0f, 1.0f);
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float base) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    std::vector<float> v(n);
    for (float& x : v) x = base + 0.3f * n01(*rng);
    SourceTensor t;
    t.name = name;
    t.shape = shape;
    t.load = [v](std::vector<float>* out) {
      *out = v;
      return Status::Ok();
    };
    const uint64_t cols = shape.back();
    t.load_rows = [v, cols](uint64_t first, uint64_t count, float* out) {  // as a GGUF source reads them
      std::copy(v.begin() + first * cols, v.begin() + (first + count) * cols, out);
      return Status::Ok();
    };
    m.tensors.push_back(t);
  };
  add("blk.0.attn_norm", {32}, 1.0f);
  add("blk.0.ffn_norm", {32}, 1.0f);
  add("blk.0.attn_q", {32, 32}, 0.0f);
  add("blk.0.attn_k", {16, 32}, 0.0f);
  add("blk.0.attn_v", {16, 32}, 0.0f);
  add("blk.0.attn_v.bias", {16}, 0.0f);
  add("blk.0.attn_output", {32, 32}, 0.0f);
  add("blk.0.ffn_gate", {48, 32}, 0.0f);
  add("blk.0.ffn_up", {48, 32}, 0.0f);
  add("blk.0.ffn_down", {32, 48}, 0.0f);
  return m;
}

InputStats SkewedStats(uint64_t cols, std::mt19937* rng) {
  InputStats s;
  std::uniform_real_distribution<double> u(0.05, 1.0);
  for (uint64_t c = 0; c < cols; ++c) {
    const double a = u(*rng) * (c % 7 == 0 ? 30.0 : 1.0);
    s.mean_abs.push_back(a);
    s.mean_sq.push_back(2.0 * a * a);
  }
  s.tokens = 100;
  return s;
}

std::vector<float> Load(const SourceModel& m, const std::string& name) {
  for (const SourceTensor& t : m.tensors)
    if (t.name == name) {
      std::vector<float> v;
      EXPECT_TRUE(t.load(&v).ok());
      return v;
    }
  ADD_FAILURE() << "no " << name;
  return {};
}

// The layer's function is unchanged: q/k/v of norm-scaled inputs, the attention output's
// projection through v's rows, the FFN through up's rows.
TEST(Awq, FoldsExactlyBeforeRounding) {
  std::mt19937 rng(5);
  SourceModel base = OneLayer(&rng), scaled = base;
  ActivationStats stats;
  stats.inputs["blk.0.attn_in"] = SkewedStats(32, &rng);
  stats.inputs["blk.0.ffn_in"] = SkewedStats(32, &rng);
  stats.inputs["blk.0.ffn_down_in"] = SkewedStats(48, &rng);
  stats.inputs["blk.0.attn_output_in"] = SkewedStats(32, &rng);
  std::map<std::string, float> alphas;
  ASSERT_TRUE(ApplyAwq(Spec(DType::I4), &scaled, &stats, &alphas).ok());
  int moved = 0;
  for (const auto& [input, alpha] : alphas) moved += alpha > 0.0f;
  EXPECT_GT(moved, 0) << "no input was scaled: the test would prove nothing";
  // A row-range reader left on a tensor reads what its loader gives (the converter streams
  // such tensors from it).
  for (const SourceTensor& t : scaled.tensors) {
    if (!t.load_rows) continue;
    const std::vector<float> all = Load(scaled, t.name);
    std::vector<float> rows(all.size());
    ASSERT_TRUE(t.load_rows(0, all.size() / t.shape.back(), rows.data()).ok());
    EXPECT_EQ(rows, all) << t.name;
  }

  // Norm folded into q/k/v: W' diag(g') == W diag(g).
  for (const char* part : {"attn_q", "attn_k", "attn_v"}) {
    const std::vector<float> w0 = Load(base, std::string("blk.0.") + part), w1 = Load(scaled, std::string("blk.0.") + part);
    const std::vector<float> g0 = Load(base, "blk.0.attn_norm"), g1 = Load(scaled, "blk.0.attn_norm");
    const std::vector<float> b0 = Load(base, "blk.0.attn_v.bias"), b1 = Load(scaled, "blk.0.attn_v.bias");
    const std::vector<float> o0 = Load(base, "blk.0.attn_output"), o1 = Load(scaled, "blk.0.attn_output");
    const uint64_t rows = w0.size() / 32;
    for (uint64_t r = 0; r < rows; ++r) {
      // v's rows also carry the attention output's scales: compare through attn_output.
      if (std::string(part) == "attn_v") continue;
      for (uint64_t c = 0; c < 32; ++c) EXPECT_NEAR(w1[r * 32 + c] * g1[c], w0[r * 32 + c] * g0[c], 1e-4f);
    }
    if (std::string(part) != "attn_v") continue;
    // o · expand(v): every query head h reads v head h/2.
    for (uint64_t out = 0; out < 32; ++out)
      for (uint64_t c = 0; c < 32; ++c) {
        double y0 = 0, y1 = 0, yb0 = 0, yb1 = 0;
        for (uint64_t ch = 0; ch < 32; ++ch) {
          const uint64_t vrow = (ch / 8 / 2) * 8 + ch % 8;
          y0 += double(o0[out * 32 + ch]) * w0[vrow * 32 + c] * g0[c];
          y1 += double(o1[out * 32 + ch]) * w1[vrow * 32 + c] * g1[c];
          yb0 += double(o0[out * 32 + ch]) * b0[vrow];
          yb1 += double(o1[out * 32 + ch]) * b1[vrow];
        }
        EXPECT_NEAR(y1, y0, 1e-3);
        EXPECT_NEAR(yb1, yb0, 1e-3);
      }
  }
  // down · diag(up rows) · (up x): per FFN channel j, down[:, j] * up[j, :] * g unchanged.
  const std::vector<float> d0 = Load(base, "blk.0.ffn_down"), d1 = Load(scaled, "blk.0.ffn_down");
  const std::vector<float> u0 = Load(base, "blk.0.ffn_up"), u1 = Load(scaled, "blk.0.ffn_up");
  const std::vector<float> gt0 = Load(base, "blk.0.ffn_gate"), gt1 = Load(scaled, "blk.0.ffn_gate");
  const std::vector<float> f0 = Load(base, "blk.0.ffn_norm"), f1 = Load(scaled, "blk.0.ffn_norm");
  for (uint64_t j = 0; j < 48; ++j)
    for (uint64_t c = 0; c < 32; ++c) {
      EXPECT_NEAR(gt1[j * 32 + c] * f1[c], gt0[j * 32 + c] * f0[c], 1e-4f);
      for (uint64_t out = 0; out < 32; out += 7)
        EXPECT_NEAR(double(d1[out * 48 + j]) * u1[j * 32 + c] * f1[c], double(d0[out * 48 + j]) * u0[j * 32 + c] * f0[c],
                    1e-4);
    }
  // The statistics follow the new inputs.
  EXPECT_EQ(stats.inputs["blk.0.attn_in"].mean_sq.size(), 32u);
}

}  // namespace
}  // namespace qlite
