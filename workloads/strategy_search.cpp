#include "workloads/strategy_search.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "ops/isolated_run.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"
#include "workloads/strategy_plan.hpp"

namespace wormsim::workloads {
namespace {

using nlohmann::json;
using ops::TensorSpec;

// Candidate placements of a placeable node; index 0 keeps the model's own.
const std::vector<std::optional<Placement>>& candidates() {
  static const std::vector<std::optional<Placement>> list{
      std::nullopt,
      Placement{"dram-interleaved", 0, 0, nullptr},
      Placement{"l1-interleaved", 0, 0, nullptr},
      Placement{"l1-height-sharded", 0, 0, nullptr},
      Placement{"l1-width-sharded", 0, 0, nullptr},
      Placement{"l1-block-sharded", 0, 0, nullptr}};
  return list;
}

// One step of a state's history (shared between states).
struct Step {
  NodeId node{0};
  int candidate{0};
  std::shared_ptr<const Step> parent;
};

struct State {
  double cost{0};
  std::map<TensorId, TensorSpec> live;  // activations of the model graph -> spec under this plan
  std::shared_ptr<const Step> history;
};

std::string signature(const State& s) {
  std::string sig;
  for (const auto& [id, spec] : s.live)
    sig += std::to_string(id) + "=" + ops::to_string(spec.memory_config()) + ";";
  return sig;
}

std::string specs_key(const std::vector<TensorSpec>& specs) {
  std::string key;
  for (const TensorSpec& s : specs) key += ops::to_string(s) + "|";
  return key;
}

class Searcher {
 public:
  Searcher(const Graph& graph, const SearchOptions& options)
      : graph_(graph), device_(graph.device()), options_(options) {}

  SearchResult run();

 private:
  double op_ns(const std::string& op, const json& params, const std::vector<TensorSpec>& inputs);
  // nullptr when the candidate has no valid plan.
  const NodePlan* plan(const GraphNode& node, int candidate, const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& model_inputs,
                       const std::vector<TensorSpec>& model_outputs,
                       const std::vector<bool>& activations);
  Strategy to_strategy(const State& best) const;

