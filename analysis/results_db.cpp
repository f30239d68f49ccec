#include "analysis/results_db.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <ctime>
#include <fstream>
#include <map>
#include <thread>

#include "analysis/csv_table.hpp"
#include "analysis/ops_perf_csv.hpp"
#include "analysis/sqlite_util.hpp"
#include "analysis/text_table.hpp"
#include "sim/error.hpp"

namespace wormsim::analysis {
namespace {

// ---- schema ----

struct Migration {
  int version;
  const char* sql;
};

// Append a migration (never edit a released one) and raise kResultsSchemaVersion with it.
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1, R"sql(
CREATE TABLE runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at TEXT NOT NULL,
  wormsim_version TEXT,
  config_json TEXT,
  seed INTEGER,
  device TEXT,
  arch TEXT,
  model TEXT,
  graph TEXT,
  batch INTEGER,
  dp INTEGER,
  strategy TEXT,
  dispatch TEXT,
  numerics INTEGER,
  op_count INTEGER,
  op_time_ns REAL,
  gap_time_ns REAL,
  device_time_ns REAL,
  host_io_ns REAL,
  launch_ns REAL,
  e2e_time_ns REAL,
  fps_device REAL,
  fps_e2e REAL,
  pcc REAL,
  worst_op_pcc REAL,
  worst_op TEXT,
  l1_peak_bytes INTEGER,
  dram_peak_bytes INTEGER,
  total_flops INTEGER,
  total_dram_bytes INTEGER,
  traffic_scope TEXT
);
CREATE INDEX runs_by_model ON runs(model, strategy);
CREATE TABLE ops (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  chip INTEGER NOT NULL,
  op_index INTEGER NOT NULL,
  global_call_count INTEGER,
  node TEXT,
  node_group TEXT,
  op TEXT,
  op_code TEXT,
  op_type TEXT,
  attributes TEXT,
  math_fidelity TEXT,
  core_count INTEGER,
  available_cores INTEGER,
  host_start_ns INTEGER,
  host_end_ns INTEGER,
  host_duration_ns INTEGER,
  fw_start_cycle INTEGER,
  fw_end_cycle INTEGER,
  op_to_op_ns REAL,
  op_to_op_dm_ns REAL,
  fw_duration_ns REAL,
  kernel_duration_ns REAL,
  kernel_dm_start_ns REAL,
  per_core_min_ns REAL,
  per_core_max_ns REAL,
  per_core_avg_ns REAL,
  first_to_last_start_ns REAL,
  brisc_ns REAL,
  ncrisc_ns REAL,
  trisc0_ns REAL,
  trisc1_ns REAL,
  trisc2_ns REAL,
  cb_wait_front_ns REAL,
  cb_reserve_back_ns REAL,
  metal_trace_id INTEGER,
  pm_ideal_ns INTEGER,
  pm_compute_ns INTEGER,
  pm_bandwidth_ns INTEGER,
  pm_req_i_bw TEXT,
  pm_req_o_bw TEXT,
  pm_fpu_util_pct REAL,
  noc_util_pct REAL,
  max_link_util_pct REAL,
  busiest_link TEXT,
  dram_bw_util_pct REAL,
  eth_bw_util_pct REAL,
  flops INTEGER,
  dram_bytes_read INTEGER,
  dram_bytes_written INTEGER,
  noc_bytes INTEGER,
  l1_cb_peak_bytes INTEGER,
  compute_busy_cycles INTEGER,
  tpr_dram_bytes REAL,
  dram_gbps REAL,
  dram_pct REAL,
  tflops REAL,
  flops_pct REAL,
  effective_cores INTEGER,
  ideal_ratio REAL,
  bound TEXT,
  advice TEXT,
  pcc REAL,
  local_pcc REAL,
  fallback_reason TEXT,
  PRIMARY KEY (run_id, chip, op_index)
);
CREATE INDEX ops_by_node ON ops(node);
CREATE TABLE tensors (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  chip INTEGER NOT NULL,
  op_index INTEGER NOT NULL,
  role TEXT NOT NULL,
  io_index INTEGER NOT NULL,
  tensor_id INTEGER,
  name TEXT,
  kind TEXT,
  shape TEXT,
  padded_shape TEXT,
  dtype TEXT,
  layout TEXT,
  buffer_type TEXT,
  memory_layout TEXT,
  memory TEXT,
  memory_config TEXT,
  bytes INTEGER,
  PRIMARY KEY (run_id, chip, op_index, role, io_index)
);
CREATE TABLE core_stats (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  chip INTEGER NOT NULL,
  op_index INTEGER NOT NULL,
  core_x INTEGER NOT NULL,
  core_y INTEGER NOT NULL,
  brisc_start_cycle INTEGER,
  brisc_ns REAL,
  ncrisc_start_cycle INTEGER,
  ncrisc_ns REAL,
  trisc0_start_cycle INTEGER,
  trisc0_ns REAL,
  trisc1_start_cycle INTEGER,
  trisc1_ns REAL,
  trisc2_start_cycle INTEGER,
  trisc2_ns REAL,
  compute_busy_cycles INTEGER,
  cb_wait_front_cycles INTEGER,
  cb_reserve_back_cycles INTEGER,
  cb_bytes INTEGER,
  noc_bytes INTEGER,
  PRIMARY KEY (run_id, chip, op_index, core_x, core_y)
);
CREATE TABLE link_stats (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  chip INTEGER,
  op_index INTEGER,
  element TEXT NOT NULL,
  kind TEXT,
  noc INTEGER,
  src_x INTEGER,
  src_y INTEGER,
  dst_x INTEGER,
  dst_y INTEGER,
  busy_cycles INTEGER,
  wait_cycles INTEGER,
  bytes INTEGER,
  uses INTEGER,
  utilisation_pct REAL
);
CREATE INDEX link_stats_by_op ON link_stats(run_id, chip, op_index);
CREATE TABLE dram_bank_stats (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  chip INTEGER,
  op_index INTEGER,
  bank INTEGER NOT NULL,
  busy_cycles INTEGER,
  wait_cycles INTEGER,
  bytes INTEGER,
  uses INTEGER,
  utilisation_pct REAL,
  bandwidth_gbps REAL
);
CREATE INDEX dram_bank_stats_by_op ON dram_bank_stats(run_id, chip, op_index);
CREATE TABLE strategy_choices (
  run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
  node TEXT NOT NULL,
  op TEXT,
  memory_config TEXT,
  program_config TEXT,
  reason TEXT
);
CREATE TABLE comparisons (
  comparison_id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at TEXT NOT NULL,
  model TEXT,
  label TEXT,
  run_ids TEXT,
  best_run_id INTEGER,
  summary_json TEXT
);
)sql"},
      // Host execution modes: the mode and the steady-state pipeline of each run. Runs stored
      // before had one command queue.
      {2, R"sql(
ALTER TABLE runs ADD COLUMN cq INTEGER;
ALTER TABLE runs ADD COLUMN io_cq INTEGER;
ALTER TABLE runs ADD COLUMN host_write_ns REAL;
ALTER TABLE runs ADD COLUMN host_read_ns REAL;
ALTER TABLE runs ADD COLUMN postprocess_ns REAL;
ALTER TABLE runs ADD COLUMN sync_ns REAL;
ALTER TABLE runs ADD COLUMN compute_queue_ns REAL;
ALTER TABLE runs ADD COLUMN io_queue_ns REAL;
ALTER TABLE runs ADD COLUMN host_thread_ns REAL;
ALTER TABLE runs ADD COLUMN latency_ns REAL;
ALTER TABLE runs ADD COLUMN bottleneck TEXT;
UPDATE runs SET cq = 1, io_cq = 0 WHERE cq IS NULL;
)sql"},
      // The ops_perf CSV's DRAM BW UTIL PER CTRL (%): the busiest DRAM controller. NULL for ops
      // stored before (and for ops without per-op traffic).
      {3, R"sql(
ALTER TABLE ops ADD COLUMN dram_bw_util_per_ctrl_pct REAL;
)sql"},
  };
  return list;
}

