// Hugging Face folder: config.json + model.safetensors (or shards listed in
// model.safetensors.index.json) + tokenizer.json / tokenizer.model.
// HF's Llama conversion permutes q/k rows into rotate-half order; they are kept as they
// are and the model is marked rope_style RotateHalf (the runtime supports both styles).
// Phi-3's fused qkv_proj and gate_up_proj are split into qlite's separate tensors by rows.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "import_common.h"
#include "qlite/format/json.h"
#include "qlite/format/import.h"
#include "safetensors.h"

namespace qlite {
namespace ii = import_internal;

namespace {

Status ReadJson(const std::string& path, json::Value* v) {
  std::string text;
  QLITE_RETURN_IF_ERROR(ii::ReadWholeFile(path, ii::kMaxMetadataBytes, &text));
  Status s = json::Parse(text, v);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  return Status::Ok();
}

bool IsGemma(Arch arch) { return arch == Arch::Gemma2 || arch == Arch::Gemma3; }

// HF parameter name -> qlite name; "" for names to drop, "?" for unknown ones. Gemma's
// post_attention_layernorm is the attention's post-norm (Llama's is the pre-FFN norm).
// Phi-3's fused tensors map to attn_qkv / ffn_gate_up, split later.
std::string MapName(const std::string& hf, Arch arch) {
  static const std::map<std::string, std::string> kLayer = {
      {"input_layernorm.weight", "attn_norm"},        {"post_attention_layernorm.weight", "ffn_norm"},
      {"self_attn.q_proj.weight", "attn_q"},          {"self_attn.k_proj.weight", "attn_k"},
      {"self_attn.v_proj.weight", "attn_v"},          {"self_attn.o_proj.weight", "attn_output"},
      {"self_attn.q_proj.bias", "attn_q.bias"},       {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},       {"mlp.gate_proj.weight", "ffn_gate"},
      {"mlp.up_proj.weight", "ffn_up"},               {"mlp.down_proj.weight", "ffn_down"},
      {"self_attn.q_norm.weight", "attn_q_norm"},     {"self_attn.k_norm.weight", "attn_k_norm"},
      {"self_attn.qkv_proj.weight", "attn_qkv"},     {"mlp.gate_up_proj.weight", "ffn_gate_up"},
      {"self_attn.rotary_emb.inv_freq", ""}};
  static const std::map<std::string, std::string> kGemmaLayer = {
      {"post_attention_layernorm.weight", "post_attention_norm"},
      {"pre_feedforward_layernorm.weight", "ffn_norm"},
      {"post_feedforward_layernorm.weight", "post_ffw_norm"}};
  if (hf == "model.embed_tokens.weight") return "token_embd";
  if (hf == "model.norm.weight") return "output_norm";
  if (hf == "lm_head.weight") return "output";
  const std::string prefix = "model.layers.";
  if (hf.compare(0, prefix.size(), prefix) == 0) {
    size_t dot = hf.find('.', prefix.size());
    if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 6) return "?";
    const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
    if (layer.find_first_not_of("0123456789") != std::string::npos) return "?";
    const std::string part = hf.substr(dot + 1);
    const auto& table = IsGemma(arch) && kGemmaLayer.count(part) ? kGemmaLayer : kLayer;
    auto it = table.find(part);
    if (it == table.end()) return "?";
    return it->second.empty() ? "" : "blk." + std::to_string(std::stoul(layer)) + "." + it->second;
  }
  return "?";
}

// A JSON array of finite numbers (RoPE factors), at most kMaxFactors of them.
Status GetFloats(const json::Value& obj, const char* key, const std::string& path, std::pmr::vector<float>* out) {
  constexpr size_t kMaxFactors = 1 << 16;
  const json::Value* v = obj.Find(key);
  if (!v || !v->IsArray() || v->array.empty() || v->array.size() > kMaxFactors)
    return StatusError(StatusCode::kFormat, "%s: %s should be a list of numbers", path.c_str(), key);
  out->clear();
  for (const json::Value& e : v->array) {
    if (!e.IsNumber() || !std::isfinite(e.number))
      return StatusError(StatusCode::kFormat, "%s: %s should be a list of numbers", path.c_str(), key);
    out->push_back(float(e.number));
  }
  return Status::Ok();
}

// Phi-3's LongRoPE: short and long per-frequency factors, the original context from the
// config's top level (which transformers prefers) or the rope object, and the attention
// factor given or derived as transformers does: sqrt(1 + ln(f) / ln(original)) with f the
// rope object's factor or max_position_embeddings / original.
Status ParseLongRope(const json::Value& rs, const json::Value& cfg, const std::string& path, ModelConfig* c) {
  c->rope_scaling = RopeScaling::LongRope;
  QLITE_RETURN_IF_ERROR(GetFloats(rs, "short_factor", path, &c->rope_freq_factors));
  QLITE_RETURN_IF_ERROR(GetFloats(rs, "long_factor", path, &c->rope_long_freq_factors));
  uint32_t original = c->context_length;
  QLITE_RETURN_IF_ERROR(json::GetUint(rs, "original_max_position_embeddings", &original));
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "original_max_position_embeddings", &original));
  if (original < 2) return StatusError(StatusCode::kFormat, "%s: bad original_max_position_embeddings", path.c_str());
  c->rope_original_context = original;
  double factor = double(c->context_length) / original;
  if (rs.Find("factor") && !rs.Find("factor")->IsNull()) factor = c->rope_factor;
  c->rope_factor = 1.0f;  // LongRoPE's scaling is the factors; factor only sets the attention factor
  float attention = factor <= 1.0 ? 1.0f : float(std::sqrt(1.0 + std::log(factor) / std::log(double(original))));
  QLITE_RETURN_IF_ERROR(json::GetFloat(rs, "attention_factor", &attention));
  if (!(attention > 0.0f)) return StatusError(StatusCode::kFormat, "%s: bad attention_factor", path.c_str());
  c->rope_attn_factor = attention;
  return Status::Ok();
}

