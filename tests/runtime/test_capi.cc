// The C API contract: argument checks, error codes and messages, memory estimate and
// budgets, caller buffers, thread-local errors, one model shared by sessions on threads.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "qlite/qlite.h"
#include "synthetic_model.h"

namespace {

class CApi : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    config_ = qlite_test::TinyConfig();
    weights_ = new qlite_test::Weights(qlite_test::RandomWeights(config_, 5));
    path_ = qlite_test::TempPath("capi.qlm");
    ASSERT_TRUE(qlite_test::WriteModel(config_, *weights_, path_).ok());
  }
  static void TearDownTestSuite() { delete weights_; }
  void SetUp() override { ASSERT_EQ(qlite_model_open(path_.c_str(), nullptr, &model_), QLITE_OK) << qlite_last_error(); }
  void TearDown() override { qlite_model_free(model_); }

  static qlite::ModelConfig config_;
  static qlite_test::Weights* weights_;
  static std::string path_;
  qlite_model* model_ = nullptr;
};
qlite::ModelConfig CApi::config_;
qlite_test::Weights* CApi::weights_ = nullptr;
std::string CApi::path_;

#define EXPECT_INVALID(call)                                \
  do {                                                      \
    EXPECT_EQ((call), QLITE_ERR_INVALID_ARGUMENT) << #call; \
    EXPECT_STRNE(qlite_last_error(), "") << #call;          \
  } while (0)

TEST_F(CApi, NullPointersAreRejectedWithAMessage) {
  qlite_model* m = nullptr;
  qlite_session* s = nullptr;
  qlite_model_info info;
  qlite_memory_estimate est;
  int32_t ids[4];
  size_t n = 0;
  char buf[16];
  const float* logits = nullptr;
  qlite_adapter* adapter = nullptr;
  EXPECT_INVALID(qlite_model_open(nullptr, nullptr, &m));
  EXPECT_INVALID(qlite_model_open(path_.c_str(), nullptr, nullptr));
  EXPECT_INVALID(qlite_model_open_memory(nullptr, 10, nullptr, &m));
  EXPECT_INVALID(qlite_model_get_info(nullptr, &info));
  EXPECT_INVALID(qlite_model_get_info(model_, nullptr));
  EXPECT_INVALID(qlite_tokenize(nullptr, "a", 1, 1, ids, 4, &n));
  EXPECT_INVALID(qlite_tokenize(model_, nullptr, 1, 1, ids, 4, &n));
  EXPECT_INVALID(qlite_tokenize(model_, "a", 1, 1, ids, 4, nullptr));
  EXPECT_INVALID(qlite_token_to_piece(nullptr, 5, buf, sizeof(buf), &n));
  EXPECT_INVALID(qlite_token_to_piece(model_, 5, nullptr, 4, &n));
  EXPECT_INVALID(qlite_estimate_memory(nullptr, nullptr, &est));
  EXPECT_INVALID(qlite_estimate_memory(model_, nullptr, nullptr));
  EXPECT_INVALID(qlite_format_memory_estimate(nullptr, buf, sizeof(buf)));
  EXPECT_INVALID(qlite_session_create(nullptr, nullptr, &s));
  EXPECT_INVALID(qlite_session_create(model_, nullptr, nullptr));
  EXPECT_INVALID(qlite_session_reset(nullptr));
  EXPECT_INVALID(qlite_prefill(nullptr, ids, 1));
  EXPECT_INVALID(qlite_decode(nullptr, 1));
  EXPECT_INVALID(qlite_get_logits(nullptr, &logits));
  EXPECT_INVALID(qlite_sample(nullptr, ids));
  EXPECT_INVALID(qlite_generate(nullptr, "", 1, 1, nullptr, nullptr, nullptr));
  EXPECT_INVALID(qlite_adapter_open(nullptr, "x", &adapter));
  EXPECT_INVALID(qlite_session_set_adapters(nullptr, nullptr, nullptr, 0));
  qlite_model_free(nullptr);  // like free(): no-ops
  qlite_session_free(nullptr);
  qlite_adapter_free(nullptr);

  ASSERT_EQ(qlite_session_create(model_, nullptr, &s), QLITE_OK);
  EXPECT_INVALID(qlite_prefill(s, nullptr, 1));
  EXPECT_INVALID(qlite_prefill(s, ids, 0));
  EXPECT_INVALID(qlite_get_logits(s, nullptr));
  EXPECT_INVALID(qlite_get_logits(s, &logits));  // nothing fed yet
  EXPECT_INVALID(qlite_sample(s, nullptr));
  EXPECT_INVALID(qlite_sample(s, ids));          // nothing fed yet
  EXPECT_INVALID(qlite_decode(s, -1));
  EXPECT_INVALID(qlite_decode(s, (int32_t)config_.vocab_size));
  EXPECT_INVALID(qlite_generate(s, nullptr, 1, 1, nullptr, nullptr, nullptr));
  qlite_session_free(s);
}