  const Graph& graph_;
  const arch::DeviceSpec& device_;
  SearchOptions options_;
  std::unordered_map<std::string, double> op_time_;
  std::unordered_map<std::string, std::optional<NodePlan>> plans_;
  std::size_t planned_{0};
};

double Searcher::op_ns(const std::string& op, const json& params,
                       const std::vector<TensorSpec>& inputs) {
  const std::string key = op + "#" + params.dump() + "#" + specs_key(inputs);
  if (const auto it = op_time_.find(key); it != op_time_.end()) return it->second;
  const auto operation = ops::make_operation(op, params, inputs, device_);
  const ops::OpResult result = ops::run_isolated(device_, *operation, inputs, {false, 0});
  const double ns =
      static_cast<double>(result.record.timing.fw_duration()) * 1000.0 / device_.clock_mhz;
  op_time_.emplace(key, ns);
  return ns;
}

const NodePlan* Searcher::plan(const GraphNode& node, int candidate,
                               const std::vector<TensorSpec>& inputs,
                               const std::vector<TensorSpec>& model_inputs,
                               const std::vector<TensorSpec>& model_outputs,
                               const std::vector<bool>& activations) {
  ++planned_;
  std::string key = node.op + "#" + node.params.dump() + "#" + specs_key(inputs) + "#" +
                    specs_key(model_inputs) + "#" + specs_key(model_outputs) + "#" +
                    std::to_string(candidate) + "#";
  for (bool a : activations) key += a ? '1' : '0';
  if (const auto it = plans_.find(key); it != plans_.end())
    return it->second ? &*it->second : nullptr;
  std::optional<NodePlan> result;
  const auto& c = candidates()[static_cast<std::size_t>(candidate)];
  std::vector<Placement> requests;
  if (c) {
    Strategy single;
    single.name = "auto";
    single.rules.push_back({node.name, node.op, false, *c});
    requests = requested_placements(single, graph_, node, graph_.spec(node.outputs.at(0)));
  }
  try {
    NodePlan p = plan_node(device_, node, inputs, model_inputs, model_outputs, activations, {},
                           requests, {}, false, true);
    // A candidate that falls back duplicates another candidate: drop it.
    if (p.honoured) result = std::move(p);
  } catch (const Error&) {
  }
  const auto [it, inserted] = plans_.emplace(key, std::move(result));
  return it->second ? &*it->second : nullptr;
}

SearchResult Searcher::run() {
  const std::vector<NodeId> order = graph_.topological_order();
  const std::map<TensorId, NodeId> last_use = graph_.last_uses(order);
  std::map<NodeId, std::size_t> position;
  for (std::size_t p = 0; p < order.size(); ++p) position[order[p]] = p;
  const std::set<TensorId> outputs(graph_.outputs().begin(), graph_.outputs().end());

  std::vector<State> beam(1);
  for (std::size_t p = 0; p < order.size(); ++p) {
    const GraphNode& node = graph_.node(order[p]);
    const bool placeable = is_placeable_op(node.op) || is_window_op(node.op);
    std::vector<TensorSpec> model_inputs, model_outputs;
    for (TensorId t : node.outputs) model_outputs.push_back(graph_.spec(t));
    std::vector<bool> activations;
    for (TensorId t : node.inputs) {
      model_inputs.push_back(graph_.spec(t));
      activations.push_back(graph_.tensor(t).kind == TensorKind::Activation);
    }
    std::map<std::string, State> next;
    for (const State& s : beam) {
      std::vector<TensorSpec> inputs;
      for (TensorId t : node.inputs) {
        const auto it = s.live.find(t);
        inputs.push_back(it != s.live.end() ? it->second : graph_.spec(t));
      }
      const int count = placeable ? static_cast<int>(candidates().size()) : 1;
      for (int c = 0; c < count; ++c) {
        // Window ops run height or block sharded in L1, or write DRAM: the other layouts are
        // refused by the op, so they are not tried.
        const std::optional<Placement>& candidate = candidates()[static_cast<std::size_t>(c)];
        if (is_window_op(node.op) && candidate &&
            (candidate->memory == "l1-width-sharded" || candidate->memory == "l1-interleaved"))
          continue;
        const NodePlan* np = plan(node, c, inputs, model_inputs, model_outputs, activations);
        if (np == nullptr) continue;
        double cost = s.cost;
        std::vector<TensorSpec> specs = inputs;
        for (const PlannedConversion& conv : np->conversions) {
          cost += op_ns(conv.op, conv.params, {specs[conv.input]}) + options_.op_gap_ns;
          specs[conv.input] = conv.output;
        }
        cost += op_ns(node.op, np->params, specs);
        State child;
        child.cost = cost;
        child.live = s.live;
        for (std::size_t k = 0; k < node.outputs.size() && k < np->outputs.size(); ++k)
          child.live.insert_or_assign(node.outputs[k], np->outputs[k]);
        for (auto it = child.live.begin(); it != child.live.end();) {
          const auto lu = last_use.find(it->first);
          const bool dead =
              !outputs.count(it->first) && (lu == last_use.end() || position.at(lu->second) <= p);
          it = dead ? child.live.erase(it) : std::next(it);
        }
        child.history = std::make_shared<const Step>(Step{node.id, c, s.history});
        const std::string sig = signature(child);
        const auto existing = next.find(sig);
        if (existing == next.end() || existing->second.cost > child.cost)
          next.insert_or_assign(sig, std::move(child));
      }
    }
    if (next.empty()) {
      throw Error("auto strategy: node " + node.name + " (" + node.op +
                  ") has no placement that works with any earlier choice");
    }
    beam.clear();
    for (auto& [sig, state] : next) beam.push_back(std::move(state));
    std::stable_sort(beam.begin(), beam.end(),
                     [](const State& a, const State& b) { return a.cost < b.cost; });
    if (beam.size() > options_.beam_width) beam.resize(options_.beam_width);
  }
  SearchResult result;
  result.strategy = to_strategy(beam.front());
  result.estimated_ns = beam.front().cost;
  result.plans = planned_;
  result.timed_ops = op_time_.size();
  return result;
}

// Node names with every run of digits replaced by '*' ("encoder.layer.7.attention" ->
// "encoder.layer.*.attention").
std::string number_glob(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (std::isdigit(static_cast<unsigned char>(name[i]))) {
      while (i + 1 < name.size() && std::isdigit(static_cast<unsigned char>(name[i + 1]))) ++i;
      out += '*';
    } else {
      out += name[i];
    }
  }
  return out;
}

Strategy Searcher::to_strategy(const State& best) const {
  std::map<NodeId, int> choice;
  for (const Step* s = best.history.get(); s != nullptr; s = s->parent.get())
    choice[s->node] = s->candidate;
  // (op, glob) -> the candidates its nodes chose.
  std::map<std::pair<std::string, std::string>, std::set<int>> by_glob;
  for (const auto& [node_id, c] : choice) {
    const GraphNode& node = graph_.node(node_id);
    if (!is_placeable_op(node.op) && !is_window_op(node.op)) continue;
    by_glob[{node.op, number_glob(node.name)}].insert(c);
  }
  Strategy s;
  s.name = "auto";
  s.description = "searched per-node placements (beam search, workloads/strategy_search.hpp)";
  s.policy = "model";
  std::set<std::pair<std::string, std::string>> emitted;
  for (const auto& [node_id, c] : choice) {
    const GraphNode& node = graph_.node(node_id);
    if (!is_placeable_op(node.op) && !is_window_op(node.op)) continue;
    const auto key = std::make_pair(node.op, number_glob(node.name));
    // A glob stands for its nodes only if every node of the op it matches chose alike.
    bool uniform = by_glob.at(key).size() == 1;
    for (const auto& [other_id, other_c] : choice) {
      if (!uniform) break;
      const GraphNode& other = graph_.node(other_id);
      if (other.op == node.op && other_c != c && node_name_matches(key.second, other.name))
        uniform = false;
    }
    if (uniform && emitted.count(key)) continue;
    StrategyRule rule;
    rule.match = uniform ? key.second : node.name;
    rule.op = node.op;
    const auto& placement = candidates()[static_cast<std::size_t>(c)];
    rule.keep = !placement.has_value();
    if (placement) rule.placement = *placement;
    s.rules.push_back(rule);
    if (uniform) emitted.insert(key);
  }
  return s;
}

}  // namespace

SearchResult search_strategy(const Graph& graph, const SearchOptions& options) {
  if (options.beam_width == 0) throw Error("auto strategy: beam width must be at least 1");
  Searcher searcher(graph, options);
  return searcher.run();
}

}  // namespace wormsim::workloads
