// CollectActivationStats: the forward pass with an observer that sums each matrix input's
// squares, magnitudes and (optionally) outer products (qlite/runtime/activation_stats.h).
#include "qlite/runtime/activation_stats.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "model.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/threads.h"
#include "session.h"
#include "tokenizer.h"

namespace qlite {
namespace {

const char* InputName(MatrixInput input) {
  switch (input) {
    case MatrixInput::kAttn: return "attn_in";
    case MatrixInput::kAttnOutput: return "attn_output_in";
    case MatrixInput::kFfn: return "ffn_in";
    case MatrixInput::kFfnDown: return "ffn_down_in";
    default: return "output_in";
  }
}

class StatsObserver : public ActivationObserver {
 public:
  StatsObserver(bool gram, arch::ThreadPool* pool) : gram_(gram), pool_(pool) {}

  void Observe(uint32_t layer, MatrixInput input, const float* x, size_t n, size_t cols) override {
    const std::string name =
        input == MatrixInput::kOutput ? "output_in" : "blk." + std::to_string(layer) + "." + InputName(input);
    Sums& s = sums_[name];
    if (s.sq.empty()) {
      s.sq.assign(cols, 0.0);
      s.abs.assign(cols, 0.0);
      if (gram_) s.gram.assign(cols * cols, 0.0f);
    }
    for (size_t b = 0; b < n; ++b)
      for (size_t c = 0; c < cols; ++c) {
        const double v = x[b * cols + c];
        s.sq[c] += v * v;
        s.abs[c] += std::fabs(v);
      }
    s.tokens += n;
    if (gram_) AddGram(x, n, cols, &s.gram);
  }

  void Finish(ActivationStats* out) {
    for (auto& [name, s] : sums_) {
      InputStats& in = out->inputs[name];
      const double t = double(std::max<uint64_t>(1, s.tokens));
      in.tokens = s.tokens;
      in.mean_sq.resize(s.sq.size());
      in.mean_abs.resize(s.abs.size());
      for (size_t c = 0; c < s.sq.size(); ++c) in.mean_sq[c] = s.sq[c] / t, in.mean_abs[c] = s.abs[c] / t;
      in.gram.resize(s.gram.size());
      for (size_t i = 0; i < s.gram.size(); ++i) in.gram[i] = float(s.gram[i] / t);
      s.gram = std::vector<float>();
    }
  }

 private:
  struct Sums {
    uint64_t tokens = 0;
    std::vector<double> sq, abs;
    std::vector<float> gram;
  };

  // gram += X^T X with the float GEMM: X^T as a [cols][n] weight matrix times itself.
  void AddGram(const float* x, size_t n, size_t cols, std::vector<float>* gram) {
    const size_t np = (n + 31) / 32 * 32;  // zero-padded tokens add nothing
    xt_.assign(cols * np, 0.0f);
    for (size_t b = 0; b < n; ++b)
      for (size_t c = 0; c < cols; ++c) xt_[c * np + b] = x[b * cols + c];
    arch::WeightMatrix w;
    w.type = arch::WeightType::kF32;
    w.rows = cols;
    w.cols = np;
    w.row_stride = np * sizeof(float);
    w.data = xt_.data();
    w.group_size = np;
    product_.resize(cols * cols);
    arch::Gemm(w, xt_.data(), cols, np, product_.data(), cols, pool_);
    for (size_t i = 0; i < cols * cols; ++i) (*gram)[i] += product_[i];
  }

  bool gram_;
  arch::ThreadPool* pool_;
  std::map<std::string, Sums> sums_;
  std::vector<float> xt_, product_;
};

}  // namespace

Status CollectActivationStats(const std::string& model_path, const std::string& text, const CollectOptions& options,
                              ActivationStats* out, uint64_t* tokens_used) {
  std::unique_ptr<Model> model;
  QLITE_RETURN_IF_ERROR(Model::Open(model_path, ModelOpenOptions(), &model));
  std::vector<int32_t> ids;
  EncodeOptions enc;
  enc.add_bos = false;
  enc.parse_special = false;
  QLITE_RETURN_IF_ERROR(model->tokenizer().Encode(text, enc, &ids));
  if (options.max_tokens && ids.size() > options.max_tokens) ids.resize(options.max_tokens);
  if (ids.size() < 2) return Status(StatusCode::kInvalidArgument, "calibration text has fewer than 2 tokens");

  const uint32_t context = model->config().context_length ? model->config().context_length : options.sequence;
  const uint32_t seq = std::max<uint32_t>(2, std::min(options.sequence, context));
  qlite_session_params params = qlite_session_default_params();
  params.n_threads = std::max<uint32_t>(1, options.threads);
  params.window = seq;
  params.n_sink_tokens = 0;
  params.kv_type = QLITE_KV_F32;  // the statistics of the model itself, not of a rounded cache
  params.max_batch = std::min<uint32_t>(seq, 256);
  Session* session = nullptr;
  QLITE_RETURN_IF_ERROR(Session::Create(*model, params, &session));
  std::unique_ptr<Session, void (*)(Session*)> owned(session, &Session::Destroy);
  arch::ThreadPool pool(params.n_threads);
  StatsObserver observer(options.gram, &pool);
  session->set_observer(&observer);

  const int32_t bos = model->tokenizer().bos_id();
  const size_t body = bos >= 0 ? seq - 1 : seq;
  std::vector<int32_t> chunk;
  uint64_t used = 0;
  for (size_t start = 0; start < ids.size(); start += body) {
    chunk.clear();
    if (bos >= 0) chunk.push_back(bos);
    const size_t end = std::min(ids.size(), start + body);
    chunk.insert(chunk.end(), ids.begin() + start, ids.begin() + end);
    session->Reset();
    QLITE_RETURN_IF_ERROR(session->Prefill(chunk.data(), chunk.size()));
    used += chunk.size();
  }
  session->set_observer(nullptr);
  *out = ActivationStats();
  observer.Finish(out);
  if (tokens_used) *tokens_used = used;
  return Status::Ok();
}

}  // namespace qlite
