#include "qlite/format/model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "qlite/base/files.h"
#include "qlite/format/checksum.h"

namespace qlite {
namespace {

constexpr uint64_t kMaxElements = uint64_t{1} << 48;


// Copied bytewise: the verifier checks a vector's 4-byte length alignment, not its elements',
// so a crafted file can place a [ulong] off 8-byte alignment (a typed load would be undefined,
// and a fault on strict-alignment CPUs). Little-endian hosts, as everywhere in the format.
template <class T, class Vector>
void CopyVector(const flatbuffers::Vector<T>* v, Vector* out) {
  out->resize(v ? v->size() : 0);
  if (!out->empty()) std::memcpy(out->data(), v->Data(), out->size() * sizeof(T));
}

// ModelConfig's enums carry the schema's values (model_rules.cc refuses the ones out of range).
static_assert(static_cast<int>(Arch::MAX) == static_cast<int>(fb::Arch::MAX) &&
                  static_cast<int>(RopeStyle::MAX) == static_cast<int>(fb::RopeStyle::MAX) &&
                  static_cast<int>(RopeScaling::MAX) == static_cast<int>(fb::RopeScaling::MAX) &&
                  static_cast<int>(Activation::MAX) == static_cast<int>(fb::Activation::MAX),
              "ModelConfig enums and the schema differ");

void FillConfig(const fb::ModelConfig& f, ModelConfig* c) {
  c->arch = static_cast<Arch>(f.arch());
  c->dim = f.dim();
  c->n_layers = f.n_layers();
  c->n_heads = f.n_heads();
  c->n_kv_heads = f.n_kv_heads();
  c->head_dim = f.head_dim();
  c->ffn_dim = f.ffn_dim();
  c->vocab_size = f.vocab_size();
  c->context_length = f.context_length();
  c->norm_eps = f.norm_eps();
  if (const fb::RopeConfig* r = f.rope()) {
    c->rope_theta = r->theta();
    c->rope_style = static_cast<RopeStyle>(r->style());
    c->rope_scaling = static_cast<RopeScaling>(r->scaling());
    c->rope_factor = r->factor();
    c->rope_low_freq_factor = r->low_freq_factor();
    c->rope_high_freq_factor = r->high_freq_factor();
    c->rope_original_context = r->original_context();
    c->rotary_dim = r->rotary_dim();
    c->rope_local_theta = r->local_theta();
    CopyVector(r->freq_factors(), &c->rope_freq_factors);
    CopyVector(r->long_freq_factors(), &c->rope_long_freq_factors);
    c->rope_attn_factor = r->attn_factor();
  }
  CopyVector(f.sliding_window(), &c->sliding_window);
  c->tied_embeddings = f.tied_embeddings();
  c->qkv_bias = f.qkv_bias();
  c->bos_id = f.bos_id();
  c->eos_id = f.eos_id();
  c->pad_id = f.pad_id();
  CopyVector(f.eot_ids(), &c->eot_ids);
  c->qk_norm = f.qk_norm();
  c->post_norms = f.post_norms();
  c->ffn_activation = static_cast<Activation>(f.ffn_activation());
  c->embedding_scale = f.embedding_scale();
  c->attn_scale = f.attn_scale();
  c->attn_softcap = f.attn_softcap();
  c->final_softcap = f.final_softcap();
  if (f.no_rope()) c->no_rope.assign(f.no_rope()->begin(), f.no_rope()->end());
}

// What the reader guarantees of a Tokenizer table before anything views it: pieces for the
// vocabulary, scores/kinds empty or one per piece, enum values in range, a bounded template.
Status CheckTokenizerTable(const fb::Tokenizer& f, uint32_t vocab) {
  if (static_cast<int>(f.type()) > static_cast<int>(fb::TokenizerType::MAX))
    return Status(StatusCode::kFormat, "tokenizer: bad type");
  if (f.pieces()->size() != vocab)
    return StatusError(StatusCode::kFormat, "tokenizer: %u pieces for vocab_size %u", f.pieces()->size(), vocab);
  if (f.scores() && f.scores()->size() != 0 && f.scores()->size() != vocab)
    return Status(StatusCode::kFormat, "tokenizer: scores do not match vocab_size");
  if (f.kinds() && f.kinds()->size() != 0 && f.kinds()->size() != vocab)
    return Status(StatusCode::kFormat, "tokenizer: kinds do not match vocab_size");
  if (f.unk_id() < -1 || f.unk_id() >= static_cast<int64_t>(vocab))
    return Status(StatusCode::kFormat, "tokenizer: unk_id outside vocab");
  if (f.kinds())
    for (fb::TokenKind k : *f.kinds())
      if (static_cast<int>(k) > static_cast<int>(fb::TokenKind::MAX))
        return Status(StatusCode::kFormat, "tokenizer: bad token kind");
  if (f.chat_template() && f.chat_template()->size() > kMaxChatTemplateBytes)
    return StatusError(StatusCode::kFormat, "tokenizer: chat template of %u bytes (at most %zu)",
                       f.chat_template()->size(), kMaxChatTemplateBytes);
  return Status::Ok();
}

}  // namespace

TokenizerView::TokenizerView(const TokenizerData& d)
    : type(d.type),
      add_bos(d.add_bos),
      add_eos(d.add_eos),
      add_dummy_prefix(d.add_dummy_prefix),
      byte_fallback(d.byte_fallback),
      pre_tokenizer(d.pre_tokenizer),
      chat_template(d.chat_template),
      unk_id(d.unk_id),
      bos_id(d.bos_id),
      eos_id(d.eos_id),
      data_(&d),
      scores_(reinterpret_cast<const uint8_t*>(d.scores.data())),
      kinds_(reinterpret_cast<const uint8_t*>(d.kinds.data())),
      n_scores_(d.scores.size()),
      n_kinds_(d.kinds.size()) {}

TokenizerView::TokenizerView(const fb::Tokenizer& t)
    : type(t.type()),
      add_bos(t.add_bos()),
      add_eos(t.add_eos()),
      add_dummy_prefix(t.add_dummy_prefix()),
      byte_fallback(t.byte_fallback()),
      pre_tokenizer(t.pre_tokenizer() ? Str(t.pre_tokenizer()) : std::string_view()),
      chat_template(t.chat_template() ? Str(t.chat_template()) : std::string_view()),
      unk_id(t.unk_id()),
      fb_pieces_(t.pieces()),
      fb_merges_(t.merges()),
      scores_(t.scores() ? t.scores()->Data() : nullptr),
      kinds_(t.kinds() ? t.kinds()->Data() : nullptr),
      n_scores_(t.scores() ? t.scores()->size() : 0),
      n_kinds_(t.kinds() ? t.kinds()->size() : 0) {}

float TokenizerView::score(size_t i) const {
  float f;
  std::memcpy(&f, scores_ + i * sizeof(float), sizeof(float));
  return f;
}

TokenizerData ModelFile::tokenizer() const {
  TokenizerData d;
  if (!has_tokenizer()) return d;
  const TokenizerView v(*meta_->tokenizer());
  d.type = v.type;
  d.pieces.reserve(v.n_pieces());
  for (size_t i = 0; i < v.n_pieces(); ++i) d.pieces.emplace_back(v.piece(i));
  for (size_t i = 0; i < v.n_scores(); ++i) d.scores.push_back(v.score(i));
  for (size_t i = 0; i < v.n_kinds(); ++i) d.kinds.push_back(v.kind(i));
  for (size_t r = 0; r < v.n_merges(); ++r) d.merges.emplace_back(v.merge(r));
  d.add_bos = v.add_bos;
  d.add_eos = v.add_eos;
  d.add_dummy_prefix = v.add_dummy_prefix;
  d.byte_fallback = v.byte_fallback;
  d.pre_tokenizer = v.pre_tokenizer;
  d.chat_template = v.chat_template;
  d.unk_id = v.unk_id;
  return d;
}

ModelFile::~ModelFile() { Close(); }

void ModelFile::Close() {
  if (mapping_) munmap(mapping_, size_);
  std::free(owned_);
  mapping_ = nullptr;
  owned_ = nullptr;
  base_ = nullptr;
  size_ = 0;
  meta_ = nullptr;
  config_ = ModelConfig();
  tensors_.clear();
  by_name_.clear();
}

Status ModelFile::Open(const std::string& path, const OpenOptions& options) {
  Close();
  int fd = -1;
  uint64_t file_size = 0;
  QLITE_RETURN_IF_ERROR(OpenRegularFile(path, &fd, &file_size));
  struct stat st;
  Status s;
  if (fstat(fd, &st) != 0 || file_size < kQlmHeaderSize) {
    s = StatusError(StatusCode::kFormat, "%s: not a .qlm file (too small)", path.c_str());
  } else if (static_cast<uint64_t>(st.st_size) > SIZE_MAX) {
    s = StatusError(StatusCode::kUnsupported, "%s: file larger than this address space", path.c_str());
  } else if (options.use_mmap) {
    size_ = static_cast<uint64_t>(st.st_size);
    void* m = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) s = StatusError(StatusCode::kIo, "mmap %s: %s", path.c_str(), std::strerror(errno));
    else mapping_ = m, base_ = static_cast<const uint8_t*>(m);
  } else {
    size_ = static_cast<uint64_t>(st.st_size);
    const uint64_t alloc = (size_ + 4095) / 4096 * 4096;
    owned_ = static_cast<uint8_t*>(std::aligned_alloc(4096, alloc));
    if (!owned_) s = Status(StatusCode::kOutOfMemory, "cannot allocate the model buffer");
    for (uint64_t got = 0; s.ok() && got < size_;) {
      const ssize_t n = ::pread(fd, owned_ + got, static_cast<size_t>(std::min<uint64_t>(size_ - got, 1 << 30)),
                                static_cast<off_t>(got));
      if (n <= 0) s = StatusError(StatusCode::kIo, "read %s: %s", path.c_str(), n == 0 ? "short file" : std::strerror(errno));
      else got += static_cast<uint64_t>(n);
    }
    base_ = owned_;
  }
  ::close(fd);
  if (s.ok()) s = Load(options);
  if (!s.ok()) Close();
  return s.ok() ? s : Status(s.code(), path + ": " + s.message());
}

