// Saved session state: a versioned header bound to the model, adapters and cache-shaping
// parameters, an XXH64 checksum, then the KV rows in use, the remembered tokens, the sampler's
// random stream and history, and the current logits. Host byte order.
#include <cstring>

#include "qlite/format/checksum.h"
#include "qlite/format/model_file.h"
#include "session.h"

namespace qlite {
namespace {

constexpr char kMagic[8] = {'Q', 'L', 'S', 'T', 'A', 'T', 'E', 0};
constexpr uint32_t kStateVersion = 1;
constexpr size_t kChecksumFrom = 32;  // the checksum covers every byte after its own field

struct StateHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint64_t total_bytes;
  uint64_t checksum;
  uint64_t fingerprint;   // the model file's
  uint64_t weight_bytes;  // tells quantizations of one fingerprint apart
  uint64_t adapter_hash;
  uint32_t n_layers, vocab_size, window, n_sinks;
  uint32_t kv_type, auto_sinks;
  int32_t repeat_last_n;
  uint32_t has_logits;
  uint64_t pos;
  uint64_t evicted_hash;
};
static_assert(offsetof(StateHeader, fingerprint) == kChecksumFrom, "checksum field ends at kChecksumFrom");

}  // namespace

// Every region of the state after the header, in order, for position `pos`: f(bytes, n).
template <typename F>
static void WalkState(const KvLayer* kv, uint32_t n_layers, uint64_t pos, int32_t* tokens, size_t n_tokens,
                      float* logits, size_t vocab, F&& f) {
  f(reinterpret_cast<uint8_t*>(tokens), n_tokens * sizeof(int32_t));
  if (logits) f(reinterpret_cast<uint8_t*>(logits), vocab * sizeof(float));
  for (uint32_t l = 0; l < n_layers; ++l) {
    const KvLayer& L = kv[l];
    const uint64_t live = KvRingLive(pos ? pos - 1 : 0, L.slots) * (pos > 0);
    const size_t row = arch::KvRowBytes(L.type, L.head_dim), scales = arch::KvRowScales(L.type, L.head_dim);
    const uint64_t exact = L.ExactRows() ? KvRingLive(pos ? pos - 1 : 0, L.ExactRows()) * (pos > 0) : 0;
    for (uint32_t h = 0; h < L.n_kv_heads; ++h) {
      f(L.k + h * L.head_bytes(), live * row);
      f(L.v + h * L.head_bytes(), live * row);
      if (scales) {
        f(reinterpret_cast<uint8_t*>(L.k_scales + h * L.head_scales()), live * scales * sizeof(float));
        f(reinterpret_cast<uint8_t*>(L.v_scales + h * L.head_scales()), live * scales * sizeof(float));
      }
      if (exact) {
        f(reinterpret_cast<uint8_t*>(L.k_exact + (size_t)h * L.ExactRows() * L.head_dim), exact * L.head_dim * 2);
        f(reinterpret_cast<uint8_t*>(L.v_exact + (size_t)h * L.ExactRows() * L.head_dim), exact * L.head_dim * 2);
      }
    }
  }
}

size_t Session::StateBytes(uint64_t pos, bool has_logits) const {
  const ModelConfig& c = model_->config();
  uint64_t total = sizeof(StateHeader) + sampler_->StateBytes();
  WalkState(kv_, c.n_layers, pos, tokens_, token_ring_.slots, has_logits ? logits_ : nullptr, c.vocab_size,
            [&](uint8_t*, uint64_t n) { total += n; });
  return total > SIZE_MAX ? 0 : (size_t)total;
}

Status Session::StateSize(size_t* out) const {
  if (device_) return Status(StatusCode::kUnsupported, "saving the state of a GPU session is not supported");
  // The grammar's matcher state is not part of a saved state: a restored session would
  // constrain from the grammar's start, mid-output. Refused rather than inexact.
  if (has_grammar())
    return Status(StatusCode::kUnsupported, "a session with a grammar cannot be saved: clear the grammar first");
  *out = StateBytes(pos_, has_logits_);
  return Status::Ok();
}

