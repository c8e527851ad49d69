// CudaSession: the forward pass (llama2.c order) over device buffers allocated once.
#include <algorithm>
#include <cmath>

#include "device.h"
#include "qlite/base/kv_plan.h"
#include "qlite/cuda/model.h"

namespace qlite {
namespace cuda {
namespace {

size_t Pad32(size_t n) { return (n + 31) / 32 * 32; }

uint32_t LayerSpan(const ModelConfig& c, uint32_t l) {
  return KvLayerSpan(c.context_length, c.sliding_window.empty() ? 0 : c.sliding_window[l]);
}

}  // namespace

Status PlanKvRings(const ModelConfig& c, const CudaSessionParams& p, std::vector<KvRingShape>* rings) {
  if (!c.sliding_window.empty() && c.sliding_window.size() != c.n_layers) {
    return StatusError(StatusCode::kFormat, "sliding_window has %zu entries for %u layers",
                       c.sliding_window.size(), c.n_layers);
  }
  uint32_t span = 0;
  for (uint32_t l = 0; l < c.n_layers; ++l) span = std::max(span, LayerSpan(c, l));
  KvWindowPlan plan;
  QLITE_RETURN_IF_ERROR(PlanKvWindow(span, p.window, p.n_sink_tokens, &plan));
  rings->resize(c.n_layers);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const bool windowed = !c.sliding_window.empty() && c.sliding_window[l] != 0;
    (*rings)[l] = PlanKvRing(plan, LayerSpan(c, l), windowed);
  }
  return Status::Ok();
}

CudaSession::~CudaSession() {
  if (decode_graph_) cudaGraphExecDestroy(decode_graph_);
  if (stream_) cudaStreamDestroy(stream_);
}

// Everything a session allocates, decided before anything is: Create allocates exactly this
// and Measure reports it.
struct CudaSession::Layout {
  std::vector<KvRingShape> rings;
  uint32_t max_batch = 0;
  size_t kv_elem = 4;  // bytes per cached value
  size_t dim_stride = 0, q_stride = 0, kv_stride = 0, ffn_stride = 0;
  CudaSessionMemory memory;
};

Status CudaSession::Plan(const ModelConfig& c, const CudaSessionParams& params, Layout* out) {
  Layout l;
  QLITE_RETURN_IF_ERROR(PlanKvRings(c, params, &l.rings));
  l.max_batch = params.max_batch ? params.max_batch : 64;  // as the CPU runtime
  if (l.max_batch > 65536) {
    return StatusError(StatusCode::kInvalidArgument, "max_batch %u too large", l.max_batch);
  }
  switch (params.kv_type) {
    case KvCacheType::kF32: l.kv_elem = 4; break;
    case KvCacheType::kF16: l.kv_elem = 2; break;
    case KvCacheType::kQ8: l.kv_elem = 1; break;
    default:
      return StatusError(StatusCode::kInvalidArgument, "unknown kv_type %d",
                         static_cast<int>(params.kv_type));
  }
  const size_t B = l.max_batch;
  l.dim_stride = Pad32(c.dim);
  l.q_stride = Pad32(size_t{c.n_heads} * c.head_dim);
  l.kv_stride = Pad32(size_t{c.n_kv_heads} * c.head_dim);
  l.ffn_stride = Pad32(c.ffn_dim);
  for (const KvRingShape& r : l.rings) {
    const uint64_t rows = uint64_t{c.n_kv_heads} * r.slots;
    l.memory.kv_cache += 2 * rows * c.head_dim * l.kv_elem;
    if (params.kv_type == KvCacheType::kQ8) l.memory.kv_cache += 2 * rows * sizeof(float);
  }
  // x, xb; q, att; k, v; hb, hb2 (f32, one row per chunk token); logits; token ids.
  l.memory.activations = 4 * (B * (2 * l.dim_stride + 2 * l.q_stride + 2 * l.kv_stride + 2 * l.ffn_stride) +
                              c.vocab_size + B + 1);
  l.memory.pinned_host = 4 * (B + 1 + uint64_t{c.vocab_size});
  *out = std::move(l);
  return Status::Ok();
}

Status CudaSession::Measure(const ModelConfig& c, const CudaSessionParams& params,
                            CudaSessionMemory* out) {
  Layout l;
  QLITE_RETURN_IF_ERROR(Plan(c, params, &l));
  *out = l.memory;
  return Status::Ok();
}

Status CudaSession::Create(const CudaModel& model, const CudaSessionParams& params,
                           std::unique_ptr<CudaSession>* out) {
  const ModelConfig& c = model.config();
  Layout l;
  QLITE_RETURN_IF_ERROR(Plan(c, params, &l));
  QLITE_RETURN_IF_ERROR(SelectDevice(model.device()));
  std::unique_ptr<CudaSession> s(new CudaSession(model));
  s->rings_ = l.rings;
  for (const KvRingShape& r : s->rings_) s->window_ = std::max(s->window_, r.slots);
  s->max_batch_ = l.max_batch;
  s->use_graphs_ = params.use_graphs;
  s->memory_ = l.memory;
  s->layers_ = model.layers_;
  const size_t B = s->max_batch_;
  s->dim_stride_ = l.dim_stride;
  s->q_stride_ = l.q_stride;
  s->kv_stride_ = l.kv_stride;
  s->ffn_stride_ = l.ffn_stride;
  auto& bufs = s->buffers_;
  QLITE_RETURN_IF_ERROR(AllocateArray(B * s->dim_stride_, false, &bufs, &s->x_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B * s->dim_stride_, false, &bufs, &s->xb_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B * s->q_stride_, false, &bufs, &s->q_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B * s->kv_stride_, false, &bufs, &s->k_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B * s->kv_stride_, false, &bufs, &s->v_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B * s->q_stride_, false, &bufs, &s->att_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B * s->ffn_stride_, false, &bufs, &s->hb_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B * s->ffn_stride_, false, &bufs, &s->hb2_));
  QLITE_RETURN_IF_ERROR(AllocateArray(c.vocab_size, false, &bufs, &s->logits_dev_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B + 1, false, &bufs, &s->io_dev_));
  QLITE_RETURN_IF_ERROR(AllocateArray(B + 1, true, &bufs, &s->io_host_));
  QLITE_RETURN_IF_ERROR(AllocateArray(c.vocab_size, true, &bufs, &s->logits_host_));
  s->kv_.resize(c.n_layers);
  for (uint32_t i = 0; i < c.n_layers; ++i) {
    KvRing& kv = s->kv_[i];
    kv.n_slots = s->rings_[i].slots;
    kv.n_sinks = s->rings_[i].sinks;
    kv.n_kv_heads = c.n_kv_heads;
    kv.head_dim = c.head_dim;
    kv.type = params.kv_type;
    const size_t rows = size_t{c.n_kv_heads} * kv.n_slots;
    QLITE_RETURN_IF_ERROR(Allocate(rows * c.head_dim * l.kv_elem, false, &bufs, &kv.k));
    QLITE_RETURN_IF_ERROR(Allocate(rows * c.head_dim * l.kv_elem, false, &bufs, &kv.v));
    if (kv.type == KvCacheType::kQ8) {
      QLITE_RETURN_IF_ERROR(AllocateArray(rows, false, &bufs, &kv.k_scales));
      QLITE_RETURN_IF_ERROR(AllocateArray(rows, false, &bufs, &kv.v_scales));
    }
  }
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaStreamCreateWithFlags(&s->stream_, cudaStreamNonBlocking),
                                   "cudaStreamCreate"));
  // The zero fills ran on the legacy stream, which a non-blocking stream does not wait for.
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaDeviceSynchronize(), "zero fill"));
  *out = std::move(s);
  return Status::Ok();
}

