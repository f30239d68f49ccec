#pragma once
// Chrome trace-event JSON (opens in Perfetto UI and chrome://tracing) of a model run:
//  - one process per chip ("chip 0 (wormhole_b0)") and one for the host;
//  - per chip a thread "ops" with a slice per op (name = graph node, args = op code, bound,
//    advice, ...) nested inside slices of its layer group, and a thread per core x RISC
//    ("core (1,2) BRISC") with the op's kernel span on that RISC;
//  - counter tracks ("ph":"C"): per NoC the mean link utilisation, the busiest links and every
//    DRAM bank's utilisation, set at each op's kernel start and dropped to 0 at its end (per-op
//    traffic), or one whole-run value when only whole-run statistics exist;
//  - the host process shows when each op was issued (simulated host timeline).
// Timestamps and durations are microseconds (ns precision), sorted per track.
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/run_profile.hpp"
#include "sim/stats.hpp"

namespace wormsim::analysis {

struct TraceOptions {
  std::size_t busiest_links{8};  // per chip, links with their own counter track
  bool dram_banks{true};
  // Whole-run Engine::all_stats(), for counters when the profile has no per-op traffic.
  const std::vector<sim::BusyStats>* whole_run_stats{nullptr};
};

std::string format_perfetto_trace(const RunProfile& profile, const TraceOptions& options = {});
// Written atomically (temporary file + rename); errors name the file.
void write_perfetto_trace(const std::filesystem::path& path, const RunProfile& profile,
                          const TraceOptions& options = {});

}  // namespace wormsim::analysis
