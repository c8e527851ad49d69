// A Jinja subset interpreter for chat templates: lexer, parser and tree-walking evaluator (chat_template.h).
//
// Semantics follow Jinja 2/3 as transformers configures it (trim_blocks, lstrip_blocks, loop
// controls), with Python's rules for strings, numbers, lists and dicts. Errors are sticky: the
// first one is kept with its template position and every caller unwinds by returning false,
// so no exception is thrown. Every loop, allocation and recursion is counted against Limits.
#include "chat_template.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "utf8.h"

namespace qlite {
namespace chat {
namespace {

#define TRY(expr)               \
  do {                          \
    if (!(expr)) return false;  \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Python string and number helpers

// Python's str.isspace(): Unicode White_Space plus the ASCII separators 0x1C-0x1F.
bool IsPySpace(uint32_t cp) { return (cp >= 0x1C && cp <= 0x1F) || IsUnicodeSpace(cp); }

// Byte offsets where each code point of s starts, plus s.size() at the end.
std::vector<size_t> CodePointStarts(std::string_view s) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size();) {
    starts.push_back(i);
    Utf8Next(s, &i);
  }
  starts.push_back(s.size());
  return starts;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) Utf8Next(s, &i);
  return n;
}

// str.strip / lstrip / rstrip: `chars` null strips whitespace, else any of its code points.
std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right) {
  std::vector<uint32_t> set;
  if (chars)
    for (size_t i = 0; i < chars->size();) set.push_back(Utf8Next(*chars, &i));
  auto strip_this = [&](uint32_t cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : IsPySpace(cp);
  };
  std::vector<size_t> at = CodePointStarts(s);
  size_t n = at.size() - 1, b = 0, e = n;
  auto cp_at = [&](size_t k) {
    size_t p = at[k];
    return Utf8Next(s, &p);
  };
  if (left)
    while (b < e && strip_this(cp_at(b))) ++b;
  if (right)
    while (e > b && strip_this(cp_at(e - 1))) --e;
  return std::string(s.substr(at[b], at[e] - at[b]));
}

// ASCII case mapping; other characters are kept (templates case-map role names, not prose).
char AsciiUpper(char c) { return c >= 'a' && c <= 'z' ? char(c - 32) : c; }
char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? char(c + 32) : c; }
bool AsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string Upper(std::string s) {
  for (char& c : s) c = AsciiUpper(c);
  return s;
}
std::string Lower(std::string s) {
  for (char& c : s) c = AsciiLower(c);
  return s;
}
// Python's str.title(): a letter after a letter is lowered, any other letter raised.
std::string PyTitle(std::string s) {
  bool prev_letter = false;
  for (char& c : s) {
    bool letter = AsciiAlpha(c);
    c = prev_letter ? AsciiLower(c) : AsciiUpper(c);
    prev_letter = letter;
  }
  return s;
}
// Jinja's title filter: words begin after spaces and -({[<.
std::string JinjaTitle(std::string s) {
  bool word_start = true;
  for (char& c : s) {
    bool sep = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '-' || c == '(' ||
               c == '{' || c == '[' || c == '<';
    c = sep ? c : word_start ? AsciiUpper(c) : AsciiLower(c);
    word_start = sep;
  }
  return s;
}
std::string Capitalize(std::string s) {
  for (size_t i = 0; i < s.size(); ++i) s[i] = i == 0 ? AsciiUpper(s[i]) : AsciiLower(s[i]);
  return s;
}

// repr() of a float: the shortest digits that read back to the same double, in fixed
// notation for exponents -4..15 and scientific otherwise ("1e-05", "1e+16", "2.0").
std::string PyFloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  int precision = 1;
  for (; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*e", precision - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  // buf is "[-]d.ddde[+-]XX": split into sign, digits and the decimal exponent.
  std::string s = buf;
  bool negative = s[0] == '-';
  if (negative) s.erase(0, 1);
  size_t e = s.find('e');
  int exponent = std::atoi(s.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (s[i] != '.') digits += s[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(size_t(-exponent - 1), '0') + digits;
    } else if (size_t(exponent) + 1 >= digits.size()) {
      out += digits + std::string(size_t(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, size_t(exponent) + 1) + "." + digits.substr(size_t(exponent) + 1);
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    std::snprintf(buf, sizeof(buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += buf;
  }
  return out;
}

// Characters Python's repr() escapes beyond ASCII controls (its str.isprintable is false):
// the C1 controls, non-breaking and other odd spaces, format characters, separators.
bool PyNotPrintable(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD || cp == 0x1680 || cp == 0x180E ||
         (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) ||
         cp == 0x3000 || cp == 0xFEFF;
}

// repr() of a str: single quotes unless the text has one and no double quote.
std::string PyStrRepr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos, has_double = s.find('"') != std::string_view::npos;
  char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    uint32_t cp = Utf8Next(s, &i);
    char buf[16];
    if (cp == uint32_t(quote) || cp == '\\') {
      out += '\\';
      out += char(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == 0xFFFD && !(i - start == 3 && (unsigned char)s[start] == 0xEF)) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", (unsigned char)s[start]);  // an invalid byte
      out += buf;
    } else if (PyNotPrintable(cp)) {
      std::snprintf(buf, sizeof(buf), cp < 0x100 ? "\\x%02x" : "\\u%04x", unsigned(cp));
      out += buf;
    } else {
      out.append(s.substr(start, i - start));
    }
  }
  out += quote;
  return out;
}

// json.dumps(ensure_ascii=False) of a string.
void JsonString(std::string_view s, std::string* out) {
  *out += '"';
  for (char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      case '\b': *out += "\\b"; break;
      case '\f': *out += "\\f"; break;
      default:
        if ((unsigned char)c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", unsigned(c));
          *out += buf;
        } else {
          *out += c;
        }
    }
  }
  *out += '"';
}

// Python slice semantics: the indices a[start:stop:step] selects from a sequence of n.
bool SliceIndices(int64_t n, const Value& start, const Value& stop, const Value& step, std::vector<int64_t>* out) {
  int64_t st = step.kind == Value::kInt ? step.integer : 1;
  if (st == 0) return false;
  auto bound = [&](const Value& v, int64_t dflt) -> int64_t {
    if (v.kind != Value::kInt) return dflt;
    int64_t i = v.integer;
    if (i < 0) i += n;
    if (st > 0) return std::min(std::max<int64_t>(i, 0), n);
    return std::min(std::max<int64_t>(i, -1), n - 1);
  };
  int64_t b = bound(start, st > 0 ? 0 : n - 1), e = bound(stop, st > 0 ? n : -1);
  // Steps as large as int64 allows: never step past the end (no signed overflow).
  if (st > 0)
    for (int64_t i = b; i < e; i = e - i > st ? i + st : e) out->push_back(i);
  else
    for (int64_t i = b; i > e; i = i - e > -(st + 1) ? i + st : e) out->push_back(i);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Lexer: text and tags become one token stream. Whitespace control ({%- -%}, trim_blocks,
// lstrip_blocks) is applied here, to the text tokens, as Jinja's lexer does.

enum class Tok : uint8_t { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type;
  uint32_t pos;      // byte offset in the template
  std::string text;  // text, name, operator, or the decoded string literal
  int64_t integer = 0;
  double number = 0;
};

struct ErrorState {
  std::string_view source;
  bool failed = false;
  Status status;
};

std::string Where(std::string_view source, uint32_t pos) {
  int line = 1, col = 1;
  for (uint32_t i = 0; i < pos && i < source.size(); ++i) {
    if (source[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "chat template line %d col %d: ", line, col);
  return buf;
}

bool SetError(ErrorState* e, StatusCode code, uint32_t pos, const std::string& message) {
  if (!e->failed) {
    e->failed = true;
    e->status = Status(code, Where(e->source, pos) + message);
  }
  return false;
}

std::string Format(const char* fmt, va_list args) {
  char buf[512];
  std::vsnprintf(buf, sizeof(buf), fmt, args);
  return buf;
}

// Python's string-literal escapes (Jinja decodes literals with "unicode-escape").
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\' || i + 1 >= s.size()) {
      out += c;
      continue;
    }
    char n = s[++i];
    auto hex = [&](int digits) -> bool {
      uint32_t cp = 0;
      for (int k = 1; k <= digits; ++k) {
        if (i + k >= s.size()) return false;
        char h = s[i + k];
        int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (v < 0) return false;
        cp = cp * 16 + uint32_t(v);
      }
      if (cp > 0x10FFFF) return false;
      Utf8Append(cp, &out);
      i += size_t(digits);
      return true;
    };
    switch (n) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\n': break;  // a backslash-newline continues the line
      case 'x':
        if (!hex(2)) out += "\\x";
        break;
      case 'u':
        if (!hex(4)) out += "\\u";
        break;
      case 'U':
        if (!hex(8)) out += "\\U";
        break;
      default:
        if (n >= '0' && n <= '7') {  // up to three octal digits
          uint32_t cp = uint32_t(n - '0');
          for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k) cp = cp * 8 + uint32_t(s[++i] - '0');
          Utf8Append(cp, &out);
        } else {
          out += '\\';  // unknown escapes stay as written
          out += n;
        }
    }
  }
  return out;
}

