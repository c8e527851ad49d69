// A whole Llama-family model on one CUDA GPU: weights uploaded once from the same .qlm
// tensors the CPU runtime maps, a session that owns the GPU KV cache ring and every
// activation buffer (nothing is allocated per token), logits copied back to the host.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "qlite/base/kv_ring.h"
#include "qlite/cuda/kernels.h"
#include "qlite/format/quantize.h"
#include "qlite/format/source_model.h"
#include "qlite/base/status.h"

typedef struct CUgraphExec_st* cudaGraphExec_t;

namespace qlite {
class ModelFile;
namespace cuda {

struct DeviceInfo {
  bool available = false;        // false: no usable GPU (reason in `message`)
  int device = 0;
  std::string name, message;
  int sm_major = 0, sm_minor = 0, sm_count = 0;
  uint64_t total_memory = 0;
  double peak_bandwidth_gbs = 0;  // 2 x memory clock x bus width (cudaDeviceGetAttribute)
};
// Never fails: a machine without a GPU or driver reports available = false.
DeviceInfo QueryDevice(int device = 0);
// Median GB/s over `reps` reads of a `bytes` buffer on the current device (benchmarks).
Status MeasureReadBandwidth(uint64_t bytes, int reps, double* gbs);
// Makes `device` current for this thread (models load onto the current device); kUnsupported
// when it is not a usable GPU.
Status SelectDevice(int device);

// Finds a tensor by its .qlm name (format/FORMAT.md); sets *found = false when absent.
// The view must stay valid for the duration of CudaModel::Load.
using TensorLookup =
    std::function<Status(const std::string& name, QuantizedView* view, bool* found)>;

// One owned allocation: device memory, or pinned host memory for transfers.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  bool pinned_host = false;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();
};

class CudaModel {
 public:
  ~CudaModel();
  // Validates shapes against `config`, converts and uploads every tensor to the current
  // device. Unsupported schemes (group sizes not a multiple of 32, U4 with U8
  // scales) fail with kUnsupported.
  static Status Load(const ModelConfig& config, const TensorLookup& lookup,
                     std::unique_ptr<CudaModel>* out);
  // The same from an open .qlm file (config and tensors as the CPU runtime sees them).
  static Status Load(const ModelFile& file, std::unique_ptr<CudaModel>* out);

  const ModelConfig& config() const { return config_; }
  int device() const { return device_; }  // the GPU the weights live on
  uint64_t weight_bytes() const { return weight_bytes_; }  // device bytes: values + scales
  // Bytes a decode step must read: every layer matrix, the output head, one embedding row.
  uint64_t decode_bytes_per_token() const { return decode_bytes_; }

 private:
  friend class CudaSession;
  struct Layer {
    const float *attn_norm = nullptr, *ffn_norm = nullptr;
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
    MatrixDesc wq, wk, wv, wo, wg, wu, wd;
  };
  CudaModel() = default;
  Status UploadMatrix(const TensorLookup& lookup, const std::string& name, uint64_t rows,
                      uint64_t cols, MatrixDesc* out);
  // The layer matrix a .qlm name stands for ("blk.3.attn_q"), its shape; null if none.
  const MatrixDesc* LayerMatrix(const std::vector<Layer>& layers, const std::string& name) const;
  Status UploadVector(const TensorLookup& lookup, const std::string& name, uint64_t n,
                      bool required, const float** out);

