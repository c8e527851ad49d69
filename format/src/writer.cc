#include "qlite/format/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "qlite/base/files.h"
#include "qlite/format/checksum.h"
#include "qlite/format/header.h"

namespace qlite {
namespace {

uint64_t RoundUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
bool IsPow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

Status IoError(const std::string& what, const std::string& path) {
  return StatusError(StatusCode::kIo, "%s %s: %s", what.c_str(), path.c_str(), std::strerror(errno));
}

Status WriteAll(std::FILE* f, const void* p, size_t n, const std::string& path) {
  if (n && std::fwrite(p, 1, n, f) != n) return IoError("write", path);
  return Status::Ok();
}

}  // namespace

ModelWriter::~ModelWriter() { Abort(); }

void ModelWriter::Abort() {
  if (data_file_) std::fclose(data_file_);
  data_file_ = nullptr;
  if (!data_path_.empty()) std::remove(data_path_.c_str());
  if (!tmp_path_.empty()) std::remove(tmp_path_.c_str());
  data_path_.clear();
  tmp_path_.clear();
}

Status ModelWriter::Open(const std::string& path, const WriterOptions& options) {
  Abort();
  if (!IsPow2(options.tensor_alignment) || options.tensor_alignment < 64 || !IsPow2(options.segment_alignment) ||
      options.segment_alignment < 4096 || options.segment_alignment < options.tensor_alignment)
    return Status(StatusCode::kInvalidArgument, "alignments must be powers of two (tensor >= 64, segment >= 4096)");
  // The temporary files are renamed over `path` at the end: never over a device or FIFO.
  QLITE_RETURN_IF_ERROR(CheckOutputPath(path, {}));
  path_ = path;
  options_ = options;
  entries_.clear();
  data_size_ = writeback_at_ = 0;
  // Unique per process, so parallel writers of different files never collide.
  const std::string suffix = ".tmp" + std::to_string(static_cast<long>(getpid()));
  data_path_ = path + suffix;
  tmp_path_ = path + suffix + ".2";  // only if the meta outgrows the reserved gap
  data_file_ = std::fopen(data_path_.c_str(), "wb+");
  if (!data_file_) {
    Status s = IoError("cannot create", data_path_);
    data_path_.clear();
    tmp_path_.clear();
    return s;
  }
  data_offset_ = RoundUp(kQlmHeaderSize + options.meta_reserve, options.segment_alignment);
  if (fseeko(data_file_, static_cast<off_t>(data_offset_), SEEK_SET) != 0) {
    Status s = IoError("seek in", data_path_);
    Abort();
    return s;
  }
  return Status::Ok();
}

Status ModelWriter::WriteRegion(const std::vector<uint8_t>& bytes, Region* region) {
  if (bytes.empty()) return Status::Ok();
  static const uint8_t kZeros[4096] = {};
  const uint64_t start = RoundUp(data_size_, options_.tensor_alignment);
  for (uint64_t pad = start - data_size_; pad > 0;) {  // tensor_alignment may exceed kZeros
    const size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof(kZeros)));
    QLITE_RETURN_IF_ERROR(WriteAll(data_file_, kZeros, n, data_path_));
    pad -= n;
  }
  QLITE_RETURN_IF_ERROR(WriteAll(data_file_, bytes.data(), bytes.size(), data_path_));
  region->offset = start;
  region->size = bytes.size();
  data_size_ = start + bytes.size();
  return Status::Ok();
}

uint64_t ModelWriter::TensorChecksum(const QuantizedTensor& t) {
  Xxh64Stream h;
  for (const std::vector<uint8_t>* part : {&t.data, &t.scales, &t.mins, &t.dq_scales, &t.dq_offsets})
    h.Update(part->data(), part->size());
  return h.Digest();
}

Status ModelWriter::AddTensor(const std::string& name, const std::vector<uint64_t>& shape, const QuantizedTensor& t) {
  return AddTensor(name, shape, t, nullptr);
}

Status ModelWriter::AddTensor(const std::string& name, const std::vector<uint64_t>& shape, const QuantizedTensor& t,
                              uint64_t checksum) {
  return AddTensor(name, shape, t, &checksum);
}

