// Reading LoRA adapters: Hugging Face PEFT folders and llama.cpp GGUF LoRA files (and .qla,
// adapter_file.cc), into qlite names with B's q/k rows in the base's order.
#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "qlite/format/adapter_file.h"
#include "gguf.h"
#include "import_common.h"
#include "qlite/format/json.h"
#include "qlite/format/lora.h"
#include "qlite/format/model_file.h"
#include "safetensors.h"

namespace qlite {
namespace ii = import_internal;

namespace {

constexpr uint32_t kMaxRank = 65536;

std::string Basename(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  const size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// Reorders B's rows (out = heads·hd) between the two q/k layouts of import.h:
// HF row h*hd + t*hd/2 + i  <->  Meta row h*hd + 2*i + t.
void PermuteRows(LoraTensor* t, uint32_t heads, uint32_t hd, bool to_interleaved) {
  if (uint64_t{heads} * hd != t->out) return;  // shapes are checked later
  std::vector<float> src = t->b;
  const uint32_t half = hd / 2, r = t->rank;
  for (uint32_t h = 0; h < heads; ++h)
    for (uint32_t k = 0; k < 2; ++k)
      for (uint32_t i = 0; i < half; ++i) {
        const uint64_t hf = uint64_t{h} * hd + k * half + i, meta = uint64_t{h} * hd + 2 * i + k;
        const uint64_t dst = to_interleaved ? meta : hf, from = to_interleaved ? hf : meta;
        std::copy(src.begin() + from * r, src.begin() + (from + 1) * r, t->b.begin() + dst * r);
      }
}

// q/k rows come in `source` order; the base wants base.rope_style.
void ToBaseOrder(LoraAdapter* a, RopeStyle source, const ModelConfig& base) {
  if (source == base.rope_style) return;
  for (LoraTensor& t : a->tensors) {
    const size_t dot = t.target.rfind('.');
    const std::string kind = t.target.substr(dot + 1);
    if (kind == "attn_q") PermuteRows(&t, base.n_heads, base.head_dim, base.rope_style == RopeStyle::Interleaved);
    if (kind == "attn_k") PermuteRows(&t, base.n_kv_heads, base.head_dim, base.rope_style == RopeStyle::Interleaved);
  }
}

Status Finish(LoraAdapter* a, const ModelConfig& base) {
  std::sort(a->tensors.begin(), a->tensors.end(),
            [](const LoraTensor& x, const LoraTensor& y) { return x.target < y.target; });
  if (a->tensors.empty()) return StatusError(StatusCode::kFormat, "adapter %s has no LoRA tensors", a->name.c_str());
  for (const LoraTensor& t : a->tensors)
    for (const std::vector<float>* v : {&t.a, &t.b})
      for (float x : *v)
        if (!std::isfinite(x))
          return StatusError(StatusCode::kFormat, "adapter %s: %s has non-finite values", a->name.c_str(),
                             t.target.c_str());
  return CheckLoraShapes(*a, base);
}

// ---- PEFT ----

// PEFT module path ("model.layers.3.self_attn.q_proj") -> qlite target, or "".
std::string PeftTarget(const std::string& module) {
  static const std::map<std::string, std::string> kModules = {
      {"self_attn.q_proj", "attn_q"}, {"self_attn.k_proj", "attn_k"},  {"self_attn.v_proj", "attn_v"},
      {"self_attn.o_proj", "attn_output"}, {"mlp.gate_proj", "ffn_gate"}, {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"}};
  const std::string prefix = "model.layers.";
  if (module.compare(0, prefix.size(), prefix) != 0) return "";
  const size_t dot = module.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 6) return "";
  const std::string layer = module.substr(prefix.size(), dot - prefix.size());
  if (layer.find_first_not_of("0123456789") != std::string::npos) return "";
  auto it = kModules.find(module.substr(dot + 1));
  return it == kModules.end() ? "" : "blk." + std::to_string(std::stoul(layer)) + "." + it->second;
}

// rank_pattern / alpha_pattern keys match a module by its full name or a dotted suffix.
bool PatternMatches(const std::string& key, const std::string& module) {
  return module == key || (module.size() > key.size() && module[module.size() - key.size() - 1] == '.' &&
                           module.compare(module.size() - key.size(), key.size(), key) == 0);
}

Status PatternValue(const json::Value* patterns, const std::string& module, double* value) {
  if (!patterns || patterns->IsNull()) return Status::Ok();
  if (!patterns->IsObject()) return Status(StatusCode::kFormat, "rank_pattern/alpha_pattern must be objects");
  for (const auto& kv : patterns->object) {
    if (!PatternMatches(kv.first, module)) continue;
    if (!kv.second.IsNumber()) return StatusError(StatusCode::kFormat, "pattern %s is not a number", kv.first.c_str());
    *value = kv.second.number;
  }
  return Status::Ok();
}

Status ReadPeft(const std::string& dir, const ModelConfig& base, LoraAdapter* out) {
  const std::string cfg_path = ii::JoinPath(dir, "adapter_config.json");
  std::string text;
  QLITE_RETURN_IF_ERROR(ii::ReadWholeFile(cfg_path, 1 << 20, &text));
  json::Value cfg;
  Status s = json::Parse(text, &cfg);
  if (!s.ok()) return Status(s.code(), cfg_path + ": " + s.message());
  std::string peft_type = "LORA";
  uint32_t r = 0;
  float alpha = 0;
  bool fan_in_fan_out = false, rslora = false, dora = false;
  QLITE_RETURN_IF_ERROR(json::GetString(cfg, "peft_type", &peft_type));
  QLITE_RETURN_IF_ERROR(json::GetUint(cfg, "r", &r));
  QLITE_RETURN_IF_ERROR(json::GetFloat(cfg, "lora_alpha", &alpha));
  QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "fan_in_fan_out", &fan_in_fan_out));
  QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "use_rslora", &rslora));
  QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "use_dora", &dora));
  if (peft_type != "LORA") return StatusError(StatusCode::kUnsupported, "%s: peft_type %s is not LORA", cfg_path.c_str(), peft_type.c_str());
  if (dora) return StatusError(StatusCode::kUnsupported, "%s: DoRA adapters are not supported", cfg_path.c_str());
  if (r == 0 || r > kMaxRank) return StatusError(StatusCode::kFormat, "%s: bad r %u", cfg_path.c_str(), r);
  const json::Value* rank_pattern = cfg.Find("rank_pattern");
  const json::Value* alpha_pattern = cfg.Find("alpha_pattern");

  const std::string st = ii::JoinPath(dir, "adapter_model.safetensors");
  if (!ii::IsRegularFile(st)) {
    if (ii::IsRegularFile(ii::JoinPath(dir, "adapter_model.bin")))
      return StatusError(StatusCode::kUnsupported, "%s: adapter_model.bin (pickle) is not supported; save the adapter "
                         "with safe_serialization=True (adapter_model.safetensors)", dir.c_str());
    return StatusError(StatusCode::kIo, "%s: no adapter_model.safetensors", dir.c_str());
  }
  std::vector<safetensors::Tensor> entries;
  QLITE_RETURN_IF_ERROR(safetensors::ReadHeader(st, &entries));
  struct Pair { const safetensors::Tensor *a = nullptr, *b = nullptr; std::string module; };
  std::map<std::string, Pair> pairs;  // target -> A, B
  for (const safetensors::Tensor& t : entries) {
    std::string key = t.name;
    const std::string pre = "base_model.model.";
    if (key.compare(0, pre.size(), pre) == 0) key = key.substr(pre.size());
    bool is_a = false;
    std::string module;
    for (const char* suffix : {".lora_A.weight", ".lora_B.weight"}) {
      if (ii::EndsWith(key, suffix)) {
        is_a = suffix[6] == 'A';
        module = key.substr(0, key.size() - std::char_traits<char>::length(suffix));
      }
    }
    const std::string target = module.empty() ? "" : PeftTarget(module);
    if (target.empty())
      return StatusError(StatusCode::kUnsupported, "%s: tensor %s is not a LoRA A/B of a projection qlite supports",
                         st.c_str(), t.name.c_str());
    if (safetensors::ElementSize(t.dtype) == 0 || t.shape.size() != 2)
      return StatusError(StatusCode::kUnsupported, "%s: %s must be a 2-D F32/F16/BF16 tensor", st.c_str(), t.name.c_str());
    Pair& p = pairs[target];
    (is_a ? p.a : p.b) = &t;
    p.module = module;
  }
  out->name = Basename(dir);
  out->rank = r;
  out->alpha = alpha;
  for (const auto& kv : pairs) {
    const Pair& p = kv.second;
    if (!p.a || !p.b) return StatusError(StatusCode::kFormat, "%s: %s lacks lora_A or lora_B", st.c_str(), p.module.c_str());
    LoraTensor t;
    t.target = kv.first;
    std::vector<uint64_t> sa = p.a->shape, sb = p.b->shape;
    // A is [r, in] and B [out, r]; fan_in_fan_out (Conv1D-style) checkpoints may store them transposed.
    const bool transposed = fan_in_fan_out && sa[1] == sb[0] && sa[0] != sb[1];
    if (transposed) std::swap(sa[0], sa[1]), std::swap(sb[0], sb[1]);
    if (sa[0] != sb[1] || sa[0] == 0 || sa[0] > kMaxRank)
      return StatusError(StatusCode::kFormat, "%s: %s has A %llux%llu and B %llux%llu (ranks disagree)", st.c_str(),
                         p.module.c_str(), (unsigned long long)p.a->shape[0], (unsigned long long)p.a->shape[1],
                         (unsigned long long)p.b->shape[0], (unsigned long long)p.b->shape[1]);
    t.rank = uint32_t(sa[0]);
    t.in = sa[1];
    t.out = sb[0];
    QLITE_RETURN_IF_ERROR(CheckLoraTarget(Basename(dir), t.target, t.out, t.in, base));  // before any data
    double tr = r, ta = alpha;
    QLITE_RETURN_IF_ERROR(PatternValue(rank_pattern, p.module, &tr));
    QLITE_RETURN_IF_ERROR(PatternValue(alpha_pattern, p.module, &ta));
    if (tr != t.rank)
      return StatusError(StatusCode::kFormat, "%s: %s has rank %u, config says %g", st.c_str(), p.module.c_str(), t.rank, tr);
    t.factor = float(rslora ? ta / std::sqrt(tr) : ta / tr);
    for (const auto& [src, dst, rows, cols] :
         {std::make_tuple(p.a, &t.a, sa[0], sa[1]), std::make_tuple(p.b, &t.b, sb[0], sb[1])}) {
      std::vector<uint8_t> raw(src->n_bytes);
      QLITE_RETURN_IF_ERROR(ii::ReadAt(st, src->offset, src->n_bytes, raw.data()));
      std::vector<float> v(rows * cols);
      if (src->n_bytes != v.size() * safetensors::ElementSize(src->dtype))
        return StatusError(StatusCode::kFormat, "%s: %s has the wrong byte size", st.c_str(), src->name.c_str());
      QLITE_RETURN_IF_ERROR(safetensors::ToFloat(src->dtype, raw.data(), v.size(), v.data()));
      if (transposed) {  // stored [cols][rows]
        dst->resize(v.size());
        for (uint64_t i = 0; i < rows; ++i)
          for (uint64_t j = 0; j < cols; ++j) (*dst)[i * cols + j] = v[j * rows + i];
      } else {
        *dst = std::move(v);
      }
    }
    out->tensors.push_back(std::move(t));
  }
  ToBaseOrder(out, RopeStyle::RotateHalf, base);  // PEFT trains on HF-layout weights
  return Finish(out, base);
}

