#include "workloads/strategy.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <set>

#include "ops/op_registry.hpp"
#include "ops/operation.hpp"
#include "ops/unary_functions.hpp"
#include "sim/error.hpp"
#include "workloads/strategy_plan.hpp"

namespace wormsim::workloads {
namespace {

using nlohmann::json;
using ops::MemoryConfig;
using ops::TensorSpec;

const std::vector<std::string>& memory_keywords() {
  static const std::vector<std::string> keywords{"dram-interleaved", "l1-interleaved",
                                                 "l1-height-sharded", "l1-width-sharded",
                                                 "l1-block-sharded"};
  return keywords;
}

void check_memory_keyword(const std::string& memory, const std::string& where) {
  const auto& k = memory_keywords();
  if (std::find(k.begin(), k.end(), memory) != k.end()) return;
  throw Error(where + ": unknown memory '" + memory +
              "'; use dram-interleaved, l1-interleaved, l1-height-sharded, l1-width-sharded or "
              "l1-block-sharded");
}

std::uint32_t tiles(std::uint64_t elements) {
  return static_cast<std::uint32_t>((elements + ops::kTileWidth - 1) / ops::kTileWidth);
}

// The largest divisor of n that is at most limit (1 if none larger).
std::uint32_t largest_divisor_at_most(std::uint32_t n, std::uint32_t limit) {
  for (std::uint32_t d = std::min(n, limit); d > 1; --d) {
    if (n % d == 0) return d;
  }
  return 1;
}

// A core count as the [x, y] "grid" param of the sharded keywords (their count is x * y).
std::pair<std::uint32_t, std::uint32_t> grid_for_count(std::uint32_t count, std::uint32_t wx) {
  if (count > wx && count % wx == 0) return {wx, count / wx};
  return {count, 1};
}

// Token tensors ([.., 1, S, hidden]: one head) are block sharded by block-sharded policies;
// per-head tensors are height sharded.
bool is_token_tensor(const TensorSpec& spec) { return spec.logical_shape().wzyx()[1] == 1; }

// Concrete grids for a placement whose grid is 0 x 0: the whole worker grid first, then the
// largest one whose shards divide the tensor evenly.
std::vector<Placement> with_grids(const Placement& p, const TensorSpec& out,
                                  const arch::DeviceSpec& device) {
  if (p.memory.rfind("l1-", 0) != 0 || p.memory == "l1-interleaved" ||
      (p.grid_x != 0 && p.grid_y != 0)) {
    return {p};
  }
  const std::uint32_t wx = device.worker_grid_x();
  const std::uint32_t wy = device.worker_grid_y();
  const std::uint32_t tiles_h = tiles(out.physical_height());
  const std::uint32_t tiles_w = tiles(out.physical_width());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> grids;
  if (p.memory == "l1-block-sharded") {
    grids = {{wx, wy},
             {largest_divisor_at_most(tiles_w, wx), largest_divisor_at_most(tiles_h, wy)}};
  } else {
    const std::uint32_t along = p.memory == "l1-height-sharded" ? tiles_h : tiles_w;
    grids = {grid_for_count(std::min(wx * wy, along), wx),
             grid_for_count(largest_divisor_at_most(along, wx * wy), wx)};
  }
  std::vector<Placement> out_placements;
  for (const auto& [gx, gy] : grids) {
    Placement c = p;
    c.grid_x = gx;
    c.grid_y = gy;
    if (std::find(out_placements.begin(), out_placements.end(), c) == out_placements.end())
      out_placements.push_back(c);
  }
  return out_placements;
}

// DPT-Large's perf mode gives each block-sharded linear a 2D-multicast program config on the
// activation's grid: per_core_M / per_core_N from the output shard, in0_block_w from the input
// shard width. Shapes it does not fit fall back to an automatic config (counted).
json block_program_config(const TensorSpec& in0, const TensorSpec& out, std::uint32_t gx,
                          std::uint32_t gy, const arch::DeviceSpec& device) {
  const std::uint32_t m = tiles(out.physical_height());
  const std::uint32_t n = tiles(out.physical_width());
  const std::uint32_t k = tiles(in0.physical_width());
  const std::uint32_t per_core_m = (m + gy - 1) / gy;
  const std::uint32_t per_core_n = (n + gx - 1) / gx;
  const std::uint32_t in0_block_w = std::max<std::uint32_t>(1, k / gx);
  // Largest subblock that fits half of Dst even with fp32 accumulation, wide first.
  const std::uint32_t dst = device.compute.dst_tiles_fp32;
  const std::uint32_t sub_w = largest_divisor_at_most(per_core_n, dst);
  const std::uint32_t sub_h = largest_divisor_at_most(per_core_m, dst / sub_w);
  return {{"kind", "2d"},
          {"grid", {gx, gy}},
          {"in0_block_w", in0_block_w},
          {"per_core_M", per_core_m},
          {"per_core_N", per_core_n},
          {"out_subblock_h", sub_h},
          {"out_subblock_w", sub_w}};
}

std::optional<Placement> policy_placement(const std::string& policy, const Graph& graph,
                                          const GraphNode& node, const TensorSpec& out) {
  if (policy == "model") return std::nullopt;
  if (is_window_op(node.op)) {
    // CNN windows keep TT-NN's sharded-like-the-input output, except in an all-DRAM strategy.
    if (policy == "dram-interleaved") return Placement{"dram-interleaved", 0, 0, nullptr};
    return std::nullopt;
  }
  if (!is_placeable_op(node.op)) return std::nullopt;
  if (policy == "dram-interleaved") return Placement{"dram-interleaved", 0, 0, nullptr};
  if (policy == "l1-interleaved") return Placement{"l1-interleaved", 0, 0, nullptr};
  if (policy == "height-sharded") return Placement{"l1-height-sharded", 0, 0, nullptr};
  if (policy == "block-sharded" || policy == "hybrid-attention-island") {
    if (policy == "hybrid-attention-island" && in_attention_island(node, graph))
      return Placement{"dram-interleaved", 0, 0, nullptr};
    if (is_token_tensor(out)) return Placement{"l1-block-sharded", 0, 0, nullptr};
    return Placement{"l1-height-sharded", 0, 0, nullptr};
  }
  throw Error("unknown strategy policy '" + policy + "'; use one of: model, dram-interleaved, " +
              "l1-interleaved, height-sharded, block-sharded, hybrid-attention-island");
}

// ---- conversions ----

std::string interleaved_keyword(const MemoryConfig& m) {
  return m.is_dram() ? "dram-interleaved" : "l1-interleaved";
}

// The op and params that turn `from` into memory config `to` (same shape), or nothing.
std::optional<std::pair<std::string, json>> conversion_for(const TensorSpec& from,
                                                           const MemoryConfig& to) {
  const MemoryConfig& m = from.memory_config();
  if (m == to) return std::nullopt;
  if (m.is_sharded() && !to.is_sharded())
    return std::make_pair("sharded_to_interleaved",
                          json{{"output_memory", interleaved_keyword(to)}});
  if (!m.is_sharded() && to.is_sharded())
    return std::make_pair("interleaved_to_sharded", json{{"output_memory", ops::to_string(to)}});
  if (m.is_sharded() && to.is_sharded())
    return std::make_pair("reshard", json{{"output_memory", ops::to_string(to)}});
  return std::make_pair("move", json{{"output_memory", interleaved_keyword(to)}});
}

struct Attempt {
  std::vector<std::optional<MemoryConfig>> input_targets;  // nullopt: as it is
  json params;
  bool honoured{true};
};

// Tries one attempt; on success fills `plan` (conversions, outputs, params).
// `stays_live[i]`: input i has readers after this node, so a conversion of it leaves the
// original allocated beside the copy.
std::string try_attempt(const arch::DeviceSpec& device, const GraphNode& node,
                        const std::vector<TensorSpec>& inputs, const std::vector<bool>& stays_live,
                        const Attempt& attempt, const std::vector<ResidentTensor>& resident,
                        bool check_fit, NodePlan& plan) {
  std::vector<TensorSpec> specs = inputs;
  std::vector<PlannedConversion> conversions;
  // What stays allocated while the node runs: the live tensors plus the originals of converted
  // inputs that later nodes still read.
  std::vector<ResidentTensor> beside_node = resident;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!attempt.input_targets[i]) continue;
    const auto conversion = conversion_for(inputs[i], *attempt.input_targets[i]);
    if (!conversion) continue;
    try {
      const auto op =
          ops::make_operation(conversion->first, conversion->second, {inputs[i]}, device);
      const std::vector<TensorSpec> out = op->output_specs({inputs[i]}, device);
      if (out.size() != 1 || out[0].memory_config() != *attempt.input_targets[i]) {
        return conversion->first + " of input " + std::to_string(i) + " cannot produce " +
               ops::to_string(*attempt.input_targets[i]);
      }
      if (check_fit) {
        // The node's other inputs (converted or not) are allocated while this conversion runs.
        std::vector<ResidentTensor> beside_conversion = beside_node;
        for (std::size_t j = 0; j < specs.size(); ++j) {
          if (j != i) beside_conversion.push_back({"input " + std::to_string(j), specs[j]});
        }
        const std::string problem = placement_problem(device, conversion->first, conversion->second,
                                                      {inputs[i]}, beside_conversion);
        if (!problem.empty()) return problem;
      }
      conversions.push_back({i, conversion->first, conversion->second, out[0]});
      specs[i] = out[0];
      if (i < stays_live.size() && stays_live[i])
        beside_node.push_back({"input " + std::to_string(i) + " (kept)", inputs[i]});
    } catch (const Error& e) {
      return e.what();
    }
  }
  try {
    const auto op = ops::make_operation(node.op, attempt.params, specs, device);
    std::vector<TensorSpec> outputs = op->output_specs(specs, device);
    if (check_fit) {
      const std::string problem =
          placement_problem(device, node.op, attempt.params, specs, beside_node);
      if (!problem.empty()) return problem;
    } else {
      for (const TensorSpec& s : outputs) ops::validate_for_device(s, device);
    }
    plan.params = attempt.params;
    plan.conversions = std::move(conversions);
    plan.outputs = std::move(outputs);
    plan.honoured = attempt.honoured;
    return {};
  } catch (const Error& e) {
    return e.what();
  }
}

