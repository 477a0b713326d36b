// Subcommand registry: each src/cli/cmd_*.cc registers itself with NEXUS_COMMAND, so adding
// a command touches one file. A command's setup declares its options on the CLI11
// subcommand and returns the function that runs it (exit code: 0 ok, 1 error).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace nexus::cli {

using CommandRun = std::function<int()>;
using CommandSetup = std::function<CommandRun(CLI::App& sub)>;

struct CommandSpec {
  std::string name;
  std::string help;
  CommandSetup setup;
};

std::vector<CommandSpec>& command_registry();
bool register_command(std::string name, std::string help, CommandSetup setup);

// Prints "nexus: error: <message>" on stderr and returns 1, for `return fail(...)`.
int fail(const std::string& message);

}  // namespace nexus::cli

#define NEXUS_CLI_CONCAT_INNER(a, b) a##b
#define NEXUS_CLI_CONCAT(a, b) NEXUS_CLI_CONCAT_INNER(a, b)
#define NEXUS_COMMAND(name, help, setup) \
  static const bool NEXUS_CLI_CONCAT(nexus_command_registered_, __LINE__) = \
      ::nexus::cli::register_command(name, help, setup)
