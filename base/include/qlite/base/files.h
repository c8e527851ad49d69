// Opening untrusted paths safely: only regular files are read (a FIFO or device would block
// or never end), and an output path may not replace a file the same command reads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qlite/base/status.h"

namespace qlite {

// Opens `path` read-only without blocking (O_NONBLOCK), then refuses anything but a regular
// file before a single byte is read. On success *fd is a blocking descriptor the caller
// closes, and *size the file's size.
Status OpenRegularFile(const std::string& path, int* fd, uint64_t* size);

// The whole of a regular file (opened as OpenRegularFile does), e.g. a text to score.
Status ReadRegularFile(const std::string& path, std::string* out);

// Refuses an output path that exists and is not a regular file (a device node, FIFO or
// folder) or that names the same file as one of `inputs` (by device and inode, so links and
// other spellings count). Inputs that do not exist are ignored.
Status CheckOutputPath(const std::string& out, const std::vector<std::string>& inputs);

}  // namespace qlite
