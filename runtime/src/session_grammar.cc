// Constrained output in a session: the grammar memory's layout, the vocabulary index, and
// sampling under a grammar (the sampled token is checked first; only when the grammar refuses
// it are all tokens masked and the sampling repeated).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "session.h"
#include "text.h"
#include "tokenizer.h"

namespace qlite {
namespace {

constexpr uint32_t kMaxEndIds = 64;
constexpr size_t kMaxTokenBytes = 65535;  // lengths are uint16; longer tokens are never allowed

bool IsTextToken(const Tokenizer& tok, int32_t id) {
  const fb::TokenKind k = tok.Kind(id);
  return k == fb::TokenKind::Normal || k == fb::TokenKind::UserDefined || k == fb::TokenKind::Byte;
}

size_t IndexTokens(const Model& m) {
  return std::max<size_t>(m.config().vocab_size, size_t(m.tokenizer().vocab_size()));
}

}  // namespace

void Session::BindGrammar(Arena* a, SessionMemory* mem) {
  if (!plan_.grammar_bytes) return;
  const size_t mark = a->used();
  grammar_mem_ = a->Allocate(plan_.grammar_bytes);
  const size_t max_len = std::min(model_->tokenizer().max_token_bytes(), kMaxTokenBytes);
  grammar_index_mem_ = a->Allocate(grammar::VocabIndexBytes(IndexTokens(*model_), max_len));
  mem->grammar = a->used() - mark;
}

// Text tokens sorted by their bytes, each with the prefix it shares with the one before.
void Session::BuildVocabIndex() {
  const Tokenizer& tok = model_->tokenizer();
  const ModelConfig& c = model_->config();
  const size_t n = IndexTokens(*model_);
  const size_t max_len = std::min(tok.max_token_bytes(), kMaxTokenBytes);
  uint8_t* p = static_cast<uint8_t*>(grammar_index_mem_);
  auto carve = [&p](size_t bytes) {
    uint8_t* at = p;
    p += (bytes + 7) & ~size_t(7);
    return at;
  };
  int32_t* end_ids = reinterpret_cast<int32_t*>(carve(kMaxEndIds * 8));
  int32_t* ids = reinterpret_cast<int32_t*>(carve(n * 4));
  uint32_t* offsets = reinterpret_cast<uint32_t*>(carve(n * 4));
  uint16_t* lengths = reinterpret_cast<uint16_t*>(carve(n * 2));
  uint16_t* lcp = reinterpret_cast<uint16_t*>(carve(n * 2));
  masked_logits_ = reinterpret_cast<float*>(carve(n * 4));
  grammar_walk_ = reinterpret_cast<grammar::State*>(p);

  grammar::VocabIndex& v = vocab_index_;
  v.n_end = 0;
  if (c.eos_id >= 0 && size_t(c.eos_id) < c.vocab_size) end_ids[v.n_end++] = c.eos_id;
  for (int32_t id : c.eot_ids)
    if (id >= 0 && size_t(id) < c.vocab_size && id != c.eos_id && v.n_end < kMaxEndIds) end_ids[v.n_end++] = id;
  const std::string_view all = tok.all_token_bytes();
  uint32_t count = 0;
  for (int32_t id = 0; id < tok.vocab_size() && size_t(id) < c.vocab_size; ++id) {
    const std::string_view b = tok.TokenBytes(id);
    if (b.empty() || b.size() > max_len || !IsTextToken(tok, id) || IsEndToken(*model_, id)) continue;
    ids[count++] = id;
  }
  std::sort(ids, ids + count, [&tok](int32_t x, int32_t y) {
    const std::string_view a = tok.TokenBytes(x), b = tok.TokenBytes(y);
    return a != b ? a < b : x < y;
  });
  for (uint32_t i = 0; i < count; ++i) {
    const std::string_view b = tok.TokenBytes(ids[i]);
    offsets[i] = uint32_t(b.data() - all.data());
    lengths[i] = uint16_t(b.size());
    size_t shared = 0;
    if (i > 0) {
      const std::string_view prev = tok.TokenBytes(ids[i - 1]);
      while (shared < b.size() && shared < prev.size() && b[shared] == prev[shared]) ++shared;
    }
    lcp[i] = uint16_t(shared);
  }
  v.ids = ids;
  v.offsets = offsets;
  v.lengths = lengths;
  v.lcp = lcp;
  v.bytes = all.data();
  v.n = count;
  v.end_ids = end_ids;
  v.max_len = uint32_t(max_len);
}

Status Session::SetGrammar(std::string_view text) {
  grammar_.Clear();
  if (!grammar_mem_)
    return StatusError(StatusCode::kOutOfMemory,
                       "the session reserved no grammar memory: create it with qlite_session_params.grammar_memory > 0");
  grammar::Compiled g;
  QLITE_RETURN_IF_ERROR(grammar::Compile(text, &g));
  return grammar_.Bind(g, grammar_mem_, plan_.grammar_bytes);
}

bool Session::IsGrammarEnd(int32_t token) const {
  for (uint32_t k = 0; k < vocab_index_.n_end; ++k)
    if (vocab_index_.end_ids[k] == token) return true;
  return false;
}

bool Session::GrammarAllows(int32_t token) {
  const Tokenizer& tok = model_->tokenizer();
  if (IsGrammarEnd(token)) return grammar_.CanEnd();
  if (!tok.Valid(token) || !IsTextToken(tok, token)) return false;
  const std::string_view b = tok.TokenBytes(token);
  return !b.empty() && b.size() <= vocab_index_.max_len && grammar_.Allows(b);
}

Status Session::SampleWithGrammar(int32_t* out) {
  int32_t token = sampler_->Sample(logits_);
  if (!GrammarAllows(token)) {
    const size_t vocab = model_->config().vocab_size;
    if (grammar_.Mask(vocab_index_, grammar_walk_, logits_, masked_logits_, vocab) == 0) {
      if (grammar_.overflowed())
        return StatusError(StatusCode::kOutOfMemory,
                           "the grammar's state outgrew grammar_memory (%llu bytes) or its limits (an ambiguous grammar)",
                           (unsigned long long)plan_.grammar_bytes);
      return StatusError(StatusCode::kInvalidArgument, "no token of the vocabulary continues the grammar here");
    }
    token = sampler_->Sample(masked_logits_);
    if (!GrammarAllows(token))
      return StatusError(StatusCode::kInternal, "the sampler picked token %d, which the grammar refuses", token);
  }
  if (!IsGrammarEnd(token)) grammar_.Accept(model_->tokenizer().TokenBytes(token));
  *out = token;
  return Status::Ok();
}

}  // namespace qlite
