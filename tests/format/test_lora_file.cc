// .qla adapter files at the format level (also run under ASan by scripts/test.d/asan.sh):
// round trips (f32, f16) and hostile input: truncations and bit flips must be rejected (or,
// for flips in unchecked metadata fields, read as a valid adapter) without crashing.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "../common/test_data.h"
#include "qlite/format/adapter_file.h"
#include "qlite/format/header.h"
#include "qlite/format/import.h"
#include "qlite/format/lora.h"

namespace {

class LoraFile : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string bin = qlite_test::DataPath("stories260K/stories260K.bin");
    if (!qlite_test::FileExists(bin)) {
      if (qlite_test::InCI()) FAIL() << "missing test data (CI=true): " << bin;
      GTEST_SKIP() << "missing test data: " << bin;
    }
    qlite::ImportOptions io;
    io.tokenizer = qlite_test::DataPath("stories260K/tok512.bin");
    ASSERT_TRUE(qlite::ImportAuto(bin, io, &base_).ok());
    qlite::Status s = qlite::ReadLoraAdapter(qlite_test::DataPath("lora/stories260K-lora-sea"), base_.config, &sea_);
    ASSERT_TRUE(s.ok()) << s.message();
    path_ = std::string("/tmp/qlite_lora_file_") + std::to_string(::getpid()) + ".qla";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::vector<uint8_t> Bytes() {
    std::ifstream in(path_, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }
  qlite::SourceModel base_;
  qlite::LoraAdapter sea_;
  std::string path_;
};

TEST_F(LoraFile, RoundTripsF32ExactlyAndF16Closely) {
  for (bool f16 : {false, true}) {
    ASSERT_TRUE(qlite::WriteAdapterFile(sea_, 0x1234, {f16}, path_).ok());
    qlite::LoraAdapter back;
    qlite::Status s = qlite::ReadLoraAdapter(path_, base_.config, &back);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(back.base_fingerprint, 0x1234u);
    EXPECT_EQ(back.rank, sea_.rank);
    EXPECT_EQ(back.alpha, sea_.alpha);
    ASSERT_EQ(back.tensors.size(), sea_.tensors.size());
    for (size_t i = 0; i < back.tensors.size(); ++i) {
      const auto &a = sea_.tensors[i], &b = back.tensors[i];
      EXPECT_EQ(a.target, b.target);
      EXPECT_EQ(a.factor, b.factor);
      ASSERT_EQ(a.a.size(), b.a.size());
      ASSERT_EQ(a.b.size(), b.b.size());
      for (size_t j = 0; j < a.a.size(); ++j)
        ASSERT_NEAR(a.a[j], b.a[j], f16 ? 1e-3f * std::fabs(a.a[j]) + 1e-7f : 0.0f);
      for (size_t j = 0; j < a.b.size(); ++j)
        ASSERT_NEAR(a.b[j], b.b[j], f16 ? 1e-3f * std::fabs(a.b[j]) + 1e-7f : 0.0f);
    }
  }
}

TEST_F(LoraFile, MalformedFilesAreRejectedWithoutCrashing) {
  ASSERT_TRUE(qlite::WriteAdapterFile(sea_, 0x1234, {}, path_).ok());
  const std::vector<uint8_t> buf = Bytes();
  ASSERT_GT(buf.size(), 4096u);
  qlite::LoraAdapter a;
  ASSERT_TRUE(qlite::ReadAdapterMemory(buf.data(), buf.size(), &a).ok());
  for (size_t n = 0; n < buf.size(); n += 1 + n / 8) {
    std::vector<uint8_t> cut(buf.begin(), buf.begin() + n);
    EXPECT_FALSE(qlite::ReadAdapterMemory(cut.data(), cut.size(), &a).ok()) << n;
  }
  qlite::QlmHeader h;
  ASSERT_TRUE(qlite::DecodeHeader(buf.data(), buf.size(), &h, qlite::kQlaMagic).ok());
  EXPECT_FALSE(qlite::DecodeHeader(buf.data(), buf.size(), &h).ok());  // not a .qlm
  std::mt19937 rng(7);
  size_t accepted = 0;
  for (int i = 0; i < 600; ++i) {
    std::vector<uint8_t> flip = buf;
    // The header, then random bytes, then bytes of A/B (all covered by checksums).
    const size_t at = i < 64 ? size_t(i)
                      : i < 400 ? rng() % flip.size()
                                : h.data_offset + rng() % (flip.size() - h.data_offset);
    flip[at] ^= uint8_t(1u << (rng() % 8));
    const bool ok = qlite::ReadAdapterMemory(flip.data(), flip.size(), &a).ok();
    if (at < 64) { EXPECT_FALSE(ok) << "header byte " << at; }
    if (at >= h.data_offset && ok) {
      // Only alignment padding between regions may change unnoticed.
      bool in_region = false;
      qlite::LoraAdapter clean;
      ASSERT_TRUE(qlite::ReadAdapterMemory(buf.data(), buf.size(), &clean).ok());
      for (size_t t = 0; t < a.tensors.size(); ++t)
        in_region |= a.tensors[t].a != clean.tensors[t].a || a.tensors[t].b != clean.tensors[t].b;
      EXPECT_FALSE(in_region) << "data byte " << at;
    }
    accepted += ok;
  }
  std::printf("[ fuzz     ] %zu of 600 bit flips read as valid adapters (unchecked metadata or padding)\n", accepted);
}

void Copy(const std::string& from, const std::string& to, size_t max_bytes = SIZE_MAX) {
  std::ifstream in(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(to, std::ios::binary).write(bytes.data(), std::min(bytes.size(), max_bytes));
}

// PEFT options that change the scale: use_rslora, alpha_pattern, rank_pattern.
TEST_F(LoraFile, PeftScalingOptions) {
  const std::string src = qlite_test::DataPath("lora/stories260K-lora-sea");
  const std::string dir = path_ + ".peft";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  Copy(src + "/adapter_model.safetensors", dir + "/adapter_model.safetensors");
  auto with_config = [&](const std::string& extra, qlite::LoraAdapter* out) {
    std::ofstream(dir + "/adapter_config.json")
        << "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"]"
        << extra << "}";
    return qlite::ReadLoraAdapter(dir, base_.config, out);
  };
  qlite::LoraAdapter a;
  ASSERT_TRUE(with_config("", &a).ok());
  EXPECT_EQ(a.tensors[0].factor, 2.0f);  // 8 / 4
  ASSERT_TRUE(with_config(", \"use_rslora\": true", &a).ok());
  EXPECT_EQ(a.tensors[0].factor, 4.0f);  // 8 / sqrt(4)
  ASSERT_TRUE(with_config(", \"alpha_pattern\": {\"model.layers.1.self_attn.q_proj\": 2}", &a).ok());
  for (const auto& t : a.tensors) EXPECT_EQ(t.factor, t.target == "blk.1.attn_q" ? 0.5f : 2.0f) << t.target;
  qlite::Status s = with_config(", \"rank_pattern\": {\"v_proj\": 8}", &a);  // the tensors say 4
  EXPECT_EQ(s.code(), qlite::StatusCode::kFormat) << s.message();
  s = with_config(", \"use_dora\": true", &a);
  EXPECT_EQ(s.code(), qlite::StatusCode::kUnsupported) << s.message();
  // Truncated safetensors.
  for (size_t n : {0, 7, 8, 100, 1000, 3000}) {
    Copy(src + "/adapter_model.safetensors", dir + "/adapter_model.safetensors", n);
    EXPECT_FALSE(with_config("", &a).ok()) << n;
  }
  std::remove((dir + "/adapter_model.safetensors").c_str());
  std::remove((dir + "/adapter_config.json").c_str());
  ::rmdir(dir.c_str());
}

TEST_F(LoraFile, TruncatedGgufLoraIsRejected) {
  const std::string src = qlite_test::DataPath("lora/stories260K-lora-sea-f32.gguf");
  const std::string tmp = path_ + ".gguf";
  std::ifstream in(src, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  qlite::LoraAdapter a;
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 4) {
    Copy(src, tmp, n);
    EXPECT_FALSE(qlite::ReadLoraAdapter(tmp, base_.config, &a).ok()) << n;
  }
  Copy(src, tmp);
  EXPECT_TRUE(qlite::ReadLoraAdapter(tmp, base_.config, &a).ok());
  std::remove(tmp.c_str());
}

}  // namespace
