// qlite chat: an interactive conversation. Each turn renders the whole conversation with the
// model's own chat template through the C API (qlite_chat_apply_template: the file's Jinja
// template, else ChatML, Gemma or plain turns by vocabulary) and hands its tokens to
// qlite_session_sync, which prefills only what the session does not hold yet.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
#include "qlite/base/files.h"
#include "qlite/qlite.h"
#include "session_flags.h"

namespace qlite_cli {
namespace {

// Token id of `text` if it encodes to exactly one token, else -1.
int32_t SingleToken(qlite_model* m, const char* text) {
  int32_t ids[8];
  size_t n = 0;
  if (qlite_tokenize(m, text, std::strlen(text), 0, ids, 8, &n) != QLITE_OK || n != 1) return -1;
  return ids[0];
}

// Turn-closing tokens of the common templates; any that is one token in this vocabulary also
// ends the model's reply (besides EOS).
constexpr const char* kEndOfTurnMarkers[] = {"<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|eom_id|>", "<|end|>"};

const char* FormatName(qlite_chat_format f) {
  switch (f) {
    case QLITE_CHAT_FORMAT_TEMPLATE: return "the model's own";
    case QLITE_CHAT_FORMAT_CHATML: return "ChatML (fallback)";
    case QLITE_CHAT_FORMAT_GEMMA: return "Gemma (fallback)";
    case QLITE_CHAT_FORMAT_PLAIN: return "plain (fallback)";
  }
  return "?";
}

struct Conversation {
  std::vector<std::string> roles, contents;
  std::string template_text;  // --chat-template, else empty: the model's
  std::string bos_text, eos_text;

  // The prompt text of the whole conversation plus the opening of the assistant's turn.
  qlite_status Render(qlite_model* model, std::string* out) const {
    std::vector<qlite_chat_message> msgs(roles.size());
    for (size_t i = 0; i < roles.size(); ++i) msgs[i] = {roles[i].c_str(), contents[i].c_str()};
    size_t len = 0;
    auto render = [&](char* buf, size_t cap) {
      if (template_text.empty())
        return qlite_chat_apply_template(model, msgs.data(), msgs.size(), 1, buf, cap, &len);
      return qlite_chat_render_template(template_text.data(), template_text.size(), bos_text.c_str(),
                                        eos_text.c_str(), msgs.data(), msgs.size(), 1, buf, cap, &len);
    };
    qlite_status st = render(nullptr, 0);
    if (st != QLITE_OK) return st;
    std::vector<char> buf(len + 1);
    st = render(buf.data(), buf.size());
    if (st == QLITE_OK) out->assign(buf.data(), len);
    return st;
  }
};

std::string PieceOf(qlite_model* m, int32_t token) {
  char piece[256];
  size_t len = 0;
  if (token < 0 || qlite_token_to_piece(m, token, piece, sizeof(piece), &len) != QLITE_OK) return "";
  return std::string(piece, len);
}

// Holds back the bytes of an incomplete UTF-8 character so the terminal only sees whole ones.
class Utf8Out {
 public:
  void Put(const char* p, size_t n) {
    pending_.append(p, n);
    size_t cut = pending_.size();
    // Find the start of a trailing incomplete sequence, if any.
    for (size_t back = 1; back <= 3 && back <= pending_.size(); ++back) {
      unsigned char c = (unsigned char)pending_[pending_.size() - back];
      if ((c & 0xC0) == 0x80) continue;  // continuation byte
      size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      if (len > back) cut = pending_.size() - back;
      break;
    }
    std::fwrite(pending_.data(), 1, cut, stdout);
    std::fflush(stdout);
    pending_.erase(0, cut);
  }
  void Flush() {
    std::fwrite(pending_.data(), 1, pending_.size(), stdout);
    pending_.clear();
    std::fflush(stdout);
  }

