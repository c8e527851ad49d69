#include "adapter.h"

#include <set>

#include "qlite/format/model_file.h"

namespace qlite {
namespace {
constexpr uint64_t kAlign = 64;
uint64_t Aligned(uint64_t v) { return (v + kAlign - 1) & ~(kAlign - 1); }
}  // namespace

Status Adapter::Open(const Model& base, const std::string& path, std::unique_ptr<Adapter>* out) {
  std::unique_ptr<Adapter> a(new Adapter());
  QLITE_RETURN_IF_ERROR(ReadLoraAdapter(path, base.config(), &a->lora));
  const uint64_t fp = base.file().fingerprint();
  // PEFT / GGUF adapters carry no binding (only their shapes are checked); .qla files do.
  if (a->lora.base_fingerprint != 0 && a->lora.base_fingerprint != fp)
    return StatusError(StatusCode::kMismatch,
                       "adapter %s was made for base model %016llx, this model is %016llx (a different base or row order, "
                       "or the base converted again since .qlm version 2 changed the fingerprint: make the "
                       "adapter again with qlite convert-lora --base)",
                       path.c_str(), (unsigned long long)a->lora.base_fingerprint, (unsigned long long)fp);
  // The same adapter already merged into this file at conversion would count twice.
  const fb::Provenance* prov = base.file().meta() ? base.file().meta()->provenance() : nullptr;
  if (prov && prov->adapters()) {
    const uint64_t hash = LoraContentHash(a->lora);
    for (const fb::Adapter* merged : *prov->adapters())
      if (merged->fingerprint() == hash)
        return StatusError(StatusCode::kMismatch, "adapter %s is already merged into this model (at conversion)",
                           path.c_str());
  }
  a->base_fingerprint = fp;
  *out = std::move(a);
  return Status::Ok();
}

uint64_t MergedTensorBytes(const QuantizedView& v) {
  const QuantSpec& s = v.spec;
  const uint64_t data = StoredRows(s, v.rows) * v.row_stride;
  const uint64_t scales = NumScales(s, v.rows, v.cols) * ScaleTypeBytes(s.scale_type);
  const uint64_t mins = s.dtype == fb::DType::U4 ? scales : 0;
  const uint64_t dq = s.scale_type == fb::DType::U8 && scales ? NumDqEntries(s, v.rows, v.cols) * 4 : 0;
  return Aligned(data) + Aligned(scales) + Aligned(mins) + 2 * Aligned(dq);
}

Status AdaptersBytes(const Model& model, const Adapter* const* adapters, size_t n, uint64_t* out) {
  std::set<std::string> targets;
  for (size_t i = 0; i < n; ++i) {
    if (!adapters[i]) return Status(StatusCode::kInvalidArgument, "adapter is NULL");
    for (const LoraTensor& t : adapters[i]->lora.tensors) targets.insert(t.target);
  }
  uint64_t total = 0;
  for (const std::string& name : targets) {
    const TensorRef* t = model.file().FindTensor(name);
    if (!t) return StatusError(StatusCode::kMismatch, "the model has no tensor %s", name.c_str());
    total += MergedTensorBytes(t->view);
  }
  *out = total;
  return Status::Ok();
}

}  // namespace qlite
