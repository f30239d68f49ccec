// The SQLite results database: schema and migrations, one transaction per run (no partial rows
// on failure), concurrent writers, clear errors, read-only queries and the canned reports.
#include "analysis/results_db.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <thread>

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

std::int64_t count(ResultsDb& db, const std::string& sql) {
  const QueryResult r = db.query(sql);
  return std::get<std::int64_t>(r.rows.at(0).at(0));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A run with its profile and info kept alive together.
struct StoredRun {
  workloads::GraphRun run;
  RunTraffic traffic;
  RunProfile profile;
  RunInfo info;
  std::vector<sim::BusyStats> whole_run;

  explicit StoredRun(std::vector<NodeSpec> nodes = mlp_nodes(), std::string strategy = "default",
                     std::string model = "mlp") {
    run = make_run(nodes);
    traffic = make_traffic(run.nodes.size(), 600);
    profile = build_profile(n300(), {{&run, &traffic}});
    info.model = std::move(model);
    info.graph = "synthetic";
    info.device = "n300";
    info.batch = 2;
    info.strategy = std::move(strategy);
    info.seed = 7;
    info.wormsim_version = "test";
    info.config = {{"model", info.model}, {"dispatch", "trace"}};
    info.strategy_choices = {
        {"fc1", "matmul", "L1 block sharded 8x8", "MatmulMultiCoreReuseMultiCast", "test"}};
    for (const std::string name :
         {"chip0 noc0 (1,1)->(2,1)", "chip0 dram bank 3", "pcie host->device",
          "chip0 noc1 inject (2,2)", "idle resource"}) {
      sim::BusyStats s;
      s.name = name;
      s.busy_cycles = name == "idle resource" ? 0 : 5000;
      s.units = 100000;
      s.uses = name == "idle resource" ? 0 : 10;
      whole_run.push_back(s);
    }
  }
  RunRecord record() const {
    RunRecord r;
    r.info = &info;
    r.profile = &profile;
    r.summary = summarise_runs({&run}, info.batch);
    r.dispatch = "trace";
    r.whole_run_stats = whole_run;
    r.whole_run_cycles = 50000;
    r.link_rows_per_op = 2;
    return r;
  }
};

TEST(ResultsDb, NewDatabaseHasTheCurrentSchemaVersionAndEveryTable) {
  TempDir dir("db_schema");
  ResultsDb db = ResultsDb::open_for_write(dir / "r.db");
  EXPECT_EQ(db.schema_version(), kResultsSchemaVersion);
  for (const char* table : {"runs", "ops", "tensors", "core_stats", "link_stats", "dram_bank_stats",
                            "strategy_choices", "comparisons", "schema_version"}) {
    EXPECT_EQ(
        count(db, std::string("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='") +
                      table + "'"),
        1)
        << table;
  }
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "r.db").c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(raw);
  }
  // Opening again keeps the data and the version (no second migration).
  db.insert_run(StoredRun().record());
  ResultsDb again = ResultsDb::open_for_write(dir / "r.db");
  EXPECT_EQ(again.schema_version(), kResultsSchemaVersion);
  EXPECT_EQ(count(again, "SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(count(again, "SELECT count(*) FROM schema_version"), 1);
}

TEST(ResultsDb, RunRowsHoldTheRunOpsTensorsCoresLinksBanksAndChoices) {
  TempDir dir("db_rows");
  ResultsDb db = ResultsDb::open_for_write(dir / "r.db");
  const StoredRun stored;
  const std::int64_t id = db.insert_run(stored.record());
  EXPECT_EQ(id, 1);
  const QueryResult run = db.query(
      "SELECT model, batch, strategy, dispatch, op_count, fps_device, traffic_scope, seed, "
      "config_json FROM runs");
  ASSERT_EQ(run.rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(run.rows[0][0]), "mlp");
  EXPECT_EQ(std::get<std::int64_t>(run.rows[0][1]), 2);
  EXPECT_EQ(std::get<std::string>(run.rows[0][2]), "default");
  EXPECT_EQ(std::get<std::string>(run.rows[0][3]), "trace");
  EXPECT_EQ(std::get<std::int64_t>(run.rows[0][4]), 3);
  const double device_ns = stored.run.device_time_ns;
  EXPECT_NEAR(std::get<double>(run.rows[0][5]), 2 * 1e9 / device_ns, 1e-6);
  EXPECT_EQ(std::get<std::string>(run.rows[0][6]), "per-op");
  EXPECT_EQ(std::get<std::int64_t>(run.rows[0][7]), 7);
  EXPECT_EQ(nlohmann::json::parse(std::get<std::string>(run.rows[0][8]))["dispatch"], "trace");

  EXPECT_EQ(count(db, "SELECT count(*) FROM ops WHERE run_id = 1"), 3);
  const QueryResult mm = db.query(
      "SELECT op_code, kernel_duration_ns, fw_duration_ns, core_count, bound, ideal_ratio, "
      "math_fidelity, pcc "
      "FROM ops WHERE node = 'fc1'");
  EXPECT_EQ(std::get<std::string>(mm.rows[0][0]), "MatmulDeviceOperation");
  EXPECT_EQ(std::get<double>(mm.rows[0][1]), 4000.0);
  EXPECT_LE(std::get<double>(mm.rows[0][1]), std::get<double>(mm.rows[0][2]));
  EXPECT_EQ(std::get<std::int64_t>(mm.rows[0][3]), 64);
  EXPECT_EQ(std::get<std::string>(mm.rows[0][4]),
            std::string(to_string(stored.profile.ops[0].bound)));
  EXPECT_NEAR(std::get<double>(mm.rows[0][5]), stored.profile.ops[0].ideal_ratio, 1e-12);
  EXPECT_EQ(std::get<std::string>(mm.rows[0][6]), "HiFi2");
  EXPECT_NEAR(std::get<double>(mm.rows[0][7]), 0.9999, 1e-12);

  // 2 + 2 + 1 inputs and 3 outputs.
  EXPECT_EQ(count(db, "SELECT count(*) FROM tensors"), 8);
  EXPECT_EQ(count(db, "SELECT count(*) FROM tensors WHERE memory = 'DEV_0_L1_BLOCK_SHARDED'"), 1);
  // One row per core per op: 64 + 32 + 64.
  EXPECT_EQ(count(db, "SELECT count(*) FROM core_stats"), 160);
  EXPECT_EQ(count(db, "SELECT count(*) FROM core_stats WHERE trisc1_ns IS NULL"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM core_stats WHERE brisc_ns > 4000 AND op_index = 0"), 0);
  // Per op: the 2 busiest NoC links (link_rows_per_op) and both DRAM banks; whole run: every
  // used element except banks in link_stats (3), bank 3 in dram_bank_stats.
  EXPECT_EQ(count(db, "SELECT count(*) FROM link_stats WHERE op_index IS NOT NULL"), 6);
  EXPECT_EQ(
      count(db, "SELECT count(*) FROM link_stats WHERE op_index IS NOT NULL AND kind != 'noc'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM link_stats WHERE op_index IS NULL"), 3);
  EXPECT_EQ(count(db, "SELECT count(*) FROM link_stats WHERE op_index IS NULL AND kind = 'niu'"),
            1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dram_bank_stats WHERE op_index IS NOT NULL"), 6);
  EXPECT_EQ(count(db, "SELECT count(*) FROM dram_bank_stats WHERE op_index IS NULL AND bank = 3"),
            1);
  const QueryResult link = db.query(
      "SELECT noc, src_x, src_y, dst_x, dst_y, utilisation_pct FROM link_stats WHERE op_index IS "
      "NULL AND "
      "kind = 'noc'");
  EXPECT_EQ(std::get<std::int64_t>(link.rows[0][0]), 0);
  EXPECT_EQ(std::get<std::int64_t>(link.rows[0][3]), 2);
  EXPECT_NEAR(std::get<double>(link.rows[0][5]), 10.0, 1e-9);  // 5000 of 50000 cycles
  EXPECT_EQ(count(db, "SELECT count(*) FROM strategy_choices WHERE node = 'fc1'"), 1);
}

TEST(ResultsDb, RunRowHoldsTheHostModeAndItsPipeline) {
  TempDir dir("db_host_mode");
  ResultsDb db = ResultsDb::open_for_write(dir / "r.db");
  const StoredRun stored;
  RunRecord record = stored.record();
  const HostMode mode{workloads::DispatchMode::Trace, 2, true};
  record.summary = summarise_runs({&stored.run}, stored.info.batch, n300().host, mode);
  const HostPipeline& p = record.summary.pipeline;
  db.insert_run(record);
  const QueryResult row = db.query(
      "SELECT cq, io_cq, dispatch, e2e_time_ns, fps_e2e, host_write_ns, host_read_ns, sync_ns, "
      "compute_queue_ns, io_queue_ns, host_thread_ns, postprocess_ns, latency_ns, bottleneck "
      "FROM runs");
  ASSERT_EQ(row.rows.size(), 1u);
  const auto& v = row.rows[0];
  EXPECT_EQ(std::get<std::int64_t>(v[0]), 2);
  EXPECT_EQ(std::get<std::int64_t>(v[1]), 1);
  EXPECT_EQ(std::get<std::string>(v[2]), "trace");
  EXPECT_DOUBLE_EQ(std::get<double>(v[3]), p.period_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[4]), 2 * 1e9 / p.period_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[5]), stored.run.host_write_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[6]), stored.run.host_read_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[7]), 4.0 * n300().host.queue_sync_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[8]), p.compute_queue_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[9]), p.io_queue_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[10]), p.host_thread_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[11]), p.postprocess_ns);
  EXPECT_DOUBLE_EQ(std::get<double>(v[12]), p.latency_ns);
  EXPECT_EQ(std::get<std::string>(v[13]), p.bottleneck);
}

