#include "session.h"

#include "cpu_cores.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "memory_text.h"

namespace qlite {
namespace {

constexpr uint32_t kDefaultBatch = 64;
constexpr uint32_t kMaxThreads = 256;
constexpr uint32_t kMaxStopStrings = 256, kMaxStopBytes = 1024, kMaxLogitBias = 65536;

uint32_t LayerSpan(const Model& m, uint32_t l) {
  return KvLayerSpan(m.config().context_length, m.layers()[l].sliding_window);
}

}  // namespace

Status PlanSession(const Model& m, const qlite_session_params& p, SessionPlan* plan) {
  const ModelConfig& c = m.config();
  SessionPlan s;
  // Threads and pinning: explicit values win; otherwise one thread per performance core,
  // pinned to those cores only where slower cores exist (a phone's big.LITTLE).
  const CpuCores cores = p.n_threads && p.cpu_mask ? CpuCores{} : DetectCpuCores();
  s.cpu_mask = p.cpu_mask ? p.cpu_mask : cores.heterogeneous ? cores.fast_mask : 0;
  s.n_threads = p.n_threads                 ? p.n_threads
                : p.cpu_mask                ? (uint32_t)__builtin_popcountll(p.cpu_mask)
                                            : cores.n_fast;
  if (s.n_threads > kMaxThreads) return StatusError(StatusCode::kInvalidArgument, "n_threads %u > %u", s.n_threads, kMaxThreads);
  uint32_t span = 0;
  for (uint32_t l = 0; l < c.n_layers; ++l) span = std::max(span, LayerSpan(m, l));
  QLITE_RETURN_IF_ERROR(PlanKvWindow(span, p.window, p.n_sink_tokens, &s.kv));
  s.adapter_bytes = (p.adapter_memory + Arena::kAlign - 1) & ~uint64_t(Arena::kAlign - 1);
  if (s.adapter_bytes < p.adapter_memory || s.adapter_bytes > (SIZE_MAX >> 1))
    return StatusError(StatusCode::kInvalidArgument, "adapter_memory %llu too large", (unsigned long long)p.adapter_memory);
  s.grammar_bytes = (p.grammar_memory + Arena::kAlign - 1) & ~uint64_t(Arena::kAlign - 1);
  if (s.grammar_bytes < p.grammar_memory || s.grammar_bytes > (uint64_t(1) << 32))
    return StatusError(StatusCode::kInvalidArgument, "grammar_memory %llu is over 4 GiB", (unsigned long long)p.grammar_memory);
  s.max_batch = p.max_batch ? p.max_batch : kDefaultBatch;
  s.repeat_last_n = p.sampler.repeat_last_n;
  if (s.max_batch > 65536) return StatusError(StatusCode::kInvalidArgument, "max_batch %u too large", s.max_batch);
  const qlite_sampler_params& sp = p.sampler;
  if (!std::isfinite(sp.temperature) || !(sp.top_p > 0.0f && sp.top_p <= 1.0f) || !(sp.min_p >= 0.0f && sp.min_p <= 1.0f) ||
      !(sp.repeat_penalty > 0.0f) || !std::isfinite(sp.repeat_penalty) || sp.repeat_last_n < 0 || sp.repeat_last_n > (1 << 20))
    return StatusError(StatusCode::kInvalidArgument,
                       "sampler parameters out of range (temperature %g, top_p %g in (0,1], min_p %g in [0,1], "
                       "repeat_penalty %g > 0, repeat_last_n %d >= 0)",
                       sp.temperature, sp.top_p, sp.min_p, sp.repeat_penalty, sp.repeat_last_n);
  if (sp.n_stop_strings && !sp.stop_strings)
    return Status(StatusCode::kInvalidArgument, "sampler: stop_strings is NULL");
  if (sp.n_stop_strings > kMaxStopStrings)
    return StatusError(StatusCode::kInvalidArgument, "sampler: %zu stop strings (at most %u)", sp.n_stop_strings,
                       kMaxStopStrings);
  for (size_t i = 0; i < sp.n_stop_strings; ++i) {
    const char* t = sp.stop_strings[i];
    const size_t len = t ? strnlen(t, kMaxStopBytes + 1) : 0;
    if (len == 0 || len > kMaxStopBytes)
      return StatusError(StatusCode::kInvalidArgument, "sampler: stop string %zu is %s (1 to %u bytes)", i,
                         !t ? "NULL" : len ? "too long" : "empty", kMaxStopBytes);
    s.stop_bytes += len;
  }
  s.n_stop_strings = (uint32_t)sp.n_stop_strings;
  if (sp.n_logit_bias && !sp.logit_bias) return Status(StatusCode::kInvalidArgument, "sampler: logit_bias is NULL");
  if (sp.n_logit_bias > kMaxLogitBias)
    return StatusError(StatusCode::kInvalidArgument, "sampler: %zu logit biases (at most %u)", sp.n_logit_bias,
                       kMaxLogitBias);
  for (size_t i = 0; i < sp.n_logit_bias; ++i) {
    const qlite_logit_bias& b = sp.logit_bias[i];
    if (b.token < 0 || (uint32_t)b.token >= c.vocab_size)
      return StatusError(StatusCode::kInvalidArgument, "sampler: logit bias %zu: token %d outside the vocabulary (%u)",
                         i, b.token, c.vocab_size);
    if (std::isnan(b.bias) || b.bias == INFINITY)
      return StatusError(StatusCode::kInvalidArgument, "sampler: logit bias %zu: %g (finite or -INFINITY)", i,
                         b.bias);
  }
  s.n_logit_bias = (uint32_t)sp.n_logit_bias;
  // C callers may store any int in the enum: read its bytes, not the (UB) enum value.
  int kv_type = 0;
  static_assert(sizeof(p.kv_type) == sizeof(int), "qlite_kv_type is an int-sized enum");
  std::memcpy(&kv_type, &p.kv_type, sizeof(int));
  switch (kv_type) {
    case QLITE_KV_F32: s.kv_type = arch::KvType::kF32; break;
    case QLITE_KV_F16: s.kv_type = arch::KvType::kF16; break;
    case QLITE_KV_Q8: s.kv_type = arch::KvType::kQ8; break;
    case QLITE_KV_Q4: s.kv_type = arch::KvType::kQ4; break;
    default: return StatusError(StatusCode::kInvalidArgument, "unknown kv_type %d", kv_type);
  }
  if (!arch::KvTypeFits(s.kv_type, c.head_dim))
    return StatusError(StatusCode::kUnsupported, "kv_type q4 needs head_dim a multiple of 8 up to %zu, not %u",
                       arch::kKvQ4MaxHeadDim, c.head_dim);
  *plan = s;
  return Status::Ok();
}

void Session::Bind(Arena* a, SessionMemory* mem) {
  const Model& m = *model_;
  const ModelConfig& c = m.config();
  size_t mark = a->used();
  if (m.device()) {  // KV cache, activations and the forward pass's scratch live on the device
    BindSampler(a);
    BindTokens(a);
    layers_ = a->Array<LayerWeights>(c.n_layers);
    mem->scratch = a->used() - mark;
    BindAdapterMemory(a, mem);
    BindGrammar(a, mem);
    return;
  }
  const size_t B = plan_.max_batch, dim = c.dim, qd = m.q_dim(), kvd = m.kv_dim(), ffn = c.ffn_dim;

  // The per-layer descriptors count as scratch, so kv_cache is exactly the data + scales
  // (+ a kQ4 cache's exact rows).
  // kQ4 layers attend a whole GQA group per task (forward.cc AttentionTask).
  max_att_queries_ = plan_.kv_type == arch::KvType::kQ4 ? c.n_heads / c.n_kv_heads : 1;
  kv_ = a->Array<KvLayer>(c.n_layers);
  const size_t kv_start = (a->used() + Arena::kAlign - 1) & ~(Arena::kAlign - 1);  // incl. padding
  const size_t descriptors = kv_start - mark;
  mark = kv_start;
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    KvLayer kv;
    kv.type = plan_.kv_type;
    kv.head_dim = c.head_dim;
    kv.n_kv_heads = c.n_kv_heads;
    const KvRingShape ring = PlanKvRing(plan_.kv, LayerSpan(m, l), m.layers()[l].sliding_window != 0);
    kv.slots = ring.slots;
    kv.sinks = ring.sinks;
    // Rings with sinks (global layers) all hold the session's window: one sink RoPE table.
    if (ring.sinks && m.layers()[l].rope) sink_ring_slots_ = ring.slots;
    const size_t bytes = (size_t)c.n_kv_heads * kv.slots * arch::KvRowBytes(kv.type, c.head_dim);
    kv.k = static_cast<uint8_t*>(a->Allocate(bytes));
    kv.v = static_cast<uint8_t*>(a->Allocate(bytes));
    if (const size_t scales = arch::KvRowScales(kv.type, c.head_dim)) {
      kv.k_scales = a->Array<float>((size_t)c.n_kv_heads * kv.slots * scales);
      kv.v_scales = a->Array<float>((size_t)c.n_kv_heads * kv.slots * scales);
    }
    kv.exact_recent = KvLayer::ExactRecent(kv.type, kv.slots, kv.sinks);
    kv.exact_ring = KvLayer::ExactRing(kv.exact_recent);
    if (const size_t rows = kv.ExactRows()) {
      kv.k_exact = a->Array<uint16_t>((size_t)c.n_kv_heads * rows * c.head_dim);
      kv.v_exact = a->Array<uint16_t>((size_t)c.n_kv_heads * rows * c.head_dim);
    }
    if (!a->measuring() && a->ok()) kv_[l] = kv;
  }
  mem->kv_cache = a->used() - mark;
  mark = a->used();

