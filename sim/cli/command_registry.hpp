#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace wormsim::cli {

// Each subcommand lives in its own sim/cli/cmd_*.cpp and registers itself with a static
// CommandRegistration, so adding a command never edits main.cpp. `order` sorts --help.
using CommandFactory = std::function<void(CLI::App& app)>;

struct CommandRegistration {
  CommandRegistration(int order, CommandFactory factory);
};

void register_all_commands(CLI::App& app);

// Subcommand callbacks set this to their exit status (0 by default).
int& exit_status();

}  // namespace wormsim::cli
