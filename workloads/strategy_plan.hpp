#pragma once
// The per-node planning step shared by apply_strategy() and the "auto" search (internal to
// workloads/): which params a node runs with and which conversions its inputs need.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ops/tensor_spec.hpp"
#include "workloads/graph.hpp"
#include "workloads/placement_check.hpp"
#include "workloads/strategy.hpp"

namespace wormsim::workloads {

struct PlannedConversion {
  std::size_t input{0};  // index among the node's inputs
  std::string op;
  nlohmann::json params;
  ops::TensorSpec output;
};

struct NodePlan {
  nlohmann::json params;
  std::vector<PlannedConversion> conversions;
  std::vector<ops::TensorSpec> outputs;
  bool requested{false};  // the strategy asked for a placement
  bool honoured{true};    // ... and got it
  std::string reason;     // why not (the first attempt's problem)
  std::string request_text;
};

// The placements to try for `node` (grid alternatives of the strategy's request, in order), or
// empty to keep the model's own placement. `model_output` is the node's output spec in the
// model's graph.
std::vector<Placement> requested_placements(const Strategy& strategy, const Graph& graph,
                                            const GraphNode& node,
                                            const ops::TensorSpec& model_output);

// Plans one node (see the attempt order in workloads/strategy.hpp). `inputs`: the specs its
// inputs have now; `model_inputs` / `model_outputs`: the specs the model gave them;
// `activation_inputs`: which inputs are activations (a sharded request converts those to its layout
// first). check_fit = false skips the L1 dry run (validation only). Throws Error when no attempt
// works, or (strict) when the request cannot be honoured.
NodePlan plan_node(const arch::DeviceSpec& device, const GraphNode& node,
                   const std::vector<ops::TensorSpec>& inputs,
                   const std::vector<ops::TensorSpec>& model_inputs,
                   const std::vector<ops::TensorSpec>& model_outputs,
                   const std::vector<bool>& activation_inputs, const std::vector<bool>& stays_live,
                   const std::vector<Placement>& requests,
                   const std::vector<ResidentTensor>& resident, bool strict, bool check_fit);

}  // namespace wormsim::workloads
