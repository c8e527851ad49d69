// Writer + reader round trip, header/checksum behaviour and the reader's refusals.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include "qlite/format/checksum.h"
#include "qlite/format/convert.h"
#include "qlite/format/header.h"
#include "qlite/format/model_file.h"
#include "qlite/format/writer.h"
#include "synthetic_model.h"

namespace qlite {
namespace {

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

TEST(Checksum, KnownVectors) {
  EXPECT_EQ(Fnv1a32("", 0), 0x811c9dc5u);
  EXPECT_EQ(Fnv1a32("a", 1), 0xe40c292cu);
  EXPECT_EQ(Fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv1a64("foobar", 6), 0x85944171f73967e8ull);
  EXPECT_EQ(Fnv1a64("bar", 3, Fnv1a64("foo", 3)), Fnv1a64("foobar", 6));
  // XXH64 references from libxxhash 0.8.
  EXPECT_EQ(Xxh64("", 0), 0xef46db3751d8e999ull);
  EXPECT_EQ(Xxh64("a", 1), 0xd24ec4f1a98c6e5bull);
  EXPECT_EQ(Xxh64("abc", 3), 0x44bc2cf5ad770999ull);
  uint8_t bytes[101];
  for (int i = 0; i < 101; ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 3);
  uint8_t counting[37];
  for (int i = 0; i < 37; ++i) counting[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Xxh64(counting, 37), 0xd93fa2dfee5c24c9ull);
  EXPECT_EQ(Xxh64(bytes, 101), 0xbad4d3bf033bda4cull);
  EXPECT_EQ(Xxh64(bytes, 101, 12345), 0x046dcca647ff92a6ull);
  // The stream equals one call, however the bytes are split.
  for (size_t split : {0, 1, 31, 32, 33, 64, 100}) {
    Xxh64Stream h;
    h.Update(bytes, split);
    h.Update(bytes + split, 101 - split);
    EXPECT_EQ(h.Digest(), Xxh64(bytes, 101)) << split;
  }
  Xxh64Stream h;
  for (int i = 0; i < 101; ++i) h.Update(bytes + i, 1);
  EXPECT_EQ(h.Digest(), Xxh64(bytes, 101));
}

TEST(Header, EncodeDecode) {
  QlmHeader h;
  h.meta_size = 100;
  h.data_offset = 16384;
  h.data_size = 1000;
  h.file_size = 17384;
  uint8_t b[64];
  EncodeHeader(h, b);
  EXPECT_EQ(0, std::memcmp(b, "QLM1", 4));
  EXPECT_EQ(b[24], 100);  // meta_size, little-endian
  QlmHeader d;
  ASSERT_TRUE(DecodeHeader(b, 17384, &d).ok());
  EXPECT_EQ(d.data_offset, 16384u);
  EXPECT_EQ(DecodeHeader(b, 17383, &d).code(), StatusCode::kFormat);  // truncated
  b[30] ^= 1;
  EXPECT_FALSE(DecodeHeader(b, 17384, &d).ok());  // checksum
  h.data_offset = 100;  // overlaps meta, not aligned
  EncodeHeader(h, b);
  EXPECT_FALSE(DecodeHeader(b, 17384, &d).ok());
}

class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = qlite_test::TempPath("model.qlm");
    opts_.weights.dtype = fb::DType::I4;
    opts_.embeddings.dtype = fb::DType::I8;
    opts_.embeddings.granularity = fb::Granularity::PerRow;
    opts_.quantization_text = "--weights q4";
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
  ConvertOptions opts_;
};

TEST_F(ModelFileTest, RoundTrip) {
  const SourceModel src = qlite_test::TinyModel();
  ConvertSummary sum;
  size_t calls = 0;
  ASSERT_TRUE(ConvertModel(src, opts_, path_, [&](size_t, size_t, const std::string&) { ++calls; }, &sum).ok());
  EXPECT_EQ(calls, src.tensors.size());
  for (bool mmap : {true, false}) {
    ModelFile f;
    OpenOptions o;
    o.use_mmap = mmap;
    o.verify_checksums = true;
    Status s = f.Open(path_, o);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(f.file_size(), sum.file_size);
    EXPECT_EQ(f.header().data_offset % 16384, 0u);
    EXPECT_EQ(f.fingerprint(), sum.fingerprint);
    EXPECT_EQ(f.config().ffn_dim, 172u);
    EXPECT_EQ(f.config().eot_ids, std::pmr::vector<int32_t>{3});
    EXPECT_EQ(f.tokenizer().pieces, src.tokenizer.pieces);
    EXPECT_EQ(f.tokenizer().chat_template, "{{ messages }}");
    EXPECT_EQ(f.meta()->provenance()->source()->str(), "tiny.bin");
    EXPECT_EQ(f.tensors().size(), src.tensors.size());
    uint64_t params = 0;
    for (const SourceTensor& t : src.tensors) {
      const TensorRef* r = f.FindTensor(t.name);
      ASSERT_NE(r, nullptr) << t.name;
      EXPECT_EQ(r->shape, t.shape);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(r->view.data) % 64, 0u);
      std::vector<float> want, got(r->elements());
      ASSERT_TRUE(t.load(&want).ok());
      ASSERT_TRUE(Dequantize(r->view, got.data()).ok());
      const float tol = r->dtype == fb::DType::F32 ? 0.0f : r->dtype == fb::DType::I8 ? 0.004f : 0.06f;
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << t.name << " " << i;
      params += r->elements();
    }
    EXPECT_EQ(params, sum.n_params);
    EXPECT_EQ(f.FindTensor("blk.0.attn_norm")->dtype, fb::DType::F32);
    EXPECT_EQ(f.FindTensor("blk.1.ffn_down")->dtype, fb::DType::I4);
    EXPECT_EQ(f.FindTensor("token_embd")->dtype, fb::DType::I8);
    EXPECT_EQ(f.FindTensor("nope"), nullptr);
  }
  // Reproducible output; large tensor alignment honoured.
  setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  const std::string pa = qlite_test::TempPath("a.qlm"), pb = qlite_test::TempPath("b.qlm");
  ASSERT_TRUE(ConvertModel(src, opts_, pa, nullptr, nullptr).ok());
  ASSERT_TRUE(ConvertModel(src, opts_, pb, nullptr, nullptr).ok());
  EXPECT_EQ(ReadAll(pa), ReadAll(pb));
  ConvertOptions big_align = opts_;
  big_align.tensor_alignment = 8192;
  ASSERT_TRUE(ConvertModel(src, big_align, pb, nullptr, nullptr).ok());
  {
    ModelFile g;
    ASSERT_TRUE(g.Open(pb, {true, true}).ok());
    for (const TensorRef& t : g.tensors()) EXPECT_EQ((t.view.data - g.data_segment()) % 8192, 0) << t.name;
  }
  unsetenv("SOURCE_DATE_EPOCH");
  std::remove(pa.c_str());
  std::remove(pb.c_str());
  // Same weights, other quantization: same fingerprint.
  ConvertOptions other;
  other.weights.dtype = fb::DType::NF4;
  ConvertSummary sum2;
  const std::string p2 = qlite_test::TempPath("model2.qlm");
  ASSERT_TRUE(ConvertModel(src, other, p2, nullptr, &sum2).ok());
  EXPECT_EQ(sum2.fingerprint, sum.fingerprint);
  std::remove(p2.c_str());
  ConvertSummary sum3;
  ASSERT_TRUE(ConvertModel(qlite_test::TinyModel(2), other, p2, nullptr, &sum3).ok());
  EXPECT_NE(sum3.fingerprint, sum.fingerprint);
  std::remove(p2.c_str());
}