// Handles are checked against the table of live ones: use after free and double free are
// reported, never dereferenced (ASan builds would flag a touched freed handle).
TEST_F(CApi, FreedHandlesAreReportedNotUsed) {
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(model_, nullptr, &s), QLITE_OK) << qlite_last_error();
  qlite_session_free(s);
  EXPECT_INVALID(qlite_decode(s, 1));
  EXPECT_INVALID(qlite_session_reset(s));
  EXPECT_NE(std::string(qlite_last_error()).find("not a live qlite_session"), std::string::npos);
  qlite_session_free(s);  // double free: a no-op that reports
  EXPECT_NE(std::string(qlite_last_error()).find("qlite_session_free"), std::string::npos);

  // Wrong kind and foreign pointers.
  qlite_model_info info;
  EXPECT_INVALID(qlite_model_get_info(reinterpret_cast<qlite_model*>(&info), &info));
  EXPECT_INVALID(qlite_decode(reinterpret_cast<qlite_session*>(model_), 1));
  qlite_session_free(reinterpret_cast<qlite_session*>(model_));  // not a session: left alone
  EXPECT_EQ(qlite_model_get_info(model_, &info), QLITE_OK);
  qlite_adapter_free(reinterpret_cast<qlite_adapter*>(&info));
  EXPECT_NE(std::string(qlite_last_error()).find("qlite_adapter_free"), std::string::npos);

  qlite_model* m = nullptr;
  ASSERT_EQ(qlite_model_open(path_.c_str(), nullptr, &m), QLITE_OK);
  qlite_model_free(m);
  EXPECT_INVALID(qlite_model_get_info(m, &info));
  EXPECT_INVALID(qlite_session_create(m, nullptr, &s));
  qlite_model_free(m);
  EXPECT_NE(std::string(qlite_last_error()).find("qlite_model_free"), std::string::npos);
  qlite_model_free(nullptr);
  qlite_session_free(nullptr);
}

// A model freed under a live session: the session fails every call (no use of freed memory)
// until it is freed, which releases the model too.
TEST_F(CApi, SessionOfAFreedModelFailsUntilFreed) {
  qlite_model* m = nullptr;
  ASSERT_EQ(qlite_model_open(path_.c_str(), nullptr, &m), QLITE_OK);
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(m, nullptr, &s), QLITE_OK) << qlite_last_error();
  ASSERT_EQ(qlite_decode(s, 1), QLITE_OK) << qlite_last_error();
  qlite_model_free(m);
  qlite_model_info info;
  EXPECT_INVALID(qlite_model_get_info(m, &info));
  EXPECT_INVALID(qlite_decode(s, 1));
  EXPECT_NE(std::string(qlite_last_error()).find("model was freed"), std::string::npos);
  const float* logits = nullptr;
  EXPECT_INVALID(qlite_get_logits(s, &logits));
  qlite_model_free(m);  // twice: reported, the session still holds it
  EXPECT_INVALID(qlite_decode(s, 1));
  qlite_session_free(s);  // frees the model as well (LeakSanitizer checks it)
  EXPECT_INVALID(qlite_decode(s, 1));
}

