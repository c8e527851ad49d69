// GGUF importer: config from "<arch>.*" keys, tokenizer from "tokenizer.ggml.*", tensors
// dequantized lazily. llama.cpp stores llama-arch q/k rows in Meta interleaved order (its
// converter permutes HF weights back), so rope_style is Interleaved there (and for smollm3);
// for qwen2 it keeps HF order (NeoX rope) and rope_style is RotateHalf, as for qwen3,
// gemma2/3 and phi3. What llama.cpp fixes in code rather than keys is fixed here the same
// way (Gemma's window pattern and query scale, SmolLM3's no-RoPE layers). RoPE factor
// tensors (rope_freqs, rope_factors_short/long) become config; phi3's fused attn_qkv and
// ffn_up (gate and up) are split by rows.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "gguf.h"
#include "import_common.h"
#include "qlite/format/import.h"

namespace qlite {
namespace ii = import_internal;

namespace {

fb::TokenKind GgufTokenKind(double t) {
  switch (int(t)) {
    case 2: return fb::TokenKind::Unknown;
    case 3: return fb::TokenKind::Control;
    case 4: return fb::TokenKind::UserDefined;
    case 5: return fb::TokenKind::Unused;
    case 6: return fb::TokenKind::Byte;
    default: return fb::TokenKind::Normal;
  }
}

int32_t IdOr(const gguf::File& f, const char* key, int32_t fallback, size_t n) {
  const gguf::KeyValue* kv = f.Find(key);
  if (!kv || !kv->IsInteger() || kv->i < 0 || uint64_t(kv->i) >= n) return fallback;
  return int32_t(kv->i);
}

// A token id the file declares must name a token: dropping a bad one would leave the model
// without its BOS/EOS without a word.
Status StrictId(const gguf::File& f, const char* key, size_t n, int32_t* out) {
  *out = -1;
  const gguf::KeyValue* kv = f.Find(key);
  if (!kv) return Status::Ok();
  if (!kv->IsInteger() || kv->i < 0 || uint64_t(kv->i) >= n)
    return StatusError(StatusCode::kFormat, "%s: %s is not a token id below the vocabulary size %zu", f.path.c_str(),
                       key, n);
  *out = int32_t(kv->i);
  return Status::Ok();
}

bool BoolOr(const gguf::File& f, const char* key, bool fallback) {
  const gguf::KeyValue* kv = f.Find(key);
  return kv && kv->type == gguf::ValueType::Bool ? kv->u != 0 : fallback;
}

// llama.cpp's pre-tokenizer names -> the runtime's split-regex names.
std::string PreName(const std::string& pre) {
  if (pre.empty() || pre == "default" || pre == "gpt-2" || pre == "gpt2") return "gpt2";
  if (pre == "llama-bpe" || pre == "llama3") return "llama3";
  return pre;  // "smollm", "qwen2", ... pass through
}

Status TokenizerFromGguf(const gguf::File& f, TokenizerData* out) {
  const gguf::KeyValue* model = f.Find("tokenizer.ggml.model");
  const gguf::KeyValue* tokens = f.Find("tokenizer.ggml.tokens");
  if (!model || model->type != gguf::ValueType::String || !tokens || tokens->type != gguf::ValueType::Array ||
      tokens->elem_type != gguf::ValueType::String || tokens->strings.empty())
    return StatusError(StatusCode::kFormat, "%s: no tokenizer (tokenizer.ggml.model / tokens)", f.path.c_str());
  TokenizerData tok;
  if (model->str == "llama") {
    tok.type = fb::TokenizerType::SentencePieceBPE;
  } else if (model->str == "gpt2") {
    tok.type = fb::TokenizerType::ByteLevelBPE;
  } else {
    return StatusError(StatusCode::kUnsupported, "%s: unsupported tokenizer model \"%s\"", f.path.c_str(),
                       model->str.c_str());
  }
  const size_t n = tokens->strings.size();
  if (n > ii::kMaxVocab) return StatusError(StatusCode::kFormat, "%s: vocabulary too large", f.path.c_str());
  tok.pieces = tokens->strings;
  auto numbers = [&](const char* key, std::vector<double>* v) -> Status {
    const gguf::KeyValue* kv = f.Find(key);
    if (!kv) return Status::Ok();
    if (kv->type != gguf::ValueType::Array || kv->numbers.size() != n)
      return StatusError(StatusCode::kFormat, "%s: %s should be a numeric array of %zu entries", f.path.c_str(), key, n);
    *v = kv->numbers;
    return Status::Ok();
  };
  std::vector<double> scores, types;
  QLITE_RETURN_IF_ERROR(numbers("tokenizer.ggml.scores", &scores));
  QLITE_RETURN_IF_ERROR(numbers("tokenizer.ggml.token_type", &types));
  tok.scores.assign(n, 0.0f);
  for (size_t i = 0; i < scores.size(); ++i) tok.scores[i] = float(scores[i]);
  tok.kinds.assign(n, fb::TokenKind::Normal);
  for (size_t i = 0; i < types.size(); ++i) tok.kinds[i] = GgufTokenKind(types[i]);
  if (types.empty() && tok.type == fb::TokenizerType::SentencePieceBPE) ii::InferSentencePieceKinds(&tok);
  if (const gguf::KeyValue* merges = f.Find("tokenizer.ggml.merges")) {
    if (merges->type != gguf::ValueType::Array || merges->elem_type != gguf::ValueType::String)
      return StatusError(StatusCode::kFormat, "%s: tokenizer.ggml.merges is not a string array", f.path.c_str());
    tok.merges = merges->strings;
  }
  if (tok.type == fb::TokenizerType::ByteLevelBPE && tok.merges.empty())
    return StatusError(StatusCode::kFormat, "%s: byte-level BPE tokenizer without merges", f.path.c_str());
  const bool sp = tok.type == fb::TokenizerType::SentencePieceBPE;
  QLITE_RETURN_IF_ERROR(StrictId(f, "tokenizer.ggml.bos_token_id", n, &tok.bos_id));
  QLITE_RETURN_IF_ERROR(StrictId(f, "tokenizer.ggml.eos_token_id", n, &tok.eos_id));
  tok.unk_id = IdOr(f, "tokenizer.ggml.unknown_token_id", -1, n);
  tok.pad_id = IdOr(f, "tokenizer.ggml.padding_token_id", -1, n);
  if (tok.unk_id < 0)
    for (size_t i = 0; i < n; ++i)
      if (tok.kinds[i] == fb::TokenKind::Unknown) {
        tok.unk_id = int32_t(i);
        break;
      }
  tok.add_bos = BoolOr(f, "tokenizer.ggml.add_bos_token", sp);
  tok.add_eos = BoolOr(f, "tokenizer.ggml.add_eos_token", false);
  tok.add_dummy_prefix = sp && BoolOr(f, "tokenizer.ggml.add_space_prefix", true);
  tok.byte_fallback = false;
  if (sp)
    for (fb::TokenKind k : tok.kinds) tok.byte_fallback |= (k == fb::TokenKind::Byte);
  if (!sp) {
    const gguf::KeyValue* pre = f.Find("tokenizer.ggml.pre");
    tok.pre_tokenizer = PreName(pre && pre->type == gguf::ValueType::String ? pre->str : "");
  }
  if (const gguf::KeyValue* t = f.Find("tokenizer.chat_template"); t && t->type == gguf::ValueType::String) {
    if (t->str.size() > kMaxChatTemplateBytes)
      return StatusError(StatusCode::kFormat, "%s: tokenizer.chat_template of %zu bytes (at most %zu)", f.path.c_str(),
                         t->str.size(), kMaxChatTemplateBytes);
    tok.chat_template = t->str;
  }
  *out = std::move(tok);
  return Status::Ok();
}

// Config value "<arch>.<key>" as a number; `required` makes absence an error.
Status GetNum(const gguf::File& f, const std::string& arch, const char* key, bool required, double* out) {
  const std::string full = arch + "." + key;
  const gguf::KeyValue* kv = f.Find(full);
  if (!kv) {
    if (required) return StatusError(StatusCode::kFormat, "%s: missing metadata %s", f.path.c_str(), full.c_str());
    return Status::Ok();
  }
  if (!kv->IsNumber() || !std::isfinite(kv->f) || kv->f < 0 || kv->f > 4.0e9)
    return StatusError(StatusCode::kFormat, "%s: bad value for %s", f.path.c_str(), full.c_str());
  *out = kv->f;
  return Status::Ok();
}

// A count or length (dimensions, layers, heads, context): a whole number, not 64.5.
Status GetCount(const gguf::File& f, const std::string& arch, const char* key, bool required, double* out) {
  QLITE_RETURN_IF_ERROR(GetNum(f, arch, key, required, out));
  if (*out != std::floor(*out))
    return StatusError(StatusCode::kFormat, "%s: %s.%s is %g, not a whole number", f.path.c_str(), arch.c_str(), key,
                       *out);
  return Status::Ok();
}

// Whether two tensors hold identical bytes (llama.cpp's llama2.c converter writes a copy
// of the tied embedding as output.weight; it is dropped and the model marked tied).
Status SameBytes(const gguf::File& f, const gguf::TensorInfo& a, const gguf::TensorInfo& b, bool* same) {
  *same = false;
  if (a.type != b.type || a.ne != b.ne || a.n_bytes != b.n_bytes) return Status::Ok();
  constexpr uint64_t kChunk = 1u << 20;
  std::vector<uint8_t> x(kChunk), y(kChunk);
  for (uint64_t done = 0; done < a.n_bytes; done += kChunk) {
    const uint64_t n = std::min(kChunk, a.n_bytes - done);
    QLITE_RETURN_IF_ERROR(ii::ReadAt(f.path, f.data_offset + a.offset + done, n, x.data()));
    QLITE_RETURN_IF_ERROR(ii::ReadAt(f.path, f.data_offset + b.offset + done, n, y.data()));
    if (std::memcmp(x.data(), y.data(), size_t(n)) != 0) return Status::Ok();
  }
  *same = true;
  return Status::Ok();
}


// The F32 tensor `name` of n values (a RoPE factor table) into *out; absent = left empty.
Status ReadFactors(const gguf::File& f, const char* name, uint32_t n, std::pmr::vector<float>* out) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  if (!t) return Status::Ok();
  if (t->type != gguf::kF32 || t->n_elements != n || t->n_bytes != uint64_t{n} * 4)
    return StatusError(StatusCode::kFormat, "%s: %s should be %u F32 values", f.path.c_str(), name, n);
  out->resize(n);
  QLITE_RETURN_IF_ERROR(ii::ReadAt(f.path, f.data_offset + t->offset, t->n_bytes, out->data()));
  return Status::Ok();
}

// What llama.cpp fixes for gemma2/gemma3: which layers are global (sliding_window_pattern,
// as a number or a per-layer array, else every 2nd / 6th), the local layers' RoPE base
// (gemma3: 10000 unscaled), the query scale (1/sqrt(head_dim), but dim / n_heads for the
// 27B models: 46 layers for gemma2, 62 for gemma3), and the soft-capping (gemma2: 50 on
// attention scores and 30 on logits unless the keys say otherwise; gemma3: logits only).
Status GemmaSettings(const gguf::File& f, const std::string& arch, ModelConfig* c) {
  const bool gemma2 = c->arch == Arch::Gemma2;
  if (!c->sliding_window.empty()) {
    const gguf::KeyValue* pattern = f.Find(arch + ".attention.sliding_window_pattern");
    if (pattern && pattern->type == gguf::ValueType::Array) {
      if (pattern->numbers.size() != c->n_layers)
        return StatusError(StatusCode::kFormat, "%s: sliding_window_pattern has %zu entries for %u layers",
                           f.path.c_str(), pattern->numbers.size(), c->n_layers);
      for (uint32_t l = 0; l < c->n_layers; ++l)
        if (pattern->numbers[l] == 0) c->sliding_window[l] = 0;
    } else {
      double every = gemma2 ? 2 : 6;
      QLITE_RETURN_IF_ERROR(GetNum(f, arch, "attention.sliding_window_pattern", false, &every));
      const uint32_t p = uint32_t(every);
      if (p != every) return StatusError(StatusCode::kFormat, "%s: bad sliding_window_pattern", f.path.c_str());
      for (uint32_t l = 0; p > 0 && l < c->n_layers; ++l)  // llama.cpp: 0 = every layer local
        if ((l + 1) % p == 0) c->sliding_window[l] = 0;
    }
  }
  if (!gemma2) {
    double local_theta = 10000;
    QLITE_RETURN_IF_ERROR(GetNum(f, arch, "rope.freq_base_swa", false, &local_theta));
    c->rope_local_theta = float(local_theta);
  }
  c->embedding_scale = float(std::sqrt(double(c->dim)));
  const bool big = c->n_layers == (gemma2 ? 46u : 62u);
  const double scalar = big ? double(c->dim) / c->n_heads : double(c->head_dim);
  c->attn_scale = float(1.0 / std::sqrt(scalar));
  double attn_cap = gemma2 ? 50 : 0, final_cap = gemma2 ? 30 : 0;
  if (gemma2) QLITE_RETURN_IF_ERROR(GetNum(f, arch, "attn_logit_softcapping", false, &attn_cap));
  QLITE_RETURN_IF_ERROR(GetNum(f, arch, "final_logit_softcapping", false, &final_cap));
  c->attn_softcap = float(attn_cap);
  c->final_softcap = float(final_cap);
  return Status::Ok();
}

// The f32 values [first, first + count) of a tensor of `type` at abs_offset (first and count
// whole blocks), read in chunks of whole blocks through one buffer per thread: the raw bytes
// stay in cache and no tensor-sized buffer is allocated (and zeroed) per load.
Status LoadValues(const std::string& path, uint64_t abs_offset, uint32_t type, uint64_t first, uint64_t count,
                  const std::string& name, float* dst) {
  uint64_t be = 0, bb = 0;
  if (!gguf::BlockLayout(type, &be, &bb) || first % be != 0 || count % be != 0)
    return StatusError(StatusCode::kFormat, "tensor %s: values %llu..%llu are not whole blocks", name.c_str(),
                       (unsigned long long)first, (unsigned long long)(first + count));
  thread_local std::vector<uint8_t> raw;
  const uint64_t chunk_blocks = std::max<uint64_t>(1, (uint64_t{1} << 20) / bb);
  const uint64_t n_blocks = count / be, first_block = first / be;
  raw.resize(std::min(n_blocks, chunk_blocks) * bb);
  for (uint64_t b = 0; b < n_blocks; b += chunk_blocks) {
    const uint64_t blocks = std::min(chunk_blocks, n_blocks - b);
    QLITE_RETURN_IF_ERROR(ii::ReadAt(path, abs_offset + (first_block + b) * bb, blocks * bb, raw.data()));
    Status s = gguf::Dequantize(type, raw.data(), blocks * be, dst + b * be);
    if (!s.ok()) return Status(s.code(), "tensor " + name + ": " + s.message());
  }
  return Status::Ok();
}

Status TensorBytesError(const std::string& name, uint64_t n_bytes, uint64_t n) {
  return StatusError(StatusCode::kFormat, "tensor %s: %llu bytes do not hold %llu values", name.c_str(),
                     (unsigned long long)n_bytes, (unsigned long long)n);
}

// One qlite tensor from rows [first, first + rows) of a GGUF tensor (all of it when rows
// is its row count; 1-D tensors pass rows 0): a sub-range of its bytes, since ggml rows are
// contiguous whole blocks. Loads lazily, dequantized or (load_stored) transcoded exactly.
Status AddTensor(const gguf::File& f, const gguf::TensorInfo& t, const std::string& name, uint64_t first,
                 uint64_t rows, std::vector<SourceTensor>* out) {
  SourceTensor st;
  st.name = name;
  st.shape.assign(t.ne.rbegin(), t.ne.rend());
  st.source_dtype = gguf::TypeName(t.type);
  if (!gguf::CanDequantize(t.type))
    return StatusError(StatusCode::kUnsupported, "%s: tensor %s has unsupported dtype %s", f.path.c_str(),
                       t.name.c_str(), st.source_dtype.c_str());
  uint64_t abs_offset = f.data_offset + t.offset, n_bytes = t.n_bytes, n = t.n_elements;
  if (rows > 0 && t.ne.size() == 2 && rows != t.ne[1]) {
    const uint64_t row_bytes = t.n_bytes / t.ne[1];
    abs_offset += first * row_bytes;
    n_bytes = rows * row_bytes;
    n = rows * t.ne[0];
    st.shape[0] = rows;
  }
  const uint32_t type = t.type;
  const std::string path = f.path;
  uint64_t be = 0, bb = 0;
  const bool blocks_whole = gguf::BlockLayout(type, &be, &bb) && n % be == 0 && n / be * bb == n_bytes;
  st.load = [path, abs_offset, n_bytes, n, type, name, blocks_whole](std::vector<float>* dst) -> Status {
    if (!blocks_whole) return TensorBytesError(name, n_bytes, n);
    dst->resize(n);
    return LoadValues(path, abs_offset, type, 0, n, name, dst->data());
  };
  const uint64_t cols = t.ne.empty() ? 0 : t.ne[0], n_rows = cols ? n / cols : 0;
  if (blocks_whole && cols && cols % be == 0)  // rows start on block boundaries
    st.load_rows = [path, abs_offset, n_rows, cols, type, name](uint64_t first, uint64_t count, float* dst) -> Status {
      if (first > n_rows || count > n_rows - first)
        return StatusError(StatusCode::kInvalidArgument, "tensor %s: rows %llu..%llu of %llu", name.c_str(),
                           (unsigned long long)first, (unsigned long long)(first + count),
                           (unsigned long long)n_rows);
      return LoadValues(path, abs_offset, type, first * cols, count * cols, name, dst);
    };
  st.has_stored_scheme = gguf::NearestScheme(type, &st.stored_scheme, &st.stored_exact);
  if (st.has_stored_scheme && st.stored_exact && !IsFloatType(st.stored_scheme.dtype)) {
    st.load_stored = [path, abs_offset, n_bytes, n_rows, cols, type, name](QuantizedTensor* dst) -> Status {
      std::vector<uint8_t> raw(n_bytes);
      QLITE_RETURN_IF_ERROR(ii::ReadAt(path, abs_offset, n_bytes, raw.data()));
      Status s = gguf::Transcode(type, raw.data(), n_rows, cols, dst);
      if (!s.ok()) return Status(s.code(), "tensor " + name + ": " + s.message());
      return s;
    };
  }
  out->push_back(std::move(st));
  return Status::Ok();
}

}  // namespace

