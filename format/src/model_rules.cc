// What a model of a given config must contain (format/FORMAT.md's tensor table). Shared by
// the converter (refuses inconsistent sources) and the reader (refuses inconsistent files).
#include <cstdio>
#include <string>

#include "qlite/base/pretokenizers.h"
#include "qlite/format/model_file.h"

namespace qlite {
namespace {
bool EndsWith(const std::string& s, const char* suffix) {
  const std::string t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}
constexpr uint32_t kMaxDim = 1u << 20;  // keeps every shape product far from overflow
}  // namespace

bool IsAlwaysF32(const std::string& name, size_t rank) {
  return rank == 1 || EndsWith(name, "_norm") || EndsWith(name, ".bias");
}

Status CheckConfig(const ModelConfig& c) {
  struct {
    const char* name;
    uint32_t v;
  } dims[] = {{"dim", c.dim},         {"n_layers", c.n_layers}, {"n_heads", c.n_heads},
              {"n_kv_heads", c.n_kv_heads}, {"head_dim", c.head_dim}, {"ffn_dim", c.ffn_dim},
              {"vocab_size", c.vocab_size}};
  for (const auto& d : dims)
    if (d.v == 0 || d.v > kMaxDim) return StatusError(StatusCode::kFormat, "config: bad %s %u", d.name, d.v);
  if (c.n_heads % c.n_kv_heads != 0)
    return StatusError(StatusCode::kFormat, "config: n_heads %u not a multiple of n_kv_heads %u", c.n_heads,
                       c.n_kv_heads);
  if (c.head_dim % 2 != 0 || c.rotary_dim % 2 != 0 || c.rotary_dim > c.head_dim)
    return Status(StatusCode::kFormat, "config: head_dim and rotary_dim must be even, rotary_dim <= head_dim");
  if (static_cast<uint64_t>(c.n_heads) * c.head_dim > kMaxDim)
    return Status(StatusCode::kFormat, "config: n_heads * head_dim too large");
  if (!c.sliding_window.empty() && c.sliding_window.size() != c.n_layers)
    return Status(StatusCode::kFormat, "config: sliding_window needs one entry per layer");
  for (uint32_t w : c.sliding_window)  // 0 = full attention; a window holds at least 2 positions
    if (w == 1) return Status(StatusCode::kFormat, "config: a sliding window of 1 position");
  if (!(c.norm_eps >= 0.0f && c.norm_eps < 1.0f) || !(c.rope_theta > 0.0f && c.rope_theta < 1e30f))
    return Status(StatusCode::kFormat, "config: bad norm_eps or rope_theta");
  if (!(c.rope_local_theta >= 0.0f && c.rope_local_theta < 1e30f))
    return Status(StatusCode::kFormat, "config: bad rope local_theta");
  const size_t pairs = (c.rotary_dim ? c.rotary_dim : c.head_dim) / 2;
  for (const std::pmr::vector<float>* f : {&c.rope_freq_factors, &c.rope_long_freq_factors}) {
    if (!f->empty() && f->size() != pairs)
      return StatusError(StatusCode::kFormat, "config: %zu RoPE frequency factors for %zu frequencies", f->size(), pairs);
    for (float v : *f)
      if (!(v > 0.0f && v < 1e30f)) return Status(StatusCode::kFormat, "config: bad RoPE frequency factor");
  }
  if (c.rope_scaling == RopeScaling::LongRope &&
      (c.rope_freq_factors.empty() || c.rope_long_freq_factors.empty() || c.rope_original_context == 0))
    return Status(StatusCode::kFormat, "config: LongRope needs short and long factors and original_context");
  if (c.rope_scaling != RopeScaling::LongRope && !c.rope_long_freq_factors.empty())
    return Status(StatusCode::kFormat, "config: long RoPE factors without LongRope scaling");
  if ((c.rope_scaling == RopeScaling::Linear || c.rope_scaling == RopeScaling::Llama3) &&
      !(c.rope_factor > 0.0f && c.rope_factor < 1e30f))
    return Status(StatusCode::kFormat, "config: bad RoPE scaling factor");
  if (c.rope_scaling == RopeScaling::Llama3 &&
      ((c.rope_original_context == 0 && c.context_length == 0) || !(c.rope_low_freq_factor > 0.0f) ||
       !(c.rope_high_freq_factor > c.rope_low_freq_factor) || !(c.rope_high_freq_factor < 1e30f)))
    return Status(StatusCode::kFormat, "config: bad llama3 RoPE scaling parameters");
  if (!(c.rope_attn_factor > 0.0f && c.rope_attn_factor < 1e6f))
    return Status(StatusCode::kFormat, "config: bad RoPE attn_factor");
  if (!(c.attn_softcap >= 0.0f && c.attn_softcap < 1e6f) || !(c.final_softcap >= 0.0f && c.final_softcap < 1e6f))
    return Status(StatusCode::kFormat, "config: bad softcap");
  if (!c.no_rope.empty() && c.no_rope.size() != c.n_layers)
    return Status(StatusCode::kFormat, "config: no_rope needs one entry per layer");
  if (!(c.embedding_scale > 0.0f && c.embedding_scale < 1e6f) || !(c.attn_scale >= 0.0f && c.attn_scale < 1e6f))
    return Status(StatusCode::kFormat, "config: bad embedding_scale or attn_scale");
  if (static_cast<int>(c.arch) > static_cast<int>(Arch::MAX) ||
      static_cast<int>(c.rope_style) > static_cast<int>(RopeStyle::MAX) ||
      static_cast<int>(c.rope_scaling) > static_cast<int>(RopeScaling::MAX) ||
      static_cast<int>(c.ffn_activation) > static_cast<int>(Activation::MAX))
    return Status(StatusCode::kFormat, "config: enum value out of range");
  const int64_t v = c.vocab_size;
  for (int32_t id : {c.bos_id, c.eos_id, c.pad_id})
    if (id < -1 || id >= v) return StatusError(StatusCode::kFormat, "config: token id %d outside vocab", id);
  for (int32_t id : c.eot_ids)
    if (id < 0 || id >= v) return StatusError(StatusCode::kFormat, "config: eot id %d outside vocab", id);
  return Status::Ok();
}

Status CheckLayerCount(const ModelConfig& c, uint64_t n_tensors) {
  if (c.n_layers > n_tensors)
    return StatusError(StatusCode::kFormat, "config: %u layers, but only %llu tensors", c.n_layers,
                       (unsigned long long)n_tensors);
  return Status::Ok();
}

Status CheckTokenizer(const TokenizerView& t) {
  const size_t n = t.n_pieces();
  if (n == 0) return Status(StatusCode::kFormat, "tokenizer has no pieces");
  if (n > 0x7FFFFFFF) return Status(StatusCode::kFormat, "tokenizer has too many pieces");
  if (t.n_scores() != 0 && t.n_scores() != n)
    return StatusError(StatusCode::kFormat, "tokenizer: %zu scores for %zu pieces", t.n_scores(), n);
  if (t.n_kinds() != 0 && t.n_kinds() != n)
    return StatusError(StatusCode::kFormat, "tokenizer: %zu kinds for %zu pieces", t.n_kinds(), n);
  const struct {
    const char* what;
    int32_t id;
  } ids[] = {{"unknown-token", t.unk_id}, {"BOS", t.bos_id}, {"EOS", t.eos_id}};
  for (const auto& i : ids)
    if (i.id < -1 || i.id >= static_cast<int64_t>(n))
      return StatusError(StatusCode::kFormat, "tokenizer: %s id %d out of range [0, %zu)", i.what, i.id, n);
  if (t.type == fb::TokenizerType::SentencePieceBPE) {
    for (size_t i = 0; i < t.n_kinds(); ++i) {
      const std::string_view p = t.piece(i);
      auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
      if (t.kind(i) == fb::TokenKind::Byte &&
          !(p.size() == 6 && p.compare(0, 3, "<0x") == 0 && hex(p[3]) && hex(p[4]) && p[5] == '>'))
        return StatusError(StatusCode::kFormat, "tokenizer: byte token %zu is not <0xNN>", i);
    }
  } else if (t.type == fb::TokenizerType::ByteLevelBPE) {
    PreTokenizer kind;
    if (!LookupPreTokenizer(t.pre_tokenizer, &kind))
      return StatusError(StatusCode::kUnsupported, "byte-level BPE pre-tokenizer '%.*s' is not supported (%s)",
                         static_cast<int>(t.pre_tokenizer.size()), t.pre_tokenizer.data(), kPreTokenizerNames);
    for (size_t r = 0; r < t.n_merges(); ++r) {
      const std::string_view m = t.merge(r);
      if (m.find(' ', 1) == std::string_view::npos)
        return StatusError(StatusCode::kFormat, "tokenizer: merge %zu '%.*s' is not 'left right'", r,
                           static_cast<int>(m.size()), m.data());
    }
  } else {
    return StatusError(StatusCode::kUnsupported, "tokenizer type %d is not supported", static_cast<int>(t.type));
  }
  return Status::Ok();
}

Status ForEachExpectedTensor(const ModelConfig& c, ExpectedTensorFn fn, void* ctx) {
  const uint64_t dim = c.dim, q = uint64_t{c.n_heads} * c.head_dim, kv = uint64_t{c.n_kv_heads} * c.head_dim;
  const uint64_t vd[2] = {c.vocab_size, dim};
  QLITE_RETURN_IF_ERROR(fn(ctx, "token_embd", vd, 2));
  QLITE_RETURN_IF_ERROR(fn(ctx, "output_norm", &dim, 1));
  if (!c.tied_embeddings) QLITE_RETURN_IF_ERROR(fn(ctx, "output", vd, 2));
  char name[64];  // "blk.<layer>." and the longest suffix
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const int prefix = std::snprintf(name, sizeof(name), "blk.%u.", l);
    auto tensor = [&](const char* suffix, std::initializer_list<uint64_t> shape) {
      const int n = std::snprintf(name + prefix, sizeof(name) - prefix, "%s", suffix);
      return fn(ctx, std::string_view(name, size_t(prefix + n)), shape.begin(), shape.size());
    };
    QLITE_RETURN_IF_ERROR(tensor("attn_norm", {dim}));
    QLITE_RETURN_IF_ERROR(tensor("ffn_norm", {dim}));
    QLITE_RETURN_IF_ERROR(tensor("attn_q", {q, dim}));
    QLITE_RETURN_IF_ERROR(tensor("attn_k", {kv, dim}));
    QLITE_RETURN_IF_ERROR(tensor("attn_v", {kv, dim}));
    QLITE_RETURN_IF_ERROR(tensor("attn_output", {dim, q}));
    QLITE_RETURN_IF_ERROR(tensor("ffn_gate", {c.ffn_dim, dim}));
    QLITE_RETURN_IF_ERROR(tensor("ffn_up", {c.ffn_dim, dim}));
    QLITE_RETURN_IF_ERROR(tensor("ffn_down", {dim, c.ffn_dim}));
    if (c.qkv_bias) {
      QLITE_RETURN_IF_ERROR(tensor("attn_q.bias", {q}));
      QLITE_RETURN_IF_ERROR(tensor("attn_k.bias", {kv}));
      QLITE_RETURN_IF_ERROR(tensor("attn_v.bias", {kv}));
    }
    if (c.qk_norm) {
      QLITE_RETURN_IF_ERROR(tensor("attn_q_norm", {c.head_dim}));
      QLITE_RETURN_IF_ERROR(tensor("attn_k_norm", {c.head_dim}));
    }
    if (c.post_norms) {
      QLITE_RETURN_IF_ERROR(tensor("post_attention_norm", {dim}));
      QLITE_RETURN_IF_ERROR(tensor("post_ffw_norm", {dim}));
    }
  }
  return Status::Ok();
}

std::vector<ExpectedTensor> ExpectedTensors(const ModelConfig& c) {
  std::vector<ExpectedTensor> t;
  (void)ForEachExpectedTensor(
      c,
      [](void* out, std::string_view name, const uint64_t* shape, size_t rank) {
        static_cast<std::vector<ExpectedTensor>*>(out)->push_back({std::string(name), {shape, shape + rank}});
        return Status::Ok();
      },
      &t);
  return t;
}

}  // namespace qlite