json with_placement(const GraphNode& node, const Placement& p) {
  json params = node.params.is_object() ? node.params : json::object();
  params["output_memory"] = p.memory;
  if (is_window_op(node.op)) {
    // A window op runs sharded like its input, in L1 or DRAM; a sharded request names the
    // op's shard layout and core grid instead (its input is resharded to match).
    const std::string prefix = "l1-";
    const std::string suffix = "-sharded";
    if (p.memory.starts_with(prefix) && p.memory.ends_with(suffix) &&
        p.memory.size() > prefix.size() + suffix.size()) {
      params["output_memory"] = "l1";
      params["shard_layout"] =
          p.memory.substr(prefix.size(), p.memory.size() - prefix.size() - suffix.size());
      if (p.grid_x != 0 && p.grid_y != 0) params["grid"] = {p.grid_x, p.grid_y};
      // An act block height chosen for the model's own layout need not divide the rows a core
      // gets in this one: the op chooses again.
      params.erase("act_block_h_ntiles");
    }
    return params;
  }
  params.erase("grid");
  if (p.grid_x != 0 && p.grid_y != 0) params["grid"] = {p.grid_x, p.grid_y};
  // A placement without a program config means an automatic one, not the model's.
  params.erase("program_config");
  if (!p.program_config.is_null() && (node.op == "matmul" || node.op == "linear"))
    params["program_config"] = p.program_config;
  return params;
}

