// A real (small) model run through the executor, its per-op traffic recorded, and every output
// written by write_run_outputs; then `wormsim query` over the database it produced.
#include "analysis/run_outputs.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

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

    RunOutputRequest request = request_writing_to(*dir_);
    request.report = &report_;
    result_ = new RunOutputResult(write_run_outputs(request));
  }
  // Every output of the suite's run (CSV, database, trace, ttnn report) into `dir`.
  static RunOutputRequest request_writing_to(const TempDir& dir) {
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
    request.csv_path = dir / "ops.csv";
    request.db_path = dir / "wormsim.db";
    request.trace_json_path = dir / "trace.json";
    request.ttnn_report_dir = dir / "ttnn";
    return request;
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

TEST_F(RealRun, AnInterruptBetweenTwoOutputsRemovesTheOnesAlreadyWritten) {
  // A run leaves all of its outputs or none: SIGINT after the CSV is in place (and again after
  // the trace) must remove what this run wrote, write no database row, and end the process by
  // the signal. In a child process, since the signal takes its default effect.
  for (int interrupt_after = 1; interrupt_after <= 2; ++interrupt_after) {
    TempDir out("interrupted_outputs");
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      RunOutputRequest request = request_writing_to(out);
      int outputs = 0;
      request.after_each_output = [&] {
        if (++outputs == interrupt_after) ::raise(SIGINT);
      };
      try {
        write_run_outputs(request);
      } catch (...) {
        _exit(3);
      }
      _exit(0);  // the signal was lost
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "after output " << interrupt_after << ": exit status "
                                     << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    EXPECT_EQ(WTERMSIG(status), SIGINT);
    for (const auto& entry : std::filesystem::directory_iterator(out.path()))
      ADD_FAILURE() << "left behind after output " << interrupt_after << ": " << entry.path();
  }
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

  r = run_command("query --sql \"ATTACH DATABASE '" + (*dir_ / "attached.db").string() +
                  "' AS a\"" + db);
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("ATTACH / DETACH are not allowed"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("cannot write"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "attached.db"));

  r = run_command("query ops" + db);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("--run N"), std::string::npos) << r.out;

  r = run_command("query runs --db " + (*dir_ / "absent.db").string());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("no results database"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(*dir_ / "absent.db"));  // reading never creates it
}

// ---- ATTRIBUTES of ops run through the executor (`wormsim run`'s path) ----

// A graph file run as `wormsim run --graph` runs it: loaded from JSON, executed by run_graph
// with per-op traffic recorded, its ops_perf CSV written by write_run_outputs.
struct GraphFileRun {
  TempDir dir{"graph_file_run"};
  ops::Device device{n300()};
  workloads::Graph graph;
  workloads::GraphRun run;
  RunTraffic traffic;
  RunOutputResult result;
  CsvTable csv;

  explicit GraphFileRun(const nlohmann::json& json)
      : graph(workloads::Graph::from_json(json, n300())) {
    TrafficRecorder recorder(device.engine());
    workloads::ExecutorOptions options;
    options.seed = 1;
    recorder.begin_run();
    options.progress = recorder.wrap();
    run = workloads::run_graph(device, graph, options);
    traffic = recorder.finish_run();
    RunOutputRequest request;
    request.spec = &n300();
    request.graph = &graph;
    request.info.model = graph.name();
    request.info.graph = graph.name();
    request.info.device = "n300";
    request.info.batch = 1;
    request.runs = {{&run, &traffic}};
    request.engine = &device.engine();
    request.csv_path = dir / "ops.csv";
    result = write_run_outputs(request);
    csv = read_csv(dir / "ops.csv");
  }
  std::size_t row_of(const std::string& op_code) const {
    for (std::size_t r = 0; r < csv.rows.size(); ++r)
      if (csv.rows[r][csv.column("OP CODE")] == op_code) return r;
    ADD_FAILURE() << "no " << op_code << " row";
    return 0;
  }
  const std::string& cell(std::size_t row, const std::string& column) const {
    return csv.rows.at(row).at(csv.column(column));
  }
};

