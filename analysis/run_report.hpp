#pragma once
// The console report of a model run, in the spirit of tt-perf-report: device time per op type,
// the top ops with their bound class (DRAM / FLOP / BOTH / NoC / SLOW at tt-perf-report's 65 %
// thresholds), op-to-op gaps, and one line of advice for the worst ops.
#include <ostream>

#include "analysis/run_profile.hpp"

namespace wormsim::analysis {

struct ReportOptions {
  std::size_t top{10};  // ops listed by device time
  // Advice lines for the worst ops; ops with the same op code and advice (one per layer) share
  // a line.
  std::size_t advice_lines{5};
};

// Reports the first chip's ops (data-parallel replicas run the same program).
void print_run_report(std::ostream& out, const RunProfile& profile,
                      const ReportOptions& options = {});

// Run-level advice about op-to-op gaps ("many small ops: ..."), empty when gaps are small.
std::string gap_advice(const RunProfile& profile);

}  // namespace wormsim::analysis
