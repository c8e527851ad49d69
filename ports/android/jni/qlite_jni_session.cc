// JNI entry points of org.qlite.QliteSession (and its Params).
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "jni_util.h"
#if __has_include("org_qlite_QliteSession.h")
#include "org_qlite_QliteSession.h"
#include "org_qlite_QliteSession_Params.h"
#endif

using namespace qlite_jni;

namespace {

// qlite_generate's callback: hands each piece to QliteSession.Stream.onPiece on the calling
// thread. Any failure (or a pending Java exception) stops generation; the exception is left
// pending for the Java caller.
struct StreamContext {
  JNIEnv* env;
  jobject stream;
};

int OnToken(void* user_data, int32_t token, const char* piece, size_t piece_len) {
  auto* ctx = static_cast<StreamContext*>(user_data);
  JNIEnv* env = ctx->env;
  if (env->ExceptionCheck()) return 1;
  jbyteArray bytes = env->NewByteArray(static_cast<jsize>(piece_len));
  if (bytes == nullptr) return 1;
  if (piece_len > 0) env->SetByteArrayRegion(bytes, 0, static_cast<jsize>(piece_len), reinterpret_cast<const jbyte*>(piece));
  jint stop = 1;
  if (!env->ExceptionCheck()) stop = env->CallIntMethod(ctx->stream, cache().stream_on_piece, static_cast<jint>(token), bytes);
  env->DeleteLocalRef(bytes);  // one per token: a long generation must not exhaust local refs
  if (env->ExceptionCheck()) return 1;
  return stop != 0 ? 1 : 0;
}

}  // namespace

