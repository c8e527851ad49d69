// GGUF block dequantizers against llama.cpp's own Python implementation (gguf package):
// random blocks and their reference values in tests/data/gguf_dequant_refs.json, written
// by scripts/refs/make_gguf_dequant_refs.py.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "../../format/src/gguf.h"  // internal reader, tested directly
#include "qlite/format/json.h"

namespace {
namespace gguf = qlite::gguf;

std::string RefsPath() {
  const std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/')) + "/../data/gguf_dequant_refs.json";
}

std::vector<uint8_t> FromHex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(uint8_t(std::stoul(hex.substr(i, 2), nullptr, 16)));
  return out;
}

TEST(GgufDequant, MatchesLlamaCppReference) {
  std::ifstream in(RefsPath());
  ASSERT_TRUE(in.good()) << RefsPath();
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  qlite::json::Value root;
  qlite::Status s = qlite::json::Parse(text, &root);
  ASSERT_TRUE(s.ok()) << s.message();
  const std::pair<const char*, uint32_t> types[] = {
      {"Q4_0", gguf::kQ4_0}, {"Q4_1", gguf::kQ4_1}, {"Q5_0", gguf::kQ5_0}, {"Q5_1", gguf::kQ5_1},
      {"Q8_0", gguf::kQ8_0}, {"Q4_K", gguf::kQ4_K}, {"Q5_K", gguf::kQ5_K}, {"Q6_K", gguf::kQ6_K},
      {"Q2_K", gguf::kQ2_K}, {"Q3_K", gguf::kQ3_K}};
  for (const auto& [name, type] : types) {
    SCOPED_TRACE(name);
    const qlite::json::Value* ref = root.Find(name);
    ASSERT_NE(ref, nullptr);
    const std::vector<uint8_t> bytes = FromHex(ref->Find("bytes")->string);
    const auto& values = ref->Find("values")->array;
    uint64_t be = 0, bb = 0;
    ASSERT_TRUE(gguf::BlockLayout(type, &be, &bb));
    ASSERT_EQ(bytes.size() / bb * be, values.size());
    std::vector<float> out(values.size());
    s = gguf::Dequantize(type, bytes.data(), out.size(), out.data());
    ASSERT_TRUE(s.ok()) << s.message();
    for (size_t i = 0; i < out.size(); ++i) {
      const double want = values[i].number;
      ASSERT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-9) << "element " << i;
    }
  }
}

TEST(GgufDequant, RejectsPartialBlocksAndUnknownTypes) {
  std::vector<uint8_t> raw(64);
  std::vector<float> out(64);
  EXPECT_FALSE(gguf::Dequantize(gguf::kQ4_0, raw.data(), 33, out.data()).ok());
  std::vector<float> big(256);
  qlite::Status s = gguf::Dequantize(gguf::kQ8_1, raw.data(), 32, big.data());
  EXPECT_NE(s.message().find("unsupported dtype Q8_1"), std::string::npos) << s.message();
  EXPECT_FALSE(gguf::Dequantize(77, raw.data(), 32, out.data()).ok());
}

}  // namespace
