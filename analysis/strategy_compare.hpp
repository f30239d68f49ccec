#pragma once
// Runs a model under sharding strategies (workloads/strategy.hpp) and compares them: the
// engine behind `wormsim compare` and `wormsim run --strategy`.
//
// Every strategy runs on a fresh device (so runs do not share L1 or NoC state) with the same
// seed. "auto" is the beam search of workloads/strategy_search.hpp followed by a full
// simulation; if any preset simulated in the same comparison is faster, auto takes that preset
// (the search's isolated-op estimate misses whole-run effects), so auto is never slower than
// the best preset it was compared with; the run notes which plan won.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/run_profile.hpp"
#include "ops/device.hpp"
#include "workloads/executor.hpp"
#include "workloads/strategy.hpp"

namespace wormsim::analysis {

struct StrategyRunOptions {
  bool numerics{false};
  std::uint64_t seed{0};
  // Dispatch, command queues and I/O queue: device time and the end-to-end pipeline.
  HostMode host_mode;
  bool strict{false};
  const workloads::WeightFile* weights{nullptr};
  bool synthesize_missing_weights{false};
  std::map<std::string, ops::Tensor> inputs;
  std::uint32_t beam_width{4};  // auto's search
  ProgressCallback progress;    // per node of each run
};

struct StrategyMetrics {
  double device_time_ns{0};
  double fps_device{0};
  double e2e_period_ns{0};  // steady-state time per inference in the host mode
  double fps_e2e{0};
  std::uint64_t dram_bytes{0};  // read + written by the ops
  std::uint64_t noc_bytes{0};   // moved by the ops' kernels over the NoCs
  // Busiest NoC link over the run: busy time / the run's op time.
  double max_link_utilisation_pct{0};
  std::string busiest_link;
  std::uint32_t reshard_count{0};  // conversion ops the strategy inserted
  double conversion_time_ns{0};
  std::uint32_t attn_island_interleave_count{0};
  double attn_island_interleave_ns{0};
  std::uint32_t attn_island_reshard_count{0};
  double attn_island_reshard_ns{0};
  std::uint64_t l1_peak_bytes{0};
  std::uint32_t program_config_fallbacks{0};  // program_config_fallback_total
  std::uint32_t placement_fallbacks{0};       // requested placements that did not fit / apply
  std::optional<double> pcc;
};

struct StrategyRun {
  std::string name;              // as asked: a preset, "auto" or the strategy file's name
  workloads::Strategy strategy;  // what ran (auto: the chosen plan)
  std::string note;              // auto: which plan won and by how much
  std::shared_ptr<const workloads::AppliedStrategy> applied;  // the graph that ran
  std::shared_ptr<ops::Device> device;                        // its engine's statistics
  workloads::GraphRun run;
  RunTraffic traffic;
  StrategyMetrics metrics;
};

// One strategy (not "auto") on a fresh device.
StrategyRun run_strategy(const workloads::Graph& model, const workloads::Strategy& strategy,
                         const StrategyRunOptions& options);
// "auto": search, simulate, and keep the fastest of the searched plan and `presets` (already
// simulated runs; when empty, every preset is simulated timing-only first).
StrategyRun run_auto_strategy(const workloads::Graph& model, const StrategyRunOptions& options,
                              const std::vector<const StrategyRun*>& presets);
// A preset, a strategy file, or "auto" (then presets are simulated to check it, see above).
StrategyRun run_named_strategy(const workloads::Graph& model, const std::string& name,
                               const StrategyRunOptions& options);

struct OpDifference {
  std::string node;
  std::string op;
  double a_ns{0};  // 0: not in run a
  double b_ns{0};
};
// Nodes of a and b matched by name, largest |b - a| first (conversion ops appear with 0 on the
// side that lacks them).
std::vector<OpDifference> differing_ops(const StrategyRun& a, const StrategyRun& b,
                                        std::size_t top);

// The JSON object of one run in `compare --format json` (and the database summary).
nlohmann::json strategy_run_json(const StrategyRun& run);

}  // namespace wormsim::analysis