std::string describe(const Placement& p) {
  std::string text = p.memory;
  if (p.grid_x != 0) text += " " + std::to_string(p.grid_x) + "x" + std::to_string(p.grid_y);
  if (!p.program_config.is_null()) text += " +program_config";
  return text;
}

}  // namespace

// ---- public API ----

bool node_name_matches(const std::string& pattern, const std::string& text) {
  std::size_t p = 0, t = 0, star = std::string::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::vector<std::string> strategy_policy_names() {
  return {"model",          "dram-interleaved", "l1-interleaved",
          "height-sharded", "block-sharded",    "hybrid-attention-island"};
}

std::vector<std::string> strategy_preset_names() {
  return {"dram-interleaved", "l1-interleaved",          "height-sharded",
          "block-sharded",    "hybrid-attention-island", "auto"};
}

bool is_window_op(const std::string& op) {
  return op == "conv2d" || op == "conv_transpose2d" || op == "max_pool2d";
}

bool is_placeable_op(const std::string& op) {
  static const std::set<std::string> ops{
      "matmul",          "linear",    "add",     "sub",     "mul",
      "typecast",        "layernorm", "rmsnorm", "softmax", "nlp_create_qkv_heads",
      "nlp_concat_heads"};
  return ops.count(op) != 0 || ops::is_known_unary(op);
}

bool in_attention_island(const GraphNode& node, const Graph& graph) {
  if (node.group.find("attention") == std::string::npos) return false;
  if (node.op == "nlp_create_qkv_heads" || node.op == "nlp_concat_heads" || node.op == "softmax" ||
      node.op == "scaled_dot_product_attention")
    return true;
  // The batched matmuls Q K^T and (attention x V): both operands are activations.
  if (node.op == "matmul" && node.inputs.size() >= 2) {
    return graph.tensor(node.inputs[0]).kind == TensorKind::Activation &&
           graph.tensor(node.inputs[1]).kind == TensorKind::Activation;
  }
  return false;
}

Strategy strategy_preset(const std::string& name) {
  static const std::map<std::string, std::string> descriptions{
      {"dram-interleaved", "every activation in DRAM, interleaved; automatic program configs"},
      {"l1-interleaved", "activations interleaved over the L1 of all cores"},
      {"height-sharded", "activations height sharded over the worker grid"},
      {"block-sharded",
       "token tensors block sharded through the transformer blocks (DPT-Large perf mode), "
       "2D-multicast linears on the activation grid"},
      {"hybrid-attention-island",
       "block sharded, with the attention core interleaved in DRAM and converted in and out"}};
  const auto it = descriptions.find(name);
  if (it == descriptions.end()) {
    throw Error("unknown strategy '" + name +
                "'; use dram-interleaved, l1-interleaved, height-sharded, block-sharded, "
                "hybrid-attention-island, auto, or a strategy JSON file");
  }
  Strategy s;
  s.name = name;
  s.description = it->second;
  s.policy = name;
  return s;
}

Strategy strategy_from_name_or_file(const std::string& text) {
  const auto presets = strategy_preset_names();
  if (std::find(presets.begin(), presets.end(), text) != presets.end() && text != "auto")
    return strategy_preset(text);
  if (text.find(".json") != std::string::npos || text.find('/') != std::string::npos)
    return Strategy::load(text);
  return strategy_preset(text);  // throws, listing the presets
}

json Strategy::to_json() const {
  json rules_json = json::array();
  for (const StrategyRule& r : rules) {
    json j{{"match", r.match}};
    if (!r.op.empty()) j["op"] = r.op;
    if (r.keep) {
      j["keep"] = true;
    } else {
      j["memory"] = r.placement.memory;
      if (r.placement.grid_x != 0) j["grid"] = {r.placement.grid_x, r.placement.grid_y};
      if (!r.placement.program_config.is_null()) j["program_config"] = r.placement.program_config;
    }
    rules_json.push_back(j);
  }
  return {{"format", "wormsim-strategy"}, {"version", 1},     {"name", name},
          {"description", description},   {"policy", policy}, {"rules", rules_json}};
}

Strategy Strategy::from_json(const json& j) {
  if (!j.is_object()) throw Error("strategy: expected a JSON object");
  ops::reject_unknown_params(j, "strategy",
                             {"format", "version", "name", "description", "policy", "rules"});
  Strategy s;
  s.name = ops::param_string(j, "strategy", "name", "");
  if (s.name.empty()) throw Error("strategy: \"name\" is required");
  s.description = ops::param_string(j, "strategy", "description", "");
  s.policy = ops::param_string(j, "strategy", "policy", "model");
  const auto policies = strategy_policy_names();
  if (std::find(policies.begin(), policies.end(), s.policy) == policies.end()) {
    throw Error("strategy '" + s.name + "': unknown policy '" + s.policy +
                "'; use model, dram-interleaved, l1-interleaved, height-sharded, block-sharded "
                "or hybrid-attention-island");
  }
  if (j.contains("rules")) {
    if (!j["rules"].is_array()) throw Error("strategy '" + s.name + "': \"rules\" must be a list");
    std::size_t index = 0;
    for (const json& r : j["rules"]) {
      const std::string where = "strategy '" + s.name + "' rules[" + std::to_string(index++) + "]";
      if (!r.is_object()) throw Error(where + ": expected an object");
      ops::reject_unknown_params(r, where,
                                 {"match", "op", "keep", "memory", "grid", "program_config"});
      StrategyRule rule;
      rule.match = ops::param_string(r, where, "match", "");
      if (rule.match.empty()) throw Error(where + ": \"match\" (a node-name glob) is required");
      rule.op = ops::param_string(r, where, "op", "");
      rule.keep = ops::param_bool(r, where, "keep", false);
      if (!rule.keep) {
        if (!r.contains("memory")) throw Error(where + ": give \"memory\" or \"keep\": true");
        rule.placement.memory = ops::param_string(r, where, "memory", "");
        check_memory_keyword(rule.placement.memory, where);
        const auto grid = ops::param_ints(r, where, "grid", {0, 0});
        if (grid.size() != 2 || grid[0] < 0 || grid[1] < 0 || (grid[0] == 0) != (grid[1] == 0))
          throw Error(where + ": \"grid\" must be [x, y] with both positive");
        rule.placement.grid_x = static_cast<std::uint32_t>(grid[0]);
        rule.placement.grid_y = static_cast<std::uint32_t>(grid[1]);
        if (r.contains("program_config")) {
          if (!r["program_config"].is_object())
            throw Error(where + ": \"program_config\" must be an object (matmul's JSON form)");
          rule.placement.program_config = r["program_config"];
        }
      }
      s.rules.push_back(std::move(rule));
    }
  }
  return s;
}

Strategy Strategy::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("strategy file '" + path + "' cannot be read; check the path");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error("strategy file '" + path + "' is not valid JSON: " + e.what());
  }
  try {
    return from_json(j);
  } catch (const Error& e) {
    throw Error("strategy file '" + path + "': " + e.what());
  }
}

