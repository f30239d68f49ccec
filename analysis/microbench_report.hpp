#pragma once
#include <optional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"

namespace wormsim::analysis {

// One line of `wormsim microbench`: a simulated figure beside the silicon figure it mirrors.
struct MicrobenchRow {
  std::string name;
  std::string description;
  double simulated{0};
  std::optional<double> measured;
  std::string unit;
  std::optional<double> error_pct;  // (simulated - measured) / measured
  std::string measured_kind;        // "measured", "CI lower bound", ...
  std::string source;               // calibration file and its source column
};

// Runs every data-movement microbenchmark on `spec` and pairs each with its silicon figure
// from ../shared/calibration/microbenchmarks.csv (or analysis/data/reference_measurements.csv
// for figures the calibration set lacks).
std::vector<MicrobenchRow> run_microbench_report(const arch::DeviceSpec& spec);

}  // namespace wormsim::analysis