  x_ = a->Array<float>(B * dim);
  xn_ = a->Array<float>(B * dim);
  q_ = a->Array<float>(B * qd);
  k_ = a->Array<float>(B * kvd);
  v_ = a->Array<float>(B * kvd);
  att_ = a->Array<float>(B * qd);
  proj_ = a->Array<float>(B * dim);
  gate_ = a->Array<float>(B * ffn);
  up_ = a->Array<float>(B * ffn);
  logits_ = a->Array<float>(c.vocab_size);
  const size_t max_cols = std::max(dim, std::max(qd, ffn));
  qx_ = a->Array<arch::QuantizedActivations>(B);
  for (size_t b = 0; b < B; ++b) {
    void* qbuf = a->Allocate(arch::QuantizedActivationsBytes(max_cols));
    if (qbuf && qx_) qx_[b] = arch::BindQuantizedActivations(qbuf, max_cols);
  }
  mem->activations = a->used() - mark;
  mark = a->used();

  const size_t half = m.rotary_dim() / 2;
  cos_ = a->Array<float>(B * half);
  sin_ = a->Array<float>(B * half);
  if (m.has_local_rope()) {
    cos_local_ = a->Array<float>(B * half);
    sin_local_ = a->Array<float>(B * half);
  }
  if (sink_ring_slots_) {
    q_unrotated_ = a->Array<float>(B * qd);
    cos_sink_ = a->Array<float>(B * half);
    sin_sink_ = a->Array<float>(B * half);
    sink_q_ = a->Array<float>((size_t)plan_.n_threads * max_att_queries_ * c.head_dim);
  }
  scores_ = a->Array<float>((size_t)plan_.n_threads * max_att_queries_ * plan_.kv.window);
  pool_mem_ = a->Allocate(sizeof(arch::ThreadPool));
  BindSampler(a);
  BindTokens(a);
  layers_ = a->Array<LayerWeights>(c.n_layers);
  mem->scratch = a->used() - mark + descriptors;
  BindAdapterMemory(a, mem);
  BindGrammar(a, mem);
}