// ---- llama.cpp GGUF LoRA ----

Status ReadGgufLora(const std::string& path, const ModelConfig& base, LoraAdapter* out) {
  gguf::File f;
  QLITE_RETURN_IF_ERROR(gguf::Open(path, &f));
  const gguf::KeyValue* type = f.Find("general.type");
  const gguf::KeyValue* atype = f.Find("adapter.type");
  const gguf::KeyValue* alpha = f.Find("adapter.lora.alpha");
  const gguf::KeyValue* arch = f.Find("general.architecture");
  if (!type || type->str != "adapter" || (atype && atype->str != "lora"))
    return StatusError(StatusCode::kFormat, "%s is not a GGUF LoRA adapter (general.type/adapter.type)", path.c_str());
  if (!arch || arch->str != "llama")
    return StatusError(StatusCode::kUnsupported, "%s: GGUF LoRA for architecture %s is not supported", path.c_str(),
                       arch ? arch->str.c_str() : "(none)");
  if (!alpha || !alpha->IsNumber()) return StatusError(StatusCode::kFormat, "%s: no adapter.lora.alpha", path.c_str());
  std::map<std::string, std::pair<const gguf::TensorInfo*, const gguf::TensorInfo*>> pairs;
  for (const gguf::TensorInfo& t : f.tensors) {
    const bool is_a = ii::EndsWith(t.name, ".weight.lora_a"), is_b = ii::EndsWith(t.name, ".weight.lora_b");
    const std::string target = t.name.substr(0, t.name.size() - (is_a || is_b ? 14 : 0));
    if ((!is_a && !is_b) || !IsLoraTarget(target))
      return StatusError(StatusCode::kUnsupported, "%s: tensor %s is not a LoRA A/B of a projection qlite supports",
                         path.c_str(), t.name.c_str());
    if (t.ne.size() != 2 || !gguf::CanDequantize(t.type))
      return StatusError(StatusCode::kUnsupported, "%s: %s must be a 2-D tensor of a known type", path.c_str(), t.name.c_str());
    (is_a ? pairs[target].first : pairs[target].second) = &t;
  }
  out->name = Basename(path);
  out->alpha = float(alpha->IsInteger() ? double(alpha->i) : alpha->f);
  for (const auto& kv : pairs) {
    const gguf::TensorInfo *a = kv.second.first, *b = kv.second.second;
    if (!a || !b) return StatusError(StatusCode::kFormat, "%s: %s lacks lora_a or lora_b", path.c_str(), kv.first.c_str());
    // ggml ne is innermost first: A ne = [in, r] is [r][in]; B ne = [r, out] is [out][r].
    if (a->ne[1] != b->ne[0] || a->ne[1] == 0 || a->ne[1] > kMaxRank)
      return StatusError(StatusCode::kFormat, "%s: %s: ranks of lora_a and lora_b disagree", path.c_str(), kv.first.c_str());
    LoraTensor t;
    t.target = kv.first;
    t.rank = uint32_t(a->ne[1]);
    t.in = a->ne[0];
    t.out = b->ne[1];
    QLITE_RETURN_IF_ERROR(CheckLoraTarget(Basename(path), t.target, t.out, t.in, base));  // before any data
    t.factor = float(double(out->alpha) / t.rank);
    out->rank = std::max(out->rank, t.rank);
    for (const auto& [info, dst] : {std::make_pair(a, &t.a), std::make_pair(b, &t.b)}) {
      std::vector<uint8_t> raw(info->n_bytes);
      QLITE_RETURN_IF_ERROR(ii::ReadAt(path, f.data_offset + info->offset, info->n_bytes, raw.data()));
      dst->resize(info->n_elements);
      QLITE_RETURN_IF_ERROR(gguf::Dequantize(info->type, raw.data(), info->n_elements, dst->data()));
    }
    out->tensors.push_back(std::move(t));
  }
  ToBaseOrder(out, RopeStyle::Interleaved, base);  // llama.cpp permutes q/k to Meta order
  return Finish(out, base);
}

}  // namespace

Status ReadLoraAdapter(const std::string& path, const ModelConfig& base, LoraAdapter* out) {
  *out = LoraAdapter();
  QLITE_RETURN_IF_ERROR(CheckConfig(base));
  if (ii::IsDirectory(path)) return ReadPeft(path, base, out);
  if (ii::EndsWith(path, ".gguf")) return ReadGgufLora(path, base, out);
  QLITE_RETURN_IF_ERROR(ReadAdapterFile(path, out));
  return Finish(out, base);
}

}  // namespace qlite
