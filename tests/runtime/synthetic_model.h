// Small random models written through the real converter, and a plain double-precision
// reference forward pass to check the runtime against (llama2.c semantics, generalized to
// GQA, biases, both RoPE pairings, RoPE scaling and sliding windows).
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "qlite/format/convert.h"
#include "qlite/format/source_model.h"

namespace qlite_test {

using qlite::ModelConfig;

inline ModelConfig TinyConfig() {
  ModelConfig c;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_dim = 40;  // not a multiple of 32, like stories260K's 172
  c.vocab_size = 320;
  c.context_length = 64;
  c.bos_id = 1;
  c.eos_id = 2;
  c.tied_embeddings = true;
  return c;
}

inline qlite::TokenizerData TinyTokenizer(uint32_t vocab) {
  qlite::TokenizerData t;
  t.type = qlite::fb::TokenizerType::SentencePieceBPE;
  const char* specials[] = {"<unk>", "<s>", "</s>"};
  for (int i = 0; i < 3; ++i) {
    t.pieces.push_back(specials[i]);
    t.kinds.push_back(i == 0 ? qlite::fb::TokenKind::Unknown : qlite::fb::TokenKind::Control);
  }
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    t.pieces.push_back(buf);
    t.kinds.push_back(qlite::fb::TokenKind::Byte);
  }
  for (uint32_t i = 0; t.pieces.size() < vocab; ++i) {
    std::string p = "\xE2\x96\x81";  // "▁"
    p += (char)('a' + i % 26);
    if (i >= 26) p += (char)('a' + (i / 26) % 26);
    t.pieces.push_back(p);
    t.kinds.push_back(qlite::fb::TokenKind::Normal);
  }
  t.scores.assign(t.pieces.size(), 0.0f);
  for (size_t i = 259; i < t.scores.size(); ++i) t.scores[i] = -(float)i;
  t.unk_id = 0;
  return t;
}

// Tensors of the model, filled with deterministic random values (scaled like trained weights).
struct Weights {
  std::map<std::string, std::vector<float>> t;
  std::map<std::string, std::vector<uint64_t>> shape;
  const std::vector<float>& operator[](const std::string& n) const { return t.at(n); }
  bool has(const std::string& n) const { return t.count(n) != 0; }
};

inline Weights RandomWeights(const ModelConfig& c, uint32_t seed) {
  Weights w;
  std::mt19937 rng(seed);
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float scale, float mean = 0) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    std::normal_distribution<float> nd(mean, scale);
    std::vector<float> v(n);
    for (float& x : v) x = nd(rng);
    w.t[name] = v;
    w.shape[name] = shape;
  };
  const uint64_t dim = c.dim, qd = c.n_heads * c.head_dim, kvd = c.n_kv_heads * c.head_dim, ffn = c.ffn_dim;
  add("token_embd", {c.vocab_size, dim}, 1.0f);
  add("output_norm", {dim}, 0.1f, 1.0f);
  if (!c.tied_embeddings) add("output", {c.vocab_size, dim}, 1.0f / std::sqrt((float)dim));
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm", {dim}, 0.1f, 1.0f);
    add(p + "ffn_norm", {dim}, 0.1f, 1.0f);
    add(p + "attn_q", {qd, dim}, 1.0f / std::sqrt((float)dim));
    add(p + "attn_k", {kvd, dim}, 1.0f / std::sqrt((float)dim));
    add(p + "attn_v", {kvd, dim}, 1.0f / std::sqrt((float)dim));
    add(p + "attn_output", {dim, qd}, 1.0f / std::sqrt((float)qd));
    add(p + "ffn_gate", {ffn, dim}, 1.0f / std::sqrt((float)dim));
    add(p + "ffn_up", {ffn, dim}, 1.0f / std::sqrt((float)dim));
    add(p + "ffn_down", {dim, ffn}, 1.0f / std::sqrt((float)ffn));
    if (c.qkv_bias) {
      add(p + "attn_q.bias", {qd}, 0.5f);
      add(p + "attn_k.bias", {kvd}, 0.5f);
      add(p + "attn_v.bias", {kvd}, 0.5f);
    }
  }
  return w;
}