// The same values read in row ranges as well: the converter streams them in row blocks.
SourceModel WithRowRanges(SourceModel m) {
  for (SourceTensor& t : m.tensors) {
    const uint64_t cols = t.shape.back();
    t.load_rows = [load = t.load, cols](uint64_t first, uint64_t count, float* out) {
      std::vector<float> all;
      QLITE_RETURN_IF_ERROR(load(&all));
      std::copy(all.begin() + first * cols, all.begin() + (first + count) * cols, out);
      return Status::Ok();
    };
  }
  return m;
}

// The fingerprint changes when any one value of any tensor changes by one bit (too little
// to change what 4 bits store), whether the tensor is loaded whole or streamed in row blocks.
TEST_F(ModelFileTest, FingerprintChangesWithAnyTensorValue) {
  const SourceModel base = qlite_test::TinyModel();
  ConvertSummary ref;
  ASSERT_TRUE(ConvertModel(base, opts_, path_, nullptr, &ref).ok());
  ConvertSummary again;
  ASSERT_TRUE(ConvertModel(WithRowRanges(base), opts_, path_, nullptr, &again).ok());
  EXPECT_EQ(again.fingerprint, ref.fingerprint);
  std::set<uint64_t> seen = {ref.fingerprint};
  for (size_t i = 0; i < base.tensors.size(); ++i) {
    SourceModel m = base;
    m.tensors[i].load = [load = base.tensors[i].load](std::vector<float>* v) {
      QLITE_RETURN_IF_ERROR(load(v));
      uint32_t bits;
      std::memcpy(&bits, &(*v)[v->size() / 2], 4);
      bits ^= 1;  // the lowest mantissa bit of a middle value
      std::memcpy(&(*v)[v->size() / 2], &bits, 4);
      return Status::Ok();
    };
    ConvertSummary whole, streamed;
    ASSERT_TRUE(ConvertModel(m, opts_, path_, nullptr, &whole).ok());
    ASSERT_TRUE(ConvertModel(WithRowRanges(m), opts_, path_, nullptr, &streamed).ok());
    EXPECT_TRUE(seen.insert(whole.fingerprint).second) << m.tensors[i].name;
    EXPECT_EQ(streamed.fingerprint, whole.fingerprint) << m.tensors[i].name;
  }
}

