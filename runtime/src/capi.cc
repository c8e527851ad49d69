// The C API: handles are the C++ objects themselves; every entry point checks its
// pointers, catches everything, and turns Status into qlite_status + a thread-local message.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "abi.h"
#include "capi_internal.h"
#include "device.h"
#include "grammar.h"
#include "handles.h"
#include "memory_text.h"
#include "model.h"
#include "qlite/qlite.h"
#include "session.h"
#include "text.h"

namespace qlite {
namespace {

thread_local std::string t_last_error;

qlite_status Fail(const Status& s) {
  t_last_error = s.message();
  return static_cast<qlite_status>(s.code());
}
qlite_status Fail(qlite_status code, const char* message) {
  t_last_error = message;
  return code;
}

const Model* M(const qlite_model* m) { return reinterpret_cast<const Model*>(m); }
Session* S(qlite_session* s) { return reinterpret_cast<Session*>(s); }

// Runs body() with every exception turned into a status: none may cross into C.
template <typename F>
qlite_status Guard(F&& body) {
  try {
    Status s = body();
    return s.ok() ? QLITE_OK : Fail(s);
  } catch (const std::bad_alloc&) {
    return Fail(QLITE_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return Fail(QLITE_ERR_INTERNAL, e.what());
  } catch (...) {
    return Fail(QLITE_ERR_INTERNAL, "unknown internal error");
  }
}

#define QLITE_CHECK_ARG(cond, what)                                            \
  do {                                                                         \
    if (!(cond)) return Fail(QLITE_ERR_INVALID_ARGUMENT, __func__ + std::string(": ") + what); \
  } while (0)

qlite_status Fail(qlite_status code, const std::string& message) { return Fail(code, message.c_str()); }

// A handle that is not live (freed, foreign, or a session whose model was freed) is reported,
// never dereferenced.
#define QLITE_CHECK_LIVE(check)                   \
  do {                                            \
    const Status live_ = (check);                 \
    if (!live_.ok()) return Fail(live_);          \
  } while (0)

Status ToOptions(const qlite_model_params* params, ModelOpenOptions* out) {
  qlite_model_params d = qlite_model_default_params();
  if (params) QLITE_RETURN_IF_ERROR(abi::ReadIn(*params, &d));
  const qlite_model_params* p = &d;
  ModelOpenOptions& o = *out;
  o.verify_checksums = p->verify_checksums != 0;
  o.use_mmap = p->use_mmap != 0;
  // C callers may store any int in the enum: read its bytes, not the (UB) enum value.
  int device = 0;
  static_assert(sizeof(p->device) == sizeof(int), "qlite_device is an int-sized enum");
  std::memcpy(&device, &p->device, sizeof(int));
  o.device = device;
  o.device_index = p->device_index;
  o.buffer = p->buffer;
  o.buffer_size = p->buffer_size;
  return Status::Ok();
}

// Whether a *_default_params_sized call can fill `out`; a struct too small for API 0.1 gets
// struct_size 0 (where it has room for it), which every call taking it refuses.
template <typename T>
bool DefaultsFit(T* out, size_t struct_size) {
  if (!out) return false;
  if (abi::CheckOutSize<T>(struct_size).ok()) return true;
  if (struct_size >= sizeof(uint32_t)) out->struct_size = 0;
  return false;
}

// The caller's session params (NULL = defaults) in this library's layout.
Status ReadSessionParams(const qlite_session_params* params, qlite_session_params* out) {
  *out = qlite_session_default_params();
  return params ? abi::ReadIn(*params, out) : Status::Ok();
}

}  // namespace

namespace capi_internal {
qlite_status Report(const Status& s) { return Fail(s); }
}  // namespace capi_internal
}  // namespace qlite

using namespace qlite;

extern "C" {

const char* qlite_status_string(qlite_status status) {
  switch (status) {
    case QLITE_OK: return "ok";
    case QLITE_ERR_INVALID_ARGUMENT: return "invalid argument";
    case QLITE_ERR_IO: return "i/o error";
    case QLITE_ERR_FORMAT: return "bad model file";
    case QLITE_ERR_UNSUPPORTED: return "unsupported";
    case QLITE_ERR_OUT_OF_MEMORY: return "out of memory";
    case QLITE_ERR_CONTEXT: return "context exceeded";
    case QLITE_ERR_MISMATCH: return "adapter mismatch";
    case QLITE_ERR_CANCELLED: return "cancelled";
    case QLITE_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* qlite_last_error(void) { return t_last_error.c_str(); }

int32_t qlite_device_count(qlite_device device) {
  int kind = 0;
  std::memcpy(&kind, &device, sizeof(int));
  if (kind == QLITE_DEVICE_CPU) return 1;
  try {
    return DeviceCount(kind);
  } catch (...) {
    return 0;
  }
}

void qlite_model_default_params_sized(qlite_model_params* out, size_t struct_size) {
  if (!DefaultsFit<qlite_model_params>(out, struct_size)) return;
  qlite_model_params p;
  std::memset(&p, 0, sizeof(p));
  p.verify_checksums = 0;
  p.use_mmap = 1;
  p.device = QLITE_DEVICE_CPU;
  p.device_index = 0;
  abi::WriteOut(p, out, struct_size);
  out->struct_size = static_cast<uint32_t>(struct_size);  // the caller's layout, read back as such
}

qlite_status qlite_model_open(const char* path, const qlite_model_params* params, qlite_model** out_model) {
  QLITE_CHECK_ARG(path, "path is NULL");
  QLITE_CHECK_ARG(out_model, "out_model is NULL");
  *out_model = nullptr;
  return Guard([&] {
    std::unique_ptr<Model> m;
    ModelOpenOptions options;
    QLITE_RETURN_IF_ERROR(ToOptions(params, &options));
    QLITE_RETURN_IF_ERROR(Model::Open(path, options, &m));
    handles::AddModel(m.get());
    *out_model = reinterpret_cast<qlite_model*>(m.release());
    return Status::Ok();
  });
}

qlite_status qlite_model_open_memory(const void* data, size_t size, const qlite_model_params* params,
                                     qlite_model** out_model) {
  QLITE_CHECK_ARG(data, "data is NULL");
  QLITE_CHECK_ARG(out_model, "out_model is NULL");
  *out_model = nullptr;
  return Guard([&] {
    std::unique_ptr<Model> m;
    ModelOpenOptions options;
    QLITE_RETURN_IF_ERROR(ToOptions(params, &options));
    QLITE_RETURN_IF_ERROR(Model::OpenMemory(data, size, options, &m));
    handles::AddModel(m.get());
    *out_model = reinterpret_cast<qlite_model*>(m.release());
    return Status::Ok();
  });
}

qlite_status qlite_model_memory(const void* data, size_t size, const qlite_model_params* params,
                                uint64_t* out_bytes) {
  QLITE_CHECK_ARG(data, "data is NULL");
  QLITE_CHECK_ARG(out_bytes, "out_bytes is NULL");
  *out_bytes = 0;
  return Guard([&] {
    ModelOpenOptions options;
    QLITE_RETURN_IF_ERROR(ToOptions(params, &options));
    return Model::MemoryNeeded(data, size, options, out_bytes);
  });
}

void qlite_model_free(qlite_model* model) {
  if (!model) return;
  Status why;
  if (!handles::FreeModel(model, &why)) Fail(why);
}

qlite_status qlite_model_get_info_sized(const qlite_model* model, qlite_model_info* out_info, size_t struct_size) {
  QLITE_CHECK_ARG(model, "model is NULL");
  QLITE_CHECK_LIVE(handles::CheckModel(model, __func__));
  QLITE_CHECK_ARG(out_info, "out_info is NULL");
  QLITE_CHECK_LIVE(abi::CheckOutSize<qlite_model_info>(struct_size));
  const Model& m = *M(model);
  const ModelConfig& c = m.config();
  qlite_model_info i = {};
  i.dim = c.dim;
  i.n_layers = c.n_layers;
  i.n_heads = c.n_heads;
  i.n_kv_heads = c.n_kv_heads;
  i.head_dim = c.head_dim;
  i.ffn_dim = c.ffn_dim;
  i.vocab_size = c.vocab_size;
  i.context_length = c.context_length;
  i.sliding_window = 0;
  for (const LayerWeights& l : m.layers()) i.sliding_window = std::max(i.sliding_window, l.sliding_window);
  i.bos_id = c.bos_id;
  i.eos_id = c.eos_id;
  i.weight_bytes = m.weight_bytes();
  i.n_params = m.n_params();
  i.has_chat_template = m.has_chat_template();
  i.n_slow_layout_tensors = m.n_slow_layout_tensors();
  i.device = m.device() ? m.device()->kind() : QLITE_DEVICE_CPU;
  i.device_bytes = m.device() ? m.device()->weight_bytes() : 0;
  i.decode_bytes = m.device() ? m.device()->decode_bytes() : m.decode_bytes();
  abi::WriteOut(i, out_info, struct_size);
  return QLITE_OK;
}

qlite_status qlite_tokenize(const qlite_model* model, const char* text, size_t text_len, int add_bos,
                            int32_t* out_tokens, size_t capacity, size_t* out_count) {
  QLITE_CHECK_ARG(model, "model is NULL");
  QLITE_CHECK_LIVE(handles::CheckModel(model, __func__));
  QLITE_CHECK_ARG(text || text_len == 0, "text is NULL");
  QLITE_CHECK_ARG(out_count, "out_count is NULL");
  QLITE_CHECK_ARG(out_tokens || capacity == 0, "out_tokens is NULL");
  return Guard([&] {
    std::vector<int32_t> ids;
    QLITE_RETURN_IF_ERROR(EncodeText(*M(model), std::string(text ? text : "", text_len), add_bos != 0, &ids));
    *out_count = ids.size();
    if (ids.size() > capacity)
      return StatusError(StatusCode::kInvalidArgument, "%zu tokens do not fit a capacity of %zu", ids.size(), capacity);
    if (!ids.empty()) std::memcpy(out_tokens, ids.data(), ids.size() * sizeof(int32_t));
    return Status::Ok();
  });
}

qlite_status qlite_token_to_piece(const qlite_model* model, int32_t token, char* buf, size_t capacity,
                                  size_t* out_len) {
  QLITE_CHECK_ARG(model, "model is NULL");
  QLITE_CHECK_LIVE(handles::CheckModel(model, __func__));
  QLITE_CHECK_ARG(buf || capacity == 0, "buf is NULL");
  QLITE_CHECK_ARG(out_len, "out_len is NULL");
  return Guard([&] { return TokenBytes(*M(model), token, buf, capacity, out_len); });
}

void qlite_session_default_params_sized(qlite_session_params* out, size_t struct_size) {
  if (!DefaultsFit<qlite_session_params>(out, struct_size)) return;
  qlite_session_params p;
  std::memset(&p, 0, sizeof(p));
  p.n_threads = 0;
  p.cpu_mask = 0;
  p.window = 0;
  p.n_sink_tokens = UINT32_MAX;
  p.kv_type = QLITE_KV_F16;
  p.max_batch = 64;
  p.memory_budget = 0;
  p.buffer = nullptr;
  p.buffer_size = 0;
  p.sampler.temperature = 0.8f;
  p.sampler.top_k = 40;
  p.sampler.top_p = 0.95f;
  p.sampler.min_p = 0.05f;
  p.sampler.repeat_penalty = 1.0f;
  p.sampler.repeat_last_n = 64;
  p.sampler.seed = 0;
  p.grammar_memory = 0;
  abi::WriteOut(p, out, struct_size);
  out->struct_size = static_cast<uint32_t>(struct_size);  // the caller's layout, read back as such
}

qlite_status qlite_estimate_memory_sized(const qlite_model* model, const qlite_session_params* params,
                                         qlite_memory_estimate* out_estimate, size_t struct_size) {
  QLITE_CHECK_ARG(model, "model is NULL");
  QLITE_CHECK_LIVE(handles::CheckModel(model, __func__));
  QLITE_CHECK_ARG(out_estimate, "out_estimate is NULL");
  QLITE_CHECK_LIVE(abi::CheckOutSize<qlite_memory_estimate>(struct_size));
  return Guard([&] {
    qlite_session_params p;
    QLITE_RETURN_IF_ERROR(ReadSessionParams(params, &p));
    SessionPlan plan;
    QLITE_RETURN_IF_ERROR(PlanSession(*M(model), p, &plan));
    SessionMemory mem;
    QLITE_RETURN_IF_ERROR(MeasureSession(*M(model), plan, &mem));
    abi::WriteOut(EstimateFor(*M(model), mem), out_estimate, struct_size);
    return Status::Ok();
  });
}

qlite_status qlite_format_memory_estimate(const qlite_memory_estimate* estimate, char* buf, size_t capacity) {
  QLITE_CHECK_ARG(estimate, "estimate is NULL");
  QLITE_CHECK_ARG(buf || capacity == 0, "buf is NULL");
  return Guard([&] {
    qlite_memory_estimate e = {};
    QLITE_RETURN_IF_ERROR(abi::ReadIn(*estimate, &e));
    const std::string text = FormatEstimate(e);
    if (capacity > 0) {
      const size_t n = std::min(text.size(), capacity - 1);
      std::memcpy(buf, text.data(), n);
      buf[n] = '\0';
    }
    return Status::Ok();
  });
}

qlite_status qlite_session_create(const qlite_model* model, const qlite_session_params* params,
                                  qlite_session** out_session) {
  QLITE_CHECK_ARG(model, "model is NULL");
  QLITE_CHECK_LIVE(handles::CheckModel(model, __func__));
  QLITE_CHECK_ARG(out_session, "out_session is NULL");
  *out_session = nullptr;
  return Guard([&] {
    qlite_session_params p;
    QLITE_RETURN_IF_ERROR(ReadSessionParams(params, &p));
    Session* s = nullptr;
    QLITE_RETURN_IF_ERROR(Session::Create(*M(model), p, &s));
    try {
      handles::AddSession(s, M(model));
    } catch (...) {
      Session::Destroy(s);
      throw;
    }
    *out_session = reinterpret_cast<qlite_session*>(s);
    return Status::Ok();
  });
}

void qlite_session_free(qlite_session* session) {
  if (!session) return;
  Status why;
  if (!handles::FreeSession(session, &why)) Fail(why);
}

qlite_status qlite_session_get_info_sized(const qlite_session* session, qlite_session_info* out_info,
                                          size_t struct_size) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(out_info, "out_info is NULL");
  QLITE_CHECK_LIVE(abi::CheckOutSize<qlite_session_info>(struct_size));
  const Session& s = *reinterpret_cast<const Session*>(session);
  const SessionPlan& plan = s.plan();
  qlite_session_info info = {};
  info.n_threads = plan.n_threads;
  info.cpu_mask = plan.cpu_mask;
  info.window = plan.kv.window;
  info.n_sink_tokens = plan.kv.n_sinks;
  switch (plan.kv_type) {
    case arch::KvType::kF32: info.kv_type = QLITE_KV_F32; break;
    case arch::KvType::kF16: info.kv_type = QLITE_KV_F16; break;
    case arch::KvType::kQ8: info.kv_type = QLITE_KV_Q8; break;
    case arch::KvType::kQ4: info.kv_type = QLITE_KV_Q4; break;
  }
  info.n_past = s.position();
  abi::WriteOut(info, out_info, struct_size);
  return QLITE_OK;
}

qlite_status qlite_session_reset(qlite_session* session) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  S(session)->Reset();
  return QLITE_OK;
}

qlite_status qlite_prefill(qlite_session* session, const int32_t* tokens, size_t n_tokens) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(tokens, "tokens is NULL");
  return Guard([&] { return S(session)->Prefill(tokens, n_tokens); });
}

qlite_status qlite_decode(qlite_session* session, int32_t token) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  return Guard([&] { return S(session)->Decode(token); });
}

