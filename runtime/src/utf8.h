// UTF-8 helpers for the tokenizers: decoding, Unicode categories for the pre-tokenizer
// regexes and a streaming decoder that never emits half a
// character.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qlite {

// Length of the UTF-8 sequence that starts with `lead` (1 for ASCII and for invalid or
// continuation bytes, so callers always make progress).
inline size_t Utf8SeqLen(uint8_t lead) {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  if (lead < 0xF8) return 4;
  return 1;
}

// Decodes one code point at s[*pos] and advances *pos. Malformed or truncated input
// yields U+FFFD and advances one byte (never reads past s.size()).
uint32_t Utf8Next(std::string_view s, size_t* pos);

// Writes the UTF-8 encoding of `cp` (cp <= 0x10FFFF); returns its length.
size_t Utf8Encode(uint32_t cp, char out[4]);
// Appends the UTF-8 encoding of `cp` (cp <= 0x10FFFF).
void Utf8Append(uint32_t cp, std::string* out);

// Unicode categories as the pre-tokenizer regexes see them, from range tables generated
// from unicodedata (utf8_tables.inc, Unicode 16.0 as the regex engine of Hugging Face
// tokenizers 0.23: ~500 ranges). Limits: code points assigned after Unicode 16 are "other";
// unassigned ones may count as a neighbouring range's class; combining marks are neither
// letters nor numbers, as in Unicode.
bool IsUnicodeLetter(uint32_t cp);   // \p{L}
bool IsUnicodeNumber(uint32_t cp);   // \p{N}: Nd, Nl, No
bool IsUnicodeSpace(uint32_t cp);    // \s (White_Space)

// Unicode normalization form C (canonical decomposition, canonical ordering of combining
// marks, canonical composition), as Hugging Face tokenizers' NFC normalizer, which Qwen2 and
// Qwen3 vocabularies declare: its Unicode 9.0 data (utf8_nfc_tables.inc), so marks assigned
// since are starters without decompositions, as there. Writes
// `in` normalized to *out (replacing its contents). Bytes that are not well-formed UTF-8
// (invalid or overlong sequences) are copied as they are and block composition across them.
// Text whose code points are all below U+0300 is already NFC and copied unchanged.
void Utf8Nfc(std::string_view in, std::string* out);

// Canonical combining class of a code point (0 for starters).
uint8_t CanonicalCombiningClass(uint32_t cp);

// Number of bytes at the end of `bytes` that start a UTF-8 sequence which is not complete
// yet (0..3). Invalid bytes are not held back: they are passed through as they are.
size_t Utf8IncompleteTail(std::string_view bytes);

// Streaming decoder: feed the bytes of each generated token; it returns only whole UTF-8
// characters and keeps an incomplete tail for the next call. The buffer is sized once
// (max_piece_bytes per push), so Push() does not allocate.
class Utf8Stream {
 public:
  explicit Utf8Stream(size_t max_piece_bytes = 256);
  // The returned view is valid until the next Push/Flush/Reset.
  std::string_view Push(std::string_view piece);
  // Emits whatever is still buffered (an incomplete sequence at the end of the text).
  std::string_view Flush();
  void Reset() { pending_ = 0; out_len_ = 0; }
  size_t pending() const { return pending_; }

 private:
  std::string buf_;    // [0, out_len_) last output; then bytes pending at the front on push
  size_t pending_ = 0; // bytes held back from the previous push
  size_t out_len_ = 0;
  char hold_[4] = {};
};

}  // namespace qlite
