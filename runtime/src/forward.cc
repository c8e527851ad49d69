// The forward pass of a Llama-family decoder, top to bottom (after llama2.c's `forward`),
// over a chunk of n tokens; the config switches on the optional parts other families have
// (q/k/v biases, q/k norms, post-norms, GeGLU, embedding scale, local RoPE base, layers
// without RoPE, soft-capped attention scores and logits).
// Quantized weights run on int8 activations (GemmQ8 for prefill chunks, GemvQ8 for a
// decode token); float weights on f32 (Gemm / Gemv). A decode token's projections that
// share an input (q/k/v, gate/up) go to the pool in one Run.

#include <algorithm>
#include <cstring>

#include "qlite/arch/matmul.h"
#include "qlite/arch/ops.h"
#include "session.h"

namespace qlite {
namespace {

constexpr size_t kInlineAttentionWork = 1 << 16;  // multiply-adds

bool IntegerWeights(const arch::WeightMatrix& w) {
  return w.type != arch::WeightType::kF32 && w.type != arch::WeightType::kF16 &&
         w.type != arch::WeightType::kBF16;
}

}  // namespace

void Session::QuantizeInputs(const float* x, size_t n, size_t cols) {
  for (size_t b = 0; b < n; ++b) {
    qx_[b].n = cols;
    arch::QuantizeActivations(x + b * cols, cols, &qx_[b]);
  }
}

// y[b] = W x[b] for b < n. x rows are w.cols apart, y rows w.rows apart. Integer weights
// take int8 activations (quantized once per token, reused when x_quantized): GemmQ8 for a
// prefill chunk, GemvQ8 for one token. Float weights take f32 activations.
void Session::Linear(const arch::WeightMatrix& w, const float* x, size_t n, float* y, bool x_quantized) {
  if (!IntegerWeights(w)) {
    if (n > 1) {
      arch::Gemm(w, x, n, w.cols, y, w.rows, pool_);
    } else {
      arch::Gemv(w, x, y, pool_);
    }
    return;
  }
  if (!x_quantized) QuantizeInputs(x, n, w.cols);
  if (n > 1) {
    arch::GemmQ8(w, qx_, n, y, w.rows, pool_);
  } else {
    arch::GemvQ8(w, qx_[0], y, pool_);
  }
}

// y[i] = w[i] x for matrices sharing the input x (same cols), as Linear() each. For one
// token with all-integer or all-float weights, one GemvQ8Multi/GemvMulti: one pool Run.
void Session::Linears(const arch::WeightMatrix* const* w, size_t count, const float* x, size_t n,
                      float* const* y) {
  bool all_int = true, all_float = true;
  for (size_t i = 0; i < count; ++i) {
    all_int = all_int && IntegerWeights(*w[i]);
    all_float = all_float && !IntegerWeights(*w[i]);
  }
  if (n == 1 && all_int) {
    QuantizeInputs(x, 1, w[0]->cols);
    arch::GemvQ8Multi(w, count, qx_[0], y, pool_);
  } else if (n == 1 && all_float) {
    arch::GemvMulti(w, count, x, y, pool_);
  } else {
    bool quantized = false;  // integer weights share one quantization of x
    for (size_t i = 0; i < count; ++i) {
      Linear(*w[i], x, n, y[i], quantized);
      quantized = quantized || IntegerWeights(*w[i]);
    }
  }
}

// cos/sin of every rotary frequency at each position of the chunk (and of the local base's
// frequencies, if the model has one), times LongRoPE's attention factor. Computed per
// token, not tabled, so positions may run past the training context (sliding window).
void Session::RopeTables(size_t n) {
  const uint32_t half = model_->rotary_dim() / 2;
  const float* inv_freq = model_->inv_freq(false, long_rope_);
  const float mscale = model_->config().rope_attn_factor;
  for (size_t b = 0; b < n; ++b) {
    arch::RopeCosSin(pos_ + b, inv_freq, half, cos_ + b * half, sin_ + b * half, mscale);
    if (cos_local_) arch::RopeCosSin(pos_ + b, model_->inv_freq(true), half, cos_local_ + b * half, sin_local_ + b * half);
    if (cos_sink_) {
      const uint32_t cache_pos = KvRingLive(pos_ + b, sink_ring_slots_) - 1;
      arch::RopeCosSin(cache_pos, inv_freq, half, cos_sink_ + b * half, sin_sink_ + b * half, mscale);
    }
  }
}

arch::RopePairing Session::RopePairing() const {
  return model_->config().rope_style == RopeStyle::RotateHalf ? arch::RopePairing::kRotateHalf
                                                                  : arch::RopePairing::kInterleaved;
}

void Session::Forward(const int32_t* tokens, size_t n) {
  const Model& m = *model_;
  const ModelConfig& c = m.config();
  const size_t dim = c.dim, qd = m.q_dim(), kvd = m.kv_dim(), ffn = c.ffn_dim, hd = c.head_dim;
  const size_t half = m.rotary_dim() / 2;
  const arch::RopePairing pairing = RopePairing();
  for (size_t b = 0; b < n; ++b) m.Embed(tokens[b], x_ + b * dim);
  RopeTables(n);

  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = layers_[l];  // the model's, or adapter-merged copies
    const float* cos = L.local_rope ? cos_local_ : cos_;
    const float* sin = L.local_rope ? sin_local_ : sin_;

    // Attention: x += Wo · attention(rope(Wq·xn), rope(Wk·xn), Wv·xn), xn = rmsnorm(x);
    // optionally q and k normalized per head before RoPE (or no RoPE in this layer), the
    // scores soft-capped, and the output normalized before the add.
    for (size_t b = 0; b < n; ++b) arch::RmsNorm(x_ + b * dim, L.attn_norm, xn_ + b * dim, dim, c.norm_eps);
    if (observer_) observer_->Observe(l, MatrixInput::kAttn, xn_, n, dim);
    const arch::WeightMatrix* qkv[] = {&L.wq, &L.wk, &L.wv};
    float* qkv_out[] = {q_, k_, v_};
    Linears(qkv, 3, xn_, n, qkv_out);
    for (size_t b = 0; b < n; ++b) {
      float *q = q_ + b * qd, *k = k_ + b * kvd;
      if (L.bq) arch::AddInPlace(q, L.bq, qd);
      if (L.bk) arch::AddInPlace(k, L.bk, kvd);
      if (L.bv) arch::AddInPlace(v_ + b * kvd, L.bv, kvd);
      if (L.q_norm) {
        for (uint32_t h = 0; h < c.n_heads; ++h) arch::RmsNorm(q + h * hd, L.q_norm, q + h * hd, hd, c.norm_eps);
        for (uint32_t h = 0; h < c.n_kv_heads; ++h) arch::RmsNorm(k + h * hd, L.k_norm, k + h * hd, hd, c.norm_eps);
      }
      if (!L.rope) continue;
      if (q_unrotated_) std::memcpy(q_unrotated_ + b * qd, q, qd * sizeof(float));
      arch::Rope(q, c.n_heads, hd, m.rotary_dim(), cos + b * half, sin + b * half, pairing);
      arch::Rope(k, c.n_kv_heads, hd, m.rotary_dim(), cos + b * half, sin + b * half, pairing);
    }
    Attention(l, n);
    if (observer_) observer_->Observe(l, MatrixInput::kAttnOutput, att_, n, qd);
    Linear(L.wo, att_, n, proj_, false);
    AddResidual(L.attn_post_norm, n);

    // Feed-forward: x += Wdown · (act(Wgate·xn) * (Wup·xn)), xn = rmsnorm(x), act SiLU
    // (SwiGLU) or tanh-approximate GELU (GeGLU); optionally the output normalized first.
    for (size_t b = 0; b < n; ++b) arch::RmsNorm(x_ + b * dim, L.ffn_norm, xn_ + b * dim, dim, c.norm_eps);
    if (observer_) observer_->Observe(l, MatrixInput::kFfn, xn_, n, dim);
    const arch::WeightMatrix* gate_up[] = {&L.gate, &L.up};
    float* gate_up_out[] = {gate_, up_};
    Linears(gate_up, 2, xn_, n, gate_up_out);
    const bool gelu = c.ffn_activation == Activation::GeluTanh;
    for (size_t b = 0; b < n; ++b) {
      if (gelu) arch::GeluTanhMul(gate_ + b * ffn, up_ + b * ffn, ffn);
      else arch::SiluMul(gate_ + b * ffn, up_ + b * ffn, ffn);
    }
    if (observer_) observer_->Observe(l, MatrixInput::kFfnDown, gate_, n, ffn);
    Linear(L.down, gate_, n, proj_, false);
    AddResidual(L.ffn_post_norm, n);
  }