TEST(ResultsDb, AVersionOneFileGainsTheHostModeColumnsAndKeepsItsRuns) {
  TempDir dir("db_migrate_v1");
  { ResultsDb::open_for_write(dir / "old.db").insert_run(StoredRun().record()); }
  // Turn the file back into what wormsim wrote before host modes: schema version 1, no host-mode
  // columns in runs.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "old.db").c_str(), &raw), SQLITE_OK);
  for (const char* column :
       {"cq", "io_cq", "host_write_ns", "host_read_ns", "postprocess_ns", "sync_ns",
        "compute_queue_ns", "io_queue_ns", "host_thread_ns", "latency_ns", "bottleneck"}) {
    ASSERT_EQ(sqlite3_exec(raw, (std::string("ALTER TABLE runs DROP COLUMN ") + column).c_str(),
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << column;
  }
  // Nor the version-3 ops column.
  ASSERT_EQ(sqlite3_exec(raw, "ALTER TABLE ops DROP COLUMN dram_bw_util_per_ctrl_pct", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE schema_version SET version = 1", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  // Read-only, a version-1 file is readable as it is.
  {
    ResultsDb reader = ResultsDb::open_read_only(dir / "old.db");
    EXPECT_EQ(reader.schema_version(), 1);
    EXPECT_EQ(count(reader, "SELECT count(*) FROM runs"), 1);
  }
  ResultsDb db = ResultsDb::open_for_write(dir / "old.db");
  EXPECT_EQ(db.schema_version(), kResultsSchemaVersion);
  // The old run had one command queue; what it did not record stays NULL.
  const QueryResult old = db.query("SELECT cq, io_cq, sync_ns FROM runs WHERE run_id = 1");
  EXPECT_EQ(std::get<std::int64_t>(old.rows.at(0)[0]), 1);
  EXPECT_EQ(std::get<std::int64_t>(old.rows.at(0)[1]), 0);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(old.rows.at(0)[2]));
  EXPECT_EQ(db.insert_run(StoredRun().record()), 2);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE cq = 1 AND bottleneck = 'serial'"), 1);
}

TEST(ResultsDb, AVersionTwoFileGainsThePerControllerDramColumn) {
  TempDir dir("db_migrate_v2");
  { ResultsDb::open_for_write(dir / "old.db").insert_run(StoredRun().record()); }
  // What wormsim wrote before DRAM BW UTIL PER CTRL (%): schema version 2, no such ops column.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "old.db").c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "ALTER TABLE ops DROP COLUMN dram_bw_util_per_ctrl_pct", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE schema_version SET version = 2", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  {
    ResultsDb reader = ResultsDb::open_read_only(dir / "old.db");
    EXPECT_EQ(reader.schema_version(), 2);
    EXPECT_EQ(count(reader, "SELECT count(*) FROM ops"), 3);
  }
  ResultsDb db = ResultsDb::open_for_write(dir / "old.db");
  EXPECT_EQ(db.schema_version(), kResultsSchemaVersion);
  // Old ops did not record it; a new run's ops with per-op traffic do, as the CSV prints it.
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM ops WHERE run_id = 1 AND dram_bw_util_per_ctrl_pct "
                  "IS NULL"),
            3);
  const StoredRun stored;
  EXPECT_EQ(db.insert_run(stored.record()), 2);
  const QueryResult fc1 =
      db.query("SELECT dram_bw_util_per_ctrl_pct FROM ops WHERE run_id = 2 AND op_index = 0");
  ASSERT_TRUE(stored.profile.ops[0].dram_bw_util_per_ctrl_pct.has_value());
  EXPECT_DOUBLE_EQ(std::get<double>(fc1.rows.at(0).at(0)),
                   *stored.profile.ops[0].dram_bw_util_per_ctrl_pct);
}

