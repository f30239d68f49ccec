// `wormsim calibrate --groups ops`: single ops against the figures tt-metal's own device-perf
// tests give for them on Wormhole (analysis/data/op_references.json).
#pragma once

#include <filesystem>
#include <vector>

#include "analysis/calibration.hpp"
#include "analysis/model_calibration.hpp"

namespace wormsim::analysis {

struct OpCalibration {
  std::vector<CalibrationRow> rows;            // group "ops", in microseconds
  std::vector<SkippedCalibrationRow> skipped;  // references wormsim cannot express
};

// The project's reference file.
std::filesystem::path default_op_references_file();

// Simulates every row of `references` in isolation on `spec` (timing only) and compares its
// DEVICE KERNEL DURATION with the row's figure. A row whose op's circular buffers do not fit
// L1 is skipped with the overflow as the reason. Throws wormsim::Error naming the file and the
// row for an unreadable file, a row missing a field, or an op wormsim refuses (shape or
// parameter errors).
OpCalibration calibrate_ops(const arch::DeviceSpec& spec,
                            const std::filesystem::path& references = default_op_references_file());

}  // namespace wormsim::analysis