  if (observer_) {  // the output matrix's input for every token, not only the last
    for (size_t b = 0; b < n; ++b) arch::RmsNorm(x_ + b * dim, m.output_norm(), xn_ + b * dim, dim, c.norm_eps);
    observer_->Observe(0, MatrixInput::kOutput, xn_, n, dim);
  }
  // Logits of the last token only: nothing reads the others.
  arch::RmsNorm(x_ + (n - 1) * dim, m.output_norm(), xn_, dim, c.norm_eps);
  Linear(m.output(), xn_, 1, logits_, false);
  if (c.final_softcap > 0.0f) arch::SoftCap(logits_, c.vocab_size, c.final_softcap);
  pos_ += n;
}

// x += proj for each token of the chunk, proj first normalized by post_norm when given.
void Session::AddResidual(const float* post_norm, size_t n) {
  const ModelConfig& c = model_->config();
  const size_t dim = c.dim;
  for (size_t b = 0; b < n; ++b) {
    if (post_norm) arch::RmsNorm(proj_ + b * dim, post_norm, proj_ + b * dim, dim, c.norm_eps);
    arch::AddInPlace(x_ + b * dim, proj_ + b * dim, dim);
  }
}

// Writes the chunk's keys/values into the layer's ring and attends. When the chunk does
// not wrap the ring, all its K/V go in first and (token, head) pairs run in parallel with
// causal slot counts; when it wraps, a token's write may evict a position an earlier token
// of the chunk still needs, so tokens go one at a time, exactly as decode would.
void Session::Attention(uint32_t layer, size_t n) {
  const ModelConfig& c = model_->config();
  KvLayer& kv = kv_[layer];
  const size_t hd = c.head_dim, kvd = model_->kv_dim();
  auto store = [&](size_t b) {
    for (uint32_t h = 0; h < c.n_kv_heads; ++h) kv.Store(h, pos_ + b, k_ + b * kvd + h * hd, v_ + b * kvd + h * hd);
  };
  att_layer_ = layer;
  // Short attention jobs run on the caller: waking the pool would cost more than the work.
  auto run = [&](size_t first, size_t count) {
    att_first_ = (uint32_t)first;
    const size_t tasks = count * (kv.exact_recent ? c.n_kv_heads : c.n_heads);
    const size_t work = count * c.n_heads * kv.ValidAfter(pos_ + first + count - 1) * hd;
    if (pool_->size() == 1 || work < kInlineAttentionWork) {
      for (size_t t = 0; t < tasks; ++t) AttentionTask(this, t, 0);
    } else {
      pool_->Run(tasks, &Session::AttentionTask, this);
    }
  };
  if (pos_ + n <= kv.slots) {
    // Exact recent rows hold a bounded run of positions: pieces of kKvExactPiece tokens.
    const size_t piece = kv.exact_recent ? kKvExactPiece : n;
    for (size_t first = 0; first < n; first += piece) {
      const size_t count = std::min(piece, n - first);
      for (size_t b = first; b < first + count; ++b) store(b);
      run(first, count);
    }
  } else {
    for (size_t b = 0; b < n; ++b) {
      store(b);
      run(b, 1);
    }
  }
}