// RoPE scaling of one rope object ("type"/"rope_type" and its factors: config.json's
// rope_scaling, or transformers 5's rope_parameters).
Status ParseRopeScaling(const json::Value& rs, const json::Value& cfg, const std::string& path, ModelConfig* c) {
  std::string type;
  QLITE_RETURN_IF_ERROR(json::GetString(rs, "type", &type));
  QLITE_RETURN_IF_ERROR(json::GetString(rs, "rope_type", &type));
  QLITE_RETURN_IF_ERROR(json::GetFloat(rs, "factor", &c->rope_factor));
  // transformers reads Phi-3's old "su" and "yarn" names as longrope.
  if (type == "longrope" || (c->arch == Arch::Phi3 && (type == "su" || type == "yarn"))) {
    QLITE_RETURN_IF_ERROR(ParseLongRope(rs, cfg, path, c));
  } else if (type == "linear") {
    c->rope_scaling = RopeScaling::Linear;
  } else if (type == "llama3") {
    c->rope_scaling = RopeScaling::Llama3;
    QLITE_RETURN_IF_ERROR(json::GetFloat(rs, "low_freq_factor", &c->rope_low_freq_factor));
    QLITE_RETURN_IF_ERROR(json::GetFloat(rs, "high_freq_factor", &c->rope_high_freq_factor));
    QLITE_RETURN_IF_ERROR(json::GetUint(rs, "original_max_position_embeddings", &c->rope_original_context));
  } else if (type != "default") {
    return StatusError(StatusCode::kUnsupported, "%s: unsupported rope_scaling type %s", path.c_str(), type.c_str());
  }
  return Status::Ok();
}

// RoPE base, scaling and rotary part. Older configs: rope_theta, rope_scaling and
// partial_rotary_factor (Gemma 3 adds rope_local_base_freq); transformers 5: rope_parameters
// {rope_type, rope_theta, partial_rotary_factor, ...}, for Gemma 3 one per layer type
// (full_attention, sliding_attention).
Status ParseRotaryPart(const json::Value& obj, const std::string& path, ModelConfig* c) {
  float part = 1.0f;
  QLITE_RETURN_IF_ERROR(json::GetFloat(obj, "partial_rotary_factor", &part));
  if (!(part > 0.0f && part <= 1.0f)) return StatusError(StatusCode::kFormat, "%s: bad partial_rotary_factor", path.c_str());
  const uint32_t rot = uint32_t(double(c->head_dim) * part);  // transformers truncates too
  c->rotary_dim = rot == c->head_dim ? 0 : rot;
  return Status::Ok();
}