 private:
  std::string pending_;
};

int ChatCommand(int argc, char** argv) {
  SessionFlags f;
  std::string system, template_path;
  uint32_t max_reply = 256;
  for (int i = 1; i < argc; ++i) {
    int r = ParseSessionFlag(argc, argv, &i, &f);
    if (r < 0) return 2;
    if (r > 0) continue;
    if (!std::strcmp(argv[i], "--system") && i + 1 < argc) {
      system = argv[++i];
    } else if (!std::strcmp(argv[i], "--chat-template") && i + 1 < argc) {
      template_path = argv[++i];
    } else if (!std::strcmp(argv[i], "-n") && i + 1 < argc) {
      if (!IntegerFlag("qlite chat", argv[i], argv[i + 1], 0, UINT32_MAX, &max_reply)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: qlite chat -m model.qlm [--system TEXT] [-n MAX_REPLY_TOKENS] [--chat-template FILE] [flags]\n"
                  "  reads one user message per line from stdin; an empty line or EOF ends.\n"
                  "  Turns are rendered with the model's chat template (--chat-template: a Jinja file instead).\n%s",
                  kSessionFlagsHelp);
      return 0;
    } else {
      std::fprintf(stderr, "qlite chat: unknown flag '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  Conversation conv;
  if (!template_path.empty()) {
    qlite::Status s = qlite::ReadRegularFile(template_path, &conv.template_text);
    if (!s.ok()) {
      std::fprintf(stderr, "qlite chat: %s\n", s.message().c_str());
      return 1;
    }
  }
  qlite_model* model = nullptr;
  qlite_session* s = nullptr;
  if (!OpenModelAndSession(f, &model, &s)) return 1;
  qlite_model_info info;
  qlite_model_get_info(model, &info);
  qlite_chat_format format = QLITE_CHAT_FORMAT_PLAIN;
  qlite_chat_get_format(model, &format);
  conv.bos_text = PieceOf(model, info.bos_id);
  conv.eos_text = PieceOf(model, info.eos_id);
  std::vector<int32_t> turn_end = {info.eos_id};
  for (const char* marker : kEndOfTurnMarkers)
    if (int32_t id = SingleToken(model, marker); id >= 0) turn_end.push_back(id);
  const bool plain = conv.template_text.empty() && format == QLITE_CHAT_FORMAT_PLAIN;
  std::fprintf(stderr, "qlite chat: %s template; empty line or Ctrl-D to quit\n",
               conv.template_text.empty() ? FormatName(format) : template_path.c_str());
  if (!system.empty()) {
    conv.roles.push_back("system");
    conv.contents.push_back(system);
  }

  std::string line;
  int rc = 0;
  std::vector<int32_t> ids;
  int32_t bos_ids[2];
  size_t n_bos = 0;  // the tokenizer's own rule: does this model start with BOS?
  const bool starts_with_bos = info.bos_id >= 0 && qlite_tokenize(model, "", 0, 1, bos_ids, 2, &n_bos) == QLITE_OK &&
                               n_bos == 1;
  while (rc == 0) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line) || line.empty()) break;
    conv.roles.push_back("user");
    conv.contents.push_back(line);
    std::string text;
    if (conv.Render(model, &text) != QLITE_OK) {
      rc = 1;
      break;
    }
    // The whole conversation's tokens go to the session, which keeps the prefix it already
    // holds (also after its window slid) and processes only the rest: normally the new turn.
    // A turn cut off by -n (or ended by its end-of-turn token, which is sampled, not fed) is
    // closed by the template's rendering of the stored reply; a template that rewrites earlier
    // turns (Qwen3 drops old reasoning) sends the session back to where the text changed.
    ids.resize(text.size() + 8);
    size_t n = 0;
    if (qlite_tokenize(model, text.data(), text.size(), 0, ids.data(), ids.size(), &n) != QLITE_OK) {
      rc = 1;
      break;
    }
    ids.resize(n);
    if (starts_with_bos && (ids.empty() || ids[0] != info.bos_id)) ids.insert(ids.begin(), info.bos_id);
    if (qlite_session_sync(s, ids.data(), ids.size(), nullptr) != QLITE_OK) {
      rc = 1;
      break;
    }
    Utf8Out out;
    std::string reply;
    for (uint32_t t = 0; t < max_reply; ++t) {
      int32_t tok = 0;
      if (qlite_sample(s, &tok) != QLITE_OK) {
        rc = 1;
        break;
      }
      bool end = false;
      for (int32_t e : turn_end) end |= e >= 0 && tok == e;
      if (end) break;
      const std::string piece = PieceOf(model, tok);
      out.Put(piece.data(), piece.size());
      reply += piece;
      if (qlite_decode(s, tok) != QLITE_OK) {
        rc = 1;
        break;
      }
      if (plain && reply.find("\nUser:") != std::string::npos) break;  // the model began our turn
    }
    out.Flush();
    std::printf("\n");
    std::fflush(stdout);
    if (plain) {  // the transcript's "Assistant: " has the space; the next turn follows "\nUser:"
      if (size_t cut = reply.find("\nUser:"); cut != std::string::npos) reply.resize(cut);
      if (!reply.empty() && reply[0] == ' ') reply.erase(0, 1);
    }
    conv.roles.push_back("assistant");
    conv.contents.push_back(reply);
  }
  if (rc != 0) std::fprintf(stderr, "qlite chat: %s\n", qlite_last_error());
  qlite_session_free(s);
  qlite_model_free(model);
  return rc;
}

}  // namespace

QLITE_CLI_COMMAND(chat, "interactive chat with the model's chat template", ChatCommand);

}  // namespace qlite_cli