Status ModelFile::OpenMemory(const void* data, size_t size, const OpenOptions& options) {
  Close();
  if (!data) return Status(StatusCode::kInvalidArgument, "null buffer");
  // FlatBuffers reads 8-byte scalars in place; tensors want more (tensor_alignment).
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0)
    return Status(StatusCode::kInvalidArgument, "model buffer must be at least 8-byte aligned");
  base_ = static_cast<const uint8_t*>(data);
  size_ = size;
  Status s = Load(options);
  if (!s.ok()) Close();
  return s;
}

const TensorRef* ModelFile::FindTensor(std::string_view name) const {
  const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                                   [this](uint32_t i, std::string_view n) { return tensors_[i].name < n; });
  return it != by_name_.end() && tensors_[*it].name == name ? &tensors_[*it] : nullptr;
}

Status ModelFile::Load(const OpenOptions& options) {
  QLITE_RETURN_IF_ERROR(DecodeHeader(base_, size_, &header_));
  if (header_.meta_size >= FLATBUFFERS_MAX_BUFFER_SIZE) return Status(StatusCode::kFormat, "meta too large");
  const uint8_t* meta = base_ + header_.meta_offset;
  flatbuffers::Verifier verifier(meta, static_cast<size_t>(header_.meta_size), 64, 10000000);
  if (!fb::VerifyModelBuffer(verifier)) return Status(StatusCode::kFormat, "metadata failed FlatBuffers verification");
  meta_ = fb::GetModel(meta);
  if (meta_->format_version() != header_.version)
    return StatusError(StatusCode::kFormat, "metadata format_version %u differs from the header's version %u",
                       meta_->format_version(), header_.version);
  FillConfig(*meta_->config(), &config_);
  QLITE_RETURN_IF_ERROR(CheckConfig(config_));
  if (meta_->tokenizer()) QLITE_RETURN_IF_ERROR(CheckTokenizerTable(*meta_->tokenizer(), config_.vocab_size));

  QLITE_RETURN_IF_ERROR(CheckLayerCount(config_, meta_->tensors()->size()));  // before ExpectedTensors
  const size_t n = meta_->tensors()->size();
  tensors_.resize(n);
  by_name_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const fb::Tensor& t = *meta_->tensors()->Get(static_cast<flatbuffers::uoffset_t>(i));
    Status s = LoadTensor(t, &tensors_[i]);
    if (!s.ok()) return Status(s.code(), "tensor " + t.name()->str() + ": " + s.message());
    by_name_[i] = static_cast<uint32_t>(i);
  }
  std::sort(by_name_.begin(), by_name_.end(), [this](uint32_t a, uint32_t b) {
    return tensors_[a].name != tensors_[b].name ? tensors_[a].name < tensors_[b].name : a < b;
  });
  for (size_t i = 1; i < n; ++i) {
    const std::string_view name = tensors_[by_name_[i]].name;
    if (name == tensors_[by_name_[i - 1]].name)
      return StatusError(StatusCode::kFormat, "duplicate tensor %.*s", static_cast<int>(name.size()), name.data());
  }
  QLITE_RETURN_IF_ERROR(ForEachExpectedTensor(
      config_,
      [](void* self, std::string_view name, const uint64_t* shape, size_t rank) {
        const TensorRef* t = static_cast<const ModelFile*>(self)->FindTensor(name);
        const int len = static_cast<int>(name.size());
        if (!t) return StatusError(StatusCode::kFormat, "missing tensor %.*s", len, name.data());
        if (!t->shape.Equals(shape, rank))
          return StatusError(StatusCode::kFormat, "tensor %.*s: shape does not match the config", len, name.data());
        return Status::Ok();
      },
      this));
  if (options.verify_checksums) QLITE_RETURN_IF_ERROR(VerifyChecksums());
  return Status::Ok();
}

