// Model importers on stories260K in all its real forms: the llama2.c checkpoint, the HF
// folder and llama.cpp's GGUF files must give the same config and the same weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "import_test_util.h"
#include "qlite/format/import.h"

namespace {
using qlite::SourceModel;

SourceModel MustImportLlama2c() {
  SourceModel m;
  qlite::Status s = qlite::ImportLlama2c(qlite_test::DataPath("stories260K/stories260K.bin"),
                                         qlite_test::DataPath("stories260K/tok512.bin"), &m);
  EXPECT_TRUE(s.ok()) << s.message();
  return m;
}

SourceModel MustImportGguf(const std::string& path) {
  SourceModel m;
  qlite::Status s = qlite::ImportGguf(path, &m);
  EXPECT_TRUE(s.ok()) << s.message();
  return m;
}

// HF rotate-half order from Meta interleaved (README): W_hf = W_meta.reshape(H, hd/2, 2,
// in).transpose(1, 2).reshape(H*hd, in), i.e. hf row h*hd + t*hd/2 + i = meta row h*hd + 2i + t.
std::vector<float> MetaToHf(const std::vector<float>& w, uint64_t rows, uint64_t cols, uint64_t hd) {
  std::vector<float> out(w.size());
  for (uint64_t h = 0; h < rows / hd; ++h)
    for (uint64_t t = 0; t < 2; ++t)
      for (uint64_t i = 0; i < hd / 2; ++i)
        std::memcpy(&out[(h * hd + t * hd / 2 + i) * cols], &w[(h * hd + 2 * i + t) * cols], cols * sizeof(float));
  return out;
}

void ExpectBitEqual(const std::vector<float>& a, const std::vector<float>& b, const std::string& name) {
  ASSERT_EQ(a.size(), b.size()) << name;
  ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << name << " differs";
}

TEST(ImportModels, Llama2cConfig) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  SourceModel m = MustImportLlama2c();
  const auto& c = m.config;
  EXPECT_EQ(c.dim, 64u);
  EXPECT_EQ(c.ffn_dim, 172u);
  EXPECT_EQ(c.n_layers, 5u);
  EXPECT_EQ(c.n_heads, 8u);
  EXPECT_EQ(c.n_kv_heads, 4u);
  EXPECT_EQ(c.head_dim, 8u);
  EXPECT_EQ(c.vocab_size, 512u);
  EXPECT_EQ(c.context_length, 512u);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope_style, qlite::RopeStyle::Interleaved);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_id, 2);
  EXPECT_EQ(m.tokenizer.pieces.size(), 512u);
  EXPECT_EQ(m.tensors.size(), 2u + 5u * 9u);
  EXPECT_EQ(m.source_format, "llama2c");
}

TEST(ImportModels, GgufF32EqualsLlama2cBitForBit) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  for (const char* rel : {"stories260K-gguf/stories260K-f32.gguf", "stories260K-gguf/stories260K-from-hf-f32.gguf"}) {
    SCOPED_TRACE(rel);
    QLITE_REQUIRE_DATA(gguf, rel);
    SourceModel a = MustImportLlama2c(), b = MustImportGguf(gguf);
    const auto &ca = a.config, &cb = b.config;
    EXPECT_EQ(ca.dim, cb.dim);
    EXPECT_EQ(ca.ffn_dim, cb.ffn_dim);
    EXPECT_EQ(ca.n_layers, cb.n_layers);
    EXPECT_EQ(ca.n_heads, cb.n_heads);
    EXPECT_EQ(ca.n_kv_heads, cb.n_kv_heads);
    EXPECT_EQ(ca.head_dim, cb.head_dim);
    EXPECT_EQ(ca.vocab_size, cb.vocab_size);
    EXPECT_EQ(ca.tied_embeddings, cb.tied_embeddings);
    EXPECT_EQ(ca.rope_style, cb.rope_style);
    EXPECT_EQ(ca.rope_theta, cb.rope_theta);
    EXPECT_EQ(ca.norm_eps, cb.norm_eps);
    EXPECT_EQ(ca.bos_id, cb.bos_id);
    EXPECT_EQ(ca.eos_id, cb.eos_id);
    EXPECT_EQ(a.tokenizer.pieces, b.tokenizer.pieces);
    EXPECT_EQ(b.source_format, "gguf");
    auto ta = qlite_test::ByName(a), tb = qlite_test::ByName(b);
    ASSERT_EQ(ta.size(), tb.size());
    for (const auto& kv : ta) {
      ASSERT_TRUE(tb.count(kv.first)) << kv.first;
      EXPECT_EQ(kv.second->shape, tb[kv.first]->shape) << kv.first;
      ExpectBitEqual(qlite_test::Load(*kv.second), qlite_test::Load(*tb[kv.first]), kv.first);
    }
  }
}