Status ModelWriter::AddTensor(const std::string& name, const std::vector<uint64_t>& shape, const QuantizedTensor& t,
                              const uint64_t* checksum) {
  if (!data_file_) return Status(StatusCode::kInvalidArgument, "writer is not open");
  if (shape.empty() || shape.size() > 2)
    return StatusError(StatusCode::kInvalidArgument, "tensor %s: rank %zu not supported", name.c_str(), shape.size());
  const uint64_t rows = shape.size() == 2 ? shape[0] : 1;
  if (rows != t.rows || shape.back() != t.cols)
    return StatusError(StatusCode::kInvalidArgument, "tensor %s: shape does not match its data", name.c_str());
  // Never write what the reader would refuse.
  QLITE_RETURN_IF_ERROR(ValidateSpec(t.spec));
  const uint64_t ns = NumScales(t.spec, t.rows, t.cols) * ScaleTypeBytes(t.spec.scale_type);
  if (t.row_stride != RowStrideBytes(t.spec.dtype, t.cols) ||
      t.data.size() != StoredRows(t.spec, t.rows) * t.row_stride || t.scales.size() != ns ||
      t.mins.size() != (t.spec.dtype == fb::DType::U4 ? ns : 0) ||
      t.dq_scales.size() != NumDqEntries(t.spec, t.rows, t.cols) * 4 || t.dq_offsets.size() != t.dq_scales.size())
    return StatusError(StatusCode::kInvalidArgument, "tensor %s: byte sizes do not match its spec", name.c_str());
  for (const Entry& e : entries_)
    if (e.name == name) return StatusError(StatusCode::kInvalidArgument, "duplicate tensor %s", name.c_str());
  Entry e;
  e.name = name;
  e.shape = shape;
  e.spec = t.spec;
  e.row_stride = t.row_stride;
  e.checksum = checksum ? *checksum : TensorChecksum(t);
  Status s = WriteRegion(t.data, &e.data);
  if (s.ok()) s = WriteRegion(t.scales, &e.scales);
  if (s.ok()) s = WriteRegion(t.mins, &e.mins);
  if (s.ok()) s = WriteRegion(t.dq_scales, &e.dq_scales);
  if (s.ok()) s = WriteRegion(t.dq_offsets, &e.dq_offsets);
  if (!s.ok()) {
    Abort();
    return s;
  }
  entries_.push_back(std::move(e));
  StartWriteback();
  return Status::Ok();
}

