// `wormsim run` host modes end to end: --trace / --eager / --cq / --io-cq, their errors, the
// JSON keys and the results-database row.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/cli/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;

// The smallest model, timing only.
const std::string kTinyRun = "run --model mnist-mlp --numerics off";

using wormsim::test::CliResult;
using wormsim::test::ScratchDir;
using wormsim::test::slurp;

CliResult wormsim(const std::string& args, const fs::path& cwd) {
  return wormsim::test::run_wormsim(args, cwd);
}

class HostModeCli : public ::testing::Test {
 protected:
  ScratchDir dir_{::testing::UnitTest::GetInstance()->current_test_info()->name()};

  CliResult run(const std::string& args) { return wormsim(args, dir_.path()); }
  nlohmann::json json_run(const std::string& args) {
    const CliResult r = run(kTinyRun + " --no-db --format json " + args);
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }
  // A refused command line: exit code 2, the message on stderr, nothing written.
  void expect_refused(const std::string& args, const std::string& message) {
    const CliResult r = run(kTinyRun + " " + args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(fs::exists(dir_.path() / "wormsim.db")) << args;
  }
};

TEST_F(HostModeCli, WrongModeCombinationsAreRefusedBeforeTheRun) {
  expect_refused("--io-cq", "--io-cq moves the input writes and output reads");
  expect_refused("--cq 1 --io-cq", "it needs --cq 2");
  expect_refused("--cq 3", "--cq must be 1 or 2");
  expect_refused("--cq 0", "--cq must be 1 or 2");
  expect_refused("--trace --eager", "--trace and --eager exclude each other");
  expect_refused("--eager --dispatch trace", "--eager is short for --dispatch eager");
  expect_refused("--trace --dispatch trace", "--trace is short for --dispatch trace");
}

TEST_F(HostModeCli, JsonReportsTheModeThePeriodAndBothFps) {
  const nlohmann::json cq1 = json_run("");
  const nlohmann::json cq2 = json_run("--cq 2");
  const nlohmann::json io = json_run("--cq 2 --io-cq");
  EXPECT_EQ(cq1["cq"], 1);
  EXPECT_EQ(cq1["io_cq"], false);
  EXPECT_EQ(cq1["dispatch"], "trace");  // the default stays trace
  EXPECT_EQ(cq2["cq"], 2);
  EXPECT_EQ(cq2["io_cq"], false);
  EXPECT_EQ(io["cq"], 2);
  EXPECT_EQ(io["io_cq"], true);
  EXPECT_EQ(io["host_mode"], "trace, 2 CQs (inputs + outputs on CQ 1)");
  for (const nlohmann::json* j : {&cq1, &cq2, &io}) {
    const nlohmann::json& p = (*j)["period"];
    for (const char* key :
         {"period_ns", "latency_ns", "compute_queue_ns", "io_queue_ns", "host_thread_ns", "sync_ns",
          "queue_events", "postprocess_ns", "bottleneck"}) {
      EXPECT_TRUE(p.contains(key)) << key;
    }
    const double batch = (*j)["batch"].get<double>();
    const double period = p["period_ns"].get<double>();
    EXPECT_DOUBLE_EQ((*j)["e2e_time_ns"].get<double>(), period);
    EXPECT_NEAR((*j)["fps_e2e"].get<double>(), batch * 1e9 / period, 1e-9 * batch * 1e9 / period);
    EXPECT_NEAR((*j)["fps_device"].get<double>(),
                batch * 1e9 / (*j)["device_time_ns"].get<double>(), 1e-6);
    EXPECT_DOUBLE_EQ((*j)["host_io_ns"].get<double>(),
                     (*j)["host_write_ns"].get<double>() + (*j)["host_read_ns"].get<double>());
    EXPECT_LT((*j)["fps_e2e"].get<double>(), (*j)["fps_device"].get<double>());
  }
  // One queue: everything in a row.
  const nlohmann::json& p1 = cq1["period"];
  EXPECT_DOUBLE_EQ(p1["period_ns"].get<double>(),
                   cq1["launch_ns"].get<double>() + cq1["host_write_ns"].get<double>() +
                       cq1["device_time_ns"].get<double>() + cq1["host_read_ns"].get<double>() +
                       p1["postprocess_ns"].get<double>());
  EXPECT_EQ(p1["bottleneck"], "serial");
  // Two queues: the busiest stage plus the event syncs.
  for (const nlohmann::json* j : {&cq2, &io}) {
    const nlohmann::json& p = (*j)["period"];
    const double busiest =
        std::max({p["compute_queue_ns"].get<double>(), p["io_queue_ns"].get<double>(),
                  p["host_thread_ns"].get<double>()});
    EXPECT_DOUBLE_EQ(p["period_ns"].get<double>(), busiest + p["sync_ns"].get<double>());
  }
  EXPECT_EQ(cq2["period"]["queue_events"], 2);
  EXPECT_EQ(io["period"]["queue_events"], 4);
  // Device time does not depend on the queues.
  EXPECT_EQ(cq1["device_time_ns"], io["device_time_ns"]);
  // Overlap never loses against one queue here (mnist-mlp is host-bound with two queues).
  EXPECT_GT(cq2["fps_e2e"].get<double>(), cq1["fps_e2e"].get<double>());
}

TEST_F(HostModeCli, EagerAndTraceFlagsAreTheDispatchModes) {
  const nlohmann::json eager = json_run("--eager");
  const nlohmann::json dispatch_eager = json_run("--dispatch eager");
  const nlohmann::json trace = json_run("--trace");
  EXPECT_EQ(eager["dispatch"], "eager");
  EXPECT_EQ(trace["dispatch"], "trace");
  EXPECT_EQ(eager["device_time_ns"], dispatch_eager["device_time_ns"]);
  EXPECT_GT(eager["device_time_ns"].get<double>(), trace["device_time_ns"].get<double>());
  EXPECT_LT(eager["fps_e2e"].get<double>(), trace["fps_e2e"].get<double>());
  // Eager with two queues: the host dispatches every op, its gaps count as host time.
  const nlohmann::json eager2 = json_run("--eager --cq 2");
  EXPECT_DOUBLE_EQ(eager2["period"]["host_thread_ns"].get<double>(),
                   eager2["launch_ns"].get<double>() + eager2["gap_time_ns"].get<double>() +
                       eager2["period"]["postprocess_ns"].get<double>());
}

TEST_F(HostModeCli, TableAndDatabaseCarryTheMode) {
  const CliResult r = run(kTinyRun + " --cq 2 --io-cq --eager --db modes.db");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* text : {"host mode", "eager, 2 CQs (inputs + outputs on CQ 1)",
                           "host write / read [ms]", "period per inference [ms]",
                           "CQ 0 / CQ 1 / host / sync [ms]", "device FPS", "end-to-end FPS"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
  }
  const CliResult q =
      run("query --db modes.db --format json --sql \"SELECT cq, io_cq, dispatch, bottleneck, "
          "sync_ns, fps_e2e, e2e_time_ns, batch, json_extract(config_json, '$.cq') AS config_cq, "
          "json_extract(config_json, '$.io_cq') AS config_io FROM runs\"");
  ASSERT_EQ(q.status, 0) << q.err;
  const nlohmann::json rows = nlohmann::json::parse(q.out);
  ASSERT_EQ(rows.size(), 1u);
  const nlohmann::json& row = rows[0];
  EXPECT_EQ(row["cq"], 2);
  EXPECT_EQ(row["io_cq"], 1);
  EXPECT_EQ(row["dispatch"], "eager");
  EXPECT_EQ(row["config_cq"], 2);
  EXPECT_EQ(row["config_io"], 1);  // JSON true as SQLite reads it
  EXPECT_GT(row["sync_ns"].get<double>(), 0.0);
  EXPECT_NEAR(row["fps_e2e"].get<double>(),
              row["batch"].get<double>() * 1e9 / row["e2e_time_ns"].get<double>(), 1e-6);
}

}  // namespace