std::string fidelity_text(const std::optional<arch::MathFidelity>& f) {
  return f ? arch::kMathFidelityNames[static_cast<std::size_t>(*f)] : "";
}

void insert_tensors(SqlInserter& tensors, std::int64_t run_id, const OpProfile& op,
                    const workloads::Graph* graph) {
  const ops::OpRecord& r = op.record();
  const workloads::GraphNode* node = nullptr;
  if (graph != nullptr && op.node->node < graph->nodes().size()) node = &graph->node(op.node->node);
  for (const bool input : {true, false}) {
    const std::vector<ops::TensorSpec>& specs = input ? r.inputs : r.outputs;
    for (std::size_t k = 0; k < specs.size(); ++k) {
      const ops::TensorSpec& t = specs[k];
      SqlValue id, name, kind;
      if (node != nullptr) {
        const std::vector<workloads::TensorId>& ids = input ? node->inputs : node->outputs;
        if (k < ids.size()) {
          const workloads::GraphTensor& g = graph->tensor(ids[k]);
          id = sql_int(g.id);
          name = sql_text(g.name);
          kind = sql_text(std::string(workloads::to_string(g.kind)));
        }
      }
      tensors.insert(
          {{"run_id", run_id},
           {"chip", sql_int(op.chip)},
           {"op_index", sql_int(op.index)},
           {"role", sql_text(input ? "input" : "output")},
           {"io_index", sql_int(k)},
           {"tensor_id", id},
           {"name", name},
           {"kind", kind},
           {"shape", sql_text(ops::to_string(t.logical_shape()))},
           {"padded_shape", sql_text(ops::to_string(t.padded_shape()))},
           {"dtype", sql_text(std::string(ops::to_string(t.data_type())))},
           {"layout", sql_text(std::string(ops::to_string(t.layout())))},
           {"buffer_type", sql_text(std::string(ops::to_string(t.memory_config().buffer_type())))},
           {"memory_layout", sql_text(std::string(ops::to_string(t.memory_config().layout())))},
           {"memory", sql_text(ops::csv_memory_column(t.memory_config(), op.chip))},
           {"memory_config", sql_text(ops::to_string(t.memory_config()))},
           {"bytes", sql_int(t.total_bytes())}});
    }
  }
}

