// The CUDA backend behind qlite_model_params.device = QLITE_DEVICE_CUDA (ports/cuda): the
// model's tensors uploaded once from the mapped file, sessions planned by the CPU's plan.
#include "device.h"
#include "model.h"
#include "qlite/cuda/model.h"
#include "qlite/format/model_file.h"
#include "session.h"

namespace qlite {
namespace {

cuda::KvCacheType ToCuda(arch::KvType t) {
  switch (t) {
    case arch::KvType::kF16: return cuda::KvCacheType::kF16;
    case arch::KvType::kQ8: return cuda::KvCacheType::kQ8;
    default: return cuda::KvCacheType::kF32;
  }
}

// The plan's window and sinks given back as explicit values: the CUDA session's
// PlanKvRings then makes the same rings (qlite/base/kv_plan.h).
cuda::CudaSessionParams ToCuda(const SessionPlan& plan) {
  cuda::CudaSessionParams p;
  p.window = plan.kv.window;
  p.n_sink_tokens = plan.kv.auto_sinks ? kKvAutoSinks : plan.kv.n_sinks;
  p.kv_type = ToCuda(plan.kv_type);
  p.max_batch = plan.max_batch;
  return p;
}

class CudaDeviceSession : public DeviceSession {
 public:
  explicit CudaDeviceSession(std::unique_ptr<cuda::CudaSession> s) : s_(std::move(s)) {}
  Status Forward(const int32_t* tokens, size_t n, const float** logits) override {
    return n == 1 ? s_->Decode(tokens[0], logits) : s_->Prefill(tokens, n, logits);
  }
  void Reset() override { s_->Reset(); }
  Status SetLayerWeights(const std::vector<std::pair<std::string, QuantizedView>>& weights) override {
    return s_->SetLayerWeights(weights);
  }

 private:
  std::unique_ptr<cuda::CudaSession> s_;
};

// The port's attention kernels read f32, f16 and q8 caches.
Status CheckKvType(const SessionPlan& plan) {
  if (plan.kv_type == arch::KvType::kQ4)
    return Status(StatusCode::kUnsupported, "CUDA port: kv_type q4 is not supported; use q8 or f16");
  return Status::Ok();
}

class CudaDeviceModel : public DeviceModel {
 public:
  explicit CudaDeviceModel(std::unique_ptr<cuda::CudaModel> m) : m_(std::move(m)) {}
  qlite_device kind() const override { return QLITE_DEVICE_CUDA; }
  uint64_t weight_bytes() const override { return m_->weight_bytes(); }
  uint64_t decode_bytes() const override { return m_->decode_bytes_per_token(); }
  Status MeasureSession(const SessionPlan& plan, DeviceSessionMemory* out) const override {
    QLITE_RETURN_IF_ERROR(CheckKvType(plan));
    cuda::CudaSessionMemory mem;
    QLITE_RETURN_IF_ERROR(cuda::CudaSession::Measure(m_->config(), ToCuda(plan), &mem));
    out->kv_cache = mem.kv_cache;
    out->activations = mem.activations;
    out->pinned_host = mem.pinned_host;
    return Status::Ok();
  }
  Status CreateSession(const SessionPlan& plan, std::unique_ptr<DeviceSession>* out) const override {
    QLITE_RETURN_IF_ERROR(CheckKvType(plan));
    std::unique_ptr<cuda::CudaSession> s;
    QLITE_RETURN_IF_ERROR(cuda::CudaSession::Create(*m_, ToCuda(plan), &s));
    out->reset(new CudaDeviceSession(std::move(s)));
    return Status::Ok();
  }

 private:
  std::unique_ptr<cuda::CudaModel> m_;
};

}  // namespace

int32_t DeviceCount(int device) {
  if (device != QLITE_DEVICE_CUDA) return 0;
  int32_t n = 0;
  while (cuda::QueryDevice(n).available) ++n;
  return n;
}

Status OpenDeviceModel(const Model& model, int device, int32_t index, std::unique_ptr<DeviceModel>* out) {
  if (device != QLITE_DEVICE_CUDA) return StatusError(StatusCode::kInvalidArgument, "unknown device %d", device);
  QLITE_RETURN_IF_ERROR(cuda::SelectDevice(index));
  std::unique_ptr<cuda::CudaModel> m;
  const Status s = cuda::CudaModel::Load(model.file(), &m);
  if (!s.ok()) return Status(s.code(), "CUDA backend: " + s.message());
  out->reset(new CudaDeviceModel(std::move(m)));
  return Status::Ok();
}

}  // namespace qlite
