// Helpers for the tokenizer tests: a small JSON reader for the reference files and file
// reading. Test-only code.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace qlite_test {

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Minimal JSON value: enough for the reference files (objects, arrays, strings with
// \uXXXX escapes and surrogate pairs, numbers, true/false/null).
struct Json {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject } type = kNull;
  double num = 0;
  bool b = false;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;

  const Json& operator[](const std::string& k) const {
    static const Json null;
    auto it = obj.find(k);
    return it == obj.end() ? null : it->second;
  }
  const Json& operator[](size_t i) const { return arr[i]; }
  size_t size() const { return type == kArray ? arr.size() : obj.size(); }
  std::vector<int32_t> Ints() const {
    std::vector<int32_t> v;
    for (const Json& j : arr) v.push_back(static_cast<int32_t>(j.num));
    return v;
  }

  static bool Parse(const std::string& s, Json* out) {
    size_t pos = 0;
    return ParseValue(s, &pos, out);
  }

 private:
  static void Ws(const std::string& s, size_t* p) {
    while (*p < s.size() && (s[*p] == ' ' || s[*p] == '\n' || s[*p] == '\r' || s[*p] == '\t')) ++*p;
  }
  static void Utf8(uint32_t cp, std::string* o) {
    if (cp < 0x80) {
      o->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      o->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      o->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      o->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      o->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      o->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  static bool Hex4(const std::string& s, size_t p, uint32_t* v) {
    if (p + 4 > s.size()) return false;
    *v = static_cast<uint32_t>(std::strtoul(s.substr(p, 4).c_str(), nullptr, 16));
    return true;
  }
  static bool ParseString(const std::string& s, size_t* p, std::string* o) {
    ++*p;  // opening quote
    while (*p < s.size() && s[*p] != '"') {
      char c = s[(*p)++];
      if (c != '\\') {
        o->push_back(c);
        continue;
      }
      if (*p >= s.size()) return false;
      c = s[(*p)++];
      switch (c) {
        case 'n': o->push_back('\n'); break;
        case 't': o->push_back('\t'); break;
        case 'r': o->push_back('\r'); break;
        case 'b': o->push_back('\b'); break;
        case 'f': o->push_back('\f'); break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(s, *p, &cp)) return false;
          *p += 4;
          if (cp >= 0xD800 && cp < 0xDC00 && *p + 6 <= s.size() && s[*p] == '\\' && s[*p + 1] == 'u') {
            uint32_t lo;
            if (!Hex4(s, *p + 2, &lo)) return false;
            *p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          Utf8(cp, o);
          break;
        }
        default: o->push_back(c);
      }
    }
    if (*p >= s.size()) return false;
    ++*p;
    return true;
  }
  static bool ParseValue(const std::string& s, size_t* p, Json* out) {
    Ws(s, p);
    if (*p >= s.size()) return false;
    const char c = s[*p];
    if (c == '{') {
      out->type = kObject;
      ++*p;
      Ws(s, p);
      if (*p < s.size() && s[*p] == '}') return ++*p, true;
      while (true) {
        Ws(s, p);
        std::string key;
        if (*p >= s.size() || s[*p] != '"' || !ParseString(s, p, &key)) return false;
        Ws(s, p);
        if (*p >= s.size() || s[(*p)++] != ':') return false;
        if (!ParseValue(s, p, &out->obj[key])) return false;
        Ws(s, p);
        if (*p >= s.size()) return false;
        if (s[*p] == ',') { ++*p; continue; }
        if (s[*p] == '}') return ++*p, true;
        return false;
      }
    }
    if (c == '[') {
      out->type = kArray;
      ++*p;
      Ws(s, p);
      if (*p < s.size() && s[*p] == ']') return ++*p, true;
      while (true) {
        out->arr.emplace_back();
        if (!ParseValue(s, p, &out->arr.back())) return false;
        Ws(s, p);
        if (*p >= s.size()) return false;
        if (s[*p] == ',') { ++*p; continue; }
        if (s[*p] == ']') return ++*p, true;
        return false;
      }
    }
    if (c == '"') {
      out->type = kString;
      return ParseString(s, p, &out->str);
    }
    if (s.compare(*p, 4, "true") == 0) { out->type = kBool; out->b = true; *p += 4; return true; }
    if (s.compare(*p, 5, "false") == 0) { out->type = kBool; *p += 5; return true; }
    if (s.compare(*p, 4, "null") == 0) { *p += 4; return true; }
    char* end = nullptr;
    out->type = kNumber;
    out->num = std::strtod(s.c_str() + *p, &end);
    if (end == s.c_str() + *p) return false;
    *p = static_cast<size_t>(end - s.c_str());
    return true;
  }
};

}  // namespace qlite_test

#include "qlite/format/source_model.h"

