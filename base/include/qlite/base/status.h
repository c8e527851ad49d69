// Status: an error code plus a message, used by every layer. Codes match the C API's qlite_status values.
#pragma once
#include <string>
#include <utility>

namespace qlite {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument = 1,
  kIo = 2,
  kFormat = 3,
  kUnsupported = 4,
  kOutOfMemory = 5,
  kContext = 6,
  kMismatch = 7,
  kCancelled = 8,
  kInternal = 9,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// printf-style constructor: Status s = StatusError(StatusCode::kFormat, "tensor %s: ...", name);
Status StatusError(StatusCode code, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

}  // namespace qlite

#define QLITE_RETURN_IF_ERROR(expr)            \
  do {                                         \
    ::qlite::Status qlite_status_ = (expr);    \
    if (!qlite_status_.ok()) return qlite_status_; \
  } while (0)
