// Stop strings and logit bias: the matcher on its own (held back, flushed, overlapping
// prefixes, split over many pieces) and the sampler parameters' checks and memory.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "qlite/qlite.h"
#include "stop_matcher.h"
#include "synthetic_model.h"

namespace {

// Feeds `pieces` through a matcher of `stops`; returns what it let through ("|" after a match).
std::string Stream(const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  std::string text;
  std::vector<uint32_t> offsets;
  for (const std::string& s : stops) {
    offsets.push_back((uint32_t)text.size());
    text += s;
  }
  offsets.push_back((uint32_t)text.size());
  qlite::StopMatcher m(text.data(), offsets.data(), stops.size(), 16);
  std::string out;
  bool matched = false;
  for (const std::string& p : pieces) {
    out += std::string(m.Push(p, &matched));
    if (matched) return out + "|";
  }
  return out + std::string(m.Flush());
}

TEST(StopMatcher, MatchesAcrossPiecesAndNeverEmitsTheStop) {
  EXPECT_EQ(Stream({"<end>"}, {"Hello <", "e", "nd", "> world"}), "Hello |");
  EXPECT_EQ(Stream({"<end>"}, {"Hello", " <e", "n", "d>"}), "Hello |");
  EXPECT_EQ(Stream({"abc"}, {"xxabcyy"}), "xx|");
  EXPECT_EQ(Stream({"abc"}, {"a", "b", "c"}), "|");
}

TEST(StopMatcher, HeldBackTextIsFlushedWhenItCannotStartAStop) {
  // "<e" is held while it could start "<end>", and let through once "x" rules it out.
  const uint32_t offsets[] = {0, 5};
  qlite::StopMatcher k("<end>", offsets, 1, 16);
  bool matched = false;
  EXPECT_EQ(k.Push("ab<", &matched), "ab");
  EXPECT_EQ(k.Push("e", &matched), "");
  EXPECT_EQ(k.Push("x", &matched), "<ex");
  EXPECT_EQ(k.Push("<en", &matched), "");
  EXPECT_EQ(k.Flush(), "<en");  // the stream ended first
  EXPECT_FALSE(matched);
}

TEST(StopMatcher, NeverMatchingStopsChangeNothing) {
  EXPECT_EQ(Stream({"zzz", "\n\nUser:"}, {"a ", "z", "z ", "b\n", "\nUs", "er", " no"}), "a zz b\n\nUser no");
}

TEST(StopMatcher, OverlappingPrefixesEndAtTheEarliestCompleteStop) {
  // "abcd" never completes; "bcx" starts inside its prefix and does.
  EXPECT_EQ(Stream({"abcd", "bcx"}, {"1a", "b", "c", "x2"}), "1a|");
  EXPECT_EQ(Stream({"abcd", "bc"}, {"1a", "b", "c", "d"}), "1a|");  // the shorter completes first
  EXPECT_EQ(Stream({"aab"}, {"a", "a", "a", "b"}), "a|");            // self-overlap
}

class SessionLists : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    const qlite::ModelConfig c = qlite_test::TinyConfig();
    path_ = qlite_test::TempPath("session_lists.qlm");
    ASSERT_TRUE(qlite_test::WriteModel(c, qlite_test::RandomWeights(c, 3), path_).ok());
  }
  void SetUp() override { ASSERT_EQ(qlite_model_open(path_.c_str(), nullptr, &m_), QLITE_OK); }
  void TearDown() override { qlite_model_free(m_); }
  static std::string path_;
  qlite_model* m_ = nullptr;
};
std::string SessionLists::path_;

TEST_F(SessionLists, BadListsAreRejected) {
  qlite_session_params p = qlite_session_default_params();
  qlite_session* s = nullptr;
  const char* empty[] = {""};
  const char* null[] = {nullptr};
  p.sampler.n_stop_strings = 1;
  EXPECT_EQ(qlite_session_create(m_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  p.sampler.stop_strings = empty;
  EXPECT_EQ(qlite_session_create(m_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(qlite_last_error()).find("empty"), std::string::npos) << qlite_last_error();
  p.sampler.stop_strings = null;
  EXPECT_EQ(qlite_session_create(m_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  const std::string huge(2000, 'x');
  const char* long_one[] = {huge.c_str()};
  p.sampler.stop_strings = long_one;
  EXPECT_EQ(qlite_session_create(m_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  p = qlite_session_default_params();
  qlite_logit_bias bias = {100000, 1.0f};
  p.sampler.logit_bias = &bias;
  p.sampler.n_logit_bias = 1;
  EXPECT_EQ(qlite_session_create(m_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  bias = {1, NAN};
  EXPECT_EQ(qlite_session_create(m_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  bias = {1, INFINITY};
  EXPECT_EQ(qlite_session_create(m_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  p.sampler.logit_bias = nullptr;
  EXPECT_EQ(qlite_session_create(m_, &p, &s), QLITE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(s, nullptr);
}

TEST_F(SessionLists, ListsAreCopiedIntoTheSessionAndCounted) {
  qlite_session_params p = qlite_session_default_params();
  qlite_memory_estimate plain, with;
  ASSERT_EQ(qlite_estimate_memory(m_, &p, &plain), QLITE_OK);
  std::string a(600, 'a'), b(600, 'b');
  const char* stops[] = {a.c_str(), b.c_str()};
  std::vector<qlite_logit_bias> bias(1000, qlite_logit_bias{1, -1.0f});
  p.sampler.stop_strings = stops;
  p.sampler.n_stop_strings = 2;
  p.sampler.logit_bias = bias.data();
  p.sampler.n_logit_bias = bias.size();
  ASSERT_EQ(qlite_estimate_memory(m_, &p, &with), QLITE_OK);
  EXPECT_GE(with.session_total, plain.session_total + 1200 + 1000 * sizeof(qlite_logit_bias));
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(m_, &p, &s), QLITE_OK) << qlite_last_error();
  // The caller's lists may change or go once the session exists.
  a.assign(600, 'z');
  bias.assign(bias.size(), qlite_logit_bias{-5, NAN});
  std::string text;
  auto collect = [](void* user, int32_t, const char* piece, size_t len) {
    static_cast<std::string*>(user)->append(piece, len);
    return 0;
  };
  ASSERT_EQ(qlite_generate(s, "ab", 20, 0, collect, &text, nullptr), QLITE_OK) << qlite_last_error();
  qlite_session_free(s);
}

}  // namespace
