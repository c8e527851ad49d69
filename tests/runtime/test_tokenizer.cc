// Tokenizer algorithms on small hand-made vocabularies: SentencePiece BPE and byte-level
// BPE against brute-force re-implementations (rescan all pairs each step), special tokens,
// decoding, and error handling.
#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../../runtime/src/tokenizer.h"
#include "../../runtime/src/utf8.h"

namespace qlite {
namespace {

const std::string kU2581 = "\xE2\x96\x81";

std::string Spaces2581(const std::string& s) {
  std::string o;
  for (char c : s) o += c == ' ' ? kU2581 : std::string(1, c);
  return o;
}

// <unk> <s> </s> <0x00>..<0xFF> then the given pieces with their scores.
TokenizerData SpmVocab(const std::vector<std::pair<std::string, float>>& pieces) {
  TokenizerData d;
  d.type = fb::TokenizerType::SentencePieceBPE;
  auto add = [&d](const std::string& p, float s, fb::TokenKind k) {
    d.pieces.push_back(p);
    d.scores.push_back(s);
    d.kinds.push_back(k);
  };
  add("<unk>", 0, fb::TokenKind::Unknown);
  add("<s>", 0, fb::TokenKind::Control);
  add("</s>", 0, fb::TokenKind::Control);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    add(buf, 0, fb::TokenKind::Byte);
  }
  for (const auto& p : pieces) add(Spaces2581(p.first), p.second, fb::TokenKind::Normal);
  return d;
}

std::unique_ptr<Tokenizer> Make(const TokenizerData& d) {
  std::unique_ptr<Tokenizer> t;
  Status s = Tokenizer::Create(d, TokenizerSpecialIds{}, &t);
  EXPECT_TRUE(s.ok()) << s.message();
  return t;
}

std::vector<int32_t> Enc(const Tokenizer& t, const std::string& text, bool bos = false) {
  std::vector<int32_t> ids;
  EncodeOptions o;
  o.add_bos = bos;
  Status s = t.Encode(text, o, &ids);
  EXPECT_TRUE(s.ok()) << s.message();
  return ids;
}

std::vector<std::string> Pieces(const Tokenizer& t, const std::vector<int32_t>& ids) {
  std::vector<std::string> v;
  for (int32_t id : ids) v.emplace_back(t.Piece(id));
  return v;
}

TEST(SpmTokenizer, MergesByScoreNotLeftToRight) {
  // "abc": pairs ▁a(1) ab(5) bc(3) -> ab first, then ▁ab(0.5) vs abc(4) -> abc, then ▁abc? no.
  auto t = Make(SpmVocab({{" ", -10}, {"a", -1}, {"b", -1}, {"c", -1}, {" a", 1}, {"ab", 5}, {"bc", 3},
                          {" ab", 0.5f}, {"abc", 4}}));
  EXPECT_EQ(Pieces(*t, Enc(*t, "abc")), (std::vector<std::string>{kU2581, "abc"}));
  // No dummy prefix when the vocabulary says so.
  TokenizerData d = SpmVocab({{"a", -1}, {"b", -1}, {"ab", 5}});
  d.add_dummy_prefix = false;
  auto t2 = Make(d);
  EXPECT_EQ(Pieces(*t2, Enc(*t2, "ab")), (std::vector<std::string>{"ab"}));
}

TEST(SpmTokenizer, BosEosFlagsAndEmptyText) {
  TokenizerData d = SpmVocab({{" ", -1}, {"a", -1}});
  d.add_eos = true;
  auto t = Make(d);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  std::vector<int32_t> ids;
  EncodeOptions o;
  o.add_eos = true;
  ASSERT_TRUE(t->Encode("", o, &ids).ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2}));
  d.add_bos = false;
  auto t2 = Make(d);
  EXPECT_EQ(Enc(*t2, "a", true), Enc(*t2, "a", false));  // model says no BOS
}

TEST(SpmTokenizer, ByteFallbackAndUnknown) {
  auto t = Make(SpmVocab({{" ", -1}, {"a", -1}}));
  // "é" = C3 A9 is not in the vocabulary: two byte tokens (<0xNN> is id 3 + byte).
  EXPECT_EQ(Enc(*t, "aé"), (std::vector<int32_t>{259, 260, 3 + 0xC3, 3 + 0xA9}));
  TokenizerData d = SpmVocab({{" ", -1}, {"a", -1}});
  d.byte_fallback = false;
  auto t2 = Make(d);
  EXPECT_EQ(Enc(*t2, "aéa"), (std::vector<int32_t>{259, 260, 0, 260}));  // one <unk> per character
}

