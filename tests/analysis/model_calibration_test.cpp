// `wormsim calibrate --groups models`: models.csv rows mapped to simulated runs by a data file.
#include "analysis/model_calibration.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "analysis/csv_table.hpp"
#include "analysis/run_profile.hpp"
#include "ops/device.hpp"
#include "sim/error.hpp"
#include "tests/analysis/synthetic_run.hpp"
#include "workloads/executor.hpp"
#include "workloads/graph_source.hpp"
#include "workloads/strategy.hpp"

namespace wormsim::analysis {
namespace {

class ModelCalibrationTest : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  testing::TempDir dir_{"model_calibration"};
};

const char* kCsv =
    "model,input_size,batch,hardware,metric,value,unit,source,status,notes\n"
    "MLP,28x28,32,one chip,device rate,1000000,samples/s,test,measured,\n"
    "MLP,28x28,32,one chip,kernel rate,1000000,samples/s,test,measured,\n"
    "MLP (DP=2),28x28,64,card,throughput,500000,images/s,test,measured,\n"
    "MLP,28x28,32,one chip,device rate,2000000,samples/s,test,target,\n"
    "MLP (DP=32),28x28,1024,Galaxy,throughput,9,images/s,test,measured,\n";

// Two rows mapped to mnist-mlp (small and fast): device samples/s on one chip and end-to-end
// data parallel over both chips of an n300.
const char* kMapping = R"json({
  "configurations": {
    "mlp": {"zoo_model": "mnist-mlp", "dtype": "bfloat16", "fidelity": "HiFi2",
            "strategy": "l1-interleaved"}
  },
  "rows": [
    {"model": "MLP", "hardware": "one chip", "metric": "device rate", "configuration": "mlp",
     "device": "n300", "dp": 1, "batch": 32, "dispatch": "trace", "command_queues": 1,
     "compare": "device samples/s"},
    {"model": "MLP", "hardware": "one chip", "metric": "kernel rate", "configuration": "mlp",
     "device": "n300", "dp": 1, "batch": 32, "dispatch": "trace", "command_queues": 1,
     "compare": "device kernel samples/s"},
    {"model": "MLP (DP=2)", "hardware": "card", "metric": "throughput", "configuration": "mlp",
     "device": "n300", "dp": 2, "batch": 32, "dispatch": "trace", "command_queues": 2,
     "compare": "end-to-end samples/s"}
  ]
})json";

TEST_F(ModelCalibrationTest, MapsMeasuredRowsSkipsTargetsAndListsWhatItCannotExpress) {
  const auto csv = write("models.csv", kCsv);
  const auto mapping = write("mapping.json", kMapping);
  const ModelCalibration result = calibrate_models({}, csv, mapping);
  ASSERT_EQ(result.rows.size(), 3u);
  ASSERT_EQ(result.skipped.size(), 1u);  // the target row is not a measurement at all
  EXPECT_NE(result.skipped[0].name.find("Galaxy"), std::string::npos);

  const CalibrationRow& device_row = result.rows[0];
  EXPECT_EQ(device_row.group, "models");
  EXPECT_DOUBLE_EQ(device_row.measured, 1000000);
  EXPECT_EQ(device_row.unit, "samples/s");
  EXPECT_NEAR(device_row.error_pct, (device_row.simulated - 1e6) / 1e6 * 100.0, 1e-9);
  EXPECT_NE(device_row.note.find("l1-interleaved"), std::string::npos);

  // The device row equals a direct simulation of the same graph: batch / device time.
  const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  workloads::GraphSource source;
  source.model = "mnist-mlp";
  source.model_options.batch = 32;
  const workloads::Graph graph = workloads::load_graph(source, spec);
  const workloads::AppliedStrategy applied =
      workloads::apply_strategy(graph, workloads::strategy_from_name_or_file("l1-interleaved"), {});
  ops::Device device(spec);
  workloads::ExecutorOptions options;
  options.numerics = false;
  const workloads::GraphRun run = workloads::run_graph(device, applied.graph, options);
  const RunSummary direct = summarise_runs({&run}, 32, spec.host, HostMode{});
  EXPECT_DOUBLE_EQ(device_row.simulated, direct.fps_device);

  // tt-metal's AVG DEVICE KERNEL SAMPLES/S: the batch over the summed kernel durations, which
  // leave out the op-to-op gaps and firmware time the device rate counts.
  const RunProfile profile = build_profile(spec, {ChipRun{&run, nullptr}});
  double kernel_ns = 0;
  for (const OpProfile& op : profile.ops) kernel_ns += op.kernel_ns;
  EXPECT_DOUBLE_EQ(result.rows[1].simulated, 32 * 1e9 / kernel_ns);
  EXPECT_GT(result.rows[1].simulated, device_row.simulated);

  // Two replicas: end-to-end cannot beat twice one chip's device rate.
  const CalibrationRow& dp_row = result.rows[2];
  EXPECT_GT(dp_row.simulated, 0);
  EXPECT_LE(dp_row.simulated, 2 * direct.fps_device * 1.0001);
  EXPECT_NE(dp_row.note.find("dp 2"), std::string::npos);
}

