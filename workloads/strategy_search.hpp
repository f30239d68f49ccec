#pragma once
// The "auto" strategy: a search over each placeable node's output placement (the model's own,
// DRAM / L1 interleaved, height / width / block sharded with the grid rules of
// workloads/strategy.hpp) that respects L1 capacity and minimises the summed device time of
// the ops plus the conversion ops the choices imply (and their op-to-op gaps).
//
// Algorithm: beam search over the nodes in topological order. A state is the placement of every
// live activation (the frontier); expanding a node tries each candidate placement through
// plan_node() (so the conversions it needs are planned exactly as apply_strategy() will, and a
// placement that does not fit L1 on its own is never chosen), and costs the node and its
// conversions by running each once in isolation on the engine (ops::run_isolated, timing only).
// States with the same frontier are merged, keeping the cheaper (dynamic programming over the
// frontier); the `beam_width` cheapest states survive each step. Op timings and plans are
// memoised by (op, params, input specs), so the repeated blocks of a transformer cost one
// evaluation each. Cost: O(nodes x beam_width x candidates) plans, of which only the distinct
// ones run. The result is a strategy file (per-node rules, compressed to globs over layer
// numbers where every matching node agrees).
//
// The isolated timings do not see what a whole run adds (L1 held by live tensors, which
// apply_strategy() checks, reallocation copies); callers that need a guarantee compare the
// searched plan with the presets by full simulation (analysis/strategy_compare.hpp does).
#include <cstdint>

#include "workloads/graph.hpp"
#include "workloads/strategy.hpp"

namespace wormsim::workloads {

struct SearchOptions {
  std::uint32_t beam_width{4};
  double op_gap_ns{0};  // op-to-op gap each inserted conversion op adds
};

struct SearchResult {
  Strategy strategy;
  double estimated_ns{0};    // the search's own estimate (isolated op times + gaps)
  std::size_t plans{0};      // placements planned (memo hits included)
  std::size_t timed_ops{0};  // distinct ops run in isolation
};

SearchResult search_strategy(const Graph& graph, const SearchOptions& options = {});

}  // namespace wormsim::workloads
