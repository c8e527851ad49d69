// qlite run: prompt + generated text to stdout (nothing else); speeds and peak memory to stderr.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif

#include "commands.h"
#include "qlite/qlite.h"
#include "session_flags.h"

namespace qlite_cli {

uint64_t PeakRssBytes() {
#if defined(__unix__) || defined(__APPLE__)
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
#if defined(__APPLE__)
    return (uint64_t)ru.ru_maxrss;
#else
    return (uint64_t)ru.ru_maxrss * 1024;
#endif
  }
#endif
  return 0;
}

namespace {

int StreamPiece(void* user, int32_t token, const char* piece, size_t len) {
  (void)user;
  (void)token;
  std::fwrite(piece, 1, len, stdout);
  std::fflush(stdout);
  return 0;
}

bool ReadWhole(const char* path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// --grammar / --json-schema / --json: the grammar text, or "" for none.
bool LoadGrammar(const char* grammar_file, const char* schema_file, bool any_json, std::string* out) {
  if (grammar_file && !ReadWhole(grammar_file, out)) {
    std::fprintf(stderr, "qlite run: cannot read the grammar '%s'\n", grammar_file);
    return false;
  }
  std::string schema = any_json ? "{}" : "";
  if (schema_file && !ReadWhole(schema_file, &schema)) {
    std::fprintf(stderr, "qlite run: cannot read the JSON schema '%s'\n", schema_file);
    return false;
  }
  if (schema.empty()) return true;
  size_t len = 0;
  if (qlite_json_schema_to_grammar(schema.data(), schema.size(), nullptr, 0, &len) != QLITE_OK) {
    std::fprintf(stderr, "qlite run: %s\n", qlite_last_error());
    return false;
  }
  out->assign(len + 1, '\0');
  if (qlite_json_schema_to_grammar(schema.data(), schema.size(), &(*out)[0], out->size(), &len) != QLITE_OK) return false;
  out->resize(len);
  return true;
}

int RunCommand(int argc, char** argv) {
  SessionFlags f;
  std::string prompt = "Once upon a time";
  uint32_t n = 128;
  bool stop_at_eos = true, any_json = false;
  std::string save_state, load_state;
  const char *grammar_file = nullptr, *schema_file = nullptr;
  for (int i = 1; i < argc; ++i) {
    int r = ParseSessionFlag(argc, argv, &i, &f);
    if (r < 0) return 2;
    if (r > 0) continue;
    if ((!std::strcmp(argv[i], "-p") || !std::strcmp(argv[i], "--prompt")) && i + 1 < argc) {
      prompt = argv[++i];
    } else if ((!std::strcmp(argv[i], "-n") || !std::strcmp(argv[i], "--tokens")) && i + 1 < argc) {
      if (!IntegerFlag("qlite run", argv[i], argv[i + 1], 0, UINT32_MAX, &n)) return 2;
      ++i;
    } else if (!std::strcmp(argv[i], "--grammar") && i + 1 < argc) {
      grammar_file = argv[++i];
    } else if (!std::strcmp(argv[i], "--json-schema") && i + 1 < argc) {
      schema_file = argv[++i];
    } else if (!std::strcmp(argv[i], "--json")) {
      any_json = true;
    } else if (!std::strcmp(argv[i], "--ignore-eos")) {
      stop_at_eos = false;
    } else if (!std::strcmp(argv[i], "--save-state") && i + 1 < argc) {
      save_state = argv[++i];
    } else if (!std::strcmp(argv[i], "--load-state") && i + 1 < argc) {
      load_state = argv[++i];
    } else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::printf("usage: qlite run -m model.qlm [-p PROMPT] [-n TOKENS] [--ignore-eos] [flags]\n"
                  "  -p PROMPT           text to continue (\"\" starts from BOS alone)\n"
                  "  -n TOKENS           tokens to generate (default 128)\n"
                  "  --load-state FILE   go on from a saved session (the prompt continues it, no BOS)\n"
                  "  --save-state FILE   save the session after generating\n"
                  "  --grammar FILE      constrain the output to a GBNF grammar (start rule: root)\n"
                  "  --json-schema FILE  constrain the output to JSON matching the schema\n"
                  "  --json              constrain the output to any JSON value\n%s", kSessionFlagsHelp);
      return 0;
    } else {
      std::fprintf(stderr, "qlite run: unknown flag '%s' (see --help)\n", argv[i]);
      return 2;
    }
  }
  if ((grammar_file != nullptr) + (schema_file != nullptr) + any_json > 1) {
    std::fprintf(stderr, "qlite run: give one of --grammar, --json-schema and --json\n");
    return 2;
  }
  std::string grammar;
  if (!LoadGrammar(grammar_file, schema_file, any_json, &grammar)) return 1;
  // Room for the compiled rules (a few times the text) and the matcher's stacks.
  const bool constrained = grammar_file || schema_file || any_json;
  if (constrained && !f.session.grammar_memory) f.session.grammar_memory = (1 << 20) + 8 * grammar.size();
  qlite_model* model = nullptr;
  qlite_session* session = nullptr;
  if (!OpenModelAndSession(f, &model, &session)) return 1;
  if (!load_state.empty() && qlite_session_load_state_file(session, load_state.c_str()) != QLITE_OK) {
    std::fprintf(stderr, "qlite run: cannot load %s: %s\n", load_state.c_str(), qlite_last_error());
    qlite_session_free(session);
    qlite_model_free(model);
    return 1;
  }
  if (constrained && qlite_session_set_grammar(session, grammar.data(), grammar.size()) != QLITE_OK) {
    std::fprintf(stderr, "qlite run: %s\n", qlite_last_error());
    qlite_session_free(session);
    qlite_model_free(model);
    return 1;
  }
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  qlite_generate_stats stats = {};
  qlite_status st = qlite_generate(session, prompt.c_str(), n, stop_at_eos, StreamPiece, nullptr, &stats);
  std::printf("\n");
  if (st != QLITE_OK) std::fprintf(stderr, "qlite run: %s\n", qlite_last_error());
  if (st == QLITE_OK && !save_state.empty() && (st = qlite_session_save_state_file(session, save_state.c_str())) != QLITE_OK)
    std::fprintf(stderr, "qlite run: cannot save %s: %s\n", save_state.c_str(), qlite_last_error());
  std::fprintf(stderr, "prefill: %u tokens, %.1f tok/s | decode: %u tokens, %.1f tok/s | peak memory %.1f MiB\n",
               stats.n_prompt_tokens, stats.prefill_seconds > 0 ? stats.n_prompt_tokens / stats.prefill_seconds : 0.0,
               stats.n_generated, stats.decode_seconds > 0 ? stats.n_generated / stats.decode_seconds : 0.0,
               PeakRssBytes() / 1048576.0);
  qlite_session_free(session);
  qlite_model_free(model);
  return st == QLITE_OK ? 0 : 1;
}

}  // namespace

QLITE_CLI_COMMAND(run, "generate text from a prompt", RunCommand);

}  // namespace qlite_cli
