// LoRA merge math (no kernels: adapters are merged once, at conversion or when a session
// swaps them, never per token) and the converter hook that merges at conversion.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>

#include "qlite/format/checksum.h"
#include "qlite/format/lora.h"
#include "qlite/format/model_file.h"

namespace qlite {
namespace {

bool StartsWith(const std::string& s, const char* p) { return s.compare(0, std::char_traits<char>::length(p), p) == 0; }

}  // namespace

const LoraTensor* LoraAdapter::Find(const std::string& target) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), target,
                             [](const LoraTensor& t, const std::string& n) { return t.target < n; });
  return it != tensors.end() && it->target == target ? &*it : nullptr;
}

uint64_t LoraAdapter::n_params() const {
  uint64_t n = 0;
  for (const LoraTensor& t : tensors) n += t.a.size() + t.b.size();
  return n;
}

bool ParseLoraTarget(const std::string& name, uint32_t* layer, LoraTarget* which) {
  if (!StartsWith(name, "blk.")) return false;
  const size_t dot = name.find('.', 4);
  if (dot == std::string::npos || dot == 4 || dot > 13 || name.find_first_not_of("0123456789", 4) != dot) return false;
  // In LoraTarget's order.
  static const char* kTargets[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  const std::string rest = name.substr(dot + 1);
  for (size_t i = 0; i < sizeof(kTargets) / sizeof(kTargets[0]); ++i) {
    if (rest != kTargets[i]) continue;
    const unsigned long long l = std::strtoull(name.c_str() + 4, nullptr, 10);
    if (l > UINT32_MAX) return false;
    *layer = static_cast<uint32_t>(l);
    *which = static_cast<LoraTarget>(i);
    return true;
  }
  return false;
}

bool IsLoraTarget(const std::string& name) {
  uint32_t layer = 0;
  LoraTarget which;
  return ParseLoraTarget(name, &layer, &which);
}

Status CheckLoraTarget(const std::string& adapter, const std::string& target, uint64_t out, uint64_t in,
                       const ModelConfig& base) {
  uint32_t layer = 0;
  LoraTarget which;
  if (!ParseLoraTarget(target, &layer, &which))
    return StatusError(StatusCode::kUnsupported, "adapter %s: %s is not a LoRA target qlite supports (projections only)",
                       adapter.c_str(), target.c_str());
  if (layer >= base.n_layers)
    return StatusError(StatusCode::kMismatch, "adapter %s: the base model has no tensor %s", adapter.c_str(),
                       target.c_str());
  // format/FORMAT.md's table, as ExpectedTensors builds it, for one projection.
  const uint64_t dim = base.dim, q = uint64_t{base.n_heads} * base.head_dim,
                 kv = uint64_t{base.n_kv_heads} * base.head_dim, ffn = base.ffn_dim;
  uint64_t want_out = 0, want_in = 0;
  switch (which) {
    case LoraTarget::kAttnQ: want_out = q, want_in = dim; break;
    case LoraTarget::kAttnK:
    case LoraTarget::kAttnV: want_out = kv, want_in = dim; break;
    case LoraTarget::kAttnOutput: want_out = dim, want_in = q; break;
    case LoraTarget::kFfnGate:
    case LoraTarget::kFfnUp: want_out = ffn, want_in = dim; break;
    case LoraTarget::kFfnDown: want_out = dim, want_in = ffn; break;
  }
  if (want_out != out || want_in != in)
    return StatusError(StatusCode::kMismatch, "adapter %s: %s is [%llu, %llu], the base has [%llu, %llu]",
                       adapter.c_str(), target.c_str(), (unsigned long long)out, (unsigned long long)in,
                       (unsigned long long)want_out, (unsigned long long)want_in);
  return Status::Ok();
}

Status CheckLoraShapes(const LoraAdapter& a, const ModelConfig& base) {
  const LoraTensor* prev = nullptr;
  for (const LoraTensor& t : a.tensors) {
    QLITE_RETURN_IF_ERROR(CheckLoraTarget(a.name, t.target, t.out, t.in, base));
    if (prev && !(prev->target < t.target))
      return StatusError(StatusCode::kFormat, "adapter %s: tensors not sorted or duplicated at %s", a.name.c_str(),
                         t.target.c_str());
    prev = &t;
    if (t.rank == 0 || t.rank > 65536 || t.a.size() != uint64_t{t.rank} * t.in || t.b.size() != t.out * t.rank)
      return StatusError(StatusCode::kFormat, "adapter %s: %s has inconsistent rank %u", a.name.c_str(),
                         t.target.c_str(), t.rank);
    if (!std::isfinite(t.factor))
      return StatusError(StatusCode::kFormat, "adapter %s: %s has a non-finite scale", a.name.c_str(), t.target.c_str());
  }
  return Status::Ok();
}

Status MergeLora(const std::string& target, const std::vector<ScaledLora>& adapters, float* w, uint64_t rows,
                 uint64_t cols) {
  std::vector<const LoraTensor*> parts;
  std::vector<double> coef;
  for (const ScaledLora& s : adapters) {
    const LoraTensor* t = s.adapter ? s.adapter->Find(target) : nullptr;
    if (!t || s.scale == 0.0f) continue;
    if (t->out != rows || t->in != cols)
      return StatusError(StatusCode::kMismatch, "adapter %s: %s is [%llu, %llu], the weight is [%llu, %llu]",
                         s.adapter->name.c_str(), target.c_str(), (unsigned long long)t->out,
                         (unsigned long long)t->in, (unsigned long long)rows, (unsigned long long)cols);
    parts.push_back(t);
    coef.push_back(double(s.scale) * double(t->factor));
  }
  if (parts.empty()) return Status::Ok();
  std::vector<double> acc(cols), sum(cols);
  for (uint64_t r = 0; r < rows; ++r) {
    float* row = w + r * cols;
    std::fill(acc.begin(), acc.end(), 0.0);
    for (size_t p = 0; p < parts.size(); ++p) {
      const LoraTensor& t = *parts[p];
      std::fill(sum.begin(), sum.end(), 0.0);  // (B·A)[r], then scaled: the reference's order
      for (uint32_t k = 0; k < t.rank; ++k) {
        const double b = t.b[r * t.rank + k];
        const float* a = t.a.data() + uint64_t{k} * cols;
        for (uint64_t c = 0; c < cols; ++c) sum[c] += b * double(a[c]);
      }
      for (uint64_t c = 0; c < cols; ++c) acc[c] += coef[p] * sum[c];
    }
    for (uint64_t c = 0; c < cols; ++c) {
      const float v = static_cast<float>(double(row[c]) + acc[c]);
      if (!std::isfinite(v))
        return StatusError(StatusCode::kFormat, "merging into %s gives a non-finite weight", target.c_str());
      row[c] = v;
    }
  }
  return Status::Ok();
}

Status SetLoraMerge(const std::vector<ScaledLora>& adapters, const ModelConfig& base, ConvertOptions* options) {
  for (const ScaledLora& s : adapters) {
    if (!s.adapter) return Status(StatusCode::kInvalidArgument, "null adapter");
    if (!std::isfinite(s.scale))
      return StatusError(StatusCode::kInvalidArgument, "adapter %s: bad scale", s.adapter->name.c_str());
    if (s.adapter->base_fingerprint != 0)  // its rows follow one converted base; that base is not known yet
      return StatusError(StatusCode::kInvalidArgument,
                         "adapter %s is a .qla file: apply it at load time (qlite run --lora), or merge its PEFT/GGUF "
                         "source at conversion", s.adapter->name.c_str());
    QLITE_RETURN_IF_ERROR(CheckLoraShapes(*s.adapter, base));
    AdapterRecord r;
    r.name = s.adapter->name;
    r.scale = s.scale;
    r.rank = s.adapter->rank;
    r.alpha = s.adapter->alpha;
    r.fingerprint = LoraContentHash(*s.adapter);
    options->adapters.push_back(r);
  }
  // Runs after the converter has fingerprinted the unmerged values (FORMAT.md).
  options->merge = [adapters](const std::string& name, const std::vector<uint64_t>& shape,
                              std::vector<float>* values) -> Status {
    if (shape.size() != 2) return Status::Ok();
    return MergeLora(name, adapters, values->data(), shape[0], shape[1]);
  };
  return Status::Ok();
}

uint64_t LoraContentHash(const LoraAdapter& a) {
  uint64_t h = kFnv64Offset;
  for (const LoraTensor& t : a.tensors) {
    h = Fnv1a64(t.target.data(), t.target.size(), h);
    h = Fnv1a64(&t.factor, sizeof(float), h);
    h = Fnv1a64(t.a.data(), t.a.size() * sizeof(float), h);
    h = Fnv1a64(t.b.data(), t.b.size() * sizeof(float), h);
  }
  return h;
}

}  // namespace qlite
