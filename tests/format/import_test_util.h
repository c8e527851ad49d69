// Helpers shared by the importer tests: temp files and loading every tensor of a model.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "qlite/format/import.h"
#include "../common/test_data.h"  // tests/CMakeLists.txt adds <area>/common, not tests/common

namespace qlite_test {

// A fresh directory under $TMPDIR, removed (with its files) at destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/qlite_import_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path_ = mkdtemp(buf.data()) ? buf.data() : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(File(name), std::ios::binary) << bytes;
    return File(name);
  }

 private:
  std::string path_;
};

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// `text` with its first `from` replaced by `to`; a missing `from` fails the test.
inline std::string ReplaceOnce(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

inline std::map<std::string, const qlite::SourceTensor*> ByName(const qlite::SourceModel& m) {
  std::map<std::string, const qlite::SourceTensor*> out;
  for (const auto& t : m.tensors) out[t.name] = &t;
  return out;
}

inline std::vector<float> Load(const qlite::SourceTensor& t) {
  std::vector<float> v;
  qlite::Status s = t.load(&v);
  EXPECT_TRUE(s.ok()) << t.name << ": " << s.message();
  return v;
}

inline std::string SmolLM2Path() {
  const char* env = std::getenv("QLITE_SMOLLM2");
  if (env && *env) return env;
  const char* cache = std::getenv("QLITE_CACHE");
  if (cache && *cache) return std::string(cache) + "/SmolLM2-135M-Instruct.Q4_1.gguf";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "") + "/.cache/qlite/SmolLM2-135M-Instruct.Q4_1.gguf";
}

}  // namespace qlite_test

// Skips without the SmolLM2 GGUF, fails under CI=true.
#define QLITE_REQUIRE_SMOLLM2(path_var)                                              \
  const std::string path_var = qlite_test::SmolLM2Path();                            \
  if (!qlite_test::FileExists(path_var)) {                                           \
    if (qlite_test::InCI()) FAIL() << "missing SmolLM2 GGUF (CI=true): " << path_var; \
    GTEST_SKIP() << "missing SmolLM2 GGUF: " << path_var;                            \
  }