TEST(ResultsDb, AFailingRunLeavesNoPartialRows) {
  TempDir dir("db_rollback");
  ResultsDb db = ResultsDb::open_for_write(dir / "r.db");
  db.insert_run(StoredRun().record());
  StoredRun broken;
  broken.profile.ops[1].node = nullptr;  // fails after the runs row and the first op were inserted
  const std::string message = error_of([&] { db.insert_run(broken.record()); });
  EXPECT_NE(message.find("no node record"), std::string::npos) << message;
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM ops"), 3);
  EXPECT_EQ(count(db, "SELECT count(*) FROM core_stats"), 160);
  // The connection is usable afterwards, and the failed run left nothing, not even its id.
  EXPECT_EQ(db.insert_run(StoredRun().record()), 2);
}

TEST(ResultsDb, TwoProcessesWritingAtOnceBothSucceed) {
  TempDir dir("db_processes");
  const std::filesystem::path path = dir / "r.db";
  constexpr int kRunsEach = 6;
  std::vector<pid_t> children;
  for (int p = 0; p < 2; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int status = 0;
      try {
        ResultsDb db = ResultsDb::open_for_write(path);
        const StoredRun stored(mlp_nodes(), "process" + std::to_string(p));
        for (int k = 0; k < kRunsEach; ++k) db.insert_run(stored.record());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        status = 1;
      }
      _exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  ResultsDb db = ResultsDb::open_read_only(path);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 2 * kRunsEach);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs WHERE strategy = 'process0'"), kRunsEach);
  EXPECT_EQ(count(db, "SELECT count(*) FROM ops"), 2 * kRunsEach * 3);
  // Every run has all its ops (whole transactions).
  EXPECT_EQ(
      count(db,
            "SELECT count(*) FROM (SELECT run_id FROM ops GROUP BY run_id HAVING count(*) = 3)"),
      2 * kRunsEach);
}

