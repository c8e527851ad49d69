// A CPU forward pass written for the tests from the model definition (llama2.c order),
// decoding weights with the spec-level SpecDecode and accumulating in double. Its KV cache
// follows the CPU runtime's semantics from their definition, not from a slot mapping: a
// layer whose ring has `slots` positions, `sinks` of them pinned, lets a token at p attend
// to every position while p < slots, after that to the sinks and the slots - sinks most
// recent; keys/values are kept as the cache type rounds them.
#pragma once
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "qlite/cuda/model.h"
#include "qlite/format/source_model.h"

namespace qlite_cuda_test {

class RefModel {
 public:
  RefModel(const qlite::ModelConfig& c, qlite::cuda::TensorLookup find,
           std::vector<qlite::KvRingShape> rings,
           qlite::cuda::KvCacheType kv_type = qlite::cuda::KvCacheType::kF32)
      : c_(c), find_(std::move(find)), rings_(std::move(rings)), kv_type_(kv_type),
        kh_(c.n_layers), vh_(c.n_layers) {
    EXPECT_EQ(rings_.size(), c.n_layers);
    const uint32_t rot = c.rotary_dim ? c.rotary_dim : c.head_dim;
    for (uint32_t i = 0; i < rot / 2; ++i) {
      inv_freq_.push_back(static_cast<float>(std::pow(double(c.rope_theta), -2.0 * i / rot)));
    }
  }

