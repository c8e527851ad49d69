// JSON Schema to grammar text (grammar.h): a practical subset, enough for tool calls. Every
// text the grammar accepts is valid JSON that satisfies the schema; keywords that would need
// more (pattern, minimum, $ref, ...) are refused rather than ignored.
#include <cstdio>
#include <set>
#include <string>

#include "grammar.h"
#include "qlite/format/json.h"

namespace qlite {
namespace grammar {
namespace {

constexpr size_t kMaxGrammarBytes = 1 << 20;
constexpr int kMaxDepth = 32;
constexpr int64_t kMaxCount = 1024;  // minLength, maxItems, ...

// Shared rules, appended once. Numbers and whitespace are bounded so that a sentence always
// ends; the grammar accepts compact JSON and a little indentation.
const char kPrimitives[] =
    "ws ::= | \" \" | \"\\n\" [ \\t]{0,8}\n"
    "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n"
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"
    "number ::= integer (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n"
    "boolean ::= \"true\" | \"false\"\n"
    "null ::= \"null\"\n"
    "value ::= object | array | string | number | boolean | null\n"
    "member ::= string ws \":\" ws value ws\n"
    "object ::= \"{\" ws (member (\",\" ws member)*)? \"}\"\n"
    "array ::= \"[\" ws (value ws (\",\" ws value ws)*)? \"]\"\n";

const std::set<std::string>& Known() {
  static const std::set<std::string> k = {
      "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
      "anyOf", "oneOf", "minLength", "maxLength",
      // annotations: they do not constrain the value
      "title", "description", "$schema", "$id", "$comment", "default", "examples"};
  return k;
}

void AppendJson(const json::Value& v, std::string* out);

void AppendJsonString(const std::string& s, std::string* out) {
  *out += '"';
  for (const char c : s) {
    const uint8_t u = uint8_t(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", u);
      *out += buf;
    } else {
      *out += c;
    }
  }
  *out += '"';
}

void AppendJson(const json::Value& v, std::string* out) {
  switch (v.type) {
    case json::Type::Null: *out += "null"; break;
    case json::Type::Bool: *out += v.boolean ? "true" : "false"; break;
    case json::Type::Number: {
      char buf[32];
      if (v.is_integer) std::snprintf(buf, sizeof(buf), "%lld", (long long)v.integer);
      else std::snprintf(buf, sizeof(buf), "%.17g", v.number);
      *out += buf;
      break;
    }
    case json::Type::String: AppendJsonString(v.string, out); break;
    case json::Type::Array:
      *out += '[';
      for (size_t i = 0; i < v.array.size(); ++i) {
        if (i) *out += ',';
        AppendJson(v.array[i], out);
      }
      *out += ']';
      break;
    case json::Type::Object:
      *out += '{';
      for (size_t i = 0; i < v.object.size(); ++i) {
        if (i) *out += ',';
        AppendJsonString(v.object[i].first, out);
        *out += ':';
        AppendJson(v.object[i].second, out);
      }
      *out += '}';
      break;
  }
}

// Bytes as a grammar string literal.
std::string Literal(const std::string& bytes) {
  std::string out = "\"";
  for (const char c : bytes) {
    const uint8_t u = uint8_t(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class Converter {
 public:
  Status Run(const json::Value& schema, std::string* out) {
    std::string root;
    QLITE_RETURN_IF_ERROR(Visit(schema, "root", 0, &root));
    *out = "root ::= " + root + "\n" + rules_ + kPrimitives;
    return Status::Ok();
  }

 private:
  static Status Unsupported(const std::string& path, const std::string& what) {
    return Status(StatusCode::kUnsupported, "json schema at " + path + ": " + what);
  }
  static Status Bad(const std::string& path, const std::string& what) {
    return Status(StatusCode::kFormat, "json schema at " + path + ": " + what);
  }

  // A new rule named after its path; returns its name.
  Status Rule(const std::string& path, const std::string& body, std::string* name) {
    std::string n;
    for (const char c : path) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (n.size() < 48) n += ok ? c : '-';
    }
    std::string unique = n;
    for (int k = 2; !names_.insert(unique).second; ++k) unique = n + "-" + std::to_string(k);
    rules_ += unique + " ::= " + body + "\n";
    if (rules_.size() > kMaxGrammarBytes) return Unsupported(path, "the grammar would exceed 1 MiB");
    *name = unique;
    return Status::Ok();
  }

  static Status Count(const json::Value& s, const char* key, const std::string& path, int64_t* out) {
    const json::Value* v = s.Find(key);
    if (!v) return Status::Ok();
    if (!v->IsNumber() || !v->is_integer || v->integer < 0)
      return Bad(path, std::string(key) + " must be a non-negative integer");
    if (v->integer > kMaxCount) return Unsupported(path, std::string(key) + " above 1024");
    *out = v->integer;
    return Status::Ok();
  }

  static std::string Bounds(int64_t lo, int64_t hi) {
    if (hi < 0) return lo == 0 ? "*" : lo == 1 ? "+" : "{" + std::to_string(lo) + ",}";
    return "{" + std::to_string(lo) + "," + std::to_string(hi) + "}";
  }

  Status Visit(const json::Value& s, const std::string& path, int depth, std::string* expr) {
    if (depth > kMaxDepth) return Unsupported(path, "nested deeper than 32 levels");
    if (s.IsBool()) {
      if (!s.boolean) return Unsupported(path, "the schema false matches nothing");
      *expr = "value";
      return Status::Ok();
    }
    if (!s.IsObject()) return Bad(path, "a schema is an object or a boolean");
    for (const auto& kv : s.object)
      if (!Known().count(kv.first)) return Unsupported(path, "keyword '" + kv.first + "' is not supported");
    if (const json::Value* c = s.Find("const")) {
      std::string text;
      AppendJson(*c, &text);
      *expr = Literal(text);
      return Status::Ok();
    }
    if (const json::Value* e = s.Find("enum")) {
      if (!e->IsArray() || e->array.empty()) return Bad(path, "enum must be a non-empty array");
      std::string alts;
      for (const json::Value& v : e->array) {
        std::string text;
        AppendJson(v, &text);
        alts += (alts.empty() ? "" : " | ") + Literal(text);
      }
      *expr = "(" + alts + ")";
      return Status::Ok();
    }
    for (const char* key : {"anyOf", "oneOf"}) {  // oneOf as anyOf: any branch's output is valid for it only if branches do not overlap
      const json::Value* a = s.Find(key);
      if (!a) continue;
      if (!a->IsArray() || a->array.empty()) return Bad(path, std::string(key) + " must be a non-empty array");
      if (s.Find("type")) return Unsupported(path, std::string(key) + " beside type");
      std::string alts;
      for (size_t i = 0; i < a->array.size(); ++i) {
        std::string sub;
        QLITE_RETURN_IF_ERROR(Visit(a->array[i], path + "-" + std::to_string(i), depth + 1, &sub));
        alts += (alts.empty() ? "" : " | ") + sub;
      }
      *expr = "(" + alts + ")";
      return Status::Ok();
    }
    const json::Value* type = s.Find("type");
    if (!type) {
      if (s.Find("properties") || s.Find("additionalProperties")) return Typed(s, "object", path, depth, expr);
      if (s.Find("items")) return Typed(s, "array", path, depth, expr);
      if (s.Find("minLength") || s.Find("maxLength")) return Typed(s, "string", path, depth, expr);
      *expr = "value";
      return Status::Ok();
    }
    if (type->IsString()) return Typed(s, type->string, path, depth, expr);
    if (!type->IsArray() || type->array.empty()) return Bad(path, "type must be a string or a non-empty array");
    std::string alts;
    for (const json::Value& t : type->array) {
      if (!t.IsString()) return Bad(path, "type must name types");
      std::string sub;
      QLITE_RETURN_IF_ERROR(Typed(s, t.string, path, depth, &sub));
      alts += (alts.empty() ? "" : " | ") + sub;
    }
    *expr = "(" + alts + ")";
    return Status::Ok();
  }

  Status Typed(const json::Value& s, const std::string& type, const std::string& path, int depth, std::string* expr) {
    if (type == "integer" || type == "number" || type == "boolean" || type == "null") {
      *expr = type;
      return Status::Ok();
    }
    if (type == "string") {
      int64_t lo = 0, hi = -1;
      QLITE_RETURN_IF_ERROR(Count(s, "minLength", path, &lo));
      QLITE_RETURN_IF_ERROR(Count(s, "maxLength", path, &hi));
      if (hi >= 0 && hi < lo) return Bad(path, "maxLength below minLength");
      if (lo == 0 && hi < 0) {
        *expr = "string";
        return Status::Ok();
      }
      return Rule(path, "\"\\\"\" char" + Bounds(lo, hi) + " \"\\\"\"", expr);
    }
    if (type == "array") {
      int64_t lo = 0, hi = -1;
      QLITE_RETURN_IF_ERROR(Count(s, "minItems", path, &lo));
      QLITE_RETURN_IF_ERROR(Count(s, "maxItems", path, &hi));
      if (hi >= 0 && hi < lo) return Bad(path, "maxItems below minItems");
      std::string item = "value";
      if (const json::Value* items = s.Find("items")) {
        QLITE_RETURN_IF_ERROR(Visit(*items, path + "-item", depth + 1, &item));
      }
      if (hi == 0) return Rule(path, "\"[\" ws \"]\"", expr);
      // "[" ws (item ws ("," ws item ws){lo-1, hi-1})? "]"
      const std::string rest = "(\",\" ws " + item + " ws)" + Bounds(lo > 0 ? lo - 1 : 0, hi > 0 ? hi - 1 : -1);
      const std::string items = item + " ws " + rest;
      return Rule(path, "\"[\" ws " + (lo > 0 ? items : "(" + items + ")?") + " \"]\"", expr);
    }
    if (type == "object") return Object(s, path, depth, expr);
    return Unsupported(path, "type '" + type + "' is not supported");
  }

  Status Object(const json::Value& s, const std::string& path, int depth, std::string* expr) {
    const json::Value* props = s.Find("properties");
    const json::Value* required = s.Find("required");
    const json::Value* additional = s.Find("additionalProperties");
    if (props && !props->IsObject()) return Bad(path, "properties must be an object");
    if (required && !required->IsArray()) return Bad(path, "required must be an array");
    if (additional && !additional->IsBool() && !additional->IsObject())
      return Bad(path, "additionalProperties must be a boolean or a schema");
    std::set<std::string> req;
    if (required) {
      for (const json::Value& r : required->array) {
        if (!r.IsString()) return Bad(path, "required must list names");
        if (!props || !props->Find(r.string))
          return Unsupported(path, "required property '" + r.string + "' is not in properties");
        req.insert(r.string);
      }
    }
    if (!props || props->object.empty()) {
      if (!additional || (additional->IsBool() && additional->boolean)) {
        *expr = "object";
        return Status::Ok();
      }
      if (additional->IsBool()) return Rule(path, "\"{\" ws \"}\"", expr);
      std::string value;  // a map: any names, values of one schema
      QLITE_RETURN_IF_ERROR(Visit(*additional, path + "-value", depth + 1, &value));
      std::string kv;
      QLITE_RETURN_IF_ERROR(Rule(path + "-kv", "string ws \":\" ws " + value + " ws", &kv));
      return Rule(path, "\"{\" ws (" + kv + " (\",\" ws " + kv + ")*)? \"}\"", expr);
    }
    // Members in the schema's order; only those (no others are generated, which every
    // additionalProperties allows). first_j: the members from j on when none came yet,
    // next_j: the same after one did (each then starts with a comma).
    const size_t n = props->object.size();
    if (n > 256) return Unsupported(path, "more than 256 properties");
    std::vector<std::string> kv(n);
    for (size_t j = 0; j < n; ++j) {
      const auto& [name, sub] = props->object[j];
      std::string value;
      QLITE_RETURN_IF_ERROR(Visit(sub, path + "-" + name, depth + 1, &value));
      std::string key;
      AppendJsonString(name, &key);
      QLITE_RETURN_IF_ERROR(Rule(path + "-" + name + "-kv", Literal(key) + " ws \":\" ws " + value + " ws", &kv[j]));
    }
    std::string next = "", first = "";
    for (size_t j = n; j-- > 0;) {
      const bool must = req.count(props->object[j].first) > 0;
      const std::string with = "\",\" ws " + kv[j] + (next.empty() ? "" : " " + next);
      std::string next_j;
      QLITE_RETURN_IF_ERROR(Rule(path + "-next" + std::to_string(j), must ? with : "(\",\" ws " + kv[j] + ")?" + (next.empty() ? "" : " " + next), &next_j));
      std::string first_body = kv[j] + (next.empty() ? "" : " " + next);
      if (!must) first_body += " | " + (first.empty() ? std::string("") : first);
      std::string first_j;
      QLITE_RETURN_IF_ERROR(Rule(path + "-first" + std::to_string(j), first_body, &first_j));
      next = next_j;
      first = first_j;
    }
    return Rule(path, "\"{\" ws " + first + " \"}\"", expr);
  }

  std::string rules_;
  std::set<std::string> names_ = {"root", "ws", "char", "string", "integer", "number", "boolean", "null",
                                  "value", "member", "object", "array"};
};

// Grammars match code points: a string that is not UTF-8 could never be produced.
bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const uint8_t c = uint8_t(s[i++]);
    const int more = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (more < 0) return false;
    for (int k = 0; k < more; ++k)
      if (i >= s.size() || (uint8_t(s[i++]) & 0xC0) != 0x80) return false;
  }
  return true;
}

}  // namespace

Status JsonSchemaToGrammar(std::string_view schema, std::string* out) {
  out->clear();
  if (!IsUtf8(schema)) return Status(StatusCode::kFormat, "json schema: the text is not valid UTF-8");
  json::Value v;
  const std::string text(schema);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return Status(StatusCode::kFormat, "json schema: empty text");
  Status s = json::Parse(text, &v);
  if (!s.ok()) return Status(StatusCode::kFormat, "json schema: " + s.message());
  return Converter().Run(v, out);
}

}  // namespace grammar
}  // namespace qlite
