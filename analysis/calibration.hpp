#pragma once
#include <optional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"

namespace wormsim::analysis {

// One silicon measurement beside its simulation.
struct CalibrationRow {
  std::string group;  // e.g. "matmul BFLOAT16 HiFi2 L1-sharded", "microbenchmarks"
  std::string name;   // e.g. "1024x1024x1024"
  double simulated{0};
  double measured{0};
  std::string unit;
  double error_pct{0};  // (simulated - measured) / measured * 100
  std::string note;     // how the row was mapped (config used, interpretation)
};

struct CalibrationGroupSummary {
  std::string group;
  std::size_t rows{0};
  double median_abs_pct{0};
  double p90_abs_pct{0};
  double max_abs_pct{0};
};

// Every row of ../shared/calibration/matmul.csv the simulator can express: multi-core rows as
// TT-NN matmuls on the 8x8 grid of n150, single-core rows as tt-metal's single-core test
// program. `spec` is the device whose constants are being checked (n150 for these rows).
std::vector<CalibrationRow> calibrate_matmul(const arch::DeviceSpec& spec);
// The data-movement microbenchmarks that have a measured figure.
std::vector<CalibrationRow> calibrate_microbenchmarks(const arch::DeviceSpec& spec);

// The q-quantile (0..1) of `values` by linear interpolation between order statistics (NumPy's
// default); 0 for no values.
double percentile(std::vector<double> values, double q);

std::vector<CalibrationGroupSummary> summarise(const std::vector<CalibrationRow>& rows);
// Median / p90 / max of |error| over a set of rows (p90 by linear interpolation).
CalibrationGroupSummary summarise_all(const std::string& label,
                                      const std::vector<CalibrationRow>& rows);

}  // namespace wormsim::analysis
