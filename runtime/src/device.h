// Backends that run a model's sessions somewhere other than this runtime's own CPU kernels
// (qlite_model_params.device). The CPU is not one of them: Session::Forward is the CPU path.
// A device session follows the same SessionPlan (window, sinks, KV type, chunking) as the CPU,
// so one .qlm keeps the same positions on both; the sampler stays on the host.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "qlite/base/status.h"
#include "qlite/format/quantize.h"
#include "qlite/qlite.h"

namespace qlite {

class Model;
struct SessionPlan;

// Bytes a device session takes, where they live.
struct DeviceSessionMemory {
  uint64_t kv_cache = 0, activations = 0;  // on the device
  uint64_t pinned_host = 0;                // host memory the backend pins for transfers
};

class DeviceSession {
 public:
  virtual ~DeviceSession() = default;
  // Runs n tokens at the next positions; *logits = the last token's (vocab_size floats of host
  // memory owned by the session, valid until the next call).
  virtual Status Forward(const int32_t* tokens, size_t n, const float** logits) = 0;
  virtual void Reset() = 0;
  // Runs these layer matrices (LoRA-merged copies, by .qlm name) instead of the model's; an
  // empty list restores the model's own. Resets the position.
  virtual Status SetLayerWeights(const std::vector<std::pair<std::string, QuantizedView>>& weights) = 0;
};

class DeviceModel {
 public:
  virtual ~DeviceModel() = default;
  virtual qlite_device kind() const = 0;
  virtual uint64_t weight_bytes() const = 0;  // device memory of the uploaded weights
  virtual uint64_t decode_bytes() const = 0;  // of them, what one decode token reads
  virtual Status MeasureSession(const SessionPlan& plan, DeviceSessionMemory* out) const = 0;
  virtual Status CreateSession(const SessionPlan& plan, std::unique_ptr<DeviceSession>* out) const = 0;
};

// Devices are plain ints here: C callers may store any value in a qlite_device.
// Usable devices of that kind: 0 where this build has no backend for it or the machine no
// such device.
int32_t DeviceCount(int device);

// Uploads `model` to `device` (GPU `index`). kUnsupported, with the reason, when this build
// has no such backend, the machine has no such device, or the backend cannot run the model.
Status OpenDeviceModel(const Model& model, int device, int32_t index,
                       std::unique_ptr<DeviceModel>* out);

}  // namespace qlite
