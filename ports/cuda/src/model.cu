// CudaModel: validation and upload of a .qlm model's tensors.
#include <cmath>
#include <cstring>

#include "device.h"
#include "qlite/cuda/model.h"
#include "qlite/format/lora.h"

namespace qlite {
namespace cuda {
namespace {

// RoPE inverse frequencies with the model's scaling applied (double, then rounded once).
std::vector<float> InverseFrequencies(const ModelConfig& c, uint32_t rotary_dim) {
  std::vector<float> out(rotary_dim / 2);
  const double pi = 3.14159265358979323846;
  for (uint32_t i = 0; i < rotary_dim / 2; ++i) {
    double f = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / rotary_dim);
    if (c.rope_scaling == RopeScaling::Linear) {
      f /= c.rope_factor;
    } else if (c.rope_scaling == RopeScaling::Llama3) {
      const double orig = c.rope_original_context;
      const double low_wavelen = orig / c.rope_low_freq_factor;
      const double high_wavelen = orig / c.rope_high_freq_factor;
      const double wavelen = 2 * pi / f;
      if (wavelen > low_wavelen) {
        f /= c.rope_factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (orig / wavelen - c.rope_low_freq_factor) /
                              (c.rope_high_freq_factor - c.rope_low_freq_factor);
        f = (1 - smooth) * f / c.rope_factor + smooth * f;
      }
    }
    out[i] = static_cast<float>(f);
  }
  return out;
}

Status ValidateConfig(const ModelConfig& c) {
  if (!c.dim || !c.n_layers || !c.n_heads || !c.n_kv_heads || !c.head_dim || !c.ffn_dim ||
      !c.vocab_size) {
    return StatusError(StatusCode::kFormat, "model config has a zero dimension");
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return StatusError(StatusCode::kFormat, "n_heads %u not a multiple of n_kv_heads %u",
                       c.n_heads, c.n_kv_heads);
  }
  // Layer parts the CPU runs and these kernels do not yet (Qwen3, Gemma 2/3, Phi-3, SmolLM3,
  // Llama 3 GGUFs' rope_freqs): refused, never run as a Llama layer.
  const char* missing = c.qk_norm ? "per-head q/k norms"
                        : c.post_norms ? "post-attention/feed-forward norms"
                        : c.ffn_activation != Activation::SiLU ? "a feed-forward activation other than SiLU"
                        : c.embedding_scale != 1.0f ? "an embedding scale"
                        : c.attn_scale != 0.0f ? "a query scale other than 1/sqrt(head_dim)"
                        : c.rope_local_theta > 0.0f ? "a separate RoPE base for local layers"
                        : c.attn_softcap > 0.0f || c.final_softcap > 0.0f ? "logit soft-capping"
                        : !c.no_rope.empty() ? "layers without RoPE"
                        : !c.rope_freq_factors.empty() || c.rope_scaling == RopeScaling::LongRope ||
                                  c.rope_attn_factor != 1.0f
                            ? "RoPE frequency factors"
                            : nullptr;
  if (missing) {
    return StatusError(StatusCode::kUnsupported, "CUDA port: the model needs %s (%s family); run it on the CPU",
                       missing, ArchName(c.arch));
  }
  if (c.head_dim > 256) {
    return StatusError(StatusCode::kUnsupported, "CUDA port: head_dim %u > 256", c.head_dim);
  }
  const uint32_t rot = c.rotary_dim ? c.rotary_dim : c.head_dim;
  if (rot % 2 != 0 || rot > c.head_dim) {
    return StatusError(StatusCode::kFormat, "rotary_dim %u invalid for head_dim %u", rot,
                       c.head_dim);
  }
  if (!c.sliding_window.empty() && c.sliding_window.size() != c.n_layers) {
    return StatusError(StatusCode::kFormat, "sliding_window has %zu entries for %u layers",
                       c.sliding_window.size(), c.n_layers);
  }
  return Status::Ok();
}

uint64_t MatrixBytes(const MatrixDesc& m) {
  uint64_t b = static_cast<uint64_t>(m.rows) * m.row_stride;
  if (m.scales) b += static_cast<uint64_t>(m.rows) * m.groups * 2;
  if (m.mins) b += static_cast<uint64_t>(m.rows) * m.groups * 2;
  return b;
}

}  // namespace

Status UploadMatrixView(const QuantizedView& view, std::vector<std::unique_ptr<DeviceBuffer>>* owner,
                        MatrixDesc* out) {
  HostMatrix host;
  QLITE_RETURN_IF_ERROR(PrepareMatrix(view, &host));
  MatrixDesc d = host.desc;
  uint8_t* data = nullptr;
  QLITE_RETURN_IF_ERROR(AllocateArray(host.data.size(), false, owner, &data));
  QLITE_RETURN_IF_ERROR(CudaStatus(
      cudaMemcpy(data, host.data.data(), host.data.size(), cudaMemcpyHostToDevice), "upload"));
  d.data = data;
  for (auto [from, to] : {std::pair{&host.scales, &d.scales}, std::pair{&host.mins, &d.mins}}) {
    if (from->empty()) continue;
    uint16_t* dst = nullptr;
    QLITE_RETURN_IF_ERROR(AllocateArray(from->size(), false, owner, &dst));
    QLITE_RETURN_IF_ERROR(CudaStatus(
        cudaMemcpy(dst, from->data(), from->size() * 2, cudaMemcpyHostToDevice), "upload"));
    *to = dst;
  }
  *out = d;
  return Status::Ok();
}

CudaModel::~CudaModel() = default;

const MatrixDesc* CudaModel::LayerMatrix(const std::vector<Layer>& layers, const std::string& name) const {
  uint32_t l = 0;
  LoraTarget which;
  if (!ParseLoraTarget(name, &l, &which) || l >= layers.size()) return nullptr;
  const Layer& L = layers[l];
  switch (which) {
    case LoraTarget::kAttnQ: return &L.wq;
    case LoraTarget::kAttnK: return &L.wk;
    case LoraTarget::kAttnV: return &L.wv;
    case LoraTarget::kAttnOutput: return &L.wo;
    case LoraTarget::kFfnGate: return &L.wg;
    case LoraTarget::kFfnUp: return &L.wu;
    case LoraTarget::kFfnDown: return &L.wd;
  }
  return nullptr;
}

Status CudaModel::UploadMatrix(const TensorLookup& lookup, const std::string& name,
                               uint64_t rows, uint64_t cols, MatrixDesc* out) {
  QuantizedView view;
  bool found = false;
  QLITE_RETURN_IF_ERROR(lookup(name, &view, &found));
  if (!found) return StatusError(StatusCode::kFormat, "tensor %s missing", name.c_str());
  if (view.rows != rows || view.cols != cols) {
    return StatusError(StatusCode::kFormat, "tensor %s is [%llu, %llu], expected [%llu, %llu]",
                       name.c_str(), (unsigned long long)view.rows, (unsigned long long)view.cols,
                       (unsigned long long)rows, (unsigned long long)cols);
  }
  MatrixDesc d;
  const Status st = UploadMatrixView(view, &buffers_, &d);
  if (!st.ok()) return StatusError(st.code(), "tensor %s: %s", name.c_str(), st.message().c_str());
  weight_bytes_ += MatrixBytes(d);
  *out = d;
  return Status::Ok();
}

Status CudaModel::UploadVector(const TensorLookup& lookup, const std::string& name, uint64_t n,
                               bool required, const float** out) {
  *out = nullptr;
  QuantizedView view;
  bool found = false;
  QLITE_RETURN_IF_ERROR(lookup(name, &view, &found));
  if (!found) {
    return required ? StatusError(StatusCode::kFormat, "tensor %s missing", name.c_str())
                    : Status::Ok();
  }
  if (view.spec.dtype != fb::DType::F32 || view.rows * view.cols != n || !view.data) {
    return StatusError(StatusCode::kFormat, "tensor %s: expected %llu F32 values", name.c_str(),
                       (unsigned long long)n);
  }
  float* d = nullptr;
  QLITE_RETURN_IF_ERROR(AllocateArray(n, false, &buffers_, &d));
  QLITE_RETURN_IF_ERROR(
      CudaStatus(cudaMemcpy(d, view.data, n * 4, cudaMemcpyHostToDevice), "upload"));
  weight_bytes_ += n * 4;
  *out = d;
  return Status::Ok();
}

Status CudaModel::Load(const ModelConfig& config, const TensorLookup& lookup,
                       std::unique_ptr<CudaModel>* out) {
  QLITE_RETURN_IF_ERROR(ValidateConfig(config));
  int current = 0;
  cudaGetDevice(&current);
  cudaGetLastError();
  const DeviceInfo dev = QueryDevice(current);
  if (!dev.available) {
    return StatusError(StatusCode::kUnsupported, "no CUDA device: %s", dev.message.c_str());
  }
  std::unique_ptr<CudaModel> m(new CudaModel());
  m->config_ = config;
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaGetDevice(&m->device_), "cudaGetDevice"));
  const ModelConfig& c = config;
  const uint64_t q_dim = uint64_t{c.n_heads} * c.head_dim, kv_dim = uint64_t{c.n_kv_heads} * c.head_dim;
  QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, "token_embd", c.vocab_size, c.dim, &m->embed_));
  m->output_ = m->embed_;
  if (!c.tied_embeddings) {
    QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, "output", c.vocab_size, c.dim, &m->output_));
  }
  QLITE_RETURN_IF_ERROR(m->UploadVector(lookup, "output_norm", c.dim, true, &m->output_norm_));
  m->layers_.resize(c.n_layers);
  for (uint32_t i = 0; i < c.n_layers; ++i) {
    Layer& L = m->layers_[i];
    const std::string p = "blk." + std::to_string(i) + ".";
    QLITE_RETURN_IF_ERROR(m->UploadVector(lookup, p + "attn_norm", c.dim, true, &L.attn_norm));
    QLITE_RETURN_IF_ERROR(m->UploadVector(lookup, p + "ffn_norm", c.dim, true, &L.ffn_norm));
    QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, p + "attn_q", q_dim, c.dim, &L.wq));
    QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, p + "attn_k", kv_dim, c.dim, &L.wk));
    QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, p + "attn_v", kv_dim, c.dim, &L.wv));
    QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, p + "attn_output", c.dim, q_dim, &L.wo));
    QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, p + "ffn_gate", c.ffn_dim, c.dim, &L.wg));
    QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, p + "ffn_up", c.ffn_dim, c.dim, &L.wu));
    QLITE_RETURN_IF_ERROR(m->UploadMatrix(lookup, p + "ffn_down", c.dim, c.ffn_dim, &L.wd));
    QLITE_RETURN_IF_ERROR(m->UploadVector(lookup, p + "attn_q.bias", q_dim, c.qkv_bias, &L.bq));
    QLITE_RETURN_IF_ERROR(m->UploadVector(lookup, p + "attn_k.bias", kv_dim, c.qkv_bias, &L.bk));
    QLITE_RETURN_IF_ERROR(m->UploadVector(lookup, p + "attn_v.bias", kv_dim, c.qkv_bias, &L.bv));
    for (const MatrixDesc* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.wg, &L.wu, &L.wd}) {
      m->decode_bytes_ += MatrixBytes(*w);
    }
  }
  m->decode_bytes_ += MatrixBytes(m->output_) + m->embed_.row_stride;
  m->rotary_dim_ = c.rotary_dim ? c.rotary_dim : c.head_dim;
  const std::vector<float> inv = InverseFrequencies(c, m->rotary_dim_);
  float* d_inv = nullptr;
  QLITE_RETURN_IF_ERROR(AllocateArray(inv.size(), false, &m->buffers_, &d_inv));
  QLITE_RETURN_IF_ERROR(CudaStatus(
      cudaMemcpy(d_inv, inv.data(), inv.size() * 4, cudaMemcpyHostToDevice), "upload"));
  m->inv_freq_ = d_inv;
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaDeviceSynchronize(), "upload"));
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace cuda
}  // namespace qlite