// Converts (config, weights) to a .qlm at `path` with the given weight scheme.
inline qlite::Status WriteModel(const ModelConfig& c, const Weights& w, const std::string& path,
                                qlite::fb::DType dtype = qlite::fb::DType::F32) {
  qlite::SourceModel src;
  src.config = c;
  src.tokenizer = TinyTokenizer(c.vocab_size);
  src.source_path = "synthetic";
  src.source_format = "llama2c";
  for (const auto& kv : w.t) {
    qlite::SourceTensor t;
    t.name = kv.first;
    t.shape = w.shape.at(kv.first);
    t.source_dtype = "F32";
    const std::vector<float>* values = &kv.second;
    t.load = [values](std::vector<float>* out) {
      *out = *values;
      return qlite::Status::Ok();
    };
    src.tensors.push_back(t);
  }
  qlite::ConvertOptions opt;
  opt.weights.dtype = dtype;
  const bool float_type = dtype == qlite::fb::DType::F32 || dtype == qlite::fb::DType::F16 ||
                          dtype == qlite::fb::DType::BF16;
  opt.embeddings.dtype = float_type ? dtype : qlite::fb::DType::I8;
  qlite::ConvertSummary summary;
  return qlite::ConvertModel(src, opt, path, nullptr, &summary);
}

// Reference forward pass: feeds tokens one by one, returns the logits after each.
// `window`/`sinks` describe the session's ring (0 window = context length).
class Reference {
 public:
  Reference(const ModelConfig& c, const Weights& w, uint32_t window, uint32_t sinks)
      : c_(c), w_(w), window_(window ? window : c.context_length), sinks_(sinks), k_(c.n_layers), v_(c.n_layers) {}

  std::vector<float> Step(int32_t token) {
    const uint32_t dim = c_.dim, hd = c_.head_dim, qd = c_.n_heads * hd, kvd = c_.n_kv_heads * hd;
    std::vector<double> x(dim);
    for (uint32_t i = 0; i < dim; ++i) x[i] = w_["token_embd"][token * dim + i];
    for (uint32_t l = 0; l < c_.n_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      std::vector<double> xn = Norm(x, w_[p + "attn_norm"]);
      std::vector<double> q = MatVec(p + "attn_q", xn), k = MatVec(p + "attn_k", xn), v = MatVec(p + "attn_v", xn);
      if (c_.qkv_bias) {
        for (uint32_t i = 0; i < qd; ++i) q[i] += w_[p + "attn_q.bias"][i];
        for (uint32_t i = 0; i < kvd; ++i) k[i] += w_[p + "attn_k.bias"][i];
        for (uint32_t i = 0; i < kvd; ++i) v[i] += w_[p + "attn_v.bias"][i];
      }
      k_[l].push_back(k);  // unrotated: each step rotates what it sees by position in the cache
      v_[l].push_back(v);
      // Positions this layer sees: its ring holds sinks + the most recent slots - sinks.
      const uint32_t sw = c_.sliding_window.empty() ? 0 : c_.sliding_window[l];
      const uint32_t span = sw ? std::min(sw, c_.context_length) : c_.context_length;
      const uint32_t slots = std::min(window_, span);
      const uint32_t sinks = slots < span ? std::min(sinks_, slots / 2) : 0;
      std::vector<uint32_t> seen;
      for (uint32_t t = 0; t <= pos_; ++t)
        if (t < sinks || t + (slots - sinks) > pos_) seen.push_back(t);
      // StreamingLLM: positions are places in the cache (sinks first, then the window in
      // order), the query at the last one; without wrapping they are the absolute positions.
      Rope(&q, c_.n_heads, uint32_t(seen.size() - 1));
      std::vector<std::vector<double>> keys(seen.size());
      for (size_t i = 0; i < seen.size(); ++i) {
        keys[i] = k_[l][seen[i]];
        Rope(&keys[i], c_.n_kv_heads, uint32_t(i));
      }
      std::vector<double> att(qd, 0.0);
      for (uint32_t h = 0; h < c_.n_heads; ++h) {
        const uint32_t kh = h / (c_.n_heads / c_.n_kv_heads);
        std::vector<double> s(seen.size());
        double mx = -1e300, sum = 0;
        for (size_t i = 0; i < seen.size(); ++i) {
          double d = 0;
          for (uint32_t j = 0; j < hd; ++j) d += q[h * hd + j] * keys[i][kh * hd + j];
          s[i] = d / std::sqrt((double)hd);
          mx = std::max(mx, s[i]);
        }
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (size_t i = 0; i < seen.size(); ++i)
          for (uint32_t j = 0; j < hd; ++j) att[h * hd + j] += s[i] / sum * v_[l][seen[i]][kh * hd + j];
      }
      std::vector<double> o = MatVec(p + "attn_output", att);
      for (uint32_t i = 0; i < dim; ++i) x[i] += o[i];
      xn = Norm(x, w_[p + "ffn_norm"]);
      std::vector<double> g = MatVec(p + "ffn_gate", xn), u = MatVec(p + "ffn_up", xn);
      for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      std::vector<double> d = MatVec(p + "ffn_down", g);
      for (uint32_t i = 0; i < dim; ++i) x[i] += d[i];
    }
    std::vector<double> xn = Norm(x, w_["output_norm"]);
    std::vector<double> logits = MatVec(c_.tied_embeddings ? "token_embd" : "output", xn);
    ++pos_;
    return std::vector<float>(logits.begin(), logits.end());
  }

