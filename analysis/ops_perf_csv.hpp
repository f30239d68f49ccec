#pragma once
// tt-metal's ops_perf_results_<timestamp>.csv (tools/tracy/process_ops_logs.py, OPS_CSV_HEADER),
// "v2.1" as tt-perf-report calls it: _PAD[LOGICAL] shape columns, DEVICE ARCH and AVAILABLE
// WORKER CORE COUNT. One row per op. The INPUTS / OUTPUTS placeholders of the header become
// per-tensor groups INPUT_<i>_{W,Z,Y,X}_PAD[LOGICAL], _LAYOUT, _DATATYPE, _MEMORY for as many
// inputs (outputs) as the widest op of the file has, as tt-metal writes them.
//
// Columns silicon fills only with extra tooling stay empty as they would on silicon without
// it: kernel sources / hashes and sizes, program hash / cache hit, dispatch times, ERISC on
// single-chip ops, MULTICAST NOC UTIL (the NoC model does not tell multicast bytes apart) and
// NPE CONG IMPACT. NOC UTIL (%), DRAM BW UTIL (%) and DRAM BW UTIL PER CTRL (%) (the busiest
// DRAM controller) are filled from the simulated link and bank traffic when it was recorded per
// op (see TrafficRecorder), as tt-npe fills them from NoC traces on silicon.
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/run_profile.hpp"

namespace wormsim::analysis {

// OPS_CSV_HEADER with INPUTS / OUTPUTS expanded into `inputs` / `outputs` tensor groups.
std::vector<std::string> ops_perf_header(std::size_t inputs, std::size_t outputs);

struct OpsPerfTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // one per op, cells in header order
};
OpsPerfTable ops_perf_table(const RunProfile& profile);

// The CSV text (header line, then rows; fields quoted only when they need it).
std::string format_ops_perf_csv(const OpsPerfTable& table);
// Writes the CSV atomically (temporary file + rename): a failure leaves `path` as it was.
void write_ops_perf_csv(const std::filesystem::path& path, const RunProfile& profile);

// Cell formats shared with the other outputs.
// A float the way Python prints a rounded float ("0.01", "61.697", "50.0").
std::string python_float(double value, int decimals);
// tt-metal's PM REQ I / O BW cell: "[197.99737548828125; 47.519371032714844]" (bytes per ns of
// each tensor over PM IDEAL, as float32, in Python list form with ';' for ',').
std::string pm_bandwidth_list(const std::vector<ops::TensorSpec>& tensors, long long ideal_ns);
// PM IDEAL / COMPUTE / BANDWIDTH as tt-metal prints them (int nanoseconds, truncated).
long long pm_ns(double ns);

}  // namespace wormsim::analysis
