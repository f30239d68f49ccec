#pragma once
// Sharding strategies: a policy that assigns every node's output memory config (DRAM / L1,
// interleaved / height / width / block sharded, core grid) and, optionally, its program config,
// and the graph rewrite that applies it.
//
// apply_strategy() rebuilds a graph node by node (topological order). For each node it asks the
// strategy for a placement, then tries, in order, until one is valid and fits L1 beside the
// activations that are still live (workloads/placement_check.hpp):
//   1. the requested placement with the activation inputs converted to the requested layout
//      (same grid), then with the inputs as they are, then with sharded inputs interleaved;
//   2. (fallback, counted) the output interleaved in DRAM, inputs as they are, then with every
//      L1 input read from DRAM;
//   3. (fallback, counted) the model's own params, inputs as they are, converted back to the
//      memory configs the model gave them, or read from DRAM.
// A node the strategy does not place (keep, or an op without output placement) runs step 3.
// When no attempt fits beside the live L1 tensors, the largest of them is moved to DRAM (a
// conversion of kind "evict") and the node planned again.
// Conversions are real graph nodes (interleaved_to_sharded, sharded_to_interleaved, reshard,
// move), shared by every consumer that needs the same conversion of a tensor, so they cost
// device time and an op-to-op gap like any op. With `strict`, a requested placement or program
// config that cannot be honoured is an error naming the node and the reason (for L1: the core).
//
// Presets (strategy_preset()): dram-interleaved, l1-interleaved, height-sharded, block-sharded,
// hybrid-attention-island. "auto" is a search (workloads/strategy_search.hpp).
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "workloads/graph.hpp"

namespace wormsim::workloads {

// Where a node's output goes. memory: dram-interleaved, l1-interleaved, l1-height-sharded,
// l1-width-sharded or l1-block-sharded. grid 0 x 0: chosen per tensor (the whole worker grid,
// else the largest grid whose shards divide the tensor evenly).
struct Placement {
  std::string memory{"dram-interleaved"};
  std::uint32_t grid_x{0};
  std::uint32_t grid_y{0};
  // A matmul / linear program config (the op's JSON form, docs/graph-format.md); null =
  // automatic. An invalid one falls back to an automatic config (program_config_fallback_total)
  // unless strict.
  nlohmann::json program_config;
  friend bool operator==(const Placement&, const Placement&) = default;
};

// Policies a strategy applies to the nodes no rule matches.
//   model            : keep the placement the model was built with
//   dram-interleaved : every activation in DRAM, interleaved (CNN ops write DRAM too)
//   l1-interleaved   : activations interleaved over the L1 banks of all cores
//   height-sharded   : activations height sharded over the worker grid
//   block-sharded    : token tensors ([.., 1, S, hidden]) block sharded, as DPT-Large's perf mode
//                      runs its transformer blocks, linears with a 2D-multicast program config
//                      on the tensor's grid; per-head tensors height sharded
//   hybrid-attention-island : block-sharded, except the attention core (head split, Q K^T,
//                      softmax, attention x V, head merge) which runs interleaved in DRAM; the
//                      conversions in and out are counted as attn_island_interleave_* and
//                      attn_island_reshard_*
std::vector<std::string> strategy_policy_names();

// A per-node override. `match` is a glob over node names ('*' any run of characters, '?' one);
// `op`, when set, restricts the rule to nodes of that op. First matching rule wins.
struct StrategyRule {
  std::string match;
  std::string op;
  bool keep{false};  // keep the model's own placement for the matched nodes
  Placement placement;
  friend bool operator==(const StrategyRule&, const StrategyRule&) = default;
};

struct Strategy {
  std::string name;
  std::string description;
  std::string policy{"model"};
  std::vector<StrategyRule> rules;
  friend bool operator==(const Strategy&, const Strategy&) = default;

  // JSON form (docs/strategies.md): {"name", "description", "policy", "rules": [{"match",
  // "op", "keep", "memory", "grid", "program_config"}]}. from_json names the bad field.
  nlohmann::json to_json() const;
  static Strategy from_json(const nlohmann::json& json);
  static Strategy load(const std::string& path);  // errors name the file
  void save(const std::string& path) const;
};

// Preset names in the order `compare --strategies all` runs them ("auto" last).
std::vector<std::string> strategy_preset_names();
// A preset by name (not "auto"), or Error listing the presets.
Strategy strategy_preset(const std::string& name);
// A preset name, or else a strategy JSON file path.
Strategy strategy_from_name_or_file(const std::string& text);

// Glob match of a rule: '*' any run of characters, '?' one character.
bool node_name_matches(const std::string& glob, const std::string& name);

// Whether a node belongs to the attention island (hybrid-attention-island).
bool in_attention_island(const GraphNode& node, const Graph& graph);

// One inserted conversion node.
struct ConversionRecord {
  std::string node;      // its name in the rewritten graph
  std::string op;        // interleaved_to_sharded, sharded_to_interleaved, reshard, move
  std::string consumer;  // the node it was inserted for
  std::string source;    // the tensor it converts
  // "" (a consumer's input conversion), "attn_island_interleave" / "attn_island_reshard" (into
  // / out of the attention core), "evict" (a live L1 tensor moved to DRAM to make room)
  std::string kind;
};

// How one node ended up configured (for reports and the results database).
struct NodeChoice {
  std::string node;
  std::string op;
  std::string requested;  // "" = model's own
  std::string memory_config;
  std::string program_config;  // the JSON the strategy asked for ("" = automatic)
  std::string reason;          // why the requested placement was not used ("" = it was)
};

struct StrategyStats {
  std::vector<ConversionRecord> conversions;
  std::vector<NodeChoice> choices;
  std::uint32_t placement_fallbacks{0};  // nodes whose requested placement was not used
  std::uint32_t conversion_count(const std::string& kind_prefix = "") const;
};

struct AppliedStrategy {
  Graph graph;
  StrategyStats stats;
};

struct ApplyOptions {
  bool strict{false};
};

// Throws wormsim::Error when a rule names an unknown memory keyword, or (strict) when a node's
// requested placement or program config cannot be used.
AppliedStrategy apply_strategy(const Graph& graph, const Strategy& strategy,
                               const ApplyOptions& options = {});

// The ops a policy places (the others keep the model's placement; their inputs are converted
// when they cannot read what the strategy gave them).
bool is_placeable_op(const std::string& op);
// Sliding-window ops (conv2d, conv_transpose2d, max_pool2d): their "grid" is the op's core grid
// and their output stays sharded like their input, as TT-NN does.
bool is_window_op(const std::string& op);

}  // namespace wormsim::workloads
