// `wormsim calibrate`: simulated vs measured on every silicon row wormsim can express.
#include <iostream>
#include <nlohmann/json.hpp>

#include "analysis/calibration.hpp"
#include "analysis/model_calibration.hpp"
#include "analysis/op_calibration.hpp"
#include "analysis/text_table.hpp"
#include "sim/cli/command_registry.hpp"

namespace wormsim::cli {
namespace {

struct CalibrateOptions {
  std::string format = "table";
  std::string matmul_device = "n150";
  std::string device = "n300";
  std::string spec_file;  // one spec file for every group instead of the two names above
  std::vector<std::string> groups{"matmul", "microbenchmarks", "models", "ops"};
};

void run_calibrate(const CalibrateOptions& o) {
  std::vector<analysis::CalibrationRow> rows;
  std::vector<analysis::SkippedCalibrationRow> skipped;  // rows the simulator cannot express
  // A candidate spec (scripts/fit_spec.py) replaces both named specs; the per-chip constants the
  // matmul rows exercise are the same in n150 and n300.
  auto spec_for = [&o](const std::string& name) {
    return o.spec_file.empty() ? arch::load_device_spec_by_name(name)
                               : arch::load_device_spec(o.spec_file);
  };
  for (const std::string& group : o.groups) {
    if (group == "matmul") {
      const auto r = analysis::calibrate_matmul(spec_for(o.matmul_device));
      rows.insert(rows.end(), r.begin(), r.end());
    } else if (group == "microbenchmarks") {
      const auto r = analysis::calibrate_microbenchmarks(spec_for(o.device));
      rows.insert(rows.end(), r.begin(), r.end());
    } else if (group == "models") {
      analysis::ModelCalibration r = analysis::calibrate_models(o.spec_file);
      rows.insert(rows.end(), r.rows.begin(), r.rows.end());
      skipped.insert(skipped.end(), r.skipped.begin(), r.skipped.end());
    } else if (group == "ops") {
      analysis::OpCalibration r = analysis::calibrate_ops(spec_for(o.device));
      rows.insert(rows.end(), r.rows.begin(), r.rows.end());
      skipped.insert(skipped.end(), r.skipped.begin(), r.skipped.end());
    } else {
      throw Error("unknown calibration group '" + group +
                  "'; use matmul, microbenchmarks, models, ops");
    }
  }
  const auto summary = analysis::summarise(rows);
  std::vector<analysis::CalibrationRow> matmul_rows;
  for (const auto& r : rows) {
    if (r.group.rfind("matmul", 0) == 0) matmul_rows.push_back(r);
  }
  if (o.format == "json") {
    nlohmann::json out = {{"rows", nlohmann::json::array()}, {"groups", nlohmann::json::array()}};
    for (const auto& r : rows) {
      out["rows"].push_back({{"group", r.group},
                             {"name", r.name},
                             {"simulated", r.simulated},
                             {"measured", r.measured},
                             {"unit", r.unit},
                             {"error_pct", r.error_pct},
                             {"note", r.note}});
    }
    auto add = [&](const analysis::CalibrationGroupSummary& s) {
      out["groups"].push_back({{"group", s.group},
                               {"rows", s.rows},
                               {"median_abs_pct", s.median_abs_pct},
                               {"p90_abs_pct", s.p90_abs_pct},
                               {"max_abs_pct", s.max_abs_pct}});
    };
    for (const auto& s : summary) add(s);
    if (!matmul_rows.empty()) add(analysis::summarise_all("matmul (all rows)", matmul_rows));
    out["skipped"] = nlohmann::json::array();
    for (const auto& s : skipped) out["skipped"].push_back({{"row", s.name}, {"reason", s.reason}});
    std::cout << out.dump(2) << "\n";
    return;
  }
  analysis::TextTable table({"group", "row", "simulated", "measured", "unit", "error %"});
  for (const auto& r : rows) {
    table.add_row({r.group, r.name, analysis::format_fixed(r.simulated, 0),
                   analysis::format_fixed(r.measured, 0), r.unit,
                   analysis::format_fixed(r.error_pct, 1)});
  }
  table.print(std::cout);
  // A model row's configuration is not visible from its name.
  for (const auto& r : rows) {
    if (r.group == "models" || r.group == "ops")
      std::cout << "  " << r.name << ": " << r.note << "\n";
  }
  std::cout << "\n";
  analysis::TextTable sums({"group", "rows", "median |err| %", "p90 |err| %", "max |err| %"});
  auto add = [&](const analysis::CalibrationGroupSummary& s) {
    sums.add_row({s.group, std::to_string(s.rows), analysis::format_fixed(s.median_abs_pct, 1),
                  analysis::format_fixed(s.p90_abs_pct, 1),
                  analysis::format_fixed(s.max_abs_pct, 1)});
  };
  for (const auto& s : summary) add(s);
  if (!matmul_rows.empty()) add(analysis::summarise_all("matmul (all rows)", matmul_rows));
  sums.print(std::cout);
  if (!skipped.empty()) {
    std::cout << "\nnot simulated:\n";
    for (const auto& s : skipped) std::cout << "  " << s.name << ": " << s.reason << "\n";
  }
}

const CommandRegistration registration(60, [](CLI::App& app) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Simulated vs silicon on the calibration data, with error statistics");
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->add_option(
         "--groups", o->groups,
         "Groups to run: matmul, microbenchmarks, models (the models group simulates "
         "whole ViT-base runs, about 5 s, on the devices its mapping names, or on --spec), "
         "ops (single ops against tt-metal's device-perf tests, "
         "analysis/data/op_references.json)")
      ->capture_default_str();
  cmd->add_option("--matmul-device", o->matmul_device,
                  "Device of the matmul rows (measured on n150)")
      ->capture_default_str();
  auto* device =
      cmd->add_option("--device", o->device, "Device of the microbenchmarks and the ops rows")
          ->capture_default_str();
  auto* matmul_device = cmd->get_option("--matmul-device");
  cmd->add_option(
         "--spec", o->spec_file,
         "Device spec JSON file used for every group instead of --device / --matmul-device "
         "(e.g. a candidate written by scripts/fit_spec.py)")
      ->check(CLI::ExistingFile)
      ->excludes(device)
      ->excludes(matmul_device);
  cmd->callback([o] { run_calibrate(*o); });
});

}  // namespace
}  // namespace wormsim::cli