qlite_status qlite_get_logits(qlite_session* session, const float** out_logits) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(out_logits, "out_logits is NULL");
  *out_logits = S(session)->logits();
  if (!*out_logits) return Fail(QLITE_ERR_INVALID_ARGUMENT, "qlite_get_logits: no logits yet, feed a token first");
  return QLITE_OK;
}

qlite_status qlite_sample(qlite_session* session, int32_t* out_token) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(out_token, "out_token is NULL");
  return Guard([&] { return S(session)->Sample(out_token); });
}

qlite_status qlite_generate_sized(qlite_session* session, const char* prompt, uint32_t max_tokens, int stop_at_eos,
                                  qlite_token_callback callback, void* user_data, qlite_generate_stats* out_stats,
                                  size_t struct_size) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(prompt, "prompt is NULL");
  if (out_stats) QLITE_CHECK_LIVE(abi::CheckOutSize<qlite_generate_stats>(struct_size));
  qlite_generate_stats stats = {};
  const qlite_status status = Guard(
      [&] { return Generate(*S(session), prompt, max_tokens, stop_at_eos != 0, callback, user_data, &stats); });
  if (out_stats) abi::WriteOut(stats, out_stats, struct_size);
  return status;
}

qlite_status qlite_session_append_text(qlite_session* session, const char* text, size_t text_len) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(text || text_len == 0, "text is NULL");
  return Guard([&] {
    std::vector<int32_t> ids;
    QLITE_RETURN_IF_ERROR(EncodeText(S(session)->model(), std::string(text ? text : "", text_len), false, &ids));
    if (ids.empty()) return Status::Ok();
    return S(session)->Prefill(ids.data(), ids.size());
  });
}

