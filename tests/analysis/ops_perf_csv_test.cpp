// The ops_perf_results CSV against tt-metal's real header and the synthetic run's known values.
//
// tests/data/tt_metal_ops_perf_header.csv is the header row of a real tt-metal profile:
// tenstorrent/tt-perf-report tests/data/bh_8xp150_deepseek_v3_d_p.csv (commit 635e4708), which
// follows tt-metal tools/tracy/process_ops_logs.py OPS_CSV_HEADER with 8 input and 3 output
// tensor groups, plus DRAM BW UTIL PER CTRL (%) after DRAM BW UTIL (%) as current
// process_ops_logs.py writes it (shared/reference/wormhole_n300_facts.md §5.1: the copy is that
// header exactly, tensor groups expanded).
#include "analysis/ops_perf_csv.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "analysis/csv_table.hpp"
#include "sim/error.hpp"
#include "tests/analysis/synthetic_run.hpp"

namespace wormsim::analysis {
namespace {

using testing::make_run;
using testing::make_traffic;
using testing::mlp_nodes;
using testing::n300;
using testing::NodeSpec;
using testing::TempDir;
using testing::tile_tensor;

CsvTable tt_metal_header() {
  return read_csv(std::filesystem::path(WORMSIM_TEST_DATA_DIR) / "tt_metal_ops_perf_header.csv");
}

TEST(OpsPerfCsv, HeaderFunctionEqualsTtMetalHeader) {
  const CsvTable real = tt_metal_header();
  ASSERT_EQ(real.header.size(), 140u);
  EXPECT_EQ(ops_perf_header(8, 3), real.header);
}

TEST(OpsPerfCsv, WrittenFileHeaderEqualsTtMetalHeaderForAnEightInputThreeOutputOp) {
  // One op as wide as the reference file's widest one: 8 inputs, 3 outputs.
  const ops::TensorSpec t = tile_tensor({1, 1, 64, 64});
  const NodeSpec wide = testing::node_spec("concat_split", "synthetic", "SyntheticDeviceOperation",
                                           std::vector<ops::TensorSpec>(8, t),
                                           std::vector<ops::TensorSpec>(3, t), 900, 8, false);
  const workloads::GraphRun run = make_run({mlp_nodes()[0], wide});
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  TempDir dir("csv_header");
  write_ops_perf_csv(dir / "ops.csv", profile);
  const CsvTable written = read_csv(dir / "ops.csv");
  EXPECT_EQ(written.header, tt_metal_header().header);
  ASSERT_EQ(written.rows.size(), 2u);
  // The narrower op leaves the groups it lacks empty.
  EXPECT_EQ(written.rows[0][written.column("INPUT_2_LAYOUT")], "");
  EXPECT_EQ(written.rows[1][written.column("INPUT_7_LAYOUT")], "TILE");
  EXPECT_EQ(written.rows[1][written.column("OUTPUT_2_MEMORY")], "DEV_0_DRAM_INTERLEAVED");
}

class OpsPerfValues : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = make_run(mlp_nodes(), 500);
    traffic_ = make_traffic(run_.nodes.size(), 600);
    profile_ = build_profile(n300(), {{&run_, &traffic_}});
    write_ops_perf_csv(dir_ / "ops.csv", profile_);
    table_ = read_csv(dir_ / "ops.csv");
  }
  const std::string& cell(std::size_t row, const std::string& column) const {
    return table_.rows.at(row).at(table_.column(column));
  }
  double number(std::size_t row, const std::string& column) const {
    return std::stod(cell(row, column));
  }

  TempDir dir_{"csv_values"};
  workloads::GraphRun run_;
  RunTraffic traffic_;
  RunProfile profile_;
  CsvTable table_;
};