TEST_F(ModelCalibrationTest, BadMappingsNameTheProblem) {
  const auto csv = write("models.csv", kCsv);
  auto message_of = [&](const std::string& mapping_text) {
    const auto mapping = write("bad.json", mapping_text);
    try {
      calibrate_models({}, csv, mapping);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message_of("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(message_of(R"({"configurations": {}, "rows": [{"model": "MLP", "hardware": "one chip",
      "metric": "device rate", "configuration": "nope", "device": "n300", "dp": 1, "batch": 32,
      "dispatch": "trace", "command_queues": 1, "compare": "device samples/s"}]})")
                .find("configuration 'nope'"),
            std::string::npos);
  std::string negative = kMapping;
  negative.replace(negative.find("\"dp\": 2"), 7, "\"dp\": -1");
  EXPECT_NE(message_of(negative).find("\"dp\" must be a whole number >= 1"), std::string::npos);
  std::string three_chips = kMapping;
  three_chips.replace(three_chips.find("\"dp\": 2"), 7, "\"dp\": 3");
  const ModelCalibration on_n300 = calibrate_models({}, csv, write("three.json", three_chips));
  ASSERT_EQ(on_n300.skipped.size(), 2u);  // the Galaxy row, and the row needing three chips
  EXPECT_NE(on_n300.skipped[0].reason.find("needs 3 chips"), std::string::npos);  // CSV order
  EXPECT_THROW(calibrate_models({}, dir_ / "missing.csv", write("ok.json", kMapping)), Error);
}

TEST_F(ModelCalibrationTest, AOneChipCandidateSpecSkipsDataParallelRows) {
  // `calibrate --spec FILE` with an n150-like candidate: the dp 2 row is listed, not an error.
  const auto n150 =
      std::filesystem::path(WORMSIM_SOURCE_DIR) / "arch" / "specs" / "wormhole_n150.json";
  const ModelCalibration result =
      calibrate_models(n150, write("models.csv", kCsv), write("mapping.json", kMapping));
  EXPECT_EQ(result.rows.size(), 2u);
  ASSERT_EQ(result.skipped.size(), 2u);
  EXPECT_NE(result.skipped[0].reason.find("needs 2 chips"), std::string::npos);
}

TEST(ModelCalibrationData, ProjectMappingNamesRowsOfTheCalibrationFile) {
  // Every row the shipped mapping describes exists in ../shared/calibration/models.csv, so a
  // renamed row cannot silently drop out of the report.
  std::ifstream in(default_model_calibration_mapping());
  ASSERT_TRUE(in.good());
  const auto json = nlohmann::json::parse(in);
  const CsvTable table = read_csv(calibration_directory() / "models.csv");
  const std::size_t c_model = table.column("model"), c_hw = table.column("hardware"),
                    c_metric = table.column("metric");
  ASSERT_FALSE(json.at("rows").empty());
  for (const auto& row : json.at("rows")) {
    EXPECT_TRUE(json.at("configurations").contains(row.at("configuration").get<std::string>()));
    const bool present = std::any_of(table.rows.begin(), table.rows.end(), [&](const auto& r) {
      return r[c_model] == row.at("model") && r[c_hw] == row.at("hardware") &&
             r[c_metric] == row.at("metric");
    });
    EXPECT_TRUE(present) << row.dump();
  }
}

}  // namespace
}  // namespace wormsim::analysis
