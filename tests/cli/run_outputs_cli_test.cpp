// `wormsim run` profiling outputs end to end: the real binary writes the ops_perf CSV, the
// Perfetto trace and the results database, and `wormsim query` reads the database back.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "analysis/csv_table.hpp"
#include "tests/cli/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;

// A small but complete transformer: every op kind of ViT once, in well under a second.
const std::string kSmallRun = "run --model vit-base --layers 1 --batch 1 --numerics off";
// The smallest model: for the cases that only need some run.
const std::string kTinyRun = "run --model mnist-mlp --numerics off";

using wormsim::test::CliResult;
using wormsim::test::ScratchDir;
using wormsim::test::slurp;

using wormsim::test::exit_code;

// Runs `wormsim <args>` with `cwd` as working directory; stdout and stderr kept apart. `setup`:
// shell commands run first (limits, traps).
CliResult wormsim(const std::string& args, const fs::path& cwd, const std::string& setup = "") {
  return wormsim::test::run_wormsim(args, cwd, setup);
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// tt-metal's header (tests/data holds a copy with 8 input and 3 output tensor groups) with the
// groups cut to `inputs` / `outputs`, as tt-metal sizes them to the widest op of a file.
std::vector<std::string> tt_metal_header(std::size_t inputs, std::size_t outputs) {
  const wormsim::analysis::CsvTable reference =
      wormsim::analysis::read_csv(fs::path(WORMSIM_TEST_DATA_DIR) / "tt_metal_ops_perf_header.csv");
  const std::regex group(R"((INPUT|OUTPUT)_(\d+)_.*)");
  std::vector<std::string> header;
  for (const std::string& column : reference.header) {
    std::smatch m;
    if (std::regex_match(column, m, group)) {
      const std::size_t index = std::stoul(m[2]);
      if (index >= (m[1] == "INPUT" ? inputs : outputs)) continue;
    }
    header.push_back(column);
  }
  return header;
}

std::size_t tensor_groups(const std::vector<std::string>& header, const std::string& kind) {
  const std::regex memory(kind + R"(_\d+_MEMORY)");
  return static_cast<std::size_t>(std::count_if(
      header.begin(), header.end(), [&](const auto& c) { return std::regex_match(c, memory); }));
}

double number(const std::string& cell) {
  std::size_t used = 0;
  const double value = std::stod(cell, &used);
  EXPECT_EQ(used, cell.size()) << "not a number: '" << cell << "'";
  return value;
}

// One small run with every file output, shared by the tests below.
class RunOutputsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir("main");
    run_ = new CliResult(wormsim(kSmallRun + " --csv ops.csv --trace-json trace.json --db " +
                                     dir_->arg("results.db") + " --ttnn-report ttnn",
                                 dir_->path()));
  }
  static void TearDownTestSuite() {
    delete run_;
    delete dir_;
  }
  static ScratchDir* dir_;
  static CliResult* run_;
};

ScratchDir* RunOutputsCli::dir_ = nullptr;
CliResult* RunOutputsCli::run_ = nullptr;

TEST_F(RunOutputsCli, RunSucceedsAndPrintsTheConsoleReport) {
  ASSERT_EQ(run_->status, 0) << run_->out << run_->err;
  const std::string& out = run_->out;
  for (const char* text :
       {"device time [ms]", "device FPS", "device time by op type", "LayerNormDeviceOperation",
        "top ops by device kernel time", "bound", "op-to-op gaps:", "\nadvice\n",
        "results database: " /* path and run */, "(run 1;", "ops_perf CSV: ops.csv",
        "trace (Perfetto / chrome://tracing): trace.json", "ttnn-visualizer report: ttnn"}) {
    EXPECT_NE(out.find(text), std::string::npos) << text << "\n" << out;
  }
  // Bound classes are tt-perf-report's (plus NoC).
  const std::regex bound_cell(R"(\s(DRAM|FLOP|BOTH|NoC|SLOW)\s*\n)");
  EXPECT_TRUE(std::regex_search(out, bound_cell)) << out;
  // Nothing but the outputs the options named (no temporary files left behind).
  EXPECT_EQ(files_in(dir_->path()),
            (std::vector<std::string>{"ops.csv", "results.db", "trace.json", "ttnn"}));
  EXPECT_TRUE(fs::exists(*dir_ / "ttnn" / "db.sqlite"));
}

