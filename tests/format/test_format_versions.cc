// .qlm versions: a version-1 file (FNV-1a 64 checksums and fingerprint; written by qlite
// before format 2, tests/data/format_v1) still opens and verifies; the same conversion today
// stores the same tensor bytes under version 2 with XXH64 checksums and the fingerprint of
// FORMAT.md's definition; versions outside 1..2 are refused.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include "qlite/format/checksum.h"
#include "qlite/format/convert.h"
#include "qlite/format/header.h"
#include "qlite/format/import.h"
#include "qlite/format/model_file.h"
#include "synthetic_model.h"
#include "test_data.h"

namespace qlite {
namespace {

std::string V1Path() {
  const std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/')) + "/../data/format_v1/stories260K-q4.qlm";
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void WriteAll(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

OpenOptions Verified() {
  OpenOptions o;
  o.verify_checksums = true;
  return o;
}

TEST(FormatVersions, Version1StillOpensAndVerifies) {
  ModelFile f;
  Status s = f.Open(V1Path(), Verified());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(f.header().version, 1u);
  EXPECT_EQ(f.fingerprint(), 0xffae2265fc4b28f0ull);  // FNV-1a 64, as qlite inspect printed it then
  // A flipped data byte fails the version-1 (FNV) checksum.
  std::vector<uint8_t> bytes = ReadAll(V1Path());
  bytes[f.header().data_offset + 100] ^= 1;
  const std::string bad = qlite_test::TempPath("v1_bad.qlm");
  WriteAll(bad, bytes);
  ModelFile g;
  s = g.Open(bad, Verified());
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  EXPECT_NE(s.message().find("checksum mismatch"), std::string::npos) << s.message();
  std::remove(bad.c_str());
}

TEST(FormatVersions, Version2KeepsTheBytesAndChangesTheHashes) {
  QLITE_REQUIRE_DATA(gguf, "stories260K-gguf/stories260K-f32.gguf");
  SourceModel src;
  ASSERT_TRUE(ImportGguf(gguf, &src).ok());
  ConvertOptions o;  // what the fixture was made with: qlite convert --weights q4
  o.weights.dtype = fb::DType::I4;
  o.embeddings.dtype = fb::DType::I8;
  o.threads = 2;
  const std::string out = qlite_test::TempPath("v2.qlm");
  ConvertSummary sum;
  ASSERT_TRUE(ConvertModel(src, o, out, nullptr, &sum).ok());
  ModelFile v1, v2;
  ASSERT_TRUE(v1.Open(V1Path(), Verified()).ok());
  Status s = v2.Open(out, Verified());
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(v2.header().version, kQlmVersion);
  EXPECT_EQ(v2.meta()->format_version(), 2u);
  ASSERT_EQ(v1.tensors().size(), v2.tensors().size());
  for (const TensorRef& a : v1.tensors()) {
    const TensorRef* b = v2.FindTensor(a.name);
    ASSERT_NE(b, nullptr) << a.name;
    ASSERT_EQ(a.dtype, b->dtype) << a.name;
    const uint64_t bytes = a.view.rows * a.view.row_stride;
    EXPECT_EQ(0, std::memcmp(a.view.data, b->view.data, bytes)) << a.name << ": quantization changed";
    if (a.view.scales) {
      const uint64_t sb = NumScales(a.view.spec, a.view.rows, a.view.cols) * ScaleTypeBytes(a.view.spec.scale_type);
      EXPECT_EQ(0, std::memcmp(a.view.scales, b->view.scales, sb)) << a.name << ": scales changed";
    }
    EXPECT_NE(a.checksum, b->checksum) << a.name;
  }
  // FORMAT.md's fingerprint: XXH64 over, per tensor in name order, u64 name length, name,
  // u64 rank, u64 dims, u64 XXH64 of its rows' u64 XXH64s of their f32 source values.
  std::map<std::string, const SourceTensor*> by_name;
  for (const SourceTensor& t : src.tensors) by_name[t.name] = &t;
  Xxh64Stream fp;
  auto u64 = [&](uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    fp.Update(b, 8);
  };
  for (const auto& [name, t] : by_name) {
    std::vector<float> values;
    ASSERT_TRUE(t->load(&values).ok());
    u64(name.size());
    fp.Update(name.data(), name.size());
    u64(t->shape.size());
    for (uint64_t d : t->shape) u64(d);
    const uint64_t cols = t->shape.back(), rows = values.size() / cols;
    Xxh64Stream row_hashes;
    for (uint64_t r = 0; r < rows; ++r) {
      const uint64_t h = Xxh64(values.data() + r * cols, cols * sizeof(float));
      uint8_t b[8];
      for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(h >> (8 * i));
      row_hashes.Update(b, 8);
    }
    u64(row_hashes.Digest());
  }
  EXPECT_EQ(v2.fingerprint(), fp.Digest());
  EXPECT_EQ(sum.fingerprint, fp.Digest());
  EXPECT_NE(v2.fingerprint(), v1.fingerprint());
  std::remove(out.c_str());
}

TEST(FormatVersions, OtherVersionsAreRefused) {
  const std::vector<uint8_t> file = ReadAll(V1Path());
  QlmHeader h;
  ASSERT_TRUE(DecodeHeader(file.data(), file.size(), &h).ok());
  for (uint32_t version : {0u, 3u}) {
    h.version = version;
    uint8_t b[kQlmHeaderSize];
    EncodeHeader(h, b);
    QlmHeader d;
    Status s = DecodeHeader(b, file.size(), &d);
    EXPECT_EQ(s.code(), StatusCode::kUnsupported) << version;
    EXPECT_NE(s.message().find("reads 1 to 2"), std::string::npos) << s.message();
  }
  // The header's version and the meta's format_version must agree.
  std::vector<uint8_t> relabeled = file;
  h.version = 2;
  EncodeHeader(h, relabeled.data());
  const std::string path = qlite_test::TempPath("relabeled.qlm");
  WriteAll(path, relabeled);
  ModelFile f;
  Status s = f.Open(path, {});
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  EXPECT_NE(s.message().find("format_version 1"), std::string::npos) << s.message();
  std::remove(path.c_str());
  // .qla files have their own version (1).
  h.version = 2;
  uint8_t b[kQlmHeaderSize];
  EncodeHeader(h, b, kQlaMagic);
  QlmHeader d;
  EXPECT_EQ(DecodeHeader(b, file.size(), &d, kQlaMagic).code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace qlite