SqlRow op_row(std::int64_t run_id, const OpProfile& op, const RunProfile& profile) {
  const ops::OpRecord& r = op.record();
  const ops::ProgramTiming& t = r.timing;
  const double ns = profile.ns_per_cycle;
  const long long ideal = pm_ns(r.perf_model.ideal_ns());
  const bool has_cores = !t.cores.empty();
  return {{"run_id", run_id},
          {"chip", sql_int(op.chip)},
          {"op_index", sql_int(op.index)},
          {"global_call_count", sql_int(op.global_call_count)},
          {"node", sql_text(op.node->name)},
          {"node_group", sql_opt_text(op.node->group)},
          {"op", sql_text(op.node->op)},
          {"op_code", sql_text(r.op_code)},
          {"op_type", sql_text(r.op_type)},
          {"attributes", sql_text(r.attributes)},
          {"math_fidelity", sql_opt_text(fidelity_text(r.math_fidelity))},
          {"core_count", sql_int(t.core_count)},
          {"available_cores", sql_int(profile.spec->worker_count())},
          {"host_start_ns", sql_int(op.host_start_ns)},
          {"host_end_ns", sql_int(op.host_end_ns)},
          {"host_duration_ns", sql_int(op.host_end_ns - op.host_start_ns)},
          {"fw_start_cycle", sql_int(t.fw_start)},
          {"fw_end_cycle", sql_int(t.fw_end)},
          {"op_to_op_ns", sql_real(op.op_to_op_ns)},
          {"op_to_op_dm_ns", sql_real(op.op_to_op_dm_ns)},
          {"fw_duration_ns", sql_real(op.fw_ns)},
          {"kernel_duration_ns", sql_real(op.kernel_ns)},
          {"kernel_dm_start_ns", sql_real(op.kernel_dm_ns)},
          {"per_core_min_ns",
           has_cores ? sql_real(static_cast<double>(t.per_core_min) * ns) : SqlValue()},
          {"per_core_max_ns",
           has_cores ? sql_real(static_cast<double>(t.per_core_max) * ns) : SqlValue()},
          {"per_core_avg_ns", has_cores ? sql_real(t.per_core_avg * ns) : SqlValue()},
          {"first_to_last_start_ns", sql_real(op.first_to_last_start_ns)},
          {"brisc_ns", sql_opt(op.risc_ns[0])},
          {"ncrisc_ns", sql_opt(op.risc_ns[1])},
          {"trisc0_ns", sql_opt(op.risc_ns[2])},
          {"trisc1_ns", sql_opt(op.risc_ns[3])},
          {"trisc2_ns", sql_opt(op.risc_ns[4])},
          {"cb_wait_front_ns", sql_opt(op.cb_wait_front_ns)},
          {"cb_reserve_back_ns", sql_opt(op.cb_reserve_back_ns)},
          {"metal_trace_id", op.traced ? SqlValue(std::int64_t{1}) : SqlValue()},
          {"pm_ideal_ns", sql_int(static_cast<std::uint64_t>(std::max(0LL, ideal)))},
          {"pm_compute_ns",
           sql_int(static_cast<std::uint64_t>(std::max(0LL, pm_ns(r.perf_model.compute_ns))))},
          {"pm_bandwidth_ns",
           sql_int(static_cast<std::uint64_t>(std::max(0LL, pm_ns(r.perf_model.bandwidth_ns))))},
          {"pm_req_i_bw", sql_text(pm_bandwidth_list(r.inputs, ideal))},
          {"pm_req_o_bw", sql_text(pm_bandwidth_list(r.outputs, ideal))},
          {"pm_fpu_util_pct",
           op.kernel_ns > 0 ? sql_real(100.0 * static_cast<double>(pm_ns(r.perf_model.compute_ns)) /
                                       op.kernel_ns)
                            : SqlValue()},
          {"noc_util_pct", sql_opt(op.noc_util_pct)},
          {"max_link_util_pct", sql_opt(op.max_link_util_pct)},
          {"busiest_link", sql_opt_text(op.busiest_link)},
          {"dram_bw_util_pct", sql_opt(op.dram_bw_util_pct)},
          {"dram_bw_util_per_ctrl_pct", sql_opt(op.dram_bw_util_per_ctrl_pct)},
          {"eth_bw_util_pct", sql_opt(op.eth_bw_util_pct)},
          {"flops", sql_int(r.flops)},
          {"dram_bytes_read", sql_int(r.dram_bytes_read)},
          {"dram_bytes_written", sql_int(r.dram_bytes_written)},
          {"noc_bytes", sql_int(t.noc_bytes)},
          {"l1_cb_peak_bytes", sql_int(t.l1_cb_peak_bytes)},
          {"compute_busy_cycles", sql_int(t.compute_busy_cycles)},
          {"tpr_dram_bytes", sql_real(op.tpr_dram_bytes)},
          {"dram_gbps", sql_opt(op.dram_gbps)},
          {"dram_pct", sql_opt(op.dram_pct)},
          {"tflops", sql_opt(op.tflops)},
          {"flops_pct", sql_opt(op.flops_pct)},
          {"effective_cores", sql_int(op.effective_cores)},
          {"ideal_ratio", sql_real(op.ideal_ratio)},
          {"bound", sql_text(std::string(to_string(op.bound)))},
          {"advice", sql_opt_text(op.advice)},
          {"pcc", sql_opt(r.pcc)},
          {"local_pcc", sql_opt(op.node->local_pcc)},
          {"fallback_reason", sql_opt_text(r.fallback_reason)}};
}

