// `wormsim sweep` end to end with the real binary: the same points give the same rows in one
// process, with -j 2 worker processes and under `mpirun -n 2`; a re-run skips everything; a
// crashed worker is reported with its point and the sweep resumes; bad specs name the field.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "analysis/results_db.hpp"
#include "tests/cli/cli_runner.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using wormsim::analysis::ResultsDb;
using wormsim::analysis::SqlValue;

// mnist-mlp and one ViT-Base layer at batch 1 under two strategies: 4 points in well under a
// second of simulation.
const fs::path kTinySpec = fs::path(WORMSIM_TEST_DATA_DIR) / "sweeps" / "tiny.json";

using wormsim::test::CliResult;
using wormsim::test::ScratchDir;
using wormsim::test::slurp;

// `<prefix> wormsim <args>` in `cwd`; `prefix` may set variables or name a launcher.
CliResult wormsim(const std::string& args, const fs::path& cwd, const std::string& prefix = "") {
  return wormsim::test::run_wormsim(args, cwd, "", prefix);
}

json sweep_json(const std::string& args, const fs::path& cwd, const std::string& prefix = "") {
  const CliResult r = wormsim("sweep " + args + " --format json", cwd, prefix);
  EXPECT_EQ(r.status, 0) << r.err << r.out;
  if (r.status != 0) return json::object();
  return json::parse(r.out);
}

bool built_with_mpi(const fs::path& cwd) {
  const CliResult r = wormsim("sweep '" + kTinySpec.string() + "' --dry-run --format json", cwd);
  return r.status == 0 && json::parse(r.out).value("mpi_support", false);
}

bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

// mpirun as root (containers) on 2 cores; leak checking off (Open MPI keeps allocations past
// MPI_Finalize), and a time limit in case a launcher hangs.
const std::string kMpirun =
    "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" timeout 120 mpirun "
    "--allow-run-as-root --oversubscribe -n 2";

// What a point's run must look like whatever process simulated it.
struct PointFigures {
  double device_time_ns{0};
  double fps_device{0};
  std::int64_t op_count{0};
  std::int64_t ops_rows{0};
  std::int64_t core_rows{0};
  std::int64_t link_rows{0};
  std::int64_t choice_rows{0};
  bool operator==(const PointFigures&) const = default;
};

std::int64_t count_rows(ResultsDb& db, const std::string& table, std::int64_t run_id) {
  const auto r = db.query("SELECT COUNT(*) FROM " + table + " WHERE run_id = ?1", {run_id});
  return std::get<std::int64_t>(r.rows.at(0).at(0));
}

// By point label, from the JSON report and the database it names.
std::map<std::string, PointFigures> figures(const json& report, const fs::path& db_path) {
  auto db = ResultsDb::open_read_only(db_path);
  std::map<std::string, PointFigures> out;
  for (const json& p : report.at("points")) {
    const std::int64_t run_id = p.at("run_id").get<std::int64_t>();
    const auto row = db.query(
        "SELECT device_time_ns, fps_device, op_count, strategy, config_json FROM runs WHERE "
        "run_id = ?1",
        {run_id});
    EXPECT_EQ(row.rows.size(), 1u) << "run " << run_id;
    if (row.rows.size() != 1) continue;
    PointFigures f;
    f.device_time_ns = std::get<double>(row.rows[0][0]);
    f.fps_device = std::get<double>(row.rows[0][1]);
    f.op_count = std::get<std::int64_t>(row.rows[0][2]);
    EXPECT_EQ(std::get<std::string>(row.rows[0][3]), p.at("config").at("strategy"));
    EXPECT_EQ(json::parse(std::get<std::string>(row.rows[0][4])), p.at("config"));
    // The report's figures are the database's, bit for bit.
    EXPECT_EQ(p.at("device_time_ns").get<double>(), f.device_time_ns);
    f.ops_rows = count_rows(db, "ops", run_id);
    f.core_rows = count_rows(db, "core_stats", run_id);
    f.link_rows = count_rows(db, "link_stats", run_id);
    f.choice_rows = count_rows(db, "strategy_choices", run_id);
    EXPECT_GT(f.ops_rows, 0);
    EXPECT_GT(f.core_rows, 0);
    out[p.at("label").get<std::string>()] = f;
  }
  return out;
}