// The file must not depend on how many workers converted it, nor on how large tensors were
// cut into row pieces, nor on a source's rows being decoded in blocks: one worker converting
// whole tensors is the reference.
TEST_F(ModelFileTest, SameBytesForAnyThreadCountAndPieceSize) {
  setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  const SourceModel src = qlite_test::TinyModel(3);
  const std::string ref_path = qlite_test::TempPath("ref.qlm");
  QuantSpec group_f16;  // q4, 32-value groups with f16 scales, 16-row interleave
  group_f16.dtype = fb::DType::I4;
  group_f16.scale_type = fb::DType::F16;
  group_f16.layout = fb::Layout::Interleave16x4;
  QuantSpec u4 = group_f16;
  u4.dtype = fb::DType::U4;
  u4.scale_type = fb::DType::F32;
  u4.layout = fb::Layout::Interleave4x32;
  QuantSpec dq = group_f16;  // U8 scales: not split
  dq.dtype = fb::DType::NF4;
  dq.scale_type = fb::DType::U8;
  dq.layout = fb::Layout::RowMajor;
  QuantSpec f16;
  f16.dtype = fb::DType::F16;
  const SourceModel streamed = WithRowRanges(src);
  for (const QuantSpec& spec : {group_f16, u4, dq, f16, opts_.embeddings}) {
    ConvertOptions o = opts_;
    o.weights = spec;
    o.threads = 1;
    o.piece_values = uint64_t{1} << 40;
    ConvertSummary ref_sum;
    ASSERT_TRUE(ConvertModel(src, o, ref_path, nullptr, &ref_sum).ok());
    const std::vector<uint8_t> ref = ReadAll(ref_path);
    ASSERT_FALSE(ref.empty());
    for (uint32_t threads : {1u, 2u, 3u, 8u})
      for (uint64_t piece : {uint64_t{1} << 40, uint64_t{700}, uint64_t{1}})
        for (uint64_t block : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 17}) {  // 0: whole tensors
          o.threads = threads;
          o.piece_values = piece;
          o.block_values = block;
          size_t calls = 0;
          ConvertSummary sum;
          ASSERT_TRUE(ConvertModel(block ? streamed : src, o, path_,
                                   [&](size_t done, size_t, const std::string&) { calls = done; }, &sum)
                          .ok());
          EXPECT_EQ(ReadAll(path_), ref) << QuantText(spec) << ", " << threads << " threads, pieces of " << piece
                                         << ", blocks of " << block;
          EXPECT_EQ(calls, src.tensors.size());
          EXPECT_EQ(sum.fingerprint, ref_sum.fingerprint);
          ASSERT_EQ(sum.conversions.size(), ref_sum.conversions.size());
          for (size_t i = 0; i < sum.conversions.size(); ++i) {
            EXPECT_EQ(sum.conversions[i].values, ref_sum.conversions[i].values);
            EXPECT_EQ(sum.conversions[i].max_abs_error, ref_sum.conversions[i].max_abs_error);
          }
        }
  }
  unsetenv("SOURCE_DATE_EPOCH");
  std::remove(ref_path.c_str());
}

