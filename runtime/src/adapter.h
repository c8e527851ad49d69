// A LoRA adapter opened against one base model (the qlite_adapter handle): its A/B in the
// base's tensor names and row order, ready to be merged by any session over that base.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model.h"
#include "qlite/format/lora.h"

namespace qlite {

struct Adapter {
  LoraAdapter lora;
  uint64_t base_fingerprint = 0;  // of the model it was opened against

  static Status Open(const Model& base, const std::string& path, std::unique_ptr<Adapter>* out);
};

// Bytes the merged copy of one tensor takes in a session's adapter memory (each region
// 64-byte aligned), and the sum over the union of the adapters' targets.
uint64_t MergedTensorBytes(const QuantizedView& view);
Status AdaptersBytes(const Model& model, const Adapter* const* adapters, size_t n, uint64_t* out);

}  // namespace qlite