TEST_F(OpsPerfValues, IdentityColumns) {
  ASSERT_EQ(table_.rows.size(), 3u);
  // Two input groups (widest op) and one output group.
  EXPECT_TRUE(table_.find_column("INPUT_1_MEMORY"));
  EXPECT_FALSE(table_.find_column("INPUT_2_MEMORY"));
  EXPECT_FALSE(table_.find_column("OUTPUT_1_MEMORY"));
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(cell(r, "OP TYPE"), "tt_dnn_device");
    EXPECT_EQ(cell(r, "DEVICE ID"), "0");
    EXPECT_EQ(cell(r, "DEVICE ARCH"), "wormhole_b0");
    EXPECT_EQ(cell(r, "AVAILABLE WORKER CORE COUNT"), "64");
    EXPECT_EQ(cell(r, "GLOBAL CALL COUNT"), std::to_string((r + 1) * 1024));
    EXPECT_EQ(cell(r, "METAL TRACE ID"), "1");  // a traced run
    EXPECT_EQ(cell(r, "METAL TRACE REPLAY SESSION ID"), "1");
  }
  EXPECT_EQ(cell(0, "OP CODE"), "MatmulDeviceOperation");
  EXPECT_EQ(cell(0, "MATH FIDELITY"), "HiFi2");
  EXPECT_EQ(cell(1, "MATH FIDELITY"), "HiFi4");
  EXPECT_EQ(cell(0, "CORE COUNT"), "64");
  EXPECT_EQ(cell(1, "CORE COUNT"), "32");
  EXPECT_EQ(cell(0, "ATTRIBUTES"), run_.nodes[0].record.attributes);
}

TEST_F(OpsPerfValues, TensorColumnsUsePadLogicalShapesAndDeviceMemory) {
  const std::regex pad_logical(R"(^\d+\[\d+\]$)");
  for (std::size_t r = 0; r < 3; ++r) {
    for (const char* dim : {"W", "Z", "Y", "X"}) {
      EXPECT_TRUE(
          std::regex_match(cell(r, std::string("INPUT_0_") + dim + "_PAD[LOGICAL]"), pad_logical));
      EXPECT_TRUE(
          std::regex_match(cell(r, std::string("OUTPUT_0_") + dim + "_PAD[LOGICAL]"), pad_logical));
    }
  }
  EXPECT_EQ(cell(0, "INPUT_0_Y_PAD[LOGICAL]"), "256[256]");
  EXPECT_EQ(cell(0, "INPUT_0_MEMORY"), "DEV_0_L1_BLOCK_SHARDED");
  EXPECT_EQ(cell(0, "INPUT_1_MEMORY"), "DEV_0_DRAM_INTERLEAVED");
  EXPECT_EQ(cell(0, "INPUT_1_DATATYPE"), "BFLOAT8_B");
  EXPECT_EQ(cell(0, "OUTPUT_0_MEMORY"), "DEV_0_L1_INTERLEAVED");
  EXPECT_EQ(cell(1, "INPUT_1_Y_PAD[LOGICAL]"), "32[1]");  // the bias row, padded to a tile
  EXPECT_EQ(cell(1, "INPUT_1_LAYOUT"), "TILE");
  EXPECT_EQ(cell(2, "INPUT_1_LAYOUT"), "");  // relu has one input
}