Status ModelFile::LoadTensor(const fb::Tensor& t, TensorRef* ref) const {
  ref->name = std::string_view(t.name()->data(), t.name()->size());
  const size_t rank = t.shape() ? t.shape()->size() : 0;
  if (rank < 1 || rank > 2) return StatusError(StatusCode::kFormat, "rank %zu not supported", rank);
  std::memcpy(ref->shape.dims, t.shape()->Data(), rank * sizeof(uint64_t));  // bytewise: see CopyVector
  ref->shape.rank = rank;
  for (uint64_t d : ref->shape)
    if (d == 0 || d > kMaxElements) return Status(StatusCode::kFormat, "bad dimension");
  const uint64_t rows = rank == 2 ? ref->shape[0] : 1, cols = ref->shape.back();
  if (rows > kMaxElements / cols) return Status(StatusCode::kFormat, "too many elements");
  ref->dtype = t.dtype();
  QuantSpec spec;
  spec.dtype = t.dtype();
  spec.layout = t.layout();
  const fb::Quant* q = t.quant();
  if (IsFloatType(spec.dtype) != (q == nullptr)) return Status(StatusCode::kFormat, "quant table presence does not match dtype");
  if (q) {
    spec.granularity = q->granularity();
    spec.group_size = q->granularity() == fb::Granularity::Group ? q->group_size() : 0;
    spec.scale_type = q->scale_type();
    spec.dq_block = q->dq_block();
  }
  QLITE_RETURN_IF_ERROR(ValidateSpec(spec));
  const uint64_t stride = RowStrideBytes(spec.dtype, cols);
  if (t.row_stride() != stride) return Status(StatusCode::kFormat, "row_stride does not match dtype and shape");

  const uint64_t align = header_.tensor_alignment, seg = header_.data_size;
  const uint8_t* base = data_segment();
  // Region must lie inside the data segment, aligned, with exactly `want` bytes.
  auto region = [&](const fb::Region* r, uint64_t want, const char* what, const uint8_t** out) -> Status {
    if (want == 0) {
      if (r && r->size() != 0) return StatusError(StatusCode::kFormat, "unexpected %s region", what);
      return Status::Ok();
    }
    if (!r) return StatusError(StatusCode::kFormat, "missing %s region", what);
    if (r->size() != want)
      return StatusError(StatusCode::kFormat, "%s region has %llu bytes, expected %llu", what,
                         static_cast<unsigned long long>(r->size()), static_cast<unsigned long long>(want));
    if (r->offset() % align != 0 || r->offset() > seg || r->size() > seg - r->offset())
      return StatusError(StatusCode::kFormat, "%s region outside the data segment or misaligned", what);
    *out = base + r->offset();
    ref->data_bytes += want;
    return Status::Ok();
  };
  const uint64_t stored_rows = StoredRows(spec, rows);
  if (stored_rows > ~uint64_t{0} / stride) return Status(StatusCode::kFormat, "data size overflows");
  QuantizedView& v = ref->view;
  v.spec = spec;
  v.rows = rows;
  v.cols = cols;
  v.row_stride = stride;
  ref->data_bytes = 0;
  QLITE_RETURN_IF_ERROR(region(t.data(), stored_rows * stride, "data", &v.data));
  const uint64_t sbytes = NumScales(spec, rows, cols) * ScaleTypeBytes(spec.scale_type);
  const uint64_t dq = NumDqEntries(spec, rows, cols) * 4;
  const uint8_t *dqs = nullptr, *dqo = nullptr;
  QLITE_RETURN_IF_ERROR(region(q ? q->scales() : nullptr, sbytes, "scales", &v.scales));
  QLITE_RETURN_IF_ERROR(region(q ? q->mins() : nullptr, spec.dtype == fb::DType::U4 ? sbytes : 0, "mins", &v.mins));
  QLITE_RETURN_IF_ERROR(region(q ? q->dq_scales() : nullptr, dq, "dq_scales", &dqs));
  QLITE_RETURN_IF_ERROR(region(q ? q->dq_offsets() : nullptr, dq, "dq_offsets", &dqo));
  v.dq_scales = reinterpret_cast<const float*>(dqs);
  v.dq_offsets = reinterpret_cast<const float*>(dqo);
  ref->checksum = t.checksum();
  return Status::Ok();
}

Status ModelFile::VerifyChecksums() const {
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const TensorRef& t = tensors_[i];
    const fb::Tensor& f = *meta_->tensors()->Get(static_cast<flatbuffers::uoffset_t>(i));
    // Version 1: FNV-1a 64; version 2: XXH64; both over the regions' bytes in this order.
    uint64_t h = kFnv64Offset;
    Xxh64Stream xxh;
    auto add = [&](const fb::Region* r) {
      if (!r || !r->size()) return;
      const uint8_t* p = data_segment() + r->offset();
      if (header_.version == 1)
        h = Fnv1a64(p, static_cast<size_t>(r->size()), h);
      else
        xxh.Update(p, static_cast<size_t>(r->size()));
    };
    add(f.data());
    if (const fb::Quant* q = f.quant()) {
      add(q->scales());
      add(q->mins());
      add(q->dq_scales());
      add(q->dq_offsets());
    }
    if (header_.version != 1) h = xxh.Digest();
    if (h != t.checksum)
      return StatusError(StatusCode::kFormat, "tensor %.*s: checksum mismatch", static_cast<int>(t.name.size()),
                         t.name.data());
  }
  return Status::Ok();
}

}  // namespace qlite
