// JNI entry points of org.qlite.Qlite, org.qlite.QliteModel and org.qlite.QliteAdapter, and JNI_OnLoad.
#include <cstring>
#include <string>
#include <vector>

#include "jni_util.h"
#if __has_include("org_qlite_QliteModel.h")
// javac -h output: a signature that drifts from the Java side fails to compile here.
#include "org_qlite_Qlite.h"
#include "org_qlite_QliteModel.h"
#include "org_qlite_QliteAdapter.h"
#endif

using namespace qlite_jni;

extern "C" {

JNIEXPORT jint JNICALL JNI_OnLoad(JavaVM* vm, void*) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_6) != JNI_OK) return JNI_ERR;
  if (!InitCache(env)) return JNI_ERR;  // the pending NoClassDefFoundError explains why
  return JNI_VERSION_1_6;
}

JNIEXPORT jint JNICALL Java_org_qlite_Qlite_nativeApiVersion(JNIEnv*, jclass) {
  return static_cast<jint>(qlite_api_version());
}

JNIEXPORT jstring JNICALL Java_org_qlite_Qlite_nativeVersion(JNIEnv* env, jclass) {
  const char* v = qlite_version_string();
  return env->NewStringUTF(v ? v : "");
}

JNIEXPORT jint JNICALL Java_org_qlite_Qlite_nativeDeviceCount(JNIEnv*, jclass, jint device) {
  return qlite_device_count(static_cast<qlite_device>(device));
}

JNIEXPORT jlong JNICALL Java_org_qlite_QliteModel_nativeOpen(JNIEnv* env, jclass, jbyteArray path_z,
                                                             jboolean verify, jboolean mmap, jint device,
                                                             jint device_index) {
  return Guard(env, "qlite_model_open", [&]() -> jlong {
    std::string path;
    if (!ReadBytes(env, path_z, &path)) return 0;
    if (path.empty() || path.back() != '\0' || std::strlen(path.c_str()) != path.size() - 1) {
      Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_model_open: path is empty or contains a NUL character");
      return 0;
    }
    qlite_model_params params = qlite_model_default_params();
    params.verify_checksums = verify ? 1 : 0;
    params.use_mmap = mmap ? 1 : 0;
    params.device = static_cast<qlite_device>(device);
    params.device_index = device_index;
    qlite_model* model = nullptr;
    const qlite_status s = qlite_model_open(path.c_str(), &params, &model);
    if (s != QLITE_OK) {
      ThrowStatus(env, s, "qlite_model_open");
      return 0;
    }
    return ToHandle(model);
  });
}

JNIEXPORT jlong JNICALL Java_org_qlite_QliteModel_nativeOpenBuffer(JNIEnv* env, jclass, jobject buffer,
                                                                   jlong size, jboolean verify) {
  if (buffer == nullptr) {
    Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_model_open_memory: buffer is null");
    return 0;
  }
  void* data = env->GetDirectBufferAddress(buffer);
  const jlong capacity = env->GetDirectBufferCapacity(buffer);
  if (data == nullptr || capacity < 0 || size < 0 || size > capacity) {
    Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_model_open_memory: not a direct buffer of that size");
    return 0;
  }
  qlite_model_params params = qlite_model_default_params();
  params.verify_checksums = verify ? 1 : 0;
  params.use_mmap = 0;
  qlite_model* model = nullptr;
  const qlite_status s = qlite_model_open_memory(data, static_cast<size_t>(size), &params, &model);
  if (s != QLITE_OK) {
    ThrowStatus(env, s, "qlite_model_open_memory");
    return 0;
  }
  return ToHandle(model);
}

JNIEXPORT void JNICALL Java_org_qlite_QliteModel_nativeFree(JNIEnv*, jclass, jlong handle) {
  qlite_model_free(ModelFrom(handle));
}

