#include "utf8.h"

#include <algorithm>
#include <cstring>

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

void Utf8Append(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
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
