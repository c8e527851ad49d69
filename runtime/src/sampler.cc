#include "sampler.h"

#include <type_traits>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace qlite {

void Pcg32::Seed(uint64_t seed) {
  state_ = 0;
  Next();
  state_ += seed;
  Next();
}

uint32_t Pcg32::Next() {
  const uint64_t old = state_;
  state_ = old * 6364136223846793005ull + 1442695040888963407ull;
  const uint32_t xorshifted = static_cast<uint32_t>(((old >> 18) ^ old) >> 27);
  const uint32_t rot = static_cast<uint32_t>(old >> 59);
  return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
}

namespace {
constexpr size_t kScratchAlign = 64;
size_t AlignUp(size_t n) { return (n + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }
size_t HistoryLength(const SamplerParams& p) { return p.repeat_last_n > 0 ? size_t(p.repeat_last_n) : 0; }
}  // namespace

size_t Sampler::ScratchBytes(int32_t vocab_size, const SamplerParams& params) {
  const size_t v = vocab_size > 0 ? size_t(vocab_size) : 1;
  return AlignUp(v * sizeof(float)) + AlignUp(v * sizeof(Candidate)) + AlignUp(v * sizeof(float)) +
         AlignUp(v * sizeof(uint32_t)) + AlignUp(HistoryLength(params) * sizeof(int32_t));
}

Sampler::Sampler(int32_t vocab_size, const SamplerParams& params, void* scratch)
    : vocab_(vocab_size > 0 ? vocab_size : 1), params_(params), rng_(params.seed) {
  if (!scratch) {
    owned_.reset(new uint8_t[ScratchBytes(vocab_, params_) + kScratchAlign]);
    scratch = owned_.get() + (kScratchAlign - reinterpret_cast<uintptr_t>(owned_.get()) % kScratchAlign);
  }
  uint8_t* p = static_cast<uint8_t*>(scratch);
  auto carve = [&p](auto* array, size_t n) {
    using T = std::remove_reference_t<decltype(*array->p)>;
    array->p = reinterpret_cast<T*>(p);
    array->n = n;
    p += AlignUp(n * sizeof(T));
  };
  carve(&logits_, vocab_);
  carve(&cand_, vocab_);
  carve(&probs_, vocab_);
  carve(&seen_, vocab_);
  carve(&history_, HistoryLength(params_));
  std::fill(seen_.begin(), seen_.end(), 0u);
}

void Sampler::Reset() {
  history_len_ = history_pos_ = 0;
  rng_.Seed(params_.seed);
}

size_t Sampler::StateBytes() const {
  return sizeof(uint64_t) + 2 * sizeof(uint64_t) + history_.size() * sizeof(int32_t);
}

void Sampler::SaveState(uint8_t* out) const {
  const uint64_t head[3] = {rng_.state(), history_len_, history_pos_};
  std::memcpy(out, head, sizeof(head));
  if (!history_.empty()) std::memcpy(out + sizeof(head), history_.p, history_.size() * sizeof(int32_t));
}

bool Sampler::LoadState(const uint8_t* in, size_t size) {
  if (size != StateBytes()) return false;
  uint64_t head[3];
  std::memcpy(head, in, sizeof(head));
  const size_t n = history_.size();
  if (head[1] > n || (n ? head[2] >= n : head[2] != 0)) return false;
  for (size_t i = 0; i < head[1]; ++i) {
    int32_t t;
    std::memcpy(&t, in + sizeof(head) + i * sizeof(int32_t), sizeof(t));
    if (t < 0 || t >= vocab_) return false;
  }
  rng_.set_state(head[0]);
  history_len_ = head[1];
  history_pos_ = head[2];
  if (n) std::memcpy(history_.p, in + sizeof(head), n * sizeof(int32_t));
  return true;
}

void Sampler::Accept(int32_t token) {
  if (history_.empty() || token < 0 || token >= vocab_) return;
  history_[history_pos_] = token;
  history_pos_ = (history_pos_ + 1) % history_.size();
  if (history_len_ < history_.size()) ++history_len_;
}

void Sampler::ApplyRepeatPenalty(float* logits) {
  const float penalty = params_.repeat_penalty;
  if (penalty == 1.0f || history_len_ == 0) return;
  if (++stamp_ == 0) {  // wrapped: old stamps could collide
    std::fill(seen_.begin(), seen_.end(), 0);
    stamp_ = 1;
  }
  for (size_t i = 0; i < history_len_; ++i) {
    const int32_t t = history_[i];
    if (seen_[t] == stamp_) continue;
    seen_[t] = stamp_;
    // llama.cpp: shrink positive logits, push negative ones further down.
    logits[t] = logits[t] <= 0.0f ? logits[t] * penalty : logits[t] / penalty;
  }
}

static bool Before(const Sampler::Candidate& a, const Sampler::Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Moves the m best of cand[0, n) to the front, sorted.
static void SortTop(Sampler::Candidate* cand, size_t m, size_t n) {
  if (m < n) std::nth_element(cand, cand + m, cand + n, Before);
  std::sort(cand, cand + m, Before);
}

size_t Sampler::Filter(const float* logits, Candidate* cand) {
  size_t n = static_cast<size_t>(vocab_);
  for (size_t i = 0; i < n; ++i) {
    // A NaN would break the sort's ordering (undefined behaviour): treat it as impossible.
    const float l = std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i];
    cand[i] = Candidate{static_cast<int32_t>(i), l};
  }
  size_t sorted = 0;  // cand[0, sorted) holds the best, in order
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    n = sorted = static_cast<size_t>(params_.top_k);
    SortTop(cand, n, static_cast<size_t>(vocab_));
  }
  const bool top_p = params_.top_p < 1.0f, min_p = params_.min_p > 0.0f;
  if (!top_p && !min_p) return n;