void expect_same_points(const std::map<std::string, PointFigures>& a,
                        const std::map<std::string, PointFigures>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [label, f] : a) {
    ASSERT_TRUE(b.count(label)) << label;
    const PointFigures& g = b.at(label);
    // Bit-identical, not merely close.
    EXPECT_EQ(f.device_time_ns, g.device_time_ns) << label;
    EXPECT_EQ(f.fps_device, g.fps_device) << label;
    EXPECT_EQ(f.op_count, g.op_count) << label;
    EXPECT_EQ(f, g) << label;
  }
}

// The sweep row: one comparisons row naming every run of the sweep.
void expect_sweep_row(const fs::path& db_path, const json& report) {
  auto db = ResultsDb::open_read_only(db_path);
  const auto rows = db.query("SELECT comparison_id, label, run_ids FROM comparisons");
  ASSERT_EQ(rows.rows.size(), 1u);
  EXPECT_EQ(std::get<std::int64_t>(rows.rows[0][0]), report.at("sweep_id").get<std::int64_t>());
  EXPECT_EQ(std::get<std::string>(rows.rows[0][1]).rfind("sweep ", 0), 0u);
  const json run_ids = json::parse(std::get<std::string>(rows.rows[0][2]));
  ASSERT_EQ(run_ids.size(), report.at("points").size());
  for (std::size_t k = 0; k < run_ids.size(); ++k) {
    EXPECT_EQ(run_ids[k], report.at("points")[k].at("run_id"));
  }
}

TEST(SweepCli, InProcessAndWorkerProcessesStoreTheSameRuns) {
  ScratchDir dir("modes");
  const std::string spec = "'" + kTinySpec.string() + "'";
  const json one = sweep_json(spec + " --db one.db", dir.path());
  ASSERT_EQ(one.value("ran", 0), 4) << one.dump(2);
  EXPECT_EQ(one.at("mode"), "in process");
  const json two = sweep_json(spec + " -j 2 --db two.db", dir.path());
  ASSERT_EQ(two.value("ran", 0), 4) << two.dump(2);
  EXPECT_EQ(two.at("mode"), "2 worker processes");
  // Points keep the spec's order (model outermost) whatever finished first.
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(one["points"][k]["label"], two["points"][k]["label"]);
    EXPECT_EQ(two["points"][k]["status"], "ran");
  }
  EXPECT_EQ(one["points"][0]["config"]["model"], "mnist-mlp");
  EXPECT_EQ(one["points"][3]["config"]["strategy"], "block-sharded");
  expect_same_points(figures(one, dir / "one.db"), figures(two, dir / "two.db"));
  expect_sweep_row(dir / "one.db", one);
  expect_sweep_row(dir / "two.db", two);
  // Bundles of the workers are gone.
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename().string().find("point-"), std::string::npos);
  }
}

TEST(SweepCli, MpiRanksStoreTheSameRunsAsOneProcess) {
  ScratchDir dir("mpi");
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found";
  if (!built_with_mpi(dir.path())) GTEST_SKIP() << "this wormsim was built without MPI";
  const std::string spec = "'" + kTinySpec.string() + "'";
  const json one = sweep_json(spec + " --db one.db", dir.path());
  ASSERT_EQ(one.value("ran", 0), 4);
  const json mpi = sweep_json(spec + " --db mpi.db", dir.path(), kMpirun);
  ASSERT_EQ(mpi.value("ran", 0), 4) << mpi.dump(2);
  EXPECT_EQ(mpi.at("mode"), "MPI, 2 ranks, each in process");
  expect_same_points(figures(one, dir / "one.db"), figures(mpi, dir / "mpi.db"));
  expect_sweep_row(dir / "mpi.db", mpi);
  // Ranks with their own workers too; and a re-run under MPI runs nothing.
  const json mixed = sweep_json(spec + " -j 2 --db mixed.db", dir.path(), kMpirun);
  ASSERT_EQ(mixed.value("ran", 0), 4) << mixed.dump(2);
  expect_same_points(figures(one, dir / "one.db"), figures(mixed, dir / "mixed.db"));
  const json again = sweep_json(spec + " --db mpi.db", dir.path(), kMpirun);
  EXPECT_EQ(again.value("ran", -1), 0);
  EXPECT_EQ(again.value("skipped", 0), 4);
}

