#pragma once
// The profiling outputs of one `wormsim run`, written in one call from the command:
//
//   analysis::TrafficRecorder traffic(device.engine());       // optional: per-op link stats
//   for each replica:
//     traffic.begin_run();
//     options.progress = traffic.wrap(options.progress);
//     runs.push_back(workloads::run_graph(device, graph, options));
//     traffics.push_back(traffic.finish_run());
//   analysis::RunOutputRequest request;
//   request.spec = &spec; request.graph = &graph; request.engine = &device.engine();
//   request.info = {...model, batch, dp, strategy, seed, version, config json...};
//   for (k) request.runs.push_back({&runs[k], &traffics[k]});
//   request.csv_path = "--csv"; request.db_path = "wormsim.db" (nullopt for --no-db);
//   request.trace_json_path = "--trace-json"; request.ttnn_report_dir = "--ttnn-report";
//   request.report = &std::cout;                               // console report
//   analysis::RunOutputResult out = analysis::write_run_outputs(request);
//
// check_run_outputs(request) before the simulation turns a mistyped path into an error at once
// rather than after a run of minutes.
//
// Every file is written completely or not at all (CSV / JSON / config.json through a temporary
// file and a rename, the results DB in one transaction, the ttnn db.sqlite built beside its
// final name). Errors are wormsim::Error naming the file and the fix.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <vector>

#include "analysis/perfetto_trace.hpp"
#include "analysis/results_db.hpp"
#include "analysis/run_profile.hpp"
#include "analysis/run_report.hpp"
#include "analysis/ttnn_report.hpp"
#include "sim/engine.hpp"
#include "workloads/executor.hpp"
#include "workloads/graph.hpp"

namespace wormsim::analysis {

struct RunOutputRequest {
  const arch::DeviceSpec* spec{nullptr};
  const workloads::Graph* graph{nullptr};  // names tensors in the DB / ttnn report (optional)
  RunInfo info;
  // One per replica (chip); runs[0] carries the numerics. Pointers must outlive the call.
  std::vector<ChipRun> runs;
  // Whole-run link / bank statistics (Engine::all_stats() and now()); optional.
  const sim::Engine* engine{nullptr};

  std::filesystem::path csv_path;                // --csv FILE ("" = none)
  std::optional<std::filesystem::path> db_path;  // results DB; nullopt = --no-db
  std::filesystem::path trace_json_path;         // --trace-json FILE ("" = none)
  std::filesystem::path ttnn_report_dir;         // --ttnn-report DIR ("" = none)
  std::ostream* report{nullptr};                 // console report (nullptr = none)

  ReportOptions report_options;
  TraceOptions trace_options;  // whole_run_stats is filled from `engine`
  TtnnReportOptions ttnn_options;
  std::chrono::milliseconds db_busy_timeout{std::chrono::seconds(60)};
  // Called after each output file is in place (tests use it to interrupt between two outputs).
  std::function<void()> after_each_output;
};

struct RunOutputResult {
  std::optional<std::int64_t> run_id;  // the results-DB row, when written
  RunSummary summary;
  RunProfile profile;  // points into the request's GraphRuns
};

// Checks that every output the request names can be written, without writing any: the
// directories exist (or, for the ttnn report folder, can be created) and are writable, no
// directory stands where a file goes, no two outputs share a path, and an existing results
// database is a wormsim database this build can migrate. Throws wormsim::Error naming the path,
// the option and the fix.
void check_run_outputs(const RunOutputRequest& request);

RunOutputResult write_run_outputs(const RunOutputRequest& request);

}  // namespace wormsim::analysis
