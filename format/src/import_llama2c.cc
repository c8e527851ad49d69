// llama2.c v0 checkpoint: 7 int32 header (dim, hidden, layers, heads, kv_heads, vocab,
// seq_len; vocab < 0 = untied classifier at the end), then f32 weights in llama2.c order,
// each stacked over layers. Rows are Meta interleaved (rope_style Interleaved).
#include "import_common.h"
#include "qlite/format/import.h"

namespace qlite {
namespace ii = import_internal;

namespace {

// Picks a tokenizer by extension: .model = SentencePiece, else llama2.c tokenizer.bin.
Status LoadTokenizerFile(const std::string& path, TokenizerData* tok) {
  if (ii::EndsWith(path, ".model")) return ImportSentencePieceModel(path, tok);
  if (ii::EndsWith(path, ".json")) return ImportHuggingFaceTokenizer(path, tok);
  return ImportLlama2cTokenizer(path, tok);
}

}  // namespace

Status ImportLlama2c(const std::string& checkpoint, const std::string& tokenizer_bin, SourceModel* out) {
  uint64_t file_size = 0;
  QLITE_RETURN_IF_ERROR(ii::FileSize(checkpoint, &file_size));
  int32_t h[7];
  if (file_size < sizeof(h))
    return StatusError(StatusCode::kFormat, "%s: too small for a llama2.c checkpoint", checkpoint.c_str());
  QLITE_RETURN_IF_ERROR(ii::ReadAt(checkpoint, 0, sizeof(h), h));
  const int32_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4], seq_len = h[6];
  const bool shared = h[5] > 0;
  const int64_t vocab = h[5] < 0 ? -int64_t(h[5]) : h[5];
  constexpr int32_t kMaxDim = 1 << 16;
  if (dim <= 0 || dim > kMaxDim || hidden <= 0 || hidden > 4 * kMaxDim || layers <= 0 || layers > 1024 ||
      heads <= 0 || kv_heads <= 0 || heads > dim || kv_heads > heads || heads % kv_heads != 0 || dim % heads != 0 ||
      vocab <= 0 || uint64_t(vocab) > ii::kMaxVocab || seq_len <= 0)
    return StatusError(StatusCode::kFormat,
                       "%s: not a llama2.c checkpoint (header dim %d hidden %d layers %d heads %d/%d vocab %d seq %d)",
                       checkpoint.c_str(), h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
  SourceModel m;
  m.source_path = checkpoint;
  m.source_format = "llama2c";
  ModelConfig& c = m.config;
  c.arch = Arch::Llama;
  c.dim = uint32_t(dim);
  c.ffn_dim = uint32_t(hidden);
  c.n_layers = uint32_t(layers);
  c.n_heads = uint32_t(heads);
  c.n_kv_heads = uint32_t(kv_heads);
  c.head_dim = uint32_t(dim / heads);
  c.vocab_size = uint32_t(vocab);
  c.context_length = uint32_t(seq_len);
  c.rope_style = RopeStyle::Interleaved;
  c.tied_embeddings = shared;

  // Walk the stacked tensors in file order, recording each layer slice's offset.
  const uint64_t D = c.dim, F = c.ffn_dim, L = c.n_layers, V = c.vocab_size, hd = c.head_dim;
  const uint64_t qd = uint64_t(heads) * hd, kvd = uint64_t(kv_heads) * hd;
  uint64_t offset = sizeof(h);
  const std::string path = checkpoint;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    const uint64_t at = offset;
    offset += n * 4;
    m.tensors.push_back({name, shape, "F32", [path, at, n](std::vector<float>* dst) -> Status {
                           dst->resize(n);
                           return ii::ReadAt(path, at, n * 4, dst->data());
                         }});
  };
  auto stacked = [&](const char* suffix, std::vector<uint64_t> shape) {
    for (uint64_t l = 0; l < L; ++l) add("blk." + std::to_string(l) + "." + suffix, shape);
  };
  add("token_embd", {V, D});
  stacked("attn_norm", {D});
  stacked("attn_q", {qd, D});
  stacked("attn_k", {kvd, D});
  stacked("attn_v", {kvd, D});
  stacked("attn_output", {D, qd});
  stacked("ffn_norm", {D});
  stacked("ffn_gate", {F, D});  // w1
  stacked("ffn_down", {D, F});  // w2
  stacked("ffn_up", {F, D});    // w3
  add("output_norm", {D});
  offset += uint64_t(seq_len) * hd * 4;  // legacy freq_cis_real + freq_cis_imag (recomputed at run time)
  if (!shared) add("output", {V, D});
  if (offset > file_size)
    return StatusError(StatusCode::kFormat, "%s: truncated llama2.c checkpoint (%llu bytes, header implies %llu)",
                       checkpoint.c_str(), (unsigned long long)file_size, (unsigned long long)offset);

  std::string tok_path = tokenizer_bin;
  if (tok_path.empty()) {  // look beside the checkpoint, as llama2.c's run does
    const std::string dir = ii::DirName(checkpoint), v = std::to_string(vocab);
    for (const std::string& name : {std::string("tokenizer.bin"), "tok" + v + ".bin", std::string("tokenizer.model"),
                                    "tok" + v + ".model"}) {
      if (ii::IsRegularFile(ii::JoinPath(dir, name))) {
        tok_path = ii::JoinPath(dir, name);
        break;
      }
    }
    if (tok_path.empty())
      return StatusError(StatusCode::kInvalidArgument,
                         "%s: no tokenizer found beside the checkpoint; pass one (--tokenizer tok.bin)",
                         checkpoint.c_str());
  }
  QLITE_RETURN_IF_ERROR(LoadTokenizerFile(tok_path, &m.tokenizer));
  if (m.tokenizer.pieces.size() != c.vocab_size)
    return StatusError(StatusCode::kMismatch, "tokenizer %s has %zu pieces, checkpoint vocab is %u", tok_path.c_str(),
                       m.tokenizer.pieces.size(), c.vocab_size);
  c.bos_id = m.tokenizer.bos_id >= 0 ? m.tokenizer.bos_id : 1;  // llama2.c's fixed ids
  c.eos_id = m.tokenizer.eos_id >= 0 ? m.tokenizer.eos_id : 2;
  c.pad_id = m.tokenizer.pad_id;
  QLITE_RETURN_IF_ERROR(ii::ValidateSourceModel(m));
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace qlite
