// The grammar compiler: GBNF-like text to the compiled rule/alternative/element form (grammar.h).
#include "grammar.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <utility>

namespace qlite {
namespace grammar {
namespace {

constexpr uint32_t kUnbounded = UINT32_MAX;
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

using Seq = std::vector<uint32_t>;
using Alts = std::vector<Seq>;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

class Compiler {
 public:
  Compiler(std::string_view src, const Limits& limits, Compiled* out) : src_(src), limits_(limits), out_(out) {}

  Status Run() {
    if (src_.size() > limits_.max_text_bytes)
      return StatusError(StatusCode::kFormat, "grammar: %zu bytes is over the limit of %zu", src_.size(),
                         limits_.max_text_bytes);
    for (;;) {
      SkipSpace();
      if (AtEnd()) break;
      const size_t at = i_;
      std::string name;
      QLITE_RETURN_IF_ERROR(ParseName(&name));
      SkipSpace();
      if (src_.compare(i_, 3, "::=") != 0) return Error(i_, "expected '::=' after the rule name '%s'", name.c_str());
      i_ += 3;
      uint32_t r = 0;
      QLITE_RETURN_IF_ERROR(RuleId(name, at, &r));
      if (defined_[r]) return Error(at, "rule '%s' is defined twice", name.c_str());
      defined_[r] = true;
      Alts alts;
      QLITE_RETURN_IF_ERROR(ParseAlternates(0, name, &alts));
      bodies_[r] = std::move(alts);
      if (!AtEnd() && src_[i_] == ')') return Error(i_, "unmatched ')'");
    }
    for (size_t r = 0; r < names_.size(); ++r)
      if (!defined_[r]) return Error(used_at_[r], "rule '%s' is used but not defined", names_[r].c_str());
    const auto root = ids_.find("root");
    if (root == ids_.end()) return StatusError(StatusCode::kFormat, "grammar: no 'root' rule");
    QLITE_RETURN_IF_ERROR(CheckLeftRecursion());
    Flatten(root->second);
    return Status::Ok();
  }

 private:
  bool AtEnd() const { return i_ >= src_.size(); }

  __attribute__((format(printf, 3, 4))) Status Error(size_t at, const char* fmt, ...) const {
    size_t line = 1, col = 1;
    for (size_t k = 0; k < at && k < src_.size(); ++k) {
      if (src_[k] == '\n') {
        ++line;
        col = 1;
      } else if ((uint8_t(src_[k]) & 0xC0) != 0x80) {
        ++col;
      }
    }
    char msg[256];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);
    return StatusError(StatusCode::kFormat, "grammar:%zu:%zu: %s", line, col, msg);
  }