TEST(SpmTokenizer, SpecialTokensParsedOnlyWhenAsked) {
  auto t = Make(SpmVocab({{" ", -1}, {"a", -1}, {"<", -1}, {"s", -1}, {">", -1}, {"/", -1}}));
  std::vector<int32_t> ids;
  EncodeOptions o;
  o.add_bos = false;
  ASSERT_TRUE(t->Encode("a</s>a", o, &ids).ok());
  // A dummy prefix starts the text and every fragment after a special token (llama.cpp).
  EXPECT_EQ(ids, (std::vector<int32_t>{259, 260, 2, 259, 260}));
  ids.clear();
  o.parse_special = false;
  ASSERT_TRUE(t->Encode("a</s>", o, &ids).ok());
  EXPECT_EQ(ids.size(), 6u);
}

TEST(SpmTokenizer, KindsInferredWhenMissing) {
  TokenizerData d;
  d.pieces = {"<unk>", "<s>", "</s>", "<0x41>", kU2581, "b", kU2581 + "b"};
  d.scores = {0, 0, 0, 0, -1, -1, 2};
  auto t = Make(d);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->unk_id(), 0);
  EXPECT_EQ(t->Kind(3), fb::TokenKind::Byte);
  EXPECT_EQ(t->Kind(2), fb::TokenKind::Control);
  EXPECT_EQ(Enc(*t, "bA", true), (std::vector<int32_t>{1, 6, 3}));
  EXPECT_EQ(t->Decode({1, 6, 3}), "bA");
}

// Brute force, as llama2.c does it: rescan every adjacent pair for the best score.
std::vector<int32_t> BruteSpm(const Tokenizer& t, const std::string& text) {
  std::string norm = Spaces2581(" " + text);
  std::vector<std::string> sym;
  for (size_t i = 0; i < norm.size();) {
    const size_t len = std::min(Utf8SeqLen(static_cast<uint8_t>(norm[i])), norm.size() - i);
    sym.push_back(norm.substr(i, len));
    i += len;
  }
  while (true) {
    float best = 0;
    int at = -1;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      const int32_t id = t.Find(sym[i] + sym[i + 1]);
      if (id >= 0 && t.Kind(id) == fb::TokenKind::Normal && (at < 0 || t.Score(id) > best)) {
        best = t.Score(id);
        at = static_cast<int>(i);
      }
    }
    if (at < 0) break;
    sym[at] += sym[at + 1];
    sym.erase(sym.begin() + at + 1);
  }
  std::vector<int32_t> ids;
  for (const std::string& s : sym) {
    const int32_t id = t.Find(s);
    if (id >= 0 && t.Kind(id) == fb::TokenKind::Normal) {
      ids.push_back(id);
    } else {
      for (char c : s) ids.push_back(3 + static_cast<uint8_t>(c));
    }
  }
  return ids;
}

std::string RandomText(std::mt19937* rng, const std::vector<std::string>& alphabet, size_t max_len) {
  std::string s;
  const size_t len = (*rng)() % (max_len + 1);
  for (size_t i = 0; i < len; ++i) s += alphabet[(*rng)() % alphabet.size()];
  return s;
}

TEST(SpmTokenizer, PriorityQueueMatchesBruteForceOnRandomVocabularies) {
  std::mt19937 rng(1234);
  const std::vector<std::string> alphabet = {"a", "b", "c", " ", "\xC3\xA9", "\xE4\xB8\xAD", "d"};
  for (int vocab_round = 0; vocab_round < 20; ++vocab_round) {
    // Random pieces of 1..4 characters with random (often tied) scores.
    std::map<std::string, float> pieces;
    for (int i = 0; i < 60; ++i) {
      pieces[RandomText(&rng, alphabet, 4)] = static_cast<float>(rng() % 8) - 4.0f;
    }
    pieces.erase("");
    std::vector<std::pair<std::string, float>> list(pieces.begin(), pieces.end());
    for (const char* c : {"a", "b", "c", " "}) list.emplace_back(c, -9.0f);
    auto t = Make(SpmVocab(list));
    for (int k = 0; k < 40; ++k) {
      std::string text = RandomText(&rng, alphabet, 24);
      if (text.empty()) continue;
      const std::vector<int32_t> got = Enc(*t, text);
      ASSERT_EQ(got, BruteSpm(*t, text)) << "text '" << text << "' round " << vocab_round;
      // Byte fallback makes every text round-trip.
      std::vector<int32_t> with_bos = {t->bos_id()};
      with_bos.insert(with_bos.end(), got.begin(), got.end());
      EXPECT_EQ(t->Decode(with_bos), text);
    }
  }
}