// A failing tensor in the middle of a many-worker run: the error comes back, nothing is left.
TEST_F(ModelFileTest, WorkerErrorLeavesNoFile) {
  for (uint32_t threads : {1u, 4u}) {
    SourceModel src = qlite_test::TinyModel();
    src.tensors[7].load = [](std::vector<float>*) { return Status(StatusCode::kIo, "disk on fire"); };
    ConvertOptions o = opts_;
    o.threads = threads;
    o.piece_values = 700;
    const Status s = ConvertModel(src, o, path_, nullptr, nullptr);
    EXPECT_EQ(s.code(), StatusCode::kIo) << s.message();
    EXPECT_NE(s.message().find("disk on fire"), std::string::npos) << s.message();
    EXPECT_FALSE(std::ifstream(path_).good());
    EXPECT_FALSE(std::ifstream(path_ + ".tmp" + std::to_string(getpid())).good());
  }
}

TEST_F(ModelFileTest, ChecksumCatchesDataCorruption) {
  ASSERT_TRUE(ConvertModel(qlite_test::TinyModel(), opts_, path_, nullptr, nullptr).ok());
  std::vector<uint8_t> bytes = ReadAll(path_);
  ModelFile f;
  ASSERT_TRUE(f.OpenMemory(bytes.data(), bytes.size()).ok());
  const uint64_t off = f.header().data_offset + f.tensors()[0].view.data - f.data_segment();
  f.Close();
  bytes[off + 3] ^= 0x10;
  ASSERT_TRUE(f.OpenMemory(bytes.data(), bytes.size()).ok());  // structure is still valid
  EXPECT_FALSE(f.VerifyChecksums().ok());
  OpenOptions full;
  full.verify_checksums = true;
  EXPECT_EQ(f.OpenMemory(bytes.data(), bytes.size(), full).code(), StatusCode::kFormat);
}

TEST_F(ModelFileTest, AllSchemesThroughTheFile) {
  for (fb::DType t : {fb::DType::F16, fb::DType::BF16, fb::DType::U4, fb::DType::NF4, fb::DType::I8})
    for (fb::DType st : {fb::DType::F32, fb::DType::U8}) {
      opts_.weights.dtype = t;
      opts_.weights.scale_type = st;
      opts_.weights.layout = t == fb::DType::U4   ? fb::Layout::Interleave4x32
                             : t == fb::DType::NF4 || t == fb::DType::I8 ? fb::Layout::Interleave16x4
                                                   : fb::Layout::RowMajor;
      opts_.weights.granularity = fb::Granularity::Group;
      opts_.weights.group_size = 64;
      Status s = ConvertModel(qlite_test::TinyModel(), opts_, path_, nullptr, nullptr);
      ASSERT_TRUE(s.ok()) << s.message();
      ModelFile f;
      OpenOptions o;
      o.verify_checksums = true;
      s = f.Open(path_, o);
      ASSERT_TRUE(s.ok()) << s.message();
      EXPECT_EQ(f.FindTensor("blk.0.ffn_up")->dtype, t);
    }
}

