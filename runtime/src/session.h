// A session: KV cache, activation buffers, thread pool and sampler over a shared Model.
// Everything it needs is laid out once, at creation, in one arena; Prefill/Decode/Sample
// then run without touching the heap.
#pragma once
#include <cstddef>
#include <cstdint>

#include <memory>

#include "arena.h"
#include "grammar.h"
#include "device.h"
#include "kv_cache.h"
#include "qlite/base/kv_plan.h"
#include "model.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/threads.h"
#include "qlite/qlite.h"
#include "sampler.h"

namespace qlite {

// Session parameters after defaults and checks.
struct SessionPlan {
  uint32_t n_threads = 1;
  uint64_t cpu_mask = 0;   // CPUs the pool's workers are pinned to; 0 = not pinned
  KvWindowPlan kv;         // window and sinks; each layer's ring follows (qlite/base/kv_plan.h)
  uint32_t max_batch = 0;  // tokens per prefill chunk
  arch::KvType kv_type = arch::KvType::kF32;
  uint64_t adapter_bytes = 0;  // reserved for LoRA-merged tensor copies
  int32_t repeat_last_n = 0;  // sizes the sampler's history
  // Copied from qlite_sampler_params into the arena at creation (sizes only: the caller's
  // arrays are read once, by Session::Create).
  uint32_t n_stop_strings = 0;
  uint64_t stop_bytes = 0;  // their bytes, together
  uint32_t n_logit_bias = 0;
  uint64_t grammar_bytes = 0;  // grammar_memory: a compiled grammar and its matcher's state
};

Status PlanSession(const Model& model, const qlite_session_params& params, SessionPlan* plan);

// Byte counts of a session's layout (exact: measured by laying it out in a counting arena).
struct SessionMemory {
  uint64_t kv_cache = 0, activations = 0, scratch = 0;
  uint64_t adapters = 0;  // LoRA-merged tensor copies (in the arena)
  uint64_t grammar = 0;   // grammar_memory plus the vocabulary index a grammar walks (in the arena)
  uint64_t arena = 0;  // the one region reserved (or the caller's buffer needed)
  uint64_t heap = 0;   // host memory outside the arena: a device backend's pinned buffers
  uint64_t total = 0;  // arena + heap
  uint64_t device = 0;  // on a device model: its KV cache and activations (in device memory)
};
Status MeasureSession(const Model& model, const SessionPlan& plan, SessionMemory* out);

struct Adapter;

// The inputs of the forward pass's matrices, for calibration (activation_stats.cc).
enum class MatrixInput { kAttn, kAttnOutput, kFfn, kFfnDown, kOutput };
class ActivationObserver {
 public:
  virtual ~ActivationObserver() = default;
  // x: the chunk's n tokens, cols floats each, as the layer's matrices read them (layer is
  // 0 for kOutput).
  virtual void Observe(uint32_t layer, MatrixInput input, const float* x, size_t n, size_t cols) = 0;
};

class Session {
 public:
  static Status Create(const Model& model, const qlite_session_params& params, Session** out);
  static void Destroy(Session* session);

  // Feeds tokens in chunks of max_batch (batched GEMM per chunk); logits of the last one.
  Status Prefill(const int32_t* tokens, size_t n);
  Status Decode(int32_t token) { return Prefill(&token, 1); }
  // Null until a token has been fed.
  const float* logits() const { return has_logits_ ? logits_ : nullptr; }
  Status Sample(int32_t* out);
  void Reset();

  // Multi-turn (session_tokens.cc). The session remembers the token at every position whose
  // keys it still holds (a ring shaped like the KV cache's widest one) and a hash of those it
  // has evicted, so a whole conversation can be compared with what it holds.
  // Goes back to position n (<= position()): exact, as if only the first n tokens had been
  // fed, or kContext when keys position n would attend have been overwritten (SeekAllowed).
  Status Seek(uint64_t n);
  bool SeekAllowed(uint64_t n) const;
  // Brings the session to hold exactly tokens[0, n): keeps the longest prefix it holds,
  // processes the rest; re-prefills from scratch when the divergence lies where it cannot
  // go back to. *reused: positions kept.
  Status Sync(const int32_t* tokens, size_t n, size_t* reused);
  // The token fed at `pos` (< position()), or -1 when that position has been evicted.
  int32_t TokenAt(uint64_t pos) const;

