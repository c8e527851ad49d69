#include "model.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "qlite/arch/ops.h"
#include "device.h"
#include "qlite/format/model_file.h"
#include "tokenizer.h"

namespace qlite {
namespace {

arch::WeightType ToWeightType(fb::DType t) {
  switch (t) {
    case fb::DType::F16: return arch::WeightType::kF16;
    case fb::DType::BF16: return arch::WeightType::kBF16;
    case fb::DType::I8: return arch::WeightType::kI8;
    case fb::DType::I4: return arch::WeightType::kI4;
    case fb::DType::U4: return arch::WeightType::kU4;
    case fb::DType::NF4: return arch::WeightType::kNF4;
    default: return arch::WeightType::kF32;
  }
}

bool SupportedWeightType(fb::DType t) {
  switch (t) {
    case fb::DType::F32: case fb::DType::F16: case fb::DType::BF16: case fb::DType::I8:
    case fb::DType::I4: case fb::DType::U4: case fb::DType::NF4: return true;
    default: return false;
  }
}

}  // namespace

arch::WeightMatrix ToWeightMatrix(const QuantizedView& v) {
  arch::WeightMatrix w;
  w.type = ToWeightType(v.spec.dtype);
  w.layout = v.spec.layout == fb::Layout::Interleave4x32   ? arch::WeightLayout::kInterleave4x32
             : v.spec.layout == fb::Layout::Interleave16x4 ? arch::WeightLayout::kInterleave16x4
                                                           : arch::WeightLayout::kRowMajor;
  w.rows = v.rows;
  w.cols = v.cols;
  w.row_stride = v.row_stride;
  w.data = v.data;
  w.per_tensor = v.spec.granularity == fb::Granularity::PerTensor;
  w.group_size = v.spec.granularity == fb::Granularity::Group ? v.spec.group_size : v.cols;
  w.scale_type = v.spec.scale_type == fb::DType::F32  ? arch::ScaleType::kF32
                 : v.spec.scale_type == fb::DType::U8 ? arch::ScaleType::kU8
                                                      : arch::ScaleType::kF16;
  w.scales = v.scales;
  w.mins = v.mins;
  w.dq_scales = v.dq_scales;
  w.dq_offsets = v.dq_offsets;
  w.dq_block = v.spec.dq_block;
  return w;
}

namespace {

// A model object is preceded by one word: whether the heap holds it (a buffer's model is
// destroyed in place). kHeader keeps the object as aligned as the heap's blocks.
constexpr size_t kHeader = 64;
constexpr size_t kObjectBytes = (sizeof(Model) + ModelArena::kAlign - 1) / ModelArena::kAlign * ModelArena::kAlign;

}  // namespace

void* Model::operator new(size_t bytes) {
  auto* p = static_cast<uint8_t*>(::operator new(bytes + kHeader));
  *reinterpret_cast<uint64_t*>(p) = 1;
  return p + kHeader;
}

void Model::operator delete(void* p) noexcept {
  if (!p) return;
  uint8_t* h = static_cast<uint8_t*>(p) - kHeader;
  if (*reinterpret_cast<uint64_t*>(h) == 1) ::operator delete(h);
}

Model::Model(void* arena_base, size_t arena_size)
    : arena_(arena_base ? ModelArena(arena_base, arena_size) : ModelArena()),
      file_(&arena_),
      tokenizer_(&arena_),
      layers_(&arena_),
      inv_freq_(&arena_),
      inv_freq_local_(&arena_),
      inv_freq_long_(&arena_) {}
Model::~Model() = default;

template <typename OpenFile>
Status Model::New(const ModelOpenOptions& options, OpenFile open, std::unique_ptr<Model>* out) {
  // Too small a buffer: measure on the heap, so the message says what would do.
  auto too_small = [&]() {
    ModelOpenOptions heap = options;
    heap.buffer = nullptr;
    heap.device = QLITE_DEVICE_CPU;  // host memory does not depend on the device
    std::unique_ptr<Model> measure;
    const Status s = New(heap, open, &measure);
    if (!s.ok()) return s;
    const uintptr_t start = reinterpret_cast<uintptr_t>(options.buffer);
    const uint64_t need = measure->host_bytes_ - (ModelArena::kAlign - 1) +
                          (ModelArena::kAlign - start % ModelArena::kAlign) % ModelArena::kAlign;
    return StatusError(StatusCode::kOutOfMemory, "model buffer of %zu bytes is too small: at this address it needs %llu",
                       options.buffer_size, static_cast<unsigned long long>(need));
  };
  std::unique_ptr<Model> m;
  if (!options.buffer) {
    m.reset(new Model(nullptr, 0));
  } else {
    // Header, object and arena, from the buffer's first kAlign-aligned byte.
    const uintptr_t start = reinterpret_cast<uintptr_t>(options.buffer);
    const size_t pad = (ModelArena::kAlign - start % ModelArena::kAlign) % ModelArena::kAlign;
    if (options.buffer_size < pad + kHeader + kObjectBytes) return too_small();
    uint8_t* base = static_cast<uint8_t*>(options.buffer) + pad;
    *reinterpret_cast<uint64_t*>(base) = 0;
    uint8_t* arena = base + kHeader + kObjectBytes;
    m.reset(::new (base + kHeader) Model(arena, options.buffer_size - pad - kHeader - kObjectBytes));
  }
  Status s;
  try {
    s = open(m.get());
    if (s.ok()) s = m->Init(options);
  } catch (const std::bad_alloc&) {
    if (!m->arena_.exhausted()) throw;
    m.reset();
    return too_small();
  }
  QLITE_RETURN_IF_ERROR(s);
  // What a buffer must hold: the worst-case alignment pad, the header, the object, the arena.
  m->host_bytes_ = (ModelArena::kAlign - 1) + kHeader + kObjectBytes + m->arena_.used();
  *out = std::move(m);
  return Status::Ok();
}

Status Model::Open(const std::string& path, const ModelOpenOptions& options, std::unique_ptr<Model>* out) {
  OpenOptions o;
  o.use_mmap = options.use_mmap;
  o.verify_checksums = options.verify_checksums;
  return New(options, [&](Model* m) {
    m->mapped_ = options.use_mmap;
    return m->file_.Open(path, o);
  }, out);
}

Status Model::OpenMemory(const void* data, size_t size, const ModelOpenOptions& options,
                         std::unique_ptr<Model>* out) {
  OpenOptions o;
  o.verify_checksums = options.verify_checksums;
  return New(options, [&](Model* m) {
    m->mapped_ = true;  // the caller's buffer: nothing of ours
    return m->file_.OpenMemory(data, size, o);
  }, out);
}

Status Model::MemoryNeeded(const void* data, size_t size, const ModelOpenOptions& options, uint64_t* out_bytes) {
  ModelOpenOptions heap = options;
  heap.buffer = nullptr;
  heap.buffer_size = 0;
  heap.device = QLITE_DEVICE_CPU;  // host memory does not depend on the device
  std::unique_ptr<Model> m;
  QLITE_RETURN_IF_ERROR(OpenMemory(data, size, heap, &m));
  *out_bytes = m->host_bytes_;
  if (options.buffer) {  // that address's alignment pad instead of the worst case
    const uintptr_t start = reinterpret_cast<uintptr_t>(options.buffer);
    *out_bytes -= (ModelArena::kAlign - 1) - (ModelArena::kAlign - start % ModelArena::kAlign) % ModelArena::kAlign;
  }
  return Status::Ok();
}

Status Model::Init(const ModelOpenOptions& options) {
  const ModelConfig& c = file_.config();
  if (c.dim == 0 || c.n_layers == 0 || c.n_heads == 0 || c.n_kv_heads == 0 || c.head_dim == 0 ||
      c.ffn_dim == 0 || c.vocab_size == 0)
    return StatusError(StatusCode::kFormat, "model config has a zero dimension");
  if (c.n_heads % c.n_kv_heads != 0)
    return StatusError(StatusCode::kFormat, "n_heads %u is not a multiple of n_kv_heads %u", c.n_heads, c.n_kv_heads);
  if (c.head_dim % 2 != 0) return StatusError(StatusCode::kFormat, "head_dim %u is odd", c.head_dim);
  rotary_dim_ = c.rotary_dim ? c.rotary_dim : c.head_dim;
  if (rotary_dim_ > c.head_dim || rotary_dim_ % 2 != 0)
    return StatusError(StatusCode::kFormat, "rotary_dim %u does not fit head_dim %u", rotary_dim_, c.head_dim);
  if (!c.sliding_window.empty() && c.sliding_window.size() != c.n_layers)
    return StatusError(StatusCode::kFormat, "sliding_window has %zu entries for %u layers",
                       c.sliding_window.size(), c.n_layers);
  if (c.bos_id >= (int32_t)c.vocab_size || c.eos_id >= (int32_t)c.vocab_size)
    return StatusError(StatusCode::kFormat, "bos/eos id outside the vocabulary");

  // Looks a tensor up and checks its shape: every later read stays inside the file.
  // Names are views (a layer's are built in a stack buffer): opening allocates nothing here.
  auto find = [&](std::string_view name, QuantizedView* v) -> Status {
    const TensorRef* t = file_.FindTensor(name);
    if (!t) return StatusError(StatusCode::kFormat, "model has no tensor %.*s", int(name.size()), name.data());
    *v = t->view;
    weight_bytes_ += t->data_bytes;
    return Status::Ok();
  };
  auto matrix = [&](std::string_view name, uint64_t rows, uint64_t cols, QuantizedView* v) -> Status {
    QLITE_RETURN_IF_ERROR(find(name, v));
    if (v->rows != rows || v->cols != cols)
      return StatusError(StatusCode::kFormat, "tensor %.*s is [%llu, %llu], expected [%llu, %llu]", int(name.size()), name.data(),
                         (unsigned long long)v->rows, (unsigned long long)v->cols, (unsigned long long)rows,
                         (unsigned long long)cols);
    if (!SupportedWeightType(v->spec.dtype))
      return StatusError(StatusCode::kUnsupported, "tensor %.*s has an unsupported dtype", int(name.size()), name.data());
    n_params_ += rows * cols;
    return Status::Ok();
  };
  auto weight = [&](std::string_view name, uint64_t rows, uint64_t cols, arch::WeightMatrix* w) -> Status {
    QuantizedView v;
    QLITE_RETURN_IF_ERROR(matrix(name, rows, cols, &v));
    *w = ToWeightMatrix(v);
    if (const char* why = arch::CheckWeightMatrix(*w))
      return StatusError(StatusCode::kFormat, "tensor %.*s: %s", int(name.size()), name.data(), why);
    return Status::Ok();
  };
  // Norms and biases are 1-D F32 (a 1-D tensor reads as one row).
  auto vector = [&](std::string_view name, uint64_t n, const float** out) -> Status {
    QuantizedView v;
    QLITE_RETURN_IF_ERROR(find(name, &v));
    if (v.rows * v.cols != n || v.spec.dtype != fb::DType::F32)
      return StatusError(StatusCode::kFormat, "tensor %.*s must be %llu F32 values", int(name.size()), name.data(),
                         (unsigned long long)n);
    *out = reinterpret_cast<const float*>(v.data);
    n_params_ += n;
    return Status::Ok();
  };

  const uint64_t dim = c.dim, qd = q_dim(), kvd = kv_dim(), ffn = c.ffn_dim;
  QLITE_RETURN_IF_ERROR(matrix("token_embd", c.vocab_size, dim, &embedding_));
  QLITE_RETURN_IF_ERROR(vector("output_norm", dim, &output_norm_));
  if (c.tied_embeddings) {
    output_ = ToWeightMatrix(embedding_);
    if (const char* why = arch::CheckWeightMatrix(output_))
      return StatusError(StatusCode::kFormat, "tensor token_embd: %s", why);
  } else {
    QLITE_RETURN_IF_ERROR(weight("output", c.vocab_size, dim, &output_));
  }
  layers_.resize(c.n_layers);
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    LayerWeights& L = layers_[l];
    char buf[64];  // "blk.<l>." and the longest suffix
    const int prefix = std::snprintf(buf, sizeof(buf), "blk.%u.", l);
    auto p = [&](const char* suffix) {
      const int n = std::snprintf(buf + prefix, sizeof(buf) - prefix, "%s", suffix);
      return std::string_view(buf, size_t(prefix + n));
    };
    QLITE_RETURN_IF_ERROR(vector(p("attn_norm"), dim, &L.attn_norm));
    QLITE_RETURN_IF_ERROR(vector(p("ffn_norm"), dim, &L.ffn_norm));
    QLITE_RETURN_IF_ERROR(weight(p("attn_q"), qd, dim, &L.wq));
    QLITE_RETURN_IF_ERROR(weight(p("attn_k"), kvd, dim, &L.wk));
    QLITE_RETURN_IF_ERROR(weight(p("attn_v"), kvd, dim, &L.wv));
    QLITE_RETURN_IF_ERROR(weight(p("attn_output"), dim, qd, &L.wo));
    QLITE_RETURN_IF_ERROR(weight(p("ffn_gate"), ffn, dim, &L.gate));
    QLITE_RETURN_IF_ERROR(weight(p("ffn_up"), ffn, dim, &L.up));
    QLITE_RETURN_IF_ERROR(weight(p("ffn_down"), dim, ffn, &L.down));
    if (c.qkv_bias) {
      QLITE_RETURN_IF_ERROR(vector(p("attn_q.bias"), qd, &L.bq));
      QLITE_RETURN_IF_ERROR(vector(p("attn_k.bias"), kvd, &L.bk));
      QLITE_RETURN_IF_ERROR(vector(p("attn_v.bias"), kvd, &L.bv));
    }
    if (c.qk_norm) {
      QLITE_RETURN_IF_ERROR(vector(p("attn_q_norm"), c.head_dim, &L.q_norm));
      QLITE_RETURN_IF_ERROR(vector(p("attn_k_norm"), c.head_dim, &L.k_norm));
    }
    if (c.post_norms) {
      QLITE_RETURN_IF_ERROR(vector(p("post_attention_norm"), dim, &L.attn_post_norm));
      QLITE_RETURN_IF_ERROR(vector(p("post_ffw_norm"), dim, &L.ffn_post_norm));
    }
    L.sliding_window = c.sliding_window.empty() ? 0 : c.sliding_window[l];
    L.local_rope = L.sliding_window && c.rope_local_theta > 0.0f;
    L.rope = c.no_rope.empty() || !c.no_rope[l];
  }
  arch::RopeScaling scaling;
  scaling.type = c.rope_scaling == RopeScaling::Linear   ? arch::RopeScalingType::kLinear
                 : c.rope_scaling == RopeScaling::Llama3 ? arch::RopeScalingType::kLlama3
                                                             : arch::RopeScalingType::kNone;
  scaling.factor = c.rope_factor;
  scaling.low_freq_factor = c.rope_low_freq_factor;
  scaling.high_freq_factor = c.rope_high_freq_factor;
  scaling.original_context = c.rope_original_context ? c.rope_original_context : c.context_length;
  // The reader's CheckConfig has matched the factor tables to rotary_dim / 2.
  const size_t pairs = rotary_dim_ / 2;
  scaling.freq_factors = c.rope_freq_factors.empty() ? nullptr : c.rope_freq_factors.data();
  inv_freq_.resize(pairs);
  if (!arch::RopeInvFreq(c.rope_theta, rotary_dim_, scaling, inv_freq_.data()))
    return StatusError(StatusCode::kFormat, "invalid RoPE parameters (theta %g, factor %g)", c.rope_theta, c.rope_factor);
  if (c.rope_scaling == RopeScaling::LongRope) {
    scaling.freq_factors = c.rope_long_freq_factors.data();
    inv_freq_long_.resize(pairs);
    if (!arch::RopeInvFreq(c.rope_theta, rotary_dim_, scaling, inv_freq_long_.data()))
      return StatusError(StatusCode::kFormat, "invalid LongRoPE parameters");
  }
  if (c.rope_local_theta > 0.0f) {
    inv_freq_local_.resize(rotary_dim_ / 2);
    if (!arch::RopeInvFreq(c.rope_local_theta, rotary_dim_, arch::RopeScaling(), inv_freq_local_.data()))
      return StatusError(StatusCode::kFormat, "invalid local RoPE base %g", c.rope_local_theta);
  }
  attention_scale_ = c.attn_scale > 0.0f ? c.attn_scale : 1.0f / std::sqrt((float)c.head_dim);
  TokenizerSpecialIds special;
  special.bos = c.bos_id;
  special.eos = c.eos_id;
  if (!file_.has_tokenizer()) return Status(StatusCode::kFormat, "model file has no tokenizer");
  const TokenizerView tokenizer_view(*file_.meta()->tokenizer());  // views into the file, which the model keeps
  QLITE_RETURN_IF_ERROR(tokenizer_.Init(tokenizer_view, special));
  chat_template_ = tokenizer_view.chat_template;
  // Layouts this CPU reads through an unpacking copy (a file converted with --layout auto on
  // another machine): said by `qlite bench`/`inspect`, since they cost speed silently.
  for (const LayerWeights& L : layers_) {
    for (const arch::WeightMatrix* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.gate, &L.up, &L.down})
      n_slow_layout_tensors_ += w->layout != arch::WeightLayout::kRowMajor && arch::PreferredLayout(w->type) != w->layout;
  }
  // A decode token reads every tensor but the embedding table, of which it reads one row;
  // unless the table is also the output head.
  decode_bytes_ = weight_bytes_;
  if (!c.tied_embeddings) {
    const uint64_t table = file_.FindTensor("token_embd")->data_bytes;
    decode_bytes_ -= table - table / c.vocab_size;
  }
  if (options.device != QLITE_DEVICE_CPU)
    QLITE_RETURN_IF_ERROR(OpenDeviceModel(*this, options.device, options.device_index, &device_));
  return Status::Ok();
}

void Model::Embed(int32_t token, float* out) const {
  if (embedding_.spec.dtype == fb::DType::F32) {
    std::memcpy(out, embedding_.data + (uint64_t)token * embedding_.row_stride, file_.config().dim * sizeof(float));
  } else {
    (void)DequantizeRow(embedding_, (uint64_t)token, out);  // token checked by the caller
  }
  const ModelConfig& c = file_.config();
  if (c.embedding_scale != 1.0f)
    for (uint32_t i = 0; i < c.dim; ++i) out[i] *= c.embedding_scale;
}

}  // namespace qlite
