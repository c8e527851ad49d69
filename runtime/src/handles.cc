// The C API's handle registry (handles.h): one mutex-guarded table of live objects.
#include "handles.h"

#include <mutex>
#include <string>
#include <unordered_map>

#include "adapter.h"
#include "model.h"
#include "session.h"

namespace qlite {
namespace handles {
namespace {

enum class Kind { kModel, kSession, kAdapter };

struct Entry {
  Kind kind;
  const void* model = nullptr;  // a session's model
  uint32_t sessions = 0;        // a model's live sessions
  bool freed = false;           // a model freed by its owner while sessions still use it
};

struct Registry {
  std::mutex mu;
  std::unordered_map<const void*, Entry> live;
};

Registry& R() {
  static Registry* r = new Registry;  // never destroyed: handles may be freed during exit
  return *r;
}

const char* KindName(Kind k) { return k == Kind::kModel ? "model" : k == Kind::kSession ? "session" : "adapter"; }

Status Dead(const char* function, Kind k) {
  return Status(StatusCode::kInvalidArgument, std::string(function) + ": not a live qlite_" + KindName(k) +
                                                  " (already freed, or never returned by this library)");
}

// With the lock held: the live entry of kind k, or null.
Entry* Find(const void* p, Kind k) {
  auto it = R().live.find(p);
  return it != R().live.end() && it->second.kind == k ? &it->second : nullptr;
}

}  // namespace

void AddModel(Model* model) {
  std::lock_guard<std::mutex> lock(R().mu);
  R().live[model] = Entry{Kind::kModel};
}

void AddSession(Session* session, const Model* model) {
  std::lock_guard<std::mutex> lock(R().mu);
  Entry e{Kind::kSession};
  e.model = model;
  R().live[session] = e;
  if (Entry* m = Find(model, Kind::kModel)) ++m->sessions;
}

void AddAdapter(Adapter* adapter) {
  std::lock_guard<std::mutex> lock(R().mu);
  R().live[adapter] = Entry{Kind::kAdapter};
}

Status CheckModel(const void* model, const char* function) {
  std::lock_guard<std::mutex> lock(R().mu);
  const Entry* e = Find(model, Kind::kModel);
  return e && !e->freed ? Status::Ok() : Dead(function, Kind::kModel);
}

Status CheckSession(const void* session, const char* function) {
  std::lock_guard<std::mutex> lock(R().mu);
  const Entry* e = Find(session, Kind::kSession);
  if (!e) return Dead(function, Kind::kSession);
  const Entry* m = Find(e->model, Kind::kModel);
  if (!m || m->freed)
    return Status(StatusCode::kInvalidArgument,
                  std::string(function) + ": the session's model was freed (free every session before its model)");
  return Status::Ok();
}

Status CheckAdapter(const void* adapter, const char* function) {
  std::lock_guard<std::mutex> lock(R().mu);
  return Find(adapter, Kind::kAdapter) ? Status::Ok() : Dead(function, Kind::kAdapter);
}

bool FreeModel(void* model, Status* why) {
  {
    std::lock_guard<std::mutex> lock(R().mu);
    Entry* e = Find(model, Kind::kModel);
    if (!e || e->freed) {
      *why = Dead("qlite_model_free", Kind::kModel);
      return false;
    }
    if (e->sessions > 0) {  // deleted with its last session, which fails every call meanwhile
      e->freed = true;
      return true;
    }
    R().live.erase(model);
  }
  delete static_cast<Model*>(model);
  return true;
}

bool FreeSession(void* session, Status* why) {
  const Model* orphan = nullptr;
  {
    std::lock_guard<std::mutex> lock(R().mu);
    Entry* e = Find(session, Kind::kSession);
    if (!e) {
      *why = Dead("qlite_session_free", Kind::kSession);
      return false;
    }
    const void* model = e->model;
    R().live.erase(session);
    if (Entry* m = Find(model, Kind::kModel)) {
      if (m->sessions > 0) --m->sessions;
      if (m->freed && m->sessions == 0) {
        orphan = static_cast<const Model*>(model);
        R().live.erase(model);
      }
    }
  }
  Session::Destroy(static_cast<Session*>(session));  // before its model goes
  delete orphan;
  return true;
}

bool FreeAdapter(void* adapter, Status* why) {
  {
    std::lock_guard<std::mutex> lock(R().mu);
    if (!Find(adapter, Kind::kAdapter)) {
      *why = Dead("qlite_adapter_free", Kind::kAdapter);
      return false;
    }
    R().live.erase(adapter);
  }
  delete static_cast<Adapter*>(adapter);
  return true;
}

}  // namespace handles
}  // namespace qlite