SqlRow core_row(std::int64_t run_id, const OpProfile& op, const ops::CoreTiming& core, double ns) {
  SqlRow row = {{"run_id", run_id},
                {"chip", sql_int(op.chip)},
                {"op_index", sql_int(op.index)},
                {"core_x", sql_int(core.core.x)},
                {"core_y", sql_int(core.core.y)}};
  static const std::array<std::pair<const char*, const char*>, ops::kRiscCount> columns = {{
      {"brisc_start_cycle", "brisc_ns"},
      {"ncrisc_start_cycle", "ncrisc_ns"},
      {"trisc0_start_cycle", "trisc0_ns"},
      {"trisc1_start_cycle", "trisc1_ns"},
      {"trisc2_start_cycle", "trisc2_ns"},
  }};
  for (std::size_t r = 0; r < ops::kRiscCount; ++r) {
    const ops::KernelSpan& span = core.spans[r];
    row.emplace_back(columns[r].first, span.used ? sql_int(span.start) : SqlValue());
    row.emplace_back(
        columns[r].second,
        span.used ? sql_real(static_cast<double>(span.end - span.start) * ns) : SqlValue());
  }
  row.emplace_back("compute_busy_cycles", sql_int(core.compute_busy_cycles));
  row.emplace_back("cb_wait_front_cycles", sql_int(core.cb_wait_front_cycles));
  row.emplace_back("cb_reserve_back_cycles", sql_int(core.cb_reserve_back_cycles));
  row.emplace_back("cb_bytes", sql_int(core.cb_bytes));
  row.emplace_back("noc_bytes", sql_int(core.noc_bytes));
  return row;
}

struct ElementCounters {
  sim::Cycle busy{0};
  sim::Cycle wait{0};
  std::uint64_t units{0};
  std::uint64_t uses{0};
};

void insert_element(SqlInserter& links, SqlInserter& banks, std::int64_t run_id,
                    const ElementInfo& e, SqlValue op_index, const ElementCounters& c,
                    double window_cycles, double ns_per_cycle, const SqlValue& chip_override) {
  const double util = window_cycles > 0 ? 100.0 * static_cast<double>(c.busy) / window_cycles : 0.0;
  const SqlValue chip = !std::holds_alternative<std::monostate>(chip_override) ? chip_override
                        : e.chip                                               ? sql_int(*e.chip)
                                                                               : SqlValue();
  if (e.kind == ElementKind::DramBank) {
    const double window_ns = window_cycles * ns_per_cycle;
    banks.insert(
        {{"run_id", run_id},
         {"chip", chip},
         {"op_index", op_index},
         {"bank", sql_int(e.index)},
         {"busy_cycles", sql_int(c.busy)},
         {"wait_cycles", sql_int(c.wait)},
         {"bytes", sql_int(c.units)},
         {"uses", sql_int(c.uses)},
         {"utilisation_pct", sql_real(util)},
         {"bandwidth_gbps",
          window_ns > 0 ? sql_real(static_cast<double>(c.units) / window_ns) : SqlValue()}});
    return;
  }
  const bool located = e.kind == ElementKind::NocLink || e.kind == ElementKind::NiuPort;
  links.insert(
      {{"run_id", run_id},
       {"chip", chip},
       {"op_index", op_index},
       {"element", sql_text(e.name)},
       {"kind", sql_text(std::string(to_string(e.kind)))},
       {"noc", e.noc >= 0 ? sql_int(static_cast<std::uint64_t>(e.noc)) : SqlValue()},
       {"src_x", located ? SqlValue(std::int64_t{e.src.x}) : SqlValue()},
       {"src_y", located ? SqlValue(std::int64_t{e.src.y}) : SqlValue()},
       {"dst_x", e.kind == ElementKind::NocLink ? SqlValue(std::int64_t{e.dst.x}) : SqlValue()},
       {"dst_y", e.kind == ElementKind::NocLink ? SqlValue(std::int64_t{e.dst.y}) : SqlValue()},
       {"busy_cycles", sql_int(c.busy)},
       {"wait_cycles", sql_int(c.wait)},
       {"bytes", sql_int(c.units)},
       {"uses", sql_int(c.uses)},
       {"utilisation_pct", sql_real(util)}});
}

}  // namespace

// ---- ResultsDb ----

namespace {

DbFile results_file(const std::filesystem::path& path) {
  return DbFile{path, "results database", "write to another file with --db PATH (or --no-db)"};
}

}  // namespace

DbFile ResultsDb::file() const { return results_file(path_); }

void ResultsDb::Deleter::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }

ResultsDb::ResultsDb(std::filesystem::path path, std::unique_ptr<sqlite3, Deleter> db,
                     bool read_only)
    : path_(std::move(path)), db_(std::move(db)), read_only_(read_only) {}
ResultsDb::ResultsDb(ResultsDb&&) noexcept = default;
ResultsDb& ResultsDb::operator=(ResultsDb&&) noexcept = default;
ResultsDb::~ResultsDb() = default;

namespace {
// How long open_for_write sleeps between attempts to switch a busy database to WAL.
constexpr std::chrono::milliseconds kWalRetryInterval{5};
}  // namespace