TEST_F(OpsPerfValues, DeviceTimesAreConsistent) {
  for (std::size_t r = 0; r < 3; ++r) {
    const ops::ProgramTiming& t = run_.nodes[r].record.timing;
    EXPECT_EQ(number(r, "DEVICE KERNEL DURATION [ns]"), static_cast<double>(t.kernel_duration()));
    EXPECT_EQ(number(r, "DEVICE FW DURATION [ns]"), static_cast<double>(t.fw_duration()));
    EXPECT_LE(number(r, "DEVICE KERNEL DURATION [ns]"), number(r, "DEVICE FW DURATION [ns]"));
    EXPECT_EQ(number(r, "DEVICE FW END CYCLE") - number(r, "DEVICE FW START CYCLE"),
              number(r, "DEVICE FW DURATION [ns]"));
    EXPECT_LE(number(r, "DEVICE KERNEL DURATION DM START [ns]"),
              number(r, "DEVICE KERNEL DURATION [ns]"));
    EXPECT_LE(number(r, "DEVICE KERNEL DURATION PER CORE MIN [ns]"),
              number(r, "DEVICE KERNEL DURATION PER CORE MAX [ns]"));
    EXPECT_LE(number(r, "DEVICE KERNEL DURATION PER CORE MAX [ns]"),
              number(r, "DEVICE KERNEL DURATION [ns]"));
    EXPECT_EQ(number(r, "DEVICE KERNEL FIRST TO LAST START [ns]"),
              static_cast<double>(t.core_count - 1));
    for (const char* risc : {"BRISC", "NCRISC", "TRISC0", "TRISC1", "TRISC2"}) {
      const std::string column = std::string("DEVICE ") + risc + " KERNEL DURATION [ns]";
      EXPECT_LE(number(r, column), number(r, "DEVICE KERNEL DURATION [ns]")) << column;
    }
    EXPECT_EQ(cell(r, "DEVICE ERISC KERNEL DURATION [ns]"), "");  // single-chip op
    EXPECT_EQ(number(r, "DEVICE COMPUTE CB WAIT FRONT [ns]"), 30);
    EXPECT_EQ(number(r, "DEVICE COMPUTE CB RESERVE BACK [ns]"), 12);
    EXPECT_EQ(number(r, "HOST END TS"), static_cast<double>(t.fw_start));
    EXPECT_EQ(number(r, "HOST DURATION [ns]"),
              500);  // issued during the gap (launch for the first)
  }
  // Op-to-op: 0 for the first op, then this FW start - previous FW end.
  EXPECT_EQ(number(0, "OP TO OP LATENCY [ns]"), 0);
  EXPECT_EQ(number(1, "OP TO OP LATENCY [ns]"), 500);
  EXPECT_EQ(number(2, "OP TO OP LATENCY [ns]"), 500);
  EXPECT_GT(number(1, "OP TO OP LATENCY BR/NRISC START [ns]"), number(1, "OP TO OP LATENCY [ns]"));
}

TEST_F(OpsPerfValues, ColumnsSiliconLeavesEmptyStayEmpty) {
  for (const char* column :
       {"PARALLELIZATION STRATEGY", "DISPATCH TOTAL CQ CMD OP TIME [ns]",
        "DISPATCH GO SEND WAIT TIME [ns]", "COMPUTE KERNEL SOURCE", "COMPUTE KERNEL HASH",
        "DATA MOVEMENT KERNEL SOURCE", "DATA MOVEMENT KERNEL HASH", "PROGRAM HASH",
        "PROGRAM CACHE HIT", "TENSIX DM 0 MAX KERNEL SIZE [B]", "IDLE ETH DM 1 MAX KERNEL SIZE [B]",
        "MULTICAST NOC UTIL (%)", "ETH BW UTIL (%)", "NPE CONG IMPACT (%)"}) {
    for (std::size_t r = 0; r < 3; ++r) EXPECT_EQ(cell(r, column), "") << column;
  }
}

TEST_F(OpsPerfValues, PerfModelAndUtilisationColumns) {
  // matmul: PM COMPUTE 1024 ns of a 4000 ns kernel = 25.6 % FPU.
  EXPECT_EQ(cell(0, "PM COMPUTE [ns]"), "1024");
  EXPECT_EQ(cell(0, "PM FPU UTIL (%)"), "25.6");
  const double bandwidth = number(0, "PM BANDWIDTH [ns]");
  EXPECT_EQ(number(0, "PM IDEAL [ns]"), std::max(1024.0, bandwidth));
  EXPECT_EQ(cell(1, "PM COMPUTE [ns]"), "0");
  EXPECT_EQ(cell(1, "PM FPU UTIL (%)"), "0.0");
  // Requested bandwidth lists have one entry per tensor.
  EXPECT_EQ(std::count(cell(0, "PM REQ I BW").begin(), cell(0, "PM REQ I BW").end(), ';'), 1);
  EXPECT_EQ(cell(0, "PM REQ I BW").front(), '[');
  // Link traffic: 600 + 300 + 150 busy cycles over 3 links in a 4000-cycle kernel.
  EXPECT_NEAR(number(0, "NOC UTIL (%)"), 100.0 * 1050 / (3 * 4000), 0.06);
  // DRAM: 600*12 + 600*6 bytes through two banks, against 12 banks x 24 B/cycle x 4000 cycles.
  const double peak = n300().dram.bank_peak_bytes_per_cycle * 12;
  EXPECT_NEAR(number(0, "DRAM BW UTIL (%)"), 100.0 * (600 * 12 + 600 * 6) / (peak * 4000), 0.06);
  // Per controller: banks 0 and 1 are both controller 0, the busiest (the only one used),
  // against one controller's bandwidth.
  ASSERT_EQ(n300().dram.banks[0].controller, n300().dram.banks[1].controller);
  const double controller = n300().dram.controller_bytes_per_cycle;
  EXPECT_NEAR(number(0, "DRAM BW UTIL PER CTRL (%)"),
              100.0 * (600 * 12 + 600 * 6) / (controller * 4000), 0.06);
  EXPECT_GT(number(0, "DRAM BW UTIL PER CTRL (%)"), number(0, "DRAM BW UTIL (%)"));
}