  ModelConfig config_;
  int device_ = 0;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
  std::vector<Layer> layers_;
  MatrixDesc embed_, output_;
  const float* output_norm_ = nullptr;
  const float* inv_freq_ = nullptr;
  uint32_t rotary_dim_ = 0;
  uint64_t weight_bytes_ = 0, decode_bytes_ = 0;
};

// window, n_sink_tokens and kv_type mean what they mean in the CPU runtime's
// qlite_session_params (runtime/src/session.cc), with the same defaults, so one .qlm gives
// the same tokens on both.
struct CudaSessionParams {
  // KV positions kept; 0 = the most any layer attends to (its sliding window, else the
  // context length). A layer's ring is min(window, what it attends to) slots.
  uint32_t window = 0;
  // Attention sinks pinned when a ring slides; UINT32_MAX = automatic (min(4, window / 2),
  // only on layers whose ring is shorter than what they attend to).
  uint32_t n_sink_tokens = UINT32_MAX;
  KvCacheType kv_type = KvCacheType::kF32;
  uint32_t max_batch = 64;  // tokens per prefill chunk (0 = 64, at most 65536)
  // Decode replays one captured CUDA graph per token (hundreds of kernel launches would
  // otherwise cost more than streaming the weights). false: launch kernels directly.
  bool use_graphs = true;
};

// Each layer's KV ring for `c` under `params`: the CPU runtime's plan itself
// (qlite/base/kv_plan.h), so one .qlm keeps the same positions on both backends.
Status PlanKvRings(const ModelConfig& c, const CudaSessionParams& params,
                   std::vector<KvRingShape>* rings);

// Device bytes one session takes, as Create allocates them.
struct CudaSessionMemory {
  uint64_t kv_cache = 0;     // every layer's ring (+ q8 scales)
  uint64_t activations = 0;  // a prefill chunk's buffers and the logits
  uint64_t pinned_host = 0;  // pinned host memory for token ids and logits
};

// One sequence on the GPU. The model must outlive it; use it from one thread at a time
// (any thread: each call makes the model's GPU current).
class CudaSession {
 public:
  ~CudaSession();
  // Bad window / n_sink_tokens / kv_type fail with kInvalidArgument, as the CPU runtime's do.
  static Status Create(const CudaModel& model, const CudaSessionParams& params,
                       std::unique_ptr<CudaSession>* out);
  // What Create would allocate, without a GPU (the same layout code).
  static Status Measure(const ModelConfig& config, const CudaSessionParams& params,
                        CudaSessionMemory* out);
  // Runs `weights` (LoRA-merged copies of layer matrices, by .qlm name such as
  // "blk.3.attn_q", each of the model's shape) instead of the model's own; an empty list
  // restores the model's own. Uploads them into session memory, drops the captured decode
  // graph (it holds the old pointers) and resets the position. On error the session runs
  // the model's own weights.
  Status SetLayerWeights(const std::vector<std::pair<std::string, QuantizedView>>& weights);
  // Feeds one token at the next position; *logits (vocab_size floats, host memory owned by
  // the session) stay valid until the next call.
  Status Decode(int32_t token, const float** logits);
  // Feeds n tokens in GEMM chunks; *logits are those of the last token.
  Status Prefill(const int32_t* tokens, size_t n, const float** logits);
  void Reset() { pos_ = 0; }
  uint32_t position() const { return pos_; }
  uint32_t window() const { return window_; }  // the widest layer ring
  const std::vector<KvRingShape>& kv_rings() const { return rings_; }
  const CudaSessionMemory& memory() const { return memory_; }

 private:
  CudaSession(const CudaModel& model) : model_(model) {}
  Status Run(const int32_t* tokens, size_t n, const float** logits);
  struct Layout;
  static Status Plan(const ModelConfig& c, const CudaSessionParams& params, Layout* out);
  void Enqueue(size_t n);  // the forward pass for n tokens, all asynchronous on stream_
  Status CaptureDecodeGraph();
  void Matmul(const MatrixDesc& w, const float* x, size_t n, size_t x_stride, float* y,
              size_t y_stride, Epilogue ep);

  const CudaModel& model_;
  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
  cudaStream_t stream_ = nullptr;
  uint32_t window_ = 0, max_batch_ = 0, pos_ = 0;
  CudaSessionMemory memory_;
  // The weights this session runs: the model's, or merged copies in weight_buffers_.
  std::vector<CudaModel::Layer> layers_;
  std::vector<std::unique_ptr<DeviceBuffer>> weight_buffers_;
  size_t dim_stride_ = 0, q_stride_ = 0, kv_stride_ = 0, ffn_stride_ = 0;
  float *x_ = nullptr, *xb_ = nullptr, *q_ = nullptr, *k_ = nullptr, *v_ = nullptr;
  float *att_ = nullptr, *hb_ = nullptr, *hb2_ = nullptr, *logits_dev_ = nullptr;
  // [0] = position of the first token, [1..n] = tokens; pinned host copy and device copy.
  uint32_t* io_host_ = nullptr;
  uint32_t* io_dev_ = nullptr;
  bool use_graphs_ = true;
  cudaGraphExec_t decode_graph_ = nullptr;
  float* logits_host_ = nullptr;    // pinned
  std::vector<KvRingShape> rings_;
  std::vector<KvRing> kv_;
};

}  // namespace cuda
}  // namespace qlite
