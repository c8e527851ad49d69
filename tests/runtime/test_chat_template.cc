// The chat template interpreter: byte-identical to transformers' apply_chat_template on real
// templates (tests/data/chat_templates, refs.json from scripts/make_chat_template_refs.py),
// Jinja semantics case by case, and every hard limit turning a hostile template into an error.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chat_template.h"
#include "test_tokenizer_util.h"

namespace qlite {
namespace chat {
namespace {

using qlite_test::At;

std::string DataDir() {
  std::string f = __FILE__;
  return f.substr(0, f.find_last_of('/')) + "/../data/chat_templates/";
}

Value FromJson(const json::Value& j) {
  switch (j.type) {
    case json::Type::Null: return Value::None();
    case json::Type::Bool: return Value::Bool(j.boolean);
    case json::Type::Number: return j.is_integer ? Value::Int(j.integer) : Value::Float(j.number);
    case json::Type::String: return Value::String(j.string);
    case json::Type::Array: {
      ValueList items;
      for (const json::Value& e : j.array) items.push_back(FromJson(e));
      return Value::List(std::move(items));
    }
    case json::Type::Object: {
      ValueDict items;
      for (const auto& kv : j.object) items.emplace_back(kv.first, FromJson(kv.second));
      return Value::Dict(std::move(items));
    }
  }
  return Value();
}

TEST(ChatTemplateRefs, ByteIdenticalToTransformers) {
  const json::Value refs = qlite_test::ReadJson(DataDir() + "refs.json");
  const json::Value& cases = At(refs, "cases");
  ASSERT_GT(cases.array.size(), 500u);
  Options options;
  options.fixed_time = time_t(At(refs, "fixed_time_utc").integer);
  size_t rendered = 0, rejected = 0;
  std::vector<std::string> templates_seen;
  for (const json::Value& c : cases.array) {
    const std::string name = At(c, "template").string;
    const std::string source = qlite_test::ReadFile(DataDir() + name);
    ASSERT_FALSE(source.empty()) << name;
    if (templates_seen.empty() || templates_seen.back() != name) templates_seen.push_back(name);
    ValueDict ctx = {{"messages", FromJson(At(At(refs, "conversations"), At(c, "conversation").string))},
                     {"tools", Value::None()},
                     {"documents", Value::None()},
                     {"add_generation_prompt", Value::Bool(At(c, "add_generation_prompt").boolean)}};
    if (c.Find("bos_token")) ctx.emplace_back("bos_token", Value::String(At(c, "bos_token").string));
    if (c.Find("eos_token")) ctx.emplace_back("eos_token", Value::String(At(c, "eos_token").string));
    for (const auto& kv : At(c, "extra").object) ctx.emplace_back(kv.first, FromJson(kv.second));
    std::string out;
    const Status s = Render(source, Value::Dict(std::move(ctx)), options, &out);
    const std::string what = name + " / " + At(c, "conversation").string +
                             (At(c, "add_generation_prompt").boolean ? " + generation prompt" : "") +
                             (c.Find("extra") ? " (extra variables)" : "");
    if (const json::Value* expected = c.Find("expected")) {
      ASSERT_TRUE(s.ok()) << what << ": " << s.message();
      EXPECT_EQ(out, expected->string) << what;
      ++rendered;
    } else {
      // transformers raised: so must we, with raise_exception's text.
      ASSERT_FALSE(s.ok()) << what << " rendered:\n" << out;
      const std::string error = At(c, "error").string;
      const std::string prefix = "TemplateError: ";
      ASSERT_EQ(error.rfind(prefix, 0), 0u) << error;
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << what << ": " << s.message();
      EXPECT_NE(s.message().find(error.substr(prefix.size())), std::string::npos) << s.message();
      ++rejected;
    }
  }
  EXPECT_GE(templates_seen.size(), 21u);
  EXPECT_GT(rendered, 500u);
  EXPECT_GT(rejected, 10u);
}

// Renders with a context given as JSON text.
std::string R(const std::string& source, const std::string& context_json = "{}", Status* status = nullptr) {
  json::Value ctx;
  EXPECT_TRUE(json::Parse(context_json, &ctx).ok()) << context_json;
  std::string out;
  Status s = Render(source, FromJson(ctx), Options(), &out);
  if (status) *status = s;
  else EXPECT_TRUE(s.ok()) << source << ": " << s.message();
  return s.ok() ? out : "ERROR: " + s.message();
}

Status RenderStatus(const std::string& source, const Limits& limits = Limits()) {
  Options options;
  options.limits = limits;
  std::string out;
  return Render(source, Value::Dict({}), options, &out);
}

// Expected strings below were checked against jinja2 3.1 in transformers' environment.
TEST(ChatTemplate, WhitespaceControl) {
  EXPECT_EQ(R("{% if true %}\nx\n{% endif %}\ny"), "x\ny");                  // trim_blocks
  EXPECT_EQ(R("  {% if true %}\n  x\n  {% endif %}\n  y"), "  x\n  y");     // lstrip_blocks
  EXPECT_EQ(R("a\n  {# c #}\n  b"), "a\n  b");                               // comments too
  EXPECT_EQ(R("a   {{- 'b' -}}   c  {%- if true -%}  d  {%- endif %}"), "abcd");
  EXPECT_EQ(R("{{ 'a' }}\n{{ 'b' }}\n"), "a\nb\n");                          // not after {{ }}
  EXPECT_EQ(R("{%- set x = 1 -%}\n  \n {{- x }}"), "1");
  EXPECT_EQ(R("x  {%+ if true %}y{% endif +%}\nz"), "x  y\nz");
  EXPECT_EQ(R("a\r\nb"), "a\nb");
}

TEST(ChatTemplate, Expressions) {
  EXPECT_EQ(R("{{ 1 + 2 }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 2 * 3 - 1 }} {{ 2 ** 10 }} {{ 10 / 4 }}"), "3 3 2 5 1024 2.5");
  EXPECT_EQ(R("{{ 1e-5 }} {{ 2.0 }} {{ 1/3 }} {{ 1e20 }} {{ 123456789012345678.0 }}"),
            "1e-05 2.0 0.3333333333333333 1e+20 1.2345678901234568e+17");
  EXPECT_EQ(R("{{ 'n=' ~ 3 ~ true ~ none }}|{{ 'a' + 'b' }}|{{ 'ab' * 2 }}"), "n=3TrueNone|ab|abab");
  EXPECT_EQ(R("{{ 'yes' if 1 else 'no' }}{{ 'a' if false }}|{{ 0 or 'x' }}{{ 1 and 2 }}"), "yes|x2");
  EXPECT_EQ(R("{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 'a' in 'abc' }}{{ 2 not in [1] }}{{ not 1 == 2 }}"),
            "TrueFalseTrueTrueTrue");
  EXPECT_EQ(R("{{ [1, 2, 3][1::9223372036854775807] }}{{ [1, 2, 3][-1::-9223372036854775807] }}{{ 'abc'[::-9223372036854775807] }}"),
            "[2][3]c");
  EXPECT_EQ(R("{{ [1, 'a', none, true, 1.5, {'k': \"it's\"}] }}"), "[1, 'a', None, True, 1.5, {'k': \"it's\"}]");
  EXPECT_EQ(R("{{ xs[0] }}{{ xs[-1] }}{{ xs[1:] }}{{ xs[::-1] }}{{ xs[:-2:-1] }}{{ 'héllo'[1:3] }}{{ 'abc'[::-1] }}",
              R"({"xs": [1, 2, 3]})"),
            "13[2, 3][3, 2, 1][3]élcba");
  EXPECT_EQ(R("{{ d.k }}{{ d['k'] }}{{ d.missing is defined }}{{ n.x is defined }}", R"({"d": {"k": "v"}, "n": null})"),
            "vvFalseFalse");
  EXPECT_EQ(R("{{ 'a\\nb\\t\\x41\\u00e9' }}|{{ \"it's\" \" ok\" }}"), "a\nb\tAé|it's ok");
  EXPECT_EQ(R("{{ true == 1 }}{{ 1 == 1.0 }}{{ [1, [2]] == [1, [2]] }}{{ {'a': 1} == {'a': 1} }}{{ none == false }}"),
            "TrueTrueTrueTrueFalse");
}

TEST(ChatTemplate, Statements) {
  EXPECT_EQ(R("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
              R"({"xs": ["a", "b"]})"),
            "10TrueFalse2;21FalseTrue2;");
  EXPECT_EQ(R("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(R("{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}{% if n == 4 %}{% break %}{% endif %}{{ n }}{% endfor %}"),
            "13");
  EXPECT_EQ(R("{% for x in [1, 2, 3, 4] if x % 2 == 0 %}{{ loop.index }}:{{ x }}{% endfor %}"), "1:22:4");
  EXPECT_EQ(R("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
              R"({"d": {"x": 1, "y": "z"}})"),
            "x=1;y=z;xy");
  // A set inside a loop is per iteration and does not leak; inside an if it does.
  EXPECT_EQ(R("{% set a = 1 %}{% for x in [1, 2] %}[{{ a }}]{% set a = x + 10 %}{% endfor %}{{ a }}"), "[1][1]1");
  EXPECT_EQ(R("{% if true %}{% set b = 3 %}{% endif %}{{ b }}"), "3");
  EXPECT_EQ(R("{% set ns = namespace(n=0, seen=false) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_EQ(R("{% macro greet(name, greeting='Hi') %}{{ greeting }} {{ name }}{% endmacro %}{{ greet('A') }}, {{ greet('B', greeting='Yo') }}"),
            "Hi A, Yo B");
  EXPECT_EQ(R("{% set x %}a{{ 1 }}b{% endset %}[{{ x }}]"), "[a1b]");
  EXPECT_EQ(R("{% generation %}kept{% endgeneration %}"), "kept");
  EXPECT_EQ(R("{% set a, b = 1, 2 %}{{ a }}{{ b }}"), "12");
}

TEST(ChatTemplate, FiltersTestsAndMethods) {
  EXPECT_EQ(R("{{ '  x  ' | trim }}|{{ xs | length }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}|{{ xs | join('-') }}|"
              "{{ xs | first }}{{ xs | last }}|{{ missing | default('d') }}|{{ 5 | string }}|{{ 'hello wORLD' | title }}",
              R"({"xs": [1, 2, 3]})"),
            "x|3|ABab|1-2-3|13|d|5|Hello World");
  EXPECT_EQ(R("{{ {'b': [1, {'c': 'é\"\\n'}], 'a': {}, 'e': []} | tojson }}"), "{\"b\": [1, {\"c\": \"é\\\"\\n\"}], \"a\": {}, \"e\": []}");
  EXPECT_EQ(R("{{ {'a': [1, 2], 'b': {}} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {}\n}");
  EXPECT_EQ(R("{{ ms | selectattr('role', 'equalto', 'user') | list | length }}{{ ms | rejectattr('role', 'equalto', 'user') | map(attribute='c') | join }}",
              R"({"ms": [{"role": "user", "c": "a"}, {"role": "x", "c": "b"}, {"role": "user", "c": "c"}]})"),
            "2b");
  EXPECT_EQ(R("{{ ['a', 'code_interpreter', 'b'] | reject('equalto', 'code_interpreter') | join(', ') }}"), "a, b");
  EXPECT_EQ(R("{{ x is defined }}{{ y is defined }}{{ y is not defined }}{{ n is none }}{{ s is string }}{{ d is mapping }}"
              "{{ s is iterable }}{{ 3 is odd }}{{ 4 is divisibleby 2 }}{{ false is false }}",
              R"({"x": 1, "n": null, "s": "s", "d": {}})"),
            "TrueFalseTrueTrueTrueTrueTrueTrueTrueTrue");
  EXPECT_EQ(R("[{{ '\\n\\nx\\n'.strip('\\n') }}][{{ 'xxay'.lstrip('x') }}][{{ 'ayyx'.rstrip('xy') }}][{{ '\u00a0 x\u3000'.strip() }}]"),
            "[x][ay][a][x]");
  EXPECT_EQ(R("{{ 'a<b>c<b>'.split('<b>') }}{{ ' a  b '.split() }}{{ 'r</think>a'.split('</think>')[-1] }}"),
            "['a', 'c', '']['a', 'b']a");
  EXPECT_EQ(R("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'hello world'.title() }}{{ 'ab'.replace('', '-') }}"),
            "TrueTrueHello World-a-b-");
  EXPECT_EQ(R("{{ d.get('k') }}{{ d.get('q', 'dflt') }}{{ d.get('q') }}", R"({"d": {"k": "v"}})"), "vdfltNone");
  EXPECT_EQ(R("{% for i in range(3) %}{{ i }}{% endfor %}{{ range(1, 8, 3) | list }}{{ range(3, -1, -1) | list }}"),
            "012[1, 4, 7][3, 2, 1, 0]");
  EXPECT_EQ(R("{{ strftime_now is defined }}{{ raise_exception is defined }}{{ nothing is defined }}"), "TrueTrueFalse");
}

TEST(ChatTemplate, ErrorsNameThePosition) {
  Status s;
  R("line one\n{{ 1 + }}", "{}", &s);
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  EXPECT_NE(s.message().find("line 2 col 8"), std::string::npos) << s.message();
  R("{% if x %}never closed", "{}", &s);
  EXPECT_NE(s.message().find("endif"), std::string::npos) << s.message();
  R("{{ missing.attr }}", "{}", &s);
  EXPECT_NE(s.message().find("'missing' is undefined"), std::string::npos) << s.message();
  R("{{ messages[0]['role'] }}", R"({"messages": []})", &s);
  EXPECT_FALSE(s.ok());
  R("{{ 'a' + 1 }}", "{}", &s);
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  R("{{ raise_exception('no system role') }}", "{}", &s);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("no system role"), std::string::npos);
  R("{% include 'x' %}", "{}", &s);
  EXPECT_NE(s.message().find("unsupported statement 'include'"), std::string::npos) << s.message();
  R("{{ x | frobnicate }}", "{}", &s);
  EXPECT_NE(s.message().find("unsupported filter 'frobnicate'"), std::string::npos) << s.message();
  R("{% break %}", "{}", &s);
  EXPECT_FALSE(s.ok());
  R("{{ 1 // 0 }}", "{}", &s);
  EXPECT_FALSE(s.ok());
  R("{{ 9223372036854775807 + 1 }}", "{}", &s);
  EXPECT_NE(s.message().find("overflow"), std::string::npos) << s.message();
}

// Every bound: each template below would hang, exhaust memory or overflow the stack unchecked.
TEST(ChatTemplateLimits, DeepNestingIsAnError) {
  std::string parens = std::string(100000, '(') + "1" + std::string(100000, ')');
  Status s = RenderStatus("{{ " + parens + " }}");
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  EXPECT_NE(s.message().find("nesting deeper"), std::string::npos) << s.message();
  std::string ifs;
  for (int i = 0; i < 10000; ++i) ifs += "{% if true %}";
  s = RenderStatus(ifs);
  EXPECT_NE(s.message().find("nesting deeper"), std::string::npos) << s.message();
  s = RenderStatus("{{ " + std::string(100000, '-') + "1 }}");
  EXPECT_NE(s.message().find("nesting deeper"), std::string::npos) << s.message();
  std::string nots;
  for (int i = 0; i < 50000; ++i) nots += "not ";
  s = RenderStatus("{{ " + nots + "1 }}");
  EXPECT_NE(s.message().find("nesting deeper"), std::string::npos) << s.message();
  std::string lists = std::string(100000, '[') + std::string(100000, ']');
  s = RenderStatus("{{ " + lists + " }}");
  EXPECT_NE(s.message().find("nesting deeper"), std::string::npos) << s.message();
}

TEST(ChatTemplateLimits, RecursionIsAnError) {
  Status s = RenderStatus("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  EXPECT_NE(s.message().find("nested deeper"), std::string::npos) << s.message();
  // A value nested through a namespace, printed and serialized.
  s = RenderStatus("{% set ns = namespace(v=1) %}{% for i in range(10000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}");
  EXPECT_NE(s.message().find("nested deeper"), std::string::npos) << s.message();
  s = RenderStatus("{% set ns = namespace(v=1) %}{% for i in range(10000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v | tojson }}");
  EXPECT_NE(s.message().find("nested deeper"), std::string::npos) << s.message();
  s = RenderStatus("{% set ns = namespace(v=1) %}{% for i in range(10000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v == ns.v }}");
  EXPECT_NE(s.message().find("nested deeper"), std::string::npos) << s.message();
  // A namespace holding itself prints without recursing forever.
  s = RenderStatus("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}{{ ns == ns }}");
  EXPECT_FALSE(s.ok());
  // Nor through a list or another namespace: such a cycle would never be freed (ASan's leak
  // check found it), so the assignment is refused.
  s = RenderStatus("{% set a = namespace() %}{% set b = namespace(x=[a]) %}{% set a.y = b %}");
  EXPECT_NE(s.message().find("cannot hold itself"), std::string::npos) << s.message();
  EXPECT_TRUE(RenderStatus("{% set a = namespace() %}{% set b = namespace(x=[1, 2]) %}{% set a.y = b %}").ok());
}

TEST(ChatTemplateLimits, HugeLoopsAreErrors) {
  Status s = RenderStatus("{% for i in range(100000000000) %}{% endfor %}");
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  EXPECT_NE(s.message().find("limit"), std::string::npos) << s.message();
  Limits small;
  small.max_steps = 100000;
  s = RenderStatus("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", small);
  EXPECT_NE(s.message().find("steps"), std::string::npos) << s.message();
  // Default limits: a million-by-million loop stops in bounded time.
  s = RenderStatus("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}");
  EXPECT_NE(s.message().find("limit"), std::string::npos) << s.message();
}

TEST(ChatTemplateLimits, HugeOutputIsAnError) {
  Status s = RenderStatus("{% for i in range(1000000) %}{{ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }}{% endfor %}");
  EXPECT_EQ(s.code(), StatusCode::kFormat);
  EXPECT_NE(s.message().find("output longer"), std::string::npos) << s.message();
  s = RenderStatus("{{ 'x' * 1000000000 }}");
  EXPECT_NE(s.message().find("longer than"), std::string::npos) << s.message();
  // Doubling a string: stopped by the length of one value.
  s = RenderStatus("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}");
  EXPECT_NE(s.message().find("longer than"), std::string::npos) << s.message();
  // Doubling a list: stopped by the bytes built in all.
  s = RenderStatus("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}");
  EXPECT_NE(s.message().find("bytes of values"), std::string::npos) << s.message();
  // Building many large strings that are thrown away: stopped by the bytes built in all.
  s = RenderStatus("{% set big = 'x' * 4000000 %}{% for i in range(100000) %}{% set t = big + 'y' %}{% endfor %}");
  EXPECT_NE(s.message().find("bytes of values"), std::string::npos) << s.message();
  // A template longer than the limit is refused before parsing.
  Limits tiny;
  tiny.max_template_bytes = 10;
  s = RenderStatus("{{ 'more than ten bytes' }}", tiny);
  EXPECT_NE(s.message().find("over the limit"), std::string::npos) << s.message();
  tiny = Limits();
  tiny.max_output_bytes = 5;
  s = RenderStatus("123456", tiny);
  EXPECT_NE(s.message().find("output longer"), std::string::npos) << s.message();
}

TEST(ChatTemplate, FallbackTemplates) {
  const std::vector<Message> conv = {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", "Bye"}};
  std::string out;
  ASSERT_TRUE(Render(kChatMLTemplate, MakeContext(conv, true, "", ""), Options(), &out).ok());
  EXPECT_EQ(out,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n");
  ASSERT_TRUE(Render(kGemmaTemplate, MakeContext(conv, true, "<bos>", "<eos>"), Options(), &out).ok());
  EXPECT_EQ(out,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
            "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  ASSERT_TRUE(Render(kPlainTemplate, MakeContext(conv, true, "", ""), Options(), &out).ok());
  EXPECT_EQ(out, "Be brief.\nUser: Hi\nAssistant: Hello\nUser: Bye\nAssistant:");
}

}  // namespace
}  // namespace chat
}  // namespace qlite
