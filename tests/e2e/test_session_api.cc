// The app developer's session API on stories260K: appending equals prefilling at once
// (also past the window, for every KV type), seek, prefix reuse, continuing generation, stop
// strings and saved state.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace {

using namespace qlite_e2e;
using qlite::fb::DType;

const char* kBin = "stories260K/stories260K.bin";
const char* kTok = "stories260K/tok512.bin";

class SessionApi : public testing::Test {
 protected:
  static std::map<int, qlite_model*>& Cache() {
    static std::map<int, qlite_model*> cache;
    return cache;
  }
  static void TearDownTestSuite() {
    for (auto& kv : Cache()) qlite_model_free(kv.second);
    Cache().clear();
  }
  // stories260K converted with `weights` (made once per binary).
  static qlite_model* Model(DType weights = DType::F32) {
    auto it = Cache().find((int)weights);
    if (it != Cache().end()) return it->second;
    qlite_model* m = nullptr;
    const std::string out = TempModelPath("session_api_" + std::to_string((int)weights));
    const qlite::Status st = Convert(qlite_test::DataPath(kBin), qlite_test::DataPath(kTok), weights, out);
    if (!st.ok()) ADD_FAILURE() << st.message();
    else if (qlite_model_open(out.c_str(), nullptr, &m) != QLITE_OK) ADD_FAILURE() << qlite_last_error();
    Cache()[(int)weights] = m;
    return m;
  }
  static qlite_session_params Params(qlite_kv_type kv, uint32_t window) {
    qlite_session_params p = qlite_session_default_params();
    p.kv_type = kv;
    p.window = window;
    p.n_threads = 1;
    p.max_batch = 16;  // several chunks per prefill
    p.sampler.temperature = 0;
    return p;
  }
  static std::vector<int32_t> Tokens(qlite_model* m, const std::string& text, bool bos) {
    std::vector<int32_t> ids(text.size() + 2);
    size_t n = 0;
    EXPECT_EQ(qlite_tokenize(m, text.data(), text.size(), bos, ids.data(), ids.size(), &n), QLITE_OK);
    ids.resize(n);
    return ids;
  }
  static std::vector<float> Logits(qlite_session* s) {
    const float* l = nullptr;
    EXPECT_EQ(qlite_get_logits(s, &l), QLITE_OK) << qlite_last_error();
    return l ? std::vector<float>(l, l + 512) : std::vector<float>();
  }
  static float MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
    if (a.size() != b.size()) return INFINITY;
    float d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
  }
  // Logits after feeding `parts` one qlite_prefill call each.
  static std::vector<float> Fed(qlite_model* m, const qlite_session_params& p,
                                const std::vector<std::vector<int32_t>>& parts) {
    qlite_session* s = nullptr;
    EXPECT_EQ(qlite_session_create(m, &p, &s), QLITE_OK) << qlite_last_error();
    for (const auto& part : parts) EXPECT_EQ(qlite_prefill(s, part.data(), part.size()), QLITE_OK);
    std::vector<float> l = Logits(s);
    qlite_session_free(s);
    return l;
  }
  static uint64_t NPast(qlite_session* s) {
    qlite_session_info info;
    EXPECT_EQ(qlite_session_get_info(s, &info), QLITE_OK);
    return info.n_past;
  }
};

const char* kStoryA = "Once upon a time, there was a little girl named Lily. She loved to play outside";
const char* kStoryB = " in the park with her dog. One day, the sun was hot and they went home.";
const char* kStoryC = " under the big tree. She saw a bird and said hello to it.";

constexpr qlite_kv_type kKvTypes[] = {QLITE_KV_F32, QLITE_KV_F16, QLITE_KV_Q8, QLITE_KV_Q4};