TEST(SpmTokenizer, DecodeBytes) {
  auto t = Make(SpmVocab({{" ", -1}, {" hi", 1}, {"h", -1}, {"i", -1}, {" h", 0}}));
  const int32_t hi = t->Find(kU2581 + "hi");
  EXPECT_EQ(t->TokenBytes(hi), " hi");
  EXPECT_EQ(t->TokenBytesAfter(t->bos_id(), hi), "hi");  // dummy prefix dropped after BOS
  EXPECT_EQ(t->TokenBytesAfter(hi, hi), " hi");
  EXPECT_EQ(t->TokenBytes(3 + 0x0A), "\n");
  EXPECT_EQ(t->TokenBytes(t->bos_id()), "");
  EXPECT_EQ(t->Decode({1, hi, hi, 3 + 0x21, 2}), "hi hi!");
}

// --- byte-level BPE -------------------------------------------------------------------

std::string Mapped(const std::string& bytes) {
  std::string s;
  for (char c : bytes) Utf8Append(ByteToUnicode(static_cast<uint8_t>(c)), &s);
  return s;
}

// 256 byte chars, then merges built from `merge_pairs` (byte strings), then specials.
TokenizerData BpeVocab(const std::vector<std::pair<std::string, std::string>>& merge_pairs,
                       const std::vector<std::string>& specials, const std::string& pretok = "gpt2") {
  TokenizerData d;
  d.type = fb::TokenizerType::ByteLevelBPE;
  d.pre_tokenizer = pretok;
  d.add_bos = false;
  d.add_dummy_prefix = false;
  for (int b = 0; b < 256; ++b) d.pieces.push_back(Mapped(std::string(1, static_cast<char>(b))));
  for (const auto& m : merge_pairs) {
    d.merges.push_back(Mapped(m.first) + " " + Mapped(m.second));
    const std::string joined = Mapped(m.first + m.second);
    if (std::find(d.pieces.begin(), d.pieces.end(), joined) == d.pieces.end()) d.pieces.push_back(joined);
  }
  d.kinds.assign(d.pieces.size(), fb::TokenKind::Normal);
  for (const std::string& s : specials) {
    d.pieces.push_back(s);
    d.kinds.push_back(fb::TokenKind::Control);
  }
  return d;
}

// Brute force: in each word, merge the lowest-ranked adjacent pair (leftmost on ties).
std::vector<int32_t> BruteBpe(const Tokenizer& t, const TokenizerData& d, PreTokenizer pk, const std::string& text) {
  std::map<std::pair<std::string, std::string>, size_t> rank;
  for (size_t r = 0; r < d.merges.size(); ++r) {
    const size_t sp = d.merges[r].find(' ');
    rank.emplace(std::make_pair(d.merges[r].substr(0, sp), d.merges[r].substr(sp + 1)), r);
  }
  std::vector<std::string_view> words;
  PreTokenize(pk, text, &words);
  std::vector<int32_t> ids;
  for (std::string_view w : words) {
    std::vector<std::string> sym;
    for (char c : w) sym.push_back(Mapped(std::string(1, c)));
    while (true) {
      size_t best = SIZE_MAX;
      int at = -1;
      for (size_t i = 0; i + 1 < sym.size(); ++i) {
        auto it = rank.find({sym[i], sym[i + 1]});
        if (it != rank.end() && it->second < best) {
          best = it->second;
          at = static_cast<int>(i);
        }
      }
      if (at < 0) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + at + 1);
    }
    for (const std::string& s : sym) ids.push_back(t.Find(s));
  }
  return ids;
}

TEST(ByteLevelBpe, MatchesBruteForceOnRandomMerges) {
  std::mt19937 rng(99);
  const std::vector<std::string> alphabet = {"a", "b", "c", " ", "\n", "1", "!", "\xC3\xA9", "\xF0\x9F\x98\x80"};
  for (const char* pk_name : {"gpt2", "llama3", "qwen2", "smollm"}) {
    PreTokenizer pk;
    ASSERT_TRUE(ParsePreTokenizer(pk_name, &pk).ok());
    for (int round = 0; round < 10; ++round) {
      std::vector<std::pair<std::string, std::string>> merges;
      std::vector<std::string> known = {"a", "b", "c", " ", "1", "\xC3", "\xA9", "\xF0", "\x9F"};
      for (int i = 0; i < 40; ++i) {
        const std::string l = known[rng() % known.size()], r = known[rng() % known.size()];
        merges.emplace_back(l, r);
        known.push_back(l + r);
      }
      TokenizerData d = BpeVocab(merges, {"<|x|>"}, pk_name);
      auto t = Make(d);
      for (int k = 0; k < 30; ++k) {
        const std::string text = RandomText(&rng, alphabet, 20);
        std::vector<int32_t> got;
        EncodeOptions o;
        o.add_bos = false;
        ASSERT_TRUE(t->Encode(text, o, &got).ok());
        if (std::string(pk_name) != "llama3") {  // llama3 also looks whole words up first
          ASSERT_EQ(got, BruteBpe(*t, d, pk, text)) << pk_name << " '" << text << "'";
        }
        EXPECT_EQ(t->Decode(got), text);
      }
    }
  }
}

