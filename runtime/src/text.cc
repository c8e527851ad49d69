#include "text.h"

#include <chrono>
#include <cstring>

#include "stop_matcher.h"
#include "tokenizer.h"
#include "utf8.h"

namespace qlite {

Status EncodeText(const Model& model, const std::string& text, bool add_bos, std::vector<int32_t>* out) {
  EncodeOptions options;
  options.add_bos = add_bos;
  out->clear();
  return model.tokenizer().Encode(text, options, out);
}

Status TokenBytes(const Model& model, int32_t token, char* buf, size_t capacity, size_t* out_len) {
  const Tokenizer& tok = model.tokenizer();
  if (!tok.Valid(token)) return StatusError(StatusCode::kInvalidArgument, "token %d is outside the vocabulary", token);
  const std::string_view bytes = tok.TokenBytes(token);
  *out_len = bytes.size();
  if (bytes.size() > capacity)
    return StatusError(StatusCode::kInvalidArgument, "token %d needs %zu bytes, buffer has %zu", token, bytes.size(), capacity);
  if (!bytes.empty()) std::memcpy(buf, bytes.data(), bytes.size());
  return Status::Ok();
}

bool IsEndToken(const Model& model, int32_t token) {
  const ModelConfig& c = model.config();
  // A generated BOS starts a new document (llama2.c stops there too).
  if (token == c.eos_id || token == c.bos_id) return true;
  for (int32_t id : c.eot_ids)
    if (token == id) return true;
  return false;
}

Status Generate(Session& session, const char* prompt, uint32_t max_tokens, bool stop_at_eos,
                qlite_token_callback callback, void* user_data, qlite_generate_stats* stats) {
  std::vector<int32_t> ids;
  // BOS starts a session only: a prompt fed after positions continues the conversation.
  QLITE_RETURN_IF_ERROR(EncodeText(session.model(), prompt, session.position() == 0, &ids));
  if (ids.empty() && session.position() == 0)
    return StatusError(StatusCode::kInvalidArgument, "empty prompt and the model has no BOS token to start from");
  return GenerateFrom(session, ids.data(), ids.size(), max_tokens, stop_at_eos, callback, user_data, stats);
}

Status GenerateFrom(Session& session, const int32_t* prompt, size_t n_prompt, uint32_t max_tokens,
                    bool stop_at_eos, qlite_token_callback callback, void* user_data, qlite_generate_stats* stats) {
  using Clock = std::chrono::steady_clock;
  const Model& model = session.model();
  const Tokenizer& tok = model.tokenizer();
  if (n_prompt == 0 && !session.logits())
    return StatusError(StatusCode::kInvalidArgument, "no prompt and no logits to continue from: feed a token first");
  qlite_generate_stats st = {};
  st.n_prompt_tokens = (uint32_t)n_prompt;
  // Sized once: Push() never allocates in the token loop.
  Utf8Stream stream(tok.max_token_bytes() + 8);
  const bool stops = session.n_stop_strings() > 0;
  StopMatcher matcher(session.stop_text(), session.stop_offsets(), session.n_stop_strings(),
                      tok.max_token_bytes() + 16);

  const Clock::time_point t0 = Clock::now();
  Status status = n_prompt ? session.Prefill(prompt, n_prompt) : Status::Ok();
  const Clock::time_point t1 = Clock::now();
  st.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  int32_t prev = n_prompt ? prompt[n_prompt - 1] : session.TokenAt(session.position() - 1);
  bool matched = false;
  // The token loop: sample, stream whole characters, feed. No allocation in here.
  for (uint32_t i = 0; status.ok() && i < max_tokens; ++i) {
    int32_t token = 0;
    status = session.Sample(&token);
    if (!status.ok()) break;
    // Under a grammar an end token is only sampled where the grammar may end: it ends the text.
    if ((stop_at_eos || session.has_grammar()) && IsEndToken(model, token)) break;
    ++st.n_generated;
    std::string_view piece = stream.Push(tok.TokenBytesAfter(prev, token));
    if (stops) piece = matcher.Push(piece, &matched);
    if (callback && callback(user_data, token, piece.data(), piece.size())) {
      status = StatusError(StatusCode::kCancelled, "generation stopped by the callback");
      break;
    }
    if (matched) break;  // the stop string's last token is not fed
    status = session.Decode(token);  // fed even when last: the session can go on from here
    prev = token;
    if (session.grammar_done()) break;  // nothing more can follow
  }
  if (!matched) {
    std::string_view rest = stream.Flush();
    if (stops) {
      rest = matcher.Push(rest, &matched);
      if (callback && !rest.empty()) callback(user_data, -1, rest.data(), rest.size());
      rest = matcher.Flush();
    }
    if (callback && !rest.empty()) callback(user_data, -1, rest.data(), rest.size());
  }
  st.decode_seconds = std::chrono::duration<double>(Clock::now() - t1).count();
  if (stats) *stats = st;
  return status;
}

}  // namespace qlite