TEST_F(CApi, BadFilesGiveIoAndFormatErrors) {
  qlite_model* m = nullptr;
  EXPECT_EQ(qlite_model_open("/nonexistent/model.qlm", nullptr, &m), QLITE_ERR_IO);
  EXPECT_EQ(m, nullptr);
  EXPECT_STRNE(qlite_last_error(), "");
  std::vector<char> junk(4096, 'x');
  EXPECT_EQ(qlite_model_open_memory(junk.data(), junk.size(), nullptr, &m), QLITE_ERR_FORMAT);
  EXPECT_EQ(m, nullptr);
  // A truncated copy of a good file.
  std::ifstream in(path_, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(qlite_model_open_memory(bytes.data(), bytes.size() / 2, nullptr, &m), QLITE_OK);
  // The whole copy opens from memory.
  ASSERT_EQ(qlite_model_open_memory(bytes.data(), bytes.size(), nullptr, &m), QLITE_OK) << qlite_last_error();
  qlite_model_free(m);
}

// A FIFO (or device) as the model path is refused before a blocking open: without a writer,
// open() would wait forever. A folder is refused the same way.
TEST_F(CApi, NonRegularModelPathsAreRefusedWithoutBlocking) {
  const std::string fifo = qlite_test::TempPath("capi_fifo.qlm");
  std::remove(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  qlite_model* m = nullptr;
  EXPECT_EQ(qlite_model_open(fifo.c_str(), nullptr, &m), QLITE_ERR_IO);
  EXPECT_NE(std::string(qlite_last_error()).find("not a regular file"), std::string::npos) << qlite_last_error();
  std::remove(fifo.c_str());
  EXPECT_EQ(qlite_model_open("/dev/zero", nullptr, &m), QLITE_ERR_IO);
  EXPECT_EQ(qlite_model_open("/tmp", nullptr, &m), QLITE_ERR_IO);
  EXPECT_EQ(m, nullptr);
}

TEST_F(CApi, ModelInfoAndTokens) {
  qlite_model_info info;
  ASSERT_EQ(qlite_model_get_info(model_, &info), QLITE_OK);
  EXPECT_EQ(info.dim, config_.dim);
  EXPECT_EQ(info.n_layers, config_.n_layers);
  EXPECT_EQ(info.n_kv_heads, config_.n_kv_heads);
  EXPECT_EQ(info.vocab_size, config_.vocab_size);
  EXPECT_EQ(info.bos_id, 1);
  EXPECT_GT(info.weight_bytes, 0u);
  EXPECT_GT(info.n_params, 0u);
  EXPECT_EQ(info.device, QLITE_DEVICE_CPU);
  EXPECT_EQ(info.device_bytes, 0u);
  // A decode token reads everything but the embedding table, of which one row (untied).
  EXPECT_GT(info.decode_bytes, 0u);
  if (config_.tied_embeddings) {
    EXPECT_EQ(info.decode_bytes, info.weight_bytes);
  } else {
    EXPECT_LT(info.decode_bytes, info.weight_bytes);
    EXPECT_GT(info.decode_bytes, info.weight_bytes / 2);
  }
  char buf[8];
  size_t len = 0;
  ASSERT_EQ(qlite_token_to_piece(model_, 3 + 'A', buf, sizeof(buf), &len), QLITE_OK);  // <0x41>
  EXPECT_EQ(std::string(buf, len), "A");
  EXPECT_EQ(qlite_token_to_piece(model_, 100000, buf, sizeof(buf), &len), QLITE_ERR_INVALID_ARGUMENT);
  int32_t ids[2];
  size_t n = 0;
  EXPECT_EQ(qlite_tokenize(model_, "abcdef", 6, 1, ids, 2, &n), QLITE_ERR_INVALID_ARGUMENT);  // too small
  EXPECT_GT(n, 2u);  // says how many are needed
}

// A build without the CUDA backend, or a machine without a GPU, says so; nothing is left open.
// (A CUDA build on a GPU machine: ports/cuda/tests/test_cuda_runtime.)
TEST_F(CApi, CudaDeviceWithoutAGpuIsUnsupported) {
  EXPECT_EQ(qlite_device_count(QLITE_DEVICE_CPU), 1);
  if (qlite_device_count(QLITE_DEVICE_CUDA) > 0) GTEST_SKIP() << "a usable GPU: test_cuda_runtime";
  EXPECT_EQ(qlite_device_count(static_cast<qlite_device>(9)), 0);
  qlite_model_params mp = qlite_model_default_params();
  EXPECT_EQ(mp.device, QLITE_DEVICE_CPU);
  mp.device = QLITE_DEVICE_CUDA;
  qlite_model* m = nullptr;
  EXPECT_EQ(qlite_model_open(path_.c_str(), &mp, &m), QLITE_ERR_UNSUPPORTED);
  EXPECT_EQ(m, nullptr);
  EXPECT_NE(std::string(qlite_last_error()).find("CUDA"), std::string::npos) << qlite_last_error();
  mp.device = static_cast<qlite_device>(9);
  EXPECT_INVALID(qlite_model_open(path_.c_str(), &mp, &m));
  qlite_memory_estimate e;
  ASSERT_EQ(qlite_estimate_memory(model_, nullptr, &e), QLITE_OK);
  EXPECT_EQ(e.device, 0u);
}

TEST_F(CApi, EstimateIsWhatTheSessionReservesAndBudgetsFailWithTheBreakdown) {
  qlite_session_params p = qlite_session_default_params();
  p.window = 32;
  p.kv_type = QLITE_KV_Q8;
  qlite_memory_estimate e;
  ASSERT_EQ(qlite_estimate_memory(model_, &p, &e), QLITE_OK);
  // KV: layers x 2 x kv_heads x head_dim x window x 1 B + scales.
  const uint64_t kv = 2ull * config_.n_layers * config_.n_kv_heads * config_.head_dim * 32 +
                      2ull * config_.n_layers * config_.n_kv_heads * 32 * 4;
  EXPECT_EQ(e.kv_cache, kv);
  EXPECT_EQ(e.session_total, e.kv_cache + e.activations + e.scratch);
  EXPECT_GT(e.model_host, 0u);
  EXPECT_EQ(e.total, e.session_total + e.weights_resident + e.model_host);
  char text[1024];
  ASSERT_EQ(qlite_format_memory_estimate(&e, text, sizeof(text)), QLITE_OK);
  EXPECT_NE(std::strstr(text, "kv cache"), nullptr);
  char tiny[8];
  ASSERT_EQ(qlite_format_memory_estimate(&e, tiny, sizeof(tiny)), QLITE_OK);
  EXPECT_EQ(std::strlen(tiny), 7u);  // truncated, terminated

  // q4: head_dim / 2 bytes per position and head + a 4 B scale per group (8 values here:
  // head_dim 8 has no group of 32), and f16 exact rows: the sinks and the 64 most recent
  // positions (all 32 here) + 31 more for prefill pieces, 63 rows per head, each of the
  // 2 x n_layers arrays padded to 64 B but the last.
  qlite_memory_estimate e4;
  p.kv_type = QLITE_KV_Q4;
  ASSERT_EQ(qlite_estimate_memory(model_, &p, &e4), QLITE_OK) << qlite_last_error();
  const uint64_t exact_array = config_.n_kv_heads * 63ull * config_.head_dim * 2;
  const uint64_t exact = (2ull * config_.n_layers - 1) * ((exact_array + 63) / 64 * 64) + exact_array;
  EXPECT_EQ(e4.kv_cache, 2ull * config_.n_layers * config_.n_kv_heads * 32 *
                                 (config_.head_dim / 2 + config_.head_dim / 8 * 4) +
                             exact);
  p.kv_type = QLITE_KV_Q8;

  // Larger windows and wider KV types cost more.
  qlite_memory_estimate e2;
  p.kv_type = QLITE_KV_F32;
  ASSERT_EQ(qlite_estimate_memory(model_, &p, &e2), QLITE_OK);
  EXPECT_GT(e2.kv_cache, e.kv_cache);

  // A budget one byte short fails at once, naming the parts.
  p.memory_budget = e2.total - 1;
  qlite_session* s = nullptr;
  EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(s, nullptr);
  EXPECT_NE(std::strstr(qlite_last_error(), "kv cache"), nullptr) << qlite_last_error();
  EXPECT_NE(std::strstr(qlite_last_error(), "weights"), nullptr);
  p.memory_budget = e2.total;
  ASSERT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK) << qlite_last_error();
  qlite_session_free(s);

  p.memory_budget = 0;
  p.window = config_.context_length + 1;  // beyond the context
  EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  p.window = 0;
  p.sampler.top_p = 0;
  EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  p.sampler.top_p = 1;
  p.kv_type = (qlite_kv_type)7;
  EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  p.kv_type = QLITE_KV_F16;
  p.n_sink_tokens = 1000;  // not below the window
  EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(s, nullptr);
}

TEST_F(CApi, CallerBufferHoldsTheWholeSession) {
  qlite_session_params p = qlite_session_default_params();
  p.sampler.temperature = 0;
  qlite_memory_estimate e;
  ASSERT_EQ(qlite_estimate_memory(model_, &p, &e), QLITE_OK);
  std::vector<uint8_t> small(e.session_total / 2);
  p.buffer = small.data();
  p.buffer_size = small.size();
  qlite_session* s = nullptr;
  EXPECT_EQ(qlite_session_create(model_, &p, &s), QLITE_ERR_OUT_OF_MEMORY);
  std::vector<uint8_t> buf(e.session_total + 64);
  p.buffer = buf.data() + 1;  // unaligned on purpose
  p.buffer_size = buf.size() - 1;
  ASSERT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK) << qlite_last_error();
  EXPECT_GE(reinterpret_cast<uint8_t*>(s), buf.data());
  EXPECT_LT(reinterpret_cast<uint8_t*>(s), buf.data() + buf.size());
  // Same logits as a session in its own memory.
  qlite_session_params q = qlite_session_default_params();
  qlite_session* t = nullptr;
  ASSERT_EQ(qlite_session_create(model_, &q, &t), QLITE_OK);
  const int32_t prompt[] = {1, 300, 301, 17};
  ASSERT_EQ(qlite_prefill(s, prompt, 4), QLITE_OK);
  ASSERT_EQ(qlite_prefill(t, prompt, 4), QLITE_OK);
  const float *a = nullptr, *b = nullptr;
  ASSERT_EQ(qlite_get_logits(s, &a), QLITE_OK);
  ASSERT_EQ(qlite_get_logits(t, &b), QLITE_OK);
  for (uint32_t i = 0; i < config_.vocab_size; ++i) ASSERT_EQ(a[i], b[i]);
  qlite_session_free(t);
  qlite_session_free(s);
}

