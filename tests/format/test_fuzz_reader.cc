// Fuzz-style robustness: truncated and bit-flipped copies of a valid file must either be
// refused with a Status or load consistently, with every row dequantizable in bounds
// (run under ASan by scripts/test.d/asan.sh to catch any stray read).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>

#include "qlite/format/checksum.h"
#include "qlite/format/convert.h"
#include "qlite/format/header.h"
#include "qlite/format/model_file.h"
#include "synthetic_model.h"

namespace qlite {
namespace {

std::vector<uint8_t> SmallModelBytes(fb::DType weights, fb::DType scale_type) {
  ModelConfig c = qlite_test::TinyConfig();
  c.dim = 32;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.ffn_dim = 40;
  c.vocab_size = 8;
  c.eot_ids.clear();
  ConvertOptions o;
  o.weights.dtype = weights;
  o.weights.scale_type = scale_type;
  o.weights.dq_block = 4;
  o.weights.layout = weights == fb::DType::I4   ? fb::Layout::Interleave4x32
                     : weights == fb::DType::NF4 ? fb::Layout::Interleave16x4
                                                 : fb::Layout::RowMajor;
  o.embeddings.dtype = fb::DType::F16;
  o.segment_alignment = 4096;
  const std::string path = qlite_test::TempPath("fuzz.qlm");
  Status s = ConvertModel(qlite_test::TinyModel(3, c), o, path, nullptr, nullptr);
  EXPECT_TRUE(s.ok()) << s.message();
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
  std::remove(path.c_str());
  return bytes;
}

// Opens an exact-size heap copy (so ASan sees any over-read); on success every tensor
// must lie inside the buffer and dequantize row by row.
void TryOpen(const std::vector<uint8_t>& bytes, size_t len, bool* loaded) {
  std::vector<uint8_t> copy(bytes.begin(), bytes.begin() + static_cast<long>(len));
  ModelFile f;
  *loaded = false;
  if (!f.OpenMemory(copy.data(), copy.size()).ok()) return;
  *loaded = true;
  const uint8_t* end = copy.data() + copy.size();
  for (const TensorRef& t : f.tensors()) {
    ASSERT_GE(t.view.data, copy.data());
    ASSERT_LE(t.view.data + t.view.row_stride * StoredRows(t.view.spec, t.view.rows), end);
    std::vector<float> row(t.view.cols);
    for (uint64_t r = 0; r < t.view.rows; ++r) ASSERT_TRUE(DequantizeRow(t.view, r, row.data()).ok()) << t.name;
  }
  (void)f.VerifyChecksums();  // may fail (data flips); must not crash
}

TEST(FuzzReader, Truncations) {
  const std::vector<uint8_t> bytes = SmallModelBytes(fb::DType::I4, fb::DType::F16);
  ASSERT_GT(bytes.size(), 4096u);
  bool loaded = false;
  TryOpen(bytes, bytes.size(), &loaded);
  ASSERT_TRUE(loaded);
  for (size_t len = 0; len < bytes.size(); len += (len < 600 ? 1 : 61)) {
    TryOpen(bytes, len, &loaded);
    EXPECT_FALSE(loaded) << "truncated to " << len;  // file_size in the header catches it
  }
}

TEST(FuzzReader, BitFlips) {
  int loaded_count = 0, total = 0;
  for (fb::DType st : {fb::DType::F16, fb::DType::U8})
    for (fb::DType w : {fb::DType::I4, fb::DType::U4}) {
      const std::vector<uint8_t> good = SmallModelBytes(w, st);
      QlmHeader h;
      ASSERT_TRUE(DecodeHeader(good.data(), good.size(), &h).ok());
      std::mt19937_64 rng(static_cast<uint64_t>(st) * 31 + static_cast<uint64_t>(w));
      for (int iter = 0; iter < 400; ++iter) {
        std::vector<uint8_t> b = good;
        const int where = iter % 4;  // header (re-sealed), meta, meta (several flips), data
        const int flips = where == 2 ? 4 : 1;
        for (int k = 0; k < flips; ++k) {
          uint64_t pos;
          if (where == 0) pos = rng() % 60;
          else if (where == 3) pos = h.data_offset + rng() % h.data_size;
          else pos = h.meta_offset + rng() % h.meta_size;
          b[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
        }
        if (where == 0) {  // re-seal the header so its field checks themselves run
          const uint32_t c = Fnv1a32(b.data(), 60);
          for (int i = 0; i < 4; ++i) b[60 + i] = static_cast<uint8_t>(c >> (8 * i));
        }
        bool loaded = false;
        TryOpen(b, b.size(), &loaded);
        if (::testing::Test::HasFatalFailure()) return;
        loaded_count += loaded;
        ++total;
      }
    }
  // Data flips never break the structure; most meta flips are refused.
  EXPECT_GT(loaded_count, total / 8);
  EXPECT_LT(loaded_count, total);
}

}  // namespace
}  // namespace qlite