TEST(ImportModels, HfEqualsLlama2cAfterRotateHalfPermutation) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  QLITE_REQUIRE_DATA(hf, "stories260K-hf/config.json");
  SourceModel a = MustImportLlama2c(), b;
  qlite::Status s = qlite::ImportHuggingFace(qlite_test::DataPath("stories260K-hf"), &b);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(b.config.rope_style, qlite::RopeStyle::RotateHalf);
  EXPECT_EQ(b.config.dim, a.config.dim);
  EXPECT_EQ(b.config.ffn_dim, a.config.ffn_dim);
  EXPECT_EQ(b.config.n_layers, a.config.n_layers);
  EXPECT_EQ(b.config.n_heads, a.config.n_heads);
  EXPECT_EQ(b.config.n_kv_heads, a.config.n_kv_heads);
  EXPECT_EQ(b.config.head_dim, a.config.head_dim);
  EXPECT_EQ(b.config.vocab_size, a.config.vocab_size);
  EXPECT_EQ(b.config.context_length, a.config.context_length);
  EXPECT_EQ(b.config.tied_embeddings, a.config.tied_embeddings);
  EXPECT_EQ(b.config.norm_eps, a.config.norm_eps);
  EXPECT_EQ(b.config.rope_theta, a.config.rope_theta);
  EXPECT_EQ(b.config.bos_id, a.config.bos_id);
  EXPECT_EQ(b.config.eos_id, a.config.eos_id);
  EXPECT_EQ(b.tokenizer.pieces, a.tokenizer.pieces);
  auto ta = qlite_test::ByName(a), tb = qlite_test::ByName(b);
  ASSERT_EQ(ta.size(), tb.size());
  int permuted = 0;
  for (const auto& kv : ta) {
    ASSERT_TRUE(tb.count(kv.first)) << kv.first;
    ASSERT_EQ(kv.second->shape, tb[kv.first]->shape) << kv.first;
    std::vector<float> wa = qlite_test::Load(*kv.second);
    const bool qk = kv.first.find("attn_q") != std::string::npos || kv.first.find("attn_k") != std::string::npos;
    if (qk) {
      wa = MetaToHf(wa, kv.second->shape[0], kv.second->shape[1], a.config.head_dim);
      ++permuted;
    }
    ExpectBitEqual(wa, qlite_test::Load(*tb[kv.first]), kv.first);
  }
  EXPECT_EQ(permuted, 10);
}

