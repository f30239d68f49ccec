#pragma once
// The SQLite results database (default ./wormsim.db): every `wormsim run` adds one run with its
// ops, tensors, per-core kernel spans, link and DRAM bank statistics and strategy choices, so
// `wormsim query` can answer questions across runs.
//
// Schema (version kResultsSchemaVersion, table schema_version; older files are migrated on
// open, newer ones are refused):
//   runs(run_id, created_at, wormsim_version, config_json, seed, device, arch, model, graph,
//        batch, dp, strategy, dispatch, numerics, op_count, op/gap/device/host_io/launch/e2e
//        times [ns], fps_device, fps_e2e, pcc, worst_op_pcc, worst_op, l1/dram peaks,
//        total_flops, total_dram_bytes, traffic_scope 'per-op' | 'whole-run'; since version 2
//        the host mode cq, io_cq and the pipeline of analysis::HostPipeline: host_write_ns,
//        host_read_ns, postprocess_ns, sync_ns, compute_queue_ns, io_queue_ns, host_thread_ns,
//        latency_ns, bottleneck; e2e_time_ns / fps_e2e are the steady-state period's)
//   ops(run_id, chip, op_index, every ops_perf CSV field, tt-perf-report DRAM / FLOPs view,
//       ideal_ratio = PM IDEAL / kernel time, bound DRAM|FLOP|BOTH|NoC|SLOW|HOST, advice, pcc;
//       since version 3 dram_bw_util_per_ctrl_pct, the CSV's DRAM BW UTIL PER CTRL (%))
//   tensors(run_id, chip, op_index, role input|output, io_index, graph tensor id / name / kind
//           when the graph is known, shapes, dtype, layout, memory)
//   core_stats(run_id, chip, op_index, core_x, core_y, per RISC start cycle and duration,
//              compute busy cycles, CB wait-front / reserve-back cycles, CB and NoC bytes)
//   link_stats(run_id, chip, op_index (NULL = whole run), element, kind, noc, src, dst, busy,
//              wait, bytes, uses, utilisation_pct): NoC links, NIU ports, Ethernet, PCIe
//   dram_bank_stats(run_id, chip, op_index (NULL = whole run), bank, busy, wait, bytes, uses,
//                   utilisation_pct, bandwidth_gbps)
//   strategy_choices(run_id, node, op, memory_config, program_config, reason)
//   comparisons(comparison_id, created_at, model, label, run_ids JSON, best_run_id, summary_json)
//
// Writers: WAL journal, a busy timeout and BEGIN IMMEDIATE, one transaction per run, so
// concurrent processes each commit whole runs and a failure leaves no partial rows.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "analysis/run_profile.hpp"
#include "analysis/sqlite_util.hpp"
#include "sim/stats.hpp"
#include "workloads/graph.hpp"

struct sqlite3;

namespace wormsim::analysis {

inline constexpr const char* kDefaultResultsDb = "wormsim.db";
inline constexpr int kResultsSchemaVersion = 3;

// How one node was configured by the sharding strategy (empty until strategies exist).
struct StrategyChoice {
  std::string node;
  std::string op;
  std::string memory_config;
  std::string program_config;
  std::string reason;
};

// What `wormsim run` knows about the run beyond the GraphRuns.
struct RunInfo {
  std::string model;  // zoo name, or the graph name for a graph file
  std::string graph;
  std::string device;  // spec name: "n300"
  std::uint32_t batch{1};
  std::uint32_t dp{1};
  std::string strategy;
  bool numerics{true};
  std::uint64_t seed{0};
  // Host mode (analysis::HostMode; its dispatch is the runs'): command queues 1 or 2, and
  // whether queue 1 also reads the outputs back.
  std::uint32_t command_queues{1};
  bool io_queue{false};
  std::string wormsim_version;
  nlohmann::json config = nlohmann::json::object();  // the full command configuration
  std::vector<StrategyChoice> strategy_choices;
};

// Everything one results-DB row set is made from.
struct RunRecord {
  const RunInfo* info{nullptr};
  const RunProfile* profile{nullptr};
  RunSummary summary;
  std::string dispatch;  // "trace" / "eager"
  // Engine::all_stats() at the end of the run and the simulated time it covers (whole-run
  // link / bank rows); empty to skip them.
  std::vector<sim::BusyStats> whole_run_stats;
  sim::Cycle whole_run_cycles{0};
  const workloads::Graph* graph{nullptr};  // names the tensors when given
  // Per-op link rows kept: the busiest NoC links of each op (Ethernet / PCIe always).
  std::size_t link_rows_per_op{64};
};

struct ComparisonRecord {
  std::string model;
  std::string label;
  std::vector<std::int64_t> run_ids;
  std::optional<std::int64_t> best_run_id;
  nlohmann::json summary = nlohmann::json::object();
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<SqlValue>> rows;
};

class ResultsDb {
 public:
  // Creates the file if needed and migrates it to kResultsSchemaVersion. A database another
  // process holds locked longer than `busy_timeout`, an unwritable location or a file that is
  // not a wormsim results DB throw wormsim::Error naming the file and the fix.
  static ResultsDb open_for_write(
      const std::filesystem::path& path,
      std::chrono::milliseconds busy_timeout = std::chrono::seconds(60));
  // SQLITE_OPEN_READONLY: any statement that would modify the file is refused.
  static ResultsDb open_read_only(const std::filesystem::path& path);

  ResultsDb(ResultsDb&&) noexcept;
  ResultsDb& operator=(ResultsDb&&) noexcept;
  ~ResultsDb();

  const std::filesystem::path& path() const noexcept { return path_; }
  DbFile file() const;
  int schema_version();

  // One transaction; returns the new run_id. Nothing is stored if it throws.
  std::int64_t insert_run(const RunRecord& record);
  std::int64_t insert_comparison(const ComparisonRecord& record);

  // One read-only statement (SELECT / WITH / read-only PRAGMA) with positional parameters.
  QueryResult query(const std::string& sql, const std::vector<SqlValue>& params = {});

 private:
  struct Deleter {
    void operator()(sqlite3* db) const noexcept;
  };
  ResultsDb(std::filesystem::path path, std::unique_ptr<sqlite3, Deleter> db, bool read_only);
  void migrate();

  std::filesystem::path path_;
  std::unique_ptr<sqlite3, Deleter> db_;
  bool read_only_{false};
  int busy_timeout_ms_{0};
};

// ---- canned reports of `wormsim query` ----
QueryResult query_runs(ResultsDb& db, std::size_t limit);
QueryResult query_ops(ResultsDb& db, std::int64_t run_id);
QueryResult query_top_ops(ResultsDb& db, std::int64_t run_id, std::size_t limit);
// Per-op device-time difference B - A, matched by node name (first chip of each run).
QueryResult query_diff(ResultsDb& db, std::int64_t run_a, std::int64_t run_b);
// Per strategy of a model: its best run (highest device FPS) and how many runs it has.
QueryResult query_strategies(ResultsDb& db, const std::string& model);

// Output forms of a QueryResult.
void print_query_table(const QueryResult& result, std::ostream& out);
void print_query_csv(const QueryResult& result, std::ostream& out);
void print_query_json(const QueryResult& result, std::ostream& out);
std::string sql_value_text(const SqlValue& value);

}  // namespace wormsim::analysis
