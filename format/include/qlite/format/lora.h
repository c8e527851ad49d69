// LoRA adapters: reading them (Hugging Face PEFT folders, llama.cpp GGUF LoRA, qlite .qla
// files) into one in-memory form in qlite tensor names and the base's q/k row order, and
// the merge math W' = W + sum_i scale_i * factor_i * B_i·A_i (double accumulation, one
// rounding to f32). See format/LORA.md for the trade-offs of merging at conversion vs load.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qlite/format/convert.h"
#include "qlite/format/source_model.h"
#include "qlite/base/status.h"

namespace qlite {

// One adapted matrix: delta = factor · B·A, A [rank][in], B [out][rank], both row-major,
// B's rows in the base's row order (q/k permuted for the base's rope_style).
struct LoraTensor {
  std::string target;  // qlite tensor name, e.g. "blk.0.attn_q"
  uint32_t rank = 0;
  uint64_t in = 0, out = 0;
  float factor = 0.0f;  // alpha / r (alpha / sqrt(r) with rsLoRA), per tensor
  std::vector<float> a, b;
};

struct LoraAdapter {
  std::string name;           // source basename (provenance)
  uint32_t rank = 0;          // nominal r (rank_pattern may differ per tensor)
  float alpha = 0.0f;         // nominal lora_alpha
  uint64_t base_fingerprint = 0;  // Model.fingerprint it is bound to; 0 = not bound (PEFT/GGUF)
  std::vector<LoraTensor> tensors;  // sorted by target, unique
  const LoraTensor* Find(const std::string& target) const;
  uint64_t n_params() const;
};

// Targets LoRA may adapt: the seven projection matrices of every layer.
enum class LoraTarget { kAttnQ, kAttnK, kAttnV, kAttnOutput, kFfnGate, kFfnUp, kFfnDown };
// "blk.N.attn_q" and the like -> layer N and which projection; false for any other name.
bool ParseLoraTarget(const std::string& qlite_name, uint32_t* layer, LoraTarget* which);
bool IsLoraTarget(const std::string& qlite_name);

// Reads a PEFT folder (adapter_config.json + adapter_model.safetensors), a llama.cpp GGUF
// LoRA (general.type = adapter) or a qlite .qla file, checks every shape against `base`,
// and puts q/k B rows in `base.rope_style` order (PEFT is rotate-half, GGUF interleaved,
// .qla already the base's). Unsupported variants (DoRA, embedding LoRA, adapter_model.bin)
// are refused with kUnsupported; bad input with kFormat.
Status ReadLoraAdapter(const std::string& path, const ModelConfig& base, LoraAdapter* out);

// Checks that every tensor of `adapter` names a LoRA target with the base's shape.
Status CheckLoraShapes(const LoraAdapter& adapter, const ModelConfig& base);
// One adapted projection's [out, in] against the base, from the shapes alone: readers call it
// before reading an adapter's tensor data, so a mismatched adapter costs no time or memory.
Status CheckLoraTarget(const std::string& adapter, const std::string& target, uint64_t out, uint64_t in,
                       const ModelConfig& base);

// One adapter with its user scale, as merged.
struct ScaledLora {
  const LoraAdapter* adapter = nullptr;
  float scale = 1.0f;
};

// w[rows][cols] (f32, row-major) += sum over adapters adapting `target` of
// scale·factor·B·A, accumulated in double per element and rounded once.
Status MergeLora(const std::string& target, const std::vector<ScaledLora>& adapters, float* w,
                 uint64_t rows, uint64_t cols);

// Merge at conversion: sets options->merge (applied to each tensor after the converter has
// fingerprinted its unmerged values, before quantizing) and appends the provenance records
// to options->adapters. The adapters must outlive the conversion.
Status SetLoraMerge(const std::vector<ScaledLora>& adapters, const ModelConfig& base, ConvertOptions* options);

// FNV-1a 64 over the adapter's targets, factors, A and B (AdapterRecord.fingerprint).
uint64_t LoraContentHash(const LoraAdapter& adapter);

}  // namespace qlite