void Strategy::save(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!out) throw Error("cannot write strategy file '" + path + "'; check the directory");
    out << to_json().dump(2) << "\n";
    if (!out) throw Error("writing strategy file '" + path + "' failed");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error("cannot write strategy file '" + path + "'");
}

std::uint32_t StrategyStats::conversion_count(const std::string& kind_prefix) const {
  std::uint32_t n = 0;
  for (const auto& c : conversions) {
    if (kind_prefix.empty() || c.kind.rfind(kind_prefix, 0) == 0) ++n;
  }
  return n;
}

std::vector<Placement> requested_placements(const Strategy& strategy, const Graph& graph,
                                            const GraphNode& node, const TensorSpec& model_output) {
  std::optional<Placement> request;
  bool matched = false;
  for (const StrategyRule& rule : strategy.rules) {
    if (!rule.op.empty() && rule.op != node.op) continue;
    if (!node_name_matches(rule.match, node.name)) continue;
    matched = true;
    if (!rule.keep) request = rule.placement;
    break;
  }
  if (!matched) request = policy_placement(strategy.policy, graph, node, model_output);
  if (!request) return {};
  if (!is_placeable_op(node.op) && !is_window_op(node.op)) {
    throw Error("strategy '" + strategy.name + "': node " + node.name + " (" + node.op +
                ") has no output placement to choose; match only compute and head ops, or use "
                "\"keep\": true");
  }
  std::vector<Placement> placements = with_grids(*request, model_output, graph.device());
  // Block-sharded linears of the block-sharded policies get DPT-Large's 2D program config.
  const bool policy_config = !matched && (strategy.policy == "block-sharded" ||
                                          strategy.policy == "hybrid-attention-island");
  if (policy_config && node.op == "linear" && request->memory == "l1-block-sharded") {
    const TensorSpec& in0 = graph.spec(node.inputs.at(0));
    for (Placement& p : placements)
      p.program_config =
          block_program_config(in0, model_output, p.grid_x, p.grid_y, graph.device());
  }
  return placements;
}

