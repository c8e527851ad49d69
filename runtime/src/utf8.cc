#include "utf8.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <utility>
#include <vector>

namespace qlite {

uint32_t Utf8Next(std::string_view s, size_t* pos) {
  const size_t i = *pos;
  const uint8_t b0 = static_cast<uint8_t>(s[i]);
  const size_t len = Utf8SeqLen(b0);
  if (len == 1) {
    *pos = i + 1;
    return b0 < 0x80 ? b0 : 0xFFFD;
  }
  if (i + len > s.size()) {
    *pos = i + 1;
    return 0xFFFD;
  }
  uint32_t cp = b0 & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    const uint8_t b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      *pos = i + 1;
      return 0xFFFD;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  *pos = i + len;
  return cp;
}

size_t Utf8Encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

void Utf8Append(uint32_t cp, std::string* out) {
  char b[4];
  out->append(b, Utf8Encode(cp, b));
}

namespace {

struct Range {
  uint32_t lo, hi;
};

bool InRanges(const Range* r, size_t n, uint32_t cp) {
  // Ranges are sorted and disjoint: binary search for the last range with lo <= cp.
  size_t a = 0, b = n;
  while (a < b) {
    const size_t m = (a + b) / 2;
    if (r[m].lo <= cp) a = m + 1; else b = m;
  }
  return a > 0 && cp <= r[a - 1].hi;
}

// \p{L} and \p{N} ranges (exact for the Unicode version the generator ran with).
#include "utf8_tables.inc"

// \s: the White_Space property.
constexpr Range kSpaces[] = {
    {0x09, 0x0D}, {0x20, 0x20}, {0x85, 0x85}, {0xA0, 0xA0}, {0x1680, 0x1680},
    {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
    {0x3000, 0x3000},
};

template <size_t N>
bool In(const Range (&r)[N], uint32_t cp) {
  return InRanges(r, N, cp);
}

}  // namespace

bool IsUnicodeLetter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return In(kLetters, cp);
}

bool IsUnicodeNumber(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return In(kNumbers, cp);
}

bool IsUnicodeSpace(uint32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return In(kSpaces, cp);
}

// ---- NFC ----
namespace {

struct CccRange {
  uint32_t lo, hi;
  uint8_t ccc;
};
struct Decomposition {
  uint32_t cp, a, b;  // b == 0: a singleton
};
struct Composition {
  uint32_t a, b, cp;
};

#include "utf8_nfc_tables.inc"

// Hangul syllables: decomposed into and composed from conjoining jamo arithmetically.
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr uint32_t kSCount = kLCount * kNCount;

// Full canonical decomposition of cp, appended to *out.
void Decompose(uint32_t cp, std::vector<uint32_t>* out) {
  if (cp < 0xC0) {
    out->push_back(cp);
    return;
  }
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out->push_back(kLBase + s / kNCount);
    out->push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out->push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* end = std::end(kDecompositions);
  const Decomposition* d = std::lower_bound(std::begin(kDecompositions), end, cp,
                                            [](const Decomposition& e, uint32_t c) { return e.cp < c; });
  if (d == end || d->cp != cp) {
    out->push_back(cp);
    return;
  }
  Decompose(d->a, out);
  if (d->b != 0) Decompose(d->b, out);
}

// The primary composite of a + b, or 0.
uint32_t Compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composition* end = std::end(kCompositions);
  const Composition* c = std::lower_bound(std::begin(kCompositions), end, std::make_pair(a, b),
                                          [](const Composition& e, const std::pair<uint32_t, uint32_t>& k) {
                                            return e.a < k.first || (e.a == k.first && e.b < k.second);
                                          });
  return c != end && c->a == a && c->b == b ? c->cp : 0;
}

// Canonical ordering then canonical composition of the decomposed code points *d (UAX #15),
// appended to *out as UTF-8; *d is left empty.
void ComposeInto(std::vector<uint32_t>* d, std::string* out) {
  std::vector<uint32_t>& v = *d;
  // Stable sort of each run of non-starters by combining class (insertion sort: runs are short).
  for (size_t i = 1; i < v.size(); ++i) {
    const uint8_t c = CanonicalCombiningClass(v[i]);
    if (c == 0) continue;
    for (size_t j = i; j > 0 && CanonicalCombiningClass(v[j - 1]) > c; --j) std::swap(v[j - 1], v[j]);
  }
  constexpr size_t kNone = static_cast<size_t>(-1);
  size_t starter = kNone, w = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const uint32_t ch = v[i];
    const uint8_t c = CanonicalCombiningClass(ch);
    // Not blocked: right after the starter, or every mark in between has a lower class.
    if (starter != kNone && (w - 1 == starter || CanonicalCombiningClass(v[w - 1]) < c)) {
      if (const uint32_t composite = Compose(v[starter], ch)) {
        v[starter] = composite;
        continue;
      }
    }
    if (c == 0) starter = w;
    v[w++] = ch;
  }
  for (size_t i = 0; i < w; ++i) Utf8Append(v[i], out);
  v.clear();
}

}  // namespace