TEST(ResultsDb, AProcessKilledWhileWritingLeavesOnlyWholeRuns) {
  TempDir dir("db_killed");
  const std::filesystem::path path = dir / "r.db";
  ResultsDb::open_for_write(path);
  // Runs of 60 ops, so most of the writer's time is spent inside a transaction.
  std::vector<NodeSpec> nodes;
  for (int layer = 0; layer < 20; ++layer) {
    for (NodeSpec n : mlp_nodes()) {
      n.name = "layer" + std::to_string(layer) + "." + n.name;
      nodes.push_back(n);
    }
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    try {
      ResultsDb db = ResultsDb::open_for_write(path);
      const StoredRun stored(nodes);
      for (;;) db.insert_run(stored.record());
    } catch (...) {
    }
    _exit(1);
  }
  // Let a few runs commit, then kill the writer without warning (as a power cut or
  // `kill -9` would).
  std::int64_t committed = 0;
  for (int wait = 0; wait < 2000 && committed < 3; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ResultsDb reader = ResultsDb::open_read_only(path);
    committed = count(reader, "SELECT count(*) FROM runs");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself";
  ASSERT_GE(committed, 3);

  ResultsDb db = ResultsDb::open_for_write(path);
  const std::int64_t runs = count(db, "SELECT count(*) FROM runs");
  EXPECT_GE(runs, committed);
  // Every stored run has all its ops and all its per-core rows; nothing else is stored.
  EXPECT_EQ(count(db, "SELECT count(*) FROM ops"), runs * 60);
  EXPECT_EQ(count(db,
                  "SELECT count(*) FROM (SELECT run_id FROM ops GROUP BY run_id HAVING "
                  "count(*) = 60)"),
            runs);
  EXPECT_EQ(count(db, "SELECT count(DISTINCT run_id) FROM core_stats"), runs);
  EXPECT_EQ(count(db, "SELECT count(*) FROM ops WHERE run_id NOT IN (SELECT run_id FROM runs)"), 0);
  // The next writer carries on.
  EXPECT_EQ(db.insert_run(StoredRun().record()), runs + 1);
}

TEST(ResultsDb, TwoConnectionsInThreadsBothSucceed) {
  TempDir dir("db_threads");
  const std::filesystem::path path = dir / "r.db";
  ResultsDb::open_for_write(path);  // create the schema first, as the first run would
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      try {
        ResultsDb db = ResultsDb::open_for_write(path);
        const StoredRun stored;
        for (int k = 0; k < 4; ++k) db.insert_run(stored.record());
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(t)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  ResultsDb db = ResultsDb::open_read_only(path);
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 8);
}

TEST(ResultsDb, ALockedDatabaseGivesAClearErrorNamingTheFileAndTheFix) {
  TempDir dir("db_locked");
  const std::filesystem::path path = dir / "r.db";
  ResultsDb::open_for_write(path);
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  const std::string message = error_of([&] {
    ResultsDb db = ResultsDb::open_for_write(path, std::chrono::milliseconds(200));
    db.insert_run(StoredRun().record());
  });
  sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("locked by another process"), std::string::npos) << message;
  EXPECT_NE(message.find("--db"), std::string::npos) << message;
}

