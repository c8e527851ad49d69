// Shared by the C API's source files: reporting a Status as qlite_status + thread-local message.
#pragma once
#include "qlite/base/status.h"
#include "qlite/qlite.h"

namespace qlite {
namespace capi_internal {
qlite_status Report(const Status& s);
}  // namespace capi_internal
}  // namespace qlite
