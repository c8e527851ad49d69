// The grammar compiler and matcher (runtime/src/grammar.h) on text, and JSON Schema to grammar.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "grammar.h"
#include "qlite/format/json.h"
#include "qlite/qlite.h"

namespace {

using qlite::StatusCode;
using qlite::grammar::Compile;
using qlite::grammar::Compiled;
using qlite::grammar::MatchText;

Compiled Must(const std::string& text) {
  Compiled g;
  const qlite::Status s = Compile(text, &g);
  EXPECT_TRUE(s.ok()) << s.message() << "\n" << text;
  return g;
}

std::string ErrorOf(const std::string& text) {
  Compiled g;
  const qlite::Status s = Compile(text, &g);
  EXPECT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.code(), StatusCode::kFormat) << text;
  return s.message();
}

bool Whole(const Compiled& g, const std::string& text) { return MatchText(g, text, true); }
bool Prefix(const Compiled& g, const std::string& text) { return MatchText(g, text, false); }

TEST(GrammarParse, ErrorsNameLineAndColumn) {
  EXPECT_NE(ErrorOf("root ::= \"a\"\nx ::= (\"b\"").find("grammar:2:7"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= a").find("rule 'a' is used but not defined"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= a").find("grammar:1:10"), std::string::npos);
  EXPECT_NE(ErrorOf("a ::= \"x\"").find("no 'root' rule"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"x\"\nroot ::= \"y\"").find("defined twice"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"abc").find("unclosed string literal"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= [abc").find("unclosed character class"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= [z-a]").find("below its start"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= * \"a\"").find("nothing to repeat"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"a\"{3,2}").find("maximum below its minimum"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"a\"{99999}").find("over the limit"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"a\")").find("unmatched ')'"), std::string::npos);
  EXPECT_NE(ErrorOf("root = \"a\"").find("expected '::='"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"a\" @").find("unexpected character '@'"), std::string::npos);
}

TEST(GrammarParse, RefusesLeftRecursion) {
  EXPECT_NE(ErrorOf("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  // Through a rule that can match nothing: still left recursion.
  EXPECT_NE(ErrorOf("root ::= e root \"a\" | \"b\"\ne ::= \"\" | \"x\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= a\na ::= b \"x\"\nb ::= a | \"y\"").find("left-recursive"), std::string::npos);
  // Right recursion is fine.
  const Compiled g = Must("root ::= \"a\" root | \"b\"");
  EXPECT_TRUE(Whole(g, "aaab"));
  EXPECT_FALSE(Whole(g, "aaa"));
}

TEST(GrammarParse, BoundsHostileText) {
  // Nested repetitions stay linear (a group is one rule, repeated by reference).
  Compiled g = Must("root ::= ((((\"ab\"{4000}){4000}){4000}){4000})");
  EXPECT_LT(g.elems.size(), 20000u);
  // Repetitions side by side add up: the element limit stops them with an error.
  std::string text = "root ::=";
  for (int i = 0; i < 100; ++i) text += " \"ab\"{4000}";
  EXPECT_NE(ErrorOf(text).find("larger than"), std::string::npos);
  std::string deep = "root ::= ";
  for (int i = 0; i < 200; ++i) deep += "(";
  EXPECT_NE(ErrorOf(deep).find("nested deeper"), std::string::npos);
  qlite::grammar::Limits small;
  small.max_text_bytes = 8;
  EXPECT_FALSE(Compile("root ::= \"abcdef\"", &g, small).ok());
}

TEST(GrammarMatch, LiteralsClassesAndRepetition) {
  const Compiled g = Must(R"(
# a comment
root ::= greeting " " name ("!" | "?")?   # trailing comment
greeting ::= "hi" | "hello"
name ::= [A-Z] [a-z]+
)");
  EXPECT_TRUE(Whole(g, "hi Bob"));
  EXPECT_TRUE(Whole(g, "hello Alice!"));
  EXPECT_TRUE(Whole(g, "hi Bo?"));
  EXPECT_FALSE(Whole(g, "hi bob"));
  EXPECT_FALSE(Whole(g, "hi B"));
  EXPECT_FALSE(Whole(g, "hey Bob"));
  EXPECT_FALSE(Whole(g, "hi Bob!!"));
  EXPECT_TRUE(Prefix(g, "hel"));
  EXPECT_FALSE(Whole(g, "hel"));
  EXPECT_FALSE(Prefix(g, "hex"));
}

TEST(GrammarMatch, CountedRepetition) {
  const Compiled g = Must("root ::= [0-9]{2,4} \"-\" \"x\"{3} \"y\"{2,} [ab]?");
  EXPECT_TRUE(Whole(g, "12-xxxyy"));
  EXPECT_TRUE(Whole(g, "1234-xxxyyyyyb"));
  EXPECT_FALSE(Whole(g, "1-xxxyy"));
  EXPECT_FALSE(Whole(g, "12345-xxxyy"));
  EXPECT_FALSE(Whole(g, "12-xxyy"));
  EXPECT_FALSE(Whole(g, "12-xxxy"));
  EXPECT_FALSE(Whole(g, "12-xxxyyab"));
}

TEST(GrammarMatch, NegationDotEscapesAndUnicode) {
  const Compiled g = Must(R"(root ::= "\"" [^"\\]* "\"" "\t" . "\x41\u00e9" [α-ω]+ "\n")");
  EXPECT_TRUE(Whole(g, "\"abc é 😀\"\t\xF0\x9F\x98\x80" "A\xC3\xA9" "αβγ\n"));
  EXPECT_FALSE(Whole(g, "\"a\"b\"\tzAé" "α\n"));
  EXPECT_FALSE(Whole(g, "\"\"\tzAé" "a\n"));  // 'a' is not in α-ω
  EXPECT_TRUE(Whole(g, "\"\"\tzAé" "ω\n"));
  // A partial UTF-8 character is accepted only when some class can still take it.
  EXPECT_TRUE(Prefix(g, "\"\"\tzAé" "\xCE"));  // starts α..ω
  EXPECT_FALSE(Prefix(g, "\"\"\tzAé" "\xE2"));  // U+2000.. cannot be α-ω
  EXPECT_FALSE(Prefix(g, "\"\xFF"));            // not UTF-8
}

TEST(GrammarMatch, NullableRulesAndNewlines) {
  const Compiled g = Must("root ::= (\n  a |\n  b\n)* a \"end\"\na ::= \"a\"? \"c\"\nb ::= \"b\"");
  EXPECT_TRUE(Whole(g, "cend"));
  EXPECT_TRUE(Whole(g, "acbbcaccend"));
  EXPECT_FALSE(Whole(g, "abend"));
  // Repeating what can match nothing recurses without consuming: refused.
  EXPECT_NE(ErrorOf("root ::= (\"a\"?)* \"end\"").find("left-recursive"), std::string::npos);
}

TEST(GrammarMatch, StateStaysBoundedOverLongText) {
  // Repetitions recurse in tail position: a long match keeps a constant number of frames.
  const Compiled g = Must("root ::= (\"ab\" | [c-e]+)*");
  std::string text;
  for (int i = 0; i < 20000; ++i) text += i % 3 ? "ab" : "cde";
  std::vector<uint8_t> mem(qlite::grammar::Matcher::GrammarBytes(g) + 16 * 1024);
  qlite::grammar::Matcher m;
  ASSERT_TRUE(m.Bind(g, mem.data(), mem.size()).ok());
  for (size_t i = 0; i < text.size(); i += 7) ASSERT_TRUE(m.Accept(text.substr(i, 7))) << i;
  EXPECT_TRUE(m.CanEnd());
  EXPECT_FALSE(m.overflowed());
}

TEST(GrammarMatch, TooLittleMemoryIsAnError) {
  const Compiled g = Must("root ::= \"a\"");
  std::vector<uint8_t> mem(64);
  qlite::grammar::Matcher m;
  const qlite::Status s = m.Bind(g, mem.data(), mem.size());
  EXPECT_EQ(s.code(), StatusCode::kOutOfMemory);
  EXPECT_NE(s.message().find("needs"), std::string::npos);
  EXPECT_FALSE(m.active());
}

TEST(GrammarMatch, DoneWhenNothingCanFollow) {
  const Compiled g = Must("root ::= \"a\" \"b\"?");
  std::vector<uint8_t> mem(qlite::grammar::Matcher::GrammarBytes(g) + 16 * 1024);
  qlite::grammar::Matcher m;
  ASSERT_TRUE(m.Bind(g, mem.data(), mem.size()).ok());
  EXPECT_FALSE(m.CanEnd());
  EXPECT_FALSE(m.Accept("b"));  // refused, state unchanged
  ASSERT_TRUE(m.Accept("a"));
  EXPECT_TRUE(m.CanEnd());
  EXPECT_FALSE(m.Done());
  ASSERT_TRUE(m.Accept("b"));
  EXPECT_TRUE(m.Done());
  ASSERT_TRUE(m.Reset());
  EXPECT_TRUE(m.Allows("ab"));
  EXPECT_FALSE(m.CanEnd());  // Allows changes nothing
}

// --- JSON Schema ---

std::string SchemaGrammar(const std::string& schema) {
  std::string out;
  const qlite::Status s = qlite::grammar::JsonSchemaToGrammar(schema, &out);
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

// Groups and repetitions become rules of the compiler's own; a source rule must never share
// a name with one (the JSON schema converter writes names like "root-6").
TEST(GrammarParse, SourceRulesNeverMeetTheCompilersRules) {
  const Compiled g = Must("root ::= (\"a\" | \"b\")+ root-1 root-2\nroot-1 ::= \"c\"\nroot-2 ::= (\"d\" \"e\")?");
  EXPECT_TRUE(Whole(g, "abac"));
  EXPECT_TRUE(Whole(g, "bcde"));
  EXPECT_FALSE(Whole(g, "ab"));
  EXPECT_FALSE(Whole(g, "acd"));
}

TEST(JsonSchema, AnyValue) {
  const Compiled g = Must(SchemaGrammar("{}"));
  for (const char* ok : {"null", "true", "-12.5e3", "\"a\\\"b\\u00e9\"", "[]", "[1, \"x\", {\"k\": [null]}]",
                         "{\n  \"a\": 1,\n  \"b\": {}\n}", "0"})
    EXPECT_TRUE(Whole(g, ok)) << ok;
  for (const char* bad : {"nul", "01", "[1,]", "{\"a\" 1}", "{'a': 1}", "\"\x01\"", "1.", "[1 2]", "tru"})
    EXPECT_FALSE(Whole(g, bad)) << bad;
}

TEST(JsonSchema, ObjectsInOrderWithRequiredAndOptional) {
  const Compiled g = Must(SchemaGrammar(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "maxLength": 5},
      "age": {"type": "integer"},
      "tags": {"type": "array", "items": {"enum": ["a", "b", 3]}, "minItems": 1, "maxItems": 2},
      "ok": {"type": ["boolean", "null"]}
    },
    "required": ["age"],
    "additionalProperties": false
  })"));
  EXPECT_TRUE(Whole(g, R"({"age":3})"));
  EXPECT_TRUE(Whole(g, R"({"name": "Bo", "age": -40, "tags": ["a", 3], "ok": null})"));
  EXPECT_TRUE(Whole(g, R"({"age":3,"ok":true})"));
  EXPECT_FALSE(Whole(g, R"({})"));                       // age is required
  EXPECT_FALSE(Whole(g, R"({"name":"Bo"})"));
  EXPECT_FALSE(Whole(g, R"({"age":3,"name":"Bo"})"));    // schema order
  EXPECT_FALSE(Whole(g, R"({"name":"Bobby6","age":1})"));  // maxLength
  EXPECT_FALSE(Whole(g, R"({"age":1.5})"));
  EXPECT_FALSE(Whole(g, R"({"age":1,"tags":[]})"));       // minItems
  EXPECT_FALSE(Whole(g, R"({"age":1,"tags":["a","b","a"]})"));
  EXPECT_FALSE(Whole(g, R"({"age":1,"tags":["c"]})"));
  EXPECT_FALSE(Whole(g, R"({"age":1,"x":2})"));
}

TEST(JsonSchema, AllOptionalConstAnyOfAndMaps) {
  const Compiled g = Must(SchemaGrammar(R"({
    "properties": {"a": {"const": {"x": [1, "y"]}}, "b": {"anyOf": [{"type": "number"}, {"type": "string", "minLength": 2}]}},
    "additionalProperties": true
  })"));
  EXPECT_TRUE(Whole(g, "{}"));
  EXPECT_TRUE(Whole(g, R"({"b":"xy"})"));
  EXPECT_TRUE(Whole(g, R"({"b":2.5})"));
  EXPECT_TRUE(Whole(g, R"({"a":{"x":[1,"y"]},"b":1})"));
  EXPECT_FALSE(Whole(g, R"({"b":"x"})"));
  EXPECT_FALSE(Whole(g, R"({,"b":1})"));
  EXPECT_FALSE(Whole(g, R"({"a":{"x":[2,"y"]}})"));
  const Compiled map = Must(SchemaGrammar(R"({"type":"object","additionalProperties":{"type":"integer"}})"));
  EXPECT_TRUE(Whole(map, R"({"any": 1, "other": 2})"));
  EXPECT_FALSE(Whole(map, R"({"any": "1"})"));
}

// Property names past the rule-name length share one rule-name stem, told apart by numbers.
TEST(JsonSchema, LongPropertyNamesShareAStem) {
  const std::string name(60, 'p');
  const Compiled g = Must(SchemaGrammar(R"({"type": "object", "properties": {")" + name + R"(": {"type": "object",
      "properties": {"a": {"type": "string", "maxLength": 4}, "b": {"enum": ["x", "y"]}},
      "required": ["a", "b"], "additionalProperties": false}}, "additionalProperties": false})"));
  EXPECT_TRUE(Whole(g, "{\"" + name + R"(": {"a": "abc", "b": "y"}})"));
  EXPECT_FALSE(Whole(g, "{\"" + name + R"(": {"a": "abcde", "b": "y"}})"));
}

TEST(JsonSchema, RefusesWhatItCannotEnforce) {
  struct Case {
    const char* schema;
    StatusCode code;
    const char* says;
  };
  for (const Case& c : {Case{R"({"type":"string","pattern":"^a"})", StatusCode::kUnsupported, "'pattern'"},
                        Case{R"({"properties":{"x":{"minimum":3}}})", StatusCode::kUnsupported, "root-x"},
                        Case{R"({"$ref":"#/x"})", StatusCode::kUnsupported, "'$ref'"},
                        Case{R"({"type":"tuple"})", StatusCode::kUnsupported, "'tuple'"},
                        Case{R"({"required":["x"],"properties":{}})", StatusCode::kUnsupported, "'x'"},
                        Case{R"({"type":"array","maxItems":5000})", StatusCode::kUnsupported, "maxItems"},
                        Case{R"({"type":)", StatusCode::kFormat, "json schema"},
                        Case{R"({"enum":[]})", StatusCode::kFormat, "enum"},
                        Case{"", StatusCode::kFormat, "empty"},
                        Case{"{\"enum\":[\"a\xff\"]}", StatusCode::kFormat, "UTF-8"}}) {
    std::string out;
    const qlite::Status s = qlite::grammar::JsonSchemaToGrammar(c.schema, &out);
    EXPECT_EQ(s.code(), c.code) << c.schema << ": " << s.message();
    EXPECT_NE(s.message().find(c.says), std::string::npos) << s.message();
  }
}

TEST(JsonSchema, CApiIsSnprintfLike) {
  const char* schema = R"({"type":"boolean"})";
  size_t len = 0;
  ASSERT_EQ(qlite_json_schema_to_grammar(schema, strlen(schema), nullptr, 0, &len), QLITE_OK);
  ASSERT_GT(len, 0u);
  std::vector<char> buf(len + 1);
  char small[4] = "xyz";
  EXPECT_EQ(qlite_json_schema_to_grammar(schema, strlen(schema), small, sizeof(small), &len), QLITE_ERR_OUT_OF_MEMORY);
  EXPECT_STREQ(small, "");
  ASSERT_EQ(qlite_json_schema_to_grammar(schema, strlen(schema), buf.data(), buf.size(), &len), QLITE_OK);
  EXPECT_EQ(strlen(buf.data()), len);
  const Compiled g = Must(buf.data());
  EXPECT_TRUE(Whole(g, "false"));
  EXPECT_FALSE(Whole(g, "1"));
  EXPECT_EQ(qlite_json_schema_to_grammar("{\"pattern\":1}", 13, buf.data(), buf.size(), &len), QLITE_ERR_UNSUPPORTED);
  EXPECT_NE(std::string(qlite_last_error()).find("pattern"), std::string::npos);
  EXPECT_EQ(qlite_json_schema_to_grammar(schema, strlen(schema), buf.data(), buf.size(), nullptr),
            QLITE_ERR_INVALID_ARGUMENT);
}

std::string RepoFile(const std::string& rel) {
  const std::string f = __FILE__;
  std::ifstream in(f.substr(0, f.find_last_of('/')) + "/../../" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << rel;
  return ss.str();
}

// The grammars and schemas in the repository (fuzz seeds, the tool-call example) work.
TEST(GrammarFiles, CompileAndMatch) {
  const Compiled arith = Must(RepoFile("tests/data/grammars/arithmetic.gbnf"));
  EXPECT_TRUE(Whole(arith, "a+1= 2\n(x *3)/y= z\n"));
  EXPECT_FALSE(Whole(arith, "a+= 2\n"));
  const Compiled chess = Must(RepoFile("tests/data/grammars/chess.gbnf"));
  EXPECT_TRUE(Whole(chess, "1. e4 e5\n2. Nf3 Nc6\n3. O-O exd4+\n"));
  EXPECT_FALSE(Whole(chess, "1. e9 e5\n2. Nf3 Nc6\n"));
  const Compiled list = Must(RepoFile("tests/data/grammars/list.gbnf"));
  EXPECT_TRUE(Whole(list, "- one\n- two\n"));
  EXPECT_FALSE(Whole(list, "- 1\n- 2\n- 3\n- 4\n- 5\n- 6\n"));
  const Compiled person = Must(SchemaGrammar(RepoFile("tests/data/grammars/person.schema.json")));
  EXPECT_TRUE(Whole(person, R"({"name": "Ann", "age": 31, "email": null, "address": {"city": "Oslo", "zip": "12345"},
 "extra": {"h": 1.5}, "choice": [null]})"));
  EXPECT_FALSE(Whole(person, R"({"name": "Ann", "age": 31, "choice": []})"));
  const Compiled tool = Must(SchemaGrammar(RepoFile("examples/tool_call/get_weather.schema.json")));
  EXPECT_TRUE(Whole(tool, R"({"tool": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}})"));
  EXPECT_FALSE(Whole(tool, R"({"tool": "get_weather", "arguments": {"city": "Paris"}})"));
}

}  // namespace