// llama.cpp's Q8_0 / Q4_0 blocks: d = amax/127 (q rounded) and d = max/-8 (q truncated
// after +8.5, clamped to 15), d stored as f16. Each value is within one quantization
// step of the f32 weight (half a step for Q8_0), plus the f16 rounding of d.
TEST(ImportModels, GgufQuantizedWithinBlockBound) {
  QLITE_REQUIRE_DATA(f32, "stories260K-gguf/stories260K-f32.gguf");
  for (const char* rel : {"stories260K-gguf/stories260K-Q8_0.gguf", "stories260K-gguf/stories260K-Q4_0.gguf"}) {
    SCOPED_TRACE(rel);
    QLITE_REQUIRE_DATA(qpath, rel);
    const bool q8 = std::string(rel).find("Q8_0") != std::string::npos;
    SourceModel ref = MustImportGguf(f32), q = MustImportGguf(qpath);
    auto tr = qlite_test::ByName(ref), tq = qlite_test::ByName(q);
    ASSERT_EQ(tr.size(), tq.size());
    int quantized = 0;
    for (const auto& kv : tq) {
      ASSERT_TRUE(tr.count(kv.first)) << kv.first;
      std::vector<float> wq = qlite_test::Load(*kv.second), wr = qlite_test::Load(*tr[kv.first]);
      ASSERT_EQ(wq.size(), wr.size());
      const std::string& dt = kv.second->source_dtype;
      if (dt == "F32") {
        ExpectBitEqual(wq, wr, kv.first);
        continue;
      }
      if (dt == "F16") {
        for (size_t i = 0; i < wq.size(); ++i) ASSERT_NEAR(wq[i], wr[i], std::fabs(wr[i]) * 1e-3f + 1e-7f) << kv.first;
        continue;
      }
      ASSERT_EQ(dt, q8 ? "Q8_0" : "Q4_0") << kv.first;
      ++quantized;
      double max_err = 0;
      for (size_t b = 0; b < wq.size(); b += 32) {
        float amax = 0;
        for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(wr[i]));
        const float step = q8 ? amax / 127 : amax / 8;
        const float bound = (q8 ? 0.5f : 1.0f) * step * 1.01f + (q8 ? 127 : 8) * step * 1e-3f + 1e-8f;
        for (size_t i = b; i < b + 32; ++i) {
          ASSERT_LE(std::fabs(wq[i] - wr[i]), bound) << kv.first << " element " << i;
          max_err = std::max(max_err, double(std::fabs(wq[i] - wr[i])));
        }
      }
      EXPECT_GT(max_err, 0.0) << kv.first << " should not be lossless";
    }
    EXPECT_GE(quantized, 5 * 6);
  }
}

TEST(ImportModels, SmolLM2Gguf) {
  QLITE_REQUIRE_SMOLLM2(path);
  SourceModel m = MustImportGguf(path);
  const auto& c = m.config;
  EXPECT_EQ(c.n_layers, 30u);
  EXPECT_EQ(c.n_heads, 9u);
  EXPECT_EQ(c.n_kv_heads, 3u);
  EXPECT_EQ(c.dim, 576u);
  EXPECT_EQ(c.head_dim, 64u);
  EXPECT_EQ(c.ffn_dim, 1536u);
  EXPECT_EQ(c.vocab_size, 49152u);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.rope_style, qlite::RopeStyle::Interleaved);
  EXPECT_EQ(m.tokenizer.type, qlite::fb::TokenizerType::ByteLevelBPE);
  EXPECT_EQ(m.tokenizer.pieces.size(), 49152u);
  // Every tensor dequantizes to finite values with a sane spread (one layer, plus embeddings).
  for (const auto& t : m.tensors) {
    if (t.name.rfind("blk.", 0) == 0 && t.name.rfind("blk.7.", 0) != 0) continue;
    std::vector<float> w = qlite_test::Load(t);
    double sum2 = 0;
    for (float v : w) {
      ASSERT_TRUE(std::isfinite(v)) << t.name;
      sum2 += double(v) * v;
    }
    const double rms = std::sqrt(sum2 / double(w.size()));
    EXPECT_GT(rms, 1e-3) << t.name << " (" << t.source_dtype << ")";
    EXPECT_LT(rms, 10.0) << t.name << " (" << t.source_dtype << ")";
  }
}

TEST(ImportModels, AutoPicksImporter) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  SourceModel m;
  qlite::ImportOptions opt;
  ASSERT_TRUE(qlite::ImportAuto(bin, opt, &m).ok());  // finds tok512.bin beside it
  EXPECT_EQ(m.source_format, "llama2c");
  ASSERT_TRUE(qlite::ImportAuto(qlite_test::DataPath("stories260K-hf"), opt, &m).ok());
  EXPECT_EQ(m.source_format, "hf");
  ASSERT_TRUE(qlite::ImportAuto(qlite_test::DataPath("stories260K-gguf/stories260K-Q8_0.gguf"), opt, &m).ok());
  EXPECT_EQ(m.source_format, "gguf");
  opt.tokenizer = qlite_test::DataPath("stories260K/tok512.model");
  ASSERT_TRUE(qlite::ImportAuto(bin, opt, &m).ok());
  EXPECT_EQ(m.tokenizer.pieces.size(), 512u);
}

}  // namespace
