// QuantizeCalibrated: Quantize's stages with the group parameters searched under importance
// weights and, optionally, the codes chosen by GPTQ (qlite/format/calibration.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "qlite/format/calibration.h"
#include "quantize_stages.h"

namespace qlite {
namespace {

using quant::CodeOf;
using quant::ValueOf;

// Weighted squared error of a group quantized with (scale, min), codes by rounding.
double GroupError(fb::DType dt, const float* x, const float* w, uint64_t n, float scale, float min) {
  double err = 0.0;
  for (uint64_t i = 0; i < n; ++i) {
    const double e = x[i] - ValueOf(dt, CodeOf(dt, x[i], scale, min), scale, min);
    err += w[i] * e * e;
  }
  return err;
}

// Least-squares scale for fixed codes: argmin_d sum w (x - d*level)^2 (symmetric schemes).
float RefitScale(fb::DType dt, const float* x, const float* w, uint64_t n, float scale) {
  double num = 0.0, den = 0.0;
  for (uint64_t i = 0; i < n; ++i) {
    const double level = ValueOf(dt, CodeOf(dt, x[i], scale, 0.0f), 1.0f, 0.0f);
    num += w[i] * x[i] * level;
    den += w[i] * level * level;
  }
  return den > 0.0 ? float(num / den) : scale;
}

// Searches a symmetric scheme's scale: candidates that map the signed max-abs value (or the
// max-abs magnitude) to a shrinking code, each refit by least squares; keeps the best.
void SearchSymmetric(fb::DType dt, const float* x, const float* w, uint64_t n, float* scale) {
  float mx = 0.0f;
  for (uint64_t i = 0; i < n; ++i)
    if (std::fabs(x[i]) > std::fabs(mx)) mx = x[i];
  if (mx == 0.0f) return;
  double best = GroupError(dt, x, w, n, *scale, 0.0f);
  auto consider = [&](float d) {
    if (!(std::fabs(d) > 0.0f) || !std::isfinite(d)) return;
    for (float cand : {d, RefitScale(dt, x, w, n, d)}) {
      const double e = GroupError(dt, x, w, n, cand, 0.0f);
      if (e < best) best = e, *scale = cand;
    }
  };
  if (dt == fb::DType::I4) {  // codes -8..7: the extreme value at -8 or +7, clipped down to 4
    for (float k = 8.0f; k >= 4.0f; k -= 0.125f) consider(mx / -k);
    for (float k = 7.0f; k >= 4.0f; k -= 0.25f) consider(mx / k);
  } else if (dt == fb::DType::I8) {
    for (float r = 1.0f; r >= 0.8f; r -= 0.01f) consider(std::fabs(mx) * r / 127.0f);
  } else {  // NF4: levels in [-1, 1]
    for (float r = 1.0f; r >= 0.6f; r -= 0.02f) consider(std::fabs(mx) * r);
  }
}

// U4 (value = code*scale + min): candidate steps around (max-min)/15, codes by rounding
// from the min, then (scale, min) refit jointly by weighted least squares (llama.cpp's
// make_qkx2_quants does the same for Q4_K).
void SearchAsymmetric(const float* x, const float* w, uint64_t n, float* scale, float* min) {
  const float lo = *std::min_element(x, x + n), hi = *std::max_element(x, x + n);
  if (!(hi > lo)) return;
  double best = GroupError(fb::DType::U4, x, w, n, *scale, *min);
  for (int step = 0; step <= 24; ++step) {
    const float inv = (13.0f + 0.125f * step) / (hi - lo);
    double sw = 0, sl = 0, sll = 0, sx = 0, slx = 0;
    for (uint64_t i = 0; i < n; ++i) {
      const double l = std::clamp(quant::RoundI(inv * (x[i] - lo)), 0, 15);
      sw += w[i], sl += w[i] * l, sll += w[i] * l * l, sx += w[i] * x[i], slx += w[i] * l * x[i];
    }
    const double det = sw * sll - sl * sl;
    if (!(det > 0.0)) continue;
    const float d = float((sw * slx - sl * sx) / det), m = float((sll * sx - sl * slx) / det);
    if (!(d > 0.0f) || !std::isfinite(m)) continue;
    const double e = GroupError(fb::DType::U4, x, w, n, d, m);
    if (e < best) best = e, *scale = d, *min = m;
  }
}

// Upper-triangular U with H^-1 = U^T U (what GPTQ walks), from H = R R^T with R upper
// (Cholesky of H with its indices reversed) and U = R^-1. False if H is not positive
// definite after damping.
bool InverseCholeskyUpper(std::vector<double> h, uint64_t n, std::vector<float>* u_out) {
  // Reverse the indices, lower Cholesky in place: a = M M^T.
  std::vector<double> a(n * n);
  for (uint64_t i = 0; i < n; ++i)
    for (uint64_t j = 0; j < n; ++j) a[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
  for (uint64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (uint64_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0.0)) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (uint64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      const double* ai = &a[i * n];
      const double* aj = &a[j * n];
      for (uint64_t k = 0; k < j; ++k) s -= ai[k] * aj[k];
      a[i * n + j] = s / d;
    }
  }
  // R[i][j] = M[n-1-i][n-1-j] is upper; U = R^-1, column by column.
  auto R = [&](uint64_t i, uint64_t j) { return a[(n - 1 - i) * n + (n - 1 - j)]; };
  std::vector<double> u(n * n, 0.0);
  for (uint64_t j = 0; j < n; ++j) {
    u[j * n + j] = 1.0 / R(j, j);
    for (uint64_t i = j; i-- > 0;) {
      double s = 0.0;
      for (uint64_t k = i + 1; k <= j; ++k) s += R(i, k) * u[k * n + j];
      u[i * n + j] = -s / R(i, i);
    }
  }
  u_out->assign(u.begin(), u.end());
  return true;
}

// GPTQ codes with the group parameters fixed: row by row (rows are independent), column by
// column in order of decreasing input energy (act-order: the columns that matter most are
// rounded first, while the most columns remain to absorb their error), each rounding error
// spread over the later columns through U.
Status GptqCodes(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec,
                 const quant::GroupParams& params, const InputStats& stats, float damp, std::vector<int>* codes) {
  std::vector<uint64_t> order(cols);
  for (uint64_t i = 0; i < cols; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint64_t a, uint64_t b) {
    return stats.gram[a * cols + a] > stats.gram[b * cols + b];
  });
  std::vector<double> h(cols * cols);
  double mean_diag = 0.0;
  for (uint64_t i = 0; i < cols; ++i) mean_diag += stats.gram[i * cols + i];
  mean_diag = std::max(mean_diag / double(cols), 1e-12);
  for (uint64_t i = 0; i < cols; ++i)
    for (uint64_t j = 0; j < cols; ++j) h[i * cols + j] = stats.gram[order[i] * cols + order[j]];
  for (uint64_t i = 0; i < cols; ++i) h[i * cols + i] += damp * mean_diag + (h[i * cols + i] > 0.0 ? 0.0 : mean_diag);
  std::vector<float> u;
  if (!InverseCholeskyUpper(std::move(h), cols, &u))
    return Status(StatusCode::kInvalidArgument, "GPTQ: the inputs' Hessian is not positive definite (raise the damping)");
  // Rows go in blocks that share each row of U while it is in cache (U is cols^2 floats).
  constexpr uint64_t kBlock = 16;
  const uint64_t gpr = GroupsPerRow(spec, cols);
  std::vector<float> w(kBlock * cols), err(kBlock);
  codes->resize(rows * cols);
  for (uint64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const uint64_t nb = std::min(kBlock, rows - r0);
    for (uint64_t b = 0; b < nb; ++b)
      for (uint64_t k = 0; k < cols; ++k) w[b * cols + k] = src[(r0 + b) * cols + order[k]];
    for (uint64_t k = 0; k < cols; ++k) {
      const float* uk = &u[k * cols];
      for (uint64_t b = 0; b < nb; ++b) {
        const uint64_t si = quant::GroupIndex(spec, gpr, r0 + b, order[k]);
        const float scale = params.scale[si], min = params.min.empty() ? 0.0f : params.min[si];
        const float x = w[b * cols + k];
        const int q = CodeOf(spec.dtype, x, scale, min);
        (*codes)[(r0 + b) * cols + order[k]] = q;
        err[b] = (x - ValueOf(spec.dtype, q, scale, min)) / uk[k];
      }
      for (uint64_t b = 0; b < nb; ++b) {
        float* wb = &w[b * cols];
        const float e = err[b];
        for (uint64_t m = k + 1; m < cols; ++m) wb[m] -= e * uk[m];
      }
    }
  }
  return Status::Ok();
}

}  // namespace

