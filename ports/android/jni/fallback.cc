// Weak stand-ins for C API functions that the qlite_runtime being linked does not define
// yet (the runtime lands in stages). They live in their own static library, linked after
// qlite_runtime, so the linker only reaches them for symbols the runtime lacks; a real
// definition always wins. Each reports QLITE_ERR_UNSUPPORTED, which the Java tests treat
// as "skip", so libqlite_jni.so always loads instead of failing on an undefined symbol.
#include <cstring>

#include "qlite/qlite.h"

#define QLITE_JNI_WEAK extern "C" __attribute__((weak))

namespace {
const char kMissing[] = "this qlite_runtime build does not implement the function yet";
thread_local const char* t_error = "";
qlite_status Missing() {
  t_error = kMissing;
  return QLITE_ERR_UNSUPPORTED;
}
}  // namespace

QLITE_JNI_WEAK const char* qlite_last_error(void) { return t_error; }
QLITE_JNI_WEAK const char* qlite_status_string(qlite_status status) {
  return status == QLITE_OK ? "ok" : status == QLITE_ERR_UNSUPPORTED ? "unsupported" : "error";
}
QLITE_JNI_WEAK int32_t qlite_device_count(qlite_device device) { return device == QLITE_DEVICE_CPU ? 1 : 0; }
QLITE_JNI_WEAK qlite_model_params qlite_model_default_params(void) {
  qlite_model_params p;
  std::memset(&p, 0, sizeof(p));
  p.verify_checksums = 0;
  p.use_mmap = 1;
  return p;
}
QLITE_JNI_WEAK qlite_session_params qlite_session_default_params(void) {
  qlite_session_params p;
  std::memset(&p, 0, sizeof(p));
  p.n_sink_tokens = UINT32_MAX;
  p.sampler.top_p = 1.0f;
  p.sampler.repeat_penalty = 1.0f;
  return p;
}
QLITE_JNI_WEAK qlite_status qlite_model_open(const char*, const qlite_model_params*, qlite_model**) { return Missing(); }
QLITE_JNI_WEAK qlite_status qlite_model_open_memory(const void*, size_t, const qlite_model_params*, qlite_model**) {
  return Missing();
}
QLITE_JNI_WEAK void qlite_model_free(qlite_model*) {}
QLITE_JNI_WEAK qlite_status qlite_model_get_info(const qlite_model*, qlite_model_info*) { return Missing(); }
QLITE_JNI_WEAK qlite_status qlite_tokenize(const qlite_model*, const char*, size_t, int, int32_t*, size_t, size_t*) {
  return Missing();
}
QLITE_JNI_WEAK qlite_status qlite_token_to_piece(const qlite_model*, int32_t, char*, size_t, size_t*) { return Missing(); }
QLITE_JNI_WEAK qlite_status qlite_estimate_memory(const qlite_model*, const qlite_session_params*,
                                                  qlite_memory_estimate*) {
  return Missing();
}
QLITE_JNI_WEAK qlite_status qlite_format_memory_estimate(const qlite_memory_estimate*, char*, size_t) {
  return Missing();
}
QLITE_JNI_WEAK qlite_status qlite_session_create(const qlite_model*, const qlite_session_params*, qlite_session**) {
  return Missing();
}
QLITE_JNI_WEAK void qlite_session_free(qlite_session*) {}
QLITE_JNI_WEAK qlite_status qlite_session_reset(qlite_session*) { return Missing(); }
QLITE_JNI_WEAK qlite_status qlite_prefill(qlite_session*, const int32_t*, size_t) { return Missing(); }
QLITE_JNI_WEAK qlite_status qlite_decode(qlite_session*, int32_t) { return Missing(); }
QLITE_JNI_WEAK qlite_status qlite_get_logits(qlite_session*, const float**) { return Missing(); }
QLITE_JNI_WEAK qlite_status qlite_sample(qlite_session*, int32_t*) { return Missing(); }
QLITE_JNI_WEAK qlite_status qlite_generate(qlite_session*, const char*, uint32_t, int, qlite_token_callback, void*,
                                           qlite_generate_stats*) {
  return Missing();
}
