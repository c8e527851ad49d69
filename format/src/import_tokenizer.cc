// Tokenizer importers: llama2.c tokenizer.bin, SentencePiece tokenizer.model (a minimal
// protobuf wire-format reader of ModelProto) and Hugging Face tokenizer.json.
// Pieces are kept in the source's own spelling: SentencePiece pieces use U+2581 for
// spaces, byte-level BPE pieces use GPT-2's byte-to-unicode alphabet ("Ġ").
#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>

#include "import_common.h"
#include "qlite/format/json.h"
#include "qlite/format/import.h"

namespace qlite {
namespace ii = import_internal;

namespace {
const char kSpaceMark[] = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}
}  // namespace

// llama2.c: int32 max_token_length, then per token {f32 score, int32 len, bytes}. Its
// exporter turned U+2581 into ' ' and BOS/EOS into "\n<s>\n" / "\n</s>\n"; undo both.
Status ImportLlama2cTokenizer(const std::string& path, TokenizerData* out) {
  std::string data;
  QLITE_RETURN_IF_ERROR(ii::ReadWholeFile(path, ii::kMaxMetadataBytes, &data));
  ii::ByteReader r(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  int32_t max_len = 0;
  if (!r.Read(&max_len) || max_len <= 0 || uint64_t(max_len) > ii::kMaxPieceBytes)
    return StatusError(StatusCode::kFormat, "%s: not a llama2.c tokenizer (bad max token length)", path.c_str());
  TokenizerData tok;
  tok.type = fb::TokenizerType::SentencePieceBPE;
  while (r.remaining() > 0) {
    float score;
    int32_t len;
    const uint8_t* bytes;
    if (!r.Read(&score) || !r.Read(&len))
      return StatusError(StatusCode::kFormat, "%s: truncated at token %zu", path.c_str(), tok.pieces.size());
    if (len < 0 || len > max_len || !r.Bytes(uint64_t(len), &bytes))
      return StatusError(StatusCode::kFormat, "%s: bad length %d for token %zu", path.c_str(), len, tok.pieces.size());
    if (tok.pieces.size() >= ii::kMaxVocab) return StatusError(StatusCode::kFormat, "%s: too many tokens", path.c_str());
    std::string piece(reinterpret_cast<const char*>(bytes), size_t(len));
    if (piece == "\n<s>\n") {
      piece = "<s>";
      tok.bos_id = int32_t(tok.pieces.size());
    } else if (piece == "\n</s>\n") {
      piece = "</s>";
      tok.eos_id = int32_t(tok.pieces.size());
    } else {
      piece = ReplaceAll(piece, " ", kSpaceMark);
    }
    tok.pieces.push_back(std::move(piece));
    tok.scores.push_back(score);
  }
  if (tok.pieces.empty()) return StatusError(StatusCode::kFormat, "%s: no tokens", path.c_str());
  ii::InferSentencePieceKinds(&tok);
  for (size_t i = 0; i < tok.pieces.size(); ++i) {  // older exports kept plain <s>/</s>
    if (tok.bos_id < 0 && tok.pieces[i] == "<s>") tok.bos_id = int32_t(i);
    if (tok.eos_id < 0 && tok.pieces[i] == "</s>") tok.eos_id = int32_t(i);
  }
  tok.byte_fallback = false;
  for (fb::TokenKind k : tok.kinds) tok.byte_fallback |= (k == fb::TokenKind::Byte);
  *out = std::move(tok);
  return Status::Ok();
}

// ---- SentencePiece ModelProto (protobuf wire format) ----
namespace {

class ProtoReader {
 public:
  ProtoReader(const uint8_t* p, size_t n) : r_(p, n) {}
  bool done() const { return r_.remaining() == 0; }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!r_.Read(&b)) return false;
      *v |= uint64_t(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // Next field: number, wire type, and for length-delimited fields the payload.
  bool Next(uint32_t* field, uint32_t* wire, uint64_t* value, const uint8_t** payload) {
    uint64_t key;
    if (!Varint(&key)) return false;
    *field = uint32_t(key >> 3);
    *wire = uint32_t(key & 7);
    switch (*wire) {
      case 0: return Varint(value);
      case 1: return r_.Read(value);
      case 2: return Varint(value) && r_.Bytes(*value, payload);
      case 5: {
        uint32_t v32;
        if (!r_.Read(&v32)) return false;
        *value = v32;
        return true;
      }
      default: return false;  // groups are not used by SentencePiece
    }
  }

 private:
  ii::ByteReader r_;
};

fb::TokenKind SpTypeToKind(uint64_t t) {
  switch (t) {
    case 2: return fb::TokenKind::Unknown;
    case 3: return fb::TokenKind::Control;
    case 4: return fb::TokenKind::UserDefined;
    case 5: return fb::TokenKind::Unused;
    case 6: return fb::TokenKind::Byte;
    default: return fb::TokenKind::Normal;
  }
}

Status SpError(const std::string& path, const char* what) {
  return StatusError(StatusCode::kFormat, "%s: bad SentencePiece model (%s)", path.c_str(), what);
}

}  // namespace

Status ImportSentencePieceModel(const std::string& path, TokenizerData* out) {
  std::string data;
  QLITE_RETURN_IF_ERROR(ii::ReadWholeFile(path, ii::kMaxMetadataBytes, &data));
  TokenizerData tok;
  tok.type = fb::TokenizerType::SentencePieceBPE;
  tok.add_dummy_prefix = true;  // proto2 defaults
  tok.byte_fallback = false;
  int32_t unk = 0, bos = 1, eos = 2, pad = -1;
  uint64_t model_type = 1;  // UNIGRAM is the proto default
  ProtoReader top(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  uint32_t field, wire;
  uint64_t value;
  const uint8_t* payload = nullptr;
  while (!top.done()) {
    if (!top.Next(&field, &wire, &value, &payload)) return SpError(path, "truncated or malformed field");
    if (field == 1 && wire == 2) {  // SentencePiece {1: piece, 2: score, 3: type}
      if (tok.pieces.size() >= ii::kMaxVocab) return SpError(path, "too many pieces");
      std::string piece;
      float score = 0;
      uint64_t type = 1;
      ProtoReader p(payload, size_t(value));
      while (!p.done()) {
        uint64_t v;
        const uint8_t* pl = nullptr;
        if (!p.Next(&field, &wire, &v, &pl)) return SpError(path, "malformed piece");
        if (field == 1 && wire == 2) piece.assign(reinterpret_cast<const char*>(pl), size_t(v));
        else if (field == 2 && wire == 5) {
          uint32_t bits = uint32_t(v);
          std::memcpy(&score, &bits, 4);
        } else if (field == 3 && wire == 0) type = v;
      }
      tok.pieces.push_back(std::move(piece));
      tok.scores.push_back(score);
      tok.kinds.push_back(SpTypeToKind(type));
    } else if (field == 2 && wire == 2) {  // TrainerSpec
      ProtoReader p(payload, size_t(value));
      while (!p.done()) {
        uint64_t v;
        const uint8_t* pl = nullptr;
        if (!p.Next(&field, &wire, &v, &pl)) return SpError(path, "malformed trainer spec");
        if (wire != 0) continue;
        switch (field) {
          case 3: model_type = v; break;
          case 35: tok.byte_fallback = v != 0; break;
          case 40: unk = int32_t(uint32_t(v)); break;  // int32 varints are sign-extended to 64 bits
          case 41: bos = int32_t(uint32_t(v)); break;
          case 42: eos = int32_t(uint32_t(v)); break;
          case 43: pad = int32_t(uint32_t(v)); break;
          default: break;
        }
      }
    } else if (field == 3 && wire == 2) {  // NormalizerSpec {3: add_dummy_prefix}
      ProtoReader p(payload, size_t(value));
      while (!p.done()) {
        uint64_t v;
        const uint8_t* pl = nullptr;
        if (!p.Next(&field, &wire, &v, &pl)) return SpError(path, "malformed normalizer spec");
        if (field == 3 && wire == 0) tok.add_dummy_prefix = v != 0;
      }
    }
  }
  if (tok.pieces.empty()) return SpError(path, "no pieces");
  if (model_type != 2)
    return StatusError(StatusCode::kUnsupported, "%s: SentencePiece model type %s is not supported (BPE only)",
                       path.c_str(), model_type == 1 ? "unigram" : model_type == 3 ? "word" : "char");
  const int32_t n = int32_t(tok.pieces.size());
  auto id_or_none = [n](int32_t id) { return id >= 0 && id < n ? id : -1; };
  tok.unk_id = id_or_none(unk);
  tok.bos_id = id_or_none(bos);
  tok.eos_id = id_or_none(eos);
  tok.pad_id = id_or_none(pad);
  *out = std::move(tok);
  return Status::Ok();
}

// ---- Hugging Face tokenizer.json ----
namespace {

bool ContainsType(const json::Value& v, const std::string& type, int depth = 0) {
  if (depth > 16) return false;
  if (v.IsObject()) {
    for (const auto& kv : v.object) {
      if (kv.first == "type" && kv.second.IsString() && kv.second.string == type) return true;
      if (ContainsType(kv.second, type, depth + 1)) return true;
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.array)
      if (ContainsType(e, type, depth + 1)) return true;
  }
  return false;
}

// A special token in tokenizer_config.json is a string or {"content": ...}.
std::string TokenText(const json::Value* v) {
  if (!v) return "";
  if (v->IsString()) return v->string;
  if (const json::Value* c = v->Find("content"); c && c->IsString()) return c->string;
  return "";
}

// Names the split regex family the runtime's byte-level pre-tokenizer knows.
std::string PreTokenizerName(const json::Value& root) {
  const json::Value* pre = root.Find("pre_tokenizer");
  if (!pre) return "gpt2";
  if (ContainsType(*pre, "Digits")) return "smollm";
  std::string text;
  std::function<void(const json::Value&, int)> collect = [&](const json::Value& v, int depth) {
    if (depth > 16) return;
    if (v.IsString()) text += v.string;
    for (const auto& kv : v.object) collect(kv.second, depth + 1);
    for (const auto& e : v.array) collect(e, depth + 1);
  };
  collect(*pre, 0);
  if (text.find("\\p{N}{1,3}") != std::string::npos) return "llama3";
  if (text.find("\\p{N}") != std::string::npos && text.find("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+") != std::string::npos)
    return "qwen2";
  return "gpt2";
}

Status ParseTokenizerConfig(const std::string& dir, json::Value* cfg) {
  const std::string path = ii::JoinPath(dir, "tokenizer_config.json");
  if (!ii::IsRegularFile(path)) return Status::Ok();
  std::string text;
  QLITE_RETURN_IF_ERROR(ii::ReadWholeFile(path, ii::kMaxMetadataBytes, &text));
  Status s = json::Parse(text, cfg);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  return Status::Ok();
}

}  // namespace

Status ImportHuggingFaceTokenizer(const std::string& tokenizer_json, TokenizerData* out) {
  const std::string dir = ii::DirName(tokenizer_json);
  std::string text;
  QLITE_RETURN_IF_ERROR(ii::ReadWholeFile(tokenizer_json, ii::kMaxMetadataBytes, &text));
  json::Value root;
  if (Status s = json::Parse(text, &root); !s.ok()) return Status(s.code(), tokenizer_json + ": " + s.message());
  text.clear();
  json::Value cfg;
  QLITE_RETURN_IF_ERROR(ParseTokenizerConfig(dir, &cfg));

  const json::Value* model = root.Find("model");
  if (!model || !model->IsObject()) return StatusError(StatusCode::kFormat, "%s: no \"model\"", tokenizer_json.c_str());
  std::string model_type;
  QLITE_RETURN_IF_ERROR(json::GetString(*model, "type", &model_type));
  if (model_type != "BPE")
    return StatusError(StatusCode::kUnsupported, "%s: tokenizer model type \"%s\" is not supported (BPE only)",
                       tokenizer_json.c_str(), model_type.c_str());
  const bool byte_level = (root.Find("pre_tokenizer") && ContainsType(*root.Find("pre_tokenizer"), "ByteLevel")) ||
                          (root.Find("decoder") && ContainsType(*root.Find("decoder"), "ByteLevel"));

  TokenizerData tok;
  const std::string sp_model = ii::JoinPath(dir, "tokenizer.model");
  if (!byte_level && ii::IsRegularFile(sp_model)) {
    // SentencePiece-style tokenizer.json: the original model carries scores and types.
    QLITE_RETURN_IF_ERROR(ImportSentencePieceModel(sp_model, &tok));
    // Tokens added on top of the SentencePiece vocabulary (chat markers) live only in the json.
    if (const json::Value* added = root.Find("added_tokens"); added && added->IsArray()) {
      for (const json::Value& a : added->array) {
        const json::Value* id = a.Find("id");
        const json::Value* content = a.Find("content");
        if (!id || !id->is_integer || !content || !content->IsString() || id->integer < 0 ||
            uint64_t(id->integer) >= ii::kMaxVocab)
          return StatusError(StatusCode::kFormat, "%s: bad added_tokens entry", tokenizer_json.c_str());
        const size_t i = size_t(id->integer);
        if (i < tok.pieces.size()) continue;
        ii::PadVocabulary(uint32_t(i + 1), &tok);
        tok.pieces[i] = content->string;
        const json::Value* special = a.Find("special");
        tok.kinds[i] = special && special->IsBool() && special->boolean ? fb::TokenKind::Control
                                                                       : fb::TokenKind::UserDefined;
      }
    }
  } else {
    tok.type = byte_level ? fb::TokenizerType::ByteLevelBPE : fb::TokenizerType::SentencePieceBPE;
    const json::Value* vocab = model->Find("vocab");
    if (!vocab || !vocab->IsObject())
      return StatusError(StatusCode::kFormat, "%s: model has no vocab object", tokenizer_json.c_str());
    std::vector<std::pair<int64_t, const std::string*>> entries;
    int64_t max_id = -1;
    auto add = [&](int64_t id, const std::string* piece) -> Status {
      if (id < 0 || uint64_t(id) >= ii::kMaxVocab)
        return StatusError(StatusCode::kFormat, "%s: token id %lld out of range", tokenizer_json.c_str(), (long long)id);
      entries.emplace_back(id, piece);
      max_id = std::max(max_id, id);
      return Status::Ok();
    };
    for (const auto& kv : vocab->object) {
      if (!kv.second.is_integer) return StatusError(StatusCode::kFormat, "%s: non-integer vocab id", tokenizer_json.c_str());
      QLITE_RETURN_IF_ERROR(add(kv.second.integer, &kv.first));
    }
    const size_t n_model = entries.size();
    if (const json::Value* added = root.Find("added_tokens"); added && added->IsArray()) {
      for (const json::Value& a : added->array) {
        const json::Value* id = a.Find("id");
        const json::Value* content = a.Find("content");
        if (!id || !id->is_integer || !content || !content->IsString())
          return StatusError(StatusCode::kFormat, "%s: bad added_tokens entry", tokenizer_json.c_str());
        QLITE_RETURN_IF_ERROR(add(id->integer, &content->string));
      }
    }
    tok.pieces.assign(size_t(max_id + 1), "");
    tok.kinds.assign(size_t(max_id + 1), fb::TokenKind::Unused);
    for (size_t i = 0; i < entries.size(); ++i) {
      const size_t id = size_t(entries[i].first);
      tok.pieces[id] = *entries[i].second;
      if (i < n_model) {
        tok.kinds[id] = !byte_level && ii::IsBytePiece(tok.pieces[id]) ? fb::TokenKind::Byte : fb::TokenKind::Normal;
      } else {
        const json::Value* special = root.Find("added_tokens")->array[i - n_model].Find("special");
        tok.kinds[id] = special && special->IsBool() && special->boolean ? fb::TokenKind::Control
                                                                         : fb::TokenKind::UserDefined;
      }
    }
    // Merges: "a b" strings (older files) or ["a", "b"] pairs.
    if (const json::Value* merges = model->Find("merges"); merges && merges->IsArray()) {
      tok.merges.reserve(merges->array.size());
      for (const json::Value& m : merges->array) {
        if (m.IsString()) {
          tok.merges.push_back(m.string);
        } else if (m.IsArray() && m.array.size() == 2 && m.array[0].IsString() && m.array[1].IsString()) {
          tok.merges.push_back(m.array[0].string + " " + m.array[1].string);
        } else {
          return StatusError(StatusCode::kFormat, "%s: bad merge entry", tokenizer_json.c_str());
        }
      }
    }
    std::unordered_map<std::string, int32_t> ids;
    for (size_t i = 0; i < tok.pieces.size(); ++i) ids.emplace(tok.pieces[i], int32_t(i));
    if (!byte_level) {
      // SentencePiece BPE without tokenizer.model: a merged piece scores -rank of the merge
      // that first produces it, so score-greedy merging replays the merge order.
      tok.scores.assign(tok.pieces.size(), 0.0f);
      std::vector<bool> seen(tok.pieces.size(), false);
      for (size_t rank = 0; rank < tok.merges.size(); ++rank) {
        const std::string& m = tok.merges[rank];
        size_t sp = m.find(' ');
        auto it = ids.find(m.substr(0, sp) + (sp == std::string::npos ? "" : m.substr(sp + 1)));
        if (it != ids.end() && !seen[size_t(it->second)]) {
          seen[size_t(it->second)] = true;
          tok.scores[size_t(it->second)] = -float(rank + 1);
        }
      }
      bool bf = false;
      QLITE_RETURN_IF_ERROR(json::GetBool(*model, "byte_fallback", &bf));
      tok.byte_fallback = bf;
      tok.add_dummy_prefix = ContainsType(root, "Prepend") || ContainsType(root, "Metaspace");
    } else {
      tok.byte_fallback = false;
      tok.add_dummy_prefix = false;
      tok.add_bos = false;
      tok.pre_tokenizer = PreTokenizerName(root);
    }
    std::string unk;
    QLITE_RETURN_IF_ERROR(json::GetString(*model, "unk_token", &unk));
    if (auto it = ids.find(unk); !unk.empty() && it != ids.end()) {
      tok.unk_id = it->second;
      tok.kinds[size_t(it->second)] = fb::TokenKind::Unknown;
    }
    // BOS from the post-processor template ("<s> $A" / "<|begin_of_text|> $A").
    if (const json::Value* post = root.Find("post_processor")) {
      std::function<void(const json::Value&, int)> find_single = [&](const json::Value& v, int depth) {
        if (depth > 8) return;
        const json::Value* single = v.Find("single");
        if (single && single->IsArray() && !single->array.empty()) {
          const json::Value* st = single->array[0].Find("SpecialToken");
          std::string id;
          if (st && json::GetString(*st, "id", &id).ok()) {
            if (auto it = ids.find(id); it != ids.end()) {
              tok.add_bos = true;
              tok.bos_id = it->second;
            }
          }
        }
        if (const json::Value* procs = v.Find("processors"); procs && procs->IsArray())
          for (const auto& p : procs->array) find_single(p, depth + 1);
      };
      find_single(*post, 0);
    }
    auto id_of = [&](const char* key) -> int32_t {
      std::string t = TokenText(cfg.Find(key));
      auto it = ids.find(t);
      return t.empty() || it == ids.end() ? -1 : it->second;
    };
    if (int32_t b = id_of("bos_token"); b >= 0) tok.bos_id = b;
    if (int32_t e = id_of("eos_token"); e >= 0) tok.eos_id = e;
    if (int32_t p = id_of("pad_token"); p >= 0) tok.pad_id = p;
    if (!byte_level) {  // SentencePiece conventions when nothing names them
      if (auto it = ids.find("<s>"); tok.bos_id < 0 && it != ids.end()) tok.bos_id = it->second;
      if (auto it = ids.find("</s>"); tok.eos_id < 0 && it != ids.end()) tok.eos_id = it->second;
    }
  }
  // tokenizer_config.json has the last word on BOS/EOS insertion and holds the chat template.
  QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "add_bos_token", &tok.add_bos));
  QLITE_RETURN_IF_ERROR(json::GetBool(cfg, "add_eos_token", &tok.add_eos));
  if (const json::Value* tmpl = cfg.Find("chat_template")) {
    if (tmpl->IsString()) {
      tok.chat_template = tmpl->string;
    } else if (tmpl->IsArray()) {  // [{"name": "default", "template": ...}, ...]
      for (const json::Value& t : tmpl->array) {
        std::string name, body;
        QLITE_RETURN_IF_ERROR(json::GetString(t, "name", &name));
        QLITE_RETURN_IF_ERROR(json::GetString(t, "template", &body));
        if (tok.chat_template.empty() || name == "default") tok.chat_template = body;
      }
    }
  }
  // Newer transformers save the template beside the config, and it takes precedence.
  if (const std::string jinja = ii::JoinPath(dir, "chat_template.jinja"); ii::IsRegularFile(jinja)) {
    std::string text;
    QLITE_RETURN_IF_ERROR(ii::ReadWholeFile(jinja, kMaxChatTemplateBytes, &text));
    tok.chat_template = std::move(text);
  }
  if (tok.chat_template.size() > kMaxChatTemplateBytes)
    return StatusError(StatusCode::kFormat, "%s: chat template of %zu bytes (at most %zu)", dir.c_str(),
                       tok.chat_template.size(), kMaxChatTemplateBytes);
  *out = std::move(tok);
  return Status::Ok();
}

}  // namespace qlite
