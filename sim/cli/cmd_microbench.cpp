// `wormsim microbench`: the data-movement microbenchmarks beside their silicon figures.
#include <iostream>
#include <nlohmann/json.hpp>

#include "analysis/csv_table.hpp"
#include "analysis/microbench_report.hpp"
#include "analysis/text_table.hpp"
#include "arch/device_spec.hpp"
#include "sim/cli/command_registry.hpp"

namespace wormsim::cli {
namespace {

struct MicrobenchOptions {
  std::string device = "n300";
  std::string format = "table";
};

void run_microbench(const MicrobenchOptions& options) {
  const arch::DeviceSpec spec = arch::load_device_spec_by_name(options.device);
  const std::vector<analysis::MicrobenchRow> rows = analysis::run_microbench_report(spec);
  if (options.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& row : rows) {
      nlohmann::json item = {{"name", row.name}, {"simulated", row.simulated}, {"unit", row.unit},
                             {"measured", nullptr}, {"error_pct", nullptr}, {"measured_kind", row.measured_kind},
                             {"description", row.description}, {"source", row.source}};
      if (row.measured) item["measured"] = *row.measured;
      if (row.error_pct) item["error_pct"] = *row.error_pct;
      out.push_back(item);
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  if (options.format == "csv") {
    std::cout << "name,simulated,measured,unit,error_pct,measured_kind,source\n";
    for (const auto& row : rows) {
      std::cout << row.name << "," << analysis::format_fixed(row.simulated, 3) << ","
                << (row.measured ? analysis::format_fixed(*row.measured, 3) : "") << "," << row.unit << ","
                << (row.error_pct ? analysis::format_fixed(*row.error_pct, 2) : "") << ","
                << analysis::csv_escape(row.measured_kind) << "," << analysis::csv_escape(row.source) << "\n";
    }
    return;
  }
  analysis::TextTable table({"benchmark", "simulated", "measured", "unit", "error %", "silicon figure is"});
  for (const auto& row : rows) {
    table.add_row({row.name, analysis::format_fixed(row.simulated, 2),
                   row.measured ? analysis::format_fixed(*row.measured, 2) : "n/a", row.unit,
                   row.error_pct ? analysis::format_fixed(*row.error_pct, 1) : "n/a", row.measured_kind});
  }
  std::cout << "Data-movement microbenchmarks on " << spec.name << " (simulated vs Wormhole silicon)\n\n";
  table.print(std::cout);
  std::cout << "\nA 'CI bound' is the lower bound tt-metal's CI asserts on silicon, not a mean measurement.\n";
}

const CommandRegistration registration(30, [](CLI::App& app) {
  auto options = std::make_shared<MicrobenchOptions>();
  CLI::App* cmd = app.add_subcommand("microbench", "Run the data-movement microbenchmarks and compare with silicon");
  cmd->add_option("--device", options->device, "Device spec name")->capture_default_str();
  cmd->add_option("--format", options->format, "Output format")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  cmd->callback([options] { run_microbench(*options); });
});

}  // namespace
}  // namespace wormsim::cli
