// A real (small) model run through the executor, its per-op traffic recorded, and every output
// written by write_run_outputs; then `wormsim query` over the database it produced.
#include "analysis/run_outputs.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "analysis/csv_table.hpp"
#include "ops/device.hpp"
#include "sim/error.hpp"
#include "tests/analysis/synthetic_run.hpp"
#include "tests/workloads/graph_fixtures.hpp"

namespace wormsim::analysis {
namespace {

using testing::n300;
using testing::TempDir;

struct CommandResult {
  int status{0};
  std::string out;
};

CommandResult run_command(const std::string& args) {
  const std::string command = std::string(WORMSIM_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  CommandResult result;
  if (pipe == nullptr) return {-1, ""};
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class RealRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("real_run");
    device_ = new ops::Device(n300());
    graph_ = new workloads::Graph(workloads::testing::tiny_mlp(n300()));
    TrafficRecorder traffic(device_->engine());
    workloads::ExecutorOptions options;
    options.seed = 3;
    traffic.begin_run();
    options.progress = traffic.wrap();
    run_ = new workloads::GraphRun(workloads::run_graph(*device_, *graph_, options));
    traffic_ = new RunTraffic(traffic.finish_run());

    RunOutputRequest request;
    request.spec = &n300();
    request.graph = graph_;
    request.info.model = "tiny-mlp";
    request.info.graph = graph_->name();
    request.info.device = "n300";
    request.info.batch = graph_->batch();
    request.info.seed = 3;
    request.info.wormsim_version = "test";
    request.info.config = {{"model", "tiny-mlp"}};
    request.runs = {{run_, traffic_}};
    request.engine = &device_->engine();
    request.csv_path = *dir_ / "ops.csv";
    request.db_path = *dir_ / "wormsim.db";
    request.trace_json_path = *dir_ / "trace.json";
    request.ttnn_report_dir = *dir_ / "ttnn";
    request.report = &report_;
    result_ = new RunOutputResult(write_run_outputs(request));
  }
  static void TearDownTestSuite() {
    delete result_;
    delete traffic_;
    delete run_;
    delete graph_;
    delete device_;
    delete dir_;
  }

  static TempDir* dir_;
  static ops::Device* device_;
  static workloads::Graph* graph_;
  static workloads::GraphRun* run_;
  static RunTraffic* traffic_;
  static RunOutputResult* result_;
  static std::ostringstream report_;
};

TempDir* RealRun::dir_ = nullptr;
ops::Device* RealRun::device_ = nullptr;
workloads::Graph* RealRun::graph_ = nullptr;
workloads::GraphRun* RealRun::run_ = nullptr;
RunTraffic* RealRun::traffic_ = nullptr;
RunOutputResult* RealRun::result_ = nullptr;
std::ostringstream RealRun::report_;

TEST_F(RealRun, TrafficNamesEveryEngineElementAndEveryNodeMovedData) {
  ASSERT_EQ(traffic_->nodes.size(), run_->nodes.size());
  std::size_t links = 0, banks = 0;
  for (const std::string& name : traffic_->element_names) {
    const ElementInfo e = parse_element_name(name);
    links += e.kind == ElementKind::NocLink ? 1 : 0;
    banks += e.kind == ElementKind::DramBank ? 1 : 0;
  }
  EXPECT_GT(links, 0u);
  EXPECT_EQ(banks, n300().num_chips * n300().dram.banks.size());
  for (const auto& uses : traffic_->nodes) EXPECT_FALSE(uses.empty());
}

TEST_F(RealRun, CsvRowsMatchTheRun) {
  const CsvTable csv = read_csv(*dir_ / "ops.csv");
  ASSERT_EQ(csv.rows.size(), run_->nodes.size());
  for (std::size_t r = 0; r < csv.rows.size(); ++r) {
    const auto& row = csv.rows[r];
    const ops::OpRecord& rec = run_->nodes[r].record;
    EXPECT_EQ(row[csv.column("OP CODE")], rec.op_code);
    const double kernel = std::stod(row[csv.column("DEVICE KERNEL DURATION [ns]")]);
    EXPECT_EQ(kernel, static_cast<double>(rec.timing.kernel_duration()));
    EXPECT_LE(kernel, std::stod(row[csv.column("DEVICE FW DURATION [ns]")]));
    EXPECT_EQ(std::stoul(row[csv.column("CORE COUNT")]), rec.timing.core_count);
    // Per-op NoC and DRAM utilisation from the recorded traffic, within 0..100 %.
    const double noc = std::stod(row[csv.column("NOC UTIL (%)")]);
    EXPECT_GT(noc, 0.0);
    EXPECT_LE(noc, 100.0);
    const double dram = std::stod(row[csv.column("DRAM BW UTIL (%)")]);
    EXPECT_GE(dram, 0.0);
    EXPECT_LE(dram, 100.0);
    EXPECT_EQ(row[csv.column("INPUT_0_MEMORY")], "DEV_0_DRAM_INTERLEAVED");
  }
  // The matmuls read DRAM weights: their DRAM utilisation is not zero.
  EXPECT_GT(std::stod(csv.rows[0][csv.column("DRAM BW UTIL (%)")]), 0.0);
}

TEST_F(RealRun, DatabaseTraceReportAndTtnnFolder) {
  ASSERT_TRUE(result_->run_id.has_value());
  ResultsDb db = ResultsDb::open_read_only(*dir_ / "wormsim.db");
  const QueryResult ops = query_ops(db, *result_->run_id);
  EXPECT_EQ(ops.rows.size(), run_->nodes.size());
  const QueryResult scope = db.query("SELECT traffic_scope, op_count FROM runs");
  EXPECT_EQ(std::get<std::string>(scope.rows[0][0]), "per-op");
  // Tensor names come from the graph.
  const QueryResult w = db.query("SELECT kind FROM tensors WHERE name = 'fc1.weight'");
  ASSERT_EQ(w.rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(w.rows[0][0]), "weight");
  // Whole-run rows include PCIe (the input write) and DRAM banks.
  EXPECT_GT(std::get<std::int64_t>(
                db.query("SELECT count(*) FROM link_stats WHERE op_index IS NULL AND kind = 'pcie'")
                    .rows[0][0]),
            0);
  EXPECT_GT(std::get<std::int64_t>(
                db.query("SELECT count(*) FROM dram_bank_stats WHERE op_index IS NULL").rows[0][0]),
            0);
  EXPECT_GT(std::get<std::int64_t>(
                db.query("SELECT count(*) FROM link_stats WHERE op_index = 0").rows[0][0]),
            0);

  std::ifstream trace_file(*dir_ / "trace.json");
  const nlohmann::json trace = nlohmann::json::parse(trace_file);
  EXPECT_GT(trace.at("traceEvents").size(), run_->nodes.size());

  EXPECT_NE(report_.str().find("Matmul"), std::string::npos) << report_.str();
  EXPECT_NE(report_.str().find("advice"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(*dir_ / "ttnn" / "db.sqlite"));
  EXPECT_TRUE(std::filesystem::exists(*dir_ / "ttnn" / "config.json"));
  EXPECT_GT(result_->summary.fps_device, 0.0);
}

TEST_F(RealRun, QueryCommandReadsTheDatabase) {
  const std::string db = " --db " + (*dir_ / "wormsim.db").string();
  CommandResult r = run_command("query runs --format json" + db);
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json runs = nlohmann::json::parse(r.out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["model"], "tiny-mlp");

  r = run_command("query top-ops --run 1 --limit 2" + db);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Matmul"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kernel_us"), std::string::npos) << r.out;

