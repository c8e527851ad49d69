// Registry of the C API's live handles: every entry point looks its handle up before using
// it, so a freed, foreign or wrong-kind pointer is reported instead of dereferenced.
#pragma once
#include "qlite/base/status.h"

namespace qlite {

class Model;
class Session;
struct Adapter;

namespace handles {

// Registration right after creation (may throw std::bad_alloc; the caller frees the object).
void AddModel(Model* model);
void AddSession(Session* session, const Model* model);
void AddAdapter(Adapter* adapter);

// OK when the handle is live (and, for a session, its model has not been freed);
// kInvalidArgument naming `function` otherwise. No allocation on success.
Status CheckModel(const void* model, const char* function);
Status CheckSession(const void* session, const char* function);
Status CheckAdapter(const void* adapter, const char* function);

// The free functions: false (with the reason in *why) for a handle that is not live, which
// the caller then leaves alone. A model with live sessions is only marked freed (its handle
// is dead at once) and deleted with its last session.
bool FreeModel(void* model, Status* why);
bool FreeSession(void* session, Status* why);
bool FreeAdapter(void* adapter, Status* why);

}  // namespace handles
}  // namespace qlite