NodePlan plan_node(const arch::DeviceSpec& device, const GraphNode& node,
                   const std::vector<TensorSpec>& inputs,
                   const std::vector<TensorSpec>& model_inputs,
                   const std::vector<TensorSpec>& model_outputs,
                   const std::vector<bool>& activation_inputs, const std::vector<bool>& stays_live,
                   const std::vector<Placement>& requests,
                   const std::vector<ResidentTensor>& resident, bool strict, bool check_fit) {
  const std::size_t n = inputs.size();
  const std::vector<std::optional<MemoryConfig>> as_is(n);
  std::vector<Attempt> attempts;
  NodePlan plan;
  plan.requested = !requests.empty();
  for (const Placement& p : requests) {
    plan.request_text += (plan.request_text.empty() ? "" : " | ") + describe(p);
    json params = with_placement(node, p);
    if (strict && params.contains("program_config")) params["strict"] = true;
    // A layout policy keeps the activations in its layout: activation inputs converted to the
    // requested layout (same grid) first, as a sharded model's explicit reshards and the
    // hybrid strategy's island conversions do; then read as they are.
    {
      std::vector<std::optional<MemoryConfig>> sharded(n);
      bool any = false;
      for (std::size_t i = 0; i < n; ++i) {
        if (!activation_inputs[i]) continue;
        try {
          const MemoryConfig target = ops::memory_config_from_keyword(
              p.memory, inputs[i], std::max(1u, p.grid_x), std::max(1u, p.grid_y), device);
          if (target == inputs[i].memory_config()) continue;
          sharded[i] = target;
          any = true;
        } catch (const Error&) {
          // This input cannot take the layout; it is read as it is.
        }
      }
      if (any) attempts.push_back({sharded, params, true});
    }
    attempts.push_back({as_is, params, true});
    // Sharded inputs read interleaved (L1 when the output is in L1).
    std::vector<std::optional<MemoryConfig>> interleaved(n);
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (!inputs[i].memory_config().is_sharded()) continue;
      interleaved[i] = p.memory == "dram-interleaved" ? MemoryConfig::dram_interleaved()
                                                      : MemoryConfig::l1_interleaved();
      any = true;
    }
    if (any) attempts.push_back({interleaved, params, true});
  }
  // A conv whose own act blocks leave no room beside the live tensors may fit with smaller ones
  // (as the model builder does): each requested attempt, then its smaller-block variants.
  if (is_window_op(node.op)) {
    std::vector<Attempt> with_smaller;
    for (const Attempt& a : attempts) {
      with_smaller.push_back(a);
      std::vector<TensorSpec> specs = inputs;
      for (std::size_t i = 0; i < n; ++i)
        if (a.input_targets[i]) specs[i] = inputs[i].with_memory_config(*a.input_targets[i]);
      for (std::uint32_t tiles : smaller_act_blocks(device, node.op, a.params, specs)) {
        Attempt smaller = a;
        smaller.params["act_block_h_ntiles"] = tiles;
        with_smaller.push_back(std::move(smaller));
      }
    }
    attempts = std::move(with_smaller);
  }
  const std::size_t honoured_attempts = attempts.size();
  std::vector<std::optional<MemoryConfig>> to_dram(n), to_model(n);
  for (std::size_t i = 0; i < n; ++i) {
    // The last resorts free L1: every L1 input read from DRAM.
    if (inputs[i].memory_config().is_l1()) to_dram[i] = MemoryConfig::dram_interleaved();
    to_model[i] = model_inputs[i].memory_config();
  }
  if (plan.requested) {
    const json dram = with_placement(node, Placement{"dram-interleaved", 0, 0, nullptr});
    attempts.push_back({as_is, dram, false});
    attempts.push_back({to_dram, dram, false});
  }
  // Strict: a program config the model itself requests may not fall back either.
  json model_params = node.params.is_object() ? node.params : json::object();
  if (strict && model_params.contains("program_config")) model_params["strict"] = true;
  // Model's params: its output where the model put it (a data-movement op's default follows
  // its input, which the strategy may have moved), then as the op defaults.
  if (!model_outputs.empty() && !is_window_op(node.op) && !node.params.contains("output_memory")) {
    const MemoryConfig& m = model_outputs[0].memory_config();
    json params = model_params;
    params["output_memory"] = m.is_sharded() ? ops::to_string(m) : interleaved_keyword(m);
    attempts.push_back({as_is, params, !plan.requested});
    attempts.push_back({to_model, params, !plan.requested});
  }
  attempts.push_back({as_is, model_params, !plan.requested});
  attempts.push_back({to_model, model_params, !plan.requested});
  attempts.push_back({to_dram, model_params, !plan.requested});

  // The problem to report: the requested placement with the inputs as they are (the most
  // direct reason), else the first attempt's.
  std::string first_problem, direct_problem, last_problem;
  const auto reported = [&] { return direct_problem.empty() ? first_problem : direct_problem; };
  for (std::size_t a = 0; a < attempts.size(); ++a) {
    if (strict && plan.requested && a == honoured_attempts) {
      throw Error("strategy: node " + node.name + " (" + node.op + ") cannot run as requested (" +
                  plan.request_text + "): " + reported() + " (drop --strict to let it fall back)");
    }
    const std::string problem =
        try_attempt(device, node, inputs, stays_live, attempts[a], resident, check_fit, plan);
    if (problem.empty()) {
      if (!plan.honoured) plan.reason = reported();
      return plan;
    }
    if (first_problem.empty()) first_problem = problem;
    const bool inputs_as_they_are =
        std::none_of(attempts[a].input_targets.begin(), attempts[a].input_targets.end(),
                     [](const auto& t) { return t.has_value(); });
    if (direct_problem.empty() && inputs_as_they_are && a < honoured_attempts)
      direct_problem = problem;
    last_problem = problem;
  }
  throw Error("strategy: node " + node.name + " (" + node.op +
              ") has no placement that works: " + reported() +
              (last_problem != reported()
                   ? " | last resort (model's params, inputs in DRAM): " + last_problem
                   : std::string()));
}