JNIEXPORT void JNICALL Java_org_qlite_QliteModel_nativeInfo(JNIEnv* env, jclass, jlong handle, jlongArray out) {
  qlite_model_info i;
  std::memset(&i, 0, sizeof(i));
  const qlite_status s = qlite_model_get_info(ModelFrom(handle), &i);
  if (s != QLITE_OK) return ThrowStatus(env, s, "qlite_model_get_info");
  // Order: QliteModel.Info's constructor.
  const jlong v[] = {i.dim, i.n_layers, i.n_heads, i.n_kv_heads, i.head_dim, i.ffn_dim, i.vocab_size,
                     i.context_length, i.sliding_window, i.bos_id, i.eos_id,
                     static_cast<jlong>(i.weight_bytes), static_cast<jlong>(i.n_params), i.has_chat_template};
  const jsize n = sizeof(v) / sizeof(v[0]);
  if (out == nullptr || env->GetArrayLength(out) != n) {
    return Throw(env, QLITE_ERR_INTERNAL, "qlite_model_get_info: info array has the wrong length");
  }
  env->SetLongArrayRegion(out, 0, n, v);
}

JNIEXPORT jintArray JNICALL Java_org_qlite_QliteModel_nativeTokenize(JNIEnv* env, jclass, jlong handle,
                                                                     jbyteArray utf8, jboolean add_bos) {
  return Guard(env, "qlite_tokenize", [&]() -> jintArray {
    std::string text;
    if (!ReadBytes(env, utf8, &text)) return nullptr;
    // At most one token per byte, plus BOS; grow if a tokenizer ever needs more.
    std::vector<int32_t> ids(text.size() + 2);
    size_t count = 0;
    qlite_status s = qlite_tokenize(ModelFrom(handle), text.data(), text.size(), add_bos ? 1 : 0, ids.data(),
                                    ids.size(), &count);
    if (s == QLITE_ERR_OUT_OF_MEMORY && count > ids.size()) {
      ids.resize(count);
      s = qlite_tokenize(ModelFrom(handle), text.data(), text.size(), add_bos ? 1 : 0, ids.data(), ids.size(),
                         &count);
    }
    if (s != QLITE_OK) {
      ThrowStatus(env, s, "qlite_tokenize");
      return nullptr;
    }
    if (count > ids.size()) {
      Throw(env, QLITE_ERR_INTERNAL, "qlite_tokenize: count exceeds capacity");
      return nullptr;
    }
    jintArray result = env->NewIntArray(static_cast<jsize>(count));
    if (result == nullptr) return nullptr;
    env->SetIntArrayRegion(result, 0, static_cast<jsize>(count), reinterpret_cast<const jint*>(ids.data()));
    return result;
  });
}

JNIEXPORT jbyteArray JNICALL Java_org_qlite_QliteModel_nativeTokenBytes(JNIEnv* env, jclass, jlong handle,
                                                                        jint token) {
  return Guard(env, "qlite_token_to_piece", [&]() -> jbyteArray {
    std::vector<char> buf(64);
    size_t len = 0;
    qlite_status s = qlite_token_to_piece(ModelFrom(handle), token, buf.data(), buf.size(), &len);
    if (s == QLITE_ERR_OUT_OF_MEMORY && len > buf.size()) {  // a long piece: retry with its size
      buf.resize(len);
      s = qlite_token_to_piece(ModelFrom(handle), token, buf.data(), buf.size(), &len);
    }
    if (s != QLITE_OK) {
      ThrowStatus(env, s, "qlite_token_to_piece");
      return nullptr;
    }
    if (len > buf.size()) {
      Throw(env, QLITE_ERR_INTERNAL, "qlite_token_to_piece: length exceeds capacity");
      return nullptr;
    }
    jbyteArray result = env->NewByteArray(static_cast<jsize>(len));
    if (result == nullptr) return nullptr;
    env->SetByteArrayRegion(result, 0, static_cast<jsize>(len), reinterpret_cast<const jbyte*>(buf.data()));
    return result;
  });
}