  void SkipSpace() {
    while (!AtEnd()) {
      const char c = src_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i_;
      } else if (c == '#') {
        while (!AtEnd() && src_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  Status ParseName(std::string* name) {
    const size_t start = i_;
    while (!AtEnd() && IsNameChar(src_[i_])) ++i_;
    if (i_ == start) return Error(start, "expected a rule name");
    if (i_ - start > 256) return Error(start, "rule name longer than 256 characters");
    name->assign(src_.data() + start, i_ - start);
    return Status::Ok();
  }

  // Whether a rule definition (`name ::=`) starts at i_.
  bool AtRuleStart() const {
    size_t k = i_;
    while (k < src_.size() && IsNameChar(src_[k])) ++k;
    if (k == i_) return false;
    while (k < src_.size() && (src_[k] == ' ' || src_[k] == '\t' || src_[k] == '\r' || src_[k] == '\n')) ++k;
    return src_.compare(k, 3, "::=") == 0;
  }

  Status RuleId(const std::string& name, size_t at, uint32_t* out) {
    const auto it = ids_.find(name);
    if (it != ids_.end()) {
      *out = it->second;
      return Status::Ok();
    }
    return NewRule(name, at, out);
  }

  Status NewRule(const std::string& name, size_t at, uint32_t* out) {
    if (names_.size() >= limits_.max_rules) return Error(at, "more than %zu rules", limits_.max_rules);
    *out = uint32_t(names_.size());
    ids_.emplace(name, *out);
    names_.push_back(name);
    defined_.push_back(false);
    used_at_.push_back(at);
    bodies_.emplace_back();
    return Status::Ok();
  }

  // A rule made by the compiler (groups, repetitions) from its alternatives. Named with a '#',
  // which no rule in the source can contain: a source rule named like "root-6" (the JSON
  // schema converter writes such names) must not meet a synthetic rule of the same name.
  Status Synthetic(const std::string& parent, size_t at, Alts alts, uint32_t* out) {
    QLITE_RETURN_IF_ERROR(NewRule(parent + "#" + std::to_string(names_.size()), at, out));
    defined_[*out] = true;
    bodies_[*out] = std::move(alts);
    return Status::Ok();
  }

  Status Count(size_t at, size_t n) {
    n_elems_ += n;
    if (n_elems_ > limits_.max_elements) return Error(at, "grammar larger than %zu elements", limits_.max_elements);
    return Status::Ok();
  }

  Status ParseAlternates(size_t depth, const std::string& rule, Alts* alts) {
    for (;;) {
      Seq seq;
      QLITE_RETURN_IF_ERROR(ParseSequence(depth, rule, &seq));
      QLITE_RETURN_IF_ERROR(Count(i_, 1));  // its kEnd
      alts->push_back(std::move(seq));
      if (AtEnd() || src_[i_] != '|') return Status::Ok();
      ++i_;
    }
  }

  Status ParseSequence(size_t depth, const std::string& rule, Seq* seq) {
    size_t last = SIZE_MAX;  // where the last item starts in seq (what a repetition applies to)
    for (;;) {
      SkipSpace();
      if (AtEnd()) return Status::Ok();
      const char c = src_[i_];
      const size_t at = i_;
      if (c == '|' || c == ')') return Status::Ok();
      if (c == '*' || c == '+' || c == '?' || c == '{') {
        if (last == SIZE_MAX) return Error(at, "'%c' has nothing to repeat", c);
        uint32_t m = 0, n = kUnbounded;
        ++i_;
        if (c == '+') m = 1;
        if (c == '?') n = 1;
        if (c == '{') QLITE_RETURN_IF_ERROR(ParseBounds(at, &m, &n));
        QLITE_RETURN_IF_ERROR(Repeat(at, rule, m, n, last, seq));
        continue;
      }
      if (AtRuleStart()) return Status::Ok();
      last = seq->size();
      if (c == '"') {
        QLITE_RETURN_IF_ERROR(ParseLiteral(seq));
      } else if (c == '[') {
        uint32_t cls = 0;
        QLITE_RETURN_IF_ERROR(ParseClass(&cls));
        seq->push_back(MakeElem(kChar, cls));
        QLITE_RETURN_IF_ERROR(Count(at, 1));
      } else if (c == '.') {
        ++i_;
        seq->push_back(MakeElem(kChar, ClassOf({}, true)));
        QLITE_RETURN_IF_ERROR(Count(at, 1));
      } else if (c == '(') {
        if (depth + 1 > limits_.max_nesting) return Error(at, "groups nested deeper than %zu", limits_.max_nesting);
        ++i_;
        Alts alts;
        QLITE_RETURN_IF_ERROR(ParseAlternates(depth + 1, rule, &alts));
        if (AtEnd() || src_[i_] != ')') return Error(at, "unclosed '('");
        ++i_;
        uint32_t r = 0;
        QLITE_RETURN_IF_ERROR(Synthetic(rule, at, std::move(alts), &r));
        seq->push_back(MakeElem(kRef, r));
        QLITE_RETURN_IF_ERROR(Count(at, 1));
      } else if (IsNameChar(c)) {
        std::string name;
        QLITE_RETURN_IF_ERROR(ParseName(&name));
        uint32_t r = 0;
        QLITE_RETURN_IF_ERROR(RuleId(name, at, &r));
        seq->push_back(MakeElem(kRef, r));
        QLITE_RETURN_IF_ERROR(Count(at, 1));
      } else {
        return Error(at, "unexpected character '%c'", c);
      }
    }
  }

  Status ParseNumber(uint32_t* out) {
    const size_t start = i_;
    uint64_t v = 0;
    while (!AtEnd() && src_[i_] >= '0' && src_[i_] <= '9') {
      v = v * 10 + uint64_t(src_[i_] - '0');
      if (v > limits_.max_repeat) return Error(start, "repetition count over the limit of %u", limits_.max_repeat);
      ++i_;
    }
    if (i_ == start) return Error(start, "expected a number");
    *out = uint32_t(v);
    return Status::Ok();
  }

  // {m}, {m,}, {m,n}; i_ is past the '{'.
  Status ParseBounds(size_t at, uint32_t* m, uint32_t* n) {
    SkipSpace();
    QLITE_RETURN_IF_ERROR(ParseNumber(m));
    SkipSpace();
    *n = *m;
    if (!AtEnd() && src_[i_] == ',') {
      ++i_;
      SkipSpace();
      *n = kUnbounded;
      if (!AtEnd() && src_[i_] != '}') QLITE_RETURN_IF_ERROR(ParseNumber(n));
      SkipSpace();
    }
    if (AtEnd() || src_[i_] != '}') return Error(at, "expected '}' to close the repetition");
    ++i_;
    if (*n < *m) return Error(at, "repetition {%u,%u} has its maximum below its minimum", *m, *n);
    return Status::Ok();
  }

  // seq[last, end) repeated m..n times (n kUnbounded: no maximum).
  Status Repeat(size_t at, const std::string& rule, uint32_t m, uint32_t n, size_t last, Seq* seq) {
    Seq item(seq->begin() + long(last), seq->end());
    seq->resize(last);
    n_elems_ -= item.size();
    if (item.size() != 1) {  // a literal of several characters, or an earlier repetition
      uint32_t r = 0;
      QLITE_RETURN_IF_ERROR(Count(at, item.size() + 1));
      QLITE_RETURN_IF_ERROR(Synthetic(rule, at, Alts{item}, &r));
      item = {MakeElem(kRef, r)};
    }
    const uint32_t x = item[0];
    QLITE_RETURN_IF_ERROR(Count(at, m));
    seq->insert(seq->end(), m, x);
    if (n == m) return Status::Ok();
    uint32_t r = 0;
    if (n == kUnbounded) {  // r ::= x r | (right recursion: the matcher keeps no frame for it)
      QLITE_RETURN_IF_ERROR(Count(at, 5));
      QLITE_RETURN_IF_ERROR(Synthetic(rule, at, Alts{}, &r));
      bodies_[r] = Alts{{x, MakeElem(kRef, r)}, {}};
    } else {  // (x (x (x)?)?)?: nested, so that each count has one parse
      QLITE_RETURN_IF_ERROR(Count(at, size_t(n - m) * 5));
      uint32_t inner = UINT32_MAX;
      for (uint32_t k = 0; k < n - m; ++k) {
        Alts alts{inner == UINT32_MAX ? Seq{x} : Seq{x, MakeElem(kRef, inner)}, {}};
        QLITE_RETURN_IF_ERROR(Synthetic(rule, at, std::move(alts), &inner));
      }
      r = inner;
    }
    QLITE_RETURN_IF_ERROR(Count(at, 1));
    seq->push_back(MakeElem(kRef, r));
    return Status::Ok();
  }

  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // One character of a literal or class: an escape or a UTF-8 sequence.
  Status ParseChar(uint32_t* cp) {
    const size_t at = i_;
    if (AtEnd()) return Error(at, "unexpected end of the grammar");
    const uint8_t c = uint8_t(src_[i_]);
    if (c == '\\') {
      if (++i_ >= src_.size()) return Error(at, "unfinished escape");
      const char e = src_[i_++];
      int digits = 0;
      switch (e) {
        case 'n': *cp = '\n'; return Status::Ok();
        case 'r': *cp = '\r'; return Status::Ok();
        case 't': *cp = '\t'; return Status::Ok();
        case '0': *cp = 0; return Status::Ok();
        case '\\': case '"': case '\'': case '[': case ']': case '-': case '^': case '/':
          *cp = uint8_t(e);
          return Status::Ok();
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default: return Error(at, "unknown escape '\\%c'", e);
      }
      uint32_t v = 0;
      for (int k = 0; k < digits; ++k) {
        const int h = AtEnd() ? -1 : Hex(src_[i_]);
        if (h < 0) return Error(at, "escape needs %d hex digits", digits);
        v = v * 16 + uint32_t(h);
        ++i_;
      }
      if (v > kMaxCodePoint) return Error(at, "code point U+%X is beyond U+10FFFF", v);
      *cp = v;
      return Status::Ok();
    }
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) return Error(at, "invalid UTF-8");
    uint32_t v = n == 0 ? c : n == 1 ? (c & 0x1Fu) : n == 2 ? (c & 0x0Fu) : (c & 0x07u);
    ++i_;
    for (int k = 0; k < n; ++k) {
      if (AtEnd() || (uint8_t(src_[i_]) & 0xC0) != 0x80) return Error(at, "invalid UTF-8");
      v = (v << 6) | (uint8_t(src_[i_++]) & 0x3Fu);
    }
    *cp = v;
    return Status::Ok();
  }

  Status ParseLiteral(Seq* seq) {
    const size_t at = i_++;
    for (;;) {
      if (AtEnd()) return Error(at, "unclosed string literal");
      if (src_[i_] == '"') {
        ++i_;
        return Status::Ok();
      }
      uint32_t cp = 0;
      QLITE_RETURN_IF_ERROR(ParseChar(&cp));
      seq->push_back(MakeElem(kChar, ClassOf({cp, cp}, false)));
      QLITE_RETURN_IF_ERROR(Count(at, 1));
    }
  }

  Status ParseClass(uint32_t* cls) {
    const size_t at = i_++;
    bool negated = false;
    if (!AtEnd() && src_[i_] == '^') {
      negated = true;
      ++i_;
    }
    std::vector<uint32_t> ranges;
    for (;;) {
      if (AtEnd()) return Error(at, "unclosed character class");
      if (src_[i_] == ']') {
        ++i_;
        break;
      }
      if (ranges.size() >= 2 * 4096) return Error(at, "character class with more than 4096 ranges");
      uint32_t lo = 0, hi = 0;
      QLITE_RETURN_IF_ERROR(ParseChar(&lo));
      hi = lo;
      if (i_ + 1 < src_.size() && src_[i_] == '-' && src_[i_ + 1] != ']') {
        ++i_;
        QLITE_RETURN_IF_ERROR(ParseChar(&hi));
        if (hi < lo) return Error(at, "range with its end (U+%X) below its start (U+%X)", hi, lo);
      }
      ranges.push_back(lo);
      ranges.push_back(hi);
    }
    *cls = ClassOf(std::move(ranges), negated);
    return Status::Ok();
  }

  // The class for `ranges` (lo, hi pairs), shared by every use of the same set.
  uint32_t ClassOf(std::vector<uint32_t> ranges, bool negated) {
    std::vector<std::pair<uint32_t, uint32_t>> r;
    for (size_t k = 0; k + 1 < ranges.size(); k += 2) r.emplace_back(ranges[k], ranges[k + 1]);
    std::sort(r.begin(), r.end());
    std::vector<uint32_t> merged;
    for (const auto& p : r) {
      if (!merged.empty() && p.first <= merged.back() + 1) {
        merged.back() = std::max(merged.back(), p.second);
      } else {
        merged.push_back(p.first);
        merged.push_back(p.second);
      }
    }
    std::vector<uint32_t> key = merged;
    key.push_back(negated);
    const auto it = class_ids_.find(key);
    if (it != class_ids_.end()) return it->second;
    CharClass c = {};
    for (size_t k = 0; k + 1 < merged.size(); k += 2) {
      for (uint32_t cp = merged[k]; cp <= merged[k + 1] && cp < 128; ++cp) c.ascii[cp / 32] |= 1u << (cp % 32);
    }
    if (negated)
      for (uint32_t& w : c.ascii) w = ~w;
    c.negated = negated;
    c.range_begin = uint32_t(out_->ranges.size() / 2);
    for (size_t k = 0; k + 1 < merged.size(); k += 2) {
      if (merged[k + 1] < 128) continue;
      out_->ranges.push_back(std::max<uint32_t>(merged[k], 128));
      out_->ranges.push_back(merged[k + 1]);
    }
    c.range_end = uint32_t(out_->ranges.size() / 2);
    const uint32_t id = uint32_t(out_->classes.size());
    out_->classes.push_back(c);
    class_ids_.emplace(std::move(key), id);
    return id;
  }

  // A rule that can call itself before consuming a character would expand forever.
  Status CheckLeftRecursion() {
    const size_t n = names_.size();
    std::vector<char> nullable(n, 0);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < n; ++r) {
        if (nullable[r]) continue;
        for (const Seq& alt : bodies_[r]) {
          bool all = true;
          for (uint32_t e : alt)
            if (ElemOp(e) == kChar || !nullable[ElemArg(e)]) {
              all = false;
              break;
            }
          if (all) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<uint32_t>> calls(n);  // rules called before any character
    for (size_t r = 0; r < n; ++r)
      for (const Seq& alt : bodies_[r])
        for (uint32_t e : alt) {
          if (ElemOp(e) == kChar) break;
          calls[r].push_back(ElemArg(e));
          if (!nullable[ElemArg(e)]) break;
        }
    std::vector<char> color(n, 0);  // 0 new, 1 on the path, 2 done
    std::vector<std::pair<uint32_t, size_t>> path;
    for (size_t s = 0; s < n; ++s) {
      if (color[s]) continue;
      path.emplace_back(uint32_t(s), 0);
      color[s] = 1;
      while (!path.empty()) {
        auto& [r, k] = path.back();
        if (k == calls[r].size()) {
          color[r] = 2;
          path.pop_back();
          continue;
        }
        const uint32_t next = calls[r][k++];
        if (color[next] == 1)
          return StatusError(StatusCode::kFormat, "grammar: rule '%s' is left-recursive (it can reach itself before any character)",
                             names_[next].c_str());
        if (color[next] == 0) {
          color[next] = 1;
          path.emplace_back(next, 0);
        }
      }
    }
    return Status::Ok();
  }

  void Flatten(uint32_t root) {
    out_->root = root;
    out_->rule_alts.push_back(0);
    for (const Alts& alts : bodies_) {
      for (const Seq& seq : alts) {
        out_->alts.push_back(uint32_t(out_->elems.size()));
        out_->elems.insert(out_->elems.end(), seq.begin(), seq.end());
        out_->elems.push_back(MakeElem(kEnd, 0));
      }
      out_->rule_alts.push_back(uint32_t(out_->alts.size()));
    }
  }

  std::string_view src_;
  Limits limits_;
  Compiled* out_;
  size_t i_ = 0, n_elems_ = 0;
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<std::string> names_;
  std::vector<char> defined_;
  std::vector<size_t> used_at_;
  std::vector<Alts> bodies_;
  std::map<std::vector<uint32_t>, uint32_t> class_ids_;
};

}  // namespace

Status Compile(std::string_view text, Compiled* out, const Limits& limits) {
  *out = Compiled();
  Compiler c(text, limits, out);
  const Status s = c.Run();
  if (!s.ok()) *out = Compiled();
  return s;
}

bool MatchText(const Compiled& g, std::string_view text, bool require_end) {
  std::vector<uint8_t> mem(Matcher::GrammarBytes(g) + (size_t(1) << 20));
  Matcher m;
  if (!m.Bind(g, mem.data(), mem.size()).ok()) return false;
  if (!m.Accept(text)) return false;
  return !require_end || m.CanEnd();
}

}  // namespace grammar
}  // namespace qlite