  // Stop strings (sampler parameters), copied at creation: the i-th is
  // stop_text()[stop_offsets()[i], stop_offsets()[i + 1]).
  size_t n_stop_strings() const { return plan_.n_stop_strings; }
  const char* stop_text() const { return stop_text_; }
  const uint32_t* stop_offsets() const { return stop_offsets_; }

  // Saved state (session_state.cc): the bytes SaveState writes now, the writing, the loading
  // (checked in full before anything changes).
  Status StateSize(size_t* out) const;
  Status SaveState(void* buf, size_t capacity, size_t* out_size) const;
  Status LoadState(const void* data, size_t size);
  // Constrained output (session_grammar.cc): compiles `text` into the grammar memory; Sample
  // then only returns tokens that keep the output in the grammar. Not on the token path.
  Status SetGrammar(std::string_view text);
  void ClearGrammar() { grammar_.Clear(); }
  bool has_grammar() const { return grammar_.active(); }
  // The output is a whole sentence of the grammar and nothing can follow it.
  bool grammar_done() const { return grammar_.active() && grammar_.Done(); }
  // Merges adapters into copies of the tensors they adapt (session_adapters.cc).
  Status SetAdapters(const Adapter* const* adapters, const float* scales, size_t n);

  const Model& model() const { return *model_; }
  const SessionPlan& plan() const { return plan_; }
  // Shows every matrix input to `observer` (null: none, the normal case). CPU sessions only.
  void set_observer(ActivationObserver* observer) { observer_ = observer; }
  uint64_t position() const { return pos_; }
  size_t arena_used() const { return arena_.used(); }
  size_t arena_capacity() const { return arena_.capacity(); }

 private:
  friend Status MeasureSession(const Model&, const SessionPlan&, SessionMemory*);
  Session(const Model& model, const SessionPlan& plan)
      : model_(&model), plan_(plan), long_rope_(model.UsesLongRope(plan.kv.window)) {}
  ~Session();
  // Lays out all buffers in `arena` (a counting arena when measuring); adds up the parts.
  void Bind(Arena* arena, SessionMemory* mem);
  void BindSampler(Arena* arena);
  void BindAdapterMemory(Arena* arena, SessionMemory* mem);
  void BindGrammar(Arena* arena, SessionMemory* mem);
  void BuildVocabIndex();
  bool IsGrammarEnd(int32_t token) const;
  bool GrammarAllows(int32_t token);
  Status SampleWithGrammar(int32_t* out);

  // The forward pass over n <= max_batch tokens at positions pos_.. (forward.cc).
  void Forward(const int32_t* tokens, size_t n);
  void Linear(const arch::WeightMatrix& w, const float* x, size_t n, float* y, bool x_quantized);
  void Linears(const arch::WeightMatrix* const* w, size_t count, const float* x, size_t n, float* const* y);
  void QuantizeInputs(const float* x, size_t n, size_t cols);
  void Attention(uint32_t layer, size_t n);
  void RopeTables(size_t n);
  arch::RopePairing RopePairing() const;
  void AddResidual(const float* post_norm, size_t n);
  static void AttentionTask(void* ctx, size_t task, size_t thread);
  void UseBaseWeights();  // layers_ = the model's own views
  void BindTokens(Arena* arena);
  void CopySamplerLists(const qlite_sampler_params& params);
  // Remembers tokens fed at positions first.. (folding the ones their slots evict into
  // evicted_hash_).
  void RecordTokens(uint64_t first, const int32_t* tokens, size_t n);
  // Bytes of the saved state for position `pos` with or without logits (0 when too large).
  size_t StateBytes(uint64_t pos, bool has_logits) const;