AppliedStrategy apply_strategy(const Graph& graph, const Strategy& strategy,
                               const ApplyOptions& options) {
  const arch::DeviceSpec& device = graph.device();
  AppliedStrategy result{Graph(graph.name(), device), {}};
  Graph& out = result.graph;
  out.set_batch(graph.batch());
  std::vector<TensorId> mapped(graph.tensors().size(), 0);
  for (const GraphTensor& t : graph.tensors()) {
    switch (t.kind) {
      case TensorKind::Input:
        mapped[t.id] = out.add_input(t.name, t.spec);
        break;
      case TensorKind::Weight:
        mapped[t.id] = out.add_weight(t.name, t.spec, t.init, t.init_scale);
        break;
      case TensorKind::Constant:
        mapped[t.id] = out.add_constant(t.name, t.spec, t.init);
        out.set_init(mapped[t.id], t.init, t.init_scale);
        break;
      case TensorKind::Activation:
        break;
    }
  }
  const std::vector<NodeId> order = graph.topological_order();
  const std::map<TensorId, NodeId> last_use = graph.last_uses(order);
  std::map<NodeId, std::size_t> position;
  for (std::size_t p = 0; p < order.size(); ++p) position[order[p]] = p;
  const std::set<TensorId> graph_outputs(graph.outputs().begin(), graph.outputs().end());
  // Live activations of the rewritten graph: new id -> (name, position after which it dies).
  struct Live {
    std::size_t dies_after;
    bool forever;
  };
  std::map<TensorId, Live> live;
  auto dies_after = [&](TensorId original) -> Live {
    if (graph_outputs.count(original)) return {0, true};
    const auto it = last_use.find(original);
    if (it == last_use.end()) return {0, false};
    return {position.at(it->second), false};
  };
  // Conversions already made: (new source id, target memory text) -> converted id.
  std::map<std::pair<TensorId, std::string>, TensorId> converted;
  std::set<TensorId> island_outputs;

  for (std::size_t p = 0; p < order.size(); ++p) {
    const GraphNode& node = graph.node(order[p]);
    std::vector<TensorSpec> inputs, model_inputs;
    for (TensorId t : node.inputs) {
      inputs.push_back(out.spec(mapped[t]));
      model_inputs.push_back(graph.spec(t));
    }
    const std::vector<Placement> requests =
        requested_placements(strategy, graph, node, graph.spec(node.outputs.at(0)));
    std::vector<bool> activation_inputs;
    for (TensorId t : node.inputs)
      activation_inputs.push_back(graph.tensor(t).kind == TensorKind::Activation);
    std::vector<TensorSpec> model_outputs;
    for (TensorId t : node.outputs) model_outputs.push_back(graph.spec(t));
    // Which inputs later nodes still read (their originals stay allocated beside a copy).
    std::vector<bool> stays_live;
    for (TensorId t : node.inputs) {
      const Live l = dies_after(t);
      stays_live.push_back(graph.tensor(t).kind == TensorKind::Activation &&
                           (l.forever || l.dies_after > p));
    }
    // Plan against the L1 tensors that stay live across the node. When nothing fits beside
    // them but the node fits alone, the largest of them is moved to DRAM first
    // (ttnn.to_memory_config(x, DRAM) in a model) and the plan retried.
    std::optional<NodePlan> planned;
    while (!planned) {
      std::vector<ResidentTensor> resident;
      std::vector<TensorId> resident_ids;
      for (const auto& [id, l] : live) {
        if (!l.forever && l.dies_after < p) continue;
        const bool input_or_its_copy =
            std::any_of(node.inputs.begin(), node.inputs.end(), [&](TensorId t) {
              if (mapped[t] == id) return true;
              for (const auto& [key, copy] : converted) {
                if (key.first == mapped[t] && copy == id) return true;
              }
              return false;
            });
        if (input_or_its_copy || !out.spec(id).memory_config().is_l1()) continue;
        resident.push_back({out.tensor(id).name, out.spec(id)});
        resident_ids.push_back(id);
      }
      try {
        planned = plan_node(device, node, inputs, model_inputs, model_outputs, activation_inputs,
                            stays_live, requests, resident, options.strict, true);
      } catch (const Error&) {
        if (resident_ids.empty()) throw;
        // Evict only when the live tensors are the obstacle: the node must plan without them
        // (else this throws the node's own problem).
        plan_node(device, node, inputs, model_inputs, model_outputs, activation_inputs, stays_live,
                  requests, {}, options.strict, true);
        // Bytes a tensor holds on each of its cores.
        const auto per_core = [&](const TensorSpec& t) {
          const auto& shard = t.memory_config().shard_spec();
          const std::uint64_t cores = shard ? shard->num_cores() : device.worker_count();
          return t.total_bytes() / std::max<std::uint64_t>(1, cores);
        };
        std::size_t largest = 0;
        for (std::size_t k = 1; k < resident.size(); ++k) {
          if (per_core(resident[k].spec) > per_core(resident[largest].spec)) largest = k;
        }
        const TensorId victim = resident_ids[largest];
        live.erase(victim);
        const bool referenced = std::find(mapped.begin(), mapped.end(), victim) != mapped.end();
        for (auto it = converted.begin(); it != converted.end();) {
          it = (it->second == victim || it->first.first == victim) ? converted.erase(it)
                                                                   : std::next(it);
        }
        // A cached conversion nobody maps to is simply dropped (its consumers convert again);
        // a tensor later nodes read moves to DRAM.
        if (!referenced) continue;
        const TensorSpec& v = out.spec(victim);
        const std::string op = v.memory_config().is_sharded() ? "sharded_to_interleaved" : "move";
        std::string name = out.tensor(victim).name + ".to_dram";
        for (int k = 2; out.find_node(name) || out.find_tensor(name); ++k)
          name = out.tensor(victim).name + ".to_dram." + std::to_string(k);
        const TensorId moved =
            out.op(name, op, {victim}, json{{"output_memory", "dram-interleaved"}}, node.group);
        result.stats.conversions.push_back({name, op, node.name, out.tensor(victim).name, "evict"});
        const Live victim_life = [&] {
          for (std::size_t o = 0; o < mapped.size(); ++o) {
            if (mapped[o] == victim) return dies_after(static_cast<TensorId>(o));
          }
          return Live{0, false};
        }();
        live[moved] = victim_life;
        for (TensorId& m : mapped) {
          if (m == victim) m = moved;
        }
        if (island_outputs.count(victim)) island_outputs.insert(moved);
        inputs.clear();
        for (TensorId t : node.inputs) inputs.push_back(out.spec(mapped[t]));
      }
    }
    const NodePlan& plan = *planned;
    const bool island = in_attention_island(node, graph);
    std::vector<TensorId> new_inputs;
    for (TensorId t : node.inputs) new_inputs.push_back(mapped[t]);
    for (const PlannedConversion& c : plan.conversions) {
      const TensorId source = new_inputs[c.input];
      const auto key = std::make_pair(source, ops::to_string(c.output.memory_config()));
      if (const auto hit = converted.find(key); hit != converted.end()) {
        new_inputs[c.input] = hit->second;
        continue;
      }
      std::string name = node.name + ".in" + std::to_string(c.input) + "." + c.op;
      for (int k = 2; out.find_node(name) || out.find_tensor(name); ++k)
        name = node.name + ".in" + std::to_string(c.input) + "." + c.op + "." + std::to_string(k);
      const TensorId id = out.op(name, c.op, {source}, c.params, node.group);
      converted[key] = id;
      live[id] = dies_after(node.inputs[c.input]);
      ConversionRecord record{name, c.op, node.name, out.tensor(source).name, ""};
      const bool from_sharded = out.spec(source).memory_config().is_sharded();
      const bool to_sharded = c.output.memory_config().is_sharded();
      if (island && from_sharded && !to_sharded) record.kind = "attn_island_interleave";
      if (!island && island_outputs.count(source) && to_sharded)
        record.kind = "attn_island_reshard";
      result.stats.conversions.push_back(record);
      new_inputs[c.input] = id;
    }
    const std::vector<TensorId> outs =
        out.add_op(node.name, node.op, new_inputs, plan.params, node.group);
    for (std::size_t k = 0; k < outs.size() && k < node.outputs.size(); ++k) {
      mapped[node.outputs[k]] = outs[k];
      live[outs[k]] = dies_after(node.outputs[k]);
      if (island) island_outputs.insert(outs[k]);
    }
    for (auto it = live.begin(); it != live.end();) {
      it = (!it->second.forever && it->second.dies_after <= p) ? live.erase(it) : std::next(it);
    }
    if (plan.requested) {
      NodeChoice choice;
      choice.node = node.name;
      choice.op = node.op;
      choice.requested = plan.request_text;
      choice.memory_config = ops::to_string(out.spec(outs.at(0)).memory_config());
      if (plan.params.contains("program_config"))
        choice.program_config = plan.params["program_config"].dump();
      if (!plan.honoured) {
        choice.reason = plan.reason;
        ++result.stats.placement_fallbacks;
      }
      result.stats.choices.push_back(std::move(choice));
    }
  }
  for (TensorId t : graph.outputs()) out.mark_output(mapped[t]);
  return result;
}

}  // namespace wormsim::workloads
