// A loaded model: the mapped file, its config, and per-layer weight views that point
// straight into the file's data segment (nothing is copied or repacked at load). Everything
// else it keeps (tensor table, tokenizer, layer views, RoPE tables, the object itself) comes
// from its ModelArena: the caller's buffer when one is given, else the heap.
#pragma once
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

#include "qlite/arch/matmul.h"
#include "model_arena.h"
#include "qlite/format/model_file.h"
#include "qlite/format/quantize.h"
#include "qlite/format/source_model.h"
#include "qlite/qlite.h"
#include "qlite/base/status.h"
#include "tokenizer.h"

namespace qlite {

class DeviceModel;

struct LayerWeights {
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  arch::WeightMatrix wq, wk, wv, wo;
  arch::WeightMatrix gate, up, down;
  const float* bq = nullptr;  // Qwen2 q/k/v biases (null when absent)
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // per-head RMSNorm of q and k, [head_dim] (qk_norm; else null)
  const float* k_norm = nullptr;
  const float* attn_post_norm = nullptr;  // on the attention / feed-forward output (post_norms; else null)
  const float* ffn_post_norm = nullptr;
  uint32_t sliding_window = 0;  // 0 = full attention
  bool local_rope = false;      // rotates with the local RoPE base (Model::inv_freq(true))
  bool rope = true;             // false: q and k are not rotated (SmolLM3's no-RoPE layers)
};

struct ModelOpenOptions {
  bool verify_checksums = false;
  bool use_mmap = true;
  int device = QLITE_DEVICE_CPU;  // qlite_device, as the caller stored it (checked at open)
  int32_t device_index = 0;
  // Where the model's own memory comes from (it must outlive the model): null = the heap.
  void* buffer = nullptr;
  size_t buffer_size = 0;
};

class Model {
 public:
  static Status Open(const std::string& path, const ModelOpenOptions& options, std::unique_ptr<Model>* out);
  // Uses the caller's buffer in place.
  static Status OpenMemory(const void* data, size_t size, const ModelOpenOptions& options,
                           std::unique_ptr<Model>* out);
  // Bytes a ModelOpenOptions::buffer must hold to open this file with these options
  // (measured by an open on the heap): exact for options.buffer's address when it is set,
  // else for any address (kAlign - 1 bytes of alignment pad included).
  static Status MemoryNeeded(const void* data, size_t size, const ModelOpenOptions& options, uint64_t* out_bytes);
  ~Model();

  // A model in a caller's buffer is destroyed in place: `delete` frees only heap models.
  static void* operator new(size_t bytes);
  static void operator delete(void* p) noexcept;

  const ModelConfig& config() const { return file_.config(); }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const std::pmr::vector<LayerWeights>& layers() const { return layers_; }
  const arch::WeightMatrix& output() const { return output_; }
  const float* output_norm() const { return output_norm_; }
  uint32_t q_dim() const { return config().n_heads * config().head_dim; }
  uint32_t kv_dim() const { return config().n_kv_heads * config().head_dim; }
  uint32_t rotary_dim() const { return rotary_dim_; }
  // RoPE inverse frequencies (rotary_dim/2), scaling (linear, Llama 3) and frequency factors
  // already applied; local: those of the sliding-window layers' own base (empty unless
  // rope_local_theta); long_context: LongRoPE's long factors (a session keeping more than
  // the original context uses them).
  const float* inv_freq(bool local = false, bool long_context = false) const {
    return local ? inv_freq_local_.data() : long_context ? inv_freq_long_.data() : inv_freq_.data();
  }
  bool has_local_rope() const { return !inv_freq_local_.empty(); }
  // Whether a session keeping `window` positions rotates with the long factors.
  bool UsesLongRope(uint32_t window) const {
    return !inv_freq_long_.empty() && window > config().rope_original_context;
  }
  // The query-key dot product's scale.
  float attention_scale() const { return attention_scale_; }
  // The file's chat template (a view into the file; empty without one).
  std::string_view chat_template() const { return chat_template_; }
  bool has_chat_template() const { return !chat_template_.empty(); }
  uint64_t weight_bytes() const { return weight_bytes_; }
  uint64_t decode_bytes() const { return decode_bytes_; }  // weight bytes one decode token reads
  uint32_t n_slow_layout_tensors() const { return n_slow_layout_tensors_; }
  uint64_t n_params() const { return n_params_; }

  // The mapped file (tensor views by name, fingerprint): adapters merge from it.
  const ModelFile& file() const { return file_; }
  // Bytes of the model's own memory (what a buffer for it needs, bar alignment).
  uint64_t host_bytes() const { return host_bytes_; }
  // The backend the model's sessions run on; null on the CPU.
  const DeviceModel* device() const { return device_.get(); }
  bool mapped() const { return mapped_; }  // the file is mapped, not read into memory

  // Writes the embedding row of `token` (dim floats). Allocation-free.
  void Embed(int32_t token, float* out) const;

 private:
  Model(void* arena_base, size_t arena_size);  // null: the heap
  // A new model whose memory is options.buffer (or the heap), opened by `open`.
  template <typename OpenFile>
  static Status New(const ModelOpenOptions& options, OpenFile open, std::unique_ptr<Model>* out);
  Status Init(const ModelOpenOptions& options);

  ModelArena arena_;  // first: the members below take their memory from it
  ModelFile file_;
  Tokenizer tokenizer_;
  std::unique_ptr<DeviceModel> device_;
  bool mapped_ = false;
  uint64_t host_bytes_ = 0;
  std::string_view chat_template_;
  QuantizedView embedding_;
  const float* output_norm_ = nullptr;
  arch::WeightMatrix output_;
  std::pmr::vector<LayerWeights> layers_;
  std::pmr::vector<float> inv_freq_, inv_freq_local_, inv_freq_long_;
  float attention_scale_ = 1.0f;
  uint32_t rotary_dim_ = 0;
  uint64_t weight_bytes_ = 0, decode_bytes_ = 0, n_params_ = 0;
  uint32_t n_slow_layout_tensors_ = 0;
};

// Maps a stored tensor view onto the kernels' description of a weight matrix.
arch::WeightMatrix ToWeightMatrix(const QuantizedView& view);

}  // namespace qlite