TEST(ByteLevelBpe, SpecialTokensMatchedLiterally) {
  TokenizerData d = BpeVocab({{"h", "i"}}, {"<|im_start|>", "<|im_end|>"});
  auto t = Make(d);
  const int32_t start = t->Find("<|im_start|>"), end = t->Find("<|im_end|>"), hi = t->Find("hi");
  std::vector<int32_t> ids;
  EncodeOptions o;
  ASSERT_TRUE(t->Encode("<|im_start|>hi<|im_end|>", o, &ids).ok());
  EXPECT_EQ(ids, (std::vector<int32_t>{start, hi, end}));
  EXPECT_EQ(t->TokenBytes(start), "");  // control tokens are not text
  ids.clear();
  o.parse_special = false;
  ASSERT_TRUE(t->Encode("<|im_end|>", o, &ids).ok());
  EXPECT_GT(ids.size(), 1u);
  EXPECT_EQ(t->Decode(ids), "<|im_end|>");
}

TEST(ByteLevelBpe, Llama3LooksWholeWordsUpFirst) {
  // "abc" is in the vocabulary but no merge chain reaches it: only Llama 3's
  // ignore_merges finds it.
  for (const char* pk : {"gpt2", "llama3"}) {
    TokenizerData d = BpeVocab({{"a", "b"}}, {}, pk);
    d.pieces.push_back("abc");
    d.kinds.push_back(fb::TokenKind::Normal);
    auto t = Make(d);
    const std::vector<int32_t> want = std::string(pk) == "llama3"
                                          ? std::vector<int32_t>{t->Find("abc")}
                                          : std::vector<int32_t>{t->Find("ab"), t->Find("c")};
    EXPECT_EQ(Enc(*t, "abc"), want) << pk;
  }
}

TEST(ByteLevelBpe, Qwen2NormalizesToNfcFirst) {
  // Qwen2/Qwen3's tokenizer.json normalizes text to NFC before splitting: "e" + U+0301 is the
  // token of "é" there, three byte tokens elsewhere. Control markers are split off first.
  for (const char* pk : {"qwen2", "gpt2", "llama3", "smollm"}) {
    TokenizerData d = BpeVocab({{"\xC3", "\xA9"}, {"\xCC", "\x81"}}, {"<|im_end|>"}, pk);
    auto t = Make(d);
    const int32_t e_acute = t->Find(Mapped("\xC3\xA9")), acute = t->Find(Mapped("\xCC\x81"));
    const int32_t e = t->Find(Mapped("e")), end = t->Find("<|im_end|>");
    const bool nfc = std::string(pk) == "qwen2";
    EXPECT_EQ(Enc(*t, "e\xCC\x81<|im_end|>\xC3\xA9"),
              nfc ? (std::vector<int32_t>{e_acute, end, e_acute}) : (std::vector<int32_t>{e, acute, end, e_acute}))
        << pk;
    EXPECT_EQ(Enc(*t, "\xC3\xA9"), (std::vector<int32_t>{e_acute})) << pk;
    // Bytes that are not UTF-8 still encode (as their byte tokens) and decode back.
    const std::string raw = "\xFF" "e\xCC\x81\xC0";
    EXPECT_EQ(t->Decode(Enc(*t, raw)), nfc ? "\xFF\xC3\xA9\xC0" : raw) << pk;
  }
}

