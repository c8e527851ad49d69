// Locating ../shared/models from tests. Under CI=true a missing file is a failure, not a skip.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace qlite_test {

inline std::string DataDir() {
  const char* env = std::getenv("QLITE_TEST_DATA");
  return env && *env ? env : QLITE_TEST_DATA;
}

inline std::string DataPath(const std::string& rel) { return DataDir() + "/" + rel; }

inline bool InCI() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

inline bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace qlite_test

// Use at the top of a test: skips when the data file is absent, fails under CI=true.
#define QLITE_REQUIRE_DATA(path_var, rel)                                         \
  const std::string path_var = qlite_test::DataPath(rel);                         \
  if (!qlite_test::FileExists(path_var)) {                                        \
    if (qlite_test::InCI()) FAIL() << "missing test data (CI=true): " << path_var; \
    GTEST_SKIP() << "missing test data: " << path_var;                            \
  }
