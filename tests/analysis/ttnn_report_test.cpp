// The ttnn-visualizer report folder: TT-NN's report schema (ttnn-visualizer
// backend/ttnn_visualizer/tests/report_schemas.py SCHEMA_V2 + source files) and its contents.
#include "analysis/ttnn_report.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "sim/error.hpp"
#include "tests/analysis/synthetic_run.hpp"
#include "workloads/graph.hpp"

namespace wormsim::analysis {
namespace {

using testing::make_run;
using testing::mlp_nodes;
using testing::n300;
using testing::TempDir;

class ReportDb {
 public:
  explicit ReportDb(const std::filesystem::path& file) {
    EXPECT_EQ(sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  }
  ~ReportDb() { sqlite3_close(db_); }
  std::vector<std::vector<std::string>> rows(const std::string& sql) const {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::vector<std::vector<std::string>> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const unsigned char* text = sqlite3_column_text(stmt, c);
        row.push_back(text != nullptr ? reinterpret_cast<const char*>(text) : "NULL");
      }
      out.push_back(row);
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::string one(const std::string& sql) const { return rows(sql).at(0).at(0); }

 private:
  sqlite3* db_{nullptr};
};

// The columns of each table as TT-NN's report schema names them.
const std::map<std::string, std::vector<std::string>>& expected_schema() {
  static const std::map<std::string, std::vector<std::string>> schema = {
      {"devices",
       {"device_id", "num_y_cores", "num_x_cores", "num_y_compute_cores", "num_x_compute_cores",
        "worker_l1_size", "l1_num_banks", "l1_bank_size", "address_at_first_l1_bank",
        "address_at_first_l1_cb_buffer", "num_banks_per_storage_core", "num_compute_cores",
        "num_storage_cores", "total_l1_memory", "total_l1_for_tensors",
        "total_l1_for_interleaved_buffers", "total_l1_for_sharded_buffers", "cb_limit"}},
      {"operations", {"operation_id", "name", "duration"}},
      {"operation_arguments", {"operation_id", "name", "value"}},
      {"tensors",
       {"tensor_id", "shape", "dtype", "layout", "memory_config", "device_id", "address",
        "buffer_type"}},
      {"device_tensors", {"tensor_id", "device_id", "address"}},
      {"buffers",
       {"operation_id", "device_id", "address", "max_size_per_bank", "buffer_type",
        "buffer_layout"}},
      {"captured_graph", {"operation_id", "captured_graph"}},
      {"nodes", {"operation_id", "unique_id", "node_operation_id", "name"}},
      {"edges",
       {"operation_id", "source_unique_id", "sink_unique_id", "source_output_index",
        "sink_input_index", "key"}},
      {"report_metadata", {"key", "value"}},
      {"errors",
       {"operation_id", "operation_name", "error_type", "error_message", "stack_trace",
        "timestamp"}},
      {"stack_traces", {"operation_id", "stack_trace", "source_file_id"}},
      {"source_files", {"id", "path", "contents"}},
      {"input_tensors", {"operation_id", "input_index", "tensor_id"}},
      {"output_tensors", {"operation_id", "output_index", "tensor_id"}},
      {"local_tensor_comparison_records",
       {"tensor_id", "golden_tensor_id", "matches", "desired_pcc", "actual_pcc"}},
      {"global_tensor_comparison_records",
       {"tensor_id", "golden_tensor_id", "matches", "desired_pcc", "actual_pcc"}},
      {"buffer_pages",
       {"operation_id", "device_id", "address", "core_y", "core_x", "bank_id", "page_index",
        "page_address", "page_size", "buffer_type"}},
  };
  return schema;
}

// The synthetic MLP as a graph, so tensors get their graph ids and names.
workloads::Graph mlp_graph() {
  const auto nodes = mlp_nodes();
  workloads::Graph g("synthetic", n300());
  const auto x = g.add_input(
      "x", nodes[0].inputs[0].with_memory_config(ops::MemoryConfig::dram_interleaved()));
  const auto w = g.add_weight("fc1.weight", nodes[0].inputs[1]);
  const auto b = g.add_weight("b1", nodes[1].inputs[1]);
  const auto h = g.op("fc1", "matmul", {x, w}, {{"output_memory", "l1-interleaved"}}, "mlp");
  const auto hb = g.op("fc1.bias", "add", {h, b}, nlohmann::json::object(), "mlp");
  g.mark_output(g.op("act", "relu", {hb}, nlohmann::json::object(), "head"));
  return g;
}

TEST(TtnnReport, FolderHasTheReportSchemaAndTheRun) {
  TempDir dir("ttnn");
  const workloads::GraphRun run = make_run(mlp_nodes());
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  RunInfo info;
  info.model = "mlp";
  info.graph = "synthetic";
  info.wormsim_version = "test";
  write_ttnn_report(dir / "report", profile, info);
  ASSERT_TRUE(std::filesystem::exists(dir / "report" / "db.sqlite"));
  ReportDb db(dir / "report" / "db.sqlite");
  for (const auto& [table, columns] : expected_schema()) {
    std::vector<std::string> actual;
    for (const auto& row : db.rows("PRAGMA table_info(" + table + ")")) actual.push_back(row.at(1));
    EXPECT_EQ(actual, columns) << table;
  }
  EXPECT_EQ(db.one("SELECT count(*) FROM devices"), "1");
  EXPECT_EQ(db.one("SELECT num_x_compute_cores * num_y_compute_cores FROM devices"), "64");
  EXPECT_EQ(db.one("SELECT count(*) FROM operations"), "3");
  EXPECT_EQ(db.one("SELECT name FROM operations WHERE operation_id = 0"), "ttnn.matmul");
  EXPECT_NEAR(std::stod(db.one("SELECT duration FROM operations WHERE operation_id = 0")),
              static_cast<double>(run.nodes[0].record.timing.fw_duration()) * 1e-9, 1e-15);
  EXPECT_EQ(
      db.one("SELECT value FROM operation_arguments WHERE operation_id = 1 AND name = 'op_code'"),
      "BinaryNgDeviceOperation");
  EXPECT_EQ(db.one("SELECT value FROM operation_arguments WHERE operation_id = 0 AND name = "
                   "'math_fidelity'"),
            "HiFi2");
  // Without the graph every operand is its own tensor: 5 inputs + 3 outputs.
  EXPECT_EQ(db.one("SELECT count(*) FROM tensors"), "8");
  EXPECT_EQ(db.one("SELECT count(*) FROM input_tensors"), "5");
  EXPECT_EQ(db.one("SELECT count(*) FROM output_tensors"), "3");
  EXPECT_EQ(db.one("SELECT count(*) FROM input_tensors i LEFT JOIN tensors t USING (tensor_id) "
                   "WHERE t.tensor_id IS NULL"),
            "0");
  EXPECT_EQ(db.one("SELECT dtype FROM tensors t JOIN input_tensors i USING (tensor_id) WHERE "
                   "i.operation_id = 0 AND "
                   "i.input_index = 1"),
            "DataType.BFLOAT8_B");
  EXPECT_EQ(db.one("SELECT shape FROM tensors t JOIN input_tensors i USING (tensor_id) WHERE "
                   "i.operation_id = 1 AND "
                   "i.input_index = 1"),
            "Shape([1, 1, 1, 1024])");
  EXPECT_NE(
      db.one("SELECT memory_config FROM tensors t JOIN input_tensors i USING (tensor_id) WHERE "
             "i.operation_id = 0 AND i.input_index = 0")
          .find("TensorMemoryLayout::BLOCK_SHARDED"),
      std::string::npos);
  // Buffers: L1 block-sharded (type 1, layout 4) and DRAM interleaved (0, 0).
  EXPECT_EQ(
      db.one(
          "SELECT buffer_type || ',' || buffer_layout FROM buffers WHERE operation_id = 0 LIMIT 1"),
      "1,4");
  // fc1.weight; the bias and fc1.bias's output; act's input and output.
  EXPECT_EQ(db.one("SELECT count(*) FROM buffers WHERE buffer_type = 0 AND buffer_layout = 0"),
            "5");
  EXPECT_EQ(
      db.one("SELECT max_size_per_bank FROM buffers WHERE operation_id = 0 LIMIT 1"),
      std::to_string(ops::memory_footprint(run.nodes[0].record.inputs[0], n300()).bytes_per_bank));
  // PCC of each op's output against its golden.
  EXPECT_EQ(db.one("SELECT count(*) FROM global_tensor_comparison_records"), "3");
  EXPECT_EQ(
      db.one(
          "SELECT matches FROM global_tensor_comparison_records ORDER BY actual_pcc DESC LIMIT 1"),
      "1");
  EXPECT_EQ(db.one("SELECT count(*) FROM global_tensor_comparison_records WHERE matches = 0"), "2");
  EXPECT_EQ(db.one("SELECT value FROM report_metadata WHERE key = 'report_name'"), "mlp (wormsim)");

  std::ifstream config_file(dir / "report" / "config.json");
  const nlohmann::json config = nlohmann::json::parse(config_file);
  EXPECT_EQ(config.at("report_name"), "mlp (wormsim)");
  EXPECT_EQ(config.at("enable_logging"), true);
  EXPECT_EQ(config.at("wormsim").at("model"), "mlp");
  for (const auto& entry : std::filesystem::directory_iterator(dir / "report")) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos);
  }
}

TEST(TtnnReport, WithTheGraphTensorsAreSharedBetweenProducerAndConsumer) {
  TempDir dir("ttnn_graph");
  const workloads::Graph graph = mlp_graph();
  const workloads::GraphRun run = make_run(mlp_nodes());
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  RunInfo info;
  info.model = "mlp";
  write_ttnn_report(dir.path(), profile, info, &graph);
  ReportDb db(dir / "db.sqlite");
  // x, fc1.weight, b1, and the three activations.
  EXPECT_EQ(db.one("SELECT count(*) FROM tensors"), "6");
  // fc1's output is fc1.bias's input 0.
  EXPECT_EQ(db.one("SELECT o.tensor_id = i.tensor_id FROM output_tensors o, input_tensors i WHERE "
                   "o.operation_id = 0 "
                   "AND i.operation_id = 1 AND i.input_index = 0"),
            "1");
  // Writing again replaces the report.
  write_ttnn_report(dir.path(), profile, info, &graph);
  ReportDb again(dir / "db.sqlite");
  EXPECT_EQ(again.one("SELECT count(*) FROM operations"), "3");
}

TEST(TtnnReport, AFileInTheWayIsAClearError) {
  TempDir dir("ttnn_error");
  { std::ofstream(dir / "taken") << "x"; }
  const workloads::GraphRun run = make_run(mlp_nodes());
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  try {
    write_ttnn_report(dir / "taken", profile, RunInfo{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--ttnn-report"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace wormsim::analysis