TEST_F(ModelFileTest, ConverterRefusesInconsistentInput) {
  SourceModel src = qlite_test::TinyModel();
  src.tensors.pop_back();  // a required tensor is missing
  Status s = ConvertModel(src, opts_, path_, nullptr, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kMismatch);
  EXPECT_NE(s.message().find("lacks"), std::string::npos) << s.message();
  src = qlite_test::TinyModel();
  src.tensors[3].shape[0] += 1;
  s = ConvertModel(src, opts_, path_, nullptr, nullptr);
  EXPECT_NE(s.message().find("shape"), std::string::npos) << s.message();
  src = qlite_test::TinyModel();
  src.tokenizer.pieces.pop_back();
  EXPECT_FALSE(ConvertModel(src, opts_, path_, nullptr, nullptr).ok());
  // A loader failing half-way: no file, no temp files left behind.
  src = qlite_test::TinyModel();
  src.tensors[5].load = [](std::vector<float>* v) {
    v->assign(3, NAN);
    return Status(StatusCode::kIo, "disk on fire");
  };
  s = ConvertModel(src, opts_, path_, nullptr, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kIo);
  src.tensors[5].load = [](std::vector<float>* v) { v->assign(64, NAN); return Status::Ok(); };
  src.tensors[5].shape = {64};
  src.tensors[5].name = "extra.weird_norm";  // not required: reaches the quantizer
  s = ConvertModel(src, opts_, path_, nullptr, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(std::ifstream(path_).good(), true);
  const std::string dir = path_.substr(0, path_.rfind('/'));
  const std::string prefix = path_.substr(path_.rfind('/') + 1);
  FILE* ls = popen(("ls " + dir + " | grep -c '^" + prefix + "' || true").c_str(), "r");
  int count = -1;
  ASSERT_EQ(std::fscanf(ls, "%d", &count), 1);
  pclose(ls);
  EXPECT_EQ(count, 0) << "temporary files left in " << dir;
}

TEST_F(ModelFileTest, ReaderRefusesBadFiles) {
  ModelFile f;
  EXPECT_EQ(f.Open(path_ + ".missing").code(), StatusCode::kIo);
  // A config without the tensors it needs (the writer itself does not check).
  ModelWriter w;
  ASSERT_TRUE(w.Open(path_).ok());
  w.SetConfig(qlite_test::TinyConfig());
  ASSERT_TRUE(w.Finish().ok());
  Status s = f.Open(path_);
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  // (No tensors at all: refused on the layer count, before a list of expected tensors is built.)
  EXPECT_NE(s.message().find("2 layers, but only 0 tensors"), std::string::npos) << s.message();
  // Tokenizer whose size disagrees with vocab_size.
  ASSERT_TRUE(ConvertModel(qlite_test::TinyModel(), opts_, path_, nullptr, nullptr).ok());
  ASSERT_TRUE(f.Open(path_).ok());
  ModelWriter w2;
  ASSERT_TRUE(w2.Open(path_).ok());
  ModelConfig c = qlite_test::TinyConfig();
  w2.SetConfig(c);
  TokenizerData tok;
  tok.pieces = {"a", "b"};
  w2.SetTokenizer(tok);
  ASSERT_TRUE(w2.Finish().ok());
  f.Close();
  s = f.Open(path_);
  EXPECT_NE(s.message().find("pieces"), std::string::npos) << s.message();
}

// Patches the 16-byte Region struct {offset, size} of `tensor`'s data inside the meta.
bool PatchRegion(std::vector<uint8_t>* bytes, const ModelFile& f, const std::string& tensor, uint64_t new_offset,
                 uint64_t new_size) {
  const TensorRef* t = f.FindTensor(tensor);
  const uint64_t off = static_cast<uint64_t>(t->view.data - f.data_segment());
  const uint64_t size = t->view.row_stride * StoredRows(t->view.spec, t->view.rows);
  uint8_t want[16], repl[16];
  for (int i = 0; i < 8; ++i) {
    want[i] = static_cast<uint8_t>(off >> (8 * i));
    want[8 + i] = static_cast<uint8_t>(size >> (8 * i));
    repl[i] = static_cast<uint8_t>(new_offset >> (8 * i));
    repl[8 + i] = static_cast<uint8_t>(new_size >> (8 * i));
  }
  const uint64_t m0 = f.header().meta_offset, m1 = m0 + f.header().meta_size;
  auto it = std::search(bytes->begin() + m0, bytes->begin() + m1, want, want + 16);
  if (it == bytes->begin() + m1) return false;
  std::copy(repl, repl + 16, it);
  return true;
}

TEST_F(ModelFileTest, ReaderRefusesBadRegions) {
  ASSERT_TRUE(ConvertModel(qlite_test::TinyModel(), opts_, path_, nullptr, nullptr).ok());
  const std::vector<uint8_t> good = ReadAll(path_);
  ModelFile ref;
  ASSERT_TRUE(ref.OpenMemory(good.data(), good.size()).ok());
  const TensorRef* t = ref.FindTensor("blk.0.ffn_down");
  const uint64_t off = static_cast<uint64_t>(t->view.data - ref.data_segment());
  const uint64_t size = t->view.row_stride * t->view.rows;
  const uint64_t seg = ref.header().data_size;
  struct Case {
    uint64_t offset, size;
    const char* message;
  } cases[] = {{off, size + 1, "bytes, expected"},
               {off + 8, size, "misaligned"},
               {seg - 64, size, "outside"},
               {~uint64_t{0} - 63, size, "outside"},  // offset + size wraps around
               {off, 0, "bytes, expected"}};
  for (const Case& c : cases) {
    std::vector<uint8_t> b = good;
    ASSERT_TRUE(PatchRegion(&b, ref, "blk.0.ffn_down", c.offset, c.size));
    ModelFile f;
    Status s = f.OpenMemory(b.data(), b.size());
    EXPECT_EQ(s.code(), StatusCode::kFormat);
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("blk.0.ffn_down"), std::string::npos) << s.message();
  }
}