// Starts the kernel's write-back of the data written so far, every 64 MiB (Linux): the disk
// writes overlap the conversion, and Finish's fsync waits for the last tensors only. A
// failure here shows again in that fsync.
void ModelWriter::StartWriteback() {
#if defined(__linux__)
  if (data_size_ - writeback_at_ < (uint64_t{64} << 20)) return;
  writeback_at_ = data_size_;
  if (std::fflush(data_file_) == 0) (void)sync_file_range(fileno(data_file_), 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
}

std::vector<uint8_t> ModelWriter::BuildMeta() const {
  flatbuffers::FlatBufferBuilder b(1 << 16);
  const ModelConfig& c = config_;

  auto factors = c.rope_freq_factors.empty() ? 0 : b.CreateVector(c.rope_freq_factors.data(), c.rope_freq_factors.size());
  auto long_factors = c.rope_long_freq_factors.empty()
                          ? 0 : b.CreateVector(c.rope_long_freq_factors.data(), c.rope_long_freq_factors.size());
  auto rope = fb::CreateRopeConfig(b, c.rope_theta, static_cast<fb::RopeStyle>(c.rope_style),
                                   static_cast<fb::RopeScaling>(c.rope_scaling), c.rope_factor, c.rope_low_freq_factor,
                                   c.rope_high_freq_factor, c.rope_original_context, c.rotary_dim, c.rope_local_theta,
                                   factors, long_factors, c.rope_attn_factor);
  const std::vector<uint8_t> no_rope_flags(c.no_rope.begin(), c.no_rope.end());
  auto no_rope = no_rope_flags.empty() ? 0 : b.CreateVector(no_rope_flags);
  auto windows = c.sliding_window.empty() ? 0 : b.CreateVector(c.sliding_window.data(), c.sliding_window.size());
  auto eots = c.eot_ids.empty() ? 0 : b.CreateVector(c.eot_ids.data(), c.eot_ids.size());
  fb::ModelConfigBuilder cb(b);
  cb.add_arch(static_cast<fb::Arch>(c.arch));
  cb.add_dim(c.dim);
  cb.add_n_layers(c.n_layers);
  cb.add_n_heads(c.n_heads);
  cb.add_n_kv_heads(c.n_kv_heads);
  cb.add_head_dim(c.head_dim);
  cb.add_ffn_dim(c.ffn_dim);
  cb.add_vocab_size(c.vocab_size);
  cb.add_context_length(c.context_length);
  cb.add_norm_eps(c.norm_eps);
  cb.add_rope(rope);
  if (!c.sliding_window.empty()) cb.add_sliding_window(windows);
  cb.add_tied_embeddings(c.tied_embeddings);
  cb.add_qkv_bias(c.qkv_bias);
  cb.add_bos_id(c.bos_id);
  cb.add_eos_id(c.eos_id);
  cb.add_pad_id(c.pad_id);
  if (!c.eot_ids.empty()) cb.add_eot_ids(eots);
  cb.add_qk_norm(c.qk_norm);
  cb.add_post_norms(c.post_norms);
  cb.add_ffn_activation(static_cast<fb::Activation>(c.ffn_activation));
  cb.add_embedding_scale(c.embedding_scale);
  cb.add_attn_scale(c.attn_scale);
  cb.add_attn_softcap(c.attn_softcap);
  cb.add_final_softcap(c.final_softcap);
  if (!c.no_rope.empty()) cb.add_no_rope(no_rope);
  auto config = cb.Finish();

  flatbuffers::Offset<fb::Tokenizer> tok = 0;
  if (has_tokenizer_) {
    const TokenizerData& t = tokenizer_;
    auto pieces = b.CreateVectorOfStrings(t.pieces);
    auto scores = t.scores.empty() ? 0 : b.CreateVector(t.scores);
    std::vector<uint8_t> kinds_raw(t.kinds.size());
    for (size_t i = 0; i < t.kinds.size(); ++i) kinds_raw[i] = static_cast<uint8_t>(t.kinds[i]);
    auto kinds = t.kinds.empty() ? 0 : b.CreateVector(kinds_raw);
    auto merges = t.merges.empty() ? 0 : b.CreateVectorOfStrings(t.merges);
    auto pre = t.pre_tokenizer.empty() ? 0 : b.CreateString(t.pre_tokenizer);
    auto chat = t.chat_template.empty() ? 0 : b.CreateString(t.chat_template);
    fb::TokenizerBuilder tb(b);
    tb.add_type(t.type);
    tb.add_pieces(pieces);
    if (!t.scores.empty()) tb.add_scores(scores);
    if (!t.kinds.empty()) tb.add_kinds(flatbuffers::Offset<flatbuffers::Vector<fb::TokenKind>>(kinds.o));
    if (!t.merges.empty()) tb.add_merges(merges);
    tb.add_add_bos(t.add_bos);
    tb.add_add_eos(t.add_eos);
    tb.add_add_dummy_prefix(t.add_dummy_prefix);
    tb.add_byte_fallback(t.byte_fallback);
    if (!t.pre_tokenizer.empty()) tb.add_pre_tokenizer(pre);
    if (!t.chat_template.empty()) tb.add_chat_template(chat);
    tb.add_unk_id(t.unk_id);
    tok = tb.Finish();
  }

  std::vector<flatbuffers::Offset<fb::Tensor>> tensors;
  for (const Entry& e : entries_) {
    auto name = b.CreateString(e.name);
    auto shape = b.CreateVector(e.shape);
    const bool quantized = e.spec.dtype != fb::DType::F32 && e.spec.dtype != fb::DType::F16 &&
                           e.spec.dtype != fb::DType::BF16;
    flatbuffers::Offset<fb::Quant> quant = 0;
    if (quantized) {
      const fb::Region sc(e.scales.offset, e.scales.size), mn(e.mins.offset, e.mins.size),
          dqs(e.dq_scales.offset, e.dq_scales.size), dqo(e.dq_offsets.offset, e.dq_offsets.size);
      fb::QuantBuilder qb(b);
      qb.add_granularity(e.spec.granularity);
      if (e.spec.granularity == fb::Granularity::Group) qb.add_group_size(e.spec.group_size);
      qb.add_scale_type(e.spec.scale_type);
      qb.add_scales(&sc);
      if (e.mins.size) qb.add_mins(&mn);
      if (e.spec.scale_type == fb::DType::U8) {
        qb.add_dq_block(e.spec.dq_block);
        qb.add_dq_scales(&dqs);
        qb.add_dq_offsets(&dqo);
      }
      quant = qb.Finish();
    }
    const fb::Region data(e.data.offset, e.data.size);
    fb::TensorBuilder tb(b);
    tb.add_name(name);
    tb.add_shape(shape);
    tb.add_dtype(e.spec.dtype);
    tb.add_layout(e.spec.layout);
    tb.add_row_stride(e.row_stride);
    tb.add_data(&data);
    if (quantized) tb.add_quant(quant);
    tb.add_checksum(e.checksum);
    tensors.push_back(tb.Finish());
  }
  auto tensor_vec = b.CreateVector(tensors);

  const ProvenanceInfo& p = provenance_;
  std::vector<flatbuffers::Offset<fb::Adapter>> adapters;
  for (const AdapterRecord& a : p.adapters)
    adapters.push_back(fb::CreateAdapter(b, b.CreateString(a.name), a.scale, a.rank, a.alpha, a.fingerprint));
  auto prov = fb::CreateProvenance(b, b.CreateString(p.source), b.CreateString(p.source_format),
                                   b.CreateString(p.converter_version), b.CreateString(p.quantization),
                                   b.CreateVector(adapters), p.created_unix);
  fb::ModelBuilder mb(b);
  mb.add_format_version(kQlmVersion);
  mb.add_config(config);
  if (has_tokenizer_) mb.add_tokenizer(tok);
  mb.add_tensors(tensor_vec);
  mb.add_provenance(prov);
  mb.add_fingerprint(fingerprint_);
  b.Finish(mb.Finish(), fb::ModelIdentifier());
  return std::vector<uint8_t>(b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize());
}

Status ModelWriter::Finish(uint64_t* file_size) {
  if (!data_file_) return Status(StatusCode::kInvalidArgument, "writer is not open");
  const std::vector<uint8_t> meta = BuildMeta();
  QlmHeader h;
  h.tensor_alignment = options_.tensor_alignment;
  h.segment_alignment = options_.segment_alignment;
  h.meta_size = meta.size();
  // In place when header + meta fit the reserved gap, else a second file with a bigger gap.
  const bool in_place = kQlmHeaderSize + meta.size() <= data_offset_;
  h.data_offset = in_place ? data_offset_ : RoundUp(kQlmHeaderSize + meta.size(), options_.segment_alignment);
  h.data_size = data_size_;
  h.file_size = h.data_offset + data_size_;
  uint8_t header[kQlmHeaderSize];
  EncodeHeader(h, header);
  const std::vector<uint8_t> pad(h.data_offset - kQlmHeaderSize - meta.size(), 0);

  Status s;
  if (std::fflush(data_file_) != 0) s = IoError("write", data_path_);
  std::FILE* out = data_file_;
  std::string out_path = data_path_;
  if (s.ok() && in_place) {
    if (fseeko(out, 0, SEEK_SET) != 0) s = IoError("seek in", data_path_);
  } else if (s.ok()) {
    out = std::fopen(tmp_path_.c_str(), "wb");
    out_path = tmp_path_;
    if (!out) s = IoError("cannot create", tmp_path_);
  }
  if (s.ok()) s = WriteAll(out, header, sizeof(header), out_path);
  if (s.ok()) s = WriteAll(out, meta.data(), meta.size(), out_path);
  if (s.ok()) s = WriteAll(out, pad.data(), pad.size(), out_path);
  if (!in_place && s.ok()) {  // copy the data segment in chunks (never all in memory)
    if (fseeko(data_file_, static_cast<off_t>(data_offset_), SEEK_SET) != 0) s = IoError("seek in", data_path_);
    std::vector<uint8_t> chunk(1 << 20);
    for (uint64_t copied = 0; s.ok() && copied < data_size_;) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), data_size_ - copied));
      if (std::fread(chunk.data(), 1, want, data_file_) != want) s = IoError("read back", data_path_);
      if (s.ok()) s = WriteAll(out, chunk.data(), want, out_path);
      copied += want;
    }
  }
  if (out) {
    if (s.ok() && (std::fflush(out) != 0 || fsync(fileno(out)) != 0)) s = IoError("flush", out_path);
    if (std::fclose(out) != 0 && s.ok()) s = IoError("close", out_path);
    if (out == data_file_) data_file_ = nullptr;
  }
  if (s.ok() && std::rename(out_path.c_str(), path_.c_str()) != 0) s = IoError("rename to", path_);
  if (!s.ok()) {
    Abort();
    return s;
  }
  (in_place ? data_path_ : tmp_path_).clear();  // renamed: nothing left to remove there
  Abort();                                      // closes and removes what is left
  if (file_size) *file_size = h.file_size;
  return Status::Ok();
}

}  // namespace qlite