  r = run_command("query ops --run 1 --format csv" + db);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "op_index,chip,node,op_code,cores,kernel_us,fw_us,gap_us,bound,dram_pct,flops_pct,noc_"
            "util_pct,pcc");

  r = run_command("query diff 1 1" + db);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("fc1"), std::string::npos);

  r = run_command("query strategies --model tiny-mlp --format json" + db);
  ASSERT_EQ(r.status, 0) << r.out;

  r = run_command("query --sql \"SELECT count(*) AS n FROM ops\" --format json" + db);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)[0]["n"], run_->nodes.size());

  r = run_command("query --sql \"DELETE FROM runs\"" + db);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("would modify"), std::string::npos) << r.out;

  r = run_command("query ops" + db);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--run N"), std::string::npos) << r.out;

  r = run_command("query runs --db " + (*dir_ / "absent.db").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("no results database"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "absent.db"));  // reading never creates it
}

std::string check_error(const RunOutputRequest& request) {
  try {
    check_run_outputs(request);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CheckRunOutputs, RefusesPathsThatCannotBeWrittenAndWritesNothing) {
  TempDir dir("check_outputs");
  RunOutputRequest ok;
  ok.csv_path = dir / "ops.csv";
  ok.trace_json_path = dir / "trace.json";
  ok.db_path = dir / "wormsim.db";
  ok.ttnn_report_dir = dir / "reports" / "run1";  // created (with its parent) when written
  EXPECT_EQ(check_error(ok), "");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // checking creates nothing

  RunOutputRequest r = ok;
  r.csv_path = dir / "missing" / "ops.csv";
  std::string message = check_error(r);
  EXPECT_NE(message.find("missing/ops.csv"), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  EXPECT_NE(message.find("--csv FILE"), std::string::npos) << message;

  std::filesystem::create_directory(dir / "a_dir");
  r = ok;
  r.trace_json_path = dir / "a_dir";
  message = check_error(r);
  EXPECT_NE(message.find("is a directory"), std::string::npos) << message;
  EXPECT_NE(message.find("--trace-json FILE"), std::string::npos) << message;

  r = ok;
  r.trace_json_path = dir / "." / "ops.csv";
  message = check_error(r);
  EXPECT_NE(message.find("--csv FILE and --trace-json FILE both name"), std::string::npos)
      << message;
  r = ok;
  r.ttnn_report_dir = ok.csv_path;
  message = check_error(r);
  EXPECT_NE(message.find("--ttnn-report DIR both name"), std::string::npos) << message;

  std::ofstream(dir / "a_file") << "x";
  r = ok;
  r.ttnn_report_dir = dir / "a_file";
  message = check_error(r);
  EXPECT_NE(message.find("a file of that name exists"), std::string::npos) << message;
  r.ttnn_report_dir = dir / "a_file" / "report";
  message = check_error(r);
  EXPECT_NE(message.find("is a file, not a directory"), std::string::npos) << message;

  // An existing database must be a wormsim one; a missing one is not created by the check.
  r = ok;
  r.db_path = dir / "a_file";
  message = check_error(r);
  EXPECT_NE(message.find("a_file"), std::string::npos) << message;
  EXPECT_NE(message.find("--db"), std::string::npos) << message;
  r.db_path = std::nullopt;  // --no-db: nothing to check
  EXPECT_EQ(check_error(r), "");
  EXPECT_FALSE(std::filesystem::exists(dir / "wormsim.db"));
}

}  // namespace
}  // namespace wormsim::analysis