TEST_F(SessionApi, AppendingEqualsPrefillingAtOnceForEveryKvTypeAlsoPastTheWindow) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true), b = Tokens(m, kStoryB, false);
  std::vector<int32_t> ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  for (qlite_kv_type kv : kKvTypes) {
    // 512: all in the window; 24: A alone fills it, so B's positions slide it.
    for (uint32_t window : {512u, 24u}) {
      const qlite_session_params p = Params(kv, window);
      const std::vector<float> once = Fed(m, p, {ab}), appended = Fed(m, p, {a, b});
      // Token by token (decode path) as well.
      std::vector<std::vector<int32_t>> singles = {a};
      for (int32_t t : b) singles.push_back({t});
      const std::vector<float> decoded = Fed(m, p, singles);
      EXPECT_LT(MaxDiff(once, appended), 1e-4f) << "kv " << kv << " window " << window;
      // A decode token attends its f16 rows (f16 and q4's exact rows) through another kernel
      // than a prefill chunk: equal to f16 rounding.
      const bool f16_rows = kv == QLITE_KV_F16 || kv == QLITE_KV_Q4;
      EXPECT_LT(MaxDiff(once, decoded), f16_rows ? 2e-2f : 1e-4f) << "kv " << kv << " window " << window;
    }
  }
}

TEST_F(SessionApi, SeekThenAppendEqualsAFreshRun) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true), b = Tokens(m, kStoryB, false),
                             c = Tokens(m, kStoryC, false);
  ASSERT_LT(b.size(), 32u);  // a q4 cache goes back at most 32 positions
  std::vector<int32_t> ac = a;
  ac.insert(ac.end(), c.begin(), c.end());
  for (qlite_kv_type kv : kKvTypes) {
    const qlite_session_params p = Params(kv, 256);
    const std::vector<float> fresh = Fed(m, p, {ac});
    qlite_session* s = nullptr;
    ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
    ASSERT_EQ(qlite_prefill(s, a.data(), a.size()), QLITE_OK);
    ASSERT_EQ(qlite_prefill(s, b.data(), b.size()), QLITE_OK);
    EXPECT_EQ(qlite_session_seek(s, a.size() + b.size() + 1), QLITE_ERR_INVALID_ARGUMENT);
    ASSERT_EQ(qlite_session_seek(s, a.size()), QLITE_OK) << qlite_last_error();
    EXPECT_EQ(NPast(s), a.size());
    const float* stale = nullptr;
    EXPECT_NE(qlite_get_logits(s, &stale), QLITE_OK);  // the logits of position n_past - 1 are gone
    ASSERT_EQ(qlite_prefill(s, c.data(), c.size()), QLITE_OK);
    EXPECT_LT(MaxDiff(fresh, Logits(s)), 1e-4f) << "kv " << kv;
    qlite_session_free(s);
  }
}

TEST_F(SessionApi, SeekIsRefusedWhereTheWindowHasEvictedWhatItNeeds) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true);
  ASSERT_GT(a.size(), 20u);
  qlite_session_params p = Params(QLITE_KV_F32, 16);
  p.n_sink_tokens = 4;
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  ASSERT_EQ(qlite_prefill(s, a.data(), a.size()), QLITE_OK);
  EXPECT_EQ(qlite_session_seek(s, a.size() - 5), QLITE_ERR_CONTEXT);
  EXPECT_NE(std::string(qlite_last_error()).find("evicted"), std::string::npos) << qlite_last_error();
  EXPECT_EQ(NPast(s), a.size());  // unchanged
  // Within the sinks it is exact again: seek to 3, feed the rest, as a fresh run.
  ASSERT_EQ(qlite_session_seek(s, 3), QLITE_OK) << qlite_last_error();
  ASSERT_EQ(qlite_prefill(s, a.data() + 3, a.size() - 3), QLITE_OK);
  EXPECT_LT(MaxDiff(Fed(m, p, {a}), Logits(s)), 1e-4f);
  qlite_session_free(s);
  // A q4 cache's exact recent rows: at most 32 positions back.
  p = Params(QLITE_KV_Q4, 256);
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  std::vector<int32_t> aa = a;
  for (int i = 0; i < 4; ++i) aa.insert(aa.end(), a.begin() + 1, a.end());
  ASSERT_GT(aa.size(), 4 + 64 + 31 + 20u);  // the exact rows' ring has wrapped
  ASSERT_EQ(qlite_prefill(s, aa.data(), aa.size()), QLITE_OK);
  EXPECT_EQ(qlite_session_seek(s, aa.size() - 40), QLITE_ERR_CONTEXT);
  EXPECT_EQ(qlite_session_seek(s, aa.size() - 20), QLITE_OK) << qlite_last_error();
  qlite_session_free(s);
}