Status ParseRope(const json::Value& cfg, const std::string& path, ModelConfig* c) {
  const bool gemma3 = c->arch == Arch::Gemma3;
  if (gemma3) c->rope_theta = 1e6f, c->rope_local_theta = 1e4f;  // transformers' defaults
  QLITE_RETURN_IF_ERROR(ParseRotaryPart(cfg, path, c));
  const json::Value* params = cfg.Find("rope_parameters");
  if (params && params->IsObject() && params->Find("partial_rotary_factor"))
    QLITE_RETURN_IF_ERROR(ParseRotaryPart(*params, path, c));
  if (!params || !params->IsObject()) {
    QLITE_RETURN_IF_ERROR(json::GetFloat(cfg, "rope_theta", &c->rope_theta));
    if (gemma3) QLITE_RETURN_IF_ERROR(json::GetFloat(cfg, "rope_local_base_freq", &c->rope_local_theta));
    if (const json::Value* rs = cfg.Find("rope_scaling"); rs && rs->IsObject())
      QLITE_RETURN_IF_ERROR(ParseRopeScaling(*rs, cfg, path, c));
    return Status::Ok();
  }
  const json::Value* global = params;
  if (const json::Value* full = params->Find("full_attention"); full && full->IsObject()) {
    global = full;
    if (const json::Value* local = params->Find("sliding_attention"); local && local->IsObject()) {
      std::string type = "default";
      QLITE_RETURN_IF_ERROR(json::GetString(*local, "rope_type", &type));
      if (type != "default")
        return StatusError(StatusCode::kUnsupported, "%s: unsupported sliding_attention rope_type %s", path.c_str(),
                           type.c_str());
      QLITE_RETURN_IF_ERROR(json::GetFloat(*local, "rope_theta", &c->rope_local_theta));
    }
  }
  QLITE_RETURN_IF_ERROR(json::GetFloat(*global, "rope_theta", &c->rope_theta));
  return ParseRopeScaling(*global, cfg, path, c);
}

// Per-layer sliding windows. Mistral and Phi-3 window every layer; the others follow
// layer_types (transformers 5) when given, else Qwen2/Qwen3 window only with
// use_sliding_window, from layer max_window_layers on, and Gemma 3 (Gemma 2) every layer
// but each sliding_window_pattern-th (6; 2 for Gemma 2).
Status ParseWindows(const json::Value& cfg, const std::string& path, ModelConfig* c) {
  if (c->n_layers == 0 || c->n_layers > 4096) return Status::Ok();  // CheckConfig reports it
  uint32_t window = IsGemma(c->arch) ? 4096 : 0;  // transformers' Gemma default
  if (const json::Value* w = cfg.Find("sliding_window"); w && !w->IsNull())
    QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "sliding_window", &window));
  std::vector<bool> sliding(c->n_layers, false);
  const json::Value* types = cfg.Find("layer_types");  // transformers' Mistral ignores it
  if (types && types->IsArray() && c->arch != Arch::Mistral) {
    if (types->array.size() != c->n_layers)
      return StatusError(StatusCode::kFormat, "%s: layer_types has %zu entries for %u layers", path.c_str(),
                         types->array.size(), c->n_layers);
    for (uint32_t l = 0; l < c->n_layers; ++l) {
      const json::Value& t = types->array[l];
      if (!t.IsString() || (t.string != "sliding_attention" && t.string != "full_attention"))
        return StatusError(StatusCode::kUnsupported, "%s: unsupported layer type %s", path.c_str(),
                           t.IsString() ? t.string.c_str() : "(not a string)");
      sliding[l] = t.string == "sliding_attention";
    }
  } else if (IsGemma(c->arch)) {
    uint32_t pattern = c->arch == Arch::Gemma3 ? 6 : 2;
    QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "sliding_window_pattern", &pattern));
    if (pattern == 0) return StatusError(StatusCode::kFormat, "%s: sliding_window_pattern is 0", path.c_str());
    for (uint32_t l = 0; l < c->n_layers; ++l) sliding[l] = (l + 1) % pattern != 0;
  } else {
    bool use_window = c->arch == Arch::Mistral || c->arch == Arch::Phi3;
    uint32_t first_window_layer = 0;
    if (c->arch == Arch::Qwen2 || c->arch == Arch::Qwen3) {
      QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "use_sliding_window", &use_window));
      QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "max_window_layers", &first_window_layer));
    }
    for (uint32_t l = first_window_layer; use_window && l < c->n_layers; ++l) sliding[l] = true;
  }
  if (window == 0 || std::find(sliding.begin(), sliding.end(), true) == sliding.end()) return Status::Ok();
  c->sliding_window.assign(c->n_layers, 0);
  for (uint32_t l = 0; l < c->n_layers; ++l) c->sliding_window[l] = sliding[l] ? window : 0;
  return Status::Ok();
}

