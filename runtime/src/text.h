// Text in and out of a session: prompt encoding, token bytes, and the generate loop that
// streams whole UTF-8 characters to a callback.
#pragma once
#include <string>
#include <vector>

#include "model.h"
#include "qlite/qlite.h"
#include "session.h"

namespace qlite {

Status EncodeText(const Model& model, const std::string& text, bool add_bos, std::vector<int32_t>* out);
// Raw bytes of one token's piece (may be part of a UTF-8 character).
Status TokenBytes(const Model& model, int32_t token, char* buf, size_t capacity, size_t* out_len);
// True for EOS, a generated BOS and the model's end-of-turn ids.
bool IsEndToken(const Model& model, int32_t token);
// Prefill the prompt (with BOS at position 0 only), then sample/stream/feed up to max_tokens
// tokens, ending early at an end token or a stop string. Allocation-free per generated token.
Status Generate(Session& session, const char* prompt, uint32_t max_tokens, bool stop_at_eos,
                qlite_token_callback callback, void* user_data, qlite_generate_stats* stats);
// Same from token ids (the prompt already encoded, e.g. a chat turn; none: from the current logits).
Status GenerateFrom(Session& session, const int32_t* prompt, size_t n_prompt, uint32_t max_tokens,
                    bool stop_at_eos, qlite_token_callback callback, void* user_data, qlite_generate_stats* stats);

}  // namespace qlite