  std::vector<float> Step(int32_t token) {
    if (rings_.size() != c_.n_layers) return std::vector<float>(c_.vocab_size, 0.0f);  // failed above
    const uint32_t hd = c_.head_dim, qd = c_.n_heads * hd, kvd = c_.n_kv_heads * hd;
    const QuantizedView emb = Find("token_embd");
    std::vector<double> x(c_.dim);
    for (uint32_t i = 0; i < c_.dim; ++i) x[i] = SpecDecode(emb, token, i);
    for (uint32_t l = 0; l < c_.n_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      std::vector<double> xb = RmsNorm(x, p + "attn_norm");
      std::vector<double> q = MatVec(p + "attn_q", xb), k = MatVec(p + "attn_k", xb),
                          v = MatVec(p + "attn_v", xb);
      if (c_.qkv_bias) {
        AddBias(&q, p + "attn_q.bias"), AddBias(&k, p + "attn_k.bias"), AddBias(&v, p + "attn_v.bias");
      }
      for (uint32_t h = 0; h < c_.n_heads; ++h) Rope(&q[h * hd]);
      for (uint32_t h = 0; h < c_.n_kv_heads; ++h) Rope(&k[h * hd]);
      // The cache holds float rows (as computed in f32 by the runtimes), rounded per head.
      std::vector<double> kc(kvd), vc(kvd);
      for (uint32_t h = 0; h < c_.n_kv_heads; ++h) {
        std::vector<float> kf(k.begin() + h * hd, k.begin() + (h + 1) * hd);
        std::vector<float> vf(v.begin() + h * hd, v.begin() + (h + 1) * hd);
        kf = KvRound(kf.data(), hd, kv_type_), vf = KvRound(vf.data(), hd, kv_type_);
        std::copy(kf.begin(), kf.end(), kc.begin() + h * hd);
        std::copy(vf.begin(), vf.end(), vc.begin() + h * hd);
      }
      kh_[l].push_back(kc);
      vh_[l].push_back(vc);
      const uint32_t slots = rings_[l].slots, sinks = rings_[l].sinks;
      std::vector<uint32_t> seen;
      for (uint32_t p = 0; p <= pos_; ++p) {
        if (pos_ < slots || p < sinks || p + (slots - sinks) > pos_) seen.push_back(p);
      }
      const uint32_t span = static_cast<uint32_t>(seen.size());
      std::vector<double> att(qd, 0.0);
      for (uint32_t h = 0; h < c_.n_heads; ++h) {
        const uint32_t kvh = h / (c_.n_heads / c_.n_kv_heads);
        std::vector<double> s(span);
        double mx = -1e300, sum = 0;
        for (uint32_t i = 0; i < span; ++i) {
          double d = 0;
          for (uint32_t j = 0; j < hd; ++j) d += q[h * hd + j] * kh_[l][seen[i]][kvh * hd + j];
          s[i] = d / std::sqrt(double(hd));
          mx = std::max(mx, s[i]);
        }
        for (auto& e : s) sum += (e = std::exp(e - mx));
        for (uint32_t i = 0; i < span; ++i) {
          for (uint32_t j = 0; j < hd; ++j) att[h * hd + j] += s[i] / sum * vh_[l][seen[i]][kvh * hd + j];
        }
      }
      const std::vector<double> o = MatVec(p + "attn_output", att);
      for (uint32_t i = 0; i < c_.dim; ++i) x[i] += o[i];
      xb = RmsNorm(x, p + "ffn_norm");
      std::vector<double> g = MatVec(p + "ffn_gate", xb);
      const std::vector<double> u = MatVec(p + "ffn_up", xb);
      for (uint32_t i = 0; i < c_.ffn_dim; ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
      const std::vector<double> d = MatVec(p + "ffn_down", g);
      for (uint32_t i = 0; i < c_.dim; ++i) x[i] += d[i];
    }
    const std::vector<double> xn = RmsNorm(x, "output_norm");
    const std::vector<double> logits = MatVec(c_.tied_embeddings ? "token_embd" : "output", xn);
    ++pos_;
    return std::vector<float>(logits.begin(), logits.end());
  }

 private:
  QuantizedView Find(const std::string& name) {
    QuantizedView v;
    bool found = false;
    EXPECT_TRUE(find_(name, &v, &found).ok());
    EXPECT_TRUE(found) << name;
    return v;
  }
  std::vector<double> MatVec(const std::string& name, const std::vector<double>& x) {
    const QuantizedView w = Find(name);
    std::vector<double> y(w.rows, 0.0);
    for (uint64_t r = 0; r < w.rows; ++r) {
      for (uint64_t c = 0; c < w.cols; ++c) y[r] += SpecDecode(w, r, c) * x[c];
    }
    return y;
  }
  void AddBias(std::vector<double>* y, const std::string& name) {
    const QuantizedView b = Find(name);
    for (size_t i = 0; i < y->size(); ++i) (*y)[i] += SpecDecode(b, 0, i);
  }
  std::vector<double> RmsNorm(const std::vector<double>& x, const std::string& name) {
    const QuantizedView w = Find(name);
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / x.size() + c_.norm_eps);
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] * inv * SpecDecode(w, 0, i);
    return out;
  }
  void Rope(double* head) {
    const uint32_t rot = static_cast<uint32_t>(inv_freq_.size() * 2);
    const bool half = c_.rope_style == qlite::RopeStyle::RotateHalf;
    for (uint32_t i = 0; i < rot / 2; ++i) {
      const uint32_t a = half ? i : 2 * i, b = half ? i + rot / 2 : 2 * i + 1;
      const double ang = double(pos_) * inv_freq_[i];
      const double x0 = head[a], x1 = head[b];
      head[a] = x0 * std::cos(ang) - x1 * std::sin(ang);
      head[b] = x0 * std::sin(ang) + x1 * std::cos(ang);
    }
  }

  qlite::ModelConfig c_;
  qlite::cuda::TensorLookup find_;
  std::vector<qlite::KvRingShape> rings_;
  qlite::cuda::KvCacheType kv_type_;
  uint32_t pos_ = 0;
  std::vector<float> inv_freq_;
  std::vector<std::vector<std::vector<double>>> kh_, vh_;
};

// Tensors held in memory, looked up by name.
struct TensorMap {
  std::map<std::string, QuantizedTensor> tensors;
  qlite::cuda::TensorLookup Lookup() const {
    return [this](const std::string& name, QuantizedView* v, bool* found) {
      auto it = tensors.find(name);
      *found = it != tensors.end();
      if (*found) *v = View(it->second);
      return qlite::Status::Ok();
    };
  }
};

}  // namespace qlite_cuda_test
