// `wormsim run` and `wormsim graph` end to end on the hand-written graph file.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

namespace {

const std::string kGraphs = std::string(WORMSIM_TEST_DATA_DIR) + "/graphs/";

struct Result {
  int status{0};
  std::string out;
};

// Runs the wormsim binary; stdout only (stderr goes to the test log). `wormsim run` gets --no-db
// so the tests leave no results database in the working directory (tests/cli covers it).
Result wormsim(const std::string& args) {
  const std::string command =
      std::string(WORMSIM_BINARY) + " " + args + (args.rfind("run ", 0) == 0 ? " --no-db" : "");
  Result r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.out.append(buffer.data(), n);
  r.status = pclose(pipe);
  return r;
}

TEST(RunCli, JsonReportHasTheKeysAndConsistentNumbers) {
  const Result r = wormsim("run --graph " + kGraphs + "mlp.json --format json --seed 3");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"model", "batch", "device_time_ns", "fps_device", "fps_e2e", "pcc",
                          "worst_op_pcc", "l1_peak_bytes", "dram_peak_bytes", "op_count"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["model"], "tiny-mlp");
  EXPECT_EQ(j["op_count"], 4);
  EXPECT_EQ(j["batch"], 1);
  const double device_ns = j["device_time_ns"];
  EXPECT_GT(device_ns, 0);
  EXPECT_NEAR(j["fps_device"].get<double>(), 1e9 / device_ns, 1e-6 * j["fps_device"].get<double>());
  EXPECT_LT(j["fps_e2e"].get<double>(),
            j["fps_device"].get<double>());  // host I/O and launch on top
  EXPECT_GT(j["pcc"].get<double>(), 0.99);
  EXPECT_GT(j["l1_peak_bytes"].get<double>(), 0);
  EXPECT_GT(j["dram_peak_bytes"].get<double>(), 0);
  EXPECT_EQ(j["ops"].size(), 4u);
  EXPECT_EQ(j["ops"][0]["name"], "fc1");
  EXPECT_EQ(j["ops"][0]["group"], "mlp");

  // Same seed, same numbers.
  const Result again = wormsim("run --graph " + kGraphs + "mlp.json --format json --seed 3");
  EXPECT_EQ(nlohmann::json::parse(again.out)["device_time_ns"], j["device_time_ns"]);
  EXPECT_EQ(nlohmann::json::parse(again.out)["pcc"], j["pcc"]);
}

TEST(RunCli, DataParallelOnN300DoublesThroughputAtMost) {
  const Result one = wormsim("run --graph " + kGraphs + "mlp.json --format json --numerics off");
  const Result two =
      wormsim("run --graph " + kGraphs + "mlp.json --format json --numerics off --dp 2");
  ASSERT_EQ(one.status, 0) << one.out;
  ASSERT_EQ(two.status, 0) << two.out;
  const nlohmann::json a = nlohmann::json::parse(one.out);
  const nlohmann::json b = nlohmann::json::parse(two.out);
  EXPECT_EQ(b["dp"], 2);
  EXPECT_TRUE(b["pcc"].is_null());  // numerics off
  const double ratio = b["fps_device"].get<double>() / a["fps_device"].get<double>();
  EXPECT_GT(ratio, 1.5);
  EXPECT_LE(ratio, 2.0 + 1e-9);
  // End to end, chip 1's transfers cross Ethernet and share PCIe: less than double.
  EXPECT_LT(b["fps_e2e"].get<double>(), 2.0 * a["fps_e2e"].get<double>());
  // n150 has one chip.
  EXPECT_NE(wormsim("run --graph " + kGraphs + "mlp.json --device n150 --dp 2 2>/dev/null").status,
            0);
}

TEST(RunCli, TableReportAndErrors) {
  const Result r = wormsim("run --graph " + kGraphs + "mlp.json");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* text : {"device time", "device FPS", "end-to-end FPS", "PCC", "L1 peak",
                           "DRAM peak", "top ops", "fc1", "Matmul"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
  }
  EXPECT_NE(wormsim("run --graph " + kGraphs + "cycle.json 2>/dev/null").status, 0);
  EXPECT_NE(wormsim("run 2>/dev/null").status, 0);  // neither --model nor --graph
  EXPECT_NE(wormsim("run --graph " + kGraphs + "mlp.json --batch 4 2>/dev/null").status, 0);
}

TEST(GraphCli, CensusAndSave) {
  const std::string saved = ::testing::TempDir() + "/wormsim_cli_graph.json";
  const Result r =
      wormsim("graph --graph " + kGraphs + "mlp.json --format json --time --save " + saved);
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["node_count"], 4);
  EXPECT_EQ(j["parameter_count"], 64 * 128 + 128 + 128 * 64);
  std::size_t matmuls = 0;
  double share = 0;
  for (const auto& row : j["census"]) {
    if (row["op"] == "matmul") matmuls = row["count"];
    share += row["share"].get<double>();
  }
  EXPECT_EQ(matmuls, 2u);
  EXPECT_NEAR(share, 1.0, 1e-9);
  // The saved file loads and gives the same census.
  const Result again = wormsim("graph --graph " + saved + " --format json");
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_EQ(nlohmann::json::parse(again.out)["flops"], j["flops"]);
  std::remove(saved.c_str());
}

}  // namespace