Status Session::SaveState(void* buf, size_t capacity, size_t* out_size) const {
  size_t size = 0;
  QLITE_RETURN_IF_ERROR(StateSize(&size));
  if (out_size) *out_size = size;
  if (capacity < size)
    return StatusError(StatusCode::kOutOfMemory, "session state needs %zu bytes, the buffer has %zu", size, capacity);
  const ModelConfig& c = model_->config();
  StateHeader h;
  std::memset(&h, 0, sizeof(h));
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kStateVersion;
  h.header_bytes = sizeof(StateHeader);
  h.total_bytes = size;
  h.fingerprint = model_->file().fingerprint();
  h.weight_bytes = model_->weight_bytes();
  h.adapter_hash = adapter_hash_;
  h.n_layers = c.n_layers;
  h.vocab_size = c.vocab_size;
  h.window = plan_.kv.window;
  h.n_sinks = plan_.kv.n_sinks;
  h.kv_type = (uint32_t)plan_.kv_type;
  h.auto_sinks = plan_.kv.auto_sinks;
  h.repeat_last_n = plan_.repeat_last_n;
  h.has_logits = has_logits_;
  h.pos = pos_;
  h.evicted_hash = evicted_hash_;
  uint8_t* out = static_cast<uint8_t*>(buf);
  std::memcpy(out, &h, sizeof(h));
  size_t at = sizeof(h);
  sampler_->SaveState(out + at);
  at += sampler_->StateBytes();
  WalkState(kv_, c.n_layers, pos_, tokens_, token_ring_.slots, has_logits_ ? logits_ : nullptr, c.vocab_size,
            [&](uint8_t* p, uint64_t n) {
              if (n) std::memcpy(out + at, p, n);
              at += n;
            });
  const uint64_t sum = Xxh64(out + kChecksumFrom, size - kChecksumFrom);
  std::memcpy(out + offsetof(StateHeader, checksum), &sum, sizeof(sum));
  return Status::Ok();
}

Status Session::LoadState(const void* data, size_t size) {
  if (device_) return Status(StatusCode::kUnsupported, "loading the state of a GPU session is not supported");
  if (has_grammar())
    return Status(StatusCode::kUnsupported, "a session with a grammar cannot load a state: clear the grammar first");
  const uint8_t* in = static_cast<const uint8_t*>(data);
  StateHeader h;
  if (size < sizeof(h))
    return StatusError(StatusCode::kFormat, "session state truncated: %zu bytes, the header alone has %zu", size,
                       sizeof(h));
  std::memcpy(&h, in, sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0)
    return Status(StatusCode::kFormat, "not a qlite session state (bad magic)");
  if (h.version != kStateVersion)
    return StatusError(StatusCode::kUnsupported, "session state version %u; this library reads version %u", h.version,
                       kStateVersion);
  if (h.total_bytes != size)
    return StatusError(StatusCode::kFormat, "session state is %zu bytes, its header says %llu (truncated?)", size,
                       (unsigned long long)h.total_bytes);
  if (Xxh64(in + kChecksumFrom, size - kChecksumFrom) != h.checksum)
    return Status(StatusCode::kFormat, "session state checksum mismatch: the state is corrupt");
  if (h.header_bytes != sizeof(h)) return Status(StatusCode::kFormat, "session state header of an unknown size");
  const ModelConfig& c = model_->config();
  if (h.fingerprint != model_->file().fingerprint() || h.weight_bytes != model_->weight_bytes() ||
      h.n_layers != c.n_layers || h.vocab_size != c.vocab_size)
    return Status(StatusCode::kMismatch, "session state was saved with another model");
  if (h.adapter_hash != adapter_hash_)
    return Status(StatusCode::kMismatch, "session state was saved with other adapters (qlite_session_set_adapters)");
  if (h.window != plan_.kv.window || h.n_sinks != plan_.kv.n_sinks || h.auto_sinks != (uint32_t)plan_.kv.auto_sinks ||
      h.kv_type != (uint32_t)plan_.kv_type || h.repeat_last_n != plan_.repeat_last_n)
    return StatusError(StatusCode::kMismatch,
                       "session state was saved with other session parameters (window %u, sinks %u, kv_type %u, "
                       "repeat_last_n %d; this session: %u, %u, %u, %d)",
                       h.window, h.n_sinks, h.kv_type, h.repeat_last_n, plan_.kv.window, plan_.kv.n_sinks,
                       (uint32_t)plan_.kv_type, plan_.repeat_last_n);
  if (h.has_logits > 1 || StateBytes(h.pos, h.has_logits != 0) != size)
    return Status(StatusCode::kFormat, "session state sizes do not match its header");
  // Everything is checked before the session changes: the tokens, then the sampler.
  size_t at = sizeof(h);
  const uint8_t* sampler_state = in + at;
  at += sampler_->StateBytes();
  const uint64_t held = std::min<uint64_t>(h.pos, token_ring_.slots);
  for (uint64_t i = 0; i < held; ++i) {
    int32_t t;
    std::memcpy(&t, in + at + i * sizeof(int32_t), sizeof(t));
    if (t < 0 || (uint32_t)t >= c.vocab_size) return Status(StatusCode::kFormat, "session state holds a bad token");
  }
  if (!sampler_->LoadState(sampler_state, sampler_->StateBytes()))
    return Status(StatusCode::kFormat, "session state's sampler history is invalid");
  WalkState(kv_, c.n_layers, h.pos, tokens_, token_ring_.slots, h.has_logits ? logits_ : nullptr, c.vocab_size,
            [&](uint8_t* p, uint64_t n) {
              if (n) std::memcpy(p, in + at, n);
              at += n;
            });
  pos_ = h.pos;
  has_logits_ = h.has_logits != 0;
  evicted_hash_ = h.evicted_hash;
  return Status::Ok();
}

}  // namespace qlite