ResultsDb ResultsDb::open_for_write(const std::filesystem::path& path,
                                    std::chrono::milliseconds busy_timeout) {
  // SQLite takes some short files that are not databases for empty ones and writes over them;
  // a file that is neither empty nor a SQLite database is left alone.
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) > 0) {
    static constexpr char kSqliteMagic[] = "SQLite format 3";  // with its NUL: 16 bytes
    std::array<char, sizeof(kSqliteMagic)> head{};
    std::ifstream in(path, std::ios::binary);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    if (!std::equal(head.begin(), head.end(), kSqliteMagic)) {
      const DbFile file = results_file(path);
      throw Error(path.string() + " is not a SQLite database; " + file.other_file_fix);
    }
  }
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  std::unique_ptr<sqlite3, Deleter> db(raw);
  if (rc != SQLITE_OK) sqlite_fail(db.get(), rc, results_file(path), "opening it");
  sqlite3_extended_result_codes(db.get(), 0);
  sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout.count()));
  const std::string waited = "waited " + std::to_string(busy_timeout.count()) + " ms";
  // WAL lets readers run beside one writer; the busy timeout makes writers queue. Switching to
  // WAL needs an exclusive lock, and when another connection is taking its own lock on the same
  // file at that moment SQLite answers SQLITE_BUSY at once instead of calling the busy handler
  // (waiting could deadlock). Both had nothing else locked, so retrying is safe: it is retried
  // until the busy timeout has passed (two processes opening a new database failed here).
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout;
  for (;;) {
    const int rc = sqlite3_exec(db.get(), "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) break;
    const bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
    if (!busy || std::chrono::steady_clock::now() >= deadline) {
      sqlite_fail(db.get(), rc, results_file(path), "switching to WAL (" + waited + ")");
    }
    std::this_thread::sleep_for(kWalRetryInterval);
  }
  sqlite_exec(db.get(), results_file(path), "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON",
              "configuring it");
  ResultsDb result(path, std::move(db), false);
  result.busy_timeout_ms_ = static_cast<int>(busy_timeout.count());
  result.migrate();
  return result;
}

ResultsDb ResultsDb::open_read_only(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error("no results database at " + path.string() + ": `wormsim run` writes one (./" +
                kDefaultResultsDb + " by default); pass --db PATH to read another");
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, Deleter> db(raw);
  if (rc != SQLITE_OK) sqlite_fail(db.get(), rc, results_file(path), "opening it read-only");
  sqlite3_busy_timeout(db.get(), 10000);
  ResultsDb result(path, std::move(db), true);
  const int version = result.schema_version();
  if (version == 0) {
    throw Error(path.string() +
                " is not a wormsim results database (no schema_version table); pass --db with "
                "a file written by `wormsim run`");
  }
  if (version > kResultsSchemaVersion) {
    throw Error(path.string() + " has results schema version " + std::to_string(version) +
                "; this wormsim reads up "
                "to " +
                std::to_string(kResultsSchemaVersion) + ": use a newer wormsim");
  }
  return result;
}