TEST_F(RunOutputsCli, CsvHeaderIsTtMetalsAndValuesAreSane) {
  ASSERT_EQ(run_->status, 0) << run_->err;
  const wormsim::analysis::CsvTable csv = wormsim::analysis::read_csv(*dir_ / "ops.csv");
  const std::size_t inputs = tensor_groups(csv.header, "INPUT");
  const std::size_t outputs = tensor_groups(csv.header, "OUTPUT");
  EXPECT_GE(inputs, 3u);   // layer norm: input, gamma, beta
  EXPECT_EQ(outputs, 3u);  // nlp_create_heads: Q, K and V
  EXPECT_EQ(csv.header, tt_metal_header(inputs, outputs));

  // One row per op, in execution order, on chip 0 of a wormhole_b0.
  ASSERT_GT(csv.rows.size(), 10u);
  std::set<std::string> op_codes;
  double previous_call = 0, previous_end = 0;
  for (const auto& row : csv.rows) {
    ASSERT_EQ(row.size(), csv.header.size());
    op_codes.insert(row[csv.column("OP CODE")]);
    EXPECT_EQ(row[csv.column("OP TYPE")], "tt_dnn_device");
    EXPECT_EQ(row[csv.column("DEVICE ID")], "0");
    EXPECT_EQ(row[csv.column("DEVICE ARCH")], "wormhole_b0");
    const double call = number(row[csv.column("GLOBAL CALL COUNT")]);
    EXPECT_GT(call, previous_call);
    previous_call = call;
    const double cores = number(row[csv.column("CORE COUNT")]);
    EXPECT_GE(cores, 1);
    EXPECT_LE(cores, number(row[csv.column("AVAILABLE WORKER CORE COUNT")]));
    const double fw = number(row[csv.column("DEVICE FW DURATION [ns]")]);
    const double kernel = number(row[csv.column("DEVICE KERNEL DURATION [ns]")]);
    EXPECT_GT(kernel, 0);
    EXPECT_LE(kernel, fw);
    // Firmware start / end cycles bracket the op, and ops do not overlap on the chip.
    const double start = number(row[csv.column("DEVICE FW START CYCLE")]);
    const double end = number(row[csv.column("DEVICE FW END CYCLE")]);
    EXPECT_GT(end, start);
    EXPECT_GE(start, previous_end);
    previous_end = end;
    const double noc = number(row[csv.column("NOC UTIL (%)")]);
    EXPECT_GE(noc, 0);
    EXPECT_LE(noc, 100);
    EXPECT_NE(row[csv.column("INPUT_0_DATATYPE")], "");
    EXPECT_NE(row[csv.column("OUTPUT_0_MEMORY")], "");
    EXPECT_GE(number(row[csv.column("PM IDEAL [ns]")]), 0);
  }
  for (const char* code : {"Matmul", "LayerNormDeviceOperation", "SoftmaxDeviceOperation"}) {
    EXPECT_TRUE(op_codes.count(code)) << code;
  }
}