// Gemma 2 and 3's settings beyond the Llama layer; the ones qlite does not run are refused.
// Gemma 2 soft-caps attention scores (50) and logits (30) unless the config says null.
Status ParseGemma(const json::Value& cfg, const std::string& path, ModelConfig* c) {
  c->qk_norm = c->arch == Arch::Gemma3;
  c->post_norms = true;
  c->embedding_scale = float(std::sqrt(double(c->dim)));
  float query_scalar = 256;
  QLITE_RETURN_IF_ERROR(json::GetFloat(cfg, "query_pre_attn_scalar", &query_scalar));
  if (!(query_scalar > 0)) return StatusError(StatusCode::kFormat, "%s: bad query_pre_attn_scalar", path.c_str());
  c->attn_scale = float(1.0 / std::sqrt(double(query_scalar)));
  std::string act = "gelu_pytorch_tanh";
  QLITE_RETURN_IF_ERROR(json::GetString(cfg, "hidden_activation", &act));
  if (act != "gelu_pytorch_tanh")
    return StatusError(StatusCode::kUnsupported, "%s: unsupported hidden_activation %s", path.c_str(), act.c_str());
  c->ffn_activation = Activation::GeluTanh;
  if (c->arch == Arch::Gemma2) c->final_softcap = 30.0f, c->attn_softcap = 50.0f;  // transformers' defaults
  for (auto [key, cap] : {std::make_pair("final_logit_softcapping", &c->final_softcap),
                          std::make_pair("attn_logit_softcapping", &c->attn_softcap)}) {
    const json::Value* v = cfg.Find(key);
    if (v && v->IsNull()) *cap = 0.0f;
    QLITE_RETURN_IF_ERROR(json::GetFloat(cfg, key, cap));
    if (!(*cap >= 0.0f)) return StatusError(StatusCode::kFormat, "%s: bad %s", path.c_str(), key);
  }
  bool bidirectional = false;
  QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "use_bidirectional_attention", &bidirectional));
  if (bidirectional) return StatusError(StatusCode::kUnsupported, "%s: bidirectional attention is not supported", path.c_str());
  return Status::Ok();
}

// SmolLM3's layers without RoPE: no_rope_layers lists 1 for a layer that rotates, 0 for one
// that does not; without it every no_rope_layer_interval-th layer (4) has no RoPE.
Status ParseNoRope(const json::Value& cfg, const std::string& path, ModelConfig* c) {
  if (c->n_layers == 0 || c->n_layers > 4096) return Status::Ok();  // CheckConfig reports it
  c->no_rope.assign(c->n_layers, false);
  if (const json::Value* list = cfg.Find("no_rope_layers"); list && !list->IsNull()) {
    if (!list->IsArray() || list->array.size() != c->n_layers)
      return StatusError(StatusCode::kFormat, "%s: no_rope_layers needs one entry per layer", path.c_str());
    for (uint32_t l = 0; l < c->n_layers; ++l) {
      const json::Value& e = list->array[l];
      if (!e.is_integer || (e.integer != 0 && e.integer != 1))
        return StatusError(StatusCode::kFormat, "%s: no_rope_layers entries must be 0 or 1", path.c_str());
      c->no_rope[l] = e.integer == 0;
    }
  } else {
    uint32_t interval = 4;
    QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "no_rope_layer_interval", &interval));
    if (interval == 0) return StatusError(StatusCode::kFormat, "%s: no_rope_layer_interval is 0", path.c_str());
    for (uint32_t l = 0; l < c->n_layers; ++l) c->no_rope[l] = (l + 1) % interval == 0;
  }
  if (std::find(c->no_rope.begin(), c->no_rope.end(), true) == c->no_rope.end()) c->no_rope.clear();
  return Status::Ok();
}