void Session::BindSampler(Arena* a) {
  sampler_mem_ = a->Allocate(sizeof(Sampler));
  SamplerParams history;
  history.repeat_last_n = plan_.repeat_last_n;
  sampler_scratch_ = a->Allocate(Sampler::ScratchBytes((int32_t)model_->config().vocab_size, history));
}

void Session::BindAdapterMemory(Arena* a, SessionMemory* mem) {
  if (!plan_.adapter_bytes) return;  // LoRA-merged tensor copies (session_adapters.cc)
  const size_t mark = a->used();
  adapter_mem_ = static_cast<uint8_t*>(a->Allocate(plan_.adapter_bytes));
  mem->adapters = plan_.adapter_bytes;
  mem->scratch += a->used() - mark - plan_.adapter_bytes;  // alignment padding
}

Status MeasureSession(const Model& model, const SessionPlan& plan, SessionMemory* out) {
  Arena counter;
  counter.Allocate(sizeof(Session));
  Session probe(model, plan);
  SessionMemory mem;
  probe.Bind(&counter, &mem);
  mem.scratch += sizeof(Session);  // the session object itself heads the arena
  mem.arena = counter.used();
  if (model.device()) {
    DeviceSessionMemory dm;
    QLITE_RETURN_IF_ERROR(model.device()->MeasureSession(plan, &dm));
    mem.kv_cache = dm.kv_cache;
    mem.activations = dm.activations;
    mem.device = dm.kv_cache + dm.activations;
    mem.heap = dm.pinned_host;
  }
  mem.total = mem.arena + mem.heap;
  *out = mem;
  return Status::Ok();
}