TEST_F(CApi, LastErrorIsPerThread) {
  qlite_model* m = nullptr;
  EXPECT_EQ(qlite_model_open("/nonexistent.qlm", nullptr, &m), QLITE_ERR_IO);
  std::string other = "unset";
  std::thread([&] { other = qlite_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_STRNE(qlite_last_error(), "");
}

TEST_F(CApi, MissingAdapterFileButBaseIsFine) {  // adapters themselves: tests/lora
  qlite_adapter* a = nullptr;
  EXPECT_EQ(qlite_adapter_open(model_, "x.qla", &a), QLITE_ERR_IO);
  EXPECT_EQ(a, nullptr);
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(model_, nullptr, &s), QLITE_OK);
  EXPECT_EQ(qlite_session_set_adapters(s, nullptr, nullptr, 0), QLITE_OK);
  qlite_session_free(s);
}

// Greedy generation of n tokens from a prompt through the public API.
std::vector<int32_t> Greedy(qlite_session* s, const std::vector<int32_t>& prompt, int n) {
  std::vector<int32_t> out;
  if (qlite_prefill(s, prompt.data(), prompt.size()) != QLITE_OK) return out;
  for (int i = 0; i < n; ++i) {
    int32_t t = 0;
    if (qlite_sample(s, &t) != QLITE_OK || qlite_decode(s, t) != QLITE_OK) break;
    out.push_back(t);
  }
  return out;
}

TEST_F(CApi, OneModelManySessionsOnThreads) {
  qlite_session_params p = qlite_session_default_params();
  p.sampler.temperature = 0;
  const std::vector<int32_t> prompt = {1, 260, 270, 280};
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(model_, &p, &s), QLITE_OK);
  const std::vector<int32_t> want = Greedy(s, prompt, 48);
  qlite_session_free(s);
  ASSERT_EQ(want.size(), 48u);

  std::vector<std::vector<int32_t>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      qlite_session_params q = p;
      q.n_threads = 1 + t % 2;
      q.kv_type = QLITE_KV_F32;
      qlite_session* ts = nullptr;
      if (qlite_session_create(model_, &q, &ts) != QLITE_OK) return;
      for (int rep = 0; rep < 3; ++rep) {
        qlite_session_reset(ts);
        got[t] = Greedy(ts, prompt, 48);
      }
      qlite_session_free(ts);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(got[t], want) << "thread " << t;
}