Status ParseConfig(const std::string& path, ModelConfig* c, bool* tie_known) {
  json::Value cfg;
  QLITE_RETURN_IF_ERROR(ReadJson(path, &cfg));
  const json::Value* archs = cfg.Find("architectures");
  std::string arch = archs && archs->IsArray() && !archs->array.empty() && archs->array[0].IsString()
                         ? archs->array[0].string
                         : "";
  if (arch == "LlamaForCausalLM") c->arch = Arch::Llama;
  else if (arch == "MistralForCausalLM") c->arch = Arch::Mistral;
  else if (arch == "Qwen2ForCausalLM") c->arch = Arch::Qwen2;
  else if (arch == "Qwen3ForCausalLM") c->arch = Arch::Qwen3;
  else if (arch == "Gemma3ForCausalLM") c->arch = Arch::Gemma3;
  else if (arch == "Gemma2ForCausalLM") c->arch = Arch::Gemma2;
  else if (arch == "Phi3ForCausalLM") c->arch = Arch::Phi3;
  else if (arch == "SmolLM3ForCausalLM") c->arch = Arch::SmolLM3;
  else return StatusError(StatusCode::kUnsupported, "%s: unsupported architecture %s", path.c_str(), arch.c_str());
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "hidden_size", &c->dim));
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "intermediate_size", &c->ffn_dim));
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "num_hidden_layers", &c->n_layers));
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "num_attention_heads", &c->n_heads));
  c->n_kv_heads = c->n_heads;
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "num_key_value_heads", &c->n_kv_heads));
  if (c->n_heads == 0) return StatusError(StatusCode::kFormat, "%s: num_attention_heads missing", path.c_str());
  c->head_dim = c->dim / c->n_heads;
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "head_dim", &c->head_dim));
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "vocab_size", &c->vocab_size));
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "max_position_embeddings", &c->context_length));
  QLITE_RETURN_IF_ERROR(json::GetFloat(cfg, "rms_norm_eps", &c->norm_eps));
  const bool gemma = IsGemma(c->arch);
  c->tied_embeddings = gemma;  // Gemma2Config's and Gemma3TextConfig's default
  *tie_known = gemma || (cfg.Find("tie_word_embeddings") && cfg.Find("tie_word_embeddings")->IsBool());
  QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "tie_word_embeddings", &c->tied_embeddings));
  c->rope_style = RopeStyle::RotateHalf;
  c->qkv_bias = c->arch == Arch::Qwen2;
  // attention_bias also puts a bias on o_proj: such a model fails on that tensor.
  if (c->arch != Arch::Qwen2) QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "attention_bias", &c->qkv_bias));
  c->qk_norm = c->arch == Arch::Qwen3;
  if (gemma) {
    QLITE_RETURN_IF_ERROR(ParseGemma(cfg, path, c));
  } else {
    std::string act = "silu";
    QLITE_RETURN_IF_ERROR(json::GetString(cfg, "hidden_act", &act));
    if (act != "silu") return StatusError(StatusCode::kUnsupported, "%s: unsupported hidden_act %s", path.c_str(), act.c_str());
  }
  QLITE_RETURN_IF_ERROR(ParseRope(cfg, path, c));
  QLITE_RETURN_IF_ERROR(ParseWindows(cfg, path, c));
  if (c->arch == Arch::SmolLM3) QLITE_RETURN_IF_ERROR(ParseNoRope(cfg, path, c));
  QLITE_RETURN_IF_ERROR(json::GetInt(cfg, "bos_token_id", &c->bos_id));
  QLITE_RETURN_IF_ERROR(json::GetInt(cfg, "pad_token_id", &c->pad_id));
  if (const json::Value* eos = cfg.Find("eos_token_id"); eos && eos->IsArray()) {  // [eos, eot, ...]
    for (const json::Value& e : eos->array) {
      if (!e.is_integer || e.integer < 0 || e.integer > INT32_MAX)
        return StatusError(StatusCode::kFormat, "%s: bad eos_token_id", path.c_str());
      if (c->eos_id < 0) c->eos_id = int32_t(e.integer);
      else c->eot_ids.push_back(int32_t(e.integer));
    }
  } else {
    QLITE_RETURN_IF_ERROR(json::GetInt(cfg, "eos_token_id", &c->eos_id));
  }
  return Status::Ok();
}

