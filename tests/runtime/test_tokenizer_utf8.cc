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
