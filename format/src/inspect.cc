#include "qlite/format/inspect.h"

#include <cinttypes>
#include <cmath>
#include <map>

namespace qlite {
namespace {

std::string ShapeText(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string Bytes(uint64_t n) {
  char buf[32];
  if (n >= (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", n / 1073741824.0);
  else if (n >= (uint64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", n / 1048576.0);
  else if (n >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  else std::snprintf(buf, sizeof buf, "%" PRIu64 " B", n);
  return buf;
}

// Runs of consecutive layers with the same attention span and RoPE base, e.g.
// "0-4 local (window 512, rope 10000), 5 global (rope 1e+06)"; "no rope" for layers
// without RoPE (theta 0 below).
std::string LayerPlan(const ModelConfig& c) {
  auto window = [&](uint32_t l) { return c.sliding_window.empty() ? 0u : c.sliding_window[l]; };
  auto theta = [&](uint32_t l) {
    if (!c.no_rope.empty() && c.no_rope[l]) return 0.0f;
    return window(l) && c.rope_local_theta > 0 ? c.rope_local_theta : c.rope_theta;
  };
  std::string plan;
  for (uint32_t first = 0, l = 1; first < c.n_layers; ++l) {
    if (l < c.n_layers && window(l) == window(first) && theta(l) == theta(first)) continue;
    char buf[96], rope[32] = "no rope";
    const std::string range = l - 1 == first ? std::to_string(first) : std::to_string(first) + "-" + std::to_string(l - 1);
    if (theta(first) > 0) std::snprintf(rope, sizeof rope, "rope %g", theta(first));
    if (window(first)) std::snprintf(buf, sizeof buf, "local (window %u, %s)", window(first), rope);
    else std::snprintf(buf, sizeof buf, "global (%s)", rope);
    plan += (plan.empty() ? "" : ", ") + range + " " + buf;
    first = l;
  }
  return plan;
}

}  // namespace

void PrintModelInfo(const ModelFile& f, const InspectOptions& options, std::FILE* out) {
  const QlmHeader& h = f.header();
  std::fprintf(out, "file: %s, version %u, meta %s, data %s at offset %" PRIu64 " (segment align %u, tensor align %u)\n",
               Bytes(h.file_size).c_str(), h.version, Bytes(h.meta_size).c_str(), Bytes(h.data_size).c_str(),
               h.data_offset, h.segment_alignment, h.tensor_alignment);
  const ModelConfig& c = f.config();
  std::fprintf(out, "config: arch %s, dim %u, layers %u, heads %u (kv %u, head_dim %u), ffn %u, vocab %u, context %u\n",
               ArchName(c.arch), c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim,
               c.vocab_size, c.context_length);
  std::fprintf(out, "        norm_eps %g, rope theta %g style %s scaling %s (factor %g), rotary_dim %u, tied %s, qkv_bias %s\n",
               c.norm_eps, c.rope_theta, fb::EnumNameRopeStyle(static_cast<fb::RopeStyle>(c.rope_style)),
               fb::EnumNameRopeScaling(static_cast<fb::RopeScaling>(c.rope_scaling)),
               c.rope_factor, c.rotary_dim, c.tied_embeddings ? "yes" : "no", c.qkv_bias ? "yes" : "no");
  std::fprintf(out, "        qk_norm %s, post_norms %s, ffn %s, embedding_scale %g, attn_scale %g\n",
               c.qk_norm ? "yes" : "no", c.post_norms ? "yes" : "no",
               c.ffn_activation == Activation::GeluTanh ? "GeGLU (tanh GELU)" : "SwiGLU",
               c.embedding_scale, c.attn_scale > 0 ? c.attn_scale : 1.0 / std::sqrt(double(c.head_dim ? c.head_dim : 1)));
  if (c.attn_softcap > 0 || c.final_softcap > 0)
    std::fprintf(out, "        softcap attention %g, final %g\n", c.attn_softcap, c.final_softcap);
  if (!c.rope_freq_factors.empty() || c.rope_attn_factor != 1.0f)
    std::fprintf(out, "        rope frequency factors %zu%s, original context %u, attn_factor %g\n",
                 c.rope_freq_factors.size(), c.rope_long_freq_factors.empty() ? "" : " (short and long)",
                 c.rope_original_context, c.rope_attn_factor);
  std::fprintf(out, "        bos %d, eos %d, pad %d, eot ids %zu\n", c.bos_id, c.eos_id, c.pad_id, c.eot_ids.size());
  std::fprintf(out, "layers: %s\n", LayerPlan(c).c_str());
  if (f.has_tokenizer()) {
    const TokenizerData& t = f.tokenizer();
    std::fprintf(out, "tokenizer: %s, %zu pieces, %zu scores, %zu merges, add_bos %d add_eos %d, pre %s, chat template %s\n",
                 fb::EnumNameTokenizerType(t.type), t.pieces.size(), t.scores.size(), t.merges.size(), t.add_bos,
                 t.add_eos, t.pre_tokenizer.empty() ? "-" : t.pre_tokenizer.c_str(),
                 t.chat_template.empty() ? "no" : (std::to_string(t.chat_template.size()) + " chars").c_str());
  } else {
    std::fprintf(out, "tokenizer: none\n");
  }
  if (const fb::Provenance* p = f.meta()->provenance()) {
    auto str = [](const flatbuffers::String* s) { return s ? s->c_str() : ""; };
    std::fprintf(out, "provenance: source %s (%s), %s, quantization \"%s\", created %" PRIu64 "\n", str(p->source()),
                 str(p->source_format()), str(p->converter_version()), str(p->quantization()), p->created_unix());
    if (p->adapters())
      for (const fb::Adapter* a : *p->adapters())
        std::fprintf(out, "  adapter %s: scale %g rank %u alpha %g fingerprint %016" PRIx64 "\n", str(a->name()),
                     a->scale(), a->rank(), a->alpha(), a->fingerprint());
  }
  std::fprintf(out, "fingerprint: %016" PRIx64 "\n", f.fingerprint());

  if (options.tensors) {
    std::fprintf(out, "%-24s %-14s %-5s %-22s %-14s %12s\n", "tensor", "shape", "dtype", "quant", "layout", "bytes");
    for (const TensorRef& t : f.tensors())
      std::fprintf(out, "%-24s %-14s %-5s %-22s %-14s %12" PRIu64 "\n", std::string(t.name).c_str(), ShapeText(t.shape.ToVector()).c_str(),
                   fb::EnumNameDType(t.dtype), QuantText(t.view.spec).c_str(), fb::EnumNameLayout(t.view.spec.layout),
                   t.data_bytes);
  }
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_type;  // params, bytes
  uint64_t params = 0, bytes = 0;
  for (const TensorRef& t : f.tensors()) {
    auto& e = by_type[fb::EnumNameDType(t.dtype)];
    e.first += t.elements();
    e.second += t.data_bytes;
    params += t.elements();
    bytes += t.data_bytes;
  }
  std::fprintf(out, "totals: %zu tensors, %" PRIu64 " params, %s of tensor data, %.3f bytes/param (%.2f bits), file %.3f bytes/param\n",
               f.tensors().size(), params, Bytes(bytes).c_str(), params ? double(bytes) / params : 0.0,
               params ? 8.0 * bytes / params : 0.0, params ? double(h.file_size) / params : 0.0);
  for (const auto& [name, e] : by_type)
    std::fprintf(out, "  %-5s %12" PRIu64 " params %12s  %.3f bytes/param\n", name.c_str(), e.first,
                 Bytes(e.second).c_str(), e.first ? double(e.second) / e.first : 0.0);
}

Status InspectFile(const std::string& path, const InspectOptions& options, std::FILE* out) {
  ModelFile f;
  OpenOptions o;
  o.verify_checksums = options.verify;
  QLITE_RETURN_IF_ERROR(f.Open(path, o));
  PrintModelInfo(f, options, out);
  if (options.verify) std::fprintf(out, "verify: header, metadata, tensor layout and %zu checksums OK\n", f.tensors().size());
  return Status::Ok();
}

}  // namespace qlite