int ResultsDb::schema_version() {
  SqlStatement has(
      db_.get(), file(),
      "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'");
  if (!has.step("reading the schema") || sqlite3_column_int(has.get(), 0) == 0) return 0;
  SqlStatement version(db_.get(), file(), "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  return version.step("reading the schema version") ? sqlite3_column_int(version.get(), 0) : 0;
}

void ResultsDb::migrate() {
  SqlTransaction tx(db_.get(), file(), "waited " + std::to_string(busy_timeout_ms_) + " ms");
  int version = schema_version();
  if (version == 0) {
    SqlStatement others(db_.get(), file(),
                        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND "
                        "name != 'schema_version'");
    if (others.step("reading the schema") && sqlite3_column_int(others.get(), 0) > 0) {
      throw Error(path_.string() +
                  " is a SQLite database but not a wormsim results database; pass --db with "
                  "another file name");
    }
    sqlite_exec(db_.get(), file(),
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
                "creating the schema");
  }
  if (version > kResultsSchemaVersion) {
    throw Error(path_.string() + " has results schema version " + std::to_string(version) +
                "; this wormsim writes " + std::to_string(kResultsSchemaVersion) +
                ": use a newer wormsim or another --db");
  }
  for (const Migration& m : migrations()) {
    if (m.version <= version) continue;
    sqlite_exec(db_.get(), file(), m.sql,
                "migrating to schema version " + std::to_string(m.version));
    version = m.version;
  }
  sqlite_exec(db_.get(), file(),
              "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (" +
                  std::to_string(version) + ")",
              "recording the schema version");
  tx.commit();
}

std::int64_t ResultsDb::insert_run(const RunRecord& record) {
  if (read_only_) throw Error("results database " + path_.string() + " was opened read-only");
  if (record.info == nullptr || record.profile == nullptr || record.profile->spec == nullptr) {
    throw Error("results DB: a run record needs its RunInfo and RunProfile (with the device spec)");
  }
  const RunInfo& info = *record.info;
  const RunProfile& profile = *record.profile;
  const RunSummary& s = record.summary;
  SqlTransaction tx(db_.get(), file(), "waited " + std::to_string(busy_timeout_ms_) + " ms");

  std::uint64_t total_flops = 0, total_dram = 0;
  for (const OpProfile& op : profile.ops) {
    if (op.node == nullptr) continue;
    total_flops += op.record().flops;
    total_dram += op.record().dram_bytes_read + op.record().dram_bytes_written;
  }
  SqlInserter runs(db_.get(), file(), "runs");
  runs.insert({{"created_at", sql_text(utc_timestamp())},
               {"wormsim_version", sql_text(info.wormsim_version)},
               {"config_json", sql_text(info.config.dump())},
               {"seed", sql_int(info.seed)},
               {"device", sql_text(info.device.empty() ? profile.spec->name : info.device)},
               {"arch", sql_text(profile.spec->arch)},
               {"model", sql_text(info.model)},
               {"graph", sql_text(info.graph)},
               {"batch", sql_int(info.batch)},
               {"dp", sql_int(info.dp)},
               {"strategy", sql_text(info.strategy)},
               {"dispatch", sql_text(record.dispatch)},
               {"numerics", sql_int(info.numerics ? 1 : 0)},
               {"op_count", sql_int(s.op_count)},
               {"op_time_ns", sql_real(s.op_time_ns)},
               {"gap_time_ns", sql_real(s.gap_time_ns)},
               {"device_time_ns", sql_real(s.device_time_ns)},
               {"host_io_ns", sql_real(s.host_io_ns)},
               {"launch_ns", sql_real(s.launch_ns)},
               {"e2e_time_ns", sql_real(s.e2e_ns)},
               {"fps_device", sql_real(s.fps_device)},
               {"fps_e2e", sql_real(s.fps_e2e)},
               {"pcc", sql_opt(s.pcc)},
               {"worst_op_pcc", sql_opt(s.worst_op_pcc)},
               {"worst_op", sql_opt_text(s.worst_op)},
               {"l1_peak_bytes", sql_int(s.l1_peak_bytes)},
               {"dram_peak_bytes", sql_int(s.dram_peak_bytes)},
               {"total_flops", sql_int(total_flops)},
               {"total_dram_bytes", sql_int(total_dram)},
               {"traffic_scope", sql_text(profile.per_op_traffic ? "per-op" : "whole-run")},
               {"cq", sql_int(s.pipeline.mode.command_queues)},
               {"io_cq", sql_int(s.pipeline.mode.io_queue ? 1 : 0)},
               {"host_write_ns", sql_real(s.pipeline.host_write_ns)},
               {"host_read_ns", sql_real(s.pipeline.host_read_ns)},
               {"postprocess_ns", sql_real(s.pipeline.postprocess_ns)},
               {"sync_ns", sql_real(s.pipeline.sync_ns)},
               {"compute_queue_ns", sql_real(s.pipeline.compute_queue_ns)},
               {"io_queue_ns", sql_real(s.pipeline.io_queue_ns)},
               {"host_thread_ns", sql_real(s.pipeline.host_thread_ns)},
               {"latency_ns", sql_real(s.pipeline.latency_ns)},
               {"bottleneck", sql_text(s.pipeline.bottleneck)}});
  const std::int64_t run_id = sqlite3_last_insert_rowid(db_.get());

  SqlInserter ops_table(db_.get(), file(), "ops");
  SqlInserter tensors(db_.get(), file(), "tensors");
  SqlInserter cores(db_.get(), file(), "core_stats");
  SqlInserter links(db_.get(), file(), "link_stats");
  SqlInserter banks(db_.get(), file(), "dram_bank_stats");
  for (const OpProfile& op : profile.ops) {
    if (op.node == nullptr) {
      throw Error("results DB: op " + std::to_string(op.index) + " on chip " +
                  std::to_string(op.chip) + " has no node record; the run was not stored");
    }
    ops_table.insert(op_row(run_id, op, profile));
    insert_tensors(tensors, run_id, op, record.graph);
    for (const ops::CoreTiming& core : op.record().timing.cores) {
      cores.insert(core_row(run_id, op, core, profile.ns_per_cycle));
    }
    // Per-op traffic: DRAM banks, Ethernet and PCIe in full, the busiest NoC links.
    const sim::Cycle window = op.record().timing.kernel_duration() > 0
                                  ? op.record().timing.kernel_duration()
                                  : op.record().timing.fw_duration();
    std::vector<const ElementUse*> noc_links;
    for (const ElementUse& use : op.traffic) {
      const ElementInfo& e = profile.elements.at(use.element);
      const ElementCounters c{use.busy_cycles, use.wait_cycles, use.units, use.uses};
      if (e.kind == ElementKind::NocLink) {
        noc_links.push_back(&use);
      } else if (e.kind == ElementKind::DramBank || e.kind == ElementKind::Ethernet ||
                 e.kind == ElementKind::Pcie) {
        insert_element(links, banks, run_id, e, sql_int(op.index), c, static_cast<double>(window),
                       profile.ns_per_cycle,
                       e.kind == ElementKind::Pcie ? sql_int(op.chip) : SqlValue());
      }
    }
    std::stable_sort(
        noc_links.begin(), noc_links.end(),
        [](const ElementUse* a, const ElementUse* b) { return a->busy_cycles > b->busy_cycles; });
    if (noc_links.size() > record.link_rows_per_op) noc_links.resize(record.link_rows_per_op);
    for (const ElementUse* use : noc_links) {
      insert_element(links, banks, run_id, profile.elements.at(use->element), sql_int(op.index),
                     ElementCounters{use->busy_cycles, use->wait_cycles, use->units, use->uses},
                     static_cast<double>(window), profile.ns_per_cycle, SqlValue());
    }
  }
  for (const sim::BusyStats& stats : record.whole_run_stats) {
    if (stats.uses == 0) continue;
    insert_element(links, banks, run_id, parse_element_name(stats.name), SqlValue(),
                   ElementCounters{stats.busy_cycles, stats.wait_cycles, stats.units, stats.uses},
                   static_cast<double>(record.whole_run_cycles), profile.ns_per_cycle, SqlValue());
  }
  SqlInserter choices(db_.get(), file(), "strategy_choices");
  for (const StrategyChoice& c : info.strategy_choices) {
    choices.insert({{"run_id", run_id},
                    {"node", sql_text(c.node)},
                    {"op", sql_text(c.op)},
                    {"memory_config", sql_text(c.memory_config)},
                    {"program_config", sql_text(c.program_config)},
                    {"reason", sql_text(c.reason)}});
  }
  tx.commit();
  return run_id;
}

std::int64_t ResultsDb::insert_comparison(const ComparisonRecord& record) {
  if (read_only_) throw Error("results database " + path_.string() + " was opened read-only");
  SqlTransaction tx(db_.get(), file(), "waited " + std::to_string(busy_timeout_ms_) + " ms");
  SqlInserter comparisons(db_.get(), file(), "comparisons");
  comparisons.insert(
      {{"created_at", sql_text(utc_timestamp())},
       {"model", sql_text(record.model)},
       {"label", sql_text(record.label)},
       {"run_ids", sql_text(nlohmann::json(record.run_ids).dump())},
       {"best_run_id", record.best_run_id ? SqlValue(*record.best_run_id) : SqlValue()},
       {"summary_json", sql_text(record.summary.dump())}});
  const std::int64_t id = sqlite3_last_insert_rowid(db_.get());
  tx.commit();
  return id;
}

namespace {

// Notes whether a statement being prepared attaches or detaches a database. SQLite counts
// ATTACH / DETACH as read-only (they change the connection, not the file), so the read-only
// check below does not catch them; running them would open (and create) other files.
class AttachWatch {
 public:
  explicit AttachWatch(sqlite3* db) : db_(db) {
    sqlite3_set_authorizer(db_, &AttachWatch::check, this);
  }
  ~AttachWatch() { sqlite3_set_authorizer(db_, nullptr, nullptr); }
  AttachWatch(const AttachWatch&) = delete;
  AttachWatch& operator=(const AttachWatch&) = delete;
  bool seen() const { return seen_; }

 private:
  static int check(void* self, int action, const char*, const char*, const char*, const char*) {
    if (action == SQLITE_ATTACH || action == SQLITE_DETACH)
      static_cast<AttachWatch*>(self)->seen_ = true;
    return SQLITE_OK;
  }
  sqlite3* db_;
  bool seen_{false};
};

}  // namespace

QueryResult ResultsDb::query(const std::string& sql, const std::vector<SqlValue>& params) {
  std::optional<SqlStatement> prepared;
  {
    AttachWatch watch(db_.get());
    prepared.emplace(db_.get(), file(), sql);
    if (watch.seen()) {
      throw Error("query: '" + sql + "' attaches or detaches a database; queries are read-only " +
                  "and ATTACH / DETACH are not allowed: query " + path_.string() +
                  " alone, or pass another file with --db PATH");
    }
  }
  SqlStatement& statement = *prepared;
  const std::string& tail = statement.tail();
  if (tail.find_first_not_of(" \t\r\n;") != std::string::npos) {
    throw Error("query: give one SQL statement at a time (found more after '" +
                sql.substr(0, sql.size() - tail.size()) + "')");
  }
  if (sqlite3_stmt_readonly(statement.get()) == 0) {
    throw Error("query: '" + sql + "' would modify " + path_.string() +
                "; queries are read-only (use SELECT / WITH), the database is written only by "
                "`wormsim run`");
  }
  statement.bind(params);
  QueryResult result;
  const int columns = sqlite3_column_count(statement.get());
  for (int c = 0; c < columns; ++c)
    result.columns.emplace_back(sqlite3_column_name(statement.get(), c));
  while (statement.step("running the query")) {
    std::vector<SqlValue> row;
    row.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) row.push_back(statement.column(c));
    result.rows.push_back(std::move(row));
  }
  return result;
}