TEST_F(SessionApi, SyncProcessesOnlyTheNewPartAndFallsBackToAFullPrefill) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true), b = Tokens(m, kStoryB, false),
                             c = Tokens(m, kStoryC, false);
  std::vector<int32_t> ab = a, abc;
  ab.insert(ab.end(), b.begin(), b.end());
  abc = ab;
  abc.insert(abc.end(), c.begin(), c.end());
  std::vector<int32_t> ac = a;
  ac.insert(ac.end(), c.begin(), c.end());
  for (uint32_t window : {256u, 24u}) {
    const qlite_session_params p = Params(QLITE_KV_F16, window);
    qlite_session* s = nullptr;
    ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
    size_t reused = 99;
    ASSERT_EQ(qlite_session_sync(s, ab.data(), ab.size(), &reused), QLITE_OK) << qlite_last_error();
    EXPECT_EQ(reused, 0u);
    ASSERT_EQ(qlite_session_sync(s, abc.data(), abc.size(), &reused), QLITE_OK) << qlite_last_error();
    EXPECT_EQ(reused, ab.size()) << "window " << window;  // also once the window has slid
    EXPECT_EQ(NPast(s), abc.size());
    EXPECT_LT(MaxDiff(Fed(m, p, {abc}), Logits(s)), 1e-4f) << "window " << window;
    // The same conversation again: nothing to do.
    ASSERT_EQ(qlite_session_sync(s, abc.data(), abc.size(), &reused), QLITE_OK);
    EXPECT_EQ(reused, abc.size());
    // A conversation that diverges after a (b and c may share their first tokens): kept up
    // to there when the window still holds it, else only its 4 sinks; the logits are a
    // fresh run's either way.
    const size_t common = std::mismatch(ab.begin(), ab.end(), ac.begin()).first - ab.begin();
    ASSERT_GE(common, a.size());
    ASSERT_EQ(qlite_session_sync(s, ac.data(), ac.size(), &reused), QLITE_OK) << qlite_last_error();
    EXPECT_EQ(reused, window == 256 ? common : 4u) << "window " << window;
    EXPECT_LT(MaxDiff(Fed(m, p, {ac}), Logits(s)), 1e-4f) << "window " << window;
    // A change among evicted positions is seen through their hash.
    if (window == 24) {
      ASSERT_EQ(qlite_session_sync(s, abc.data(), abc.size(), &reused), QLITE_OK);
      std::vector<int32_t> changed = abc;
      changed[6] = changed[6] == 300 ? 301 : 300;
      changed.push_back(c[0]);
      ASSERT_EQ(qlite_session_sync(s, changed.data(), changed.size(), &reused), QLITE_OK);
      EXPECT_EQ(reused, 4u);
      changed[1] = changed[1] == 300 ? 301 : 300;  // within the sinks
      ASSERT_EQ(qlite_session_sync(s, changed.data(), changed.size(), &reused), QLITE_OK);
      EXPECT_EQ(reused, 1u);
      EXPECT_LT(MaxDiff(Fed(m, p, {changed}), Logits(s)), 1e-4f);
      changed[0] = changed[0] == 300 ? 301 : 300;
      ASSERT_EQ(qlite_session_sync(s, changed.data(), changed.size(), &reused), QLITE_OK);
      EXPECT_EQ(reused, 0u);
      EXPECT_LT(MaxDiff(Fed(m, p, {changed}), Logits(s)), 1e-4f);
    }
    qlite_session_free(s);
  }
}

