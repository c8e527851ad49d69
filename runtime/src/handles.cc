// The C API's handle registry (handles.h): one mutex-guarded table of live objects.
#include "handles.h"

#include <mutex>
#include <new>
#include <string>
#include <vector>

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

// Pointer -> Entry by linear probing. The first slots live in static storage, so opening a
// model or creating a session calls no allocator until more than kInline / 2 handles live
// (firmware callers that give qlite every byte up front); past that the table grows on the heap.
class HandleTable {
 public:
  Entry* Find(const void* p) {
    for (size_t i = Home(p);; i = (i + 1) & (cap_ - 1)) {
      if (slots_[i].key == p) return &slots_[i].entry;
      if (!slots_[i].key) return nullptr;
    }
  }
  Entry& operator[](const void* p) {
    if (Entry* e = Find(p)) return *e;
    if ((count_ + 1) * 2 > cap_) Grow();
    size_t i = Home(p);
    while (slots_[i].key) i = (i + 1) & (cap_ - 1);
    slots_[i].key = p;
    slots_[i].entry = Entry{};
    ++count_;
    return slots_[i].entry;
  }
  void erase(const void* p) {
    size_t i = Home(p);
    while (slots_[i].key != p) {
      if (!slots_[i].key) return;
      i = (i + 1) & (cap_ - 1);
    }
    // Backward-shift deletion: later slots of the run move up where their home allows.
    for (size_t j = (i + 1) & (cap_ - 1); slots_[j].key; j = (j + 1) & (cap_ - 1)) {
      const size_t home = Home(slots_[j].key);
      if (((j - home) & (cap_ - 1)) >= ((j - i) & (cap_ - 1))) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    --count_;
  }

 private:
  struct Slot {
    const void* key = nullptr;
    Entry entry{};
  };
  static constexpr size_t kInline = 256;
  size_t Home(const void* p) const {
    const uint64_t h = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(h >> 32) & (cap_ - 1);
  }
  void Grow() {
    std::vector<Slot> old(slots_, slots_ + cap_);
    heap_.assign(cap_ * 2, Slot{});
    slots_ = heap_.data();
    cap_ *= 2;
    count_ = 0;
    for (const Slot& s : old)
      if (s.key) (*this)[s.key] = s.entry;
  }

  Slot inline_[kInline];
  std::vector<Slot> heap_;
  Slot* slots_ = inline_;
  size_t cap_ = kInline;
  size_t count_ = 0;
};

struct Registry {
  std::mutex mu;
  HandleTable live;
};

Registry& R() {
  // Static storage, never destroyed (handles may be freed during exit) and never allocated.
  alignas(Registry) static unsigned char storage[sizeof(Registry)];
  static Registry* r = ::new (storage) Registry;
  return *r;
}

const char* KindName(Kind k) { return k == Kind::kModel ? "model" : k == Kind::kSession ? "session" : "adapter"; }

Status Dead(const char* function, Kind k) {
  return Status(StatusCode::kInvalidArgument, std::string(function) + ": not a live qlite_" + KindName(k) +
                                                  " (already freed, or never returned by this library)");
}

// With the lock held: the live entry of kind k, or null.
Entry* Find(const void* p, Kind k) {
  Entry* e = R().live.Find(p);
  return e && e->kind == k ? e : nullptr;
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
