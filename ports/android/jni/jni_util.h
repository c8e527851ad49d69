// Helpers shared by the JNI entry points. Rules every entry point follows:
// - no C++ exception leaves native code: an entry point that builds C++ objects runs inside
//   Guard (which turns exceptions into QliteException); the others call only the C API and
//   these helpers, none of which throws;
// - after any JNI call that can fail, return at once if a Java exception is pending;
// - a QliteException is thrown only when no other exception is pending.
#pragma once
#include <jni.h>

#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "qlite/qlite.h"

namespace qlite_jni {

// Cached in JNI_OnLoad (global references), so lookups also work on threads the app
// attached itself and cost nothing per call.
struct Cache {
  jclass exception_class = nullptr;  // org.qlite.QliteException
  jmethodID exception_ctor = nullptr;  // (int, String)
  jclass stream_class = nullptr;  // org.qlite.QliteSession$Stream (kept loaded)
  jmethodID stream_on_piece = nullptr;  // Stream.onPiece(int, byte[]) -> int
};
const Cache& cache();
bool InitCache(JNIEnv* env);  // JNI_OnLoad; false with an exception pending

// Throws org.qlite.QliteException(status, message) unless an exception is already pending.
void Throw(JNIEnv* env, int status, const char* message);
// Throws for a failed C call, with qlite_last_error() (or the status name) as message.
void ThrowStatus(JNIEnv* env, qlite_status status, const char* function);

inline qlite_model* ModelFrom(jlong h) { return reinterpret_cast<qlite_model*>(static_cast<intptr_t>(h)); }
inline qlite_session* SessionFrom(jlong h) { return reinterpret_cast<qlite_session*>(static_cast<intptr_t>(h)); }
inline jlong ToHandle(const void* p) { return static_cast<jlong>(reinterpret_cast<intptr_t>(p)); }

// Copies a Java byte[] (e.g. NUL-terminated UTF-8) out; false with an exception pending on error.
bool ReadBytes(JNIEnv* env, jbyteArray array, std::string* out);
// Reads exactly n elements of a long[] / float[]; false with an exception pending on error.
bool ReadLongs(JNIEnv* env, jlongArray array, jsize n, jlong* out);
bool ReadFloats(JNIEnv* env, jfloatArray array, jsize n, jfloat* out);

// Session parameters from QliteSession.Params' arrays (layout in QliteSession.java).
bool ReadSessionParams(JNIEnv* env, jlongArray longs, jfloatArray floats, qlite_session_params* out);

// Runs body; a C++ exception (bad_alloc from a std::vector, say) becomes a QliteException
// instead of unwinding into the JVM.
template <typename Body>
auto Guard(JNIEnv* env, const char* function, Body body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    Throw(env, QLITE_ERR_OUT_OF_MEMORY, (std::string(function) + ": out of memory").c_str());
  } catch (...) {
    Throw(env, QLITE_ERR_INTERNAL, (std::string(function) + ": internal error").c_str());
  }
  return decltype(body())();
}

}  // namespace qlite_jni
