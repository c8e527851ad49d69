// Chat templates: a Jinja subset interpreter that renders a conversation the way Hugging Face
// transformers' apply_chat_template does (trim_blocks, lstrip_blocks, loop controls,
// raise_exception, strftime_now, namespace, tojson without HTML escaping). Templates come from
// model files, so nothing in one may hang or crash the process: every limit below turns into
// an error that names the template line and column.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "qlite/base/status.h"
#include "qlite/format/source_model.h"

namespace qlite {
namespace chat {

struct Value;
using ValueList = std::vector<Value>;
using ValueDict = std::vector<std::pair<std::string, Value>>;  // insertion order, like Python's dict

// A value in the template's world. Strings, lists and dicts are shared and never changed once
// built (copies are cheap); a namespace() is the one mutable object.
struct Value {
  enum Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kFunction };
  Kind kind = kUndefined;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::shared_ptr<const std::string> str;  // kString; kUndefined: the missing name, for errors
  std::shared_ptr<const ValueList> list;   // kList
  std::shared_ptr<ValueDict> dict;         // kDict, kNamespace
  int function = 0;                        // kFunction: which builtin or method
  std::shared_ptr<const Value> self;       // kFunction: a method's receiver
  const void* macro = nullptr;             // kFunction: a {% macro %} of the running template

  static Value None() { Value v; v.kind = kNone; return v; }
  static Value Bool(bool b) { Value v; v.kind = kBool; v.boolean = b; return v; }
  static Value Int(int64_t i) { Value v; v.kind = kInt; v.integer = i; return v; }
  static Value Float(double d) { Value v; v.kind = kFloat; v.number = d; return v; }
  static Value String(std::string s) {
    Value v;
    v.kind = kString;
    v.str = std::make_shared<const std::string>(std::move(s));
    return v;
  }
  static Value List(ValueList items) {
    Value v;
    v.kind = kList;
    v.list = std::make_shared<const ValueList>(std::move(items));
    return v;
  }
  static Value Dict(ValueDict items) {
    Value v;
    v.kind = kDict;
    v.dict = std::make_shared<ValueDict>(std::move(items));
    return v;
  }
};

// Size of the largest template a model file may carry (the .qlm reader and the importers check it too).
constexpr size_t kMaxTemplateBytes = kMaxChatTemplateBytes;

// Bounds on one render. The defaults allow every real template many times over.
struct Limits {
  size_t max_template_bytes = kMaxTemplateBytes;
  size_t max_output_bytes = size_t(4) << 20;
  uint64_t max_steps = 20000000;           // expressions evaluated, statements run, loop iterations
  uint64_t max_work_bytes = uint64_t(256) << 20;  // bytes of strings and lists built, in all
  int max_depth = 64;  // nesting of statements and expressions, macro calls, nested values
};

struct Options {
  Limits limits;
  // What strftime_now() formats: 0 = the local time now; otherwise this UTC time (tests).
  time_t fixed_time = 0;
};

// Renders `source` with the top-level variables in `context` (a kDict: messages,
// add_generation_prompt, bos_token, ...). kFormat for a template that cannot be parsed or
// fails while running; kInvalidArgument when the template itself rejects the conversation
// (raise_exception). Messages start with "chat template line L col C:".
Status Render(std::string_view source, const Value& context, const Options& options, std::string* out);

// Only parses: whether `source` is a template Render could run.
Status Check(std::string_view source, const Limits& limits = Limits());

// One message of a conversation.
struct Message {
  std::string role, content;
};

// The variables transformers passes to a template: messages, add_generation_prompt, tools and
// documents (none), bos_token and eos_token (left undefined when empty, as a tokenizer without
// them leaves them).
Value MakeContext(const std::vector<Message>& messages, bool add_generation_prompt, const std::string& bos_token,
                  const std::string& eos_token);

// The templates used for a model file without one (see qlite_chat_format).
extern const char kChatMLTemplate[];
extern const char kGemmaTemplate[];
extern const char kPlainTemplate[];

}  // namespace chat
}  // namespace qlite
