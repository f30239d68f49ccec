// `wormsim replay PROFILE.csv`: every op of a silicon ops_perf_results CSV simulated in
// isolation and compared with its measured DEVICE KERNEL DURATION.
#include <iostream>
#include <nlohmann/json.hpp>

#include "analysis/replay.hpp"
#include "sim/cli/command_registry.hpp"

namespace wormsim::cli {
namespace {

struct ReplayOptions {
  std::string profile;
  std::string out;
  std::string format = "table";
  std::string device = "n300";
  std::string spec_file;  // a spec JSON file instead of --device (e.g. from scripts/fit_spec.py)
};

void run_replay(const ReplayOptions& o) {
  const arch::DeviceSpec spec = o.spec_file.empty() ? arch::load_device_spec_by_name(o.device)
                                                    : arch::load_device_spec(o.spec_file);
  const analysis::OpsPerfFile file = analysis::read_ops_perf_file(o.profile);
  const analysis::ReplayResult result = analysis::replay_ops_perf(file, spec);
  if (!o.out.empty()) analysis::write_replay_csv(o.out, result);
  if (o.format == "json") {
    std::cout << analysis::replay_summary_json(result).dump(2) << "\n";
  } else {
    analysis::print_replay_report(std::cout, result);
    if (!o.out.empty()) std::cout << "\nper-op comparison written to " << o.out << "\n";
  }
}

const CommandRegistration registration(65, [](CLI::App& app) {
  auto o = std::make_shared<ReplayOptions>();
  CLI::App* cmd = app.add_subcommand("replay",
                                     "Simulate every op of a tt-metal ops_perf_results CSV and "
                                     "compare with its measured device time");
  cmd->add_option("profile", o->profile, "ops_perf_results_<timestamp>.csv (header v1, v2 or v2.1)")
      ->required();
  cmd->add_option("--out", o->out, "Write the per-op comparison CSV here");
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  auto* device = cmd->add_option("--device", o->device,
                                 "Device spec the ops run on (a Wormhole profile: n300 or n150)")
                     ->capture_default_str();
  cmd->add_option("--spec", o->spec_file,
                  "Device spec JSON file instead of --device (e.g. from scripts/fit_spec.py)")
      ->check(CLI::ExistingFile)
      ->excludes(device);
  cmd->callback([o] { run_replay(*o); });
});

}  // namespace
}  // namespace wormsim::cli
