// Lossless import of quantized GGUF tensors: every ggml type a qlite scheme holds comes back
// from the .qlm bit for bit; the others (stored as I8) within I8's bound; real llama.cpp files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

#include "../../format/src/gguf.h"  // internal: block layouts and the transcoder, tested directly
#include "import_test_util.h"
#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/format/model_file.h"

namespace {
namespace gguf = qlite::gguf;
using qlite::fb::DType;
using qlite::fb::Layout;

struct TypeCase {
  const char* name;
  uint32_t type;
  bool exact;                     // NearestScheme holds it bit for bit
  std::vector<uint32_t> f16_at;   // byte offsets of the block's f16 scale fields
};

const std::vector<TypeCase>& Types() {
  static const std::vector<TypeCase> types = {
      {"Q4_0", gguf::kQ4_0, true, {0}},       {"Q4_1", gguf::kQ4_1, true, {0, 2}},
      {"Q5_0", gguf::kQ5_0, true, {0}},       {"Q8_0", gguf::kQ8_0, true, {0}},
      {"Q4_K", gguf::kQ4_K, true, {0, 2}},    {"Q5_1", gguf::kQ5_1, false, {0, 2}},
      {"Q2_K", gguf::kQ2_K, false, {80, 82}}, {"Q3_K", gguf::kQ3_K, false, {108}},
      {"Q5_K", gguf::kQ5_K, false, {0, 2}},   {"Q6_K", gguf::kQ6_K, false, {208}}};
  return types;
}

// Random blocks: random quant bytes (every bit pattern is valid) and finite f16 scales in the
// ranges llama.cpp writes (Q4_1's min field is a signed offset).
std::vector<uint8_t> RandomBlocks(const TypeCase& t, uint64_t n_values, uint32_t seed) {
  uint64_t be = 0, bb = 0;
  EXPECT_TRUE(gguf::BlockLayout(t.type, &be, &bb));
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(n_values / be * bb);
  for (uint8_t& b : bytes) b = uint8_t(rng());
  std::uniform_real_distribution<float> scale(1e-4f, 2e-2f), offset(-0.2f, 0.2f);
  for (uint64_t b = 0; b < bytes.size(); b += bb)
    for (size_t k = 0; k < t.f16_at.size(); ++k) {
      const bool legacy_min = k == 1 && (t.type == gguf::kQ4_1 || t.type == gguf::kQ5_1);
      const uint16_t h = qlite::F32ToF16(legacy_min ? offset(rng) : scale(rng));
      std::memcpy(&bytes[b + t.f16_at[k]], &h, 2);
    }
  return bytes;
}

std::vector<float> SourceValues(uint32_t type, const std::vector<uint8_t>& bytes, uint64_t n) {
  std::vector<float> v(n);
  const qlite::Status s = gguf::Dequantize(type, bytes.data(), n, v.data());
  EXPECT_TRUE(s.ok()) << s.message();
  return v;
}

std::vector<float> Stored(const qlite::QuantizedView& view) {
  std::vector<float> v(view.rows * view.cols);
  const qlite::Status s = qlite::Dequantize(view, v.data());
  EXPECT_TRUE(s.ok()) << s.message();
  return v;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// I8's bound against the values it was given: half a step of amax/127 per 32-element group
// (the f16 scale may round up or down by 2^-11 of itself).
void ExpectWithinI8Bound(const std::vector<float>& got, const std::vector<float>& want, uint64_t cols) {
  ASSERT_EQ(got.size(), want.size());
  for (uint64_t g = 0; g < want.size(); g += 32) {
    const uint64_t end = std::min<uint64_t>(want.size(), std::min(g + 32, (g / cols + 1) * cols));
    float amax = 0;
    for (uint64_t i = g; i < end; ++i) amax = std::max(amax, std::fabs(want[i]));
    for (uint64_t i = g; i < end; ++i)
      ASSERT_LE(std::fabs(got[i] - want[i]), amax / 254 * (1 + 1e-3)) << "element " << i;
  }
}

TEST(LosslessImport, TranscodeIsBitExactInEveryLayout) {
  const uint64_t rows = 19, cols = 512;  // 19 rows: a partial group of 4 and of 16
  for (const TypeCase& t : Types()) {
    if (!t.exact) continue;
    SCOPED_TRACE(t.name);
    const std::vector<uint8_t> bytes = RandomBlocks(t, rows * cols, 7);
    const std::vector<float> want = SourceValues(t.type, bytes, rows * cols);
    for (Layout layout : {Layout::RowMajor, Layout::Interleave4x32, Layout::Interleave16x4}) {
      SCOPED_TRACE(qlite::fb::EnumNameLayout(layout));
      qlite::QuantizedTensor q;
      qlite::Status s = gguf::Transcode(t.type, bytes.data(), rows, cols, &q);
      ASSERT_TRUE(s.ok()) << s.message();
      s = qlite::Relayout(layout, &q);
      ASSERT_TRUE(s.ok()) << s.message();
      EXPECT_TRUE(BitEqual(Stored(qlite::ViewOf(q)), want));
    }
  }
}

TEST(LosslessImport, RelayoutRefusesWhatItCannotHold) {
  const std::vector<float> v(64 * 40, 0.5f);
  qlite::QuantSpec spec;
  spec.dtype = DType::U4;
  spec.scale_type = DType::U8;  // second-level blocks run over the stored scale order
  qlite::QuantizedTensor q;
  ASSERT_TRUE(qlite::Quantize(v.data(), 40, 64, spec, &q).ok());
  EXPECT_EQ(qlite::Relayout(Layout::Interleave16x4, &q).code(), qlite::StatusCode::kUnsupported);
  EXPECT_TRUE(qlite::Relayout(Layout::Interleave4x32, &q).ok());
  EXPECT_EQ(qlite::Relayout(Layout::RowMajor, &q).code(), qlite::StatusCode::kUnsupported);  // from RowMajor only
  spec.dtype = DType::F16;
  ASSERT_TRUE(qlite::Quantize(v.data(), 40, 64, spec, &q).ok());
  EXPECT_EQ(qlite::Relayout(Layout::Interleave4x32, &q).code(), qlite::StatusCode::kUnsupported);
}

TEST(LosslessImport, TranscodeRejectsInexactTypesAndRaggedRows) {
  std::vector<uint8_t> raw(210 * 4);
  qlite::QuantizedTensor q;
  EXPECT_EQ(gguf::Transcode(gguf::kQ6_K, raw.data(), 1, 256, &q).code(), qlite::StatusCode::kUnsupported);
  EXPECT_EQ(gguf::Transcode(gguf::kF16, raw.data(), 1, 256, &q).code(), qlite::StatusCode::kUnsupported);
  EXPECT_EQ(gguf::Transcode(gguf::kQ4_0, raw.data(), 2, 48, &q).code(), qlite::StatusCode::kInvalidArgument);
  EXPECT_EQ(gguf::Transcode(gguf::kQ4_K, raw.data(), 1, 128, &q).code(), qlite::StatusCode::kInvalidArgument);
}

// Minimal GGUF writer: metadata, tensor infos, then the tensors' bytes (32-byte aligned).
class GgufWriter {
 public:
  void U32(const std::string& key, uint32_t v) { Key(key, 4), Put(&kv_, v); }
  void Str(const std::string& key, const std::string& v) { Key(key, 8), PutStr(&kv_, v); }
  void Strings(const std::string& key, const std::vector<std::string>& v) {
    Key(key, 9), Put(&kv_, uint32_t(8)), Put(&kv_, uint64_t(v.size()));
    for (const std::string& s : v) PutStr(&kv_, s);
  }
  // shape in qlite order ([rows, cols]); ggml stores it innermost first.
  void Tensor(const std::string& name, const std::vector<uint64_t>& shape, uint32_t type,
              const std::vector<uint8_t>& bytes) {
    PutStr(&infos_, name);
    Put(&infos_, uint32_t(shape.size()));
    for (auto it = shape.rbegin(); it != shape.rend(); ++it) Put(&infos_, *it);
    Put(&infos_, type);
    Put(&infos_, uint64_t(data_.size()));
    data_.append(bytes.begin(), bytes.end());
    data_.resize((data_.size() + 31) / 32 * 32, '\0');
    ++n_tensors_;
  }
  std::string Bytes() const {
    std::string out = "GGUF";
    Put(&out, uint32_t(3)), Put(&out, n_tensors_), Put(&out, n_kv_);
    out += kv_ + infos_;
    out.resize((out.size() + 31) / 32 * 32, '\0');
    return out + data_;
  }

 private:
  template <class T>
  static void Put(std::string* out, T v) { out->append(reinterpret_cast<const char*>(&v), sizeof(v)); }
  static void PutStr(std::string* out, const std::string& s) { Put(out, uint64_t(s.size())), *out += s; }
  void Key(const std::string& key, uint32_t value_type) { PutStr(&kv_, key), Put(&kv_, value_type), ++n_kv_; }
  std::string kv_, infos_, data_;
  uint64_t n_tensors_ = 0, n_kv_ = 0;
};

std::vector<uint8_t> FloatBytes(uint32_t type, const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * (type == gguf::kF32 ? 4 : 2));
  for (size_t i = 0; i < v.size(); ++i) {
    if (type == gguf::kF32) {
      std::memcpy(&out[4 * i], &v[i], 4);
      continue;
    }
    const uint16_t h = type == gguf::kF16 ? qlite::F32ToF16(v[i]) : qlite::F32ToBF16(v[i]);
    std::memcpy(&out[2 * i], &h, 2);
  }
  return out;
}

// dim 256 and ffn 512 so every k-quant row is whole super-blocks; every quantized type on
// some matrix, F16 and BF16 beside them.
std::string MixedGguf() {
  const uint64_t dim = 256, ffn = 512, vocab = 64, q = 256, kv = 128;
  GgufWriter g;
  g.Str("general.architecture", "llama");
  g.U32("llama.embedding_length", dim);
  g.U32("llama.block_count", 2);
  g.U32("llama.feed_forward_length", ffn);
  g.U32("llama.attention.head_count", 2);
  g.U32("llama.attention.head_count_kv", 1);
  g.U32("llama.context_length", 64);
  g.Str("tokenizer.ggml.model", "llama");
  std::vector<std::string> pieces;
  for (uint64_t i = 0; i < vocab; ++i) pieces.push_back("t" + std::to_string(i));
  g.Strings("tokenizer.ggml.tokens", pieces);
  uint32_t seed = 1;
  auto quantized = [&](const std::string& name, std::vector<uint64_t> shape, uint32_t type) {
    const TypeCase* t = nullptr;
    for (const TypeCase& c : Types()) t = c.type == type ? &c : t;
    g.Tensor(name, shape, type, RandomBlocks(*t, shape[0] * shape[1], seed++));
  };
  auto plain = [&](const std::string& name, std::vector<uint64_t> shape, uint32_t type, float mean) {
    std::mt19937 rng(seed++);
    std::normal_distribution<float> d(mean, 0.05f);
    std::vector<float> v(shape.size() == 2 ? shape[0] * shape[1] : shape[0]);
    for (float& x : v) x = d(rng);
    g.Tensor(name, shape, type, FloatBytes(type, v));
  };
  quantized("token_embd.weight", {vocab, dim}, gguf::kQ6_K);
  quantized("output.weight", {vocab, dim}, gguf::kQ4_0);
  plain("output_norm.weight", {dim}, gguf::kF32, 1.0f);
  const uint32_t types[2][7] = {
      {gguf::kQ4_0, gguf::kQ4_1, gguf::kQ8_0, gguf::kQ4_K, gguf::kQ5_K, gguf::kQ6_K, gguf::kQ5_0},
      {gguf::kQ5_1, gguf::kQ2_K, gguf::kQ3_K, gguf::kF16, gguf::kBF16, gguf::kQ4_K, gguf::kQ8_0}};
  for (int l = 0; l < 2; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const std::pair<const char*, std::vector<uint64_t>> mats[7] = {
        {"attn_q", {q, dim}},    {"attn_k", {kv, dim}},  {"attn_v", {kv, dim}},  {"attn_output", {dim, q}},
        {"ffn_gate", {ffn, dim}}, {"ffn_up", {ffn, dim}}, {"ffn_down", {dim, ffn}}};
    for (int m = 0; m < 7; ++m) {
      const std::string name = p + mats[m].first + ".weight";
      if (types[l][m] == gguf::kF16 || types[l][m] == gguf::kBF16) plain(name, mats[m].second, types[l][m], 0.0f);
      else quantized(name, mats[m].second, types[l][m]);
    }
    plain(p + "attn_norm.weight", {dim}, gguf::kF32, 1.0f);
    plain(p + "ffn_norm.weight", {dim}, gguf::kF32, 1.0f);
  }
  return g.Bytes();
}

struct Converted {
  qlite::SourceModel source;
  qlite::ConvertSummary summary;
  qlite::ModelFile file;
};

void ImportAndConvert(const std::string& gguf_path, const qlite::ConvertOptions& options, const std::string& out,
                      Converted* c) {
  qlite::Status s = qlite::ImportGguf(gguf_path, &c->source);
  ASSERT_TRUE(s.ok()) << s.message();
  s = qlite::ConvertModel(c->source, options, out, nullptr, &c->summary);
  ASSERT_TRUE(s.ok()) << s.message();
  qlite::OpenOptions open;
  open.verify_checksums = true;
  s = c->file.Open(out, open);
  ASSERT_TRUE(s.ok()) << s.message();
}

qlite::ConvertOptions KeepOptions(Layout layout = Layout::RowMajor) {  // `qlite convert`'s default
  qlite::ConvertOptions o;
  o.weights.dtype = DType::I4;
  o.embeddings.dtype = DType::I8;
  o.weights.layout = o.embeddings.layout = layout;
  o.keep_source_weights = o.keep_source_embeddings = true;
  return o;
}

TEST(LosslessImport, EveryTypeFromAGgufFileByDefault) {
  qlite_test::TempDir dir;
  const std::string path = dir.Write("mixed.gguf", MixedGguf());
  for (Layout layout : {Layout::RowMajor, Layout::Interleave16x4}) {
    SCOPED_TRACE(qlite::fb::EnumNameLayout(layout));
    Converted c;
    ImportAndConvert(path, KeepOptions(layout), dir.File("mixed.qlm"), &c);
    if (HasFatalFailure()) return;
    for (const qlite::SourceTensor& t : c.source.tensors) {
      SCOPED_TRACE(t.name + " " + t.source_dtype);
      const qlite::TensorRef* ref = c.file.FindTensor(t.name);
      ASSERT_NE(ref, nullptr);
      EXPECT_EQ(ref->dtype, t.stored_scheme.dtype);
      const bool interleaved = layout != Layout::RowMajor && !qlite::IsFloatType(ref->dtype);
      EXPECT_EQ(ref->view.spec.layout, interleaved ? layout : Layout::RowMajor);
      const std::vector<float> want = qlite_test::Load(t), got = Stored(ref->view);
      if (t.stored_exact) EXPECT_TRUE(BitEqual(got, want));
      else ExpectWithinI8Bound(got, want, t.shape.back());
    }
    // The report: exact types with zero error, the rest flagged and their error measured.
    ASSERT_FALSE(c.summary.conversions.empty());
    for (const qlite::ConversionStat& st : c.summary.conversions) {
      SCOPED_TRACE(st.source_dtype);
      const bool weight_type = st.source_dtype != "F32";  // F32 here: the norms, always F32
      EXPECT_EQ(st.kept, weight_type);
      const bool exact = st.source_dtype == "Q4_0" || st.source_dtype == "Q4_1" || st.source_dtype == "Q5_0" ||
                         st.source_dtype == "Q8_0" || st.source_dtype == "Q4_K" || st.source_dtype == "F16" ||
                         st.source_dtype == "BF16";
      EXPECT_EQ(st.exact_scheme, exact);
      if (exact || !weight_type) EXPECT_EQ(st.max_abs_error, 0.0);
      else EXPECT_GT(st.max_abs_error, 0.0);
      EXPECT_LE(st.RmsError(), st.max_abs_error);
    }
  }
}

TEST(LosslessImport, WeightsFlagForcesItsScheme) {
  qlite_test::TempDir dir;
  const std::string path = dir.Write("mixed.gguf", MixedGguf());
  qlite::ConvertOptions o = KeepOptions();
  o.keep_source_weights = false;  // `--weights q4 --embed-weights ...` not given: embeddings kept
  Converted c;
  ImportAndConvert(path, o, dir.File("forced.qlm"), &c);
  if (HasFatalFailure()) return;
  EXPECT_EQ(c.file.FindTensor("blk.0.attn_k")->dtype, DType::I4);  // a Q4_1 source
  EXPECT_EQ(c.file.FindTensor("blk.1.attn_output")->dtype, DType::I4);  // F16
  EXPECT_EQ(c.file.FindTensor("token_embd")->dtype, DType::I8);   // Q6_K, kept
  EXPECT_EQ(c.file.FindTensor("output")->dtype, DType::I4);       // Q4_0, kept
  bool forced_reported = false;
  for (const qlite::ConversionStat& st : c.summary.conversions)
    if (st.source_dtype == "Q4_1") forced_reported = !st.kept && st.max_abs_error > 0;
  EXPECT_TRUE(forced_reported);
}

// A GGUF tensor's row ranges hold what its whole load holds, for every block type; ranges
// past the end are refused.
TEST(LosslessImport, RowRangesMatchTheWholeTensor) {
  qlite_test::TempDir dir;
  qlite::SourceModel m;
  const qlite::Status s = qlite::ImportGguf(dir.Write("mixed.gguf", MixedGguf()), &m);
  ASSERT_TRUE(s.ok()) << s.message();
  for (const qlite::SourceTensor& t : m.tensors) {
    SCOPED_TRACE(t.name + " " + t.source_dtype);
    ASSERT_TRUE(t.load_rows);
    const std::vector<float> all = qlite_test::Load(t);
    const uint64_t cols = t.shape.back(), rows = all.size() / cols;
    for (uint64_t first : {uint64_t{0}, rows / 3, rows - 1})
      for (uint64_t count : {uint64_t{1}, rows - first}) {
        std::vector<float> got(count * cols);
        ASSERT_TRUE(t.load_rows(first, count, got.data()).ok());
        EXPECT_TRUE(BitEqual(got, std::vector<float>(all.begin() + first * cols, all.begin() + (first + count) * cols)))
            << first << " + " << count;
      }
    std::vector<float> sink(2 * cols);
    EXPECT_FALSE(t.load_rows(rows - 1, 2, sink.data()).ok());
    EXPECT_FALSE(t.load_rows(rows + 1, 0, sink.data()).ok());
  }
}

// Requantized GGUF tensors are decoded in row blocks; the file is the one whole tensors give.
TEST(LosslessImport, StreamedConversionMatchesWholeTensors) {
  qlite_test::TempDir dir;
  setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  qlite::ConvertOptions o = KeepOptions();
  o.keep_source_weights = o.keep_source_embeddings = false;
  qlite::SourceModel whole;
  qlite::Status s = qlite::ImportGguf(dir.Write("mixed.gguf", MixedGguf()), &whole);
  ASSERT_TRUE(s.ok()) << s.message();
  for (qlite::SourceTensor& t : whole.tensors) t.load_rows = nullptr;
  s = qlite::ConvertModel(whole, o, dir.File("whole.qlm"), nullptr, nullptr);
  ASSERT_TRUE(s.ok()) << s.message();
  for (uint64_t piece : {uint64_t{700}, uint64_t{1} << 40})
    for (uint64_t block : {uint64_t{1}, uint64_t{1} << 17}) {
      o.piece_values = piece;
      o.block_values = block;
      o.threads = 3;
      Converted streamed;
      ImportAndConvert(dir.File("mixed.gguf"), o, dir.File("streamed.qlm"), &streamed);
      if (HasFatalFailure()) break;
      std::ifstream a(dir.File("whole.qlm"), std::ios::binary), b(dir.File("streamed.qlm"), std::ios::binary);
      const std::string want((std::istreambuf_iterator<char>(a)), {}), got((std::istreambuf_iterator<char>(b)), {});
      EXPECT_FALSE(want.empty());
      EXPECT_TRUE(want == got) << "pieces of " << piece << ", blocks of " << block;
    }
  unsetenv("SOURCE_DATE_EPOCH");
}

TEST(LosslessImport, MergedTensorsAreRequantizedInTheKeptScheme) {
  qlite_test::TempDir dir;
  const std::string path = dir.Write("mixed.gguf", MixedGguf());
  qlite::ConvertOptions o = KeepOptions();
  o.merge = [](const std::string& name, const std::vector<uint64_t>&, std::vector<float>* v) {
    if (name == "blk.0.attn_output")
      for (float& x : *v) x += 0.001f;
    return qlite::Status::Ok();
  };
  Converted c;
  ImportAndConvert(path, o, dir.File("merged.qlm"), &c);
  if (HasFatalFailure()) return;
  const qlite::TensorRef* ref = c.file.FindTensor("blk.0.attn_output");  // Q4_K
  EXPECT_EQ(ref->dtype, DType::U4);
  std::vector<float> merged = qlite_test::Load(*qlite_test::ByName(c.source).at("blk.0.attn_output"));
  for (float& x : merged) x += 0.001f;
  qlite::QuantizedTensor want;
  qlite::Status s = qlite::Quantize(merged.data(), ref->view.rows, ref->view.cols, ref->view.spec, &want);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(ref->view.spec.scale_type, DType::F32);
  EXPECT_TRUE(BitEqual(Stored(ref->view), Stored(qlite::ViewOf(want))));
  int merged_stats = 0;
  for (const qlite::ConversionStat& st : c.summary.conversions)
    merged_stats += st.source_dtype == "Q4_K" && st.kept && !st.exact_scheme;
  EXPECT_EQ(merged_stats, 1);
}

// llama.cpp's own Q4_0 / Q8_0 files (ffn_down F16): every tensor bit for bit; the f32 GGUF
// (a full-precision source) still gets the requested 4-bit scheme.
TEST(LosslessImport, RealLlamaCppFiles) {
  QLITE_REQUIRE_DATA(q4_path, "stories260K-gguf/stories260K-Q4_0.gguf");
  QLITE_REQUIRE_DATA(q8_path, "stories260K-gguf/stories260K-Q8_0.gguf");
  QLITE_REQUIRE_DATA(f32_path, "stories260K-gguf/stories260K-f32.gguf");
  qlite_test::TempDir dir;
  for (const auto& [path, dtype] : {std::pair{q4_path, DType::I4}, std::pair{q8_path, DType::I8}}) {
    SCOPED_TRACE(path);
    Converted c;
    ImportAndConvert(path, KeepOptions(), dir.File("real.qlm"), &c);
    if (HasFatalFailure()) return;
    int quantized = 0;
    for (const qlite::SourceTensor& t : c.source.tensors) {
      SCOPED_TRACE(t.name);
      const qlite::TensorRef* ref = c.file.FindTensor(t.name);
      ASSERT_NE(ref, nullptr);
      EXPECT_TRUE(BitEqual(Stored(ref->view), qlite_test::Load(t)));
      quantized += ref->dtype == dtype;
      if (t.source_dtype == "F16") { EXPECT_EQ(ref->dtype, DType::F16); }
    }
    EXPECT_EQ(quantized, 31);  // token_embd and 5 x (q, k, v, output, gate, up)
  }
  Converted c;
  ImportAndConvert(f32_path, KeepOptions(), dir.File("f32.qlm"), &c);
  if (HasFatalFailure()) return;
  EXPECT_EQ(c.file.FindTensor("blk.0.ffn_down")->dtype, DType::I4);
  EXPECT_EQ(c.file.FindTensor("token_embd")->dtype, DType::I8);
}

}  // namespace