// ---- canned reports ----

namespace {

void require_run(ResultsDb& db, std::int64_t run_id) {
  const QueryResult r = db.query("SELECT 1 FROM runs WHERE run_id = ?", {run_id});
  if (r.rows.empty()) {
    throw Error("results database " + db.path().string() + " has no run " + std::to_string(run_id) +
                "; `wormsim query runs` lists them");
  }
}

}  // namespace

QueryResult query_runs(ResultsDb& db, std::size_t limit) {
  return db.query(
      "SELECT run_id, created_at, model, device, batch, dp, strategy, dispatch, op_count AS ops, "
      "ROUND(device_time_ns / 1e6, 3) AS device_ms, ROUND(fps_device, 2) AS fps_device, "
      "ROUND(fps_e2e, 2) AS fps_e2e, ROUND(pcc, 6) AS pcc, ROUND(l1_peak_bytes / 1024.0, 1) AS "
      "l1_peak_kib "
      "FROM runs ORDER BY run_id DESC LIMIT ?",
      {static_cast<std::int64_t>(limit)});
}

QueryResult query_ops(ResultsDb& db, std::int64_t run_id) {
  require_run(db, run_id);
  return db.query(
      "SELECT op_index, chip, node, op_code, core_count AS cores, ROUND(kernel_duration_ns / 1e3, "
      "3) AS kernel_us, "
      "ROUND(fw_duration_ns / 1e3, 3) AS fw_us, ROUND(op_to_op_ns / 1e3, 3) AS gap_us, bound, "
      "ROUND(dram_pct, 1) AS dram_pct, ROUND(flops_pct, 1) AS flops_pct, ROUND(noc_util_pct, 1) AS "
      "noc_util_pct, "
      "ROUND(pcc, 6) AS pcc FROM ops WHERE run_id = ? ORDER BY chip, op_index",
      {run_id});
}