std::string MatrixInputOf(const std::string& tensor, bool tied_embeddings) {
  if (tensor == "output" || (tensor == "token_embd" && tied_embeddings)) return "output_in";
  const size_t dot = tensor.rfind('.');
  if (tensor.compare(0, 4, "blk.") != 0 || dot == std::string::npos || dot < 4) return "";
  const std::string layer = tensor.substr(0, dot + 1), part = tensor.substr(dot + 1);
  if (part == "attn_q" || part == "attn_k" || part == "attn_v") return layer + "attn_in";
  if (part == "attn_output") return layer + "attn_output_in";
  if (part == "ffn_gate" || part == "ffn_up") return layer + "ffn_in";
  if (part == "ffn_down") return layer + "ffn_down_in";
  return "";
}

Status QuantizeCalibrated(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec,
                          const InputStats* stats, const CalibrationOptions& how, QuantizedTensor* out) {
  if (IsFloatType(spec.dtype)) return Quantize(src, rows, cols, spec, out);
  QLITE_RETURN_IF_ERROR(quant::CheckInput(src, rows, cols, spec));
  if (stats && stats->mean_sq.size() != cols)
    return StatusError(StatusCode::kMismatch, "calibration statistics for %zu columns, tensor has %llu",
                       stats->mean_sq.size(), static_cast<unsigned long long>(cols));
  const bool gptq = how.gptq && stats && !stats->gram.empty();
  if (gptq && stats->gram.size() != cols * cols)
    return Status(StatusCode::kMismatch, "calibration gram does not match the tensor's columns");

  // Column weights of the search: E[x_c^2], floored so a column never seen is still not free to ruin.
  std::vector<float> weight(cols, 1.0f);
  if (stats && how.importance) {
    double mean = 0.0;
    for (double v : stats->mean_sq) mean += v;
    mean = mean / double(cols);
    for (uint64_t c = 0; c < cols; ++c) weight[c] = float(stats->mean_sq[c] + 1e-3 * mean + 1e-30);
  }

  quant::StartTensor(spec, rows, cols, out);
  const uint64_t ns = NumScales(spec, rows, cols);
  quant::GroupParams params;
  params.scale.assign(ns, 0.0f);
  params.min.assign(spec.dtype == fb::DType::U4 ? ns : 0, 0.0f);
  std::vector<float> w;
  quant::ForEachGroup(spec, rows, cols, [&](uint64_t i, uint64_t r, uint64_t c0, uint64_t len) {
    const float* x = src + r * cols + c0;
    w.resize(len);
    for (uint64_t k = 0; k < len; ++k) w[k] = weight[(c0 + k) % cols];
    float min = 0.0f;
    quant::RtnGroupParams(spec.dtype, x, len, &params.scale[i], &min);
    if (!how.importance) {
      if (!params.min.empty()) params.min[i] = min;
    } else if (spec.dtype == fb::DType::U4) {
      SearchAsymmetric(x, w.data(), len, &params.scale[i], &min);
      params.min[i] = min;
    } else {
      SearchSymmetric(spec.dtype, x, w.data(), len, &params.scale[i]);
    }
  });
  QLITE_RETURN_IF_ERROR(quant::EncodeParams(spec, &params, out));

  std::vector<int> codes;
  if (gptq) {
    QLITE_RETURN_IF_ERROR(GptqCodes(src, rows, cols, spec, params, *stats, how.gptq_damp, &codes));
  } else {
    quant::RoundCodes(src, rows, cols, spec, params, &codes);
  }
  quant::PackCodes(codes, out);
  return Status::Ok();
}

