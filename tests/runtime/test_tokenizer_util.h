// Helpers for the tokenizer tests: reference JSON files (read with the format library's
// parser) and tokenizers built through the real importers.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "qlite/format/json.h"
#include "../../runtime/src/tokenizer.h"
#include "qlite/format/import.h"

namespace qlite_test {

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline qlite::json::Value ReadJson(const std::string& path) {
  qlite::json::Value v;
  const qlite::Status s = qlite::json::Parse(ReadFile(path), &v);
  EXPECT_TRUE(s.ok()) << path << ": " << s.message();
  return v;
}

// Member `key` of an object (a null value when absent), element i of an array.
inline const qlite::json::Value& At(const qlite::json::Value& v, const std::string& key) {
  static const qlite::json::Value null;
  const qlite::json::Value* m = v.Find(key);
  return m ? *m : null;
}

inline std::vector<int32_t> Ints(const qlite::json::Value& v) {
  std::vector<int32_t> out;
  for (const auto& e : v.array) out.push_back(static_cast<int32_t>(e.number));
  return out;
}

// Imports with `import` (ImportLlama2cTokenizer, ImportGgufTokenizer, ...) and builds the
// runtime tokenizer with the source's own BOS/EOS ids.
template <typename Importer>
std::unique_ptr<qlite::Tokenizer> LoadTokenizer(Importer import, const std::string& path) {
  qlite::TokenizerData d;
  qlite::Status s = import(path, &d);
  EXPECT_TRUE(s.ok()) << path << ": " << s.message();
  if (!s.ok()) return nullptr;
  std::unique_ptr<qlite::Tokenizer> t;
  s = qlite::Tokenizer::Create(d, qlite::TokenizerSpecialIds{}, &t);
  EXPECT_TRUE(s.ok()) << path << ": " << s.message();
  return t;
}

}  // namespace qlite_test
