// A small, strict JSON parser for model metadata (config.json, tokenizer.json, safetensors
// headers) and JSON schemas. Bounded: nesting depth is capped and every read is checked; errors say where.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "qlite/base/status.h"

namespace qlite {
namespace json {

enum class Type { Null, Bool, Number, String, Array, Object };

class Value {
 public:
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  bool is_integer = false;  // number had no fraction/exponent and fits int64
  int64_t integer = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // in file order

  bool IsNull() const { return type == Type::Null; }
  bool IsObject() const { return type == Type::Object; }
  bool IsArray() const { return type == Type::Array; }
  bool IsString() const { return type == Type::String; }
  bool IsNumber() const { return type == Type::Number; }
  bool IsBool() const { return type == Type::Bool; }
  // Object member or nullptr (first match; linear, objects here are small or iterated).
  const Value* Find(const std::string& key) const;
};

Status Parse(const std::string& text, Value* out);

// Typed getters for config files: absent/null keeps *out; a wrong type is an error.
Status GetUint(const Value& obj, const char* key, uint32_t* out);
Status GetInt(const Value& obj, const char* key, int32_t* out);
Status GetFloat(const Value& obj, const char* key, float* out);
Status GetBool(const Value& obj, const char* key, bool* out);
Status GetString(const Value& obj, const char* key, std::string* out);

}  // namespace json
}  // namespace qlite
