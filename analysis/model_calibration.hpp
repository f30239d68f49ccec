#pragma once
// `wormsim calibrate --groups models`: whole-model throughput from
// ../shared/calibration/models.csv against a simulated run of the same model, configuration and
// host mode. How each row is run lives in analysis/data/model_calibration.json (data, not code):
// the zoo model, formats, strategy, device, data parallelism and host mode the silicon run used.
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/calibration.hpp"

namespace wormsim::analysis {

// A models.csv row the simulator cannot express (e.g. more chips than an N300), with why.
struct SkippedCalibrationRow {
  std::string name;
  std::string reason;
};

struct ModelCalibration {
  std::vector<CalibrationRow> rows;
  std::vector<SkippedCalibrationRow> skipped;
};

// Runs every measured row of `models_csv` that `mapping_json` maps (defaults: the calibration
// directory's models.csv and the project's analysis/data/model_calibration.json). `spec_file`,
// when set, replaces the named device specs (scripts/fit_spec.py candidates). Throws
// wormsim::Error for unreadable files, a mapping naming an unknown configuration, model or
// device, or a row whose measured value is not a number.
ModelCalibration calibrate_models(const std::filesystem::path& spec_file = {},
                                  const std::filesystem::path& models_csv = {},
                                  const std::filesystem::path& mapping_json = {});

// analysis/data/model_calibration.json in the source tree.
std::filesystem::path default_model_calibration_mapping();

}  // namespace wormsim::analysis
