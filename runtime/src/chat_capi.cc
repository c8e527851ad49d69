// C API of chat templates (qlite.h): the model's own Jinja template or a fallback by vocabulary,
// rendered by chat_template.cc into the caller's buffer.
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "capi_internal.h"
#include "chat_template.h"
#include "handles.h"
#include "model.h"
#include "tokenizer.h"
#include "qlite/qlite.h"

using namespace qlite;

namespace {

template <typename F>
qlite_status Run(const char* fn, F&& body) {
  try {
    Status s = body();
    return s.ok() ? QLITE_OK : capi_internal::Report(s);
  } catch (const std::bad_alloc&) {
    return capi_internal::Report(Status(StatusCode::kOutOfMemory, std::string(fn) + ": out of memory"));
  } catch (...) {
    return capi_internal::Report(Status(StatusCode::kInternal, std::string(fn) + ": internal error"));
  }
}

Status Arg(bool ok, const char* fn, const char* what) {
  return ok ? Status::Ok() : Status(StatusCode::kInvalidArgument, std::string(fn) + ": " + what);
}

bool HasPiece(const Tokenizer& t, const char* piece) { return t.Find(piece) >= 0; }

qlite_chat_format FormatOf(const Model& m) {
  const Tokenizer& t = m.tokenizer();
  if (m.has_chat_template()) return QLITE_CHAT_FORMAT_TEMPLATE;
  if (HasPiece(t, "<|im_start|>") && HasPiece(t, "<|im_end|>")) return QLITE_CHAT_FORMAT_CHATML;
  if (HasPiece(t, "<start_of_turn>") && HasPiece(t, "<end_of_turn>")) return QLITE_CHAT_FORMAT_GEMMA;
  return QLITE_CHAT_FORMAT_PLAIN;
}

std::string PieceText(const Model& m, int32_t id) {
  const Tokenizer& t = m.tokenizer();
  return t.Valid(id) ? std::string(t.Piece(id)) : std::string();
}

// Checks the arguments every render shares, renders, and copies out as snprintf would.
Status RenderTo(const char* fn, std::string_view source, const std::string& bos, const std::string& eos,
                const qlite_chat_message* messages, size_t n_messages, int add_generation_prompt, char* buf,
                size_t capacity, size_t* out_len) {
  QLITE_RETURN_IF_ERROR(Arg(out_len, fn, "out_len is NULL"));
  *out_len = 0;
  QLITE_RETURN_IF_ERROR(Arg(buf || capacity == 0, fn, "buf is NULL with a nonzero capacity"));
  QLITE_RETURN_IF_ERROR(Arg(messages && n_messages > 0, fn, "no messages (a conversation has at least one)"));
  if (capacity > 0) buf[0] = '\0';
  std::vector<chat::Message> conv(n_messages);
  size_t input_bytes = 0;
  for (size_t i = 0; i < n_messages; ++i) {
    if (!messages[i].role || !messages[i].content)
      return StatusError(StatusCode::kInvalidArgument, "%s: message %zu has a NULL role or content", fn, i);
    conv[i].role = messages[i].role;
    conv[i].content = messages[i].content;
    input_bytes += conv[i].role.size() + conv[i].content.size();
  }
  chat::Options options;
  options.limits.max_output_bytes = (size_t(1) << 20) + 4 * input_bytes;  // templates repeat text a few times at most
  std::string text;
  QLITE_RETURN_IF_ERROR(chat::Render(source, chat::MakeContext(conv, add_generation_prompt != 0, bos, eos), options, &text));
  *out_len = text.size();
  if (!buf) return Status::Ok();  // a size query
  if (capacity <= text.size())
    return StatusError(StatusCode::kOutOfMemory, "%s: the text needs %zu bytes and a NUL, buf has %zu", fn,
                       text.size(), capacity);
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return Status::Ok();
}

}  // namespace

extern "C" {

qlite_status qlite_chat_get_format(const qlite_model* model, qlite_chat_format* out_format) {
  return Run(__func__, [&] {
    QLITE_RETURN_IF_ERROR(Arg(model && out_format, "qlite_chat_get_format", "model or out_format is NULL"));
    QLITE_RETURN_IF_ERROR(handles::CheckModel(model, "qlite_chat_get_format"));
    *out_format = FormatOf(*reinterpret_cast<const Model*>(model));
    return Status::Ok();
  });
}

qlite_status qlite_chat_apply_template(const qlite_model* model, const qlite_chat_message* messages,
                                       size_t n_messages, int add_generation_prompt, char* buf, size_t capacity,
                                       size_t* out_len) {
  return Run(__func__, [&] {
    const char* fn = "qlite_chat_apply_template";
    if (out_len) *out_len = 0;
    QLITE_RETURN_IF_ERROR(Arg(model, fn, "model is NULL"));
    QLITE_RETURN_IF_ERROR(handles::CheckModel(model, fn));
    const Model& m = *reinterpret_cast<const Model*>(model);
    std::string_view source;
    switch (FormatOf(m)) {
      case QLITE_CHAT_FORMAT_TEMPLATE: source = m.chat_template(); break;
      case QLITE_CHAT_FORMAT_CHATML: source = chat::kChatMLTemplate; break;
      case QLITE_CHAT_FORMAT_GEMMA: source = chat::kGemmaTemplate; break;
      case QLITE_CHAT_FORMAT_PLAIN: source = chat::kPlainTemplate; break;
    }
    return RenderTo(fn, source, PieceText(m, m.config().bos_id), PieceText(m, m.config().eos_id), messages,
                    n_messages, add_generation_prompt, buf, capacity, out_len);
  });
}

qlite_status qlite_chat_render_template(const char* template_text, size_t template_len, const char* bos_token,
                                        const char* eos_token, const qlite_chat_message* messages, size_t n_messages,
                                        int add_generation_prompt, char* buf, size_t capacity, size_t* out_len) {
  return Run(__func__, [&] {
    const char* fn = "qlite_chat_render_template";
    if (out_len) *out_len = 0;
    QLITE_RETURN_IF_ERROR(Arg(template_text || template_len == 0, fn, "template_text is NULL"));
    return RenderTo(fn, std::string_view(template_text ? template_text : "", template_len), bos_token ? bos_token : "",
                    eos_token ? eos_token : "", messages, n_messages, add_generation_prompt, buf, capacity, out_len);
  });
}

}  // extern "C"