  float max_logit = cand[0].logit;
  for (size_t i = 1; i < n; ++i) max_logit = std::max(max_logit, cand[i].logit);
  // Every filter keeps a prefix of the sorted order, so min-p (a plain threshold) cuts
  // first and spares sorting the tail. top-p's probabilities are normalized over what
  // top-k left (as llama.cpp does), so that sum is taken before min-p narrows the set.
  double z = 0.0;
  if (top_p) {
    for (size_t i = 0; i < n; ++i) z += std::exp(cand[i].logit - max_logit);
  }
  if (min_p) {
    // p_i >= min_p * p_max  <=>  logit_i >= max_logit + log(min_p)
    const float cut = max_logit + std::log(params_.min_p);
    if (sorted) {
      size_t m = 1;
      while (m < n && cand[m].logit >= cut) ++m;
      n = sorted = m;
    } else {
      n = static_cast<size_t>(
          std::partition(cand, cand + n, [cut](const Candidate& c) { return c.logit >= cut; }) - cand);
    }
  }
  if (top_p) {
    // Sort only as much of the head as the mass needs: 64 best, then 4x more, ...
    const double target = static_cast<double>(params_.top_p) * z;
    double cum = 0.0;
    size_t i = 0;
    for (size_t m = std::min<size_t>(n, 64);; m = std::min(n, m * 4)) {
      if (m > sorted) {
        SortTop(cand + sorted, m - sorted, n - sorted);
        sorted = m;
      }
      for (; i < m; ++i) {
        cum += std::exp(cand[i].logit - max_logit);
        if (cum >= target) return i + 1;
      }
      if (m == n) break;
    }
  }
  if (sorted < n) SortTop(cand + sorted, n - sorted, n - sorted);
  return n > 0 ? n : 1;
}

int32_t Sampler::Sample(const float* logits) {
  const float* l = logits;
  if ((params_.repeat_penalty != 1.0f && history_len_ > 0) || n_bias_) {
    std::copy(logits, logits + vocab_, logits_.begin());
    ApplyRepeatPenalty(logits_.data());
    for (size_t i = 0; i < n_bias_; ++i) {
      if (bias_[i].token >= 0 && bias_[i].token < vocab_) logits_[bias_[i].token] += bias_[i].bias;
    }
    l = logits_.data();
  }
  if (params_.temperature <= 0.0f) {
    int32_t best = 0;
    for (int32_t i = 1; i < vocab_; ++i) {
      if (l[i] > l[best]) best = i;
    }
    return best;
  }
  const size_t n = Filter(l, cand_.data());
  float max_logit = cand_[0].logit;
  for (size_t i = 1; i < n; ++i) max_logit = std::max(max_logit, cand_[i].logit);
  const float inv_t = 1.0f / params_.temperature;
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    probs_[i] = std::exp((cand_[i].logit - max_logit) * inv_t);
    sum += probs_[i];
  }
  const double r = static_cast<double>(rng_.Uniform()) * sum;
  double cum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    cum += probs_[i];
    if (r < cum) return cand_[i].id;
  }
  return cand_[n - 1].id;  // rounding left r at the very top
}

}  // namespace qlite