TEST_F(RunOutputsCli, TraceIsValidNestedAndMonotonicPerTrack) {
  ASSERT_EQ(run_->status, 0) << run_->err;
  std::ifstream file(*dir_ / "trace.json");
  const nlohmann::json trace = nlohmann::json::parse(file);  // throws on invalid JSON
  const auto& events = trace.at("traceEvents");
  ASSERT_TRUE(events.is_array());

  std::map<std::pair<int, int>, std::string> thread_names;
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> open_slices;
  std::map<std::pair<int, int>, double> last_ts;
  std::map<std::pair<int, std::string>, double> last_counter_ts;
  std::set<std::string> counters;
  std::size_t op_slices = 0;
  constexpr double kEps = 1e-6;  // timestamps are microseconds with nanosecond precision
  for (const auto& e : events) {
    const std::string ph = e.at("ph");
    const std::pair<int, int> track{e.at("pid"), e.at("tid")};
    if (ph == "M") {
      if (e.at("name") == "thread_name")
        thread_names[track] = e.at("args").at("name").get<std::string>();
      continue;
    }
    const double ts = e.at("ts");
    if (ph == "C") {
      const std::pair<int, std::string> key{track.first, e.at("name")};
      counters.insert(key.second);
      if (last_counter_ts.count(key)) {
        EXPECT_GE(ts, last_counter_ts[key] - kEps) << key.second;
      }
      last_counter_ts[key] = ts;
      continue;
    }
    ASSERT_EQ(ph, "X") << e.dump();
    const double dur = e.at("dur");
    EXPECT_GE(dur, 0) << e.dump();
    if (last_ts.count(track)) {
      EXPECT_GE(ts, last_ts[track] - kEps) << e.dump();
    }
    last_ts[track] = ts;
    // A slice ends inside every slice still open on its track.
    auto& stack = open_slices[track];
    while (!stack.empty() && stack.back().second <= ts + kEps) stack.pop_back();
    if (!stack.empty()) {
      EXPECT_LE(ts + dur, stack.back().second + kEps) << e.dump();
    }
    stack.emplace_back(ts, ts + dur);
    if (e.value("cat", "") == "op") {
      ++op_slices;
      EXPECT_TRUE(e.at("args").contains("op_code"));
      EXPECT_TRUE(e.at("args").contains("bound"));
    }
  }
  const wormsim::analysis::CsvTable csv = wormsim::analysis::read_csv(*dir_ / "ops.csv");
  EXPECT_EQ(op_slices, csv.rows.size());
  // A track per core and RISC, counters for NoC links and DRAM banks.
  std::set<std::string> names;
  for (const auto& [track, name] : thread_names) names.insert(name);
  for (const char* name : {"ops", "core (0,0) BRISC", "core (0,0) NCRISC", "core (0,0) TRISC0",
                           "core (0,0) TRISC1", "core (0,0) TRISC2"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
  EXPECT_TRUE(counters.count("noc0 mean link util"));
  EXPECT_TRUE(counters.count("noc1 mean link util"));
  EXPECT_TRUE(counters.count("dram bank 0 util"));
}

TEST_F(RunOutputsCli, QueryReadsTheRunAndDiffsASecondOne) {
  ASSERT_EQ(run_->status, 0) << run_->err;
  const std::string db = " --db " + dir_->arg("results.db");
  CliResult r = wormsim("query runs --format json" + db, dir_->path());
  ASSERT_EQ(r.status, 0) << r.err;
  nlohmann::json runs = nlohmann::json::parse(r.out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["run_id"], 1);
  EXPECT_EQ(runs[0]["model"], "vit-base");
  EXPECT_EQ(runs[0]["dispatch"], "trace");
  const wormsim::analysis::CsvTable csv = wormsim::analysis::read_csv(*dir_ / "ops.csv");
  EXPECT_EQ(runs[0]["ops"], csv.rows.size());

  r = wormsim("query top-ops --run 1" + db, dir_->path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("Matmul"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kernel_us"), std::string::npos) << r.out;

  // The same model dispatched eagerly: same ops, longer gaps. JSON stdout stays one document
  // and names the run and the database.
  r = wormsim(kSmallRun + " --dispatch eager --format json" + db, dir_->path());
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json second = nlohmann::json::parse(r.out);
  EXPECT_EQ(second["run_id"], 2);
  EXPECT_EQ(second["db"], (*dir_ / "results.db").string());
  EXPECT_TRUE(second["csv"].is_null());
  EXPECT_EQ(second["ops"].size(), csv.rows.size());
  EXPECT_NE(second["ops"][0]["bound"], "");

  r = wormsim("query diff 1 2 --format json" + db, dir_->path());
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json diff = nlohmann::json::parse(r.out);
  EXPECT_EQ(diff.size(), csv.rows.size());  // every node matched by name

  r = wormsim("query runs --format csv" + db, dir_->path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);  // header + 2 runs
}

TEST(RunOutputsCliDb, DefaultDatabaseIsInTheWorkingDirectoryAndNoDbWritesNone) {
  ScratchDir with("default_db");
  CliResult r = wormsim(kTinyRun, with.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(files_in(with.path()), std::vector<std::string>{"wormsim.db"});
  EXPECT_NE(r.out.find("results database: wormsim.db (run 1; `wormsim query top-ops --run 1`)"),
            std::string::npos)
      << r.out;
  r = wormsim("query runs --format json", with.path());  // query's default is the same file
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 1u);

  ScratchDir without("no_db");
  r = wormsim(kTinyRun + " --no-db", without.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(files_in(without.path()).empty());
  EXPECT_NE(r.out.find("not written (--no-db)"), std::string::npos) << r.out;
  r = wormsim(kTinyRun + " --no-db --format json", without.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["run_id"].is_null());
  EXPECT_TRUE(files_in(without.path()).empty());

  // --db and --no-db contradict each other.
  EXPECT_NE(wormsim(kTinyRun + " --no-db --db x.db", without.path()).status, 0);
}

TEST(RunOutputsCliDb, DataParallelRunsRecordBothChips) {
  ScratchDir dir("dp2");
  const CliResult r =
      wormsim(kTinyRun + " --dp 2 --csv ops.csv --trace-json trace.json --db r.db", dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const wormsim::analysis::CsvTable csv = wormsim::analysis::read_csv(dir / "ops.csv");
  std::map<std::string, std::size_t> rows_per_device;
  for (const auto& row : csv.rows) ++rows_per_device[row[csv.column("DEVICE ID")]];
  ASSERT_EQ(rows_per_device.size(), 2u);
  EXPECT_GT(rows_per_device["0"], 0u);
  EXPECT_EQ(rows_per_device["0"], rows_per_device["1"]);

  std::ifstream file(dir / "trace.json");
  const nlohmann::json trace = nlohmann::json::parse(file);
  std::set<std::string> processes;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.at("name") == "process_name")
      processes.insert(e.at("args").at("name").get<std::string>());
  }
  EXPECT_TRUE(processes.count("chip 0 (wormhole_b0)"));
  EXPECT_TRUE(processes.count("chip 1 (wormhole_b0)"));

  const CliResult q = wormsim(
      "query --sql \"SELECT chip, count(*) AS n FROM ops GROUP BY chip ORDER BY chip\" --format "
      "json --db r.db",
      dir.path());
  ASSERT_EQ(q.status, 0) << q.err;
  const nlohmann::json chips = nlohmann::json::parse(q.out);
  ASSERT_EQ(chips.size(), 2u);
  EXPECT_EQ(chips[1]["chip"], 1);
  EXPECT_EQ(chips[1]["n"], rows_per_device["1"]);
}

TEST(RunOutputsCliErrors, UnwritableOutputsFailAtOnceWithAClearMessageAndNoFile) {
  ScratchDir dir("errors");
  // A directory that does not exist: refused before the simulation, nothing written at all.
  CliResult r = wormsim(kTinyRun + " --csv missing/ops.csv", dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("missing/ops.csv"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--csv"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(files_in(dir.path()).empty());  // not even the default database

  // A directory where the file should go.
  fs::create_directory(dir / "taken");
  r = wormsim(kTinyRun + " --trace-json taken", dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("is a directory"), std::string::npos) << r.err;
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"taken"});
  EXPECT_TRUE(fs::is_empty(dir / "taken"));

  // A file where the database should be.
  std::ofstream(dir / "not_a.db") << "hello\n";
  r = wormsim(kTinyRun + " --db not_a.db", dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("not_a.db"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir / "not_a.db"), "hello\n");

  // Two outputs on one path.
  r = wormsim(kTinyRun + " --no-db --csv same --trace-json ./same", dir.path());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("both name"), std::string::npos) << r.err;
  EXPECT_EQ(files_in(dir.path()), (std::vector<std::string>{"not_a.db", "taken"}));
}

TEST(RunOutputsCliErrors, AWriteFailingAfterTheRunLeavesThePreviousFileUnchanged) {
  // A file size limit of a few KiB makes the CSV write fail the way a full disk would, after
  // the directory checks passed and the simulation ran (SIGXFSZ ignored: write() fails).
  ScratchDir dir("late_error");
  std::ofstream(dir / "ops.csv") << "an earlier CSV\n";
  const CliResult r =
      wormsim(kSmallRun + " --no-db --csv ops.csv", dir.path(), "trap '' XFSZ; ulimit -f 8; ");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("cannot write ops.csv"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("left unchanged"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(dir / "ops.csv"), "an earlier CSV\n");
  EXPECT_EQ(files_in(dir.path()), std::vector<std::string>{"ops.csv"});  // no temporary file
}

TEST(RunOutputsCliDb, TwoRunsWritingOneDatabaseAtOnceBothSucceed) {
  ScratchDir dir("concurrent");
  // Both processes start together on a database that does not exist yet (both create the
  // schema), then each adds its run in one transaction.
  const std::string run = "'" + std::string(WORMSIM_BINARY) + "' " + kSmallRun + " --db " +
                          dir.arg("shared.db") + " --format json";
  const std::string script = "cd '" + dir.path().string() + "' && { " + run +
                             " >a.json 2>a.err & pa=$!; " + run +
                             " --seed 1 >b.json 2>b.err & pb=$!; wait $pa; a=$?; wait $pb; b=$?; "
                             "exit $((a * 16 + b)); }";
  const int status = exit_code(std::system(script.c_str()));
  EXPECT_EQ(status, 0) << slurp(dir / "a.err") << slurp(dir / "b.err");
  const nlohmann::json a = nlohmann::json::parse(slurp(dir / "a.json"));
  const nlohmann::json b = nlohmann::json::parse(slurp(dir / "b.json"));
  EXPECT_EQ((std::set<int>{a["run_id"], b["run_id"]}), (std::set<int>{1, 2}));

  const CliResult r = wormsim(
      "query --sql \"SELECT r.run_id, r.op_count, count(o.op_index) AS stored FROM runs r JOIN "
      "ops o USING (run_id) GROUP BY r.run_id ORDER BY r.run_id\" --format json --db shared.db",
      dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row["stored"], row["op_count"]);
    EXPECT_EQ(row["op_count"], a["op_count"]);
  }
}

TEST(RunOutputsCliDb, AnInterruptedRunLeavesNoRowsAndNoOutputFiles) {
  ScratchDir dir("interrupted");
  // One earlier run, so the database exists and has something to keep.
  ASSERT_EQ(wormsim(kTinyRun + " --db r.db", dir.path()).status, 0);
  // The full ViT takes seconds; it is interrupted while simulating.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::chdir(dir.path().c_str()) != 0) _exit(127);
    ::execl(WORMSIM_BINARY, WORMSIM_BINARY, "run", "--model", "vit-base", "--numerics", "off",
            "--db", "r.db", "--csv", "ops.csv", "--trace-json", "trace.json", "--ttnn-report",
            "ttnn", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(pid, SIGINT);
  int raw = 0;
  ASSERT_EQ(::waitpid(pid, &raw, 0), pid);
  if (WIFEXITED(raw) && WEXITSTATUS(raw) == 0) GTEST_SKIP() << "the run finished before SIGINT";
  EXPECT_TRUE(WIFSIGNALED(raw));
  const CliResult r = wormsim("query runs --format json --db r.db", dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  const std::size_t rows = nlohmann::json::parse(r.out).size();
  std::set<std::string> outputs;
  for (const std::string& name : files_in(dir.path())) {
    if (name != "r.db" && name != "r.db-wal" && name != "r.db-shm") outputs.insert(name);
  }
  if (rows == 2) {
    // The signal came while the database row went in: the run had finished and keeps every
    // output (the process still ends by the signal, docs/outputs.md).
    EXPECT_EQ(outputs, (std::set<std::string>{"ops.csv", "trace.json", "ttnn"}));
  } else {
    // Otherwise no output file, complete or partial, and no row; at most SQLite's own WAL /
    // shared-memory files when the signal came while the database was open.
    EXPECT_EQ(rows, 1u);
    EXPECT_TRUE(outputs.empty()) << *outputs.begin();
  }
  // The database takes the next run as usual.
  EXPECT_EQ(wormsim(kTinyRun + " --db r.db", dir.path()).status, 0);
}

}  // namespace
