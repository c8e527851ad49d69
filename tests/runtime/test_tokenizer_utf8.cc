// UTF-8 helpers: decoding, the Unicode category approximation, and the streaming decoder
// (never emits half a character, does not allocate per token).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>

#include "../../runtime/src/tokenizer.h"
#include "../../runtime/src/utf8.h"
#include "test_data.h"
#include "test_tokenizer_util.h"

#include "count_allocs.h"

namespace qlite {
namespace {

const std::string kText = "Héllo, мир! 中文 🦙🔥 e\xCC\x81 ½ end";

// True when s is whole, valid UTF-8 characters.
bool WholeUtf8(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    if (Utf8Next(s, &pos) == 0xFFFD && s.compare(start, 3, "\xEF\xBF\xBD") != 0) return false;
  }
  return true;
}

TEST(Utf8, DecodeAndEncode) {
  std::string round;
  size_t pos = 0;
  std::vector<uint32_t> cps;
  while (pos < kText.size()) cps.push_back(Utf8Next(kText, &pos));
  for (uint32_t cp : cps) Utf8Append(cp, &round);
  EXPECT_EQ(round, kText);
  EXPECT_EQ(cps[1], 0xE9u);
  // Malformed: truncated, bad continuation, stray continuation; one byte at a time.
  const std::string bad = "\xE4\xB8";
  pos = 0;
  EXPECT_EQ(Utf8Next(bad, &pos), 0xFFFDu);
  EXPECT_EQ(pos, 1u);
  const std::string bad2 = "\xC3(\x80";
  pos = 0;
  EXPECT_EQ(Utf8Next(bad2, &pos), 0xFFFDu);
  EXPECT_EQ(Utf8Next(bad2, &pos), static_cast<uint32_t>('('));
  EXPECT_EQ(Utf8Next(bad2, &pos), 0xFFFDu);
  EXPECT_EQ(pos, 3u);
}

TEST(Utf8, Categories) {
  for (uint32_t c = 0; c < 128; ++c) {
    EXPECT_EQ(IsUnicodeLetter(c), (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) << c;
    EXPECT_EQ(IsUnicodeNumber(c), c >= '0' && c <= '9') << c;
    EXPECT_EQ(IsUnicodeSpace(c), c == ' ' || (c >= 9 && c <= 13)) << c;
  }
  for (uint32_t c : {0xE9u, 0xC5u, 0x3B1u, 0x416u, 0x5D0u, 0x628u, 0x928u, 0x4E2Du, 0x3042u, 0x30AFu, 0xAC00u,
                     0x1E9Eu, 0x20000u}) {
    EXPECT_TRUE(IsUnicodeLetter(c)) << std::hex << c;
    EXPECT_FALSE(IsUnicodeNumber(c)) << std::hex << c;
  }
  for (uint32_t c : {0xBDu, 0xB2u, 0x663u, 0x967u, 0x2163u, 0x2462u, 0xFF11u}) {
    EXPECT_TRUE(IsUnicodeNumber(c)) << std::hex << c;
    EXPECT_FALSE(IsUnicodeLetter(c)) << std::hex << c;
  }
  // Neither: marks, punctuation, symbols, emoji.
  for (uint32_t c : {0x301u, 0x94Du, 0xD7u, 0xF7u, 0xA7u, 0x3002u, 0xFF0Cu, 0x1F999u, 0x2014u, 0x200Du}) {
    EXPECT_FALSE(IsUnicodeLetter(c)) << std::hex << c;
    EXPECT_FALSE(IsUnicodeNumber(c)) << std::hex << c;
  }
  for (uint32_t c : {0xA0u, 0x3000u, 0x2009u, 0x85u}) EXPECT_TRUE(IsUnicodeSpace(c)) << std::hex << c;
  EXPECT_FALSE(IsUnicodeSpace(0x200Bu));  // zero-width space is not White_Space
  // Letters of Unicode 15 and 16 (Kawi, CJK extension H, Nag Mundari, Garay, Ol Onal), as
  // the regex engine of Hugging Face tokenizers 0.23 sees them; 17.0 is not there yet.
  for (uint32_t c : {0x11F04u, 0x31350u, 0x1E4D0u, 0x10D50u, 0x1E5D0u}) EXPECT_TRUE(IsUnicodeLetter(c)) << std::hex << c;
  EXPECT_FALSE(IsUnicodeLetter(0x1E6C0u));  // Tai Yo, Unicode 17
}

std::string Nfc(const std::string& s) {
  std::string out = "stale";
  Utf8Nfc(s, &out);
  return out;
}

// Expected values from Hugging Face tokenizers' NFC normalizer (Python's
// unicodedata.normalize("NFC", ...) agrees on all but the Unicode 10+ case).
TEST(Utf8Nfc, ComposesReordersAndDecomposesExclusions) {
  EXPECT_EQ(Nfc(""), "");
  EXPECT_EQ(Nfc("plain ASCII, caf\u00e9 and \U0001F468\u200D\U0001F469"),
            "plain ASCII, caf\u00e9 and \U0001F468\u200D\U0001F469");
  EXPECT_EQ(Nfc("e\u0301"), "\u00e9");
  EXPECT_EQ(Nfc("A\u030A\u0301"), "\u01FA");  // two steps
  // Marks are put in combining-class order first, then composed where not blocked.
  EXPECT_EQ(Nfc("o\u0302\u0323"), "\u1ED9");
  EXPECT_EQ(Nfc("o\u0323\u0302"), "\u1ED9");
  EXPECT_EQ(Nfc("\u00e9\u0323"), "\u1EB9\u0301");
  EXPECT_EQ(Nfc("\u1E0A\u0323"), "\u1E0C\u0307");
  EXPECT_EQ(Nfc("q\u0307\u0323"), "q\u0323\u0307");  // no composite: only reordered
  EXPECT_EQ(Nfc("a\u0301\u0301"), "\u00e1\u0301");   // the second acute is blocked
  EXPECT_EQ(Nfc("\u1E9B\u0323"), "\u1E9B\u0323");     // UAX #15's example
  EXPECT_EQ(Nfc("\u0B47\u0B3E"), "\u0B4B");           // two starters compose
  EXPECT_EQ(Nfc("\u0301a"), "\u0301a");                // nothing to compose with
  // Singletons and composition exclusions come out decomposed.
  EXPECT_EQ(Nfc("\u212B\u2126\u212A"), "\u00c5\u03A9K");
  EXPECT_EQ(Nfc("\u0344"), "\u0308\u0301");
  EXPECT_EQ(Nfc("\u095E"), "\u092B\u093C");
  EXPECT_EQ(Nfc("\uF900"), "\u8C48");
  // Hangul: conjoining jamo compose arithmetically.
  EXPECT_EQ(Nfc("\u1100\u1161\u11A8"), "\uAC01");
  EXPECT_EQ(Nfc("\uAC00\u11A8"), "\uAC01");
  EXPECT_EQ(Nfc("\u1100\u1161"), "\uAC00");
  EXPECT_EQ(Nfc("\uD55C\uAD6D\uC5B4"), "\uD55C\uAD6D\uC5B4");
  // U+1DF6 (combining class 232) is Unicode 10: a starter to tokenizers' Unicode 9 data.
  EXPECT_EQ(Nfc("a\u1DF6\u0316"), "a\u1DF6\u0316");
  // Bytes that are not UTF-8 (invalid, overlong) stay as they are and block composition.
  EXPECT_EQ(Nfc("e\xFF\u0301"), "e\xFF\u0301");
  EXPECT_EQ(Nfc("e\xC0\x80\u0301x"), "e\xC0\x80\u0301x");
  EXPECT_EQ(Nfc("\xE4\xB8" "e\u0301"), "\xE4\xB8\u00e9");  // truncated sequence
  EXPECT_EQ(CanonicalCombiningClass('a'), 0);
  EXPECT_EQ(CanonicalCombiningClass(0x301), 230);
  EXPECT_EQ(CanonicalCombiningClass(0x323), 220);
  EXPECT_EQ(CanonicalCombiningClass(0x94D), 9);
}

// NFC is idempotent, and text already in NFC (every reference text of the tokenizer tests)
// comes back unchanged.
TEST(Utf8Nfc, IdempotentOnRandomMarks) {
  std::mt19937 rng(5);
  const std::vector<std::string> pieces = {"a", "e", "o", "A", "\u00e9", "\u0301", "\u0323", "\u0302", "\u0308",
                                           "\u1100", "\u1161", "\u11A8", "\uAC00", "\u0344", "\u212B", "\u0B47",
                                           "\u0B3E", "\u095E", "\u093C", " ", "\xFF"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    for (int k = rng() % 8; k >= 0; --k) s += pieces[rng() % pieces.size()];
    const std::string once = Nfc(s);
    EXPECT_EQ(Nfc(once), once) << s;
  }
  EXPECT_EQ(Nfc(kText), "H\u00e9llo, \u043C\u0438\u0440! \u4E2D\u6587 \U0001F999\U0001F525 \u00e9 \u00BD end");
}

TEST(Utf8Stream, NeverSplitsACharacter) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    Utf8Stream stream(8);
    std::string out;
    for (size_t pos = 0; pos < kText.size();) {
      const size_t n = std::min<size_t>(kText.size() - pos, rng() % 6);
      const std::string_view chunk = stream.Push(std::string_view(kText).substr(pos, n));
      ASSERT_TRUE(WholeUtf8(chunk)) << "round " << round << " at " << pos;
      ASSERT_EQ(Utf8IncompleteTail(chunk), 0u);
      out.append(chunk.data(), chunk.size());
      pos += n;
    }
    EXPECT_EQ(stream.pending(), 0u);
    out.append(std::string(stream.Flush()));
    EXPECT_EQ(out, kText);
  }
}