TEST(OpsPerfCsv, EagerOpsHaveNoTraceIdAndNoTrafficColumnsWithoutRecording) {
  const workloads::GraphRun run = make_run(mlp_nodes(), 9000, 0, workloads::DispatchMode::Eager);
  const OpsPerfTable table = ops_perf_table(build_profile(n300(), {{&run, nullptr}}));
  const auto col = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(table.header.begin(), table.header.end(), name) -
                                    table.header.begin());
  };
  for (const auto& row : table.rows) {
    EXPECT_EQ(row[col("METAL TRACE ID")], "");
    EXPECT_EQ(row[col("NOC UTIL (%)")], "");
    EXPECT_EQ(row[col("DRAM BW UTIL (%)")], "");
    EXPECT_EQ(row[col("DRAM BW UTIL PER CTRL (%)")], "");
  }
  EXPECT_EQ(table.rows[1][col("OP TO OP LATENCY [ns]")], "9000");
}

TEST(OpsPerfCsv, RequestedBandwidthListMatchesTtMetalOutput) {
  // Row 1 of tt-perf-report tests/data/bh_8xp150_deepseek_v3_d_p.csv: a 3200x1792 BF16 @
  // 1792x1536 BFLOAT8_B matmul with PM IDEAL 57924 ns prints these requested bandwidths.
  const std::vector<ops::TensorSpec> inputs = {
      tile_tensor({1, 1, 3200, 1792}), tile_tensor({1, 1, 1792, 1536}, ops::DataType::BFloat8_B)};
  EXPECT_EQ(pm_bandwidth_list(inputs, 57924), "[197.99737548828125; 47.519371032714844]");
  EXPECT_EQ(pm_bandwidth_list({tile_tensor({1, 1, 3200, 1536})}, 57924), "[169.7120361328125]");
  EXPECT_EQ(pm_bandwidth_list({}, 57924), "[]");
  // And its PM FPU UTIL: 57924 / 93885 ns.
  EXPECT_EQ(python_float(100.0 * 57924 / 93885, 3), "61.697");
  EXPECT_EQ(python_float(100.0 * 1 / 10429, 3), "0.01");
  EXPECT_EQ(python_float(50.0, 1), "50.0");
}

TEST(OpsPerfCsv, FailedWriteLeavesNoPartialFileAndNamesThePath) {
  const workloads::GraphRun run = make_run(mlp_nodes());
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  TempDir dir("csv_fail");
  // A directory where the file should go: the rename fails, the directory stays as it was.
  std::filesystem::create_directory(dir / "taken");
  try {
    write_ops_perf_csv(dir / "taken", profile);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "taken").string()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir / "taken"));
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
  // A missing directory is named in the error.
  EXPECT_THROW(write_ops_perf_csv(dir / "missing" / "ops.csv", profile), Error);
  // An existing file is replaced whole.
  {
    std::ofstream old(dir / "ops.csv");
    old << "old,content\n";
  }
  write_ops_perf_csv(dir / "ops.csv", profile);
  EXPECT_EQ(read_csv(dir / "ops.csv").rows.size(), 3u);
}

}  // namespace
}  // namespace wormsim::analysis