// The graph an audit reproduced the placeholder ATTRIBUTES with: SDPA with scale 0.125 and a
// matmul with an explicit 4x4 grid.
nlohmann::json sdpa_and_matmul_graph() {
  return nlohmann::json::parse(R"json({
    "format": "wormsim.graph", "version": 1, "name": "sdpa-mm", "device": "n300", "batch": 1,
    "tensors": [
      {"name": "q", "kind": "input", "shape": [1, 4, 128, 64], "dtype": "bfloat16"},
      {"name": "k", "kind": "input", "shape": [1, 4, 128, 64], "dtype": "bfloat16"},
      {"name": "v", "kind": "input", "shape": [1, 4, 128, 64], "dtype": "bfloat16"},
      {"name": "x", "kind": "input", "shape": [1, 1, 256, 256], "dtype": "bfloat16"},
      {"name": "w", "kind": "weight", "shape": [1, 1, 256, 256], "dtype": "bfloat16"}
    ],
    "nodes": [
      {"name": "attn", "op": "scaled_dot_product_attention", "inputs": ["q", "k", "v"],
       "outputs": ["o"], "params": {"scale": 0.125, "q_chunk_size": 32, "k_chunk_size": 32}},
      {"name": "mm", "op": "matmul", "inputs": ["x", "w"], "outputs": ["y"],
       "params": {"program_config": {"kind": "2d", "grid": [4, 4], "in0_block_w": 2,
                  "out_subblock_h": 1, "out_subblock_w": 2, "per_core_M": 2, "per_core_N": 2}}}
    ],
    "outputs": ["o", "y"]
  })json");
}

// compute_with_storage_grid_size=(x=X;y=Y) of an ATTRIBUTES cell, {0, 0} when absent.
std::pair<unsigned, unsigned> attribute_grid(const std::string& attributes) {
  std::smatch m;
  if (!std::regex_search(attributes, m,
                         std::regex(R"(compute_with_storage_grid_size=\(x=(\d+);y=(\d+)\))")))
    return {0, 0};
  return {static_cast<unsigned>(std::stoul(m[1])), static_cast<unsigned>(std::stoul(m[2]))};
}

TEST(RealRunAttributes, MatmulAndSdpaPrintTheConfigTheyRanWith) {
  const GraphFileRun g(sdpa_and_matmul_graph());
  ASSERT_EQ(g.csv.rows.size(), 2u);

  const std::size_t mm = g.row_of("Matmul");
  const std::string& attributes = g.cell(mm, "ATTRIBUTES");
  EXPECT_NE(attributes.find("MatmulMultiCoreReuseMultiCastProgramConfig("), std::string::npos)
      << attributes;
  EXPECT_EQ(attribute_grid(attributes), std::make_pair(4u, 4u)) << attributes;
  EXPECT_NE(attributes.find("in0_block_w=2;"), std::string::npos) << attributes;
  EXPECT_NE(attributes.find("out_subblock_w=2;"), std::string::npos) << attributes;
  EXPECT_NE(attributes.find("per_core_M=2;"), std::string::npos) << attributes;
  EXPECT_NE(attributes.find("per_core_N=2;"), std::string::npos) << attributes;
  // The printed grid is the one that ran: 4 x 4 = CORE COUNT.
  EXPECT_EQ(g.cell(mm, "CORE COUNT"), "16");
  // 256 rows = 8 tiles over 4 grid rows: per_core_M 2 covers M exactly.
  EXPECT_EQ(2u * attribute_grid(attributes).second, 256u / 32u);

  const std::size_t sdpa = g.row_of("ScaledDotProductAttention");
  const std::string& sdpa_attributes = g.cell(sdpa, "ATTRIBUTES");
  EXPECT_NE(sdpa_attributes.find("'scale': '0.125000'"), std::string::npos) << sdpa_attributes;
  const auto [gx, gy] = attribute_grid(sdpa_attributes);
  EXPECT_GE(gx * gy, std::stoul(g.cell(sdpa, "CORE COUNT"))) << sdpa_attributes;
  EXPECT_LT((gx - 1) * gy, std::stoul(g.cell(sdpa, "CORE COUNT"))) << sdpa_attributes;
  EXPECT_NE(sdpa_attributes.find("'output_mem_config': 'MemoryConfig("), std::string::npos)
      << sdpa_attributes;
}