TEST(ResultsDb, UnwritableOrForeignFilesGiveClearErrors) {
  TempDir dir("db_errors");
  std::string message =
      error_of([&] { ResultsDb::open_for_write(dir / "no" / "such" / "dir" / "r.db"); });
  EXPECT_NE(message.find("cannot write results database"), std::string::npos) << message;
  EXPECT_NE(message.find("no/such/dir/r.db"), std::string::npos) << message;

  {
    std::ofstream text(dir / "notes.db");
    text << "these are not the pages of a database, just text that is long enough to have a "
            "header\n";
  }
  message = error_of([&] { ResultsDb::open_for_write(dir / "notes.db"); });
  EXPECT_NE(message.find("is not a SQLite database"), std::string::npos) << message;
  // SQLite itself would take a one-byte file for an empty database and write over it.
  std::ofstream(dir / "short.txt") << "x";
  message = error_of([&] { ResultsDb::open_for_write(dir / "short.txt"); });
  EXPECT_NE(message.find("is not a SQLite database"), std::string::npos) << message;
  EXPECT_EQ(std::filesystem::file_size(dir / "short.txt"), 1u);
  // An empty file is an empty database.
  std::ofstream(dir / "empty.db").close();
  EXPECT_EQ(error_of([&] { ResultsDb::open_for_write(dir / "empty.db"); }), "");

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "other.db").c_str(), &other), SQLITE_OK);
  sqlite3_exec(other, "CREATE TABLE customers (id INTEGER)", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  message = error_of([&] { ResultsDb::open_for_write(dir / "other.db"); });
  EXPECT_NE(message.find("not a wormsim results database"), std::string::npos) << message;

  // A file from a newer wormsim.
  { ResultsDb db = ResultsDb::open_for_write(dir / "new.db"); }
  sqlite3* newer = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "new.db").c_str(), &newer), SQLITE_OK);
  sqlite3_exec(newer, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(newer);
  message = error_of([&] { ResultsDb::open_for_write(dir / "new.db"); });
  EXPECT_NE(message.find("schema version 99"), std::string::npos) << message;
  message = error_of([&] { ResultsDb::open_read_only(dir / "new.db"); });
  EXPECT_NE(message.find("newer wormsim"), std::string::npos) << message;

  message = error_of([&] { ResultsDb::open_read_only(dir / "absent.db"); });
  EXPECT_NE(message.find("no results database at"), std::string::npos) << message;
}

