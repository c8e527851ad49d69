// `qlite inspect FILE [--tensors] [--verify]`: what a .qlm file holds.
#include <cstdio>
#include <cstring>
#include <string>

#include "commands.h"
#include "qlite/format/inspect.h"
#include "qlite/qlite.h"

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
  // What this CPU makes of the file's weight layout (the file itself is fine either way).
  qlite_model* model = nullptr;
  qlite_model_info info;
  if (qlite_model_open(path.c_str(), nullptr, &model) == QLITE_OK && qlite_model_get_info(model, &info) == QLITE_OK &&
      info.n_slow_layout_tensors) {
    std::printf("note: %u weight tensors are in a layout this CPU reads through an unpacking copy "
                "(slower than rowmajor here); convert with --layout auto for a file made for this CPU\n",
                info.n_slow_layout_tensors);
  }
  qlite_model_free(model);
  return 0;
}

}  // namespace

QLITE_CLI_COMMAND(inspect, "describe a .qlm file (config, tokenizer, tensors, totals)", RunInspect);
