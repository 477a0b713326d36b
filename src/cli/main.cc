// nexus: command-line front-end. Each subcommand lives in its own cmd_*.cc.
#include <cstdio>
#include <map>

#include "cli/command.h"

namespace nexus::cli {

std::vector<CommandSpec>& command_registry() {
  static std::vector<CommandSpec> registry;
  return registry;
}

bool register_command(std::string name, std::string help, CommandSetup setup) {
  command_registry().push_back({std::move(name), std::move(help), std::move(setup)});
  return true;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "nexus: error: %s\n", message.c_str());
  return 1;
}

}  // namespace nexus::cli

int main(int argc, char** argv) {
  using namespace nexus::cli;
  CLI::App app{"nexus: run large language models on the CPU you have"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "nexus 0.1.0");
  std::map<CLI::App*, CommandRun> runs;
  for (const CommandSpec& spec : command_registry()) {
    CLI::App* sub = app.add_subcommand(spec.name, spec.help);
    runs[sub] = spec.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Bad command lines get the same one-line error as every other failure.
    return fail(std::string(e.what()) + " (run with --help for usage)");
  }
  for (auto& [sub, run] : runs)
    if (sub->parsed()) return run();
  return 1;
}