int CountTokens(void* user, int32_t, const char*, size_t) {
  ++*static_cast<int*>(user);
  return 0;
}
int StopAfterThree(void* user, int32_t, const char*, size_t) { return ++*static_cast<int*>(user) >= 3; }

// Chat templates through the C API: snprintf-like sizes, argument checks, error kinds.
TEST_F(CApi, ChatTemplateSizesAndErrors) {
  qlite_chat_format format;
  ASSERT_EQ(qlite_chat_get_format(model_, &format), QLITE_OK);
  EXPECT_EQ(format, QLITE_CHAT_FORMAT_PLAIN);  // no template, no ChatML or Gemma tokens
  const qlite_chat_message conv[] = {{"system", "Be brief."}, {"user", "Hi"}};
  const std::string want = "Be brief.\nUser: Hi\nAssistant:";
  size_t len = 0;
  ASSERT_EQ(qlite_chat_apply_template(model_, conv, 2, 1, nullptr, 0, &len), QLITE_OK) << qlite_last_error();
  EXPECT_EQ(len, want.size());
  std::vector<char> buf(want.size() + 1, 'x');
  ASSERT_EQ(qlite_chat_apply_template(model_, conv, 2, 1, buf.data(), buf.size(), &len), QLITE_OK);
  EXPECT_EQ(std::string(buf.data()), want);
  len = 0;
  EXPECT_EQ(qlite_chat_apply_template(model_, conv, 2, 1, buf.data(), want.size(), &len), QLITE_ERR_OUT_OF_MEMORY);
  EXPECT_EQ(len, want.size());
  EXPECT_EQ(buf[0], '\0');
  EXPECT_INVALID(qlite_chat_apply_template(model_, conv, 0, 1, nullptr, 0, &len));
  EXPECT_INVALID(qlite_chat_apply_template(model_, nullptr, 2, 1, nullptr, 0, &len));
  EXPECT_INVALID(qlite_chat_apply_template(model_, conv, 2, 1, nullptr, 0, nullptr));
  EXPECT_INVALID(qlite_chat_apply_template(model_, conv, 2, 1, nullptr, 8, &len));
  EXPECT_INVALID(qlite_chat_apply_template(nullptr, conv, 2, 1, nullptr, 0, &len));
  const qlite_chat_message no_role[] = {{nullptr, "x"}};
  EXPECT_INVALID(qlite_chat_apply_template(model_, no_role, 1, 1, nullptr, 0, &len));
  EXPECT_INVALID(qlite_chat_get_format(model_, nullptr));

  // A caller's template: the special tokens it is given, its own rejection, its syntax errors.
  buf.assign(256, 'x');
  const std::string t1 = "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{{ eos_token }}";
  ASSERT_EQ(qlite_chat_render_template(t1.data(), t1.size(), "<s>", "</s>", conv, 2, 0, buf.data(), buf.size(), &len),
            QLITE_OK) << qlite_last_error();
  EXPECT_EQ(std::string(buf.data(), len), "<s>[system:Be brief.][user:Hi]</s>");
  ASSERT_EQ(qlite_chat_render_template(t1.data(), t1.size(), nullptr, nullptr, conv, 1, 0, buf.data(), buf.size(), &len),
            QLITE_OK);
  EXPECT_EQ(std::string(buf.data(), len), "[system:Be brief.]");
  const std::string t2 = "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}";
  EXPECT_EQ(qlite_chat_render_template(t2.data(), t2.size(), nullptr, nullptr, conv, 2, 1, nullptr, 0, &len),
            QLITE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(qlite_last_error()).find("System role not supported"), std::string::npos) << qlite_last_error();
  const std::string t3 = "ok\n{% for %}";
  EXPECT_EQ(qlite_chat_render_template(t3.data(), t3.size(), nullptr, nullptr, conv, 2, 1, nullptr, 0, &len),
            QLITE_ERR_FORMAT);
  EXPECT_NE(std::string(qlite_last_error()).find("line 2"), std::string::npos) << qlite_last_error();
  const std::string t4 = "{% for i in range(100000000) %}{{ messages[0].content }}{% endfor %}";  // output bound
  EXPECT_EQ(qlite_chat_render_template(t4.data(), t4.size(), nullptr, nullptr, conv, 2, 1, nullptr, 0, &len),
            QLITE_ERR_FORMAT);
}