TEST(SweepCli, RerunSkipsEveryStoredPoint) {
  ScratchDir dir("rerun");
  const std::string spec = "'" + kTinySpec.string() + "'";
  const json first = sweep_json(spec, dir.path());
  ASSERT_EQ(first.value("ran", 0), 4);
  ASSERT_TRUE(fs::exists(dir / "wormsim.db"));  // the default database, like `run`
  const CliResult again = wormsim("sweep " + spec + " -j 2", dir.path());
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_NE(again.out.find("all 4 points are already in wormsim.db"), std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find("skipped (1)"), std::string::npos) << again.out;
  const json third = sweep_json(spec, dir.path());
  EXPECT_EQ(third.value("ran", -1), 0);
  EXPECT_EQ(third.value("skipped", 0), 4);
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(third["points"][k]["run_id"], first["points"][k]["run_id"]);
    EXPECT_EQ(third["points"][k]["device_time_ns"], first["points"][k]["device_time_ns"]);
  }
  auto db = ResultsDb::open_read_only(dir / "wormsim.db");
  EXPECT_EQ(std::get<std::int64_t>(db.query("SELECT COUNT(*) FROM runs").rows[0][0]), 4);
  // The sweep row is not repeated for a re-run that ran nothing.
  EXPECT_EQ(std::get<std::int64_t>(db.query("SELECT COUNT(*) FROM comparisons").rows[0][0]), 1);
  EXPECT_EQ(third.at("sweep_id"), first.at("sweep_id"));
}

TEST(SweepCli, CrashedWorkerIsReportedWithItsPointAndTheSweepResumes) {
  ScratchDir dir("crash");
  const std::string spec = "'" + kTinySpec.string() + "'";
  const CliResult crashed = wormsim("sweep " + spec + " -j 2", dir.path(),
                                    "WORMSIM_SWEEP_TEST_CRASH=vit-base/block-sharded");
  EXPECT_EQ(crashed.status, 1) << crashed.err;
  EXPECT_NE(crashed.err.find("point #3 (vit-base block-sharded batch=1 layers=1) failed: the "
                             "worker process"),
            std::string::npos)
      << crashed.err;
  EXPECT_NE(crashed.err.find("killed by signal"), std::string::npos) << crashed.err;
  EXPECT_NE(crashed.out.find("FAILED"), std::string::npos) << crashed.out;
  // The other points were stored; the next run only runs the failed one.
  const json resumed = sweep_json(spec, dir.path());
  EXPECT_EQ(resumed.value("ran", 0), 1);
  EXPECT_EQ(resumed.value("skipped", 0), 3);
  EXPECT_EQ(resumed["points"][3]["status"], "ran");

  // In one process a crash ends the sweep, naming the point it was simulating.
  ScratchDir solo("crash_solo");
  const CliResult died =
      wormsim("sweep " + spec, solo.path(), "WORMSIM_SWEEP_TEST_CRASH=mnist-mlp/block-sharded");
  EXPECT_NE(died.status, 0);
  EXPECT_NE(died.err.find("crashed while simulating point #1 (mnist-mlp block-sharded"),
            std::string::npos)
      << died.err;
}

TEST(SweepCli, BadSpecsNameTheField) {
  ScratchDir dir("errors");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"models": ["vit-base"], "strategy": "block-sharded"})",
       R"(models: unknown key (did you mean "model"?))"},
      {R"({"model": ["vit-bse"], "strategy": "block-sharded"})",
       "model[0]: unknown model 'vit-bse'; models: bert-large,"},
      {R"({"model": "vit-base", "strategy": ["block-sharded", "diagonal"]})",
       "strategy[1]: unknown strategy 'diagonal': not a preset (dram-interleaved,"},
      {R"({"model": "vit-base", "strategy": "block-sharded", "batch": []})",
       "batch: is an empty list"},
      {R"({"model": "vit-base", "strategy": "block-sharded", "batch": [1, -2]})",
       "batch[1]: expected a non-negative integer"},
      {R"({"model": "vit-base", "strategy": "block-sharded", "fidelity": "HiFi5"})",
       "fidelity: unknown math fidelity 'HiFi5'"},
      {R"({"model": "vit-base", "strategy": "block-sharded", "numerics": "maybe"})",
       "numerics: expected true / false"},
      {R"({"model": "vit-base", "strategy": "block-sharded",
           "exclude": [{"model": "bert-large"}]})",
       "exclude[0].model: bert-large is not a value of the sweep's model axis (vit-base)"},
      {R"({"model": "vit-base", "strategy": "block-sharded", "include": [{"modl": "x"}]})",
       "include[0].modl: unknown axis 'modl'"},
      {R"({"model": "vit-base", "strategy": "block-sharded", "exclude": [{"model": "vit-base"}]})",
       "the filters leave none of the 1 points"},
      {R"({"model": ["vit-base", "mnist-mlp"], "strategy": "block-sharded", "resolution": 32})",
       "point 'mnist-mlp block-sharded resolution=32': mnist-mlp: MNIST images are 28x28"},
      {R"({"strategy": "block-sharded"})", "model: missing"},
      {R"({"model": "vit-base", )", "is not valid JSON"},
  };
  for (const auto& [text, expected] : cases) {
    dir.write("bad.json", text);
    const CliResult r = wormsim("sweep bad.json", dir.path());
    EXPECT_EQ(r.status, 2) << text;
    EXPECT_NE(r.err.find("sweep spec bad.json"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << "spec " << text << "\nstderr " << r.err;
  }
  EXPECT_FALSE(fs::exists(dir / "wormsim.db"));  // nothing written for a bad spec
  const CliResult missing = wormsim("sweep nowhere.json", dir.path());
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find("cannot read sweep spec nowhere.json"), std::string::npos);
  const CliResult jobs = wormsim("sweep '" + kTinySpec.string() + "' -j 0", dir.path());
  EXPECT_EQ(jobs.status, 2);
  EXPECT_NE(jobs.err.find("-j must be at least 1"), std::string::npos) << jobs.err;
}