TEST(ResultsDb, QueriesAreReadOnlyAndOneStatementAtATime) {
  TempDir dir("db_readonly");
  {
    ResultsDb db = ResultsDb::open_for_write(dir / "r.db");
    db.insert_run(StoredRun().record());
  }
  ResultsDb db = ResultsDb::open_read_only(dir / "r.db");
  EXPECT_EQ(count(db, "SELECT count(*) FROM ops"), 3);
  std::string message = error_of([&] { db.query("DELETE FROM runs"); });
  EXPECT_NE(message.find("would modify"), std::string::npos) << message;
  message = error_of([&] { db.query("UPDATE ops SET bound = 'x'"); });
  EXPECT_NE(message.find("would modify"), std::string::npos) << message;
  message = error_of([&] { db.query("SELECT 1; DROP TABLE runs"); });
  EXPECT_NE(message.find("one SQL statement"), std::string::npos) << message;
  // ATTACH / DETACH (which SQLite calls read-only) are refused as such, not as a write failure,
  // and create no file.
  for (const std::string& sql : {"ATTACH DATABASE '" + (dir / "other.db").string() + "' AS o",
                                 std::string("  detach database main")}) {
    message = error_of([&] { db.query(sql); });
    EXPECT_NE(message.find("queries are read-only and ATTACH / DETACH are not allowed"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find("cannot write"), std::string::npos) << message;
    EXPECT_EQ(message.find("--no-db"), std::string::npos) << message;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "other.db"));
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs"), 1);
  // Writing through the read-only handle is refused too.
  EXPECT_THROW(db.insert_run(StoredRun().record()), Error);
  // A trailing semicolon is fine.
  EXPECT_EQ(count(db, "SELECT count(*) FROM runs;  "), 1);
}

