// Session::SetAdapters: LoRA merged at load time. The tensors an adapter set touches are
// dequantized from the shared base, merged in double (format/lora.h), requantized with the
// tensor's own scheme and laid out in the session's adapter memory, reserved at creation.
// Swapping replaces the whole set, so that memory is simply refilled from its start: the
// copies of one set all live and die together, and no general allocator is needed.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include "adapter.h"
#include "qlite/format/checksum.h"
#include "qlite/format/lora.h"
#include "qlite/format/model_file.h"
#include "session.h"

namespace qlite {
namespace {

// "blk.N.kind" -> the LayerWeights member it replaces (null for any other name).
arch::WeightMatrix* Slot(LayerWeights* layers, uint32_t n_layers, const std::string& name) {
  uint32_t l = 0;
  LoraTarget which;
  if (!ParseLoraTarget(name, &l, &which) || l >= n_layers) return nullptr;
  LayerWeights& L = layers[l];
  switch (which) {
    case LoraTarget::kAttnQ: return &L.wq;
    case LoraTarget::kAttnK: return &L.wk;
    case LoraTarget::kAttnV: return &L.wv;
    case LoraTarget::kAttnOutput: return &L.wo;
    case LoraTarget::kFfnGate: return &L.gate;
    case LoraTarget::kFfnUp: return &L.up;
    case LoraTarget::kFfnDown: return &L.down;
  }
  return nullptr;
}

// Copies one region to `*at` (64-byte aligned) and returns where it went (null if empty).
const uint8_t* Place(const std::vector<uint8_t>& bytes, uint8_t* base, uint64_t* at) {
  if (bytes.empty()) return nullptr;
  uint8_t* dst = base + *at;
  std::memcpy(dst, bytes.data(), bytes.size());
  *at += (bytes.size() + 63) & ~uint64_t(63);
  return dst;
}

}  // namespace

void Session::UseBaseWeights() {
  const auto& base = model_->layers();
  for (size_t l = 0; l < base.size(); ++l) layers_[l] = base[l];
}

Status Session::SetAdapters(const Adapter* const* adapters, const float* scales, size_t n) {
  UseBaseWeights();
  Reset();  // cached keys/values were computed with the previous weights
  std::vector<std::pair<std::string, QuantizedView>> merged;  // what a device session uploads
  if (device_) QLITE_RETURN_IF_ERROR(device_->SetLayerWeights(merged));
  adapter_hash_ = 0;
  if (n == 0) return Status::Ok();
  const uint64_t fp = model_->file().fingerprint();
  std::vector<ScaledLora> set;
  std::map<std::string, int> targets;  // adapted by a non-zero scale, in name order
  for (size_t i = 0; i < n; ++i) {
    if (!adapters[i]) return Status(StatusCode::kInvalidArgument, "adapter is NULL");
    const float scale = scales ? scales[i] : 1.0f;
    if (!std::isfinite(scale)) return StatusError(StatusCode::kInvalidArgument, "adapter scale %g is not finite", scale);
    if (adapters[i]->base_fingerprint != fp)
      return StatusError(StatusCode::kMismatch, "adapter %s was opened for another base model",
                         adapters[i]->lora.name.c_str());
    if (scale == 0.0f) continue;  // contributes nothing: the base stays as it is
    set.push_back({&adapters[i]->lora, scale});
    for (const LoraTensor& t : adapters[i]->lora.tensors) targets[t.target] = 1;
  }
  uint64_t need = 0;
  for (const auto& kv : targets) {
    const TensorRef* t = model_->file().FindTensor(kv.first);
    if (!t) return StatusError(StatusCode::kMismatch, "the model has no tensor %s", kv.first.c_str());
    need += MergedTensorBytes(t->view);
  }
  if (need > plan_.adapter_bytes)
    return StatusError(StatusCode::kOutOfMemory,
                       "these adapters need %llu bytes of merged tensors; the session reserved %llu "
                       "(qlite_session_params.adapter_memory, see qlite_adapters_memory)",
                       (unsigned long long)need, (unsigned long long)plan_.adapter_bytes);

  uint64_t at = 0;
  std::vector<float> w;
  QuantizedTensor q;
  for (const auto& kv : targets) {
    const std::string& name = kv.first;
    const QuantizedView& base = model_->file().FindTensor(name)->view;
    arch::WeightMatrix* slot = Slot(layers_, model_->config().n_layers, name);
    Status s = slot ? Status::Ok() : StatusError(StatusCode::kUnsupported, "cannot adapt %s", name.c_str());
    if (s.ok()) {
      w.resize(base.rows * base.cols);
      s = Dequantize(base, w.data());
    }
    if (s.ok()) s = MergeLora(name, set, w.data(), base.rows, base.cols);
    if (s.ok()) s = Quantize(w.data(), base.rows, base.cols, base.spec, &q);
    if (s.ok() && (q.row_stride != base.row_stride || at + MergedTensorBytes(ViewOf(q)) > plan_.adapter_bytes))
      s = StatusError(StatusCode::kInternal, "merged %s does not match its planned layout", name.c_str());
    if (!s.ok()) {
      UseBaseWeights();
      return Status(s.code(), "merging adapters into " + name + ": " + s.message());
    }
    QuantizedView v = ViewOf(q);
    v.data = Place(q.data, adapter_mem_, &at);
    v.scales = Place(q.scales, adapter_mem_, &at);
    v.mins = Place(q.mins, adapter_mem_, &at);
    v.dq_scales = reinterpret_cast<const float*>(Place(q.dq_scales, adapter_mem_, &at));
    v.dq_offsets = reinterpret_cast<const float*>(Place(q.dq_offsets, adapter_mem_, &at));
    *slot = ToWeightMatrix(v);
    merged.emplace_back(name, v);
  }
  // Saved states record which merged weights their keys came from.
  Xxh64Stream id(fp);
  for (const ScaledLora& l : set) {
    id.Update(&l.scale, sizeof(l.scale));
    for (const LoraTensor& t : l.adapter->tensors) {
      id.Update(t.target.data(), t.target.size() + 1);
      id.Update(&t.factor, sizeof(t.factor));
      if (!t.a.empty()) id.Update(t.a.data(), t.a.size() * sizeof(float));
      if (!t.b.empty()) id.Update(t.b.data(), t.b.size() * sizeof(float));
    }
  }
  adapter_hash_ = id.Digest() | 1;  // never 0 (the base)
  if (device_) {
    const Status s = device_->SetLayerWeights(merged);
    if (!s.ok()) {
      UseBaseWeights();
      adapter_hash_ = 0;
      return s;
    }
  }
  return Status::Ok();
}

}  // namespace qlite