 private:
  std::vector<double> Norm(const std::vector<double>& x, const std::vector<float>& g) const {
    double ss = 0;
    for (double e : x) ss += e * e;
    const double r = 1.0 / std::sqrt(ss / x.size() + c_.norm_eps);
    std::vector<double> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * g[i];
    return y;
  }
  std::vector<double> MatVec(const std::string& name, const std::vector<double>& x) const {
    const std::vector<float>& m = w_[name];
    const size_t cols = x.size(), rows = m.size() / cols;
    std::vector<double> y(rows, 0.0);
    for (size_t r = 0; r < rows; ++r)
      for (size_t j = 0; j < cols; ++j) y[r] += (double)m[r * cols + j] * x[j];
    return y;
  }
  void Rope(std::vector<double>* x, uint32_t n_heads, uint32_t pos) const {
    const uint32_t hd = c_.head_dim, rot = c_.rotary_dim ? c_.rotary_dim : hd;
    for (uint32_t h = 0; h < n_heads; ++h) {
      for (uint32_t i = 0; i < rot / 2; ++i) {
        double f = 1.0 / std::pow((double)c_.rope_theta, 2.0 * i / rot);
        if (c_.rope_scaling == qlite::RopeScaling::Linear) f /= c_.rope_factor;
        if (c_.rope_scaling == qlite::RopeScaling::Llama3) {  // Llama 3.1's rope_scaling
          const double old_ctx = c_.rope_original_context, wavelen = 2 * M_PI / f;
          const double lo = old_ctx / c_.rope_low_freq_factor, hi = old_ctx / c_.rope_high_freq_factor;
          if (wavelen > lo) {
            f /= c_.rope_factor;
          } else if (wavelen >= hi) {
            const double smooth = (old_ctx / wavelen - c_.rope_low_freq_factor) /
                                  (c_.rope_high_freq_factor - c_.rope_low_freq_factor);
            f = (1 - smooth) * f / c_.rope_factor + smooth * f;
          }
        }
        const double a = pos * f, cs = std::cos(a), sn = std::sin(a);
        const bool half = c_.rope_style == qlite::RopeStyle::RotateHalf;
        double* p0 = &(*x)[h * hd + (half ? i : 2 * i)];
        double* p1 = &(*x)[h * hd + (half ? i + rot / 2 : 2 * i + 1)];
        const double a0 = *p0, a1 = *p1;
        *p0 = a0 * cs - a1 * sn;
        *p1 = a0 * sn + a1 * cs;
      }
    }
  }

  ModelConfig c_;
  const Weights& w_;
  uint32_t window_, sinks_;
  uint32_t pos_ = 0;
  std::vector<std::vector<std::vector<double>>> k_, v_;  // [layer][pos][kvd]
};

inline std::string TempPath(const std::string& name) { return testing::TempDir() + "/" + name; }

}  // namespace qlite_test