qlite_status qlite_session_sync(qlite_session* session, const int32_t* tokens, size_t n_tokens, size_t* out_n_reused) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(tokens, "tokens is NULL");
  return Guard([&] { return S(session)->Sync(tokens, n_tokens, out_n_reused); });
}

qlite_status qlite_session_sync_text(qlite_session* session, const char* text, size_t text_len, int add_bos,
                                     size_t* out_n_reused) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(text || text_len == 0, "text is NULL");
  return Guard([&] {
    std::vector<int32_t> ids;
    QLITE_RETURN_IF_ERROR(EncodeText(S(session)->model(), std::string(text ? text : "", text_len), add_bos != 0, &ids));
    return S(session)->Sync(ids.data(), ids.size(), out_n_reused);
  });
}

qlite_status qlite_session_seek(qlite_session* session, uint64_t n_past) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  return Guard([&] { return S(session)->Seek(n_past); });
}

qlite_status qlite_session_state_size(const qlite_session* session, size_t* out_size) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(out_size, "out_size is NULL");
  return Guard([&] { return reinterpret_cast<const Session*>(session)->StateSize(out_size); });
}

qlite_status qlite_session_save_state(const qlite_session* session, void* buf, size_t capacity, size_t* out_size) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(buf || capacity == 0, "buf is NULL");
  return Guard([&] { return reinterpret_cast<const Session*>(session)->SaveState(buf, capacity, out_size); });
}

