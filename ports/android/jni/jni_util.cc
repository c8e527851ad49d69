#include "jni_util.h"

#include <cstdio>
#include <cstring>

namespace qlite_jni {
namespace {
Cache g_cache;

// Field order of QliteSession.Params (kept in sync with QliteSession.java).
enum { kThreads, kWindow, kSinkTokens, kKvType, kMaxBatch, kMemoryBudget, kTopK, kRepeatLastN, kSeed, kAdapterMemory, kNLongs };
enum { kTemperature, kTopP, kMinP, kRepeatPenalty, kNFloats };

bool InRange(jlong v, jlong lo, jlong hi) { return v >= lo && v <= hi; }
}  // namespace

const Cache& cache() { return g_cache; }

void Throw(JNIEnv* env, int status, const char* message) {
  if (env->ExceptionCheck()) return;
  jstring text = env->NewStringUTF(message ? message : "");
  if (text == nullptr) return;  // OutOfMemoryError pending
  jobject ex = env->NewObject(g_cache.exception_class, g_cache.exception_ctor, static_cast<jint>(status), text);
  env->DeleteLocalRef(text);
  if (ex == nullptr) return;
  env->Throw(static_cast<jthrowable>(ex));
  env->DeleteLocalRef(ex);
}

void ThrowStatus(JNIEnv* env, qlite_status status, const char* function) {
  const char* detail = qlite_last_error();
  if (detail == nullptr || *detail == '\0') detail = qlite_status_string(status);
  // A fixed buffer: entry points outside Guard call this, and it must not throw bad_alloc.
  char message[1024];
  std::snprintf(message, sizeof(message), "%s: %s", function, detail ? detail : "error");
  Throw(env, status, message);
}

bool ReadBytes(JNIEnv* env, jbyteArray array, std::string* out) {
  if (array == nullptr) {
    Throw(env, QLITE_ERR_INVALID_ARGUMENT, "byte array is null");
    return false;
  }
  const jsize n = env->GetArrayLength(array);
  out->assign(static_cast<size_t>(n), '\0');
  if (n > 0) env->GetByteArrayRegion(array, 0, n, reinterpret_cast<jbyte*>(&(*out)[0]));
  return !env->ExceptionCheck();
}

bool ReadLongs(JNIEnv* env, jlongArray array, jsize n, jlong* out) {
  if (array == nullptr || env->GetArrayLength(array) != n) {
    Throw(env, QLITE_ERR_INVALID_ARGUMENT, "parameter array has the wrong length");
    return false;
  }
  env->GetLongArrayRegion(array, 0, n, out);
  return !env->ExceptionCheck();
}

bool ReadFloats(JNIEnv* env, jfloatArray array, jsize n, jfloat* out) {
  if (array == nullptr || env->GetArrayLength(array) != n) {
    Throw(env, QLITE_ERR_INVALID_ARGUMENT, "parameter array has the wrong length");
    return false;
  }
  env->GetFloatArrayRegion(array, 0, n, out);
  return !env->ExceptionCheck();
}

bool ReadSessionParams(JNIEnv* env, jlongArray longs, jfloatArray floats, qlite_session_params* out) {
  jlong l[kNLongs];
  jfloat f[kNFloats];
  if (!ReadLongs(env, longs, kNLongs, l) || !ReadFloats(env, floats, kNFloats, f)) return false;
  const jlong u32 = UINT32_MAX;
  const char* bad = nullptr;
  if (!InRange(l[kThreads], 0, u32)) bad = "threads";
  else if (!InRange(l[kWindow], 0, u32)) bad = "window";
  else if (!InRange(l[kSinkTokens], -1, u32)) bad = "sinkTokens";
  else if (!InRange(l[kKvType], QLITE_KV_F32, QLITE_KV_Q4)) bad = "kvType";
  else if (!InRange(l[kMaxBatch], 0, u32)) bad = "maxBatch";
  else if (l[kMemoryBudget] < 0) bad = "memoryBudget";
  else if (!InRange(l[kTopK], 0, INT32_MAX)) bad = "topK";
  else if (!InRange(l[kRepeatLastN], 0, INT32_MAX)) bad = "repeatLastN";
  else if (l[kAdapterMemory] < 0) bad = "adapterMemory";
  if (bad != nullptr) {
    char message[96];
    std::snprintf(message, sizeof(message), "session parameter out of range: %s", bad);
    Throw(env, QLITE_ERR_INVALID_ARGUMENT, message);
    return false;
  }
  qlite_session_params p = qlite_session_default_params();
  p.n_threads = static_cast<uint32_t>(l[kThreads]);
  p.window = static_cast<uint32_t>(l[kWindow]);
  p.n_sink_tokens = l[kSinkTokens] < 0 ? UINT32_MAX : static_cast<uint32_t>(l[kSinkTokens]);
  p.kv_type = static_cast<qlite_kv_type>(l[kKvType]);
  p.max_batch = static_cast<uint32_t>(l[kMaxBatch]);
  p.memory_budget = static_cast<uint64_t>(l[kMemoryBudget]);
  p.sampler.top_k = static_cast<int32_t>(l[kTopK]);
  p.sampler.repeat_last_n = static_cast<int32_t>(l[kRepeatLastN]);
  p.sampler.seed = static_cast<uint64_t>(l[kSeed]);
  p.adapter_memory = static_cast<uint64_t>(l[kAdapterMemory]);
  p.sampler.temperature = f[kTemperature];
  p.sampler.top_p = f[kTopP];
  p.sampler.min_p = f[kMinP];
  p.sampler.repeat_penalty = f[kRepeatPenalty];
  *out = p;
  return true;
}

bool InitCache(JNIEnv* env) {
  jclass ex = env->FindClass("org/qlite/QliteException");
  if (ex == nullptr) return false;
  g_cache.exception_class = static_cast<jclass>(env->NewGlobalRef(ex));
  env->DeleteLocalRef(ex);
  if (g_cache.exception_class == nullptr) return false;
  g_cache.exception_ctor = env->GetMethodID(g_cache.exception_class, "<init>", "(ILjava/lang/String;)V");
  if (g_cache.exception_ctor == nullptr) return false;
  jclass stream = env->FindClass("org/qlite/QliteSession$Stream");
  if (stream == nullptr) return false;
  g_cache.stream_class = static_cast<jclass>(env->NewGlobalRef(stream));
  env->DeleteLocalRef(stream);
  if (g_cache.stream_class == nullptr) return false;
  g_cache.stream_on_piece = env->GetMethodID(g_cache.stream_class, "onPiece", "(I[B)I");
  return g_cache.stream_on_piece != nullptr;
}

}  // namespace qlite_jni