// Rows [first, first + rows) of a 2-D tensor: its own byte range of the file.
safetensors::Tensor RowSlice(const safetensors::Tensor& t, uint64_t first, uint64_t rows) {
  safetensors::Tensor s = t;
  const uint64_t row_bytes = t.n_bytes / t.shape[0];
  s.offset += first * row_bytes;
  s.n_bytes = rows * row_bytes;
  s.shape[0] = rows;
  return s;
}

// Phi-3's qkv_proj ([q; k; v] rows) and gate_up_proj ([gate; up] rows) become qlite's
// separate tensors, each reading its own rows.
Status SplitFusedTensors(const ModelConfig& c, std::map<std::string, std::pair<std::string, safetensors::Tensor>>* found) {
  const uint64_t q = uint64_t{c.n_heads} * c.head_dim, kv = uint64_t{c.n_kv_heads} * c.head_dim, ffn = c.ffn_dim;
  struct Fused {
    const char* name;
    std::vector<std::pair<const char*, uint64_t>> parts;
  };
  const Fused fused[] = {{"attn_qkv", {{"attn_q", q}, {"attn_k", kv}, {"attn_v", kv}}},
                         {"ffn_gate_up", {{"ffn_gate", ffn}, {"ffn_up", ffn}}}};
  for (auto it = found->begin(); it != found->end();) {
    const Fused* f = nullptr;
    for (const Fused& cand : fused)
      if (ii::EndsWith(it->first, std::string(".") + cand.name)) f = &cand;
    if (!f) {
      ++it;
      continue;
    }
    const std::string prefix = it->first.substr(0, it->first.size() - std::strlen(f->name));
    const std::string path = it->second.first;
    const safetensors::Tensor t = it->second.second;
    uint64_t total = 0;
    for (const auto& part : f->parts) total += part.second;
    if (t.shape.size() != 2 || t.shape[0] != total)
      return StatusError(StatusCode::kFormat, "%s: fused tensor %s should have %llu rows", path.c_str(),
                         t.name.c_str(), (unsigned long long)total);
    uint64_t first = 0;
    for (const auto& part : f->parts) {
      if (!found->emplace(prefix + part.first, std::make_pair(path, RowSlice(t, first, part.second))).second)
        return StatusError(StatusCode::kFormat, "%s: %s given both fused and separate", path.c_str(), part.first);
      first += part.second;
    }
    it = found->erase(it);
  }
  return Status::Ok();
}

}  // namespace