TEST(Utf8Stream, InvalidBytesPassThroughAndFlush) {
  Utf8Stream s(8);
  EXPECT_EQ(s.Push("\xFF"), "\xFF");       // can never start a character: not held
  EXPECT_EQ(s.Push("a\xE4"), "a");         // lead byte of a 3-byte char: held
  EXPECT_EQ(s.Push("b"), "\xE4" "b");      // the char never completed: passed on as is
  EXPECT_EQ(s.Push("\xF0\x9F"), "");
  EXPECT_EQ(s.Flush(), "\xF0\x9F");        // end of text: what is left goes out
  EXPECT_EQ(s.Push("\x80"), "\x80");       // stray continuation byte
}

TEST(Utf8Stream, ByteFallbackTokensOfARealVocabulary) {
  QLITE_REQUIRE_DATA(tok, "stories260K/tok512.bin");
  auto t = qlite_test::LoadTokenizer(ImportLlama2cTokenizer, tok);
  ASSERT_TRUE(t);
  std::vector<int32_t> ids;
  ASSERT_TRUE(t->Encode(kText, EncodeOptions{}, &ids).ok());
  size_t byte_tokens = 0;
  for (int32_t id : ids) byte_tokens += t->Kind(id) == fb::TokenKind::Byte;
  EXPECT_GT(byte_tokens, 10u);  // tok512 has no CJK or emoji pieces: they arrive byte by byte
  Utf8Stream stream(t->max_token_bytes());
  std::string out;
  int32_t prev = -1;
  const long allocs_before = g_allocs.load();
  for (int32_t id : ids) {
    const std::string_view chunk = stream.Push(t->TokenBytesAfter(prev, id));
    prev = id;
    EXPECT_TRUE(WholeUtf8(chunk));
    out.append(chunk.data(), chunk.size());  // out's growth is counted below
  }
  const long allocs = g_allocs.load() - allocs_before;
  EXPECT_LE(allocs, 12);  // only `out` growing (logarithmic), none per token
  out.append(std::string(stream.Flush()));
  EXPECT_EQ(out, kText);
}

TEST(Utf8Stream, PushDoesNotAllocate) {
  Utf8Stream s(16);
  const long before = g_allocs.load();
  size_t total = 0;
  for (int i = 0; i < 1000; ++i) total += s.Push(i % 2 ? "\xE4\xB8" : "\xAD" "abc").size();
  EXPECT_EQ(g_allocs.load() - before, 0);
  EXPECT_GT(total, 0u);
}

}  // namespace
}  // namespace qlite
