// Generating a token performs zero heap allocations: this binary counts every operator new
// and (on glibc) every malloc/calloc/realloc, and runs hundreds of decode steps.
#include <gtest/gtest.h>

#include <cmath>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>
#include <cstdlib>
#include <new>

#include "qlite/qlite.h"
#include "qlite/format/adapter_file.h"
#include "qlite/format/model_file.h"
#include "synthetic_model.h"

namespace {
std::atomic<long> g_allocs{0};
std::atomic<bool> g_counting{false};
void Count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

// These replacements pair malloc with new and free with delete; gcc's inliner sees only the
// free and warns about a mismatch that is not one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(size_t n) {
  Count();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  Count();
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void* operator new(size_t n, std::align_val_t a) {
  Count();
  void* p = nullptr;
  if (posix_memalign(&p, (size_t)a < sizeof(void*) ? sizeof(void*) : (size_t)a, n ? n : 1) != 0) throw std::bad_alloc();
  return p;
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

// malloc itself (C code, std::string internals through new are covered above). glibc only,
// and not under sanitizers, which interpose malloc themselves.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__has_feature)
#define QLITE_COUNT_MALLOC 1
#elif defined(__GLIBC__) && defined(__has_feature)
#if !__has_feature(address_sanitizer)
#define QLITE_COUNT_MALLOC 1
#endif
#endif
#ifdef QLITE_COUNT_MALLOC
extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* malloc(size_t n) {
  Count();
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  Count();
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  Count();
  return __libc_realloc(p, n);
}
}
#endif

namespace {

class ZeroAlloc : public testing::TestWithParam<int> {};

TEST_P(ZeroAlloc, DecodeAndSampleNeverAllocate) {
  qlite::ModelConfig c = qlite_test::TinyConfig();
  const qlite_test::Weights w = qlite_test::RandomWeights(c, 9);
  const qlite::fb::DType dtype = GetParam() == 0 ? qlite::fb::DType::F32 : qlite::fb::DType::I4;
  const std::string path = qlite_test::TempPath("alloc.qlm");
  ASSERT_TRUE(qlite_test::WriteModel(c, w, path, dtype).ok());
  qlite_model* m = nullptr;
  ASSERT_EQ(qlite_model_open(path.c_str(), nullptr, &m), QLITE_OK);
  qlite_session_params p = qlite_session_default_params();
  p.n_threads = 2;
  p.window = 16;  // the ring wraps many times
  p.kv_type = GetParam() == 0 ? QLITE_KV_F16 : GetParam() == 1 ? QLITE_KV_Q8 : QLITE_KV_Q4;
  p.sampler.temperature = 0.9f;
  p.sampler.repeat_penalty = 1.1f;
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  const int32_t prompt[] = {1, 270, 280, 290, 300, 10, 20};
  ASSERT_EQ(qlite_prefill(s, prompt, 7), QLITE_OK);
  int32_t token = 0;
  ASSERT_EQ(qlite_sample(s, &token), QLITE_OK);  // warm-up: first-use paths

  g_allocs = 0;
  g_counting = true;
  bool ok = true;
  for (int i = 0; i < 300 && ok; ++i) {
    ok = qlite_decode(s, token) == QLITE_OK && qlite_sample(s, &token) == QLITE_OK;
  }
  g_counting = false;
  EXPECT_TRUE(ok);
  EXPECT_EQ(g_allocs.load(), 0) << "heap allocations during 300 decode steps";
  qlite_session_free(s);
  qlite_model_free(m);
}

// The generate loop (sample, stream whole characters, feed) allocates nothing per token:
// the count is read at every callback and must not move after the first.
long g_at_first = -1, g_at_last = -1;
int Probe(void*, int32_t, const char*, size_t) {
  (g_at_first < 0 ? g_at_first : g_at_last) = g_allocs.load();
  return 0;
}

TEST(ZeroAllocGenerate, GenerateLoopNeverAllocates) {
  qlite::ModelConfig c = qlite_test::TinyConfig();
  const qlite_test::Weights w = qlite_test::RandomWeights(c, 4);
  const std::string path = qlite_test::TempPath("alloc_gen.qlm");
  ASSERT_TRUE(qlite_test::WriteModel(c, w, path).ok());
  qlite_model* m = nullptr;
  ASSERT_EQ(qlite_model_open(path.c_str(), nullptr, &m), QLITE_OK);
  qlite_session_params p = qlite_session_default_params();
  p.window = 16;
  // Stop strings whose starts keep appearing (held back, then flushed) and a logit bias.
  const char* stops[] = {"a\x01\x02\x03", "b\x01\x02\x03"};
  const qlite_logit_bias bias[] = {{3, -INFINITY}, {5, 1.5f}};
  for (int lists = 0; lists < 2; ++lists) {
    if (lists) {
      p.sampler.stop_strings = stops;
      p.sampler.n_stop_strings = 2;
      p.sampler.logit_bias = bias;
      p.sampler.n_logit_bias = 2;
    }
    qlite_session* s = nullptr;
    ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
    g_at_first = g_at_last = -1;
    g_allocs = 0;
    g_counting = true;
    ASSERT_EQ(qlite_generate(s, "abc", 200, 0, Probe, nullptr, nullptr), QLITE_OK);
    g_counting = false;
    EXPECT_GE(g_at_first, 0);
    EXPECT_EQ(g_at_last, g_at_first) << "allocations between the first and the last streamed token, lists " << lists;
    qlite_session_free(s);
  }
  qlite_model_free(m);
}

INSTANTIATE_TEST_SUITE_P(WeightsAndKv, ZeroAlloc, testing::Values(0, 1, 2));

// Decoding with LoRA-merged tensors (copies in the session arena) allocates nothing either;
// the swap itself may (tests/lora covers what it computes).
TEST(ZeroAllocAdapters, DecodeWithAdaptersNeverAllocates) {
  qlite::ModelConfig c = qlite_test::TinyConfig();
  const std::string path = qlite_test::TempPath("alloc_lora.qlm"), qla = qlite_test::TempPath("alloc_lora.qla");
  ASSERT_TRUE(qlite_test::WriteModel(c, qlite_test::RandomWeights(c, 5), path, qlite::fb::DType::I4).ok());
  qlite::ModelFile file;
  ASSERT_TRUE(file.Open(path).ok());
  qlite::LoraAdapter lora;  // rank 2 on q and ffn_down of layer 0
  for (const char* target : {"blk.0.attn_q", "blk.0.ffn_down"}) {
    qlite::LoraTensor t;
    t.target = target;
    t.rank = 2;
    t.out = file.FindTensor(target)->view.rows;
    t.in = file.FindTensor(target)->view.cols;
    t.factor = 1.0f;
    t.a.assign(t.rank * t.in, 0.01f);
    t.b.assign(t.out * t.rank, -0.02f);
    lora.tensors.push_back(t);
  }
  ASSERT_TRUE(qlite::WriteAdapterFile(lora, file.fingerprint(), {}, qla).ok());
  qlite_model* m = nullptr;
  ASSERT_EQ(qlite_model_open(path.c_str(), nullptr, &m), QLITE_OK);
  qlite_adapter* a = nullptr;
  ASSERT_EQ(qlite_adapter_open(m, qla.c_str(), &a), QLITE_OK) << qlite_last_error();
  qlite_session_params p = qlite_session_default_params();
  p.window = 16;
  ASSERT_EQ(qlite_adapters_memory(m, &a, 1, &p.adapter_memory), QLITE_OK);
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  ASSERT_EQ(qlite_session_set_adapters(s, &a, nullptr, 1), QLITE_OK);
  int32_t token = 1;
  ASSERT_EQ(qlite_decode(s, token), QLITE_OK);
  ASSERT_EQ(qlite_sample(s, &token), QLITE_OK);
  g_allocs = 0;
  g_counting = true;
  bool ok = true;
  for (int i = 0; i < 100 && ok; ++i) ok = qlite_decode(s, token) == QLITE_OK && qlite_sample(s, &token) == QLITE_OK;
  g_counting = false;
  EXPECT_TRUE(ok);
  EXPECT_EQ(g_allocs.load(), 0) << "heap allocations while decoding with adapters";
  qlite_session_free(s);
  qlite_adapter_free(a);
  qlite_model_free(m);
}

}  // namespace

// Firmware: the model and the session each in one caller buffer. Opening, creating, prefill,
// decode and sample call no allocator at all; a model buffer one byte short is refused.
namespace {

std::vector<char> ReadAll(const std::string& path) {
  std::vector<char> data;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return data;
  char chunk[65536];
  for (size_t n; (n = std::fread(chunk, 1, sizeof(chunk), f)) > 0;) data.insert(data.end(), chunk, chunk + n);
  std::fclose(f);
  return data;
}

// Llama-shaped, and with the per-layer and per-frequency arrays of Gemma/Mistral/Phi-style
// configs (sliding windows, RoPE frequency factors, several end-of-turn ids).
qlite::ModelConfig FirmwareConfig(bool per_layer_arrays) {
  qlite::ModelConfig c = qlite_test::TinyConfig();
  if (per_layer_arrays) {
    c.sliding_window = {8, 0};
    c.rope_local_theta = 10000.0f;
    c.rope_theta = 1e6f;
    c.rope_freq_factors.assign(c.head_dim / 2, 1.5f);
    c.eot_ids = {3, 2};
  }
  return c;
}

class ZeroAllocFirmware : public ::testing::TestWithParam<bool> {};

TEST_P(ZeroAllocFirmware, ModelAndSessionInCallerBuffers) {
  qlite::ModelConfig c = FirmwareConfig(GetParam());
  const std::string path = qlite_test::TempPath("alloc_fw.qlm");
  ASSERT_TRUE(qlite_test::WriteModel(c, qlite_test::RandomWeights(c, 6), path, qlite::fb::DType::I4).ok());
  std::vector<char> file = ReadAll(path);
  ASSERT_FALSE(file.empty());
  std::vector<uint64_t> aligned((file.size() + 7) / 8);  // open_memory wants 8-byte alignment
  std::memcpy(aligned.data(), file.data(), file.size());

  qlite_model_params mp = qlite_model_default_params();
  std::vector<char> model_buf(1 << 22);
  mp.buffer = model_buf.data() + 5;  // any address: the size is exact for this one
  uint64_t need = 0;
  ASSERT_EQ(qlite_model_memory(aligned.data(), file.size(), &mp, &need), QLITE_OK) << qlite_last_error();
  ASSERT_GT(need, 0u);
  ASSERT_LE(need + 5, model_buf.size());

  qlite_model* m = nullptr;
  mp.buffer_size = need - 1;
  EXPECT_EQ(qlite_model_open_memory(aligned.data(), file.size(), &mp, &m), QLITE_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(qlite_last_error()).find(std::to_string(need)), std::string::npos) << qlite_last_error();

  qlite_session_params p = qlite_session_default_params();
  p.n_threads = 1;
  p.window = 16;
  std::vector<char> session_buf(1 << 22);
  p.buffer = session_buf.data();
  p.buffer_size = session_buf.size();
  mp.buffer_size = need;
  qlite_session* s = nullptr;
  const int32_t prompt[] = {1, 270, 280, 290};
  int32_t token = 0;
  g_allocs = 0;
  g_counting = true;
  const qlite_status open = qlite_model_open_memory(aligned.data(), file.size(), &mp, &m);
  const qlite_status create = open == QLITE_OK ? qlite_session_create(m, &p, &s) : open;
  bool ok = create == QLITE_OK && qlite_prefill(s, prompt, 4) == QLITE_OK;
  for (int i = 0; i < 20 && ok; ++i) ok = qlite_sample(s, &token) == QLITE_OK && qlite_decode(s, token) == QLITE_OK;
  g_counting = false;
  ASSERT_EQ(open, QLITE_OK) << qlite_last_error();
  ASSERT_EQ(create, QLITE_OK) << qlite_last_error();
  EXPECT_TRUE(ok);
  EXPECT_EQ(g_allocs.load(), 0) << "allocator calls while opening, creating and generating in caller buffers";

  qlite_memory_estimate e;
  ASSERT_EQ(qlite_estimate_memory(m, &p, &e), QLITE_OK);
  EXPECT_GE(e.model_host, need);  // the worst-case pad over any address
  qlite_session_free(s);
  qlite_model_free(m);
}

INSTANTIATE_TEST_SUITE_P(Configs, ZeroAllocFirmware, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "PerLayerArrays" : "Llama"; });

}  // namespace