Status Session::Create(const Model& model, const qlite_session_params& params, Session** out) {
  SessionPlan plan;
  QLITE_RETURN_IF_ERROR(PlanSession(model, params, &plan));
  SessionMemory mem;
  QLITE_RETURN_IF_ERROR(MeasureSession(model, plan, &mem));
  const qlite_memory_estimate est = EstimateFor(model, mem);
  if (params.memory_budget && est.total > params.memory_budget) {
    return StatusError(StatusCode::kOutOfMemory, "memory budget %s is too small:\n%s",
                       FormatBytes(params.memory_budget).c_str(), FormatEstimate(est).c_str());
  }
  Region region;
  Arena arena;
  if (params.buffer) {
    // The layout starts at the buffer's first 64-byte boundary.
    const size_t skew = (size_t)(-reinterpret_cast<uintptr_t>(params.buffer) & (Arena::kAlign - 1));
    if (params.buffer_size < mem.arena + skew)
      return StatusError(StatusCode::kOutOfMemory, "session buffer of %zu bytes is too small (needs %llu):\n%s",
                         params.buffer_size, (unsigned long long)(mem.arena + skew), FormatEstimate(est).c_str());
    arena = Arena(params.buffer, params.buffer_size);
  } else {
    QLITE_RETURN_IF_ERROR(region.Reserve(mem.arena));
    arena = Arena(region.data(), region.size());
  }
  void* at = arena.Allocate(sizeof(Session));
  if (!at) return StatusError(StatusCode::kInternal, "session layout does not fit its own estimate");
  Session* s = new (at) Session(model, plan);
  s->region_ = std::move(region);
  s->arena_ = arena;
  SessionMemory bound;
  s->Bind(&s->arena_, &bound);
  if (!s->arena_.ok()) {
    Destroy(s);
    return StatusError(StatusCode::kInternal, "session layout does not fit its own estimate");
  }
  s->UseBaseWeights();
  if (s->grammar_index_mem_) s->BuildVocabIndex();
  SamplerParams sp;
  sp.temperature = params.sampler.temperature;
  sp.top_k = params.sampler.top_k;
  sp.top_p = params.sampler.top_p;
  sp.min_p = params.sampler.min_p;
  sp.repeat_penalty = params.sampler.repeat_penalty;
  sp.repeat_last_n = params.sampler.repeat_last_n;
  sp.seed = params.sampler.seed;
  try {
    if (s->pool_mem_) s->pool_ = new (s->pool_mem_) arch::ThreadPool(plan.n_threads, plan.cpu_mask);
    s->sampler_ = new (s->sampler_mem_) Sampler((int32_t)model.config().vocab_size, sp, s->sampler_scratch_);
    s->CopySamplerLists(params.sampler);
    if (model.device()) {
      const Status st = model.device()->CreateSession(plan, &s->device_);
      if (!st.ok()) {
        Destroy(s);
        return st;
      }
    }
  } catch (...) {
    Destroy(s);
    throw;
  }
  *out = s;
  return Status::Ok();
}

Session::~Session() {
  if (pool_) pool_->~ThreadPool();
  if (sampler_) sampler_->~Sampler();
}

void Session::Destroy(Session* s) {
  if (!s) return;
  Region region(std::move(s->region_));  // the session lives inside it: unmapped last
  s->~Session();
}

Status Session::Prefill(const int32_t* tokens, size_t n) {
  if (!tokens || n == 0) return StatusError(StatusCode::kInvalidArgument, "no tokens to feed");
  const uint32_t vocab = model_->config().vocab_size;
  for (size_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || (uint32_t)tokens[i] >= vocab)
      return StatusError(StatusCode::kInvalidArgument, "token %d at index %zu is outside the vocabulary (%u)",
                         tokens[i], i, vocab);
  }
  if (device_) {
    const float* logits = nullptr;
    QLITE_RETURN_IF_ERROR(device_->Forward(tokens, n, &logits));
    logits_ = const_cast<float*>(logits);
    RecordTokens(pos_, tokens, n);
    pos_ += n;
  } else {
    RecordTokens(pos_, tokens, n);
    for (size_t i = 0; i < n; i += plan_.max_batch) {
      Forward(tokens + i, std::min<size_t>(plan_.max_batch, n - i));
    }
  }
  for (size_t i = 0; i < n; ++i) sampler_->Accept(tokens[i]);
  has_logits_ = true;
  return Status::Ok();
}

Status Session::Sample(int32_t* out) {
  if (!has_logits_) return StatusError(StatusCode::kInvalidArgument, "no logits yet: feed a token first");
  if (grammar_.active()) return SampleWithGrammar(out);
  *out = sampler_->Sample(logits_);
  return Status::Ok();
}

void Session::Reset() {
  pos_ = 0;
  evicted_hash_ = kEvictedSeed;
  has_logits_ = false;
  sampler_->Reset();
  if (grammar_.active()) grammar_.Reset();
  if (device_) device_->Reset();
}

}  // namespace qlite