TEST(SweepCli, DryRunListsFilteredPointsAndWritesNothing) {
  ScratchDir dir("dry");
  dir.write("diag.json", R"({"name": "all-dram", "policy": "dram-interleaved"})");
  dir.write("spec.json", R"({
    "model": ["mnist-mlp", "vit-base"],
    "strategy": ["dram-interleaved", "block-sharded", "diag.json"],
    "batch": [1, 2],
    "layers": 1,
    "numerics": "off",
    "exclude": [{"model": "mnist-mlp", "strategy": ["block-sharded", "diag.json"]},
                {"model": "vit-base", "batch": 2}],
    "include": [{"strategy": ["dram-interleaved", "diag.json"]}, {"model": "vit-base"}]
  })");
  const json dry = sweep_json("spec.json --dry-run", dir.path());
  EXPECT_FALSE(fs::exists(dir / "wormsim.db"));
  EXPECT_TRUE(dry.at("dry_run").get<bool>());
  std::vector<std::string> labels;
  for (const json& p : dry.at("points")) {
    labels.push_back(p.at("label").get<std::string>());
    EXPECT_EQ(p.at("status"), "to-run");
  }
  const std::vector<std::string> expected = {
      "mnist-mlp dram-interleaved batch=1 layers=1", "mnist-mlp dram-interleaved batch=2 layers=1",
      "vit-base dram-interleaved batch=1 layers=1", "vit-base block-sharded batch=1 layers=1",
      "vit-base diag.json batch=1 layers=1"};
  EXPECT_EQ(labels, expected);
  // A strategy file's definition is part of the point, so editing the file makes a new point.
  EXPECT_EQ(dry["points"][4]["config"]["strategy_definition"]["policy"], "dram-interleaved");

  // Runs the file strategy; a dry run then reports the stored points.
  dir.write("small.json", R"({"model": "mnist-mlp", "strategy": ["diag.json", "l1-interleaved"],
                              "batch": 1})");
  const json ran = sweep_json("small.json", dir.path());
  ASSERT_EQ(ran.value("ran", 0), 2);
  const json listed = sweep_json("small.json --dry-run", dir.path());
  EXPECT_EQ(listed["points"][0]["status"], "stored");
  EXPECT_EQ(listed["points"][0]["run_id"], ran["points"][0]["run_id"]);
  dir.write("diag.json", R"({"name": "all-l1", "policy": "l1-interleaved"})");
  const json edited = sweep_json("small.json --dry-run", dir.path());
  EXPECT_EQ(edited["points"][0]["status"], "to-run");
  EXPECT_EQ(edited["points"][1]["status"], "stored");
}

TEST(SweepCli, WithoutMpiInTheBuildMpirunIsRefused) {
  ScratchDir dir("no_mpi");
  if (built_with_mpi(dir.path())) {
    GTEST_SKIP() << "this wormsim has MPI; the refusal is for builds without it";
  }
  // What mpirun sets; no real launcher is needed to see the refusal.
  const CliResult r =
      wormsim("sweep '" + kTinySpec.string() + "'", dir.path(), "OMPI_COMM_WORLD_SIZE=2");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("built without MPI"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("-j N"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "wormsim.db"));
}

}  // namespace
