#pragma once
// A ttnn-visualizer report folder (what TT-NN writes under generated/ttnn/reports/<id>/ with
// enable_logging): db.sqlite in TT-NN's report schema (producer ttnn/ttnn/database.py; schema as
// ttnn-visualizer's tests/report_schemas.py SCHEMA_V2 lists it) and config.json.
//
// Filled: devices (one row per chip used), operations (one per op, name "ttnn.<op>", duration =
// device FW duration in seconds), operation_arguments (node, group, op code, attributes, math
// fidelity, cores, device times), tensors / input_tensors / output_tensors (graph tensor names
// and ids when the graph is given, else one tensor per op operand), buffers (each operand's
// buffer: type, layout, bytes per bank), global / local_tensor_comparison_records (PCC vs the
// fp32 golden), report_metadata. Created empty: device_tensors, buffer_pages, captured_graph,
// nodes, edges, errors, stack_traces, source_files. Buffer addresses are NULL: the executor
// does not report allocator addresses.
#include <filesystem>
#include <string>

#include "analysis/results_db.hpp"
#include "analysis/run_profile.hpp"
#include "workloads/graph.hpp"

namespace wormsim::analysis {

struct TtnnReportOptions {
  std::string report_name;  // default: "<model> (wormsim)"
  // ttnn's comparison_mode_pcc default: an output "matches" its golden at this PCC or above.
  double desired_pcc{0.9999};
};

// Creates `dir` if needed; db.sqlite and config.json are each replaced atomically.
void write_ttnn_report(const std::filesystem::path& dir, const RunProfile& profile,
                       const RunInfo& info, const workloads::Graph* graph = nullptr,
                       const TtnnReportOptions& options = {});

}  // namespace wormsim::analysis