Status CudaSession::SetLayerWeights(const std::vector<std::pair<std::string, QuantizedView>>& weights) {
  QLITE_RETURN_IF_ERROR(SelectDevice(model_.device()));
  if (decode_graph_) cudaGraphExecDestroy(decode_graph_);
  decode_graph_ = nullptr;
  pos_ = 0;
  layers_ = model_.layers_;
  weight_buffers_.clear();
  std::vector<CudaModel::Layer> layers = model_.layers_;
  for (const auto& w : weights) {
    const MatrixDesc* base = model_.LayerMatrix(model_.layers_, w.first);
    if (!base) return StatusError(StatusCode::kInvalidArgument, "%s is not a layer matrix", w.first.c_str());
    if (w.second.rows != base->rows || w.second.cols != base->cols) {
      weight_buffers_.clear();
      return StatusError(StatusCode::kMismatch, "%s is [%llu, %llu], the model's [%u, %u]", w.first.c_str(),
                         (unsigned long long)w.second.rows, (unsigned long long)w.second.cols, base->rows,
                         base->cols);
    }
    MatrixDesc* slot = const_cast<MatrixDesc*>(model_.LayerMatrix(layers, w.first));
    const Status st = UploadMatrixView(w.second, &weight_buffers_, slot);
    if (!st.ok()) {
      weight_buffers_.clear();
      return StatusError(st.code(), "tensor %s: %s", w.first.c_str(), st.message().c_str());
    }
  }
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaDeviceSynchronize(), "upload"));
  layers_ = std::move(layers);
  return Status::Ok();
}

void CudaSession::Matmul(const MatrixDesc& w, const float* x, size_t n, size_t x_stride, float* y,
                         size_t y_stride, Epilogue ep) {
  if (n == 1) {
    LaunchGemv(w, x, y, ep, stream_);
  } else {
    LaunchGemm(w, x, n, x_stride, y, y_stride, ep, stream_);
  }
}

Status CudaSession::Decode(int32_t token, const float** logits) {
  return Run(&token, 1, logits);
}