uint8_t CanonicalCombiningClass(uint32_t cp) {
  if (cp < 0x300) return 0;
  const CccRange* end = std::end(kCombiningClass);
  const CccRange* r = std::upper_bound(std::begin(kCombiningClass), end, cp,
                                       [](uint32_t c, const CccRange& e) { return c < e.lo; });
  if (r == std::begin(kCombiningClass)) return 0;
  --r;
  return cp <= r->hi ? r->ccc : 0;
}

void Utf8Nfc(std::string_view in, std::string* out) {
  out->clear();
  // Every code point from U+0300 on starts with a byte of 0xCC or more.
  bool below_300 = true;
  for (char ch : in) below_300 &= static_cast<uint8_t>(ch) < 0xCC;
  if (below_300) {
    out->assign(in.data(), in.size());
    return;
  }
  out->reserve(in.size() + in.size() / 8);
  std::vector<uint32_t> d;
  for (size_t pos = 0; pos < in.size();) {
    const size_t start = pos;
    const uint32_t cp = Utf8Next(in, &pos);
    const size_t canonical_len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (pos - start != canonical_len) {  // invalid or overlong: kept as it is
      ComposeInto(&d, out);
      out->append(in.data() + start, pos - start);
      continue;
    }
    Decompose(cp, &d);
  }
  ComposeInto(&d, out);
}

size_t Utf8IncompleteTail(std::string_view bytes) {
  const size_t n = bytes.size();
  for (size_t k = 1; k <= 4 && k <= n; ++k) {
    const uint8_t b = static_cast<uint8_t>(bytes[n - k]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const size_t len = Utf8SeqLen(b);
    return len > k ? k : 0;
  }
  return 0;
}

Utf8Stream::Utf8Stream(size_t max_piece_bytes) { buf_.resize(max_piece_bytes + 4); }

std::string_view Utf8Stream::Push(std::string_view piece) {
  const size_t n = pending_ + piece.size();
  if (n > buf_.size()) buf_.resize(n);  // only for a piece longer than announced
  std::memcpy(&buf_[0], hold_, pending_);
  if (!piece.empty()) std::memcpy(&buf_[pending_], piece.data(), piece.size());
  const size_t tail = Utf8IncompleteTail(std::string_view(buf_.data(), n));
  out_len_ = n - tail;
  std::memcpy(hold_, buf_.data() + out_len_, tail);
  pending_ = tail;
  return std::string_view(buf_.data(), out_len_);
}

std::string_view Utf8Stream::Flush() {
  std::memcpy(&buf_[0], hold_, pending_);
  out_len_ = pending_;
  pending_ = 0;
  return std::string_view(buf_.data(), out_len_);
}

}  // namespace qlite