QueryResult query_top_ops(ResultsDb& db, std::int64_t run_id, std::size_t limit) {
  require_run(db, run_id);
  return db.query(
      "WITH first_chip AS (SELECT MIN(chip) AS chip FROM ops WHERE run_id = ?1), "
      "mine AS (SELECT * FROM ops WHERE run_id = ?1 AND chip = (SELECT chip FROM first_chip)), "
      "total AS (SELECT SUM(kernel_duration_ns) AS t FROM mine) "
      "SELECT op_index, node, op_code, ROUND(kernel_duration_ns / 1e3, 3) AS kernel_us, "
      "ROUND(100.0 * kernel_duration_ns / NULLIF((SELECT t FROM total), 0), 1) AS share_pct, "
      "core_count AS cores, "
      "bound, advice FROM mine ORDER BY kernel_duration_ns DESC, op_index LIMIT ?2",
      {run_id, static_cast<std::int64_t>(limit)});
}

QueryResult query_diff(ResultsDb& db, std::int64_t run_a, std::int64_t run_b) {
  require_run(db, run_a);
  require_run(db, run_b);
  return db.query(
      "WITH a AS (SELECT node, op_code, kernel_duration_ns AS t FROM ops WHERE run_id = ?1 AND "
      "chip = (SELECT MIN(chip) FROM ops WHERE run_id = ?1)), "
      "b AS (SELECT node, op_code, kernel_duration_ns AS t FROM ops WHERE run_id = ?2 AND "
      "chip = (SELECT MIN(chip) FROM ops WHERE run_id = ?2)), "
      "joined AS (SELECT a.node AS node, a.op_code AS op_code, a.t AS ta, b.t AS tb FROM a LEFT "
      "JOIN b "
      "ON a.node = b.node UNION ALL SELECT b.node, b.op_code, NULL, b.t FROM b WHERE b.node NOT IN "
      "(SELECT node FROM a)) "
      "SELECT node, op_code, ROUND(ta / 1e3, 3) AS a_us, ROUND(tb / 1e3, 3) AS b_us, "
      "ROUND((COALESCE(tb, 0) - COALESCE(ta, 0)) / 1e3, 3) AS delta_us, "
      "ROUND(100.0 * (tb - ta) / NULLIF(ta, 0), 1) AS delta_pct FROM joined "
      "ORDER BY ABS(COALESCE(tb, 0) - COALESCE(ta, 0)) DESC, node",
      {run_a, run_b});
}

QueryResult query_strategies(ResultsDb& db, const std::string& model) {
  QueryResult result = db.query(
      "WITH ranked AS (SELECT *, ROW_NUMBER() OVER (PARTITION BY strategy ORDER BY fps_device "
      "DESC, run_id) AS r, "
      "COUNT(*) OVER (PARTITION BY strategy) AS n FROM runs WHERE model = ?1) "
      "SELECT strategy, n AS runs, run_id AS best_run, ROUND(fps_device, 2) AS fps_device, "
      "ROUND(fps_e2e, 2) AS fps_e2e, ROUND(device_time_ns / 1e6, 3) AS device_ms, "
      "ROUND(l1_peak_bytes / 1024.0, 1) AS l1_peak_kib, ROUND(pcc, 6) AS pcc, "
      "(SELECT COUNT(*) FROM strategy_choices c WHERE c.run_id = ranked.run_id) AS choices "
      "FROM ranked WHERE r = 1 ORDER BY fps_device DESC",
      {model});
  if (result.rows.empty()) {
    throw Error("results database " + db.path().string() + " has no runs of model '" + model +
                "'; `wormsim query runs` lists the models");
  }
  return result;
}

// ---- output forms ----

std::string sql_value_text(const SqlValue& value) {
  if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value)) {
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), *d);
    return ec == std::errc() ? std::string(buffer, end) : std::to_string(*d);
  }
  if (const auto* s = std::get_if<std::string>(&value)) return *s;
  return "";
}

void print_query_table(const QueryResult& result, std::ostream& out) {
  TextTable table(result.columns);
  for (const auto& row : result.rows) {
    std::vector<std::string> cells;
    for (const SqlValue& v : row) cells.push_back(sql_value_text(v));
    table.add_row(std::move(cells));
  }
  table.print(out);
}

void print_query_csv(const QueryResult& result, std::ostream& out) {
  auto line = [&out](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i)
      out << (i > 0 ? "," : "") << csv_escape(cells[i]);
    out << "\n";
  };
  line(result.columns);
  for (const auto& row : result.rows) {
    std::vector<std::string> cells;
    for (const SqlValue& v : row) cells.push_back(sql_value_text(v));
    line(cells);
  }
}

void print_query_json(const QueryResult& result, std::ostream& out) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : result.rows) {
    nlohmann::json object = nlohmann::json::object();
    for (std::size_t c = 0; c < row.size() && c < result.columns.size(); ++c) {
      const SqlValue& v = row[c];
      if (const auto* i = std::get_if<std::int64_t>(&v)) {
        object[result.columns[c]] = *i;
      } else if (const auto* d = std::get_if<double>(&v)) {
        object[result.columns[c]] = *d;
      } else if (const auto* s = std::get_if<std::string>(&v)) {
        object[result.columns[c]] = *s;
      } else {
        object[result.columns[c]] = nullptr;
      }
    }
    rows.push_back(std::move(object));
  }
  out << rows.dump(2) << "\n";
}

}  // namespace wormsim::analysis