Status ImportGgufTokenizer(const std::string& path, TokenizerData* out) {
  gguf::File f;
  QLITE_RETURN_IF_ERROR(gguf::Open(path, &f));
  return TokenizerFromGguf(f, out);
}

Status ImportGguf(const std::string& path, SourceModel* out) {
  auto f = std::make_shared<gguf::File>();
  QLITE_RETURN_IF_ERROR(gguf::Open(path, f.get()));
  SourceModel m;
  m.source_path = path;
  m.source_format = "gguf";
  const gguf::KeyValue* arch_kv = f->Find("general.architecture");
  if (!arch_kv || arch_kv->type != gguf::ValueType::String)
    return StatusError(StatusCode::kFormat, "%s: missing general.architecture", path.c_str());
  const std::string arch = arch_kv->str;
  ModelConfig& c = m.config;
  if (arch == "llama" || arch == "mistral" || arch == "smollm3") {
    c.arch = arch == "llama" ? Arch::Llama : arch == "mistral" ? Arch::Mistral : Arch::SmolLM3;
    c.rope_style = RopeStyle::Interleaved;
  } else if (arch == "qwen2" || arch == "qwen3") {
    c.arch = arch == "qwen2" ? Arch::Qwen2 : Arch::Qwen3;
    c.rope_style = RopeStyle::RotateHalf;
    c.qkv_bias = arch == "qwen2";
    c.qk_norm = arch == "qwen3";
  } else if (arch == "gemma2" || arch == "gemma3") {
    // llama.cpp's converter already added Gemma's 1 to every norm weight (qlite's convention).
    c.arch = arch == "gemma2" ? Arch::Gemma2 : Arch::Gemma3;
    c.rope_style = RopeStyle::RotateHalf;
    c.qk_norm = arch == "gemma3";
    c.post_norms = true;
    c.ffn_activation = Activation::GeluTanh;
  } else if (arch == "phi3") {
    c.arch = Arch::Phi3;
    c.rope_style = RopeStyle::RotateHalf;
  } else {
    return StatusError(StatusCode::kUnsupported, "%s: unsupported architecture %s", path.c_str(), arch.c_str());
  }
  QLITE_RETURN_IF_ERROR(TokenizerFromGguf(*f, &m.tokenizer));

  double dim = 0, layers = 0, ffn = 0, heads = 0, kv_heads = 0, theta = 10000, eps = 1e-5, ctx = 0, rot = 0,
         key_len = 0, window = 0, scale_factor = 0, orig_ctx = 0;
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "embedding_length", true, &dim));
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "block_count", true, &layers));
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "feed_forward_length", true, &ffn));
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "attention.head_count", true, &heads));
  kv_heads = heads;
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "attention.head_count_kv", false, &kv_heads));
  QLITE_RETURN_IF_ERROR(GetNum(*f, arch, "rope.freq_base", false, &theta));
  QLITE_RETURN_IF_ERROR(GetNum(*f, arch, "attention.layer_norm_rms_epsilon", false, &eps));
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "context_length", false, &ctx));
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "rope.dimension_count", false, &rot));
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "attention.key_length", false, &key_len));
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "attention.sliding_window", false, &window));
  QLITE_RETURN_IF_ERROR(GetNum(*f, arch, "rope.scaling.factor", false, &scale_factor));
  QLITE_RETURN_IF_ERROR(GetCount(*f, arch, "rope.scaling.original_context_length", false, &orig_ctx));
  if (heads < 1 || kv_heads < 1 || dim < 1)
    return StatusError(StatusCode::kFormat, "%s: bad head counts", path.c_str());
  c.dim = uint32_t(dim);
  c.n_layers = uint32_t(layers);
  c.ffn_dim = uint32_t(ffn);
  c.n_heads = uint32_t(heads);
  c.n_kv_heads = uint32_t(kv_heads);
  c.head_dim = key_len > 0 ? uint32_t(key_len) : c.dim / c.n_heads;
  c.rope_theta = float(theta);
  c.norm_eps = float(eps);
  c.context_length = uint32_t(ctx);
  c.rotary_dim = rot > 0 && uint32_t(rot) != c.head_dim ? uint32_t(rot) : 0;
  const bool gemma = c.arch == Arch::Gemma2 || c.arch == Arch::Gemma3;
  if (gemma && window == 0) window = 4096;  // llama.cpp's default for Gemma
  // llama.cpp ignores Phi-3's sliding window (phi3.cpp), so the file runs as it does there.
  if (window > 0 && c.arch != Arch::Phi3 && c.n_layers <= 4096)
    c.sliding_window.assign(c.n_layers, uint32_t(window));
  if (gemma) QLITE_RETURN_IF_ERROR(GemmaSettings(*f, arch, &c));
  if (c.arch == Arch::SmolLM3 && c.n_layers <= 4096) {
    // llama.cpp (smollm3.cpp): every 4th layer has no RoPE; no key records it.
    c.no_rope.assign(c.n_layers, false);
    for (uint32_t l = 3; l < c.n_layers; l += 4) c.no_rope[l] = true;
    if (c.n_layers < 4) c.no_rope.clear();
  }
  if (const gguf::KeyValue* st = f->Find(arch + ".rope.scaling.type"); st && st->type == gguf::ValueType::String) {
    if (st->str == "linear") {
      c.rope_scaling = RopeScaling::Linear;
      c.rope_factor = scale_factor > 0 ? float(scale_factor) : 1.0f;
    } else if (st->str != "none") {
      return StatusError(StatusCode::kUnsupported, "%s: unsupported rope scaling %s", path.c_str(), st->str.c_str());
    }
  }
  // Llama 3's rope_freqs (per-frequency divisors llama.cpp's converter computes from the
  // llama3 scaling), Phi-3's LongRoPE short and long factors.
  const uint32_t pairs = (c.rotary_dim ? c.rotary_dim : c.head_dim) / 2;
  QLITE_RETURN_IF_ERROR(ReadFactors(*f, "rope_freqs.weight", pairs, &c.rope_freq_factors));
  if (f->FindTensor("rope_factors_long.weight") || f->FindTensor("rope_factors_short.weight")) {
    if (c.rope_scaling != RopeScaling::None || !c.rope_freq_factors.empty())
      return StatusError(StatusCode::kUnsupported, "%s: LongRoPE factors with other RoPE scaling", path.c_str());
    QLITE_RETURN_IF_ERROR(ReadFactors(*f, "rope_factors_short.weight", pairs, &c.rope_freq_factors));
    QLITE_RETURN_IF_ERROR(ReadFactors(*f, "rope_factors_long.weight", pairs, &c.rope_long_freq_factors));
    if (c.rope_freq_factors.empty() || c.rope_long_freq_factors.empty())
      return StatusError(StatusCode::kFormat, "%s: LongRoPE needs both rope_factors_short and rope_factors_long", path.c_str());
    c.rope_scaling = RopeScaling::LongRope;
    c.rope_original_context = uint32_t(orig_ctx > 0 ? orig_ctx : ctx);
    if (c.rope_original_context == 0)
      return StatusError(StatusCode::kFormat, "%s: LongRoPE without an original context length", path.c_str());
    // The converter writes the attention factor; else transformers' formula from the ratio.
    const double ratio = double(c.context_length) / c.rope_original_context;
    double attn = ratio <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(ratio) / std::log(double(c.rope_original_context)));
    QLITE_RETURN_IF_ERROR(GetNum(*f, arch, "rope.scaling.attn_factor", false, &attn));
    if (!(attn > 0.0)) return StatusError(StatusCode::kFormat, "%s: bad rope.scaling.attn_factor", path.c_str());
    c.rope_attn_factor = float(attn);
  }

  const gguf::TensorInfo* embd = f->FindTensor("token_embd.weight");
  if (!embd || embd->ne.size() != 2) return StatusError(StatusCode::kFormat, "%s: missing tensor token_embd", path.c_str());
  if (embd->ne[1] > ii::kMaxVocab)
    return StatusError(StatusCode::kFormat, "%s: token_embd claims %llu tokens", path.c_str(),
                       (unsigned long long)embd->ne[1]);
  c.vocab_size = uint32_t(embd->ne[1]);
  const gguf::TensorInfo* output = f->FindTensor("output.weight");
  bool drop_output = false;
  if (output) QLITE_RETURN_IF_ERROR(SameBytes(*f, *embd, *output, &drop_output));
  c.tied_embeddings = output == nullptr || drop_output;
  c.bos_id = m.tokenizer.bos_id;
  c.eos_id = m.tokenizer.eos_id;
  c.pad_id = m.tokenizer.pad_id;
  for (const char* key : {"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    int32_t id = IdOr(*f, key, -1, m.tokenizer.pieces.size());
    if (id >= 0 && id != c.eos_id) c.eot_ids.push_back(id);
  }

  // phi3's fused tensors: [q; k; v] rows and [gate; up] rows.
  const uint64_t q_rows = uint64_t{c.n_heads} * c.head_dim, kv_rows = uint64_t{c.n_kv_heads} * c.head_dim;
  const std::vector<std::pair<std::string, uint64_t>> qkv_parts = {{"attn_q", q_rows}, {"attn_k", kv_rows}, {"attn_v", kv_rows}};
  const std::vector<std::pair<std::string, uint64_t>> gate_up_parts = {{"ffn_gate", c.ffn_dim}, {"ffn_up", c.ffn_dim}};
  for (const gguf::TensorInfo& t : f->tensors) {
    if (drop_output && &t == output) continue;
    if (t.name == "rope_freqs.weight" || t.name == "rope_factors_long.weight" || t.name == "rope_factors_short.weight")
      continue;  // read into the config above
    const std::string name = ii::EndsWith(t.name, ".weight") ? t.name.substr(0, t.name.size() - 7) : t.name;
    const std::vector<std::pair<std::string, uint64_t>>* parts = nullptr;
    if (c.arch == Arch::Phi3 && ii::EndsWith(name, ".attn_qkv")) parts = &qkv_parts;
    if (c.arch == Arch::Phi3 && ii::EndsWith(name, ".ffn_up") && t.ne.size() == 2 && t.ne[1] == 2 * uint64_t{c.ffn_dim})
      parts = &gate_up_parts;
    if (!parts) {
      QLITE_RETURN_IF_ERROR(AddTensor(*f, t, name, 0, t.ne.size() == 2 ? t.ne[1] : 0, &m.tensors));
      continue;
    }
    uint64_t total = 0;
    for (const auto& part : *parts) total += part.second;
    if (t.ne.size() != 2 || t.ne[1] != total)
      return StatusError(StatusCode::kFormat, "%s: fused tensor %s should have %llu rows", path.c_str(), t.name.c_str(),
                         (unsigned long long)total);
    const std::string prefix = name.substr(0, name.find_last_of('.') + 1);
    uint64_t first = 0;
    for (const auto& part : *parts) {
      QLITE_RETURN_IF_ERROR(AddTensor(*f, t, prefix + part.first, first, part.second, &m.tensors));
      first += part.second;
    }
  }
  // Padding acts on vocab_size only once the tensors have confirmed it.
  QLITE_RETURN_IF_ERROR(ii::ValidateSourceModel(m));
  ii::PadVocabulary(m.config.vocab_size, &m.tokenizer);
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace qlite
