// Opt-in (QLITE_LARGE_TESTS=1; writes ~9 GiB to TMPDIR): a model whose data segment passes
// 4 GiB, written through the streaming writer and read back with 64-bit offsets.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "qlite/format/model_file.h"
#include "qlite/format/writer.h"
#include "synthetic_model.h"

namespace qlite {
namespace {

TEST(LargeFile, DataSegmentPast4GiB) {
  const char* on = std::getenv("QLITE_LARGE_TESTS");
  if (!on || std::string(on) != "1") GTEST_SKIP() << "set QLITE_LARGE_TESTS=1 to run (writes ~9 GiB)";
  ModelConfig c;
  c.dim = 16384;
  c.n_layers = 1;
  c.n_heads = 128;
  c.n_kv_heads = 8;
  c.head_dim = 128;
  c.ffn_dim = 16384;
  c.vocab_size = 32768;
  c.context_length = 4096;
  TokenizerData tok;
  for (uint32_t i = 0; i < c.vocab_size; ++i) tok.pieces.push_back("t" + std::to_string(i));
  const std::string path = qlite_test::TempPath("large.qlm");
  ModelWriter w;
  ASSERT_TRUE(w.Open(path).ok());
  w.SetConfig(c);
  w.SetTokenizer(tok);
  QuantizedTensor q;  // F16 bytes made directly: value depends on (tensor, row) only
  uint32_t k = 0;
  for (const ExpectedTensor& e : ExpectedTensors(c)) {
    const uint64_t rows = e.shape.size() == 2 ? e.shape[0] : 1, cols = e.shape.back();
    q.spec = QuantSpec();
    q.spec.dtype = e.shape.size() == 2 ? fb::DType::F16 : fb::DType::F32;
    q.rows = rows;
    q.cols = cols;
    q.row_stride = RowStrideBytes(q.spec.dtype, cols);
    q.data.assign(rows * q.row_stride, 0);
    if (q.spec.dtype == fb::DType::F16)
      for (uint64_t r = 0; r < rows; ++r) {
        const uint16_t h = F32ToF16(static_cast<float>((r + k) % 2048));
        for (uint64_t i = 0; i < cols; ++i) std::memcpy(&q.data[(r * cols + i) * 2], &h, 2);
      }
    ASSERT_TRUE(w.AddTensor(e.name, e.shape, q).ok()) << e.name;
    ++k;
  }
  q = QuantizedTensor();
  uint64_t size = 0;
  Status s = w.Finish(&size);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_GT(size, uint64_t{4} << 30);

  ModelFile f;
  OpenOptions o;
  o.verify_checksums = true;
  s = f.Open(path, o);
  ASSERT_TRUE(s.ok()) << s.message();
  k = 0;
  uint64_t max_offset = 0;
  std::vector<float> row;
  for (const ExpectedTensor& e : ExpectedTensors(c)) {
    const TensorRef* t = f.FindTensor(e.name);
    ASSERT_NE(t, nullptr);
    max_offset = std::max<uint64_t>(max_offset, static_cast<uint64_t>(t->view.data - f.data_segment()));
    if (t->dtype == fb::DType::F16) {
      row.resize(t->view.cols);
      const uint64_t r = t->view.rows - 1;
      ASSERT_TRUE(DequantizeRow(t->view, r, row.data()).ok());
      EXPECT_EQ(row.back(), static_cast<float>((r + k) % 2048)) << e.name;
    }
    ++k;
  }
  EXPECT_GT(max_offset, uint64_t{4} << 30);
  f.Close();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace qlite