TEST_F(SessionApi, TextFormsEqualTheTokenForms) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const qlite_session_params p = Params(QLITE_KV_F32, 0);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true), b = Tokens(m, kStoryB, false);
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  size_t reused = 9;
  const std::string ab = std::string(kStoryA) + kStoryB;
  ASSERT_EQ(qlite_session_sync_text(s, kStoryA, std::strlen(kStoryA), 1, &reused), QLITE_OK) << qlite_last_error();
  EXPECT_EQ(reused, 0u);
  EXPECT_EQ(NPast(s), a.size());
  ASSERT_EQ(qlite_session_append_text(s, kStoryB, std::strlen(kStoryB)), QLITE_OK) << qlite_last_error();
  EXPECT_EQ(NPast(s), a.size() + b.size());  // no BOS
  EXPECT_LT(MaxDiff(Fed(m, p, {a, b}), Logits(s)), 1e-4f);
  // The whole text again: what tokenizes the same is kept.
  const std::vector<int32_t> whole = Tokens(m, ab, true);
  ASSERT_EQ(qlite_session_sync_text(s, ab.data(), ab.size(), 1, &reused), QLITE_OK);
  std::vector<int32_t> held = a;
  held.insert(held.end(), b.begin(), b.end());
  size_t common = std::mismatch(whole.begin(), whole.end(), held.begin(), held.end()).first - whole.begin();
  if (common == whole.size() && whole.size() < held.size()) --common;  // the last token is fed again
  EXPECT_EQ(reused, common);
  EXPECT_LT(MaxDiff(Fed(m, p, {whole}), Logits(s)), 1e-4f);
  EXPECT_EQ(qlite_session_sync(s, nullptr, 0, nullptr), QLITE_ERR_INVALID_ARGUMENT);
  const int32_t bad[] = {1, 100000};
  EXPECT_EQ(qlite_session_sync(s, bad, 2, nullptr), QLITE_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(NPast(s), whole.size());  // a refused sync leaves the session as it was
  qlite_session_free(s);
}

struct Collected {
  std::string text;
  std::vector<int32_t> tokens;
};
int Collect(void* user, int32_t token, const char* piece, size_t len) {
  auto* c = static_cast<Collected*>(user);
  c->text.append(piece, len);
  if (token >= 0) c->tokens.push_back(token);
  return 0;
}

TEST_F(SessionApi, GenerateContinuesAConversationWithoutBos) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const qlite_session_params p = Params(QLITE_KV_F32, 0);
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  Collected first, second;
  qlite_generate_stats st;
  ASSERT_EQ(qlite_generate(s, kStoryA, 8, 0, Collect, &first, &st), QLITE_OK);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true), b = Tokens(m, kStoryB, false);
  EXPECT_EQ(NPast(s), a.size() + 8);
  ASSERT_EQ(qlite_generate(s, kStoryB, 8, 0, Collect, &second, &st), QLITE_OK);
  EXPECT_EQ(st.n_prompt_tokens, b.size());  // no BOS
  EXPECT_EQ(NPast(s), a.size() + 8 + b.size() + 8);
  // The same tokens fed by hand give the same continuation.
  std::vector<int32_t> all = a;
  all.insert(all.end(), first.tokens.begin(), first.tokens.end());
  all.insert(all.end(), b.begin(), b.end());
  EXPECT_EQ(Greedy(m, all, 8), second.tokens);
  // An empty prompt continues from the current logits.
  Collected third;
  ASSERT_EQ(qlite_generate(s, "", 4, 0, Collect, &third, &st), QLITE_OK);
  all.insert(all.end(), second.tokens.begin(), second.tokens.end());
  EXPECT_EQ(Greedy(m, all, 4), third.tokens);
  qlite_session_free(s);
}

// Greedy text of kStoryA's continuation with the given stop strings.
std::string Continue(qlite_model* m, const std::vector<const char*>& stops, uint32_t n = 60) {
  qlite_session_params p = qlite_session_default_params();
  p.kv_type = QLITE_KV_F32;
  p.sampler.temperature = 0;
  p.sampler.stop_strings = stops.data();
  p.sampler.n_stop_strings = stops.size();
  qlite_session* s = nullptr;
  EXPECT_EQ(qlite_session_create(m, &p, &s), QLITE_OK) << qlite_last_error();
  Collected c;
  EXPECT_EQ(qlite_generate(s, "Once upon a time", n, 0, Collect, &c, nullptr), QLITE_OK) << qlite_last_error();
  qlite_session_free(s);
  return c.text;
}

