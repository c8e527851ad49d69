#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "qlite/format/convert.h"
#include "qlite/format/inspect.h"
#include "synthetic_model.h"

namespace qlite {
namespace {

std::string Capture(const std::string& path, const InspectOptions& o, Status* s) {
  std::FILE* f = std::tmpfile();
  *s = InspectFile(path, o, f);
  std::rewind(f);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return text;
}

TEST(Inspect, ReportsConfigTensorsAndTotals) {
  const std::string path = qlite_test::TempPath("inspect.qlm");
  ConvertOptions o;
  o.weights.dtype = fb::DType::I4;
  o.embeddings.dtype = fb::DType::F16;
  o.quantization_text = "--weights q4 --group-size 32";
  ASSERT_TRUE(ConvertModel(qlite_test::TinyModel(), o, path, nullptr, nullptr).ok());
  InspectOptions io;
  io.tensors = true;
  io.verify = true;
  Status s;
  const std::string text = Capture(path, io, &s);
  ASSERT_TRUE(s.ok()) << s.message();
  for (const char* want : {"dim 64", "ffn 172", "vocab 40", "40 pieces", "tiny.bin", "--weights q4 --group-size 32",
                           "blk.1.ffn_down", "[64, 172]", "group 32 F16", "I4", "bytes/param", "checksums OK"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  std::remove(path.c_str());
  Capture(path, io, &s);
  EXPECT_EQ(s.code(), StatusCode::kIo);
}

}  // namespace
}  // namespace qlite
