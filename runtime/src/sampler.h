// Sampler: picks the next token from logits. Chain (llama.cpp's default order):
// repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw. temperature <= 0
// is greedy (argmax after the penalty, ties to the lowest id). All scratch lives in one
// block given at construction (a session's arena) or allocated then; Sample() does not
// allocate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

namespace qlite {

struct SamplerParams {
  float temperature = 0.0f;   // <= 0: greedy
  int32_t top_k = 0;          // <= 0 or >= vocab: off
  float top_p = 1.0f;         // >= 1: off
  float min_p = 0.0f;         // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off
  int32_t repeat_last_n = 64;   // tokens of history the penalty looks at
  uint64_t seed = 0;
};

// Added to a token's logit before sampling; -infinity bans the token.
struct LogitBias {
  int32_t token;
  float bias;
};

// PCG32 (XSH-RR): small, fast and identical on every platform.
class Pcg32 {
 public:
  explicit Pcg32(uint64_t seed = 0) { Seed(seed); }
  void Seed(uint64_t seed);
  uint32_t Next();
  float Uniform() { return static_cast<float>(Next() >> 8) * (1.0f / 16777216.0f); }  // [0, 1)
  uint64_t state() const { return state_; }
  void set_state(uint64_t state) { state_ = state; }

 private:
  uint64_t state_ = 0;
};

class Sampler {
 public:
  // scratch: ScratchBytes(vocab_size, params) bytes, 64-aligned, that outlive the sampler;
  // nullptr allocates them here.
  Sampler(int32_t vocab_size, const SamplerParams& params, void* scratch = nullptr);
  static size_t ScratchBytes(int32_t vocab_size, const SamplerParams& params);

  // Picks a token from logits[vocab_size] (not modified). Does not record it: call Accept.
  int32_t Sample(const float* logits);
  // Records a token (prompt or generated) in the penalty history.
  void Accept(int32_t token);
  // Clears history and reseeds.
  void Reset();
  // Clears the history only (the random stream goes on).
  void ClearHistory() { history_len_ = history_pos_ = 0; }
  // Biases added to the (penalized) logits before every draw; the array must outlive the
  // sampler (a session's arena). Tokens outside the vocabulary are ignored.
  void SetLogitBias(const LogitBias* bias, size_t n) {
    bias_ = bias;
    n_bias_ = n;
  }

  // What saved state holds of the sampler (random stream, penalty history): its bytes, and
  // writing/reading them. LoadState checks sizes and token ids and changes nothing on false.
  size_t StateBytes() const;
  void SaveState(uint8_t* out) const;
  bool LoadState(const uint8_t* in, size_t size);

  const SamplerParams& params() const { return params_; }
  int32_t vocab_size() const { return vocab_; }

  // Stages, public for tests. Candidates are (id, logit) pairs; n = how many are live.
  struct Candidate {
    int32_t id;
    float logit;
  };
  // Applies the penalty to logits in place (each distinct token of the history once).
  void ApplyRepeatPenalty(float* logits);
  // Keeps the candidates the filters let through, sorted by logit descending (ties by id);
  // returns how many remain (>= 1).
  size_t Filter(const float* logits, Candidate* cand);

 private:
  int32_t vocab_;
  SamplerParams params_;
  Pcg32 rng_;
  template <typename T>
  struct Array {  // a view into the scratch block
    T* p = nullptr;
    size_t n = 0;
    T* data() { return p; }
    T* begin() { return p; }
    T* end() { return p + n; }
    size_t size() const { return n; }
    bool empty() const { return n == 0; }
    T& operator[](size_t i) { return p[i]; }
  };
  std::unique_ptr<uint8_t[]> owned_;  // only when no scratch was given
  Array<float> logits_;      // penalized copy
  Array<Candidate> cand_;
  Array<float> probs_;
  Array<int32_t> history_;   // ring buffer of the last repeat_last_n tokens
  size_t history_len_ = 0, history_pos_ = 0;
  Array<uint32_t> seen_;     // per-token stamp: dedups the history without allocating
  uint32_t stamp_ = 0;
  const LogitBias* bias_ = nullptr;
  size_t n_bias_ = 0;
};

}  // namespace qlite