// "\r\n" and "\r" become "\n" in text and literals, as Jinja normalizes newlines.
std::string NormalizeNewlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool IsNameStart(char c) { return AsciiAlpha(c) || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

class Lexer {
 public:
  Lexer(std::string_view src, ErrorState* err) : s_(src), err_(err) {}

  bool Run(std::vector<Token>* out) {
    out_ = out;
    size_t i = 0;
    bool strip_next = false, trim_next_newline = false, line_starting = true;
    while (true) {
      size_t j = FindTagStart(i);
      std::string_view raw = s_.substr(i, j - i);
      size_t text_pos = i;
      // Whitespace control from the previous tag's end.
      if (strip_next) {
        size_t k = 0;
        while (k < raw.size()) {
          size_t p = k;
          if (!IsPySpace(Utf8Next(raw, &p))) break;
          k = p;
        }
        raw.remove_prefix(k);
        text_pos += k;
      } else if (trim_next_newline && !raw.empty() && raw[0] == '\n') {
        raw.remove_prefix(1);
        ++text_pos;
        line_starting = true;
      }
      if (j == s_.size()) {
        Emit(Tok::kText, uint32_t(text_pos), NormalizeNewlines(raw));
        break;
      }
      char kind = s_[j + 1];
      char sign = j + 2 < s_.size() ? s_[j + 2] : 0;
      // Whitespace control from this tag's start.
      if (sign == '-') {
        raw = RStripSpace(raw);
      } else if (sign != '+' && kind != '{') {  // lstrip_blocks: block and comment tags
        size_t nl = raw.rfind('\n');
        size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting) && l_pos < raw.size() && RStripSpace(raw.substr(l_pos)).empty())
          raw = raw.substr(0, l_pos);
      }
      Emit(Tok::kText, uint32_t(text_pos), NormalizeNewlines(raw));
      size_t body = j + 2 + ((sign == '-' || (sign == '+' && kind != '{')) ? 1 : 0);
      size_t end = 0;
      bool end_dash = false, end_plus = false;
      if (kind == '#') {
        size_t close = s_.find("#}", body);
        if (close == std::string_view::npos) return SetError(err_, StatusCode::kFormat, uint32_t(j), "unclosed comment");
        end_dash = close > body && s_[close - 1] == '-';
        end_plus = close > body && s_[close - 1] == '+';
        end = close + 2;
      } else {
        TRY(LexTag(j, body, kind == '{', &end, &end_dash, &end_plus));
      }
      i = end;
      strip_next = end_dash;
      trim_next_newline = kind != '{' && !end_dash && !end_plus;
      line_starting = false;
      if (end_dash) {  // Jinja's "-%}\s*" match ends on a newline if the whitespace did
        size_t k = i;
        while (k < s_.size()) {
          size_t p = k;
          if (!IsPySpace(Utf8Next(s_, &p))) break;
          k = p;
        }
        line_starting = k > i && s_[k - 1] == '\n';
      }
    }
    Emit(Tok::kEof, uint32_t(s_.size()), "");
    return true;
  }

 private:
  size_t FindTagStart(size_t from) const {
    for (size_t k = from; k + 1 < s_.size(); ++k)
      if (s_[k] == '{' && (s_[k + 1] == '{' || s_[k + 1] == '%' || s_[k + 1] == '#')) return k;
    return s_.size();
  }

  static std::string_view RStripSpace(std::string_view t) {
    std::vector<size_t> at = CodePointStarts(t);
    size_t e = at.size() - 1;
    while (e > 0) {
      size_t p = at[e - 1];
      if (!IsPySpace(Utf8Next(t, &p))) break;
      --e;
    }
    return t.substr(0, at[e]);
  }

  void Emit(Tok type, uint32_t pos, std::string text) {
    if (type == Tok::kText && text.empty()) return;
    Token t;
    t.type = type;
    t.pos = pos;
    t.text = std::move(text);
    out_->push_back(std::move(t));
  }

  // The tokens of one {{ }} or {% %} tag starting at `open`; *end is just past its close.
  bool LexTag(size_t open, size_t k, bool is_var, size_t* end, bool* end_dash, bool* end_plus) {
    Emit(is_var ? Tok::kVarBegin : Tok::kBlockBegin, uint32_t(open), "");
    int depth = 0;  // open brackets: a '}' inside braces is not the end of the tag
    const char close = is_var ? '}' : '%';
    while (true) {
      while (k < s_.size() && (s_[k] == ' ' || s_[k] == '\t' || s_[k] == '\n' || s_[k] == '\r')) ++k;
      if (k >= s_.size())
        return SetError(err_, StatusCode::kFormat, uint32_t(open), is_var ? "unclosed '{{'" : "unclosed '{%'");
      auto at = [&](size_t p, const char* lit) { return s_.compare(p, std::strlen(lit), lit) == 0; };
      if (depth == 0) {
        bool dash = s_[k] == '-' && k + 2 < s_.size() && s_[k + 1] == close && s_[k + 2] == '}';
        bool plus = !is_var && s_[k] == '+' && k + 2 < s_.size() && s_[k + 1] == '%' && s_[k + 2] == '}';
        if (dash || plus || (s_[k] == close && k + 1 < s_.size() && s_[k + 1] == '}')) {
          *end_dash = dash;
          *end_plus = plus;
          *end = k + (dash || plus ? 3 : 2);
          Emit(is_var ? Tok::kVarEnd : Tok::kBlockEnd, uint32_t(k), "");
          return true;
        }
      }
      char c = s_[k];
      size_t start = k;
      if (IsNameStart(c)) {
        while (k < s_.size() && IsNameChar(s_[k])) ++k;
        Emit(Tok::kName, uint32_t(start), std::string(s_.substr(start, k - start)));
      } else if (c >= '0' && c <= '9') {
        while (k < s_.size() && s_[k] >= '0' && s_[k] <= '9') ++k;
        bool is_float = false;
        if (k + 1 < s_.size() && s_[k] == '.' && s_[k + 1] >= '0' && s_[k + 1] <= '9') {
          is_float = true;
          for (++k; k < s_.size() && s_[k] >= '0' && s_[k] <= '9';) ++k;
        }
        if (k < s_.size() && (s_[k] == 'e' || s_[k] == 'E')) {
          size_t e = k + 1;
          if (e < s_.size() && (s_[e] == '+' || s_[e] == '-')) ++e;
          if (e < s_.size() && s_[e] >= '0' && s_[e] <= '9') {
            is_float = true;
            for (k = e; k < s_.size() && s_[k] >= '0' && s_[k] <= '9';) ++k;
          }
        }
        std::string num(s_.substr(start, k - start));
        Token t;
        t.type = is_float ? Tok::kFloat : Tok::kInt;
        t.pos = uint32_t(start);
        t.text = num;
        if (is_float) {
          t.number = std::strtod(num.c_str(), nullptr);
        } else {
          errno = 0;
          unsigned long long v = std::strtoull(num.c_str(), nullptr, 10);
          if (errno == ERANGE || v > uint64_t(INT64_MAX))
            return SetError(err_, StatusCode::kFormat, uint32_t(start), "integer literal too large");
          t.integer = int64_t(v);
        }
        out_->push_back(std::move(t));
      } else if (c == '\'' || c == '"') {
        for (++k; k < s_.size() && s_[k] != c; ++k)
          if (s_[k] == '\\') ++k;
        if (k >= s_.size()) return SetError(err_, StatusCode::kFormat, uint32_t(start), "unterminated string");
        ++k;
        Emit(Tok::kString, uint32_t(start), Unescape(NormalizeNewlines(s_.substr(start + 1, k - start - 2))));
      } else {
        static const char* const kTwo[] = {"==", "!=", "<=", ">=", "//", "**"};
        std::string op;
        for (const char* two : kTwo)
          if (at(k, two)) op = two;
        if (op.empty()) {
          if (!std::strchr("+-*/%~|.,:()[]{}<>=", c) || c == 0) {
            char msg[48];
            std::snprintf(msg, sizeof(msg), "unexpected character '%c'", c >= 32 && c < 127 ? c : '?');
            return SetError(err_, StatusCode::kFormat, uint32_t(k), msg);
          }
          op = std::string(1, c);
          if (c == '(' || c == '[' || c == '{') ++depth;
          if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
        }
        k += op.size();
        Token t;
        t.type = Tok::kOp;
        t.pos = uint32_t(start);
        t.text = op;
        out_->push_back(std::move(t));
      }
    }
  }

  std::string_view s_;
  ErrorState* err_;
  std::vector<Token>* out_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Syntax tree

enum class N : uint8_t {
  // statements
  kBlock, kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kBreak, kContinue,
  // expressions
  kLiteral, kName, kList, kDict, kAttr, kIndex, kSlice, kCall, kFilter, kTest, kNeg, kPos, kNot,
  kBinary, kAnd, kOr, kCompare, kCond,
};

struct Node {
  N kind;
  uint32_t pos = 0;
  std::string name;                // name, attribute, filter/test, operator, text, macro
  Value value;                     // kLiteral
  std::vector<Node*> kids;         // children (see the parser for each kind's layout)
  std::vector<std::string> names;  // for/set targets, macro parameters, call keyword names, compare ops
  bool flag = false;               // kTest: negated; kIf: has else; kFor: has else; kSlice: parts present
};

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent over the tokens, with Jinja's operator precedence (lowest first):
// conditional, or, and, not, comparisons and `in`, + -, ~, * / // %, **, unary - +, then
// primaries with .attr, [index], (call), |filter and `is` test.

class Parser {
 public:
  Parser(const std::vector<Token>& toks, std::deque<Node>* nodes, ErrorState* err, int max_depth)
      : t_(toks), nodes_(nodes), err_(err), max_depth_(max_depth) {}

  Node* ParseTemplate() {
    Node* root = ParseBlock({});
    if (!root) return nullptr;
    if (Cur().type != Tok::kEof) {
      Fail(Cur().pos, "unexpected '{% " + Peek(1).text + " %}'");
      return nullptr;
    }
    return root;
  }