Status QuantizationError(const QuantizedTensor& q, const float* src, const InputStats* stats, bool use_gram,
                         double* error) {
  const uint64_t cols = q.cols;
  if (stats && stats->mean_sq.size() != cols) return Status(StatusCode::kMismatch, "statistics do not match");
  const bool gram = use_gram && stats && stats->gram.size() == cols * cols;
  std::vector<float> row(cols);
  std::vector<double> d(cols);
  const QuantizedView view = ViewOf(q);
  double total = 0.0;
  for (uint64_t r = 0; r < q.rows; ++r) {
    QLITE_RETURN_IF_ERROR(DequantizeRow(view, r, row.data()));
    for (uint64_t c = 0; c < cols; ++c) d[c] = double(row[c]) - src[r * cols + c];
    if (gram) {
      for (uint64_t i = 0; i < cols; ++i) {
        double s = 0.0;
        const float* g = &stats->gram[i * cols];
        for (uint64_t j = 0; j < cols; ++j) s += g[j] * d[j];
        total += d[i] * s;
      }
    } else {
      for (uint64_t c = 0; c < cols; ++c) total += (stats ? stats->mean_sq[c] : 1.0) * d[c] * d[c];
    }
  }
  *error = total;
  return Status::Ok();
}

}  // namespace qlite