TEST(RealRunAttributes, DramShardedMatmulIsDetectedAndCountsTheBankCores) {
  // Width-sharded activations on 8 cores and DRAM-sharded weights: the automatic config is the
  // DRAM-sharded program, which tt-perf-report charges to the 12 bank cores.
  const GraphFileRun g(nlohmann::json::parse(R"json({
    "format": "wormsim.graph", "version": 1, "name": "dram-sharded-mm", "device": "n300",
    "tensors": [
      {"name": "x", "kind": "input", "shape": [1, 1, 32, 768], "memory": "l1-width-sharded",
       "grid": [4, 2]},
      {"name": "w", "kind": "weight", "shape": [1, 1, 768, 1536], "dtype": "bfloat8_b",
       "memory": "dram-sharded"}
    ],
    "nodes": [{"name": "mm", "op": "matmul", "inputs": ["x", "w"], "outputs": ["y"]}],
    "outputs": ["y"]
  })json"));
  ASSERT_EQ(g.csv.rows.size(), 1u);
  const std::string& attributes = g.cell(0, "ATTRIBUTES");
  EXPECT_NE(attributes.find("MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig("),
            std::string::npos)
      << attributes;
  EXPECT_NE(attributes.find("per_core_N=6;"), std::string::npos) << attributes;  // 48 / 8
  EXPECT_EQ(g.cell(0, "CORE COUNT"), "8");
  const OpProfile& op = g.result.profile.ops.at(0);
  EXPECT_EQ(op.effective_cores, n300().dram.banks.size());
  // The weights stream from every DRAM controller: both DRAM columns are filled, the busiest
  // controller at least as busy as the chip average.
  const double chip = std::stod(g.cell(0, "DRAM BW UTIL (%)"));
  const double per_ctrl = std::stod(g.cell(0, "DRAM BW UTIL PER CTRL (%)"));
  EXPECT_GT(chip, 0.0);
  const arch::DramSpec& dram = n300().dram;
  const double banks_per_controller =
      static_cast<double>(dram.banks.size()) / static_cast<double>(dram.num_controllers);
  EXPECT_GE(per_ctrl, chip * dram.bank_peak_bytes_per_cycle * banks_per_controller /
                              dram.controller_bytes_per_cycle -
                          0.15);
  EXPECT_LE(per_ctrl, 100.0);
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
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // checking creates nothing (probe removed)

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

TEST(CheckRunOutputs, ADirectoryThatRefusesNewFilesIsCaughtEvenForRoot) {
  // /proc refuses new files although root passes access(W_OK) on it.
  if (!std::filesystem::is_directory("/proc")) GTEST_SKIP() << "no /proc";
  RunOutputRequest r;
  r.csv_path = "/proc/wormsim_ops.csv";
  const std::string message = check_error(r);
  EXPECT_NE(message.find("/proc/wormsim_ops.csv"), std::string::npos) << message;
  EXPECT_NE(message.find("--csv FILE"), std::string::npos) << message;
  r.csv_path.clear();
  r.ttnn_report_dir = "/proc/wormsim_report";
  EXPECT_NE(check_error(r).find("--ttnn-report DIR"), std::string::npos);
}

}  // namespace
}  // namespace wormsim::analysis
