// Subcommand registry for the `qlite` program. Each subcommand lives in its own file and
// registers itself: QLITE_CLI_COMMAND(convert, "convert a model to .qlm", RunConvert);
#pragma once

namespace qlite_cli {

using CommandFn = int (*)(int argc, char** argv);  // argv[0] is the subcommand name

struct Command {
  const char* name;
  const char* summary;
  CommandFn fn;
};

bool RegisterCommand(const Command& command);

}  // namespace qlite_cli

#define QLITE_CLI_COMMAND(name, summary, fn) \
  static const bool qlite_cli_registered_##name = ::qlite_cli::RegisterCommand({#name, summary, fn})