// One (token, head) of the chunk. Keys are cached after RoPE at their own positions, so a
// query at its position sees every windowed key at its true distance (within the window).
// The pinned sinks would drift ever further away as the window slides (past the training
// context: the model has never seen such distances, and perplexity collapses). As in
// StreamingLLM, they are placed just before the oldest windowed key instead: scored with the
// query rotated to its position inside the cache (live slots - 1), which puts sink j at
// distance (live - 1 - j), never more than the window.
// A kQ4 layer's task is a whole GQA group (the query heads sharing one KV head), so each
// 4-bit row is decoded once for all of them; other layers' tasks are single heads.
void Session::AttentionTask(void* ctx, size_t task, size_t thread) {
  Session* s = static_cast<Session*>(ctx);
  const Model& m = *s->model_;
  const ModelConfig& c = m.config();
  const size_t hd = c.head_dim, qd = m.q_dim();
  const KvLayer& kv = s->kv_[s->att_layer_];
  const uint32_t group = c.n_heads / c.n_kv_heads;  // GQA/MQA: heads share a KV head
  const uint32_t n_q = kv.exact_recent ? group : 1;
  const uint32_t per_token = c.n_heads / n_q;
  const size_t b = s->att_first_ + task / per_token;
  const uint32_t h = (uint32_t)(task % per_token) * n_q;  // first query head
  const uint32_t kvh = h / group;
  const uint64_t pos = s->pos_ + b;
  const uint32_t live = kv.ValidAfter(pos);
  float* sink_q = nullptr;
  if (kv.sinks && pos >= live && s->layers_[s->att_layer_].rope) {  // wrapped: sinks seen from inside the cache
    const size_t half = m.rotary_dim() / 2;
    sink_q = s->sink_q_ + thread * s->max_att_queries_ * hd;
    std::memcpy(sink_q, s->q_unrotated_ + b * qd + h * hd, n_q * hd * sizeof(float));
    arch::Rope(sink_q, n_q, hd, m.rotary_dim(), s->cos_sink_ + b * half, s->sin_sink_ + b * half, s->RopePairing());
  }
  arch::KvSegment segments[arch::kMaxKvSegments];
  const size_t n_segments = kv.Segments(kvh, pos, sink_q, segments);
  arch::AttentionSegments(s->q_ + b * qd + h * hd, n_q, hd, segments, n_segments, m.attention_scale(),
                          s->scores_ + thread * s->max_att_queries_ * s->plan_.kv.window, s->att_ + b * qd + h * hd,
                          c.attn_softcap);
}

}  // namespace qlite
