// libFuzzer entry for all of qlite's fuzz targets, built into one binary (one instrumented
// link): QLITE_FUZZ_TARGET names the target, QLITE_FUZZ_DATA the shared test models.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz_targets.h"

namespace {
qlite_fuzz::TargetFn g_target = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* name = std::getenv("QLITE_FUZZ_TARGET");
  for (const qlite_fuzz::Target& t : qlite_fuzz::kTargets)
    if (name && !std::strcmp(name, t.name)) g_target = t.fn;
  if (!g_target) {
    std::fprintf(stderr, "qlite_fuzz: set QLITE_FUZZ_TARGET to one of:");
    for (const qlite_fuzz::Target& t : qlite_fuzz::kTargets) std::fprintf(stderr, " %s", t.name);
    std::fprintf(stderr, "\n");
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  g_target(data, size);
  return 0;
}