TEST_F(SessionApi, StopStringsEndGenerationAcrossTokensAndAreNeverEmitted) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const std::string full = Continue(m, {});
  ASSERT_GT(full.size(), 60u) << full;
  // A stop string spanning several tokens (stories260K's tokens are short).
  const std::string stop = full.substr(30, 12);
  const size_t at = full.find(stop);
  EXPECT_EQ(Continue(m, {stop.c_str()}), full.substr(0, at));
  // One that never matches changes nothing, even though its start appears.
  const std::string never = full.substr(20, 4) + "\x01never";
  EXPECT_EQ(Continue(m, {never.c_str(), "zzzz"}), full);
  // Overlapping prefixes: the longer one shares the shorter's start but never completes;
  // the shorter, starting 2 bytes later, ends the text.
  const std::string longer = full.substr(40, 6) + "\x01", shorter = full.substr(42, 8);
  EXPECT_EQ(Continue(m, {longer.c_str(), shorter.c_str()}), full.substr(0, full.find(shorter)));
}

TEST_F(SessionApi, LogitBiasBansTheGreedyToken) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true);
  qlite_session_params p = Params(QLITE_KV_F32, 0);
  qlite_session* s = nullptr;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  ASSERT_EQ(qlite_prefill(s, a.data(), a.size()), QLITE_OK);
  std::vector<float> l = Logits(s);
  int32_t greedy = 0;
  ASSERT_EQ(qlite_sample(s, &greedy), QLITE_OK);
  EXPECT_EQ(greedy, std::max_element(l.begin(), l.end()) - l.begin());
  qlite_session_free(s);
  l[greedy] = -INFINITY;
  const int32_t second = (int32_t)(std::max_element(l.begin(), l.end()) - l.begin());
  const qlite_logit_bias ban[] = {{greedy, -INFINITY}};
  p.sampler.logit_bias = ban;
  p.sampler.n_logit_bias = 1;
  p.sampler.temperature = 0.7f;  // drawn as well: never the banned one
  p.sampler.top_k = 0;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK) << qlite_last_error();
  ASSERT_EQ(qlite_prefill(s, a.data(), a.size()), QLITE_OK);
  for (int i = 0; i < 200; ++i) {
    int32_t t = 0;
    ASSERT_EQ(qlite_sample(s, &t), QLITE_OK);
    ASSERT_NE(t, greedy);
  }
  qlite_session_free(s);
  p.sampler.temperature = 0;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  ASSERT_EQ(qlite_prefill(s, a.data(), a.size()), QLITE_OK);
  int32_t t = 0;
  ASSERT_EQ(qlite_sample(s, &t), QLITE_OK);
  EXPECT_EQ(t, second);
  qlite_session_free(s);
}

// Samples n tokens (sample, then feed) and returns them.
std::vector<int32_t> Draw(qlite_session* s, size_t n) {
  std::vector<int32_t> out;
  for (size_t i = 0; i < n; ++i) {
    int32_t t = 0;
    EXPECT_EQ(qlite_sample(s, &t), QLITE_OK);
    out.push_back(t);
    EXPECT_EQ(qlite_decode(s, t), QLITE_OK);
  }
  return out;
}