qlite_status qlite_session_load_state(qlite_session* session, const void* data, size_t size) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(data || size == 0, "data is NULL");
  return Guard([&] { return S(session)->LoadState(data, size); });
}

qlite_status qlite_session_save_state_file(const qlite_session* session, const char* path) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(path, "path is NULL");
  return Guard([&] {
    const Session& s = *reinterpret_cast<const Session*>(session);
    size_t size = 0;
    QLITE_RETURN_IF_ERROR(s.StateSize(&size));
    std::vector<uint8_t> buf(size);
    QLITE_RETURN_IF_ERROR(s.SaveState(buf.data(), buf.size(), &size));
    std::FILE* f = std::fopen(path, "wb");
    if (!f) return StatusError(StatusCode::kIo, "cannot create %s", path);
    const bool ok = std::fwrite(buf.data(), 1, size, f) == size;
    if (std::fclose(f) != 0 || !ok) return StatusError(StatusCode::kIo, "cannot write %s", path);
    return Status::Ok();
  });
}

qlite_status qlite_session_load_state_file(qlite_session* session, const char* path) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(path, "path is NULL");
  return Guard([&] {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return StatusError(StatusCode::kIo, "cannot open %s", path);
    std::vector<uint8_t> buf;
    uint8_t chunk[1 << 16];
    size_t got = 0;
    // Read in chunks: a state is never larger than its session's cache, which bounds a file
    // that is not one (LoadState then refuses it).
    const size_t cap = S(session)->arena_capacity() + (size_t(1) << 20);
    while ((got = std::fread(chunk, 1, sizeof(chunk), f)) > 0 && buf.size() <= cap) buf.insert(buf.end(), chunk, chunk + got);
    const bool err = std::ferror(f) != 0;
    std::fclose(f);
    if (err) return StatusError(StatusCode::kIo, "cannot read %s", path);
    if (buf.size() > cap) return StatusError(StatusCode::kFormat, "%s is too large to be this session's state", path);
    return S(session)->LoadState(buf.data(), buf.size());
  });
}

