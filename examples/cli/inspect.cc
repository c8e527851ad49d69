// `qlite inspect FILE [--tensors] [--verify]`: what a .qlm file holds.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"
#include "qlite/format/inspect.h"

namespace {

int RunInspect(int argc, char** argv) {
  qlite::InspectOptions options;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tensors")) {
      options.tensors = true;
    } else if (!std::strcmp(argv[i], "--verify")) {
      options.verify = true;
    } else if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      std::printf("usage: qlite inspect FILE.qlm [--tensors] [--verify]\n"
                  "  --tensors  list every tensor (shape, dtype, quantization, layout, bytes)\n"
                  "  --verify   also check every tensor checksum\n");
      return 0;
    } else if (argv[i][0] == '-' || !path.empty()) {
      std::fprintf(stderr, "qlite inspect: unexpected argument %s (see --help)\n", argv[i]);
      return 2;
    } else {
      path = argv[i];
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: qlite inspect FILE.qlm [--tensors] [--verify]\n");
    return 2;
  }
  qlite::Status s = qlite::InspectFile(path, options, stdout);
  if (!s.ok()) {
    std::fprintf(stderr, "qlite inspect: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

QLITE_CLI_COMMAND(inspect, "describe a .qlm file (config, tokenizer, tensors, totals)", RunInspect);