TEST(ByteLevelBpe, UserDefinedPiecesAlwaysMatched) {
  TokenizerData d = BpeVocab({{"a", "b"}}, {"<|c|>"});
  d.pieces.push_back("<user>");
  d.kinds.push_back(fb::TokenKind::UserDefined);
  auto t = Make(d);
  const int32_t user = t->Find("<user>"), ctrl = t->Find("<|c|>"), ab = t->Find("ab");
  for (bool parse_special : {true, false}) {
    std::vector<int32_t> ids;
    EncodeOptions o;
    o.parse_special = parse_special;
    ASSERT_TRUE(t->Encode("ab<user>ab<|c|>", o, &ids).ok());
    ASSERT_GE(ids.size(), 4u);
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 3), (std::vector<int32_t>{ab, user, ab}));
    EXPECT_EQ(ids.size() == 4 && ids[3] == ctrl, parse_special);
    EXPECT_EQ(t->TokenBytes(user), "<user>");  // user-defined pieces are text
  }
}

TEST(ByteLevelBpe, ByteMapIsABijection) {
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = ByteToUnicode(static_cast<uint8_t>(b));
    EXPECT_EQ(UnicodeToByte(cp), b);
  }
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);  // 'Ġ'
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(ByteToUnicode('A'), static_cast<uint32_t>('A'));
}

std::vector<std::string> Split(const char* name, const std::string& text) {
  PreTokenizer pk;
  EXPECT_TRUE(ParsePreTokenizer(name, &pk).ok());
  std::vector<std::string_view> w;
  PreTokenize(pk, text, &w);
  return std::vector<std::string>(w.begin(), w.end());
}

TEST(PreTokenizer, HandWrittenCases) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Split("gpt2", "Hello  world's 123!!\n"), (V{"Hello", " ", " world", "'s", " 123", "!!", "\n"}));
  EXPECT_EQ(Split("llama3", "Hello  WORLD'S 12345!!\n\n x"), (V{"Hello", " ", " WORLD", "'S", " ", "123", "45", "!!\n\n", " x"}));
  EXPECT_EQ(Split("qwen2", "ab 12"), (V{"ab", " ", "1", "2"}));
  EXPECT_EQ(Split("smollm", "a 12b"), (V{"a", " ", "1", "2", "b"}));
  Status s;
  PreTokenizer pk;
  EXPECT_FALSE(ParsePreTokenizer("no-such-regex", &pk).ok());
}

// A capped quantifier (\p{N}{1,3}) must not rescan the rest of a digit run per piece: that
// made 256 KB of digits take tens of seconds. At 4 M digits a quadratic scan would not finish
// within the test timeout; linear work takes milliseconds.
TEST(PreTokenizer, LongDigitRunsSplitInLinearTime) {
  const std::string digits(size_t{4} << 20, '7');
  for (const auto& [name, per_piece] : {std::pair<const char*, size_t>{"llama3", 3}, {"qwen2", 1}, {"smollm", 1}}) {
    PreTokenizer pk;
    ASSERT_TRUE(ParsePreTokenizer(name, &pk).ok());
    std::vector<std::string_view> w;
    PreTokenize(pk, digits, &w);
    ASSERT_EQ(w.size(), (digits.size() + per_piece - 1) / per_piece) << name;
    EXPECT_EQ(w.front().size(), per_piece) << name;
  }
}

TEST(TokenizerCreate, RejectsBadData) {
  std::unique_ptr<Tokenizer> t;
  TokenizerData empty;
  EXPECT_FALSE(Tokenizer::Create(empty, {}, &t).ok());
  TokenizerData d = SpmVocab({{"a", 0}});
  d.scores.pop_back();
  EXPECT_FALSE(Tokenizer::Create(d, {}, &t).ok());
  d = SpmVocab({{"a", 0}});
  TokenizerSpecialIds ids;
  ids.bos = 100000;
  EXPECT_FALSE(Tokenizer::Create(d, ids, &t).ok());
  d = SpmVocab({{"a", 0}});
  d.kinds[5] = fb::TokenKind::Byte;  // "<0x02>" is fine, so break its text
  d.pieces[5] = "<0xZZ>";
  EXPECT_FALSE(Tokenizer::Create(d, {}, &t).ok());
  TokenizerData b = BpeVocab({}, {}, "unknown-pretok");
  EXPECT_FALSE(Tokenizer::Create(b, {}, &t).ok());
  b = BpeVocab({}, {});
  b.merges.push_back("nospace");
  EXPECT_FALSE(Tokenizer::Create(b, {}, &t).ok());
  EXPECT_EQ(t, nullptr);
}

TEST(ByteLevelBpe, MissingByteTokenIsAnError) {
  TokenizerData d = BpeVocab({}, {});
  d.pieces[static_cast<uint8_t>('z')] = "zz-not-a-byte";
  auto t = Make(d);
  std::vector<int32_t> ids;
  EXPECT_FALSE(t->Encode("z", EncodeOptions{}, &ids).ok());
}

}  // namespace
}  // namespace qlite
