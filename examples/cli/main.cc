// qlite: one program, subcommands in the style of llama.cpp's tools.
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>

#include "commands.h"

namespace qlite_cli {
namespace {
constexpr int kMaxCommands = 32;
Command g_commands[kMaxCommands];
int g_count = 0;

void PrintUsage(FILE* out) {
  std::fprintf(out, "usage: qlite <command> [options]   (qlite <command> --help for its flags)\n\ncommands:\n");
  for (int i = 0; i < g_count; ++i) std::fprintf(out, "  %-12s %s\n", g_commands[i].name, g_commands[i].summary);
}
}  // namespace

bool RegisterCommand(const Command& command) {
  if (g_count >= kMaxCommands) return false;
  // Keep the list sorted for --help.
  int i = g_count++;
  while (i > 0 && std::strcmp(g_commands[i - 1].name, command.name) > 0) {
    g_commands[i] = g_commands[i - 1];
    --i;
  }
  g_commands[i] = command;
  return true;
}

}  // namespace qlite_cli

int main(int argc, char** argv) {
  using namespace qlite_cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  for (int i = 0; i < g_count; ++i) {
    if (std::strcmp(argv[1], g_commands[i].name)) continue;
    // No exception may abort the process: unwinding runs the destructors that remove
    // temporary output files (the converter's OUT.tmpPID), and the user gets a message.
    try {
      return g_commands[i].fn(argc - 1, argv + 1);
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "qlite %s: out of memory\n", argv[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "qlite %s: internal error: %s\n", argv[1], e.what());
    } catch (...) {
      std::fprintf(stderr, "qlite %s: internal error\n", argv[1]);
    }
    return 1;
  }
  std::fprintf(stderr, "qlite: unknown command '%s'\n", argv[1]);
  PrintUsage(stderr);
  return 2;
}