  const Model* model_;
  SessionPlan plan_;
  // Where the forward pass runs when the model is on a device (device.h); null on the CPU.
  std::unique_ptr<DeviceSession> device_;
  Region region_;  // the reserved memory, unless the caller gave a buffer
  Arena arena_;
  arch::ThreadPool* pool_ = nullptr;
  Sampler* sampler_ = nullptr;

  KvLayer* kv_ = nullptr;  // [n_layers]
  // The weights this session runs: the model's views, or merged copies in adapter_mem_.
  LayerWeights* layers_ = nullptr;  // [n_layers]
  uint8_t* adapter_mem_ = nullptr;
  // Activations for a chunk of B tokens, row-major [B][...].
  float *x_ = nullptr, *xn_ = nullptr, *q_ = nullptr, *k_ = nullptr, *v_ = nullptr, *att_ = nullptr;
  float *proj_ = nullptr, *gate_ = nullptr, *up_ = nullptr, *logits_ = nullptr;
  arch::QuantizedActivations* qx_ = nullptr;  // [B]: int8 copies of a chunk's inputs
  float *cos_ = nullptr, *sin_ = nullptr;  // [B][rotary_dim/2]
  float *cos_local_ = nullptr, *sin_local_ = nullptr;  // the same for the local RoPE base, if any
  // Attention sinks (forward.cc, Session::Attention): the sinks are seen from the query's
  // position inside the cache, so q is kept before RoPE and rotated again for them.
  uint32_t sink_ring_slots_ = 0;         // slots of the rings that have sinks; 0 = none
  float* q_unrotated_ = nullptr;         // [B][q_dim]
  float *cos_sink_ = nullptr, *sin_sink_ = nullptr;  // [B][rotary_dim/2] at the cache-relative position
  float* sink_q_ = nullptr;              // [n_threads][head_dim]
  float* scores_ = nullptr;                // [n_threads][window]
  void *pool_mem_ = nullptr, *sampler_mem_ = nullptr;  // placement storage
  void* sampler_scratch_ = nullptr;                      // the sampler's arrays
  // Constrained output: the matcher works in grammar_mem_; the vocabulary index, its walk
  // states and the masked logits live in grammar_index_mem_.
  grammar::Matcher grammar_;
  grammar::VocabIndex vocab_index_;
  grammar::State* grammar_walk_ = nullptr;
  float* masked_logits_ = nullptr;
  void *grammar_mem_ = nullptr, *grammar_index_mem_ = nullptr;
  // Attention job of the current chunk (read by AttentionTask).
  uint32_t att_layer_ = 0;
  uint32_t att_first_ = 0;  // first token of the chunk the job covers
  uint64_t pos_ = 0;
  uint32_t max_att_queries_ = 1;  // query heads per attention task: scores_ / sink_q_ rows per thread
  ActivationObserver* observer_ = nullptr;
  // The tokens of the positions held: a ring of the window's slots with the plan's sinks.
  static constexpr uint64_t kEvictedSeed = 0x51c0ffee5eed0001ull;
  KvRingShape token_ring_;
  int32_t* tokens_ = nullptr;
  uint64_t evicted_hash_ = kEvictedSeed;  // of the tokens at evicted positions, in order
  // Stop strings: stop_text_[stop_offsets_[i], stop_offsets_[i + 1]) is the i-th.
  char* stop_text_ = nullptr;
  uint32_t* stop_offsets_ = nullptr;
  LogitBias* logit_bias_ = nullptr;  // [plan_.n_logit_bias]
  uint64_t adapter_hash_ = 0;  // identifies the merged adapter set (0 = base): saved states check it
  bool has_logits_ = false;
  bool long_rope_ = false;  // LongRoPE: rotates with the long factors (Model::UsesLongRope)
};

}  // namespace qlite
