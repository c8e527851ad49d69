// qlite chat: an interactive conversation. Models whose vocabulary has ChatML's
// <|im_start|>/<|im_end|> tokens (SmolLM2, Qwen) or Gemma's <start_of_turn>/<end_of_turn>
// get that turn format; others a plain "User: / Assistant:" transcript. Jinja templates
// are not interpreted.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"
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

// A turn is open + role + "\n" + text + close + "\n". Gemma has no system role: the
// system text opens the first user turn.
struct TurnFormat {
  const char* name;
  const char *open, *close;
  const char *user, *assistant, *system;  // system null: folded into the first user turn
};
constexpr TurnFormat kTurnFormats[] = {
    {"ChatML", "<|im_start|>", "<|im_end|>", "user", "assistant", "system"},
    {"Gemma", "<start_of_turn>", "<end_of_turn>", "user", "model", nullptr},
};

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
  std::string system;
  uint32_t max_reply = 256;
  for (int i = 1; i < argc; ++i) {
    int r = ParseSessionFlag(argc, argv, &i, &f);
    if (r < 0) return 2;
    if (r > 0) continue;
    if (!std::strcmp(argv[i], "--system") && i + 1 < argc) {
      system = argv[++i];
    } else if (!std::strcmp(argv[i], "-n") && i + 1 < argc) {
      if (!IntegerFlag("qlite chat", argv[i], argv[i + 1], 0, UINT32_MAX, &max_reply)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: qlite chat -m model.qlm [--system TEXT] [-n MAX_REPLY_TOKENS] [flags]\n"
                  "  reads one user message per line from stdin; an empty line or EOF ends\n%s",
                  kSessionFlagsHelp);
      return 0;
    } else {
      std::fprintf(stderr, "qlite chat: unknown flag '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  qlite_model* model = nullptr;
  qlite_session* s = nullptr;
  if (!OpenModelAndSession(f, &model, &s)) return 1;
  qlite_model_info info;
  qlite_model_get_info(model, &info);
  const TurnFormat* format = nullptr;
  int32_t turn_end = -1;  // the token that ends the model's turn
  for (const TurnFormat& t : kTurnFormats) {
    if (SingleToken(model, t.open) >= 0 && (turn_end = SingleToken(model, t.close)) >= 0) {
      format = &t;
      break;
    }
  }
  std::fprintf(stderr, "qlite chat: %s template; empty line or Ctrl-D to quit\n", format ? format->name : "plain");

  std::string line, pending;
  bool first = true;
  int rc = 0;
  std::vector<int32_t> ids;
  while (rc == 0) {
    std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line) || line.empty()) break;
    std::string turn;
    if (format) {
      const std::string open = format->open, close = std::string(format->close) + "\n";
      if (first && !system.empty()) {
        if (format->system) turn += open + format->system + "\n" + system + close;
        else line = system + "\n\n" + line;
      }
      turn += open + format->user + "\n" + line + close + open + format->assistant + "\n";
    } else {
      if (first && !system.empty()) turn += system + "\n";
      turn += "User: " + line + "\nAssistant:";
    }
    turn = pending + turn;
    pending.clear();
    ids.resize(turn.size() + 8);
    size_t n = 0;
    if (qlite_tokenize(model, turn.data(), turn.size(), first ? 1 : 0, ids.data(), ids.size(), &n) != QLITE_OK ||
        qlite_prefill(s, ids.data(), n) != QLITE_OK) {
      rc = 1;
      break;
    }
    first = false;
    Utf8Out out;
    std::string reply;
    for (uint32_t t = 0; t < max_reply; ++t) {
      int32_t tok = 0;
      if (qlite_sample(s, &tok) != QLITE_OK) {
        rc = 1;
        break;
      }
      if (tok == info.eos_id || (format && tok == turn_end)) {
        pending = format ? std::string(format->close) + "\n" : "\n";  // close the turn in the next prefill
        break;
      }
      char piece[256];
      size_t len = 0;
      if (qlite_token_to_piece(model, tok, piece, sizeof(piece), &len) == QLITE_OK) {
        out.Put(piece, len);
        reply.append(piece, len);
      }
      if (!format && reply.find("\nUser:") != std::string::npos) break;  // the model began our turn
      if (qlite_decode(s, tok) != QLITE_OK) {
        rc = 1;
        break;
      }
    }
    out.Flush();
    std::printf("\n");
    std::fflush(stdout);
  }
  if (rc != 0) std::fprintf(stderr, "qlite chat: %s\n", qlite_last_error());
  qlite_session_free(s);
  qlite_model_free(model);
  return rc;
}

}  // namespace

QLITE_CLI_COMMAND(chat, "interactive chat (ChatML, Gemma or plain turns)", ChatCommand);

}  // namespace qlite_cli