namespace qlite_test {

// llama2.c tokenizer.bin: int32 max_token_length, then per token float score, int32 len,
// bytes. Only for tests that run before/without the format importers.
inline bool LoadLlama2cTokenizerBin(const std::string& path, qlite::TokenizerData* out) {
  const std::string s = ReadFile(path);
  if (s.size() < 4) return false;
  size_t p = 4;
  out->type = qlite::fb::TokenizerType::SentencePieceBPE;
  while (p + 8 <= s.size()) {
    float score;
    int32_t len;
    std::memcpy(&score, s.data() + p, 4);
    std::memcpy(&len, s.data() + p + 4, 4);
    p += 8;
    if (len < 0 || p + static_cast<size_t>(len) > s.size()) return false;
    out->pieces.emplace_back(s.data() + p, static_cast<size_t>(len));
    out->scores.push_back(score);
    p += static_cast<size_t>(len);
  }
  return p == s.size();
}

}  // namespace qlite_test

namespace qlite_test {

// Reads the tokenizer.ggml.* keys of a GGUF file (test-only stand-in until the format
// importers are available). Returns false on anything unexpected.
inline bool LoadGgufTokenizer(const std::string& path, qlite::TokenizerData* out, int32_t* bos, int32_t* eos) {
  const std::string s = ReadFile(path);
  size_t p = 0;
  auto need = [&](size_t n) { return p + n <= s.size(); };
  auto u32 = [&]() { uint32_t v = 0; if (need(4)) std::memcpy(&v, s.data() + p, 4); p += 4; return v; };
  auto u64 = [&]() { uint64_t v = 0; if (need(8)) std::memcpy(&v, s.data() + p, 8); p += 8; return v; };
  auto str = [&]() { const uint64_t n = u64(); std::string r = need(n) ? s.substr(p, n) : ""; p += n; return r; };
  if (s.compare(0, 4, "GGUF") != 0) return false;
  p = 4;
  u32();
  u64();
  const uint64_t n_kv = u64();
  static const size_t kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  std::string model, pre;
  for (uint64_t k = 0; k < n_kv && p < s.size(); ++k) {
    const std::string key = str();
    const uint32_t type = u32();
    auto scalar = [&](uint32_t t, int64_t* iv) {
      if (t == 8) { str(); return; }
      if (t > 12) { p = s.size(); return; }
      int64_t v = 0;
      if (need(kSize[t])) std::memcpy(&v, s.data() + p, kSize[t]);
      p += kSize[t];
      if (iv) *iv = v;
    };
    if (type == 9) {
      const uint32_t et = u32();
      const uint64_t n = u64();
      for (uint64_t i = 0; i < n && p < s.size(); ++i) {
        if (et == 8) {
          std::string v = str();
          if (key == "tokenizer.ggml.tokens") out->pieces.push_back(v);
          if (key == "tokenizer.ggml.merges") out->merges.push_back(v);
        } else if (key == "tokenizer.ggml.scores" && et == 6) {
          float f;
          std::memcpy(&f, s.data() + p, 4);
          p += 4;
          out->scores.push_back(f);
        } else if (key == "tokenizer.ggml.token_type") {
          int64_t v = 0;
          scalar(et, &v);
          // GGUF: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
          static const qlite::fb::TokenKind kKinds[] = {
              qlite::fb::TokenKind::Normal, qlite::fb::TokenKind::Normal, qlite::fb::TokenKind::Unknown,
              qlite::fb::TokenKind::Control, qlite::fb::TokenKind::UserDefined, qlite::fb::TokenKind::Unused,
              qlite::fb::TokenKind::Byte};
          out->kinds.push_back(v >= 0 && v <= 6 ? kKinds[v] : qlite::fb::TokenKind::Normal);
        } else {
          scalar(et, nullptr);
        }
      }
    } else if (type == 8) {
      const std::string v = str();
      if (key == "tokenizer.ggml.model") model = v;
      if (key == "tokenizer.ggml.pre") pre = v;
    } else {
      int64_t v = 0;
      scalar(type, &v);
      if (key == "tokenizer.ggml.bos_token_id") *bos = static_cast<int32_t>(v);
      if (key == "tokenizer.ggml.eos_token_id") *eos = static_cast<int32_t>(v);
      if (key == "tokenizer.ggml.unknown_token_id") out->unk_id = static_cast<int32_t>(v);
      if (key == "tokenizer.ggml.add_bos_token") out->add_bos = v != 0;
      if (key == "tokenizer.ggml.add_eos_token") out->add_eos = v != 0;
      if (key == "tokenizer.ggml.add_space_prefix") out->add_dummy_prefix = v != 0;
    }
  }
  out->type = model == "gpt2" ? qlite::fb::TokenizerType::ByteLevelBPE : qlite::fb::TokenizerType::SentencePieceBPE;
  out->pre_tokenizer = pre;
  return p <= s.size() && !out->pieces.empty();
}

}  // namespace qlite_test
