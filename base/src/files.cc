// Regular-file checks before opening untrusted paths (files.h).
#include "qlite/base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qlite {

Status OpenRegularFile(const std::string& path, int* fd, uint64_t* size) {
  *fd = -1;
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever.
  const int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (f < 0) return StatusError(StatusCode::kIo, "cannot open %s: %s", path.c_str(), std::strerror(errno));
  struct stat st;
  if (fstat(f, &st) != 0) {
    const int e = errno;
    ::close(f);
    return StatusError(StatusCode::kIo, "cannot stat %s: %s", path.c_str(), std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(f);
    return StatusError(StatusCode::kIo, "%s is not a regular file", path.c_str());
  }
  const int flags = fcntl(f, F_GETFL);
  if (flags < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int e = errno;
    ::close(f);
    return StatusError(StatusCode::kIo, "cannot open %s: %s", path.c_str(), std::strerror(e));
  }
  *fd = f;
  *size = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

Status ReadRegularFile(const std::string& path, std::string* out) {
  int fd = -1;
  uint64_t size = 0;
  QLITE_RETURN_IF_ERROR(OpenRegularFile(path, &fd, &size));
  out->clear();
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return StatusError(StatusCode::kIo, "cannot read %s: %s", path.c_str(), std::strerror(e));
    }
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return Status::Ok();
}

Status CheckOutputPath(const std::string& out, const std::vector<std::string>& inputs) {
  struct stat o;
  if (stat(out.c_str(), &o) != 0) return Status::Ok();  // a new file: nothing to replace
  if (!S_ISREG(o.st_mode))
    return StatusError(StatusCode::kInvalidArgument, "output %s exists and is not a regular file", out.c_str());
  for (const std::string& in : inputs) {
    struct stat i;
    if (!in.empty() && stat(in.c_str(), &i) == 0 && i.st_dev == o.st_dev && i.st_ino == o.st_ino)
      return StatusError(StatusCode::kInvalidArgument, "output %s is the input %s: it would be replaced",
                         out.c_str(), in.c_str());
  }
  return Status::Ok();
}

}  // namespace qlite
