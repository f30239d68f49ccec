// `wormsim calibrate --groups ops`: single ops against tt-metal's device-perf figures
// (analysis/data/op_references.json).
#include "analysis/op_calibration.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "arch/device_spec.hpp"
#include "ops/isolated_run.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"
#include "tests/analysis/synthetic_run.hpp"

namespace wormsim::analysis {
namespace {

using testing::n300;

class OpCalibrationTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const nlohmann::json& doc) {
    const auto path = dir_ / "refs.json";
    std::ofstream(path) << doc.dump();
    return path;
  }

  std::string error_of(const std::filesystem::path& file) {
    try {
      calibrate_ops(n300(), file);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  testing::TempDir dir_{"op_calibration"};
};

// A small matmul every row below can use.
nlohmann::json small_matmul() {
  const nlohmann::json tensor = {
      {"shape", {1, 1, 256, 256}}, {"dtype", "bfloat16"}, {"memory", "dram-interleaved"}};
  nlohmann::json op = {{"op", "matmul"}};
  op["inputs"] = nlohmann::json::array({tensor, tensor});
  return op;
}

TEST_F(OpCalibrationTest, RowsCompareTheKernelDurationInMicroseconds) {
  nlohmann::json doc = {{"rows",
                         {{{"name", "mm"},
                           {"kind", "measured"},
                           {"measured_us", 10.0},
                           {"source", "test"},
                           {"op", small_matmul()}}}},
                        {"not_expressible", {{{"name", "x"}, {"why", "no width sharding"}}}}};
  const OpCalibration c = calibrate_ops(n300(), write(doc));
  ASSERT_EQ(c.rows.size(), 1u);
  // The same op run directly: its cycles at the spec's clock.
  const nlohmann::json desc = small_matmul();
  std::vector<ops::TensorSpec> inputs;
  for (const auto& t : desc["inputs"]) inputs.push_back(ops::tensor_spec_from_json(t, n300()));
  const auto op = ops::make_operation("matmul", nlohmann::json::object(), inputs, n300());
  const ops::OpResult direct = ops::run_isolated(n300(), *op, inputs, {false, 0});
  const double us = static_cast<double>(direct.record.timing.kernel_duration()) / n300().clock_mhz;
  EXPECT_EQ(c.rows[0].group, "ops");
  EXPECT_EQ(c.rows[0].unit, "us");
  EXPECT_DOUBLE_EQ(c.rows[0].simulated, us);
  EXPECT_DOUBLE_EQ(c.rows[0].error_pct, (us - 10.0) / 10.0 * 100.0);
  ASSERT_EQ(c.skipped.size(), 1u);
  EXPECT_EQ(c.skipped[0].reason, "no width sharding");
}

TEST_F(OpCalibrationTest, ProjectReferencesRunOrSayWhyNot) {
  // Four rows run (the maxpool among them, which needs the halo's small untilize CBs); one
  // reference (a width-sharded conv) cannot be expressed.
  const OpCalibration c = calibrate_ops(n300());
  EXPECT_EQ(c.rows.size(), 4u);
  ASSERT_EQ(c.skipped.size(), 1u);
  EXPECT_NE(c.skipped[0].reason.find("width"), std::string::npos) << c.skipped[0].reason;
  for (const CalibrationRow& r : c.rows) {
    EXPECT_GT(r.simulated, 0.0) << r.name;
    EXPECT_NE(r.note.find("tt-metal"), std::string::npos) << r.name;
  }
  for (const SkippedCalibrationRow& s : c.skipped) EXPECT_FALSE(s.reason.empty()) << s.name;
}

TEST_F(OpCalibrationTest, BadFilesNameTheFileAndRow) {
  EXPECT_NE(error_of(dir_ / "missing.json").find("cannot open op references"), std::string::npos);
  std::ofstream(dir_ / "broken.json") << "{";
  EXPECT_NE(error_of(dir_ / "broken.json").find("not valid JSON"), std::string::npos);
  nlohmann::json no_measure = {
      {"rows", {{{"name", "mm"}, {"kind", "measured"}, {"source", "s"}, {"op", small_matmul()}}}}};
  const std::string e1 = error_of(write(no_measure));
  EXPECT_NE(e1.find("rows[0]"), std::string::npos) << e1;
  EXPECT_NE(e1.find("measured_us"), std::string::npos) << e1;
  nlohmann::json unknown_op = {
      {"rows",
       {{{"name", "mm"},
         {"kind", "measured"},
         {"measured_us", 1.0},
         {"source", "s"},
         {"op", {{"op", "no_such_op"}, {"inputs", nlohmann::json::array()}}}}}}};
  const std::string e2 = error_of(write(unknown_op));
  EXPECT_NE(e2.find("rows[0]"), std::string::npos) << e2;
  EXPECT_NE(e2.find("no_such_op"), std::string::npos) << e2;
  // An op the simulator refuses (here a matmul whose inner dimensions differ) is the row's
  // error, not a row 'not simulated'.
  nlohmann::json bad_shape = small_matmul();
  bad_shape["inputs"][1]["shape"] = {1, 1, 128, 256};
  nlohmann::json mismatch = {{"rows",
                              {{{"name", "mm"},
                                {"kind", "measured"},
                                {"measured_us", 1.0},
                                {"source", "s"},
                                {"op", bad_shape}}}}};
  const std::string e3 = error_of(write(mismatch));
  EXPECT_NE(e3.find("rows[0]"), std::string::npos) << e3;
  // A malformed not_expressible entry names itself.
  nlohmann::json bad_entry = {{"rows", nlohmann::json::array()},
                              {"not_expressible", {"just a string"}}};
  const std::string e4 = error_of(write(bad_entry));
  EXPECT_NE(e4.find("not_expressible[0]"), std::string::npos) << e4;
}

}  // namespace
}  // namespace wormsim::analysis