JNIEXPORT jstring JNICALL Java_org_qlite_QliteModel_nativeEstimateMemory(JNIEnv* env, jclass, jlong handle,
                                                                         jlongArray longs, jfloatArray floats) {
  qlite_session_params params;
  if (!ReadSessionParams(env, longs, floats, &params)) return nullptr;
  qlite_memory_estimate estimate;
  std::memset(&estimate, 0, sizeof(estimate));
  qlite_status s = qlite_estimate_memory(ModelFrom(handle), &params, &estimate);
  if (s != QLITE_OK) {
    ThrowStatus(env, s, "qlite_estimate_memory");
    return nullptr;
  }
  char text[2048];
  s = qlite_format_memory_estimate(&estimate, text, sizeof(text));
  if (s != QLITE_OK) {
    ThrowStatus(env, s, "qlite_format_memory_estimate");
    return nullptr;
  }
  text[sizeof(text) - 1] = '\0';
  return env->NewStringUTF(text);
}

// Reads a byte[][] of NUL-terminated UTF-8 strings; false with an exception pending.
static bool ReadStrings(JNIEnv* env, jobjectArray array, std::vector<std::string>* out) {
  const jsize n = array ? env->GetArrayLength(array) : 0;
  for (jsize i = 0; i < n; ++i) {
    jbyteArray z = static_cast<jbyteArray>(env->GetObjectArrayElement(array, i));
    if (env->ExceptionCheck()) return false;
    std::string text;
    const bool ok = ReadBytes(env, z, &text);
    env->DeleteLocalRef(z);
    if (!ok) return false;
    if (text.empty() || text.back() != '\0') {
      Throw(env, QLITE_ERR_INVALID_ARGUMENT, "string is not NUL-terminated");
      return false;
    }
    out->push_back(text);
  }
  return true;
}

JNIEXPORT jbyteArray JNICALL Java_org_qlite_QliteModel_nativeApplyChatTemplate(JNIEnv* env, jclass, jlong handle,
                                                                               jobjectArray roles,
                                                                               jobjectArray contents,
                                                                               jboolean add_generation_prompt) {
  return Guard(env, "qlite_chat_apply_template", [&]() -> jbyteArray {
    std::vector<std::string> r, c;
    if (!ReadStrings(env, roles, &r) || !ReadStrings(env, contents, &c)) return nullptr;
    if (r.size() != c.size()) {
      Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_chat_apply_template: one content per role");
      return nullptr;
    }
    std::vector<qlite_chat_message> msgs(r.size());
    for (size_t i = 0; i < r.size(); ++i) msgs[i] = {r[i].c_str(), c[i].c_str()};
    size_t len = 0;
    qlite_status s = qlite_chat_apply_template(ModelFrom(handle), msgs.data(), msgs.size(), add_generation_prompt,
                                               nullptr, 0, &len);
    std::vector<char> buf(len + 1);
    if (s == QLITE_OK)
      s = qlite_chat_apply_template(ModelFrom(handle), msgs.data(), msgs.size(), add_generation_prompt, buf.data(),
                                    buf.size(), &len);
    if (s != QLITE_OK) {
      ThrowStatus(env, s, "qlite_chat_apply_template");
      return nullptr;
    }
    jbyteArray out = env->NewByteArray(static_cast<jsize>(len));
    if (out == nullptr) return nullptr;
    env->SetByteArrayRegion(out, 0, static_cast<jsize>(len), reinterpret_cast<const jbyte*>(buf.data()));
    return out;
  });
}

JNIEXPORT jlong JNICALL Java_org_qlite_QliteAdapter_nativeOpen(JNIEnv* env, jclass, jlong model, jbyteArray path_z) {
  return Guard(env, "qlite_adapter_open", [&]() -> jlong {
    std::string path;
    if (!ReadBytes(env, path_z, &path)) return 0;
    if (path.empty() || path.back() != '\0') {
      Throw(env, QLITE_ERR_INVALID_ARGUMENT, "qlite_adapter_open: bad path");
      return 0;
    }
    qlite_adapter* adapter = nullptr;
    const qlite_status s = qlite_adapter_open(ModelFrom(model), path.c_str(), &adapter);
    if (s != QLITE_OK) {
      ThrowStatus(env, s, "qlite_adapter_open");
      return 0;
    }
    return ToHandle(adapter);
  });
}

JNIEXPORT void JNICALL Java_org_qlite_QliteAdapter_nativeFree(JNIEnv*, jclass, jlong handle) {
  qlite_adapter_free(reinterpret_cast<qlite_adapter*>(static_cast<intptr_t>(handle)));
}

}  // extern "C"
