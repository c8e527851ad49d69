// C API of LoRA adapters merged at load time (qlite.h): open/free, per-session swap, sizing.
#include <new>
#include <string>

#include "adapter.h"
#include "capi_internal.h"
#include "handles.h"
#include "qlite/qlite.h"
#include "session.h"

using namespace qlite;

namespace {

const Adapter* const* A(const qlite_adapter* const* a) { return reinterpret_cast<const Adapter* const*>(a); }

template <typename F>
qlite_status Run(const char* fn, F&& body) {
  try {
    Status s = body();
    return s.ok() ? QLITE_OK : capi_internal::Report(s);
  } catch (const std::bad_alloc&) {
    return capi_internal::Report(Status(StatusCode::kOutOfMemory, std::string(fn) + ": out of memory"));
  } catch (...) {
    return capi_internal::Report(Status(StatusCode::kInternal, std::string(fn) + ": internal error"));
  }
}

Status Arg(bool ok, const char* fn, const char* what) {
  return ok ? Status::Ok() : Status(StatusCode::kInvalidArgument, std::string(fn) + ": " + what);
}

}  // namespace

extern "C" {

qlite_status qlite_adapter_open(const qlite_model* base, const char* path, qlite_adapter** out_adapter) {
  if (out_adapter) *out_adapter = nullptr;
  return Run(__func__, [&] {
    QLITE_RETURN_IF_ERROR(Arg(base && path && out_adapter, "qlite_adapter_open", "base, path or out_adapter is NULL"));
    QLITE_RETURN_IF_ERROR(handles::CheckModel(base, "qlite_adapter_open"));
    std::unique_ptr<Adapter> a;
    QLITE_RETURN_IF_ERROR(Adapter::Open(*reinterpret_cast<const Model*>(base), path, &a));
    handles::AddAdapter(a.get());
    *out_adapter = reinterpret_cast<qlite_adapter*>(a.release());
    return Status::Ok();
  });
}

void qlite_adapter_free(qlite_adapter* adapter) {
  if (!adapter) return;
  Status why;
  if (!handles::FreeAdapter(adapter, &why)) capi_internal::Report(why);
}

qlite_status qlite_session_set_adapters(qlite_session* session, const qlite_adapter* const* adapters,
                                        const float* scales, size_t n_adapters) {
  return Run(__func__, [&] {
    QLITE_RETURN_IF_ERROR(Arg(session, "qlite_session_set_adapters", "session is NULL"));
    QLITE_RETURN_IF_ERROR(Arg(adapters || n_adapters == 0, "qlite_session_set_adapters", "adapters is NULL"));
    QLITE_RETURN_IF_ERROR(handles::CheckSession(session, "qlite_session_set_adapters"));
    for (size_t i = 0; i < n_adapters; ++i)
      if (adapters[i]) QLITE_RETURN_IF_ERROR(handles::CheckAdapter(adapters[i], "qlite_session_set_adapters"));
    return reinterpret_cast<Session*>(session)->SetAdapters(A(adapters), scales, n_adapters);
  });
}

qlite_status qlite_adapters_memory(const qlite_model* model, const qlite_adapter* const* adapters, size_t n_adapters,
                                   uint64_t* out_bytes) {
  return Run(__func__, [&] {
    QLITE_RETURN_IF_ERROR(Arg(model && out_bytes && (adapters || n_adapters == 0), "qlite_adapters_memory",
                              "model, adapters or out_bytes is NULL"));
    QLITE_RETURN_IF_ERROR(handles::CheckModel(model, "qlite_adapters_memory"));
    for (size_t i = 0; i < n_adapters; ++i)
      if (adapters[i]) QLITE_RETURN_IF_ERROR(handles::CheckAdapter(adapters[i], "qlite_adapters_memory"));
    return AdaptersBytes(*reinterpret_cast<const Model*>(model), A(adapters), n_adapters, out_bytes);
  });
}

}  // extern "C"