 private:
  const Token& Cur() const { return t_[p_]; }
  const Token& Peek(size_t k) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  bool IsOp(const char* op) const { return Cur().type == Tok::kOp && Cur().text == op; }
  bool IsName(const char* name) const { return Cur().type == Tok::kName && Cur().text == name; }
  void Next() {
    if (p_ + 1 < t_.size()) ++p_;
  }
  bool Accept(const char* op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool AcceptName(const char* name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  std::nullptr_t Fail(uint32_t pos, const std::string& msg) {
    SetError(err_, StatusCode::kFormat, pos, msg);
    return nullptr;
  }
  std::string Describe(const Token& t) const {
    switch (t.type) {
      case Tok::kEof: return "end of template";
      case Tok::kBlockEnd: return "'%}'";
      case Tok::kVarEnd: return "'}}'";
      case Tok::kText: return "text";
      case Tok::kString: return "string";
      case Tok::kInt:
      case Tok::kFloat: return "number";
      default: return "'" + t.text + "'";
    }
  }
  bool Expect(const char* op) {
    if (Accept(op)) return true;
    Fail(Cur().pos, std::string("expected '") + op + "', found " + Describe(Cur()));
    return false;
  }
  bool ExpectType(Tok type, const char* what) {
    if (Cur().type == type) {
      Next();
      return true;
    }
    Fail(Cur().pos, std::string("expected ") + what + ", found " + Describe(Cur()));
    return false;
  }
  Node* Make(N kind, uint32_t pos) {
    nodes_->emplace_back();
    Node* n = &nodes_->back();
    n->kind = kind;
    n->pos = pos;
    return n;
  }

  // Counts nesting so a deep template is an error, not a stack overflow.
  struct DepthGuard {
    Parser* p;
    explicit DepthGuard(Parser* parser) : p(parser) { ++p->depth_; }
    ~DepthGuard() { --p->depth_; }
    bool ok() const { return p->depth_ <= p->max_depth_; }
  };
  bool DepthExceeded(uint32_t pos) {
    Fail(pos, "nesting deeper than " + std::to_string(max_depth_));
    return true;
  }

  // Statements until a {% tag %} whose name is in `ends` (left unconsumed) or the end.
  Node* ParseBlock(std::initializer_list<const char*> ends) {
    Node* block = Make(N::kBlock, Cur().pos);
    while (true) {
      const Token& t = Cur();
      if (t.type == Tok::kEof) {
        if (ends.size() == 0) return block;
        return Fail(t.pos, std::string("missing '{% ") + *(ends.end() - 1) + " %}'");
      }
      if (t.type == Tok::kText) {
        Node* n = Make(N::kText, t.pos);
        n->name = t.text;
        block->kids.push_back(n);
        Next();
      } else if (t.type == Tok::kVarBegin) {
        Next();
        Node* n = Make(N::kOutput, t.pos);
        Node* e = ParseExpression();
        if (!e || !ExpectType(Tok::kVarEnd, "'}}'")) return nullptr;
        n->kids.push_back(e);
        block->kids.push_back(n);
      } else if (t.type == Tok::kBlockBegin) {
        const Token& kw = Peek(1);
        if (kw.type != Tok::kName) return Fail(kw.pos, "expected a statement name, found " + Describe(kw));
        for (const char* e : ends)
          if (kw.text == e) return block;
        Node* s = ParseStatement();
        if (!s) return nullptr;
        if (s->kind != N::kBlock || !s->kids.empty()) block->kids.push_back(s);
      } else {
        return Fail(t.pos, "unexpected " + Describe(t));
      }
    }
  }

  bool EndTag(const char* name) {  // {% name %}
    if (!ExpectType(Tok::kBlockBegin, "'{%'")) return false;
    if (!AcceptName(name)) {
      Fail(Cur().pos, std::string("expected '") + name + "'");
      return false;
    }
    return ExpectType(Tok::kBlockEnd, "'%}'");
  }

  Node* ParseStatement() {
    DepthGuard guard(this);
    uint32_t pos = Cur().pos;
    if (!guard.ok() && DepthExceeded(pos)) return nullptr;
    Next();  // {%
    std::string kw = Cur().text;
    Next();
    if (kw == "if") return ParseIf(pos);
    if (kw == "for") return ParseFor(pos);
    if (kw == "set") return ParseSet(pos);
    if (kw == "macro") return ParseMacro(pos);
    if (kw == "break" || kw == "continue") {
      if (loop_depth_ == 0) return Fail(pos, "'" + kw + "' outside a loop");
      if (!ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
      return Make(kw == "break" ? N::kBreak : N::kContinue, pos);
    }
    if (kw == "generation") {  // transformers' assistant-mask marker: renders its body
      if (!ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
      Node* body = ParseBlock({"endgeneration"});
      if (!body || !EndTag("endgeneration")) return nullptr;
      return body;
    }
    return Fail(pos, "unsupported statement '" + kw + "'");
  }

  Node* ParseIf(uint32_t pos) {
    Node* n = Make(N::kIf, pos);
    while (true) {
      Node* cond = ParseExpression();
      if (!cond || !ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
      Node* body = ParseBlock({"elif", "else", "endif"});
      if (!body) return nullptr;
      n->kids.push_back(cond);
      n->kids.push_back(body);
      Next();  // {%
      std::string kw = Cur().text;
      Next();
      if (kw == "elif") continue;
      if (kw == "else") {
        if (!ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
        Node* else_body = ParseBlock({"endif"});
        if (!else_body || !EndTag("endif")) return nullptr;
        n->kids.push_back(else_body);
        n->flag = true;
        return n;
      }
      if (!ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
      return n;
    }
  }

  bool ParseTargets(std::vector<std::string>* names) {  // a or a, b or (a, b)
    bool paren = Accept("(");
    do {
      if (Cur().type != Tok::kName) {
        Fail(Cur().pos, "expected a variable name, found " + Describe(Cur()));
        return false;
      }
      names->push_back(Cur().text);
      Next();
    } while (Accept(","));
    return !paren || Expect(")");
  }

  // kids: iterable, body, filter (or null), else body (or null)
  Node* ParseFor(uint32_t pos) {
    Node* n = Make(N::kFor, pos);
    if (!ParseTargets(&n->names)) return nullptr;
    if (!AcceptName("in")) return Fail(Cur().pos, "expected 'in' in the for statement");
    Node* iter = ParseOr();  // not a conditional: `if` here filters the loop
    if (!iter) return nullptr;
    Node* filter = nullptr;
    if (AcceptName("if")) {
      filter = ParseOr();
      if (!filter) return nullptr;
    }
    if (IsName("recursive")) return Fail(Cur().pos, "recursive loops are not supported");
    if (!ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
    ++loop_depth_;
    Node* body = ParseBlock({"else", "endfor"});
    --loop_depth_;
    if (!body) return nullptr;
    Node* else_body = nullptr;
    Next();
    std::string kw = Cur().text;
    Next();
    if (!ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
    if (kw == "else") {
      else_body = ParseBlock({"endfor"});
      if (!else_body || !EndTag("endfor")) return nullptr;
    }
    n->kids = {iter, body, filter, else_body};
    return n;
  }

  // kSet: names = [target] or [a, b] or [namespace, attribute] with flag; kids = [value]
  Node* ParseSet(uint32_t pos) {
    Node* n = Make(N::kSet, pos);
    if (Cur().type != Tok::kName) return Fail(Cur().pos, "expected a variable name after 'set'");
    n->names.push_back(Cur().text);
    Next();
    if (Accept(".")) {
      if (Cur().type != Tok::kName) return Fail(Cur().pos, "expected an attribute name");
      n->names.push_back(Cur().text);
      n->flag = true;  // namespace attribute
      Next();
    } else {
      while (Accept(",")) {
        if (Cur().type != Tok::kName) return Fail(Cur().pos, "expected a variable name");
        n->names.push_back(Cur().text);
        Next();
      }
    }
    if (Cur().type == Tok::kBlockEnd && n->names.size() == 1) {  // {% set x %}...{% endset %}
      Next();
      n->kind = N::kSetBlock;
      Node* body = ParseBlock({"endset"});
      if (!body || !EndTag("endset")) return nullptr;
      n->kids.push_back(body);
      return n;
    }
    if (!Expect("=")) return nullptr;
    Node* value = ParseTuple();
    if (!value || !ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
    n->kids.push_back(value);
    return n;
  }

  // kMacro: name; names = parameters; kids = [body, default of each parameter (or null)]
  Node* ParseMacro(uint32_t pos) {
    Node* n = Make(N::kMacro, pos);
    if (Cur().type != Tok::kName) return Fail(Cur().pos, "expected a macro name");
    n->name = Cur().text;
    Next();
    if (!Expect("(")) return nullptr;
    std::vector<Node*> defaults;
    while (!IsOp(")")) {
      if (Cur().type != Tok::kName) return Fail(Cur().pos, "expected a parameter name");
      n->names.push_back(Cur().text);
      Next();
      Node* dflt = nullptr;
      if (Accept("=")) {
        dflt = ParseExpression();
        if (!dflt) return nullptr;
      }
      defaults.push_back(dflt);
      if (!Accept(",")) break;
    }
    if (!Expect(")") || !ExpectType(Tok::kBlockEnd, "'%}'")) return nullptr;
    int saved_loops = loop_depth_;
    loop_depth_ = 0;
    Node* body = ParseBlock({"endmacro"});
    loop_depth_ = saved_loops;
    if (!body || !EndTag("endmacro")) return nullptr;
    n->kids.push_back(body);
    for (Node* d : defaults) n->kids.push_back(d);
    return n;
  }

  // An expression, or a tuple of them (`set a, b = 1, 2`).
  Node* ParseTuple() {
    uint32_t pos = Cur().pos;
    Node* first = ParseExpression();
    if (!first || !IsOp(",")) return first;
    Node* list = Make(N::kList, pos);
    list->kids.push_back(first);
    while (Accept(",")) {
      Node* e = ParseExpression();
      if (!e) return nullptr;
      list->kids.push_back(e);
    }
    return list;
  }

  // kCond: kids = [value, condition, else value (or null)]
  Node* ParseExpression() {
    DepthGuard guard(this);
    uint32_t pos = Cur().pos;
    if (!guard.ok() && DepthExceeded(pos)) return nullptr;
    Node* value = ParseOr();
    if (!value) return nullptr;
    while (IsName("if")) {
      Next();
      Node* cond = ParseOr();
      if (!cond) return nullptr;
      Node* otherwise = nullptr;
      if (AcceptName("else")) {
        otherwise = ParseExpression();
        if (!otherwise) return nullptr;
      }
      Node* n = Make(N::kCond, pos);
      n->kids = {value, cond, otherwise};
      value = n;
    }
    return value;
  }

  Node* ParseOr() {
    Node* left = ParseAnd();
    while (left && IsName("or")) {
      uint32_t pos = Cur().pos;
      Next();
      Node* right = ParseAnd();
      if (!right) return nullptr;
      Node* n = Make(N::kOr, pos);
      n->kids = {left, right};
      left = n;
    }
    return left;
  }

  Node* ParseAnd() {
    Node* left = ParseNot();
    while (left && IsName("and")) {
      uint32_t pos = Cur().pos;
      Next();
      Node* right = ParseNot();
      if (!right) return nullptr;
      Node* n = Make(N::kAnd, pos);
      n->kids = {left, right};
      left = n;
    }
    return left;
  }

  Node* ParseNot() {
    if (!IsName("not")) return ParseCompare();
    DepthGuard guard(this);
    uint32_t pos = Cur().pos;
    if (!guard.ok() && DepthExceeded(pos)) return nullptr;
    Next();
    Node* operand = ParseNot();
    if (!operand) return nullptr;
    Node* n = Make(N::kNot, pos);
    n->kids = {operand};
    return n;
  }

  // kCompare: kids = operands, names = the operators between them (chains like a < b < c)
  Node* ParseCompare() {
    uint32_t pos = Cur().pos;
    Node* first = ParseMath1();
    if (!first) return nullptr;
    Node* n = nullptr;
    while (true) {
      std::string op;
      if (Cur().type == Tok::kOp &&
          (Cur().text == "==" || Cur().text == "!=" || Cur().text == "<" || Cur().text == ">" ||
           Cur().text == "<=" || Cur().text == ">=")) {
        op = Cur().text;
        Next();
      } else if (IsName("in")) {
        op = "in";
        Next();
      } else if (IsName("not") && Peek(1).type == Tok::kName && Peek(1).text == "in") {
        op = "not in";
        Next();
        Next();
      } else {
        break;
      }
      Node* right = ParseMath1();
      if (!right) return nullptr;
      if (!n) {
        n = Make(N::kCompare, pos);
        n->kids.push_back(first);
      }
      n->kids.push_back(right);
      n->names.push_back(op);
    }
    return n ? n : first;
  }

  Node* Binary(const std::string& op, uint32_t pos, Node* a, Node* b) {
    Node* n = Make(N::kBinary, pos);
    n->name = op;
    n->kids = {a, b};
    return n;
  }

  Node* ParseMath1() {
    Node* left = ParseConcat();
    while (left && (IsOp("+") || IsOp("-"))) {
      std::string op = Cur().text;
      uint32_t pos = Cur().pos;
      Next();
      Node* right = ParseConcat();
      if (!right) return nullptr;
      left = Binary(op, pos, left, right);
    }
    return left;
  }

  Node* ParseConcat() {
    Node* left = ParseMath2();
    while (left && IsOp("~")) {
      uint32_t pos = Cur().pos;
      Next();
      Node* right = ParseMath2();
      if (!right) return nullptr;
      left = Binary("~", pos, left, right);
    }
    return left;
  }

  Node* ParseMath2() {
    Node* left = ParsePow();
    while (left && (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%"))) {
      std::string op = Cur().text;
      uint32_t pos = Cur().pos;
      Next();
      Node* right = ParsePow();
      if (!right) return nullptr;
      left = Binary(op, pos, left, right);
    }
    return left;
  }

  Node* ParsePow() {
    Node* left = ParseUnary(true);
    while (left && IsOp("**")) {
      uint32_t pos = Cur().pos;
      Next();
      Node* right = ParseUnary(true);
      if (!right) return nullptr;
      left = Binary("**", pos, left, right);
    }
    return left;
  }

  Node* ParseUnary(bool with_filter) {
    DepthGuard guard(this);
    uint32_t pos = Cur().pos;
    if (!guard.ok() && DepthExceeded(pos)) return nullptr;
    Node* node;
    if (IsOp("-") || IsOp("+")) {
      bool neg = IsOp("-");
      Next();
      Node* operand = ParseUnary(false);
      if (!operand) return nullptr;
      node = Make(neg ? N::kNeg : N::kPos, pos);
      node->kids = {operand};
    } else {
      node = ParsePrimary();
    }
    node = ParsePostfix(node);
    if (with_filter) node = ParseFilters(node);
    return node;
  }

  Node* ParsePrimary() {
    const Token& t = Cur();
    uint32_t pos = t.pos;
    switch (t.type) {
      case Tok::kName: {
        Node* n;
        if (t.text == "true" || t.text == "True" || t.text == "false" || t.text == "False") {
          n = Make(N::kLiteral, pos);
          n->value = Value::Bool(t.text[0] == 't' || t.text[0] == 'T');
        } else if (t.text == "none" || t.text == "None") {
          n = Make(N::kLiteral, pos);
          n->value = Value::None();
        } else {
          n = Make(N::kName, pos);
          n->name = t.text;
        }
        Next();
        return n;
      }
      case Tok::kString: {
        std::string s;
        while (Cur().type == Tok::kString) {  // adjacent literals concatenate
          s += Cur().text;
          Next();
        }
        Node* n = Make(N::kLiteral, pos);
        n->value = Value::String(std::move(s));
        return n;
      }
      case Tok::kInt:
      case Tok::kFloat: {
        Node* n = Make(N::kLiteral, pos);
        n->value = t.type == Tok::kInt ? Value::Int(t.integer) : Value::Float(t.number);
        Next();
        return n;
      }
      case Tok::kOp:
        if (t.text == "(") {
          Next();
          if (Accept(")")) return Make(N::kList, pos);  // ()
          Node* e = ParseExpression();
          if (!e) return nullptr;
          if (IsOp(",")) {  // a tuple: a list to us
            Node* list = Make(N::kList, pos);
            list->kids.push_back(e);
            while (Accept(",") && !IsOp(")")) {
              Node* item = ParseExpression();
              if (!item) return nullptr;
              list->kids.push_back(item);
            }
            e = list;
          }
          return Expect(")") ? e : nullptr;
        }
        if (t.text == "[") {
          Next();
          Node* list = Make(N::kList, pos);
          while (!IsOp("]")) {
            Node* item = ParseExpression();
            if (!item) return nullptr;
            list->kids.push_back(item);
            if (!Accept(",")) break;
          }
          return Expect("]") ? list : nullptr;
        }
        if (t.text == "{") {  // kDict: kids = key, value, key, value, ...
          Next();
          Node* dict = Make(N::kDict, pos);
          while (!IsOp("}")) {
            Node* key = ParseExpression();
            if (!key || !Expect(":")) return nullptr;
            Node* value = ParseExpression();
            if (!value) return nullptr;
            dict->kids.push_back(key);
            dict->kids.push_back(value);
            if (!Accept(",")) break;
          }
          return Expect("}") ? dict : nullptr;
        }
        break;
      default:
        break;
    }
    return Fail(pos, "unexpected " + Describe(t));
  }

  // kCall: kids = [callee, positional..., keyword...]; names = the keyword names (last kids)
  bool ParseCallArgs(Node* call) {
    // Cur() is just past '('.
    while (!IsOp(")")) {
      if (Cur().type == Tok::kName && Peek(1).type == Tok::kOp && Peek(1).text == "=") {
        call->names.push_back(Cur().text);
        Next();
        Next();
      } else if (!call->names.empty()) {
        Fail(Cur().pos, "positional argument after keyword argument");
        return false;
      }
      Node* arg = ParseExpression();
      if (!arg) return false;
      call->kids.push_back(arg);
      if (!Accept(",")) break;
    }
    return Expect(")");
  }

  Node* ParsePostfix(Node* node) {
    while (node) {
      uint32_t pos = Cur().pos;
      if (Accept(".")) {
        if (Cur().type != Tok::kName && Cur().type != Tok::kInt) return Fail(Cur().pos, "expected an attribute name");
        Node* n;
        if (Cur().type == Tok::kInt) {  // x.0 is x[0]
          n = Make(N::kIndex, pos);
          Node* idx = Make(N::kLiteral, pos);
          idx->value = Value::Int(Cur().integer);
          n->kids = {node, idx};
        } else {
          n = Make(N::kAttr, pos);
          n->name = Cur().text;
          n->kids = {node};
        }
        Next();
        node = n;
      } else if (Accept("[")) {
        // kSlice: kids = [object, start, stop, step] (null where absent)
        Node* parts[3] = {nullptr, nullptr, nullptr};
        bool slice = false;
        for (int k = 0; k < 3; ++k) {
          if (!IsOp(":") && !IsOp("]")) {
            parts[k] = ParseExpression();
            if (!parts[k]) return nullptr;
          }
          if (k < 2 && Accept(":")) {
            slice = true;
            continue;
          }
          break;
        }
        if (!Expect("]")) return nullptr;
        Node* n;
        if (slice) {
          n = Make(N::kSlice, pos);
          n->kids = {node, parts[0], parts[1], parts[2]};
        } else {
          if (!parts[0]) return Fail(pos, "empty subscript");
          n = Make(N::kIndex, pos);
          n->kids = {node, parts[0]};
        }
        node = n;
      } else if (Accept("(")) {
        Node* call = Make(N::kCall, pos);
        call->kids.push_back(node);
        if (!ParseCallArgs(call)) return nullptr;
        node = call;
      } else {
        break;
      }
    }
    return node;
  }

  // kFilter: name; kids = [operand, args...]; names = keyword names
  // kTest: name; flag = negated; kids = [operand, args...]
  Node* ParseFilters(Node* node) {
    while (node) {
      uint32_t pos = Cur().pos;
      if (Accept("|")) {
        if (Cur().type != Tok::kName) return Fail(Cur().pos, "expected a filter name");
        Node* f = Make(N::kFilter, pos);
        f->name = Cur().text;
        f->kids.push_back(node);
        Next();
        if (Accept("(") && !ParseCallArgs(f)) return nullptr;
        node = ParsePostfix(f);
      } else if (IsName("is")) {
        Next();
        Node* test = Make(N::kTest, pos);
        test->flag = AcceptName("not");
        if (Cur().type != Tok::kName) return Fail(Cur().pos, "expected a test name");
        test->name = Cur().text;
        test->kids.push_back(node);
        Next();
        if (Accept("(")) {
          if (!ParseCallArgs(test)) return nullptr;
        } else if (Cur().type == Tok::kString || Cur().type == Tok::kInt || Cur().type == Tok::kFloat ||
                   (Cur().type == Tok::kName && Cur().text != "and" && Cur().text != "or" && Cur().text != "else" &&
                    Cur().text != "if" && Cur().text != "is" && Cur().text != "in" && Cur().text != "not")) {
          Node* arg = ParsePostfix(ParsePrimary());  // `is divisibleby 3`, `is sameas none`
          if (!arg) return nullptr;
          test->kids.push_back(arg);
        }
        node = test;
      } else {
        break;
      }
    }
    return node;
  }

  const std::vector<Token>& t_;
  size_t p_ = 0;
  std::deque<Node>* nodes_;
  ErrorState* err_;
  int max_depth_;
  int depth_ = 0;
  int loop_depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Evaluator

// Builtin functions and methods, bound to Value::function.
enum Fn {
  kFnNone = 0,
  kFnRange, kFnNamespace, kFnRaiseException, kFnStrftimeNow, kFnDict, kFnMacro,
  kStrStrip, kStrLstrip, kStrRstrip, kStrSplit, kStrStartswith, kStrEndswith, kStrUpper, kStrLower,
  kStrTitle, kStrCapitalize, kStrReplace, kStrFind, kStrCount, kStrJoin, kStrIsdigit, kStrIsspace,
  kDictItems, kDictKeys, kDictValues, kDictGet,
};

struct NamedFn {
  const char* name;
  Fn fn;
};
constexpr NamedFn kGlobals[] = {{"range", kFnRange},
                                {"namespace", kFnNamespace},
                                {"raise_exception", kFnRaiseException},
                                {"strftime_now", kFnStrftimeNow},
                                {"dict", kFnDict}};
constexpr NamedFn kStringMethods[] = {
    {"strip", kStrStrip},     {"lstrip", kStrLstrip},         {"rstrip", kStrRstrip},   {"split", kStrSplit},
    {"startswith", kStrStartswith}, {"endswith", kStrEndswith}, {"upper", kStrUpper},   {"lower", kStrLower},
    {"title", kStrTitle},     {"capitalize", kStrCapitalize}, {"replace", kStrReplace}, {"find", kStrFind},
    {"count", kStrCount},     {"join", kStrJoin},             {"isdigit", kStrIsdigit}, {"isspace", kStrIsspace}};
constexpr NamedFn kDictMethods[] = {
    {"items", kDictItems}, {"keys", kDictKeys}, {"values", kDictValues}, {"get", kDictGet}};

template <size_t N>
Fn FindFn(const NamedFn (&table)[N], const std::string& name) {
  for (const NamedFn& f : table)
    if (name == f.name) return f.fn;
  return kFnNone;
}

Value Function(Fn fn, const Value* self = nullptr) {
  Value v;
  v.kind = Value::kFunction;
  v.function = fn;
  if (self) v.self = std::make_shared<const Value>(*self);
  return v;
}

Value Undefined(const std::string& name) {
  Value v;
  v.str = std::make_shared<const std::string>(name);
  return v;
}

const char* TypeName(const Value& v) {
  switch (v.kind) {
    case Value::kUndefined: return "undefined";
    case Value::kNone: return "NoneType";
    case Value::kBool: return "bool";
    case Value::kInt: return "int";
    case Value::kFloat: return "float";
    case Value::kString: return "str";
    case Value::kList: return "list";
    case Value::kDict: return "dict";
    case Value::kNamespace: return "Namespace";
    case Value::kFunction: return "function";
  }
  return "?";
}

bool IsNumber(const Value& v) { return v.kind == Value::kBool || v.kind == Value::kInt || v.kind == Value::kFloat; }
bool IsIntegral(const Value& v) { return v.kind == Value::kBool || v.kind == Value::kInt; }
int64_t AsInt(const Value& v) { return v.kind == Value::kBool ? int64_t(v.boolean) : v.integer; }
double AsDouble(const Value& v) { return v.kind == Value::kFloat ? v.number : double(AsInt(v)); }

bool Truthy(const Value& v) {
  switch (v.kind) {
    case Value::kUndefined:
    case Value::kNone: return false;
    case Value::kBool: return v.boolean;
    case Value::kInt: return v.integer != 0;
    case Value::kFloat: return v.number != 0;
    case Value::kString: return !v.str->empty();
    case Value::kList: return !v.list->empty();
    case Value::kDict: return !v.dict->empty();
    default: return true;
  }
}

const Value* DictFind(const ValueDict& d, const std::string& key) {
  for (const auto& kv : d)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

// Whether `v` holds `target` (a namespace's dict) anywhere inside it: storing it there would
// make a reference cycle, which shared ownership never frees. *budget bounds the walk over
// shared containers; running out counts as reaching (the assignment is refused).
bool Reaches(const Value& v, const ValueDict* target, size_t* budget) {
  if (!v.dict && !v.list && !v.self) return false;  // scalars hold nothing
  if (*budget == 0) return true;
  --*budget;
  if (v.dict) {
    if (v.dict.get() == target) return true;
    for (const auto& kv : *v.dict)
      if (Reaches(kv.second, target, budget)) return true;
  }
  if (v.list)
    for (const Value& item : *v.list)
      if (Reaches(item, target, budget)) return true;
  return v.self && Reaches(*v.self, target, budget);
}

void DictSet(ValueDict* d, const std::string& key, Value v) {
  for (auto& kv : *d)
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  d->emplace_back(key, std::move(v));
}

struct Frame {
  Frame* parent = nullptr;
  std::vector<std::pair<std::string, Value>> vars;
  Value* Find(const std::string& name) {
    for (auto& kv : vars)
      if (kv.first == name) return &kv.second;
    return nullptr;
  }
  void Set(const std::string& name, Value v) {
    if (Value* slot = Find(name)) *slot = std::move(v);
    else vars.emplace_back(name, std::move(v));
  }
};

struct Args {  // evaluated call arguments
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  const Value* Get(size_t index, const char* name) const {
    if (index < positional.size()) return &positional[index];
    for (const auto& kv : keyword)
      if (kv.first == name) return &kv.second;
    return nullptr;
  }
};

class Renderer {
 public:
  Renderer(const Options& options, ErrorState* err) : opt_(options), lim_(options.limits), err_(err) {}

  bool Run(const Node* root, const Value& context, std::string* out) {
    Frame globals;
    if (context.kind == Value::kDict)
      for (const auto& kv : *context.dict) globals.Set(kv.first, kv.second);
    root_ = &globals;
    frame_ = &globals;
    sink_ = out;
    return Exec(root);
  }

 private:
  // ---- errors and budgets
  bool Fail(uint32_t pos, const char* fmt, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 3, 4)))
#endif
  {
    va_list args;
    va_start(args, fmt);
    std::string msg = Format(fmt, args);
    va_end(args);
    return SetError(err_, StatusCode::kFormat, pos, msg);
  }
  bool UndefinedError(uint32_t pos, const Value& v) {
    return Fail(pos, "'%s' is undefined", v.str ? v.str->c_str() : "value");
  }
  bool Step(uint32_t pos) {
    if (++steps_ <= lim_.max_steps) return true;
    return Fail(pos, "template ran more than %" PRIu64 " steps", lim_.max_steps);
  }
  // Every string or list the template builds is paid for here, so time and memory stay bounded.
  bool Charge(uint32_t pos, uint64_t bytes) {
    work_ += bytes;
    if (work_ <= lim_.max_work_bytes) return true;
    return Fail(pos, "template built more than its limit of %" PRIu64 " bytes of values", lim_.max_work_bytes);
  }
  // No one string may be longer than the output may be.
  bool CheckLength(uint32_t pos, uint64_t bytes) {
    if (bytes <= lim_.max_output_bytes) return true;
    return Fail(pos, "string longer than %zu bytes", lim_.max_output_bytes);
  }
  bool MakeString(uint32_t pos, std::string s, Value* out) {
    TRY(CheckLength(pos, s.size()) && Charge(pos, s.size()));
    *out = Value::String(std::move(s));
    return true;
  }
  bool MakeList(uint32_t pos, ValueList items, Value* out) {
    TRY(Charge(pos, items.size() * sizeof(Value)));
    *out = Value::List(std::move(items));
    return true;
  }
  bool Emit(uint32_t pos, std::string_view s) {
    if (sink_->size() + s.size() > lim_.max_output_bytes)
      return Fail(pos, "output longer than %zu bytes", lim_.max_output_bytes);
    sink_->append(s);
    return true;
  }
  struct DepthGuard {
    int* depth;
    explicit DepthGuard(int* d) : depth(d) { ++*depth; }
    ~DepthGuard() { --*depth; }
  };
  int RuntimeDepthLimit() const { return lim_.max_depth * 3; }
  bool CheckDepth(uint32_t pos) {
    if (depth_ <= RuntimeDepthLimit()) return true;
    return Fail(pos, "calls nested deeper than %d", RuntimeDepthLimit());
  }

  // ---- conversions
  bool ToString(uint32_t pos, const Value& v, std::string* out, int depth = 0) {
    switch (v.kind) {
      case Value::kUndefined: return true;
      case Value::kString: out->append(*v.str); return true;
      default: return Repr(pos, v, out, depth);
    }
  }

  bool Repr(uint32_t pos, const Value& v, std::string* out, int depth) {
    if (depth > RuntimeDepthLimit()) return Fail(pos, "value nested deeper than %d", RuntimeDepthLimit());
    if (out->size() > lim_.max_output_bytes) return Fail(pos, "value longer than %zu bytes", lim_.max_output_bytes);
    switch (v.kind) {
      case Value::kUndefined: out->append("Undefined"); return true;
      case Value::kNone: out->append("None"); return true;
      case Value::kBool: out->append(v.boolean ? "True" : "False"); return true;
      case Value::kInt: out->append(std::to_string(v.integer)); return true;
      case Value::kFloat: out->append(PyFloatRepr(v.number)); return true;
      case Value::kString: out->append(PyStrRepr(*v.str)); return true;
      case Value::kList:
        out->push_back('[');
        for (size_t i = 0; i < v.list->size(); ++i) {
          if (i) out->append(", ");
          TRY(Repr(pos, (*v.list)[i], out, depth + 1));
        }
        out->push_back(']');
        return true;
      case Value::kDict:
      case Value::kNamespace:
        out->append(v.kind == Value::kNamespace ? "<Namespace {" : "{");
        for (size_t i = 0; i < v.dict->size(); ++i) {
          if (i) out->append(", ");
          out->append(PyStrRepr((*v.dict)[i].first));
          out->append(": ");
          TRY(Repr(pos, (*v.dict)[i].second, out, depth + 1));
        }
        out->append(v.kind == Value::kNamespace ? "}>" : "}");
        return true;
      case Value::kFunction: out->append("<function>"); return true;
    }
    return true;
  }

  // json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys).
  bool ToJson(uint32_t pos, const Value& v, int indent, bool sort_keys, int level, std::string* out) {
    if (level > RuntimeDepthLimit()) return Fail(pos, "value nested deeper than %d", RuntimeDepthLimit());
    if (out->size() > lim_.max_output_bytes) return Fail(pos, "value longer than %zu bytes", lim_.max_output_bytes);
    auto newline = [&](int lvl) {
      if (indent < 0) return;
      out->push_back('\n');
      out->append(size_t(indent) * size_t(lvl), ' ');
    };
    switch (v.kind) {
      case Value::kNone: out->append("null"); return true;
      case Value::kBool: out->append(v.boolean ? "true" : "false"); return true;
      case Value::kInt: out->append(std::to_string(v.integer)); return true;
      case Value::kFloat:
        out->append(std::isnan(v.number) ? "NaN" : std::isinf(v.number) ? (v.number < 0 ? "-Infinity" : "Infinity")
                                                                        : PyFloatRepr(v.number));
        return true;
      case Value::kString: JsonString(*v.str, out); return true;
      case Value::kList:
        if (v.list->empty()) {
          out->append("[]");
          return true;
        }
        out->push_back('[');
        for (size_t i = 0; i < v.list->size(); ++i) {
          if (i) out->append(indent < 0 ? ", " : ",");
          newline(level + 1);
          TRY(ToJson(pos, (*v.list)[i], indent, sort_keys, level + 1, out));
        }
        newline(level);
        out->push_back(']');
        return true;
      case Value::kDict: {
        if (v.dict->empty()) {
          out->append("{}");
          return true;
        }
        std::vector<const std::pair<std::string, Value>*> items;
        for (const auto& kv : *v.dict) items.push_back(&kv);
        if (sort_keys)
          std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
        out->push_back('{');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out->append(indent < 0 ? ", " : ",");
          newline(level + 1);
          JsonString(items[i]->first, out);
          out->append(": ");
          TRY(ToJson(pos, items[i]->second, indent, sort_keys, level + 1, out));
        }
        newline(level);
        out->push_back('}');
        return true;
      }
      default: return Fail(pos, "Object of type %s is not JSON serializable", TypeName(v));
    }
  }

  bool Equal(uint32_t pos, const Value& a, const Value& b, bool* eq, int depth = 0) {
    if (depth > RuntimeDepthLimit()) return Fail(pos, "value nested deeper than %d", RuntimeDepthLimit());
    if (IsNumber(a) && IsNumber(b)) {
      *eq = IsIntegral(a) && IsIntegral(b) ? AsInt(a) == AsInt(b) : AsDouble(a) == AsDouble(b);
      return true;
    }
    *eq = false;
    if (a.kind != b.kind) return true;
    switch (a.kind) {
      case Value::kUndefined:
      case Value::kNone: *eq = true; return true;
      case Value::kString: *eq = *a.str == *b.str; return true;
      case Value::kList:
        if (a.list->size() != b.list->size()) return true;
        for (size_t i = 0; i < a.list->size(); ++i) {
          TRY(Equal(pos, (*a.list)[i], (*b.list)[i], eq, depth + 1));
          if (!*eq) return true;
        }
        *eq = true;
        return true;
      case Value::kDict:
        if (a.dict->size() != b.dict->size()) return true;
        for (const auto& kv : *a.dict) {
          const Value* other = DictFind(*b.dict, kv.first);
          if (!other) return true;
          TRY(Equal(pos, kv.second, *other, eq, depth + 1));
          if (!*eq) return true;
        }
        *eq = true;
        return true;
      case Value::kNamespace: *eq = a.dict == b.dict; return true;
      case Value::kFunction: *eq = a.function == b.function && a.macro == b.macro; return true;
      default: return true;
    }
  }

  // Python's ordering: numbers, strings (code point order is byte order in UTF-8), lists.
  bool Less(uint32_t pos, const Value& a, const Value& b, bool* less, int depth = 0) {
    if (depth > RuntimeDepthLimit()) return Fail(pos, "value nested deeper than %d", RuntimeDepthLimit());
    if (IsNumber(a) && IsNumber(b)) {
      *less = IsIntegral(a) && IsIntegral(b) ? AsInt(a) < AsInt(b) : AsDouble(a) < AsDouble(b);
      return true;
    }
    if (a.kind == Value::kString && b.kind == Value::kString) {
      *less = *a.str < *b.str;
      return true;
    }
    if (a.kind == Value::kList && b.kind == Value::kList) {
      for (size_t i = 0; i < a.list->size() && i < b.list->size(); ++i) {
        bool eq = false;
        TRY(Equal(pos, (*a.list)[i], (*b.list)[i], &eq, depth + 1));
        if (!eq) return Less(pos, (*a.list)[i], (*b.list)[i], less, depth + 1);
      }
      *less = a.list->size() < b.list->size();
      return true;
    }
    return Fail(pos, "'<' not supported between %s and %s", TypeName(a), TypeName(b));
  }

  // The items a for loop or filter walks: list elements, dict keys, string characters.
  bool Iterate(uint32_t pos, const Value& v, ValueList* items) {
    switch (v.kind) {
      case Value::kUndefined: return true;
      case Value::kList:
        TRY(Charge(pos, v.list->size() * sizeof(Value)));
        *items = *v.list;
        return true;
      case Value::kDict:
        TRY(Charge(pos, v.dict->size() * sizeof(Value)));
        for (const auto& kv : *v.dict) items->push_back(Value::String(kv.first));
        return true;
      case Value::kString: {
        const std::string& s = *v.str;
        TRY(Charge(pos, CodePointCount(s) * (sizeof(Value) + 32)));
        for (size_t i = 0; i < s.size();) {
          size_t start = i;
          Utf8Next(s, &i);
          items->push_back(Value::String(s.substr(start, i - start)));
        }
        return true;
      }
      default: return Fail(pos, "'%s' object is not iterable", TypeName(v));
    }
  }

  bool Contains(uint32_t pos, const Value& container, const Value& item, bool* found) {
    *found = false;
    switch (container.kind) {
      case Value::kUndefined: return true;
      case Value::kString:
        if (item.kind != Value::kString) return Fail(pos, "'in <string>' requires a string on the left, not %s", TypeName(item));
        *found = container.str->find(*item.str) != std::string::npos;
        return true;
      case Value::kList:
        for (const Value& e : *container.list) {
          TRY(Equal(pos, item, e, found));
          if (*found) return true;
        }
        return true;
      case Value::kDict:
      case Value::kNamespace:
        *found = item.kind == Value::kString && DictFind(*container.dict, *item.str);
        return true;
      default: return Fail(pos, "argument of type '%s' is not iterable", TypeName(container));
    }
  }

  // ---- lookups
  Value Lookup(const std::string& name) {
    for (Frame* f = frame_; f; f = f->parent)
      if (Value* v = f->Find(name)) return *v;
    if (Fn fn = FindFn(kGlobals, name)) return Function(fn);
    return Undefined(name);
  }

  bool GetAttr(uint32_t pos, const Value& obj, const std::string& name, Value* out) {
    switch (obj.kind) {
      case Value::kUndefined: return UndefinedError(pos, obj);
      case Value::kDict:
        if (Fn fn = FindFn(kDictMethods, name)) {
          *out = Function(fn, &obj);
          return true;
        }
        // fall through
      case Value::kNamespace:
        if (const Value* v = DictFind(*obj.dict, name)) *out = *v;
        else *out = Undefined(name);
        return true;
      case Value::kString:
        if (Fn fn = FindFn(kStringMethods, name)) *out = Function(fn, &obj);
        else *out = Undefined(name);
        return true;
      default: *out = Undefined(name); return true;
    }
  }

  bool GetItem(uint32_t pos, const Value& obj, const Value& key, Value* out) {
    switch (obj.kind) {
      case Value::kUndefined: return UndefinedError(pos, obj);
      case Value::kDict:
      case Value::kNamespace:
        if (key.kind == Value::kString) return GetAttr(pos, obj, *key.str, out);
        *out = Undefined("item");
        return true;
      case Value::kList:
      case Value::kString: {
        if (!IsIntegral(key)) {
          if (key.kind == Value::kString && obj.kind == Value::kString) return GetAttr(pos, obj, *key.str, out);
          *out = Undefined("item");
          return true;
        }
        int64_t n = obj.kind == Value::kList ? int64_t(obj.list->size()) : int64_t(CodePointCount(*obj.str));
        int64_t i = AsInt(key);
        if (i < 0) i += n;
        if (i < 0 || i >= n) {
          *out = Undefined(std::string(TypeName(obj)) + "[" + std::to_string(AsInt(key)) + "]");
          return true;
        }
        if (obj.kind == Value::kList) {
          *out = (*obj.list)[size_t(i)];
        } else {
          std::vector<size_t> at = CodePointStarts(*obj.str);
          *out = Value::String(obj.str->substr(at[size_t(i)], at[size_t(i) + 1] - at[size_t(i)]));
        }
        return true;
      }
      default: *out = Undefined("item"); return true;
    }
  }

  // ---- expressions
  bool Eval(const Node* n, Value* out) {
    DepthGuard guard(&depth_);
    TRY(CheckDepth(n->pos));
    TRY(Step(n->pos));
    switch (n->kind) {
      case N::kLiteral: *out = n->value; return true;
      case N::kName: *out = Lookup(n->name); return true;
      case N::kList: {
        ValueList items;
        for (const Node* k : n->kids) {
          Value v;
          TRY(Eval(k, &v));
          items.push_back(std::move(v));
        }
        return MakeList(n->pos, std::move(items), out);
      }
      case N::kDict: {
        ValueDict items;
        for (size_t i = 0; i + 1 < n->kids.size(); i += 2) {
          Value key, value;
          TRY(Eval(n->kids[i], &key));
          TRY(Eval(n->kids[i + 1], &value));
          if (key.kind != Value::kString) return Fail(n->kids[i]->pos, "dict keys must be strings here");
          DictSet(&items, *key.str, std::move(value));
        }
        TRY(Charge(n->pos, items.size() * sizeof(Value)));
        *out = Value::Dict(std::move(items));
        return true;
      }
      case N::kAttr: {
        Value obj;
        TRY(Eval(n->kids[0], &obj));
        return GetAttr(n->pos, obj, n->name, out);
      }
      case N::kIndex: {
        Value obj, key;
        TRY(Eval(n->kids[0], &obj));
        TRY(Eval(n->kids[1], &key));
        return GetItem(n->pos, obj, key, out);
      }
      case N::kSlice: return EvalSlice(n, out);
      case N::kCall: return EvalCall(n, out);
      case N::kFilter: {
        Value operand;
        Args args;
        TRY(Eval(n->kids[0], &operand));
        TRY(EvalArgs(n, 1, &args));
        return ApplyFilter(n->pos, n->name, operand, args, out);
      }
      case N::kTest: {
        Value operand;
        Args args;
        TRY(Eval(n->kids[0], &operand));
        TRY(EvalArgs(n, 1, &args));
        bool result = false;
        TRY(ApplyTest(n->pos, n->name, operand, args, &result));
        *out = Value::Bool(result != n->flag);
        return true;
      }
      case N::kNeg:
      case N::kPos: {
        Value v;
        TRY(Eval(n->kids[0], &v));
        if (v.kind == Value::kUndefined) return UndefinedError(n->pos, v);
        if (!IsNumber(v)) return Fail(n->pos, "bad operand type for unary %s: '%s'", n->kind == N::kNeg ? "-" : "+", TypeName(v));
        if (n->kind == N::kPos) *out = v.kind == Value::kBool ? Value::Int(AsInt(v)) : v;
        else if (v.kind == Value::kFloat) *out = Value::Float(-v.number);
        else if (AsInt(v) == INT64_MIN) return Fail(n->pos, "integer overflow");
        else *out = Value::Int(-AsInt(v));
        return true;
      }
      case N::kNot: {
        Value v;
        TRY(Eval(n->kids[0], &v));
        *out = Value::Bool(!Truthy(v));
        return true;
      }
      case N::kAnd:
      case N::kOr: {
        TRY(Eval(n->kids[0], out));
        if (Truthy(*out) == (n->kind == N::kOr)) return true;  // short-circuit returns the operand
        return Eval(n->kids[1], out);
      }
      case N::kCond: {
        Value cond;
        TRY(Eval(n->kids[1], &cond));
        if (Truthy(cond)) return Eval(n->kids[0], out);
        if (n->kids[2]) return Eval(n->kids[2], out);
        *out = Undefined("conditional");
        return true;
      }
      case N::kCompare: {
        Value left;
        TRY(Eval(n->kids[0], &left));
        for (size_t i = 0; i < n->names.size(); ++i) {
          Value right;
          TRY(Eval(n->kids[i + 1], &right));
          bool r = false;
          const std::string& op = n->names[i];
          if (op == "==" || op == "!=") {
            TRY(Equal(n->pos, left, right, &r));
            if (op == "!=") r = !r;
          } else if (op == "<") {
            TRY(Less(n->pos, left, right, &r));
          } else if (op == ">") {
            TRY(Less(n->pos, right, left, &r));
          } else if (op == "<=") {
            TRY(Less(n->pos, right, left, &r));
            r = !r;
          } else if (op == ">=") {
            TRY(Less(n->pos, left, right, &r));
            r = !r;
          } else {
            TRY(Contains(n->pos, right, left, &r));
            if (op == "not in") r = !r;
          }
          if (!r) {
            *out = Value::Bool(false);
            return true;
          }
          left = std::move(right);
        }
        *out = Value::Bool(true);
        return true;
      }
      case N::kBinary: {
        Value a, b;
        TRY(Eval(n->kids[0], &a));
        TRY(Eval(n->kids[1], &b));
        return Arithmetic(n->pos, n->name, a, b, out);
      }
      default: return Fail(n->pos, "not an expression");
    }
  }

  bool Arithmetic(uint32_t pos, const std::string& op, const Value& a, const Value& b, Value* out) {
    if (op == "~") {
      std::string s;
      TRY(ToString(pos, a, &s));
      TRY(ToString(pos, b, &s));
      return MakeString(pos, std::move(s), out);
    }
    if (a.kind == Value::kUndefined) return UndefinedError(pos, a);
    if (b.kind == Value::kUndefined) return UndefinedError(pos, b);
    if (op == "+" && a.kind == Value::kString && b.kind == Value::kString) {
      TRY(CheckLength(pos, a.str->size() + b.str->size()) && Charge(pos, a.str->size() + b.str->size()));
      *out = Value::String(*a.str + *b.str);
      return true;
    }
    if (op == "+" && a.kind == Value::kList && b.kind == Value::kList) {
      TRY(Charge(pos, (a.list->size() + b.list->size()) * sizeof(Value)));
      ValueList items = *a.list;
      items.insert(items.end(), b.list->begin(), b.list->end());
      return MakeList(pos, std::move(items), out);
    }
    if (op == "*" && ((a.kind == Value::kString && IsIntegral(b)) || (IsIntegral(a) && b.kind == Value::kString))) {
      const std::string& s = a.kind == Value::kString ? *a.str : *b.str;
      int64_t times = std::max<int64_t>(0, AsInt(a.kind == Value::kString ? b : a));
      if (!s.empty() && uint64_t(times) > (lim_.max_output_bytes + 1) / s.size())
        return Fail(pos, "string repetition longer than %zu bytes", lim_.max_output_bytes);
      std::string r;
      TRY(Charge(pos, s.size() * uint64_t(times)));
      for (int64_t i = 0; i < times; ++i) r += s;
      *out = Value::String(std::move(r));
      return true;
    }
    if (!IsNumber(a) || !IsNumber(b))
      return Fail(pos, "unsupported operand types for %s: '%s' and '%s'", op.c_str(), TypeName(a), TypeName(b));
    if (IsIntegral(a) && IsIntegral(b) && op != "/") {
      int64_t x = AsInt(a), y = AsInt(b), r = 0;
      bool overflow = false;
      if (op == "+") overflow = __builtin_add_overflow(x, y, &r);
      else if (op == "-") overflow = __builtin_sub_overflow(x, y, &r);
      else if (op == "*") overflow = __builtin_mul_overflow(x, y, &r);
      else if (op == "//" || op == "%") {
        if (y == 0) return Fail(pos, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) overflow = true;
        else {
          int64_t q = x / y, m = x % y;
          if (m != 0 && ((m < 0) != (y < 0))) {  // Python floors
            --q;
            m += y;
          }
          r = op == "//" ? q : m;
        }
      } else if (op == "**") {
        if (y < 0) {
          *out = Value::Float(std::pow(double(x), double(y)));
          return true;
        }
        r = 1;
        for (int64_t i = 0; i < y && !overflow; ++i) {
          overflow = __builtin_mul_overflow(r, x, &r);
          if (r == 0 || r == 1) break;
          if (r == -1) {
            r = (y % 2) ? -1 : 1;
            break;
          }
        }
      }
      if (overflow) return Fail(pos, "integer overflow");
      *out = Value::Int(r);
      return true;
    }
    double x = AsDouble(a), y = AsDouble(b), r = 0;
    if (op == "+") r = x + y;
    else if (op == "-") r = x - y;
    else if (op == "*") r = x * y;
    else if (op == "**") r = std::pow(x, y);
    else {
      if (y == 0) return Fail(pos, "float division by zero");
      if (op == "/") r = x / y;
      else if (op == "//") r = std::floor(x / y);
      else {
        r = std::fmod(x, y);
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
      }
    }
    *out = Value::Float(r);
    return true;
  }

  bool EvalSlice(const Node* n, Value* out) {
    Value obj, parts[3];
    TRY(Eval(n->kids[0], &obj));
    for (int k = 0; k < 3; ++k) {
      if (!n->kids[size_t(k) + 1]) continue;
      TRY(Eval(n->kids[size_t(k) + 1], &parts[k]));
      if (parts[k].kind == Value::kBool) parts[k] = Value::Int(AsInt(parts[k]));
      if (parts[k].kind != Value::kInt && parts[k].kind != Value::kNone)
        return Fail(n->pos, "slice indices must be integers or None");
    }
    if (obj.kind == Value::kUndefined) return UndefinedError(n->pos, obj);
    if (obj.kind != Value::kList && obj.kind != Value::kString) {
      *out = Undefined("slice");
      return true;
    }
    std::vector<size_t> at;
    int64_t len = obj.kind == Value::kList ? int64_t(obj.list->size()) : 0;
    if (obj.kind == Value::kString) {
      at = CodePointStarts(*obj.str);
      len = int64_t(at.size()) - 1;
    }
    std::vector<int64_t> idx;
    if (!SliceIndices(len, parts[0], parts[1], parts[2], &idx)) return Fail(n->pos, "slice step cannot be zero");
    if (obj.kind == Value::kList) {
      ValueList items;
      for (int64_t i : idx) items.push_back((*obj.list)[size_t(i)]);
      return MakeList(n->pos, std::move(items), out);
    }
    std::string s;
    for (int64_t i : idx) s.append(*obj.str, at[size_t(i)], at[size_t(i) + 1] - at[size_t(i)]);
    return MakeString(n->pos, std::move(s), out);
  }

  // Arguments of a call, filter or test: kids[first...] with the last names.size() keyword.
  bool EvalArgs(const Node* n, size_t first, Args* args) {
    size_t n_keyword = n->names.size();
    size_t n_positional = n->kids.size() - first - n_keyword;
    for (size_t i = first; i < n->kids.size(); ++i) {
      Value v;
      TRY(Eval(n->kids[i], &v));
      if (i - first < n_positional) args->positional.push_back(std::move(v));
      else args->keyword.emplace_back(n->names[i - first - n_positional], std::move(v));
    }
    return true;
  }

  bool EvalCall(const Node* n, Value* out) {
    Value callee;
    TRY(Eval(n->kids[0], &callee));
    Args args;
    TRY(EvalArgs(n, 1, &args));
    if (callee.kind == Value::kUndefined) return UndefinedError(n->pos, callee);
    if (callee.kind != Value::kFunction) return Fail(n->pos, "'%s' object is not callable", TypeName(callee));
    if (callee.macro) return CallMacro(n->pos, static_cast<const Node*>(callee.macro), args, out);
    return CallBuiltin(n->pos, Fn(callee.function), callee.self.get(), args, out);
  }

  bool StringArg(uint32_t pos, const Args& args, size_t index, const char* name, const std::string** out,
                 bool optional = false) {
    const Value* v = args.Get(index, name);
    if (!v || (optional && v->kind == Value::kNone)) {
      *out = nullptr;
      if (optional) return true;
      return Fail(pos, "missing argument '%s'", name);
    }
    if (v->kind != Value::kString) return Fail(pos, "argument '%s' must be a string, not %s", name, TypeName(*v));
    *out = v->str.get();
    return true;
  }

  bool CallBuiltin(uint32_t pos, Fn fn, const Value* self, const Args& args, Value* out) {
    const std::string* a = nullptr;
    const std::string* b = nullptr;
    switch (fn) {
      case kFnRange: {
        int64_t start = 0, stop = 0, step = 1;
        for (const Value& v : args.positional)
          if (!IsIntegral(v)) return Fail(pos, "range() takes integers, not %s", TypeName(v));
        size_t np = args.positional.size();
        if (np == 1) stop = AsInt(args.positional[0]);
        else if (np == 2 || np == 3) {
          start = AsInt(args.positional[0]);
          stop = AsInt(args.positional[1]);
          if (np == 3) step = AsInt(args.positional[2]);
        } else {
          return Fail(pos, "range() takes 1 to 3 arguments");
        }
        if (step == 0) return Fail(pos, "range() step must not be zero");
        double count = std::ceil((double(stop) - double(start)) / double(step));
        if (count > double(lim_.max_steps)) return Fail(pos, "range() of %.0f items is over the step limit", count);
        if (count > 0) TRY(Charge(pos, uint64_t(count) * sizeof(Value)));
        ValueList items;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
          items.push_back(Value::Int(i));
          if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
        }
        *out = Value::List(std::move(items));
        return true;
      }
      case kFnNamespace:
      case kFnDict: {
        ValueDict attrs;
        for (const Value& v : args.positional) {
          if (v.kind != Value::kDict) return Fail(pos, "namespace() and dict() take keyword arguments or a dict");
          for (const auto& kv : *v.dict) DictSet(&attrs, kv.first, kv.second);
        }
        for (const auto& kv : args.keyword) DictSet(&attrs, kv.first, kv.second);
        TRY(Charge(pos, attrs.size() * sizeof(Value)));
        *out = Value::Dict(std::move(attrs));
        if (fn == kFnNamespace) out->kind = Value::kNamespace;
        return true;
      }
      case kFnRaiseException: {
        std::string msg;
        if (const Value* v = args.Get(0, "message")) TRY(ToString(pos, *v, &msg));
        if (!err_->failed) {
          err_->failed = true;
          err_->status = Status(StatusCode::kInvalidArgument, Where(err_->source, pos) + "the template rejects this conversation: " + msg);
        }
        return false;
      }
      case kFnStrftimeNow: {
        TRY(StringArg(pos, args, 0, "format", &a));
        if (a->size() > 256) return Fail(pos, "strftime_now() format longer than 256 bytes");
        time_t now = opt_.fixed_time ? opt_.fixed_time : std::time(nullptr);
        struct tm tm_now;
        if (opt_.fixed_time) gmtime_r(&now, &tm_now);
        else localtime_r(&now, &tm_now);
        char buf[1024];
        size_t len = a->empty() ? 0 : std::strftime(buf, sizeof(buf), a->c_str(), &tm_now);
        return MakeString(pos, std::string(buf, len), out);
      }
      default: break;
    }
    if (!self) return Fail(pos, "bad function");
    const Value& s = *self;
    if (s.kind == Value::kDict) {
      switch (fn) {
        case kDictItems:
        case kDictKeys:
        case kDictValues: {
          ValueList items;
          for (const auto& kv : *s.dict) {
            if (fn == kDictItems) items.push_back(Value::List({Value::String(kv.first), kv.second}));
            else items.push_back(fn == kDictKeys ? Value::String(kv.first) : kv.second);
          }
          return MakeList(pos, std::move(items), out);
        }
        case kDictGet: {
          const Value* key = args.Get(0, "key");
          const Value* dflt = args.Get(1, "default");
          const Value* found = key && key->kind == Value::kString ? DictFind(*s.dict, *key->str) : nullptr;
          *out = found ? *found : dflt ? *dflt : Value::None();
          return true;
        }
        default: return Fail(pos, "bad dict method");
      }
    }
    const std::string& str = *s.str;
    switch (fn) {
      case kStrStrip:
      case kStrLstrip:
      case kStrRstrip:
        TRY(StringArg(pos, args, 0, "chars", &a, true));
        return MakeString(pos, PyStrip(str, a, fn != kStrRstrip, fn != kStrLstrip), out);
      case kStrUpper: return MakeString(pos, Upper(str), out);
      case kStrLower: return MakeString(pos, Lower(str), out);
      case kStrTitle: return MakeString(pos, PyTitle(str), out);
      case kStrCapitalize: return MakeString(pos, Capitalize(str), out);
      case kStrStartswith:
      case kStrEndswith: {
        const Value* arg = args.Get(0, "prefix");
        if (!arg) return Fail(pos, "missing argument");
        std::vector<const Value*> options;
        if (arg->kind == Value::kList)
          for (const Value& v : *arg->list) options.push_back(&v);
        else
          options.push_back(arg);
        bool r = false;
        for (const Value* o : options) {
          if (o->kind != Value::kString) return Fail(pos, "startswith/endswith take strings, not %s", TypeName(*o));
          const std::string& x = *o->str;
          if (x.size() <= str.size() &&
              str.compare(fn == kStrStartswith ? 0 : str.size() - x.size(), x.size(), x) == 0)
            r = true;
        }
        *out = Value::Bool(r);
        return true;
      }
      case kStrSplit: {
        TRY(StringArg(pos, args, 0, "sep", &a, true));
        int64_t max_split = -1;
        if (const Value* m = args.Get(1, "maxsplit")) max_split = IsIntegral(*m) ? AsInt(*m) : -1;
        ValueList parts;
        if (a && a->empty()) return Fail(pos, "empty separator");
        if (a) {
          size_t from = 0;
          while (max_split < 0 || int64_t(parts.size()) < max_split) {
            size_t at = str.find(*a, from);
            if (at == std::string::npos) break;
            parts.push_back(Value::String(str.substr(from, at - from)));
            from = at + a->size();
          }
          parts.push_back(Value::String(str.substr(from)));
        } else {  // runs of whitespace; no empty parts
          size_t i = 0;
          auto skip_space = [&] {
            while (i < str.size()) {
              size_t p = i;
              if (!IsPySpace(Utf8Next(str, &p))) break;
              i = p;
            }
          };
          skip_space();
          while (i < str.size()) {
            if (max_split >= 0 && int64_t(parts.size()) >= max_split) {
              parts.push_back(Value::String(PyStrip(str.substr(i), nullptr, false, true)));
              break;
            }
            size_t start = i;
            while (i < str.size()) {
              size_t p = i;
              if (IsPySpace(Utf8Next(str, &p))) break;
              i = p;
            }
            parts.push_back(Value::String(str.substr(start, i - start)));
            skip_space();
          }
        }
        TRY(Charge(pos, str.size()));
        return MakeList(pos, std::move(parts), out);
      }
      case kStrReplace: {
        TRY(StringArg(pos, args, 0, "old", &a));
        TRY(StringArg(pos, args, 1, "new", &b));
        int64_t count = -1;
        if (const Value* c = args.Get(2, "count")) count = IsIntegral(*c) ? AsInt(*c) : -1;
        std::string r;
        TRY(Replace(pos, str, *a, *b, count, &r));
        *out = Value::String(std::move(r));
        return true;
      }
      case kStrFind:
      case kStrCount: {
        TRY(StringArg(pos, args, 0, "sub", &a));
        if (fn == kStrFind) {
          size_t at = str.find(*a);
          *out = Value::Int(at == std::string::npos ? -1 : int64_t(CodePointCount(std::string_view(str).substr(0, at))));
        } else {
          int64_t count = 0;
          if (a->empty()) {
            count = int64_t(CodePointCount(str)) + 1;
          } else {
            for (size_t at = str.find(*a); at != std::string::npos; at = str.find(*a, at + a->size())) ++count;
          }
          *out = Value::Int(count);
        }
        return true;
      }
      case kStrJoin: {
        const Value* items = args.Get(0, "iterable");
        if (!items) return Fail(pos, "join() takes one argument");
        ValueList list;
        TRY(Iterate(pos, *items, &list));
        std::string r;
        for (size_t i = 0; i < list.size(); ++i) {
          if (list[i].kind != Value::kString) return Fail(pos, "join() takes strings, not %s", TypeName(list[i]));
          if (i) r += str;
          r += *list[i].str;
          TRY(Charge(pos, list[i].str->size() + str.size()) && CheckLength(pos, r.size()));
        }
        *out = Value::String(std::move(r));
        return true;
      }
      case kStrIsdigit:
      case kStrIsspace: {
        bool r = !str.empty();
        for (size_t i = 0; i < str.size() && r;) {
          uint32_t cp = Utf8Next(str, &i);
          r = fn == kStrIsdigit ? (cp >= '0' && cp <= '9') : IsPySpace(cp);
        }
        *out = Value::Bool(r);
        return true;
      }
      default: return Fail(pos, "bad string method");
    }
  }

  bool Replace(uint32_t pos, const std::string& s, const std::string& from, const std::string& to, int64_t count,
               std::string* r) {
    if (from.empty()) {  // Python inserts `to` before every character and at the end
      std::vector<size_t> at = CodePointStarts(s);
      for (size_t i = 0; i < at.size(); ++i) {
        if (count < 0 || int64_t(i) < count) r->append(to);
        if (i + 1 < at.size()) r->append(s, at[i], at[i + 1] - at[i]);
        TRY(Charge(pos, to.size() + 4) && CheckLength(pos, r->size()));
      }
      return true;
    }
    size_t start = 0;
    int64_t done = 0;
    for (size_t at = s.find(from); at != std::string::npos && (count < 0 || done < count); at = s.find(from, start)) {
      r->append(s, start, at - start);
      r->append(to);
      TRY(Charge(pos, at - start + to.size()) && CheckLength(pos, r->size()));
      start = at + from.size();
      ++done;
    }
    r->append(s, start, std::string::npos);
    return Charge(pos, s.size() - start);
  }

  bool CallMacro(uint32_t pos, const Node* macro, const Args& args, Value* out) {
    DepthGuard guard(&depth_);
    TRY(CheckDepth(pos));
    const std::vector<std::string>& params = macro->names;
    if (args.positional.size() > params.size()) return Fail(pos, "macro '%s' takes %zu arguments", macro->name.c_str(), params.size());
    Frame frame;
    frame.parent = root_;
    for (size_t i = 0; i < params.size(); ++i) {
      Value v;
      if (i < args.positional.size()) {
        v = args.positional[i];
      } else if (const Value* kw = args.Get(size_t(-1), params[i].c_str())) {
        v = *kw;
      } else if (const Node* dflt = macro->kids[i + 1]) {
        TRY(Eval(dflt, &v));
      } else {
        v = Undefined(params[i]);
      }
      frame.Set(params[i], std::move(v));
    }
    for (const auto& kv : args.keyword)
      if (std::find(params.begin(), params.end(), kv.first) == params.end())
        return Fail(pos, "macro '%s' has no parameter '%s'", macro->name.c_str(), kv.first.c_str());
    std::string text;
    Frame* saved_frame = frame_;
    std::string* saved_sink = sink_;
    frame_ = &frame;
    sink_ = &text;
    bool ok = Exec(macro->kids[0]);
    frame_ = saved_frame;
    sink_ = saved_sink;
    control_ = Control::kNone;
    TRY(ok);
    return MakeString(pos, std::move(text), out);
  }

  // ---- filters and tests
  bool ApplyFilter(uint32_t pos, const std::string& name, const Value& v, const Args& args, Value* out) {
    auto text_of = [&](std::string* s) { return ToString(pos, v, s); };
    if (name == "trim" || name == "upper" || name == "lower" || name == "title" || name == "capitalize" ||
        name == "string") {
      if (name == "string" && v.kind == Value::kString) {
        *out = v;
        return true;
      }
      std::string s;
      TRY(text_of(&s));
      if (name == "trim") {
        const std::string* chars = nullptr;
        TRY(StringArg(pos, args, 0, "chars", &chars, true));
        s = PyStrip(s, chars, true, true);
      } else if (name == "upper") {
        s = Upper(std::move(s));
      } else if (name == "lower") {
        s = Lower(std::move(s));
      } else if (name == "title") {
        s = JinjaTitle(std::move(s));
      } else if (name == "capitalize") {
        s = Capitalize(std::move(s));
      }
      return MakeString(pos, std::move(s), out);
    }
    if (name == "length" || name == "count") {
      switch (v.kind) {
        case Value::kUndefined: *out = Value::Int(0); return true;
        case Value::kString: *out = Value::Int(int64_t(CodePointCount(*v.str))); return true;
        case Value::kList: *out = Value::Int(int64_t(v.list->size())); return true;
        case Value::kDict: *out = Value::Int(int64_t(v.dict->size())); return true;
        default: return Fail(pos, "object of type '%s' has no len()", TypeName(v));
      }
    }
    if (name == "tojson") {
      int indent = -1;
      if (const Value* i = args.Get(size_t(-1), "indent"); i && i->kind != Value::kNone) {
        if (!IsIntegral(*i) || AsInt(*i) < 0 || AsInt(*i) > 64) return Fail(pos, "tojson indent must be 0..64");
        indent = int(AsInt(*i));
      }
      bool sort_keys = false;
      if (const Value* s = args.Get(size_t(-1), "sort_keys")) sort_keys = Truthy(*s);
      std::string s;
      TRY(ToJson(pos, v, indent, sort_keys, 0, &s));
      return MakeString(pos, std::move(s), out);
    }
    if (name == "default" || name == "d") {
      const Value* dflt = args.Get(0, "default_value");
      const Value* boolean = args.Get(1, "boolean");
      bool use_default = v.kind == Value::kUndefined || (boolean && Truthy(*boolean) && !Truthy(v));
      *out = use_default ? (dflt ? *dflt : Value::String("")) : v;
      return true;
    }
    if (name == "safe" || name == "e" || name == "escape") {  // no autoescaping here: text stays as is
      *out = v;
      return true;
    }
    if (name == "first" || name == "last") {
      ValueList items;
      TRY(Iterate(pos, v, &items));
      *out = items.empty() ? Undefined(name) : name == "first" ? items.front() : items.back();
      return true;
    }
    if (name == "join") {
      ValueList items;
      TRY(Iterate(pos, v, &items));
      std::string sep, s;
      if (const Value* d = args.Get(0, "d")) TRY(ToString(pos, *d, &sep));
      const Value* attribute = args.Get(1, "attribute");
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) s += sep;
        Value item = items[i];
        if (attribute) TRY(GetItemOrAttr(pos, items[i], *attribute, &item));
        TRY(ToString(pos, item, &s));
        TRY(Charge(pos, sep.size() + 16) && CheckLength(pos, s.size()));
      }
      return MakeString(pos, std::move(s), out);
    }
    if (name == "replace") {
      std::string s;
      TRY(text_of(&s));
      const std::string *a = nullptr, *b = nullptr;
      TRY(StringArg(pos, args, 0, "old", &a));
      TRY(StringArg(pos, args, 1, "new", &b));
      int64_t count = -1;
      if (const Value* c = args.Get(2, "count"); c && IsIntegral(*c)) count = AsInt(*c);
      std::string r;
      TRY(Replace(pos, s, *a, *b, count, &r));
      *out = Value::String(std::move(r));
      return true;
    }
    if (name == "items") {
      if (v.kind == Value::kUndefined) return MakeList(pos, {}, out);
      if (v.kind != Value::kDict) return Fail(pos, "items filter takes a dict, not %s", TypeName(v));
      return CallBuiltin(pos, kDictItems, &v, Args(), out);
    }
    if (name == "list") {
      ValueList items;
      TRY(Iterate(pos, v, &items));
      *out = Value::List(std::move(items));
      return true;
    }
    if (name == "reverse") {
      if (v.kind == Value::kString) {
        std::vector<size_t> at = CodePointStarts(*v.str);
        std::string s;
        for (size_t i = at.size() - 1; i > 0; --i) s.append(*v.str, at[i - 1], at[i] - at[i - 1]);
        return MakeString(pos, std::move(s), out);
      }
      ValueList items;
      TRY(Iterate(pos, v, &items));
      std::reverse(items.begin(), items.end());
      *out = Value::List(std::move(items));
      return true;
    }
    if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
      bool by_attr = name == "selectattr" || name == "rejectattr";
      bool keep_if = name == "selectattr" || name == "select";
      ValueList items, kept;
      TRY(Iterate(pos, v, &items));
      size_t first = by_attr ? 1 : 0;
      if (by_attr && args.positional.empty()) return Fail(pos, "%s needs an attribute name", name.c_str());
      const Value* test = args.positional.size() > first ? &args.positional[first] : nullptr;
      if (test && test->kind != Value::kString) return Fail(pos, "test name must be a string");
      Args test_args;
      for (size_t i = first + 1; i < args.positional.size(); ++i) test_args.positional.push_back(args.positional[i]);
      for (const Value& item : items) {
        TRY(Step(pos));
        Value subject = item;
        if (by_attr) TRY(GetItemOrAttr(pos, item, args.positional[0], &subject));
        bool r = false;
        if (test) TRY(ApplyTest(pos, *test->str, subject, test_args, &r));
        else r = Truthy(subject);
        if (r == keep_if) kept.push_back(item);
      }
      return MakeList(pos, std::move(kept), out);
    }
    if (name == "map") {
      ValueList items, mapped;
      TRY(Iterate(pos, v, &items));
      const Value* attribute = args.Get(size_t(-1), "attribute");
      const Value* dflt = args.Get(size_t(-1), "default");
      for (const Value& item : items) {
        TRY(Step(pos));
        Value r;
        if (attribute) {
          TRY(GetItemOrAttr(pos, item, *attribute, &r));
          if (r.kind == Value::kUndefined && dflt) r = *dflt;
        } else {
          if (args.positional.empty() || args.positional[0].kind != Value::kString)
            return Fail(pos, "map needs a filter name or attribute=");
          Args rest;
          rest.positional.assign(args.positional.begin() + 1, args.positional.end());
          rest.keyword = args.keyword;
          TRY(ApplyFilter(pos, *args.positional[0].str, item, rest, &r));
        }
        mapped.push_back(std::move(r));
      }
      return MakeList(pos, std::move(mapped), out);
    }
    if (name == "int" || name == "float") {
      Value dflt = name == "int" ? Value::Int(0) : Value::Float(0);
      if (const Value* d = args.Get(0, "default")) dflt = *d;
      if (IsNumber(v)) {
        *out = name == "int" ? Value::Int(v.kind == Value::kFloat ? int64_t(std::trunc(std::max(-9e18, std::min(9e18, v.number))))
                                                                  : AsInt(v))
                             : Value::Float(AsDouble(v));
        return true;
      }
      if (v.kind == Value::kString) {
        std::string s = PyStrip(*v.str, nullptr, true, true);
        char* end = nullptr;
        errno = 0;
        if (name == "int") {
          long long i = std::strtoll(s.c_str(), &end, 10);
          if (!s.empty() && *end == 0 && errno == 0) {
            *out = Value::Int(i);
            return true;
          }
        } else {
          double d = std::strtod(s.c_str(), &end);
          if (!s.empty() && *end == 0) {
            *out = Value::Float(d);
            return true;
          }
        }
      }
      *out = dflt;
      return true;
    }
    if (name == "abs") {
      if (!IsNumber(v)) return Fail(pos, "abs takes a number, not %s", TypeName(v));
      if (v.kind == Value::kFloat) *out = Value::Float(std::fabs(v.number));
      else if (AsInt(v) == INT64_MIN) return Fail(pos, "integer overflow");
      else *out = Value::Int(std::llabs(AsInt(v)));
      return true;
    }
    return Fail(pos, "unsupported filter '%s'", name.c_str());
  }

  // Jinja's attribute getter for filters: item[key], also "a.b" paths and integer indices.
  bool GetItemOrAttr(uint32_t pos, const Value& item, const Value& key, Value* out) {
    if (key.kind != Value::kString) return GetItem(pos, item, key, out);
    Value cur = item;
    const std::string& path = *key.str;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      Value next;
      if (cur.kind == Value::kUndefined) {
        *out = cur;
        return true;
      }
      bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (numeric && part.size() < 18) TRY(GetItem(pos, cur, Value::Int(std::atoll(part.c_str())), &next));
      else TRY(GetItem(pos, cur, Value::String(part), &next));
      cur = std::move(next);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    *out = std::move(cur);
    return true;
  }

  bool ApplyTest(uint32_t pos, const std::string& name, const Value& v, const Args& args, bool* r) {
    const Value* arg = args.Get(0, "other");
    auto need_arg = [&]() {
      if (arg) return true;
      return Fail(pos, "test '%s' needs an argument", name.c_str());
    };
    if (name == "defined") *r = v.kind != Value::kUndefined;
    else if (name == "undefined") *r = v.kind == Value::kUndefined;
    else if (name == "none") *r = v.kind == Value::kNone;
    else if (name == "boolean") *r = v.kind == Value::kBool;
    else if (name == "true") *r = v.kind == Value::kBool && v.boolean;
    else if (name == "false") *r = v.kind == Value::kBool && !v.boolean;
    else if (name == "integer") *r = v.kind == Value::kInt;
    else if (name == "float") *r = v.kind == Value::kFloat;
    else if (name == "number") *r = IsNumber(v);
    else if (name == "string") *r = v.kind == Value::kString;
    else if (name == "mapping") *r = v.kind == Value::kDict;
    else if (name == "iterable") *r = v.kind == Value::kString || v.kind == Value::kList || v.kind == Value::kDict || v.kind == Value::kUndefined;
    else if (name == "sequence") *r = v.kind == Value::kString || v.kind == Value::kList || v.kind == Value::kDict;
    else if (name == "callable") *r = v.kind == Value::kFunction;
    else if (name == "lower" || name == "upper") {
      std::string s;
      TRY(ToString(pos, v, &s));
      *r = name == "lower" ? Lower(s) == s : Upper(s) == s;
    } else if (name == "odd" || name == "even" || name == "divisibleby") {
      if (!IsIntegral(v)) return Fail(pos, "test '%s' takes an integer", name.c_str());
      int64_t x = AsInt(v);
      if (name == "divisibleby") {
        TRY(need_arg());
        if (!IsIntegral(*arg) || AsInt(*arg) == 0) return Fail(pos, "divisibleby takes a nonzero integer");
        *r = AsInt(*arg) == -1 || x % AsInt(*arg) == 0;
      } else {
        *r = (x % 2 != 0) == (name == "odd");
      }
    } else if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") {
      TRY(need_arg());
      TRY(Equal(pos, v, *arg, r));
      if (name == "sameas" && v.kind != arg->kind) *r = false;
    } else if (name == "ne" || name == "!=") {
      TRY(need_arg());
      TRY(Equal(pos, v, *arg, r));
      *r = !*r;
    } else if (name == "lt" || name == "lessthan" || name == "<" || name == "gt" || name == "greaterthan" || name == ">") {
      TRY(need_arg());
      bool lt = name == "lt" || name == "lessthan" || name == "<";
      TRY(lt ? Less(pos, v, *arg, r) : Less(pos, *arg, v, r));
    } else if (name == "le" || name == "<=" || name == "ge" || name == ">=") {
      TRY(need_arg());
      bool le = name == "le" || name == "<=";
      TRY(le ? Less(pos, *arg, v, r) : Less(pos, v, *arg, r));
      *r = !*r;
    } else if (name == "in") {
      TRY(need_arg());
      TRY(Contains(pos, *arg, v, r));
    } else {
      return Fail(pos, "unsupported test '%s'", name.c_str());
    }
    return true;
  }

  // ---- statements
  enum class Control { kNone, kBreak, kContinue };

  bool Exec(const Node* n) {
    DepthGuard guard(&depth_);
    TRY(CheckDepth(n->pos));
    TRY(Step(n->pos));
    switch (n->kind) {
      case N::kBlock:
        for (const Node* k : n->kids) {
          TRY(Exec(k));
          if (control_ != Control::kNone) break;
        }
        return true;
      case N::kText: return Emit(n->pos, n->name);
      case N::kOutput: {
        Value v;
        TRY(Eval(n->kids[0], &v));
        if (v.kind == Value::kString) return Emit(n->pos, *v.str);
        std::string s;
        TRY(ToString(n->pos, v, &s));
        return Emit(n->pos, s);
      }
      case N::kIf: {
        size_t pairs = (n->kids.size() - (n->flag ? 1 : 0)) / 2;
        for (size_t i = 0; i < pairs; ++i) {
          Value cond;
          TRY(Eval(n->kids[2 * i], &cond));
          if (Truthy(cond)) return Exec(n->kids[2 * i + 1]);
        }
        return n->flag ? Exec(n->kids.back()) : true;
      }
      case N::kFor: return ExecFor(n);
      case N::kSet: {
        Value v;
        TRY(Eval(n->kids[0], &v));
        if (n->flag) {  // ns.attr = v
          Value ns = Lookup(n->names[0]);
          if (ns.kind != Value::kNamespace) return Fail(n->pos, "cannot assign attribute on non-namespace object");
          size_t budget = 100000;
          if (Reaches(v, ns.dict.get(), &budget)) return Fail(n->pos, "a namespace cannot hold itself");
          DictSet(ns.dict.get(), n->names[1], std::move(v));
          return true;
        }
        return Assign(n->pos, n->names, v, frame_);
      }
      case N::kSetBlock: {
        std::string text;
        std::string* saved = sink_;
        sink_ = &text;
        bool ok = Exec(n->kids[0]);
        sink_ = saved;
        TRY(ok);
        frame_->Set(n->names[0], Value::String(std::move(text)));
        return true;
      }
      case N::kMacro: {
        Value m = Function(kFnMacro);
        m.macro = n;
        frame_->Set(n->name, std::move(m));
        return true;
      }
      case N::kBreak: control_ = Control::kBreak; return true;
      case N::kContinue: control_ = Control::kContinue; return true;
      default: return Fail(n->pos, "not a statement");
    }
  }

  bool Assign(uint32_t pos, const std::vector<std::string>& names, const Value& v, Frame* frame) {
    if (names.size() == 1) {
      frame->Set(names[0], v);
      return true;
    }
    ValueList items;
    TRY(Iterate(pos, v, &items));
    if (items.size() != names.size())
      return Fail(pos, "cannot unpack %zu values into %zu names", items.size(), names.size());
    for (size_t i = 0; i < names.size(); ++i) frame->Set(names[i], items[i]);
    return true;
  }

  bool ExecFor(const Node* n) {
    const Node* iter = n->kids[0];
    const Node* body = n->kids[1];
    const Node* filter = n->kids[2];
    const Node* else_body = n->kids[3];
    Value seq;
    TRY(Eval(iter, &seq));
    ValueList all, items;
    TRY(Iterate(iter->pos, seq, &all));
    if (filter) {  // `for x in xs if cond`: loop.index and loop.length count only the kept items
      for (const Value& item : all) {
        Frame scope;
        scope.parent = frame_;
        TRY(Assign(n->pos, n->names, item, &scope));
        Frame* saved = frame_;
        frame_ = &scope;
        Value keep;
        bool ok = Eval(filter, &keep);
        frame_ = saved;
        TRY(ok);
        if (Truthy(keep)) items.push_back(item);
      }
    } else {
      items = std::move(all);
    }
    const int64_t length = int64_t(items.size());
    for (int64_t i = 0; i < length; ++i) {
      TRY(Step(n->pos));
      Frame scope;  // a fresh scope each iteration, as Jinja's: sets inside do not leak out
      scope.parent = frame_;
      TRY(Assign(n->pos, n->names, items[size_t(i)], &scope));
      ValueDict loop = {{"index0", Value::Int(i)},
                        {"index", Value::Int(i + 1)},
                        {"revindex0", Value::Int(length - i - 1)},
                        {"revindex", Value::Int(length - i)},
                        {"first", Value::Bool(i == 0)},
                        {"last", Value::Bool(i == length - 1)},
                        {"length", Value::Int(length)},
                        {"depth", Value::Int(1)},
                        {"depth0", Value::Int(0)}};
      if (i > 0) loop.emplace_back("previtem", items[size_t(i - 1)]);
      if (i + 1 < length) loop.emplace_back("nextitem", items[size_t(i + 1)]);
      scope.Set("loop", Value::Dict(std::move(loop)));
      Frame* saved = frame_;
      frame_ = &scope;
      bool ok = Exec(body);
      frame_ = saved;
      TRY(ok);
      Control c = control_;
      control_ = Control::kNone;
      if (c == Control::kBreak) break;
    }
    if (length == 0 && else_body) return Exec(else_body);
    return true;
  }

  const Options& opt_;
  const Limits& lim_;
  ErrorState* err_;
  Frame* root_ = nullptr;
  Frame* frame_ = nullptr;
  std::string* sink_ = nullptr;
  uint64_t steps_ = 0, work_ = 0;
  int depth_ = 0;
  Control control_ = Control::kNone;
};

struct Program {
  std::deque<Node> nodes;
  Node* root = nullptr;
};

Status Parse(std::string_view source, const Limits& limits, ErrorState* err, Program* program) {
  if (source.size() > limits.max_template_bytes)
    return StatusError(StatusCode::kFormat, "chat template of %zu bytes is over the limit of %zu", source.size(),
                       limits.max_template_bytes);
  std::vector<Token> tokens;
  Lexer lexer(source, err);
  if (!lexer.Run(&tokens)) return err->status;
  Parser parser(tokens, &program->nodes, err, limits.max_depth);
  program->root = parser.ParseTemplate();
  if (!program->root) return err->status;
  return Status::Ok();
}

}  // namespace

Status Check(std::string_view source, const Limits& limits) {
  ErrorState err;
  err.source = source;
  Program program;
  return Parse(source, limits, &err, &program);
}

Status Render(std::string_view source, const Value& context, const Options& options, std::string* out) {
  ErrorState err;
  err.source = source;
  Program program;
  QLITE_RETURN_IF_ERROR(Parse(source, options.limits, &err, &program));
  std::string text;
  Renderer renderer(options, &err);
  if (!renderer.Run(program.root, context, &text)) return err.status;
  *out = std::move(text);
  return Status::Ok();
}

Value MakeContext(const std::vector<Message>& messages, bool add_generation_prompt, const std::string& bos_token,
                  const std::string& eos_token) {
  ValueList list;
  for (const Message& m : messages)
    list.push_back(Value::Dict({{"role", Value::String(m.role)}, {"content", Value::String(m.content)}}));
  ValueDict ctx = {{"messages", Value::List(std::move(list))},
                   {"tools", Value::None()},
                   {"documents", Value::None()},
                   {"add_generation_prompt", Value::Bool(add_generation_prompt)}};
  if (!bos_token.empty()) ctx.emplace_back("bos_token", Value::String(bos_token));
  if (!eos_token.empty()) ctx.emplace_back("eos_token", Value::String(eos_token));
  return Value::Dict(std::move(ctx));
}

// OpenHermes-2.5's ChatML template.
const char kChatMLTemplate[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// Gemma 3's template (gemma3.jinja in tests/data/chat_templates): a system message opens the first
// user turn.
const char kGemmaTemplate[] =
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\n"
    "\n"
    "' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n"
    "\n"
    "' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    "    {%- set first_user_prefix = \"\" -%}\n"
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    "        {{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}\n"
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    "        {%- set role = \"model\" -%}\n"
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n"
    "' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    "        {{ raise_exception(\"Invalid content type\") }}\n"
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\n"
    "' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\n"
    "'}}\n"
    "{%- endif -%}\n";

// A plain transcript for base models: "User: ...", "Assistant: ...".
const char kPlainTemplate[] =
    "{%- for message in messages -%}\n"
    "    {%- if message['role'] == 'system' -%}\n"
    "        {{ message['content'] + '\\n' }}\n"
    "    {%- elif message['role'] == 'user' -%}\n"
    "        {{ 'User: ' + message['content'] + '\\n' }}\n"
    "    {%- else -%}\n"
    "        {{ 'Assistant: ' + message['content'] + '\\n' }}\n"
    "    {%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{ 'Assistant:' }}\n"
    "{%- endif -%}\n";

}  // namespace chat
}  // namespace qlite