Status CudaSession::Prefill(const int32_t* tokens, size_t n, const float** logits) {
  if (!tokens || n == 0) return StatusError(StatusCode::kInvalidArgument, "empty prefill");
  // Chunks are GEMM batches; a chunk that wraps a layer's ring stores and attends token by
  // token in that layer (LaunchRopeStoreAttention), so no eviction hurts an earlier token.
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, max_batch_);
    QLITE_RETURN_IF_ERROR(Run(tokens, chunk, logits));
    tokens += chunk;
    n -= chunk;
  }
  return Status::Ok();
}

Status CudaSession::Run(const int32_t* tokens, size_t n, const float** logits) {
  const ModelConfig& c = model_.config();
  if (!logits) return StatusError(StatusCode::kInvalidArgument, "null logits pointer");
  QLITE_RETURN_IF_ERROR(SelectDevice(model_.device()));
  for (size_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || static_cast<uint32_t>(tokens[t]) >= c.vocab_size) {
      return StatusError(StatusCode::kInvalidArgument, "token %d outside vocabulary of %u",
                         tokens[t], c.vocab_size);
    }
    io_host_[1 + t] = static_cast<uint32_t>(tokens[t]);
  }
  io_host_[0] = pos_;
  if (n == 1 && use_graphs_ && !decode_graph_) {
    // Capture failure is not fatal: decode falls back to direct launches.
    if (!CaptureDecodeGraph().ok()) use_graphs_ = false;
  }
  if (n == 1 && decode_graph_) {
    QLITE_RETURN_IF_ERROR(CudaStatus(cudaGraphLaunch(decode_graph_, stream_), "graph launch"));
  } else {
    Enqueue(n);
    QLITE_RETURN_IF_ERROR(CudaStatus(cudaGetLastError(), "kernel launch"));
  }
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaStreamSynchronize(stream_), "forward"));
  pos_ += static_cast<uint32_t>(n);
  *logits = logits_host_;
  return Status::Ok();
}

Status CudaSession::CaptureDecodeGraph() {
  cudaGraph_t graph = nullptr;
  cudaError_t err = cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal);
  if (err == cudaSuccess) {
    Enqueue(1);
    err = cudaStreamEndCapture(stream_, &graph);
  }
  if (err == cudaSuccess) err = cudaGraphInstantiate(&decode_graph_, graph, 0);
  if (graph) cudaGraphDestroy(graph);
  if (err != cudaSuccess) decode_graph_ = nullptr;
  return CudaStatus(err, "decode graph capture");
}

void CudaSession::Enqueue(size_t n) {
  const CudaModel& m = model_;
  const ModelConfig& c = m.config();
  cudaStream_t st = stream_;
  cudaMemcpyAsync(io_dev_, io_host_, (n + 1) * 4, cudaMemcpyHostToDevice, st);
  const int32_t* tokens = reinterpret_cast<const int32_t*>(io_dev_ + 1);
  Positions positions;
  positions.pos_dev = io_dev_;
  LaunchEmbed(m.embed_, tokens, n, x_, dim_stride_, st);
  const RopeParams rope{m.inv_freq_, m.rotary_dim_, c.rope_style == RopeStyle::RotateHalf};
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const CudaModel::Layer& L = layers_[l];
    LaunchRmsNorm(x_, L.attn_norm, xb_, n, c.dim, dim_stride_, c.norm_eps, st);
    Epilogue bq, bk, bv;
    bq.bias = L.bq, bk.bias = L.bk, bv.bias = L.bv;
    Matmul(L.wq, xb_, n, dim_stride_, q_, q_stride_, bq);
    Matmul(L.wk, xb_, n, dim_stride_, k_, kv_stride_, bk);
    Matmul(L.wv, xb_, n, dim_stride_, v_, kv_stride_, bv);
    // pos_ is what io_dev_[0] holds when this runs (Run sets both).
    LaunchRopeStoreAttention(q_, k_, v_, n, q_stride_, kv_stride_, c.n_heads, positions, pos_, rope,
                             scale, kv_[l], att_, q_stride_, st);
    Epilogue residual;
    residual.accumulate = true;
    Matmul(L.wo, att_, n, q_stride_, x_, dim_stride_, residual);
    LaunchRmsNorm(x_, L.ffn_norm, xb_, n, c.dim, dim_stride_, c.norm_eps, st);
    Matmul(L.wg, xb_, n, dim_stride_, hb_, ffn_stride_, Epilogue());
    Matmul(L.wu, xb_, n, dim_stride_, hb2_, ffn_stride_, Epilogue());
    LaunchSiluMul(hb_, hb2_, n, c.ffn_dim, ffn_stride_, st);
    Matmul(L.wd, hb_, n, ffn_stride_, x_, dim_stride_, residual);
  }
  // Only the last token's logits are needed.
  const float* last = x_ + (n - 1) * dim_stride_;
  LaunchRmsNorm(last, m.output_norm_, xb_, 1, c.dim, dim_stride_, c.norm_eps, st);
  LaunchGemv(m.output_, xb_, logits_dev_, Epilogue(), st);
  cudaMemcpyAsync(logits_host_, logits_dev_, c.vocab_size * 4, cudaMemcpyDeviceToHost, st);
}

}  // namespace cuda
}  // namespace qlite
