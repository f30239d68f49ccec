#include "sim/cli/command_registry.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace wormsim::cli {
namespace {

std::vector<std::pair<int, CommandFactory>>& registry() {
  static std::vector<std::pair<int, CommandFactory>> commands;
  return commands;
}

}  // namespace

CommandRegistration::CommandRegistration(int order, CommandFactory factory) {
  registry().emplace_back(order, std::move(factory));
}

void register_all_commands(CLI::App& app) {
  auto& commands = registry();
  std::stable_sort(commands.begin(), commands.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [order, factory] : commands) factory(app);
}

int& exit_status() {
  static int status = 0;
  return status;
}

}  // namespace wormsim::cli
