// Byte-level BPE pre-tokenizers: the split regexes of GPT-2, Llama 3, Qwen2 and SmolLM,
// written out by hand as matchers over code points (no regex engine; Unicode classes come
// from utf8.h's tables). Each matcher mirrors one alternative of the regex, tried in
// order at the current position, as a leftmost-first regex engine would.
#include "tokenizer_pretok.h"

#include <cstdint>

#include "utf8.h"

namespace qlite {
namespace {

struct Text {
  std::vector<uint32_t> cp;    // code points
  std::vector<size_t> off;     // byte offset of each code point, plus the end
  size_t n() const { return cp.size(); }
  bool L(size_t i) const { return i < n() && IsUnicodeLetter(cp[i]); }
  bool N(size_t i) const { return i < n() && IsUnicodeNumber(cp[i]); }
  bool S(size_t i) const { return i < n() && IsUnicodeSpace(cp[i]); }
  bool Other(size_t i) const { return i < n() && !IsUnicodeSpace(cp[i]) && !L(i) && !N(i); }
  bool NewLine(size_t i) const { return i < n() && (cp[i] == '\r' || cp[i] == '\n'); }
  uint32_t Lower(size_t i) const {
    if (i >= n()) return 0;
    const uint32_t c = cp[i];
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  }
};

// 's|'t|'re|'ve|'m|'ll|'d  (case-insensitive when `icase`): match length or 0.
size_t Contraction(const Text& t, size_t i, bool icase) {
  if (t.cp[i] != '\'') return 0;
  auto at = [&](size_t k) { return icase ? t.Lower(i + k) : (i + k < t.n() ? t.cp[i + k] : 0); };
  const uint32_t a = at(1), b = at(2);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// Length of the run of `pred` at i, looking at no more than `limit` code points (a capped
// quantifier must not scan the whole run, or a long run costs quadratic time).
template <typename Pred>
size_t Run(const Text& t, size_t i, Pred pred, size_t limit = SIZE_MAX) {
  size_t j = i;
  while (j < t.n() && j - i < limit && pred(j)) ++j;
  return j - i;
}

// \s+(?!\S) then \s+ : a whitespace run leaves its last char to the next word when a
// non-space follows (so " word" keeps its space), unless the run is that one char.
size_t Spaces(const Text& t, size_t i) {
  const size_t run = Run(t, i, [&](size_t k) { return t.S(k); });
  if (run == 0) return 0;
  if (i + run == t.n() || run == 1) return run;
  return run - 1;
}

// GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t MatchGpt2(const Text& t, size_t i) {
  if (size_t m = Contraction(t, i, false)) return m;
  const size_t sp = t.cp[i] == ' ' ? 1 : 0;
  if (t.L(i + sp)) return sp + Run(t, i + sp, [&](size_t k) { return t.L(k); });
  if (t.N(i + sp)) return sp + Run(t, i + sp, [&](size_t k) { return t.N(k); });
  if (t.Other(i + sp)) return sp + Run(t, i + sp, [&](size_t k) { return t.Other(k); });
  if (size_t m = Spaces(t, i)) return m;
  return 1;
}

// Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
size_t MatchLlama3(const Text& t, size_t i, size_t max_digits) {
  if (size_t m = Contraction(t, i, true)) return m;
  const bool lead = !t.NewLine(i) && !t.L(i) && !t.N(i);
  if (t.L(i)) return Run(t, i, [&](size_t k) { return t.L(k); });
  if (lead && t.L(i + 1)) return 1 + Run(t, i + 1, [&](size_t k) { return t.L(k); });
  if (t.N(i)) return Run(t, i, [&](size_t k) { return t.N(k); }, max_digits);
  const size_t sp = t.cp[i] == ' ' ? 1 : 0;
  if (t.Other(i + sp)) {
    size_t m = sp + Run(t, i + sp, [&](size_t k) { return t.Other(k); });
    return m + Run(t, i + m, [&](size_t k) { return t.NewLine(k); });
  }
  // \s*[\r\n]+ : up to and including the last newline of the whitespace run.
  const size_t run = Run(t, i, [&](size_t k) { return t.S(k); });
  for (size_t k = run; k > 0; --k) {
    if (t.NewLine(i + k - 1)) return k;
  }
  if (size_t m = Spaces(t, i)) return m;
  return 1;
}

size_t Match(PreTokenizer kind, const Text& t, size_t i) {
  switch (kind) {
    case PreTokenizer::kLlama3: return MatchLlama3(t, i, 3);
    case PreTokenizer::kQwen2: return MatchLlama3(t, i, 1);
    default: return MatchGpt2(t, i);
  }
}

// Splits t[begin, end) with `kind`'s regex (code points outside the range are invisible).
void SplitRange(PreTokenizer kind, const Text& full, size_t begin, size_t end, std::string_view text,
                std::vector<std::string_view>* words) {
  Text t;
  t.cp.assign(full.cp.begin() + begin, full.cp.begin() + end);
  for (size_t i = begin; i < end; ++i) t.off.push_back(full.off[i]);
  t.off.push_back(full.off[end]);
  for (size_t i = 0; i < t.n();) {
    size_t m = Match(kind, t, i);
    if (m == 0) m = 1;
    words->push_back(text.substr(t.off[i], t.off[i + m] - t.off[i]));
    i += m;
  }
}

}  // namespace

Status ParsePreTokenizer(std::string_view name, PreTokenizer* out) {
  if (LookupPreTokenizer(name, out)) return Status::Ok();
  return StatusError(StatusCode::kUnsupported, "byte-level BPE pre-tokenizer '%.*s' is not supported (%s)",
                     static_cast<int>(name.size()), name.data(), kPreTokenizerNames);
}

void PreTokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>* words) {
  Text t;
  t.cp.reserve(text.size());
  t.off.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    t.off.push_back(pos);
    t.cp.push_back(Utf8Next(text, &pos));
  }
  t.off.push_back(text.size());
  if (kind != PreTokenizer::kSmolLM) {
    SplitRange(kind, t, 0, t.n(), text, words);
    return;
  }
  // SmolLM: every digit is its own piece first (HF Digits(individual_digits)), then GPT-2.
  size_t start = 0;
  for (size_t i = 0; i <= t.n(); ++i) {
    if (i < t.n() && !IsUnicodeNumber(t.cp[i])) continue;
    if (i > start) SplitRange(PreTokenizer::kGpt2, t, start, i, text, words);
    if (i < t.n()) words->push_back(text.substr(t.off[i], t.off[i + 1] - t.off[i]));
    start = i + 1;
  }
}

}  // namespace qlite

namespace qlite {
namespace {
bool PrintableByte(uint32_t b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

struct ByteMap {
  uint32_t to_cp[256];
  int16_t from_cp[256 + 68];
  ByteMap() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) to_cp[b] = PrintableByte(b) ? b : next++;
    for (int16_t& v : from_cp) v = -1;
    for (uint32_t b = 0; b < 256; ++b) from_cp[to_cp[b]] = static_cast<int16_t>(b);
  }
};
const ByteMap& Map() {
  static const ByteMap map;
  return map;
}
}  // namespace

uint32_t ByteToUnicode(uint8_t b) { return Map().to_cp[b]; }

int UnicodeToByte(uint32_t cp) { return cp < 256 + 68 ? Map().from_cp[cp] : -1; }

}  // namespace qlite
