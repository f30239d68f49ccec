#include "analysis/run_outputs.hpp"

#include "analysis/ops_perf_csv.hpp"
#include "sim/error.hpp"

namespace wormsim::analysis {

RunOutputResult write_run_outputs(const RunOutputRequest& request) {
  if (request.spec == nullptr) throw Error("run outputs: the request names no device spec");
  if (request.runs.empty()) throw Error("run outputs: the request has no GraphRun");
  const RunProfile profile = build_profile(*request.spec, request.runs);

  std::vector<const workloads::GraphRun*> runs;
  for (const ChipRun& c : request.runs) runs.push_back(c.run);
  RunOutputResult result;
  result.summary = summarise_runs(runs, request.info.batch);

  std::vector<sim::BusyStats> whole_run;
  if (request.engine != nullptr) {
    whole_run.assign(request.engine->all_stats().begin(), request.engine->all_stats().end());
  }

  if (!request.csv_path.empty()) write_ops_perf_csv(request.csv_path, profile);
  if (!request.trace_json_path.empty()) {
    TraceOptions trace = request.trace_options;
    if (request.engine != nullptr) trace.whole_run_stats = &whole_run;
    write_perfetto_trace(request.trace_json_path, profile, trace);
  }
  if (!request.ttnn_report_dir.empty()) {
    write_ttnn_report(request.ttnn_report_dir, profile, request.info, request.graph,
                      request.ttnn_options);
  }
  if (request.db_path) {
    ResultsDb db = ResultsDb::open_for_write(*request.db_path, request.db_busy_timeout);
    RunRecord record;
    record.info = &request.info;
    record.profile = &profile;
    record.summary = result.summary;
    record.dispatch = std::string(workloads::to_string(runs.front()->dispatch));
    record.whole_run_stats = std::move(whole_run);
    record.whole_run_cycles = request.engine != nullptr ? request.engine->now() : 0;
    record.graph = request.graph;
    result.run_id = db.insert_run(record);
  }
  if (request.report != nullptr) print_run_report(*request.report, profile, request.report_options);
  return result;
}

}  // namespace wormsim::analysis
