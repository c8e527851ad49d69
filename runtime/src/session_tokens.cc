// Multi-turn sessions: the tokens a session holds, going back to an earlier position (seek)
// and bringing a session to a whole conversation while reusing the prefix it holds.
#include <algorithm>
#include <cstring>

#include "session.h"

namespace qlite {
namespace {

// Order-dependent hash of a token sequence, one token at a time (splitmix64's finalizer).
uint64_t FoldToken(uint64_t h, int32_t token) {
  uint64_t z = h + 0x9e3779b97f4a7c15ull + (uint32_t)token;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Positions [evicted_from, evicted_to) of a ring of `r` after `pos` positions: those written
// over (empty while the ring has not wrapped).
uint64_t EvictedEnd(const KvRingShape& r, uint64_t pos) {
  return pos > r.slots ? pos - (r.slots - r.sinks) : r.sinks;
}

}  // namespace

void Session::BindTokens(Arena* a) {
  token_ring_.slots = plan_.kv.window;
  token_ring_.sinks = std::min(plan_.kv.n_sinks, plan_.kv.window / 2);
  tokens_ = a->Array<int32_t>(token_ring_.slots);
  evicted_hash_ = kEvictedSeed;
  if (plan_.n_stop_strings) {
    stop_offsets_ = a->Array<uint32_t>(plan_.n_stop_strings + 1);
    stop_text_ = static_cast<char*>(a->Allocate(plan_.stop_bytes, 1));
  }
  if (plan_.n_logit_bias) logit_bias_ = a->Array<LogitBias>(plan_.n_logit_bias);
}

void Session::CopySamplerLists(const qlite_sampler_params& p) {
  uint32_t at = 0;
  for (uint32_t i = 0; i < plan_.n_stop_strings; ++i) {
    const size_t len = std::strlen(p.stop_strings[i]);
    std::memcpy(stop_text_ + at, p.stop_strings[i], len);
    stop_offsets_[i] = at;
    at += (uint32_t)len;
  }
  if (stop_offsets_) stop_offsets_[plan_.n_stop_strings] = at;
  for (uint32_t i = 0; i < plan_.n_logit_bias; ++i) logit_bias_[i] = {p.logit_bias[i].token, p.logit_bias[i].bias};
  sampler_->SetLogitBias(logit_bias_, plan_.n_logit_bias);
}

void Session::RecordTokens(uint64_t first, const int32_t* tokens, size_t n) {
  const KvRingShape& r = token_ring_;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t pos = first + i;
    const uint32_t slot = KvRingSlot(pos, r.slots, r.sinks);
    if (pos >= r.slots) evicted_hash_ = FoldToken(evicted_hash_, tokens_[slot]);  // position pos - (slots - sinks)
    tokens_[slot] = tokens[i];
  }
}

int32_t Session::TokenAt(uint64_t pos) const {
  if (pos >= pos_) return -1;
  if (pos >= token_ring_.sinks && pos < EvictedEnd(token_ring_, pos_)) return -1;
  return tokens_[KvRingSlot(pos, token_ring_.slots, token_ring_.sinks)];
}

bool Session::SeekAllowed(uint64_t n) const {
  if (n > pos_) return false;
  if (n == pos_ || n == 0) return true;
  if (device_) return false;
  // Going back to n is exact when every key position n attends (and the tokens the penalty
  // history needs) is still held: a ring that has never wrapped, or n within its sinks.
  auto ring_ok = [&](uint64_t slots, uint64_t sinks) { return pos_ <= slots || n <= sinks; };
  if (!ring_ok(token_ring_.slots, token_ring_.sinks)) return false;
  const ModelConfig& c = model_->config();
  for (uint32_t l = 0; l < c.n_layers; ++l) {
    const KvLayer& kv = kv_[l];
    if (!ring_ok(kv.slots, kv.sinks)) return false;
    // A kQ4 layer attends its newest exact_recent positions through exact rows, a ring of
    // exact_ring: those of positions n - exact_recent + 1 .. n - 1 must not be overwritten.
    if (kv.exact_recent && pos_ > kv.sinks + kv.exact_ring && n > kv.sinks &&
        n + kv.exact_ring < pos_ + kv.exact_recent - 1)
      return false;
  }
  return true;
}

Status Session::Seek(uint64_t n) {
  if (n > pos_)
    return StatusError(StatusCode::kInvalidArgument, "cannot seek to position %llu: the session holds %llu",
                       (unsigned long long)n, (unsigned long long)pos_);
  if (n == pos_) return Status::Ok();
  if (n == 0) {
    Reset();
    return Status::Ok();
  }
  if (device_)
    return Status(StatusCode::kUnsupported, "seek to a position other than 0 is not supported on a GPU session");
  if (!SeekAllowed(n))
    return StatusError(StatusCode::kContext,
                       "cannot seek to position %llu of %llu: keys it attends to have been evicted from the window "
                       "(%u positions, %u sinks)",
                       (unsigned long long)n, (unsigned long long)pos_, plan_.kv.window, plan_.kv.n_sinks);
  pos_ = n;
  has_logits_ = false;
  evicted_hash_ = kEvictedSeed;  // nothing below n has been evicted (SeekAllowed)
  sampler_->ClearHistory();
  const uint64_t keep = plan_.repeat_last_n > 0 ? std::min<uint64_t>(n, (uint64_t)plan_.repeat_last_n) : 0;
  for (uint64_t p = n - keep; p < n; ++p) sampler_->Accept(TokenAt(p));
  return Status::Ok();
}

Status Session::Sync(const int32_t* tokens, size_t n, size_t* reused) {
  if (!tokens || n == 0) return StatusError(StatusCode::kInvalidArgument, "no tokens to sync to");
  const uint32_t vocab = model_->config().vocab_size;
  for (size_t i = 0; i < n; ++i) {  // checked before the session changes
    if (tokens[i] < 0 || (uint32_t)tokens[i] >= vocab)
      return StatusError(StatusCode::kInvalidArgument, "token %d at index %zu is outside the vocabulary (%u)",
                         tokens[i], i, vocab);
  }
  // The common prefix: the sinks and the window token by token, evicted positions by their
  // hash (a divergence among those is only known to lie after the sinks).
  const uint64_t limit = std::min<uint64_t>(pos_, n);
  const uint64_t sinks = token_ring_.sinks, evicted_end = EvictedEnd(token_ring_, pos_);
  uint64_t common = 0;
  while (common < limit && common < sinks && TokenAt(common) == tokens[common]) ++common;
  if (common == sinks && evicted_end > sinks && n >= evicted_end) {
    uint64_t h = kEvictedSeed;
    for (uint64_t p = sinks; p < evicted_end; ++p) h = FoldToken(h, tokens[p]);
    if (h == evicted_hash_) common = evicted_end;
  }
  if (common >= evicted_end) {
    while (common < limit && TokenAt(common) == tokens[common]) ++common;
  }
  // Something must be fed for the last token's logits, unless they are current already.
  if (common == n && !(common == pos_ && has_logits_)) --common;
  if (!SeekAllowed(common)) common = 0;
  QLITE_RETURN_IF_ERROR(Seek(common));
  if (reused) *reused = (size_t)common;
  if (common == n) return Status::Ok();
  return Prefill(tokens + common, n - common);
}

}  // namespace qlite