extern "C" {

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_00024Params_nativeDefaults(JNIEnv* env, jclass, jlongArray longs,
                                                                              jfloatArray floats) {
  const qlite_session_params p = qlite_session_default_params();
  // Order: QliteSession.Params' index constants.
  const jlong l[] = {p.n_threads,
                     p.window,
                     p.n_sink_tokens == UINT32_MAX ? -1 : static_cast<jlong>(p.n_sink_tokens),
                     p.kv_type,
                     p.max_batch,
                     static_cast<jlong>(p.memory_budget),
                     p.sampler.top_k,
                     p.sampler.repeat_last_n,
                     static_cast<jlong>(p.sampler.seed),
                     static_cast<jlong>(p.adapter_memory)};
  const jfloat f[] = {p.sampler.temperature, p.sampler.top_p, p.sampler.min_p, p.sampler.repeat_penalty};
  const jsize nl = sizeof(l) / sizeof(l[0]), nf = sizeof(f) / sizeof(f[0]);
  if (longs == nullptr || floats == nullptr || env->GetArrayLength(longs) != nl || env->GetArrayLength(floats) != nf) {
    return Throw(env, QLITE_ERR_INTERNAL, "qlite_session_default_params: parameter arrays have the wrong length");
  }
  env->SetLongArrayRegion(longs, 0, nl, l);
  if (env->ExceptionCheck()) return;
  env->SetFloatArrayRegion(floats, 0, nf, f);
}

JNIEXPORT jlong JNICALL Java_org_qlite_QliteSession_nativeCreate(JNIEnv* env, jclass, jlong model, jlongArray longs,
                                                                 jfloatArray floats, jobjectArray stops_z,
                                                                 jintArray bias_tokens, jfloatArray bias_values) {
  return Guard(env, "qlite_session_create", [&]() -> jlong {
    qlite_session_params params;
    if (!ReadSessionParams(env, longs, floats, &params)) return 0;
    // Stop strings and biases: read here, copied by the session at creation.
    std::vector<std::string> stops;
    const jsize n_stops = stops_z ? env->GetArrayLength(stops_z) : 0;
    for (jsize i = 0; i < n_stops; ++i) {
      jbyteArray z = static_cast<jbyteArray>(env->GetObjectArrayElement(stops_z, i));
      if (env->ExceptionCheck()) return 0;
      std::string stop;
      const bool ok = ReadBytes(env, z, &stop);
      env->DeleteLocalRef(z);
      if (!ok) return 0;
      if (stop.empty() || stop.back() != '\0') {
        Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_session_create: bad stop string");
        return 0;
      }
      stops.push_back(stop);
    }
    std::vector<const char*> stop_ptrs;
    for (const std::string& t : stops) stop_ptrs.push_back(t.c_str());
    const jsize n_bias = bias_tokens ? env->GetArrayLength(bias_tokens) : 0;
    if (!bias_values || env->GetArrayLength(bias_values) != n_bias) {
      Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_session_create: one bias per token");
      return 0;
    }
    std::vector<jint> tokens(n_bias);
    std::vector<jfloat> values(n_bias);
    if (n_bias) {
      env->GetIntArrayRegion(bias_tokens, 0, n_bias, tokens.data());
      if (env->ExceptionCheck()) return 0;
      env->GetFloatArrayRegion(bias_values, 0, n_bias, values.data());
      if (env->ExceptionCheck()) return 0;
    }
    std::vector<qlite_logit_bias> bias(n_bias);
    for (jsize i = 0; i < n_bias; ++i) bias[i] = {tokens[i], values[i]};
    params.sampler.stop_strings = stop_ptrs.data();
    params.sampler.n_stop_strings = stop_ptrs.size();
    params.sampler.logit_bias = bias.data();
    params.sampler.n_logit_bias = bias.size();
    qlite_session* session = nullptr;
    const qlite_status s = qlite_session_create(ModelFrom(model), &params, &session);
    if (s != QLITE_OK) {
      ThrowStatus(env, s, "qlite_session_create");
      return 0;
    }
    return ToHandle(session);
  });
}

JNIEXPORT jlong JNICALL Java_org_qlite_QliteSession_nativeNPast(JNIEnv* env, jclass, jlong handle) {
  qlite_session_info info;
  const qlite_status s = qlite_session_get_info(SessionFrom(handle), &info);
  if (s != QLITE_OK) ThrowStatus(env, s, "qlite_session_get_info");
  return s == QLITE_OK ? static_cast<jlong>(info.n_past) : 0;
}

JNIEXPORT jlong JNICALL Java_org_qlite_QliteSession_nativeSync(JNIEnv* env, jclass, jlong handle, jintArray tokens) {
  if (tokens == nullptr) {
    Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_session_sync: tokens is null");
    return 0;
  }
  const jsize n = env->GetArrayLength(tokens);
  jint* ids = env->GetIntArrayElements(tokens, nullptr);
  if (ids == nullptr) return 0;
  size_t reused = 0;
  const qlite_status s =
      qlite_session_sync(SessionFrom(handle), reinterpret_cast<const int32_t*>(ids), static_cast<size_t>(n), &reused);
  env->ReleaseIntArrayElements(tokens, ids, JNI_ABORT);
  if (s != QLITE_OK) ThrowStatus(env, s, "qlite_session_sync");
  return static_cast<jlong>(reused);
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativeSeek(JNIEnv* env, jclass, jlong handle, jlong n_past) {
  if (n_past < 0) return Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_session_seek: nPast < 0");
  const qlite_status s = qlite_session_seek(SessionFrom(handle), static_cast<uint64_t>(n_past));
  if (s != QLITE_OK) ThrowStatus(env, s, "qlite_session_seek");
}

JNIEXPORT jbyteArray JNICALL Java_org_qlite_QliteSession_nativeSaveState(JNIEnv* env, jclass, jlong handle) {
  size_t size = 0;
  qlite_status s = qlite_session_state_size(SessionFrom(handle), &size);
  if (s != QLITE_OK) {
    ThrowStatus(env, s, "qlite_session_state_size");
    return nullptr;
  }
  if (size > static_cast<size_t>(INT32_MAX)) {
    Throw(env, QLITE_ERR_OUT_OF_MEMORY, "qlite_session_save_state: the state exceeds a Java array; save to a file");
    return nullptr;
  }
  jbyteArray out = env->NewByteArray(static_cast<jsize>(size));
  if (out == nullptr) return nullptr;  // OutOfMemoryError pending
  jbyte* bytes = env->GetByteArrayElements(out, nullptr);
  if (bytes == nullptr) return nullptr;
  s = qlite_session_save_state(SessionFrom(handle), bytes, size, &size);
  env->ReleaseByteArrayElements(out, bytes, 0);
  if (s != QLITE_OK) {
    ThrowStatus(env, s, "qlite_session_save_state");
    return nullptr;
  }
  return out;
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativeLoadState(JNIEnv* env, jclass, jlong handle, jbyteArray state) {
  if (state == nullptr) return Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_session_load_state: state is null");
  const jsize n = env->GetArrayLength(state);
  jbyte* bytes = env->GetByteArrayElements(state, nullptr);
  if (bytes == nullptr) return;
  const qlite_status s = qlite_session_load_state(SessionFrom(handle), bytes, static_cast<size_t>(n));
  env->ReleaseByteArrayElements(state, bytes, JNI_ABORT);
  if (s != QLITE_OK) ThrowStatus(env, s, "qlite_session_load_state");
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativeStateFile(JNIEnv* env, jclass, jlong handle, jbyteArray path_z,
                                                                   jboolean save) {
  Guard(env, "qlite_session_state_file", [&]() -> int {
    std::string path;
    if (!ReadBytes(env, path_z, &path)) return 0;
    if (path.empty() || path.back() != '\0') {
      Throw(env, QLITE_ERR_INVALID_ARGUMENT, "session state file: bad path");
      return 0;
    }
    const qlite_status s = save ? qlite_session_save_state_file(SessionFrom(handle), path.c_str())
                                : qlite_session_load_state_file(SessionFrom(handle), path.c_str());
    if (s != QLITE_OK) ThrowStatus(env, s, save ? "qlite_session_save_state_file" : "qlite_session_load_state_file");
    return 0;
  });
}

// The adapters' handles from a long[] (nullptr entries never: the Java side checks).
static bool ReadAdapters(JNIEnv* env, jlongArray handles, std::vector<const qlite_adapter*>* out) {
  const jsize n = handles ? env->GetArrayLength(handles) : 0;
  std::vector<jlong> h(n);
  if (n) env->GetLongArrayRegion(handles, 0, n, h.data());
  if (env->ExceptionCheck()) return false;
  for (jlong a : h) out->push_back(reinterpret_cast<const qlite_adapter*>(static_cast<intptr_t>(a)));
  return true;
}

JNIEXPORT jlong JNICALL Java_org_qlite_QliteSession_nativeAdaptersMemory(JNIEnv* env, jclass, jlong model,
                                                                         jlongArray handles) {
  return Guard(env, "qlite_adapters_memory", [&]() -> jlong {
    std::vector<const qlite_adapter*> adapters;
    if (!ReadAdapters(env, handles, &adapters)) return 0;
    uint64_t bytes = 0;
    const qlite_status s = qlite_adapters_memory(ModelFrom(model), adapters.data(), adapters.size(), &bytes);
    if (s != QLITE_OK) ThrowStatus(env, s, "qlite_adapters_memory");
    return static_cast<jlong>(bytes);
  });
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativeSetAdapters(JNIEnv* env, jclass, jlong handle,
                                                                     jlongArray handles, jfloatArray scales) {
  Guard(env, "qlite_session_set_adapters", [&]() -> int {
    std::vector<const qlite_adapter*> adapters;
    if (!ReadAdapters(env, handles, &adapters)) return 0;
    std::vector<float> s(adapters.size(), 1.0f);
    if (scales != nullptr) {
      if (env->GetArrayLength(scales) != static_cast<jsize>(adapters.size())) {
        Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_session_set_adapters: one scale per adapter");
        return 0;
      }
      if (!s.empty()) env->GetFloatArrayRegion(scales, 0, static_cast<jsize>(s.size()), s.data());
      if (env->ExceptionCheck()) return 0;
    }
    const qlite_status st = qlite_session_set_adapters(SessionFrom(handle), adapters.data(), s.data(), adapters.size());
    if (st != QLITE_OK) ThrowStatus(env, st, "qlite_session_set_adapters");
    return 0;
  });
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativeFree(JNIEnv*, jclass, jlong handle) {
  qlite_session_free(SessionFrom(handle));
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativeReset(JNIEnv* env, jclass, jlong handle) {
  const qlite_status s = qlite_session_reset(SessionFrom(handle));
  if (s != QLITE_OK) ThrowStatus(env, s, "qlite_session_reset");
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativePrefill(JNIEnv* env, jclass, jlong handle, jintArray tokens) {
  if (tokens == nullptr) return Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_prefill: tokens is null");
  const jsize n = env->GetArrayLength(tokens);
  // The runtime may take its time; a copy keeps the GC free (no critical section held).
  jint* ids = env->GetIntArrayElements(tokens, nullptr);
  if (ids == nullptr) return;  // OutOfMemoryError pending
  static_assert(sizeof(jint) == sizeof(int32_t), "jint is int32_t");
  const qlite_status s = qlite_prefill(SessionFrom(handle), reinterpret_cast<const int32_t*>(ids), static_cast<size_t>(n));
  env->ReleaseIntArrayElements(tokens, ids, JNI_ABORT);
  if (s != QLITE_OK) ThrowStatus(env, s, "qlite_prefill");
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativeDecode(JNIEnv* env, jclass, jlong handle, jint token) {
  const qlite_status s = qlite_decode(SessionFrom(handle), token);
  if (s != QLITE_OK) ThrowStatus(env, s, "qlite_decode");
}

JNIEXPORT jint JNICALL Java_org_qlite_QliteSession_nativeSample(JNIEnv* env, jclass, jlong handle) {
  int32_t token = -1;
  const qlite_status s = qlite_sample(SessionFrom(handle), &token);
  if (s != QLITE_OK) ThrowStatus(env, s, "qlite_sample");
  return token;
}

JNIEXPORT void JNICALL Java_org_qlite_QliteSession_nativeLogits(JNIEnv* env, jclass, jlong handle, jfloatArray out,
                                                                jint count) {
  const float* logits = nullptr;
  const qlite_status s = qlite_get_logits(SessionFrom(handle), &logits);
  if (s != QLITE_OK) return ThrowStatus(env, s, "qlite_get_logits");
  if (logits == nullptr) return Throw(env, QLITE_ERR_INTERNAL, "qlite_get_logits: no logits");
  if (out == nullptr || count < 0 || env->GetArrayLength(out) < count) {
    return Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_get_logits: output array too small");
  }
  env->SetFloatArrayRegion(out, 0, count, logits);
}

JNIEXPORT jint JNICALL Java_org_qlite_QliteSession_nativeGenerate(JNIEnv* env, jclass, jlong handle, jbyteArray prompt_z,
                                                                  jint max_tokens, jboolean stop_at_eos, jobject stream,
                                                                  jlongArray counts, jdoubleArray seconds) {
  return Guard(env, "qlite_generate", [&]() -> jint {
    std::string prompt;
    if (!ReadBytes(env, prompt_z, &prompt)) return 0;
    if (prompt.empty() || prompt.back() != '\0' || max_tokens < 0 || stream == nullptr || counts == nullptr ||
        seconds == nullptr || env->GetArrayLength(counts) != 2 || env->GetArrayLength(seconds) != 2) {
      Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_generate: bad arguments");
      return 0;
    }
    StreamContext ctx{env, stream};
    qlite_generate_stats stats;
    std::memset(&stats, 0, sizeof(stats));
    const qlite_status s = qlite_generate(SessionFrom(handle), prompt.c_str(), static_cast<uint32_t>(max_tokens),
                                          stop_at_eos ? 1 : 0, OnToken, &ctx, &stats);
    if (env->ExceptionCheck()) return s;  // from the callback: the Java side rethrows it
    if (s != QLITE_OK && s != QLITE_ERR_CANCELLED) {
      ThrowStatus(env, s, "qlite_generate");
      return s;
    }
    const jlong c[2] = {stats.n_prompt_tokens, stats.n_generated};
    const jdouble t[2] = {stats.prefill_seconds, stats.decode_seconds};
    env->SetLongArrayRegion(counts, 0, 2, c);
    if (!env->ExceptionCheck()) env->SetDoubleArrayRegion(seconds, 0, 2, t);
    return s;
  });
}

}  // extern "C"
