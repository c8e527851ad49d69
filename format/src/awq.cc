// ApplyAwq: activation-aware per-channel scaling, searched per matrix input and folded into
// the preceding norm or projection (qlite/format/calibration.h).
#include <algorithm>
#include <cmath>
#include <memory>

#include "qlite/format/calibration.h"

namespace qlite {
namespace {

using Scales = std::shared_ptr<const std::vector<float>>;

// The matrices reading one input and where its scales fold: a norm (divided element-wise)
// or a projection whose output rows feed the input (rows divided; with heads: row j of the
// projection feeds input channels j + k*kv_dim for every query head sharing it).
struct Site {
  std::string input;
  std::vector<std::string> matrices;
  std::string fold;                   // tensor divided by the scales
  bool fold_rows = false;             // fold is a [rows, cols] projection (and its .bias)
};

// Rows of a matrix used to judge a scaling: all, or an even subsample of at most 256.
std::vector<float> SampleRows(const std::vector<float>& w, uint64_t rows, uint64_t cols, uint64_t* kept) {
  const uint64_t stride = std::max<uint64_t>(1, rows / 256);
  std::vector<float> out;
  for (uint64_t r = 0; r < rows; r += stride) out.insert(out.end(), w.begin() + r * cols, w.begin() + (r + 1) * cols);
  *kept = out.size() / cols;
  return out;
}

Status LoadMatrix(const SourceTensor& t, std::vector<float>* w) {
  w->clear();
  Status s = t.load(w);
  if (!s.ok()) return Status(s.code(), "loading " + t.name + ": " + s.message());
  const uint64_t n = t.shape.size() == 2 ? t.shape[0] * t.shape[1] : t.shape[0];
  if (w->size() != n) return StatusError(StatusCode::kMismatch, "tensor %s: loader gave %zu values", t.name.c_str(), w->size());
  return Status::Ok();
}

// Replaces t's loader by one that applies fn to the values; t loses its stored scheme and its
// row-range reader (which would read the values before fn).
template <class Fn>
void Transform(SourceTensor* t, Fn fn) {
  auto inner = t->load;
  const std::vector<uint64_t> shape = t->shape;
  t->load = [inner, shape, fn](std::vector<float>* out) -> Status {
    QLITE_RETURN_IF_ERROR(inner(out));
    fn(shape, out);
    return Status::Ok();
  };
  t->has_stored_scheme = false;
  t->stored_exact = false;
  t->load_stored = nullptr;
  t->load_rows = nullptr;
}

}  // namespace

Status ApplyAwq(const QuantSpec& weights, SourceModel* model, ActivationStats* stats,
                std::map<std::string, float>* alphas) {
  if (IsFloatType(weights.dtype)) return Status::Ok();  // nothing is rounded
  std::map<std::string, SourceTensor*> by_name;
  for (SourceTensor& t : model->tensors) by_name[t.name] = &t;
  const ModelConfig& c = model->config;
  const uint64_t hd = c.head_dim, kv_dim = uint64_t(c.n_kv_heads) * hd, group = c.n_heads / std::max(1u, c.n_kv_heads);

  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    // attn_output and ffn_down first: their folds rescale rows of attn_v and ffn_up, which
    // the attn_in and ffn_in searches then see as they will be quantized.
    const Site sites[] = {{p + "attn_output_in", {p + "attn_output"}, p + "attn_v", true},
                          {p + "ffn_down_in", {p + "ffn_down"}, p + "ffn_up", true},
                          {p + "attn_in", {p + "attn_q", p + "attn_k", p + "attn_v"}, p + "attn_norm", false},
                          {p + "ffn_in", {p + "ffn_gate", p + "ffn_up"}, p + "ffn_norm", false}};
    for (const Site& site : sites) {
      auto st = stats->inputs.find(site.input);
      auto fold = by_name.find(site.fold);
      if (st == stats->inputs.end() || fold == by_name.end()) continue;
      InputStats& in = st->second;
      const uint64_t cols = in.mean_abs.size();
      bool present = cols > 0;
      for (const std::string& m : site.matrices)
        present = present && by_name.count(m) && by_name[m]->shape.size() == 2 && by_name[m]->shape[1] == cols;
      if (!present) continue;
      // The attention output's channel h*head_dim + d is v's row (h / group)*head_dim + d:
      // heads sharing a v row share its scale, so their salience is averaged.
      const bool heads = site.fold_rows && site.fold == p + "attn_v";
      std::vector<double> salience(in.mean_abs);
      if (heads) {
        if (cols != uint64_t(c.n_heads) * hd) continue;
        std::vector<double> per_kv(kv_dim, 0.0);
        for (uint64_t ch = 0; ch < cols; ++ch) per_kv[(ch / hd / group) * hd + ch % hd] += in.mean_abs[ch] / double(group);
        for (uint64_t ch = 0; ch < cols; ++ch) salience[ch] = per_kv[(ch / hd / group) * hd + ch % hd];
      }
      const double top = *std::max_element(salience.begin(), salience.end());
      if (!(top > 0.0)) continue;
      for (double& a : salience) a = std::max(a, 1e-4 * top);

      // The matrices as they will be quantized, a row subsample of each.
      std::vector<std::vector<float>> sample(site.matrices.size());
      std::vector<uint64_t> sample_rows(site.matrices.size());
      for (size_t i = 0; i < site.matrices.size(); ++i) {
        std::vector<float> w;
        QLITE_RETURN_IF_ERROR(LoadMatrix(*by_name[site.matrices[i]], &w));
        sample[i] = SampleRows(w, by_name[site.matrices[i]]->shape[0], cols, &sample_rows[i]);
      }
      auto scales_for = [&](float alpha) {
        std::vector<float> s(cols);
        double lo = 1e300, hi = 0.0;
        for (uint64_t ch = 0; ch < cols; ++ch) {
          s[ch] = float(std::pow(salience[ch], double(alpha)));
          lo = std::min<double>(lo, s[ch]), hi = std::max<double>(hi, s[ch]);
        }
        const float norm = float(std::sqrt(lo * hi));
        for (float& v : s) v /= norm;
        return s;
      };
      // Error of the scaled matrices against themselves, weighted by the scaled inputs'
      // E[x^2]: the quantization error of the layer's output (diagonal approximation).
      auto error_for = [&](const std::vector<float>& s, double* err) -> Status {
        InputStats scaled;
        scaled.mean_sq.resize(cols);
        for (uint64_t ch = 0; ch < cols; ++ch) scaled.mean_sq[ch] = in.mean_sq[ch] / (double(s[ch]) * s[ch]);
        *err = 0.0;
        for (size_t i = 0; i < sample.size(); ++i) {
          std::vector<float> w = sample[i];
          for (uint64_t r = 0; r < sample_rows[i]; ++r)
            for (uint64_t ch = 0; ch < cols; ++ch) w[r * cols + ch] *= s[ch];
          QuantizedTensor q;
          QLITE_RETURN_IF_ERROR(Quantize(w.data(), sample_rows[i], cols, weights, &q));
          double e = 0.0;
          QLITE_RETURN_IF_ERROR(QuantizationError(q, w.data(), &scaled, false, &e));
          *err += e;
        }
        return Status::Ok();
      };
      float best_alpha = 0.0f;
      double best = 0.0;
      QLITE_RETURN_IF_ERROR(error_for(std::vector<float>(cols, 1.0f), &best));
      for (int step = 1; step <= 10; ++step) {
        const float alpha = 0.1f * step;
        double e = 0.0;
        QLITE_RETURN_IF_ERROR(error_for(scales_for(alpha), &e));
        if (e < best) best = e, best_alpha = alpha;
      }
      if (alphas) (*alphas)[site.input] = best_alpha;
      if (best_alpha == 0.0f) continue;

      const Scales s = std::make_shared<const std::vector<float>>(scales_for(best_alpha));
      for (const std::string& m : site.matrices)
        Transform(by_name[m], [s](const std::vector<uint64_t>& shape, std::vector<float>* w) {
          const uint64_t n = shape[1];
          for (uint64_t r = 0; r < shape[0]; ++r)
            for (uint64_t ch = 0; ch < n; ++ch) (*w)[r * n + ch] *= (*s)[ch];
        });
      // The fold: a norm divided by s, or the rows feeding the input (and their bias).
      std::shared_ptr<const std::vector<float>> fold_scales = s;
      if (heads) {  // one scale per v row: that of its first query head's channel
        std::vector<float> per_row(kv_dim);
        for (uint64_t row = 0; row < kv_dim; ++row) per_row[row] = (*s)[(row / hd) * group * hd + row % hd];
        fold_scales = std::make_shared<const std::vector<float>>(std::move(per_row));
      }
      for (const std::string& name : {site.fold, site.fold + ".bias"}) {
        auto it = by_name.find(name);
        if (it == by_name.end()) continue;
        Transform(it->second, [fold_scales](const std::vector<uint64_t>& shape, std::vector<float>* w) {
          const uint64_t rows = shape[0], n = shape.size() == 2 ? shape[1] : 1;
          for (uint64_t r = 0; r < rows && r < fold_scales->size(); ++r)
            for (uint64_t ch = 0; ch < n; ++ch) (*w)[r * n + ch] /= (*fold_scales)[r];
        });
      }
      for (uint64_t i = 0; i < cols; ++i) {
        in.mean_sq[i] /= double((*s)[i]) * (*s)[i];
        in.mean_abs[i] /= (*s)[i];
      }
      if (!in.gram.empty())
        for (uint64_t i = 0; i < cols; ++i)
          for (uint64_t j = 0; j < cols; ++j) in.gram[i * cols + j] /= (*s)[i] * (*s)[j];
    }
  }
  return Status::Ok();
}

}  // namespace qlite