TEST(ResultsDb, CannedReports) {
  TempDir dir("db_reports");
  ResultsDb db = ResultsDb::open_for_write(dir / "r.db");
  db.insert_run(StoredRun(mlp_nodes(), "interleaved").record());
  std::vector<NodeSpec> faster = mlp_nodes();
  faster[0].kernel_cycles = 3000;  // fc1 1 us faster
  faster[2].name = "act2";         // a node only run B has ("act" only run A)
  db.insert_run(StoredRun(faster, "sharded").record());

  const QueryResult runs = query_runs(db, 10);
  ASSERT_EQ(runs.rows.size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(runs.rows[0][0]), 2);  // newest first

  const QueryResult ops = query_ops(db, 1);
  ASSERT_EQ(ops.rows.size(), 3u);
  EXPECT_EQ(ops.columns[2], "node");
  EXPECT_EQ(std::get<std::string>(ops.rows[0][2]), "fc1");

  const QueryResult top = query_top_ops(db, 1, 2);
  ASSERT_EQ(top.rows.size(), 2u);
  EXPECT_EQ(std::get<std::string>(top.rows[0][1]), "fc1");
  EXPECT_EQ(std::get<std::string>(top.rows[1][1]), "fc1.bias");

  const QueryResult diff = query_diff(db, 1, 2);
  ASSERT_EQ(diff.rows.size(), 4u);  // fc1, fc1.bias, act (A only), act2 (B only)
  EXPECT_EQ(std::get<std::string>(diff.rows[0][0]), "fc1");
  EXPECT_NEAR(std::get<double>(diff.rows[0][4]), -1.0, 1e-9);
  EXPECT_NEAR(std::get<double>(diff.rows[0][5]), -25.0, 1e-9);
  bool only_a = false, only_b = false;
  for (const auto& row : diff.rows) {
    if (std::get<std::string>(row[0]) == "act")
      only_a = std::holds_alternative<std::monostate>(row[3]);
    if (std::get<std::string>(row[0]) == "act2")
      only_b = std::holds_alternative<std::monostate>(row[2]);
  }
  EXPECT_TRUE(only_a);
  EXPECT_TRUE(only_b);

  const QueryResult strategies = query_strategies(db, "mlp");
  ASSERT_EQ(strategies.rows.size(), 2u);
  EXPECT_EQ(std::get<std::string>(strategies.rows[0][0]), "sharded");  // higher device FPS first
  EXPECT_EQ(std::get<std::int64_t>(strategies.rows[0][2]), 2);
  EXPECT_EQ(std::get<std::int64_t>(strategies.rows[0][8]), 1);  // one strategy choice

  EXPECT_NE(error_of([&] { query_ops(db, 42); }).find("no run 42"), std::string::npos);
  EXPECT_NE(error_of([&] { query_strategies(db, "resnet"); }).find("no runs of model 'resnet'"),
            std::string::npos);

  std::ostringstream csv, json, table;
  print_query_csv(diff, csv);
  EXPECT_EQ(csv.str().substr(0, csv.str().find('\n')), "node,op_code,a_us,b_us,delta_us,delta_pct");
  print_query_json(strategies, json);
  const nlohmann::json parsed = nlohmann::json::parse(json.str());
  EXPECT_EQ(parsed[0]["strategy"], "sharded");
  print_query_table(top, table);
  EXPECT_NE(table.str().find("fc1.bias"), std::string::npos);
}

TEST(ResultsDb, ComparisonsAreStored) {
  TempDir dir("db_compare");
  ResultsDb db = ResultsDb::open_for_write(dir / "r.db");
  db.insert_run(StoredRun().record());
  db.insert_run(StoredRun().record());
  ComparisonRecord c{"mlp", "strategies", {1, 2}, 2, {{"fps", {1.0, 2.0}}}};
  EXPECT_EQ(db.insert_comparison(c), 1);
  const QueryResult r = db.query("SELECT run_ids, best_run_id, summary_json FROM comparisons");
  EXPECT_EQ(nlohmann::json::parse(std::get<std::string>(r.rows[0][0])), nlohmann::json({1, 2}));
  EXPECT_EQ(std::get<std::int64_t>(r.rows[0][1]), 2);
}

}  // namespace
}  // namespace wormsim::analysis