TEST_F(CApi, GenerateStreamsAndStops) {
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(model_, nullptr, &s), QLITE_OK);
  int count = 0;
  qlite_generate_stats stats;
  ASSERT_EQ(qlite_generate(s, "ab", 20, 0, CountTokens, &count, &stats), QLITE_OK) << qlite_last_error();
  EXPECT_EQ(stats.n_generated, 20u);
  EXPECT_GE(count, 20);
  EXPECT_GT(stats.n_prompt_tokens, 1u);
  count = 0;
  ASSERT_EQ(qlite_session_reset(s), QLITE_OK);
  EXPECT_EQ(qlite_generate(s, "", 20, 0, StopAfterThree, &count, &stats), QLITE_ERR_CANCELLED);
  EXPECT_EQ(count, 3);
  EXPECT_EQ(stats.n_prompt_tokens, 1u);  // BOS alone
  qlite_session_free(s);
}

// The growing-struct rule (qlite.h, "Structs that can grow"), as an older and a newer caller
// would exercise it: each simulated by the struct_size it passes.
TEST_F(CApi, StructsCanGrow) {
  // The API 0.1 layout: the fields up to grammar_memory. An older caller's struct ends there;
  // what lies past it in memory is not the caller's and must be ignored (here: 0xFF bytes).
  const size_t v01 = offsetof(qlite_session_params, grammar_memory) + sizeof(uint64_t);
  std::vector<unsigned char> older(sizeof(qlite_session_params) + 64, 0xFF);
  qlite_session_params base = qlite_session_default_params();
  base.window = 24;
  std::memcpy(older.data(), &base, v01);
  reinterpret_cast<qlite_session_params*>(older.data())->struct_size = static_cast<uint32_t>(v01);
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(model_, reinterpret_cast<qlite_session_params*>(older.data()), &s), QLITE_OK)
      << qlite_last_error();
  qlite_session_info info;
  ASSERT_EQ(qlite_session_get_info(s, &info), QLITE_OK);
  EXPECT_EQ(info.window, 24u);
  EXPECT_EQ(info.struct_size, sizeof(qlite_session_info));
  qlite_session_free(s);

  // A newer caller: a larger struct. Unknown fields left zero are fine; one set is refused.
  std::vector<unsigned char> newer(sizeof(qlite_session_params) + 16, 0);
  qlite_session_default_params_sized(reinterpret_cast<qlite_session_params*>(newer.data()), newer.size());
  qlite_session_params* np = reinterpret_cast<qlite_session_params*>(newer.data());
  EXPECT_EQ(np->struct_size, newer.size());
  EXPECT_EQ(np->n_sink_tokens, UINT32_MAX);  // the defaults are there
  ASSERT_EQ(qlite_session_create(model_, np, &s), QLITE_OK) << qlite_last_error();
  qlite_session_free(s);
  newer[sizeof(qlite_session_params) + 3] = 1;
  EXPECT_EQ(qlite_session_create(model_, np, &s), QLITE_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(qlite_last_error()).find("does not know"), std::string::npos) << qlite_last_error();

  // A struct filled by hand without struct_size is refused with the fix in the message.
  qlite_session_params zero;
  std::memset(&zero, 0, sizeof(zero));
  EXPECT_EQ(qlite_session_create(model_, &zero, &s), QLITE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(qlite_last_error()).find("default_params"), std::string::npos);
  qlite_model_params mp;
  std::memset(&mp, 0, sizeof(mp));
  qlite_model* m = nullptr;
  EXPECT_EQ(qlite_model_open(path_.c_str(), &mp, &m), QLITE_ERR_INVALID_ARGUMENT);

  // Out structs: a newer caller's larger struct gets this library's fields, zeros after them
  // and struct_size = the bytes written; a struct below API 0.1 is refused untouched.
  std::vector<unsigned char> big(sizeof(qlite_model_info) + 8, 0xAB);
  ASSERT_EQ(qlite_model_get_info_sized(model_, reinterpret_cast<qlite_model_info*>(big.data()), big.size()), QLITE_OK);
  const qlite_model_info* bi = reinterpret_cast<const qlite_model_info*>(big.data());
  EXPECT_EQ(bi->struct_size, sizeof(qlite_model_info));
  EXPECT_EQ(bi->dim, config_.dim);
  for (size_t i = sizeof(qlite_model_info); i < big.size(); ++i) EXPECT_EQ(big[i], 0) << i;
  qlite_model_info small;
  std::memset(&small, 0xCD, sizeof(small));
  EXPECT_EQ(qlite_model_get_info_sized(model_, &small, 8), QLITE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(small.dim, 0xCDCDCDCDu);
}

}  // namespace