TEST_F(SessionApi, RestoredStateContinuesExactlyAndBadStatesAreRefused) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  ASSERT_NE(m, nullptr);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true);
  for (qlite_kv_type kv : kKvTypes) {
    for (uint32_t window : {0u, 32u}) {  // 32: the window slides before the save
      qlite_session_params p = Params(kv, window);
      p.sampler.temperature = 0.9f;
      p.sampler.seed = 1234;
      p.sampler.repeat_penalty = 1.1f;
      qlite_session *s = nullptr, *t = nullptr;
      ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
      ASSERT_EQ(qlite_prefill(s, a.data(), a.size()), QLITE_OK);
      const std::vector<int32_t> whole = Draw(s, 40);
      ASSERT_EQ(qlite_session_reset(s), QLITE_OK);
      ASSERT_EQ(qlite_prefill(s, a.data(), a.size()), QLITE_OK);
      std::vector<int32_t> got = Draw(s, 15);
      size_t size = 0, written = 0;
      ASSERT_EQ(qlite_session_state_size(s, &size), QLITE_OK);
      std::vector<uint8_t> state(size);
      EXPECT_EQ(qlite_session_save_state(s, state.data(), size - 1, &written), QLITE_ERR_OUT_OF_MEMORY);
      ASSERT_EQ(qlite_session_save_state(s, state.data(), state.size(), &written), QLITE_OK) << qlite_last_error();
      EXPECT_EQ(written, size);
      qlite_session_free(s);
      ASSERT_EQ(qlite_session_create(m, &p, &t), QLITE_OK);
      ASSERT_EQ(qlite_session_load_state(t, state.data(), state.size()), QLITE_OK) << qlite_last_error();
      const std::vector<int32_t> rest = Draw(t, 25);
      got.insert(got.end(), rest.begin(), rest.end());
      EXPECT_EQ(got, whole) << "kv " << kv << " window " << window;

      // Refused, the session unchanged: corrupt bytes, truncation, other parameters.
      const uint64_t n_past = NPast(t);
      std::vector<uint8_t> bad = state;
      bad[bad.size() / 2] ^= 0x40;
      EXPECT_EQ(qlite_session_load_state(t, bad.data(), bad.size()), QLITE_ERR_FORMAT);
      bad = state;
      bad[40] ^= 1;  // in the header, after the checksum field
      EXPECT_EQ(qlite_session_load_state(t, bad.data(), bad.size()), QLITE_ERR_FORMAT);
      EXPECT_EQ(qlite_session_load_state(t, state.data(), state.size() - 7), QLITE_ERR_FORMAT);
      EXPECT_EQ(qlite_session_load_state(t, state.data(), 10), QLITE_ERR_FORMAT);
      EXPECT_EQ(NPast(t), n_past);
      qlite_session_free(t);
      qlite_session_params other = p;
      other.window = window ? 64 : 32;
      ASSERT_EQ(qlite_session_create(m, &other, &t), QLITE_OK);
      EXPECT_EQ(qlite_session_load_state(t, state.data(), state.size()), QLITE_ERR_MISMATCH);
      EXPECT_NE(std::string(qlite_last_error()).find("parameters"), std::string::npos) << qlite_last_error();
      qlite_session_free(t);
    }
  }
}

TEST_F(SessionApi, StateFilesRoundTripAndAnotherModelIsRefused) {
  QLITE_REQUIRE_DATA(bin, kBin);
  qlite_model* m = Model();
  qlite_model* q8 = Model(DType::I8);
  ASSERT_NE(m, nullptr);
  ASSERT_NE(q8, nullptr);
  const std::vector<int32_t> a = Tokens(m, kStoryA, true);
  qlite_session_params p = Params(QLITE_KV_Q8, 0);
  p.sampler.temperature = 1.0f;
  p.sampler.seed = 7;
  qlite_session *s = nullptr, *t = nullptr;
  ASSERT_EQ(qlite_session_create(m, &p, &s), QLITE_OK);
  ASSERT_EQ(qlite_prefill(s, a.data(), a.size()), QLITE_OK);
  const std::string path = testing::TempDir() + "/session_api_state." + std::to_string(getpid());
  ASSERT_EQ(qlite_session_save_state_file(s, path.c_str()), QLITE_OK) << qlite_last_error();
  const std::vector<int32_t> want = Draw(s, 20);
  ASSERT_EQ(qlite_session_create(m, &p, &t), QLITE_OK);
  ASSERT_EQ(qlite_session_load_state_file(t, path.c_str()), QLITE_OK) << qlite_last_error();
  EXPECT_EQ(Draw(t, 20), want);
  qlite_session_free(t);
  ASSERT_EQ(qlite_session_create(q8, &p, &t), QLITE_OK);  // same fingerprint, other weights
  EXPECT_EQ(qlite_session_load_state_file(t, path.c_str()), QLITE_ERR_MISMATCH);
  EXPECT_NE(std::string(qlite_last_error()).find("another model"), std::string::npos) << qlite_last_error();
  EXPECT_EQ(qlite_session_load_state_file(t, (path + ".missing").c_str()), QLITE_ERR_IO);
  qlite_session_free(t);
  qlite_session_free(s);
  std::remove(path.c_str());
}

}  // namespace
