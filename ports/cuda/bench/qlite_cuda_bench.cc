// qlite_cuda_bench: decode and prefill speed of a TinyLlama-1.1B-shaped model with random
// int4 / int8 weights (codes and f16 scales drawn directly in the .qlm layout; every layer
// shares one set of host bytes but gets its own device copy). Decode is memory-bound, so
// the figure that matters is GB/s of weights streamed per token against the read bandwidth
// measured on the same GPU at start (MeasureReadBandwidth).
//
//   qlite_cuda_bench [--bits 4|8|0 (both)] [--tokens N] [--prefill N] [--kv f32|f16|q8]
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>

#include "qlite/cuda/kernels.h"
#include "qlite/cuda/model.h"

namespace {

// The GPU's read bandwidth measured at start (MeasureReadBandwidth): what decode is held to.
double g_read_gbs = 0;

using qlite::QuantizedTensor;
using qlite::QuantizedView;
using qlite::QuantSpec;
using qlite::fb::DType;

QuantizedTensor RandomWeights(uint64_t rows, uint64_t cols, DType dtype, std::mt19937_64* rng) {
  QuantizedTensor t;
  t.spec.dtype = dtype;
  t.spec.granularity = qlite::fb::Granularity::Group;
  t.spec.group_size = 32;
  t.rows = rows, t.cols = cols;
  const uint64_t blocks = (cols + 31) / 32;
  t.row_stride = blocks * (dtype == DType::I8 ? 32 : 16);
  t.data.resize(rows * t.row_stride);
  for (size_t i = 0; i + 8 <= t.data.size(); i += 8) {
    uint64_t r = (*rng)();
    if (dtype == DType::I8) r &= 0x3F3F3F3F3F3F3F3Full;  // keep |q| moderate
    std::memcpy(&t.data[i], &r, 8);
  }
  t.scales.resize(rows * blocks * 2);
  for (size_t i = 0; i < rows * blocks; ++i) {
    const uint16_t h = qlite::F32ToF16(0.002f + 0.002f * ((*rng)() % 1000) / 1000.0f);
    std::memcpy(&t.scales[2 * i], &h, 2);
  }
  return t;
}

QuantizedTensor Ones(uint64_t n) {
  QuantizedTensor t;
  t.rows = 1, t.cols = n, t.row_stride = n * 4;
  t.data.resize(n * 4);
  const float one = 1.0f;
  for (uint64_t i = 0; i < n; ++i) std::memcpy(&t.data[i * 4], &one, 4);
  return t;
}

QuantizedView View(const QuantizedTensor& t) {
  QuantizedView v;
  v.spec = t.spec;
  v.rows = t.rows, v.cols = t.cols, v.row_stride = t.row_stride;
  v.data = t.data.data();
  v.scales = t.scales.empty() ? nullptr : t.scales.data();
  return v;
}

// Kernel alone: the ffn_up GEMV (5632 x 2048) timed with events over many launches, so
// the gap between it and the per-token figure is launch and small-kernel overhead.
void GemvAlone(const QuantizedTensor& t, int bits, const qlite::cuda::DeviceInfo& dev) {
  qlite::cuda::HostMatrix h;
  if (!qlite::cuda::PrepareMatrix(View(t), &h).ok()) return;
  qlite::cuda::MatrixDesc d = h.desc;
  void *data = nullptr, *scales = nullptr, *x = nullptr, *y = nullptr;
  const size_t cols_padded = size_t{d.blocks} * 32;
  cudaMalloc(&data, h.data.size());
  cudaMalloc(&scales, h.scales.size() * 2);
  cudaMalloc(&x, cols_padded * 4);
  cudaMalloc(&y, size_t{d.rows} * 4);
  cudaMemcpy(data, h.data.data(), h.data.size(), cudaMemcpyHostToDevice);
  cudaMemcpy(scales, h.scales.data(), h.scales.size() * 2, cudaMemcpyHostToDevice);
  cudaMemset(x, 0, cols_padded * 4);
  d.data = static_cast<const uint8_t*>(data);
  d.scales = static_cast<const uint16_t*>(scales);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  const int reps = 200;
  for (int i = 0; i < 10; ++i) {
    qlite::cuda::LaunchGemv(d, static_cast<float*>(x), static_cast<float*>(y), {}, nullptr);
  }
  cudaEventRecord(a);
  for (int i = 0; i < reps; ++i) {
    qlite::cuda::LaunchGemv(d, static_cast<float*>(x), static_cast<float*>(y), {}, nullptr);
  }
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  const double bytes = h.data.size() + h.scales.size() * 2.0;
  const double gbs = bytes * reps / (ms * 1e-3) / 1e9;
  std::printf("int%d: GEMV %ux%u alone: %.1f us, %.0f GB/s = %.0f%% of the measured read bandwidth\n", bits,
              d.rows, d.cols, ms * 1e3 / reps, gbs, 100.0 * gbs / g_read_gbs);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  for (void* p : {data, scales, x, y}) cudaFree(p);
}

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int RunOne(int bits, int decode_tokens, int prefill_tokens, qlite::cuda::KvCacheType kv_type,
           const qlite::cuda::DeviceInfo& dev) {
  qlite::ModelConfig c;  // TinyLlama-1.1B
  c.dim = 2048, c.n_layers = 22, c.n_heads = 32, c.n_kv_heads = 4, c.head_dim = 64;
  c.ffn_dim = 5632, c.vocab_size = 32000, c.context_length = 2048, c.tied_embeddings = false;
  const DType dt = bits == 4 ? DType::I4 : DType::I8;
  std::mt19937_64 rng(42);
  std::map<std::string, QuantizedTensor> shared;  // per-layer tensors, reused by every layer
  const uint32_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  shared["attn_q"] = RandomWeights(q, c.dim, dt, &rng);
  shared["attn_k"] = RandomWeights(kv, c.dim, dt, &rng);
  shared["attn_v"] = RandomWeights(kv, c.dim, dt, &rng);
  shared["attn_output"] = RandomWeights(c.dim, q, dt, &rng);
  shared["ffn_gate"] = RandomWeights(c.ffn_dim, c.dim, dt, &rng);
  shared["ffn_up"] = RandomWeights(c.ffn_dim, c.dim, dt, &rng);
  shared["ffn_down"] = RandomWeights(c.dim, c.ffn_dim, dt, &rng);
  shared["attn_norm"] = shared["ffn_norm"] = shared["output_norm"] = Ones(c.dim);
  shared["token_embd"] = RandomWeights(c.vocab_size, c.dim, dt, &rng);
  shared["output"] = RandomWeights(c.vocab_size, c.dim, dt, &rng);
  GemvAlone(shared["ffn_up"], bits, dev);
  const qlite::cuda::TensorLookup lookup = [&](const std::string& name, QuantizedView* v,
                                               bool* found) {
    const size_t dot = name.rfind('.');
    const std::string key = name.compare(0, 4, "blk.") == 0 ? name.substr(dot + 1) : name;
    auto it = shared.find(key);
    *found = it != shared.end() && name.find(".bias") == std::string::npos;
    if (*found) *v = View(it->second);
    return qlite::Status::Ok();
  };
  std::unique_ptr<qlite::cuda::CudaModel> model;
  qlite::Status st = qlite::cuda::CudaModel::Load(c, lookup, &model);
  if (!st.ok()) {
    std::fprintf(stderr, "load: %s\n", st.message().c_str());
    return 1;
  }
  qlite::cuda::CudaSessionParams sp;
  sp.max_batch = 128;
  sp.kv_type = kv_type;
  std::unique_ptr<qlite::cuda::CudaSession> s;
  st = qlite::cuda::CudaSession::Create(*model, sp, &s);
  if (!st.ok()) {
    std::fprintf(stderr, "session: %s\n", st.message().c_str());
    return 1;
  }
  std::vector<int32_t> prompt(prefill_tokens);
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % c.vocab_size);
  const float* logits = nullptr;
  if (!s->Prefill(prompt.data(), prompt.size(), &logits).ok()) return 1;  // warm-up
  s->Reset();
  auto t0 = std::chrono::steady_clock::now();
  st = s->Prefill(prompt.data(), prompt.size(), &logits);
  auto t1 = std::chrono::steady_clock::now();
  if (!st.ok()) {
    std::fprintf(stderr, "prefill: %s\n", st.message().c_str());
    return 1;
  }
  const double prefill_s = Seconds(t0, t1);
  int32_t tok = 1;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < decode_tokens; ++i) {
    st = s->Decode(tok, &logits);
    if (!st.ok()) {
      std::fprintf(stderr, "decode: %s\n", st.message().c_str());
      return 1;
    }
    tok = static_cast<int32_t>((tok * 7919 + 13) % c.vocab_size);
  }
  t1 = std::chrono::steady_clock::now();
  const double per_token = Seconds(t0, t1) / decode_tokens;
  const double gbs = model->decode_bytes_per_token() / per_token / 1e9;
  std::printf("int%d: weights %.0f MB on device, %.1f MB read per token, KV cache %.0f MB\n", bits,
              model->weight_bytes() / 1e6, model->decode_bytes_per_token() / 1e6, s->memory().kv_cache / 1e6);
  std::printf("int%d: prefill %d tokens: %.1f tokens/s\n", bits, prefill_tokens,
              prefill_tokens / prefill_s);
  std::printf("int%d: decode %d tokens: %.1f tokens/s, %.2f ms/token, %.0f GB/s = %.0f%% of %.0f GB/s measured\n",
              bits, decode_tokens, 1.0 / per_token, per_token * 1e3, gbs, 100.0 * gbs / g_read_gbs, g_read_gbs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int bits = 0, tokens = 128, prefill = 256;
  qlite::cuda::KvCacheType kv = qlite::cuda::KvCacheType::kF32;
  bool kv_ok = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--bits")) bits = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--tokens")) tokens = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--prefill")) prefill = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--kv")) {
      const std::string k = argv[i + 1];
      kv_ok = k == "f32" || k == "f16" || k == "q8";
      kv = k == "f16" ? qlite::cuda::KvCacheType::kF16
                      : k == "q8" ? qlite::cuda::KvCacheType::kQ8 : qlite::cuda::KvCacheType::kF32;
    }
    else {
      std::fprintf(stderr, "usage: %s [--bits 4|8|0] [--tokens N] [--prefill N] [--kv f32|f16|q8]\n", argv[0]);
      return 2;
    }
  }
  if (tokens < 1 || prefill < 1 || !kv_ok || (bits != 0 && bits != 4 && bits != 8)) {
    std::fprintf(stderr, "bad arguments\n");
    return 2;
  }
  const qlite::cuda::DeviceInfo dev = qlite::cuda::QueryDevice();
  if (!dev.available) {
    std::printf("SKIPPED: no CUDA device (%s)\n", dev.message.c_str());
    return 0;
  }
  std::printf("device: %s, sm_%d%d, %d SMs, %.1f GB, nominal peak %.0f GB/s\n", dev.name.c_str(),
              dev.sm_major, dev.sm_minor, dev.sm_count, dev.total_memory / 1e9,
              dev.peak_bandwidth_gbs);
  const qlite::Status st = qlite::cuda::MeasureReadBandwidth(2ull << 30, 10, &g_read_gbs);
  if (!st.ok()) {
    std::fprintf(stderr, "bandwidth probe: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("measured read bandwidth: %.0f GB/s (2 GiB read 10 times, median)\n", g_read_gbs);
  int rc = 0;
  for (int b : {4, 8}) {
    if (bits == 0 || bits == b) rc |= RunOne(b, tokens, prefill, kv, dev);
  }
  return rc;
}
