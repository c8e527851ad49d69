#include "qlite/format/json.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace qlite {
namespace json {
namespace {

constexpr int kMaxDepth = 128;
// Bounds the tree's memory on hostile input (~100 bytes a value); the largest real
// tokenizer.json files have one to two million values.
constexpr size_t kMaxValues = size_t(1) << 22;

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text.data()), n_(text.size()) {}

  Status ParseDocument(Value* out) {
    QLITE_RETURN_IF_ERROR(ParseValue(out, 0));
    SkipSpace();
    if (i_ != n_) return Error("trailing characters after the JSON value");
    return Status::Ok();
  }

 private:
  Status Error(const char* what) const {
    return StatusError(StatusCode::kFormat, "bad JSON at byte %zu: %s", i_, what);
  }
  void SkipSpace() {
    while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool Literal(const char* word) {
    size_t len = std::strlen(word);
    if (n_ - i_ < len || std::memcmp(s_ + i_, word, len) != 0) return false;
    i_ += len;
    return true;
  }

  Status ParseValue(Value* v, int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    if (++values_ > kMaxValues) return Error("too many values");
    SkipSpace();
    if (i_ >= n_) return Error("unexpected end of input");
    char c = s_[i_];
    if (c == '{') return ParseObject(v, depth);
    if (c == '[') return ParseArray(v, depth);
    if (c == '"') {
      v->type = Type::String;
      return ParseString(&v->string);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber(v);
    if (Literal("true")) {
      v->type = Type::Bool;
      v->boolean = true;
      return Status::Ok();
    }
    if (Literal("false")) {
      v->type = Type::Bool;
      return Status::Ok();
    }
    if (Literal("null")) {
      v->type = Type::Null;
      return Status::Ok();
    }
    return Error("unexpected character");
  }

  Status ParseObject(Value* v, int depth) {
    v->type = Type::Object;
    ++i_;
    SkipSpace();
    if (i_ < n_ && s_[i_] == '}') {
      ++i_;
      return Status::Ok();
    }
    for (;;) {
      SkipSpace();
      if (i_ >= n_ || s_[i_] != '"') return Error("expected a string key");
      std::string key;
      QLITE_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (i_ >= n_ || s_[i_] != ':') return Error("expected ':'");
      ++i_;
      v->object.emplace_back(std::move(key), Value());
      QLITE_RETURN_IF_ERROR(ParseValue(&v->object.back().second, depth + 1));
      SkipSpace();
      if (i_ >= n_) return Error("unterminated object");
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] == '}') {
        ++i_;
        return Status::Ok();
      }
      return Error("expected ',' or '}'");
    }
  }

  Status ParseArray(Value* v, int depth) {
    v->type = Type::Array;
    ++i_;
    SkipSpace();
    if (i_ < n_ && s_[i_] == ']') {
      ++i_;
      return Status::Ok();
    }
    for (;;) {
      v->array.emplace_back();
      QLITE_RETURN_IF_ERROR(ParseValue(&v->array.back(), depth + 1));
      SkipSpace();
      if (i_ >= n_) return Error("unterminated array");
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] == ']') {
        ++i_;
        return Status::Ok();
      }
      return Error("expected ',' or ']'");
    }
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(char(cp));
    } else if (cp < 0x800) {
      out->push_back(char(0xC0 | (cp >> 6)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(char(0xE0 | (cp >> 12)));
      out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(char(0xF0 | (cp >> 18)));
      out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(char(0x80 | (cp & 0x3F)));
    }
  }

  bool Hex4(uint32_t* cp) {
    if (n_ - i_ < 4) return false;
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s_[i_ + k];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
      else return false;
    }
    i_ += 4;
    *cp = v;
    return true;
  }

  Status ParseString(std::string* out) {
    ++i_;  // opening quote
    out->clear();
    for (;;) {
      if (i_ >= n_) return Error("unterminated string");
      char c = s_[i_++];
      if (c == '"') return Status::Ok();
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (i_ >= n_) return Error("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return Error("bad \\u escape");
          if (cp >= 0xD800 && cp < 0xDC00) {  // surrogate pair
            uint32_t lo;
            if (n_ - i_ < 2 || s_[i_] != '\\' || s_[i_ + 1] != 'u') return Error("lone surrogate");
            i_ += 2;
            if (!Hex4(&lo) || lo < 0xDC00 || lo >= 0xE000) return Error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return Error("lone surrogate");
          }
          AppendUtf8(cp, out);
          break;
        }
        default: return Error("bad escape");
      }
    }
  }

  Status ParseNumber(Value* v) {
    size_t start = i_;
    bool integral = true;
    if (s_[i_] == '-') ++i_;
    auto digits = [&]() {
      size_t d = i_;
      while (i_ < n_ && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ - d;
    };
    if (digits() == 0) return Error("bad number");
    if (i_ < n_ && s_[i_] == '.') {
      ++i_;
      integral = false;
      if (digits() == 0) return Error("bad number");
    }
    if (i_ < n_ && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      integral = false;
      if (i_ < n_ && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (digits() == 0) return Error("bad number");
    }
    std::string text(s_ + start, i_ - start);
    v->type = Type::Number;
    v->number = std::strtod(text.c_str(), nullptr);
    if (integral && text.size() <= 18) {
      v->is_integer = true;
      v->integer = std::strtoll(text.c_str(), nullptr, 10);
    }
    return Status::Ok();
  }

  const char* s_;
  size_t n_;
  size_t i_ = 0;
  size_t values_ = 0;
};

}  // namespace

const Value* Value::Find(const std::string& key) const {
  if (type != Type::Object) return nullptr;
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Status Parse(const std::string& text, Value* out) {
  *out = Value();
  return Parser(text).ParseDocument(out);
}

namespace {
Status TypeError(const char* key, const char* want) {
  return StatusError(StatusCode::kFormat, "JSON key \"%s\" should be %s", key, want);
}
}  // namespace

Status GetUint(const Value& obj, const char* key, uint32_t* out) {
  const Value* v = obj.Find(key);
  if (!v || v->IsNull()) return Status::Ok();
  if (!v->IsNumber() || !v->is_integer || v->integer < 0 || v->integer > int64_t(UINT32_MAX))
    return TypeError(key, "a non-negative 32-bit integer");
  *out = uint32_t(v->integer);
  return Status::Ok();
}

Status GetInt(const Value& obj, const char* key, int32_t* out) {
  const Value* v = obj.Find(key);
  if (!v || v->IsNull()) return Status::Ok();
  if (!v->IsNumber() || !v->is_integer || v->integer < INT32_MIN || v->integer > INT32_MAX)
    return TypeError(key, "a 32-bit integer");
  *out = int32_t(v->integer);
  return Status::Ok();
}

Status GetFloat(const Value& obj, const char* key, float* out) {
  const Value* v = obj.Find(key);
  if (!v || v->IsNull()) return Status::Ok();
  if (!v->IsNumber() || !std::isfinite(v->number)) return TypeError(key, "a number");
  *out = float(v->number);
  return Status::Ok();
}

Status GetBool(const Value& obj, const char* key, bool* out) {
  const Value* v = obj.Find(key);
  if (!v || v->IsNull()) return Status::Ok();
  if (!v->IsBool()) return TypeError(key, "true or false");
  *out = v->boolean;
  return Status::Ok();
}

Status GetString(const Value& obj, const char* key, std::string* out) {
  const Value* v = obj.Find(key);
  if (!v || v->IsNull()) return Status::Ok();
  if (!v->IsString()) return TypeError(key, "a string");
  *out = v->string;
  return Status::Ok();
}

}  // namespace json
}  // namespace qlite