Status ImportHuggingFace(const std::string& dir, SourceModel* out) {
  if (!ii::IsDirectory(dir)) return StatusError(StatusCode::kIo, "%s is not a directory", dir.c_str());
  SourceModel m;
  m.source_path = dir;
  m.source_format = "hf";
  bool tie_known = false;
  QLITE_RETURN_IF_ERROR(ParseConfig(ii::JoinPath(dir, "config.json"), &m.config, &tie_known));
  ModelConfig& c = m.config;

  // Shards: the index's weight_map names them; else the single model.safetensors.
  std::vector<std::string> files;
  const std::string index = ii::JoinPath(dir, "model.safetensors.index.json");
  if (ii::IsRegularFile(index)) {
    json::Value idx;
    QLITE_RETURN_IF_ERROR(ReadJson(index, &idx));
    const json::Value* map = idx.Find("weight_map");
    if (!map || !map->IsObject()) return StatusError(StatusCode::kFormat, "%s: no weight_map", index.c_str());
    std::set<std::string> seen;
    for (const auto& kv : map->object) {
      if (!kv.second.IsString() || kv.second.string.find('/') != std::string::npos)
        return StatusError(StatusCode::kFormat, "%s: bad shard name for %s", index.c_str(), kv.first.c_str());
      if (seen.insert(kv.second.string).second) files.push_back(kv.second.string);
    }
  } else {
    files.push_back("model.safetensors");
  }
  std::map<std::string, std::pair<std::string, safetensors::Tensor>> found;  // qlite name -> (file, entry)
  bool has_lm_head = false;
  for (const std::string& file : files) {
    const std::string path = ii::JoinPath(dir, file);
    std::vector<safetensors::Tensor> entries;
    QLITE_RETURN_IF_ERROR(safetensors::ReadHeader(path, &entries));
    for (safetensors::Tensor& t : entries) {
      const std::string name = MapName(t.name, c.arch);
      if (name.empty()) continue;
      if (name == "?") return StatusError(StatusCode::kUnsupported, "%s: unexpected tensor %s", path.c_str(), t.name.c_str());
      if (name == "output") has_lm_head = true;
      if (safetensors::ElementSize(t.dtype) == 0)
        return StatusError(StatusCode::kUnsupported, "%s: tensor %s has unsupported dtype %s", path.c_str(),
                           t.name.c_str(), t.dtype.c_str());
      if (!found.emplace(name, std::make_pair(path, t)).second)
        return StatusError(StatusCode::kFormat, "%s: duplicate tensor %s", dir.c_str(), t.name.c_str());
    }
  }
  if (!tie_known) c.tied_embeddings = !has_lm_head;
  // Tied: HF ties lm_head to the embedding on load, so an explicit copy is dropped.
  if (c.tied_embeddings) found.erase("output");
  if (auto it = found.find("token_embd"); it != found.end() && it->second.second.shape.size() == 2 && c.vocab_size == 0)
    c.vocab_size = uint32_t(it->second.second.shape[0]);
  QLITE_RETURN_IF_ERROR(SplitFusedTensors(c, &found));

  for (auto& kv : found) {
    const std::string path = kv.second.first;
    const safetensors::Tensor t = kv.second.second;
    // Gemma's RMSNorm scales by (1 + w): stored as the multiplier itself, as llama.cpp does.
    const float norm_shift = IsGemma(c.arch) && ii::EndsWith(kv.first, "_norm") ? 1.0f : 0.0f;
    m.tensors.push_back({kv.first, t.shape, t.dtype, [path, t, norm_shift](std::vector<float>* dst) -> Status {
                           std::vector<uint8_t> raw(t.n_bytes);
                           QLITE_RETURN_IF_ERROR(ii::ReadAt(path, t.offset, t.n_bytes, raw.data()));
                           dst->resize(t.n_bytes / safetensors::ElementSize(t.dtype));
                           QLITE_RETURN_IF_ERROR(safetensors::ToFloat(t.dtype, raw.data(), dst->size(), dst->data()));
                           for (float& w : *dst) w += norm_shift;
                           return Status::Ok();
                         }});
  }

  const std::string tok_json = ii::JoinPath(dir, "tokenizer.json"), tok_model = ii::JoinPath(dir, "tokenizer.model");
  if (ii::IsRegularFile(tok_json)) {
    QLITE_RETURN_IF_ERROR(ImportHuggingFaceTokenizer(tok_json, &m.tokenizer));
  } else if (ii::IsRegularFile(tok_model)) {
    QLITE_RETURN_IF_ERROR(ImportSentencePieceModel(tok_model, &m.tokenizer));
  } else {
    return StatusError(StatusCode::kFormat, "%s: no tokenizer.json or tokenizer.model", dir.c_str());
  }
  if (c.bos_id < 0) c.bos_id = m.tokenizer.bos_id;
  if (c.eos_id < 0) c.eos_id = m.tokenizer.eos_id;
  if (c.pad_id < 0) c.pad_id = m.tokenizer.pad_id;
  // Padding acts on vocab_size only once the tensors have confirmed it.
  QLITE_RETURN_IF_ERROR(ii::ValidateSourceModel(m));
  ii::PadVocabulary(m.config.vocab_size, &m.tokenizer);
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace qlite