qlite_status qlite_session_set_grammar(qlite_session* session, const char* grammar, size_t grammar_len) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  QLITE_CHECK_ARG(grammar || grammar_len == 0, "grammar is NULL");
  return Guard([&] { return S(session)->SetGrammar(std::string_view(grammar ? grammar : "", grammar_len)); });
}

qlite_status qlite_session_clear_grammar(qlite_session* session) {
  QLITE_CHECK_ARG(session, "session is NULL");
  QLITE_CHECK_LIVE(handles::CheckSession(session, __func__));
  S(session)->ClearGrammar();
  return QLITE_OK;
}

qlite_status qlite_json_schema_to_grammar(const char* schema, size_t schema_len, char* buf, size_t capacity,
                                          size_t* out_len) {
  QLITE_CHECK_ARG(out_len, "out_len is NULL");
  *out_len = 0;
  QLITE_CHECK_ARG(schema || schema_len == 0, "schema is NULL");
  QLITE_CHECK_ARG(buf || capacity == 0, "buf is NULL with a nonzero capacity");
  if (capacity > 0) buf[0] = '\0';
  return Guard([&] {
    std::string text;
    QLITE_RETURN_IF_ERROR(grammar::JsonSchemaToGrammar(std::string_view(schema ? schema : "", schema_len), &text));
    *out_len = text.size();
    if (!buf) return Status::Ok();  // a size query
    if (capacity <= text.size())
      return StatusError(StatusCode::kOutOfMemory, "qlite_json_schema_to_grammar: the grammar needs %zu bytes and a NUL, buf has %zu",
                         text.size(), capacity);
    std::memcpy(buf, text.data(), text.size() + 1);
    return Status::Ok();
  });
}

}  // extern "C"