TEST_F(ModelFileTest, WriterMetaInPlaceOrRewritten) {
  SourceModel src = qlite_test::TinyModel();
  std::vector<float> w;
  ASSERT_TRUE(src.tensors[2].load(&w).ok());
  QuantizedTensor q;
  ASSERT_TRUE(Quantize(w.data(), src.tensors[2].shape[0], src.tensors[2].shape[1], opts_.weights, &q).ok());
  TokenizerData tok = src.tokenizer;
  tok.chat_template.assign(10000, 'x');  // meta > one 4 KiB segment
  for (uint64_t reserve : {uint64_t{0}, uint64_t{20000}}) {
    ModelWriter wr;
    ASSERT_TRUE(wr.Open(path_, {64, 4096, reserve}).ok());
    wr.SetConfig(src.config);
    wr.SetTokenizer(tok);
    ASSERT_TRUE(wr.AddTensor("x", src.tensors[2].shape, q).ok());
    uint64_t size = 0;
    ASSERT_TRUE(wr.Finish(&size).ok());
    std::vector<uint8_t> bytes = ReadAll(path_);
    ASSERT_EQ(bytes.size(), size);
    QlmHeader h;
    ASSERT_TRUE(DecodeHeader(bytes.data(), bytes.size(), &h).ok());
    EXPECT_EQ(h.data_offset, reserve ? 20480u : 12288u);  // the reserved gap, or the smallest that fits
    EXPECT_EQ(0, std::memcmp(&bytes[h.data_offset], q.data.data(), q.data.size()));
  }
}

// The reader bounds the chat template a file may carry (kMaxChatTemplateBytes).
TEST_F(ModelFileTest, RejectsOversizedChatTemplate) {
  for (size_t bytes : {kMaxChatTemplateBytes, kMaxChatTemplateBytes + 1}) {
    SourceModel src = qlite_test::TinyModel();
    src.tokenizer.chat_template.assign(bytes, 'x');
    ASSERT_TRUE(ConvertModel(src, opts_, path_, nullptr, nullptr).ok());
    ModelFile f;
    Status s = f.Open(path_, OpenOptions());
    if (bytes == kMaxChatTemplateBytes) {
      ASSERT_TRUE(s.ok()) << s.message();
      EXPECT_EQ(f.tokenizer().chat_template.size(), bytes);
    } else {
      EXPECT_EQ(s.code(), StatusCode::kFormat);
      EXPECT_NE(s.message().find("chat template"), std::string::npos) << s.message();
    }
  }
}

TEST_F(ModelFileTest, WriterRefusesInconsistentTensors) {
  std::vector<float> x(4 * 64, 0.5f);
  QuantizedTensor q;
  QuantSpec spec;
  spec.dtype = fb::DType::I4;
  ASSERT_TRUE(Quantize(x.data(), 4, 64, spec, &q).ok());
  ModelWriter w;
  ASSERT_TRUE(w.Open(path_).ok());
  EXPECT_FALSE(w.AddTensor("a", {4, 63}, q).ok());
  EXPECT_FALSE(w.AddTensor("a", {1, 4, 64}, q).ok());
  QuantizedTensor bad = q;
  bad.scales.pop_back();
  EXPECT_FALSE(w.AddTensor("a", {4, 64}, bad).ok());
  ASSERT_TRUE(w.AddTensor("a", {4, 64}, q).ok());
  EXPECT_FALSE(w.AddTensor("a", {4, 64}, q).ok());  // duplicate
  w.Abort();
  EXPECT_FALSE(std::ifstream(path_).good());
}

}  // namespace
}  // namespace qlite
