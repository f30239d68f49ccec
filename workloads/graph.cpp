#include "workloads/graph.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <queue>
#include <set>

#include "ops/op_registry.hpp"
#include "sim/error.hpp"

namespace wormsim::workloads {
namespace {

constexpr const char* kFormatName = "wormsim.graph";
constexpr int kFormatVersion = 1;

const std::vector<std::string>& init_kinds() {
  static const std::vector<std::string> kinds = {"uniform", "ones",        "zeros",    "normal",
                                                 "arange",  "rotate_half", "rope_cos", "rope_sin"};
  return kinds;
}

void check_init(const std::string& init, const std::string& tensor) {
  // rope_cos / rope_sin may carry the first position: "rope_cos@80".
  const std::string kind = init.substr(0, init.find('@'));
  const auto& kinds = init_kinds();
  const bool known = std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
  const bool offset_ok =
      kind == init ||
      ((kind == "rope_cos" || kind == "rope_sin") && init.size() > kind.size() + 1 &&
       init.find_first_not_of("0123456789", kind.size() + 1) == std::string::npos);
  if (!known || !offset_ok) {
    throw Error("tensor '" + tensor + "': unknown init '" + init +
                "'; use uniform, ones, zeros, normal, arange, rotate_half, rope_cos[@first "
                "position] or rope_sin[@first position]");
  }
}

std::string shape_text(const ops::Shape& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.rank(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// The tensor's page padding differs from what its layout implies only for specs built with an
// explicit padded shape; only then does the file need to say it.
bool default_padding(const ops::TensorSpec& spec) {
  const ops::TensorSpec plain(spec.logical_shape(), spec.data_type(), spec.layout(),
                              spec.memory_config());
  return plain.padded_shape() == spec.padded_shape();
}

std::vector<std::uint32_t> dims_from_json(const nlohmann::json& value, const std::string& what) {
  if (!value.is_array() || value.empty() || value.size() > ops::Shape::kMaxRank) {
    throw Error(what + " must be a list of 1 to 4 positive integers, got " + value.dump());
  }
  std::vector<std::uint32_t> dims;
  for (const auto& d : value) {
    if (!d.is_number_integer() || d.get<std::int64_t>() <= 0) {
      throw Error(what + " must be a list of 1 to 4 positive integers, got " + value.dump());
    }
    dims.push_back(static_cast<std::uint32_t>(d.get<std::int64_t>()));
  }
  return dims;
}

// What differs between a recorded and a derived spec, briefly when the shapes differ.
std::string mismatch_text(const ops::TensorSpec& recorded, const ops::TensorSpec& derived) {
  if (recorded.logical_shape() != derived.logical_shape()) {
    return "the file records shape " + shape_text(recorded.logical_shape()) +
           " but the op produces " + shape_text(derived.logical_shape());
  }
  return "the file records " + ops::to_string(recorded) + " but the op produces " +
         ops::to_string(derived);
}

nlohmann::json spec_to_json(const ops::TensorSpec& spec) {
  nlohmann::json out = ops::tensor_spec_to_json(spec);
  if (!default_padding(spec)) {
    nlohmann::json padded = nlohmann::json::array();
    for (std::uint32_t d : spec.padded_shape().dims()) padded.push_back(d);
    out["padded_shape"] = padded;
  }
  return out;
}

// Reads the spec part of a graph tensor entry (shape, dtype, layout, memory, grid,
// padded_shape); the graph keys are checked by the caller.
ops::TensorSpec spec_from_json(const nlohmann::json& entry, const std::string& what,
                               const arch::DeviceSpec& device) {
  nlohmann::json plain = nlohmann::json::object();
  for (const char* key : {"shape", "dtype", "layout", "memory", "grid"}) {
    if (entry.contains(key)) plain[key] = entry[key];
  }
  if (!plain.contains("shape")) throw Error(what + " needs \"shape\"");
  ops::TensorSpec spec = [&] {
    try {
      return ops::tensor_spec_from_json(plain, device);
    } catch (const Error& e) {
      throw Error(what + ": " + e.what());
    }
  }();
  if (entry.contains("padded_shape")) {
    const ops::Shape padded(dims_from_json(entry["padded_shape"], what + " \"padded_shape\""));
    try {
      spec = ops::TensorSpec(spec.logical_shape(), padded, spec.data_type(), spec.layout(),
                             spec.memory_config());
      ops::validate_for_device(spec, device);
    } catch (const Error& e) {
      throw Error(what + ": " + e.what());
    }
  }
  return spec;
}

std::string_view kind_name(TensorKind kind) {
  switch (kind) {
    case TensorKind::Input:
      return "input";
    case TensorKind::Weight:
      return "weight";
    case TensorKind::Constant:
      return "constant";
    case TensorKind::Activation:
      return "activation";
  }
  return "activation";
}

TensorKind parse_kind(const std::string& text, const std::string& what) {
  if (text == "input") return TensorKind::Input;
  if (text == "weight") return TensorKind::Weight;
  if (text == "constant") return TensorKind::Constant;
  if (text == "activation") return TensorKind::Activation;
  throw Error(what + ": unknown kind '" + text + "'; use input, weight, constant or activation");
}

void reject_unknown_keys(const nlohmann::json& object, const std::string& what,
                         const std::vector<std::string>& known) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw Error(what + ": unknown key '" + key + "'; accepted: " + list);
    }
  }
}

std::string string_field(const nlohmann::json& object, const std::string& key,
                         const std::string& what,
                         const std::optional<std::string>& fallback = std::nullopt) {
  if (!object.contains(key)) {
    if (fallback) return *fallback;
    throw Error(what + " needs \"" + key + "\"");
  }
  if (!object[key].is_string())
    throw Error(what + ": \"" + key + "\" must be a string, got " + object[key].dump());
  return object[key].get<std::string>();
}

std::vector<std::string> string_list(const nlohmann::json& object, const std::string& key,
                                     const std::string& what) {
  if (!object.contains(key)) return {};
  const nlohmann::json& list = object[key];
  if (!list.is_array())
    throw Error(what + ": \"" + key + "\" must be a list of tensor names, got " + list.dump());
  std::vector<std::string> out;
  for (const auto& item : list) {
    if (!item.is_string())
      throw Error(what + ": \"" + key + "\" must be a list of tensor names, got " + list.dump());
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

std::string_view to_string(TensorKind kind) { return kind_name(kind); }

Graph::Graph(std::string name, const arch::DeviceSpec& device)
    : name_(std::move(name)), device_(&device) {}

void Graph::set_batch(std::uint32_t batch) {
  if (batch == 0) throw Error("graph '" + name_ + "': batch must be at least 1");
  batch_ = batch;
}

TensorId Graph::add_tensor(GraphTensor tensor) {
  if (tensor.name.empty()) throw Error("graph '" + name_ + "': a tensor needs a name");
  if (tensor_by_name_.count(tensor.name)) {
    throw Error("graph '" + name_ + "': duplicate tensor name '" + tensor.name + "'");
  }
  check_init(tensor.init, tensor.name);
  tensor.id = static_cast<TensorId>(tensors_.size());
  tensor_by_name_.emplace(tensor.name, tensor.id);
  tensors_.push_back(std::move(tensor));
  return tensors_.back().id;
}

TensorId Graph::add_input(const std::string& name, const ops::TensorSpec& spec) {
  ops::validate_for_device(spec, *device_);
  GraphTensor t{
      .id = 0, .name = name, .kind = TensorKind::Input, .spec = spec, .producer = std::nullopt};
  t.init = "uniform";
  t.init_scale = 1.0;  // inputs are U(-1, 1), as isolated op runs feed them
  return add_tensor(std::move(t));
}

TensorId Graph::add_weight(const std::string& name, const ops::TensorSpec& spec,
                           const std::string& init, double scale) {
  ops::validate_for_device(spec, *device_);
  GraphTensor t{
      .id = 0, .name = name, .kind = TensorKind::Weight, .spec = spec, .producer = std::nullopt};
  t.init = init;
  t.init_scale = scale;
  return add_tensor(std::move(t));
}

TensorId Graph::add_constant(const std::string& name, const ops::TensorSpec& spec,
                             const std::string& init) {
  ops::validate_for_device(spec, *device_);
  GraphTensor t{
      .id = 0, .name = name, .kind = TensorKind::Constant, .spec = spec, .producer = std::nullopt};
  t.init = init;
  t.init_scale = 1.0;
  return add_tensor(std::move(t));
}

void Graph::set_init(TensorId id, const std::string& init, double scale) {
  GraphTensor& t = tensors_.at(tensor(id).id);
  if (t.kind == TensorKind::Activation)
    throw Error("tensor '" + t.name + "' is an activation; only sources have an init");
  check_init(init, t.name);
  t.init = init;
  t.init_scale = scale;
}

std::vector<ops::TensorSpec> Graph::derive_output_specs(const GraphNode& node) const {
  std::vector<ops::TensorSpec> inputs;
  for (TensorId id : node.inputs) inputs.push_back(tensor(id).spec);
  const std::string where =
      "graph '" + name_ + "', node '" + node.name + "' (op '" + node.op + "'): ";
  try {
    const auto op = ops::make_operation(node.op, node.params, inputs, *device_);
    return op->output_specs(inputs, *device_);
  } catch (const Error& e) {
    throw Error(where + e.what());
  }
}

std::vector<TensorId> Graph::add_op(const std::string& name, const std::string& op,
                                    const std::vector<TensorId>& inputs,
                                    const nlohmann::json& params, const std::string& group) {
  if (node_by_name_.count(name))
    throw Error("graph '" + name_ + "': duplicate node name '" + name + "'");
  if (name.empty()) throw Error("graph '" + name_ + "': a node needs a name");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] >= tensors_.size()) {
      throw Error("graph '" + name_ + "', node '" + name + "': input " + std::to_string(i) +
                  " is tensor id " + std::to_string(inputs[i]) +
                  ", which no tensor has (dangling edge)");
    }
  }
  GraphNode node;
  node.id = static_cast<NodeId>(nodes_.size());
  node.name = name;
  node.op = op;
  node.params = params.is_null() ? nlohmann::json::object() : params;
  node.inputs = inputs;
  node.group = group;
  const std::vector<ops::TensorSpec> specs = derive_output_specs(node);
  // Register the node only once every output name is known to be free, so a failure leaves
  // the graph unchanged.
  std::vector<std::string> names;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    names.push_back(specs.size() == 1 ? name : name + ":" + std::to_string(i));
    if (tensor_by_name_.count(names.back())) {
      throw Error("graph '" + name_ + "', node '" + name + "': output tensor name '" +
                  names.back() + "' is already used by another tensor");
    }
  }
  node_by_name_.emplace(name, node.id);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    GraphTensor t{.id = 0,
                  .name = names[i],
                  .kind = TensorKind::Activation,
                  .spec = specs[i],
                  .producer = node.id};
    node.outputs.push_back(add_tensor(std::move(t)));
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().outputs;
}

TensorId Graph::op(const std::string& name, const std::string& op,
                   const std::vector<TensorId>& inputs, const nlohmann::json& params,
                   const std::string& group) {
  const std::vector<TensorId> outputs = add_op(name, op, inputs, params, group);
  if (outputs.size() != 1) {
    throw Error("graph '" + name_ + "', node '" + name + "': op '" + op + "' has " +
                std::to_string(outputs.size()) + " outputs; use add_op for multi-output ops");
  }
  return outputs.front();
}

void Graph::mark_output(TensorId id) {
  tensor(id);  // range check
  if (std::find(outputs_.begin(), outputs_.end(), id) == outputs_.end()) outputs_.push_back(id);
}

const GraphTensor& Graph::tensor(TensorId id) const {
  if (id >= tensors_.size()) {
    throw Error("graph '" + name_ + "': no tensor with id " + std::to_string(id) + " (it has " +
                std::to_string(tensors_.size()) + ")");
  }
  return tensors_[id];
}

const GraphNode& Graph::node(NodeId id) const {
  if (id >= nodes_.size()) {
    throw Error("graph '" + name_ + "': no node with id " + std::to_string(id) + " (it has " +
                std::to_string(nodes_.size()) + ")");
  }
  return nodes_[id];
}

std::optional<TensorId> Graph::find_tensor(const std::string& name) const {
  auto it = tensor_by_name_.find(name);
  if (it == tensor_by_name_.end()) return std::nullopt;
  return it->second;
}

std::optional<NodeId> Graph::find_node(const std::string& name) const {
  auto it = node_by_name_.find(name);
  if (it == node_by_name_.end()) return std::nullopt;
  return it->second;
}

std::vector<NodeId> Graph::topological_order() const {
  // Node b depends on node a when b reads a tensor a produces.
  std::vector<std::vector<NodeId>> consumers(nodes_.size());
  std::vector<std::size_t> pending(nodes_.size(), 0);
  for (const GraphNode& n : nodes_) {
    std::set<NodeId> producers;
    for (TensorId t : n.inputs) {
      if (const auto& p = tensors_.at(t).producer) producers.insert(*p);
    }
    for (NodeId p : producers) consumers[p].push_back(n.id);
    pending[n.id] = producers.size();
  }
  // Kahn's algorithm; a min-heap of node ids keeps ties in insertion order.
  std::priority_queue<NodeId, std::vector<NodeId>, std::greater<>> ready;
  for (const GraphNode& n : nodes_) {
    if (pending[n.id] == 0) ready.push(n.id);
  }
  std::vector<NodeId> order;
  order.reserve(nodes_.size());
  while (!ready.empty()) {
    const NodeId n = ready.top();
    ready.pop();
    order.push_back(n);
    for (NodeId c : consumers[n]) {
      if (--pending[c] == 0) ready.push(c);
    }
  }
  if (order.size() == nodes_.size()) return order;

  // Every node left over waits on another left-over node; walking those predecessors from any
  // of them must revisit a node, and the walk from that node on is a cycle.
  auto leftover_producer = [&](NodeId n) {
    for (TensorId t : nodes_[n].inputs) {
      const auto& p = tensors_.at(t).producer;
      if (p && pending[*p] > 0) return *p;
    }
    return n;  // unreachable for a leftover node; keeps the walk finite
  };
  NodeId start = 0;
  while (pending[start] == 0) ++start;
  std::vector<NodeId> walk;
  std::map<NodeId, std::size_t> seen;
  NodeId cur = start;
  while (!seen.count(cur)) {
    seen.emplace(cur, walk.size());
    walk.push_back(cur);
    cur = leftover_producer(cur);
  }
  // walk[seen[cur]..] is the cycle in consumer <- producer direction; print it producer first.
  std::vector<NodeId> cycle(walk.begin() + static_cast<std::ptrdiff_t>(seen[cur]), walk.end());
  std::reverse(cycle.begin(), cycle.end());
  // Start at the earliest node so the message does not depend on where the walk began.
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  std::string text;
  for (NodeId n : cycle) text += "'" + nodes_[n].name + "' -> ";
  text += "'" + nodes_[cycle.front()].name + "'";
  throw Error("graph '" + name_ + "' has a cycle: " + text +
              " (each node reads a tensor the next one produces)");
}

std::map<TensorId, NodeId> Graph::last_uses(const std::vector<NodeId>& order) const {
  std::map<TensorId, NodeId> last;
  for (NodeId n : order) {
    for (TensorId t : node(n).inputs) last[t] = n;
  }
  return last;
}

std::uint64_t Graph::parameter_count() const {
  std::uint64_t count = 0;
  for (const GraphTensor& t : tensors_) {
    if (t.kind == TensorKind::Weight) count += t.spec.logical_shape().volume();
  }
  return count;
}

std::uint64_t Graph::node_flops(NodeId id) const {
  const GraphNode& n = node(id);
  std::vector<ops::TensorSpec> inputs;
  for (TensorId t : n.inputs) inputs.push_back(tensor(t).spec);
  std::vector<ops::TensorSpec> outputs;
  for (TensorId t : n.outputs) outputs.push_back(tensor(t).spec);
  return ops::make_operation(n.op, n.params, inputs, *device_)->flops(inputs, outputs);
}

std::uint64_t Graph::flops() const {
  std::uint64_t total = 0;
  for (const GraphNode& n : nodes_) total += node_flops(n.id);
  return total;
}

bool Graph::operator==(const Graph& other) const {
  return name_ == other.name_ && batch_ == other.batch_ && tensors_ == other.tensors_ &&
         nodes_ == other.nodes_ && outputs_ == other.outputs_;
}

nlohmann::json Graph::to_json() const {
  nlohmann::json tensors = nlohmann::json::array();
  for (const GraphTensor& t : tensors_) {
    nlohmann::json entry = {{"name", t.name}, {"kind", std::string(kind_name(t.kind))}};
    entry.update(spec_to_json(t.spec));
    if (t.kind == TensorKind::Activation) {
      entry["producer"] = nodes_.at(*t.producer).name;
    } else {
      entry["init"] = t.init;
      entry["init_scale"] = t.init_scale;
    }
    tensors.push_back(std::move(entry));
  }
  nlohmann::json nodes = nlohmann::json::array();
  for (const GraphNode& n : nodes_) {
    nlohmann::json inputs = nlohmann::json::array();
    for (TensorId t : n.inputs) inputs.push_back(tensors_[t].name);
    nlohmann::json outputs = nlohmann::json::array();
    for (TensorId t : n.outputs) outputs.push_back(tensors_[t].name);
    nlohmann::json entry = {
        {"name", n.name}, {"op", n.op}, {"inputs", inputs}, {"outputs", outputs}};
    if (!n.params.empty()) entry["params"] = n.params;
    if (!n.group.empty()) entry["group"] = n.group;
    nodes.push_back(std::move(entry));
  }
  nlohmann::json outputs = nlohmann::json::array();
  for (TensorId t : outputs_) outputs.push_back(tensors_[t].name);
  return {{"format", kFormatName},   {"version", kFormatVersion}, {"name", name_},
          {"device", device_->name}, {"batch", batch_},           {"tensors", tensors},
          {"nodes", nodes},          {"outputs", outputs}};
}

Graph Graph::from_json(const nlohmann::json& json, const arch::DeviceSpec& device) {
  if (!json.is_object())
    throw Error("a graph file must hold a JSON object, got " + json.dump().substr(0, 80));
  reject_unknown_keys(
      json, "graph",
      {"format", "version", "name", "device", "batch", "tensors", "nodes", "outputs", "$schema"});
  const std::string format = string_field(json, "format", "graph", std::string(kFormatName));
  if (format != kFormatName)
    throw Error("graph: \"format\" must be \"" + std::string(kFormatName) + "\", got \"" + format +
                "\"");
  if (json.contains("version")) {
    if (!json["version"].is_number_integer() || json["version"].get<int>() != kFormatVersion) {
      throw Error("graph: format version " + json["version"].dump() +
                  " is not supported; this wormsim reads version " +
                  std::to_string(kFormatVersion));
    }
  }
  Graph graph(string_field(json, "name", "graph"), device);
  const std::string where = "graph '" + graph.name_ + "'";
  if (json.contains("batch")) {
    if (!json["batch"].is_number_integer() || json["batch"].get<std::int64_t>() < 1) {
      throw Error(where + ": \"batch\" must be a positive integer, got " + json["batch"].dump());
    }
    graph.set_batch(static_cast<std::uint32_t>(json["batch"].get<std::int64_t>()));
  }
  if (!json.contains("nodes") || !json["nodes"].is_array())
    throw Error(where + " needs \"nodes\": [...]");
  const nlohmann::json tensors = json.value("tensors", nlohmann::json::array());
  if (!tensors.is_array()) throw Error(where + ": \"tensors\" must be a list");

  // 1. Tensors in file order (their ids). Activations keep their recorded spec for the check
  //    against the derived one below.
  std::map<TensorId, std::string> recorded_producer;
  std::set<TensorId> recorded_spec;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const nlohmann::json& entry = tensors[i];
    if (!entry.is_object())
      throw Error(where + ": tensor " + std::to_string(i) + " must be a JSON object");
    const std::string name = string_field(entry, "name", where + ", tensor " + std::to_string(i));
    const std::string what = where + ", tensor '" + name + "'";
    reject_unknown_keys(entry, what,
                        {"name", "kind", "shape", "padded_shape", "dtype", "layout", "memory",
                         "grid", "init", "init_scale", "producer"});
    GraphTensor t{.id = 0,
                  .name = name,
                  .kind = parse_kind(string_field(entry, "kind", what), what),
                  .spec = spec_from_json(entry, what, device),
                  .producer = std::nullopt};
    if (t.kind == TensorKind::Activation) {
      if (entry.contains("init") || entry.contains("init_scale")) {
        throw Error(what + ": an activation is produced by its node and takes no \"init\"");
      }
      if (entry.contains("producer"))
        recorded_producer[static_cast<TensorId>(i)] = string_field(entry, "producer", what);
      recorded_spec.insert(static_cast<TensorId>(i));
    } else {
      if (entry.contains("producer")) throw Error(what + ": only activations have a \"producer\"");
      t.init = string_field(
          entry, "init", what,
          t.kind == TensorKind::Constant ? std::string("zeros") : std::string("uniform"));
      const double default_scale = t.kind == TensorKind::Weight ? kDefaultWeightScale : 1.0;
      if (entry.contains("init_scale") && !entry["init_scale"].is_number()) {
        throw Error(what + ": \"init_scale\" must be a number, got " + entry["init_scale"].dump());
      }
      t.init_scale = entry.value("init_scale", default_scale);
    }
    graph.add_tensor(std::move(t));
  }

  // 2. Nodes: names and outputs, then edges. Output tensors a file does not list are created
  //    here; their specs are derived in step 4.
  for (std::size_t i = 0; i < json["nodes"].size(); ++i) {
    const nlohmann::json& entry = json["nodes"][i];
    if (!entry.is_object())
      throw Error(where + ": node " + std::to_string(i) + " must be a JSON object");
    const std::string name = string_field(entry, "name", where + ", node " + std::to_string(i));
    const std::string what = where + ", node '" + name + "'";
    reject_unknown_keys(entry, what, {"name", "op", "inputs", "outputs", "params", "group"});
    if (graph.node_by_name_.count(name))
      throw Error(where + ": duplicate node name '" + name + "'");
    GraphNode node;
    node.id = static_cast<NodeId>(graph.nodes_.size());
    node.name = name;
    node.op = string_field(entry, "op", what);
    try {
      ops::find_op(node.op);
    } catch (const Error& e) {
      throw Error(what + ": " + e.what());
    }
    node.params = entry.value("params", nlohmann::json::object());
    if (!node.params.is_object()) throw Error(what + ": \"params\" must be a JSON object");
    node.group = string_field(entry, "group", what, std::string());
    const std::vector<std::string> outputs = string_list(entry, "outputs", what);
    if (outputs.empty())
      throw Error(what + " needs \"outputs\": the names of the tensors it produces");
    for (const std::string& out : outputs) {
      auto id = graph.find_tensor(out);
      if (!id) {
        GraphTensor t{
            .id = 0,
            .name = out,
            .kind = TensorKind::Activation,
            .spec = ops::TensorSpec(ops::Shape{1}, ops::DataType::BFloat16, ops::Layout::Tile),
            .producer = std::nullopt};
        id = graph.add_tensor(std::move(t));
      }
      GraphTensor& t = graph.tensors_[*id];
      if (t.kind != TensorKind::Activation) {
        throw Error(what + ": output '" + out + "' names a tensor of kind " +
                    std::string(kind_name(t.kind)) + "; a node can only produce activations");
      }
      if (t.producer) {
        throw Error(where + ": tensor '" + out + "' is an output of both node '" +
                    graph.nodes_[*t.producer].name + "' and node '" + name + "'");
      }
      t.producer = node.id;
      node.outputs.push_back(*id);
    }
    graph.node_by_name_.emplace(name, node.id);
    graph.nodes_.push_back(std::move(node));
  }
  // Inputs after every node's outputs exist: a file may list a reader before its producer.
  for (GraphNode& node : graph.nodes_) {
    const nlohmann::json& entry = json["nodes"][node.id];
    const std::string what = where + ", node '" + node.name + "'";
    const std::vector<std::string> inputs = string_list(entry, "inputs", what);
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      const auto id = graph.find_tensor(inputs[k]);
      if (!id) {
        throw Error(what + ": input " + std::to_string(k) + " names tensor '" + inputs[k] +
                    "', which no tensor has (dangling edge; list it under \"tensors\" or as "
                    "another node's output)");
      }
      node.inputs.push_back(*id);
    }
  }
  for (const GraphTensor& t : graph.tensors_) {
    if (t.kind == TensorKind::Activation && !t.producer) {
      throw Error(where + ": activation tensor '" + t.name +
                  "' is no node's output (dangling edge)");
    }
    auto it = recorded_producer.find(t.id);
    if (it != recorded_producer.end() && it->second != graph.nodes_[*t.producer].name) {
      throw Error(where + ": tensor '" + t.name + "' says its producer is '" + it->second +
                  "' but node '" + graph.nodes_[*t.producer].name + "' produces it");
    }
  }

  // 3. Order (throws naming a cycle), then 4. derive every node's outputs as add_op does and
  //    compare them with the recorded specs.
  for (NodeId n : graph.topological_order()) {
    const GraphNode& node = graph.nodes_[n];
    const std::vector<ops::TensorSpec> derived = graph.derive_output_specs(node);
    if (derived.size() != node.outputs.size()) {
      throw Error(where + ", node '" + node.name + "': op '" + node.op + "' produces " +
                  std::to_string(derived.size()) + " output(s) but the node lists " +
                  std::to_string(node.outputs.size()));
    }
    for (std::size_t k = 0; k < derived.size(); ++k) {
      GraphTensor& t = graph.tensors_[node.outputs[k]];
      if (recorded_spec.count(t.id) && !(t.spec == derived[k])) {
        throw Error(where + ", node '" + node.name + "' (op '" + node.op +
                    "'): shape mismatch on output '" + t.name +
                    "': " + mismatch_text(t.spec, derived[k]));
      }
      t.spec = derived[k];
    }
  }

  for (const std::string& out : string_list(json, "outputs", where)) {
    const auto id = graph.find_tensor(out);
    if (!id) throw Error(where + ": output '" + out + "' names no tensor");
    graph.mark_output(*id);
  }
  return graph;
}

namespace {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot open graph file '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error("graph file '" + path + "' is not valid JSON: " + e.what());
  }
}

}  // namespace

Graph Graph::load(const std::string& path, const arch::DeviceSpec& device) {
  const nlohmann::json json = read_json_file(path);
  try {
    return from_json(json, device);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

void Graph::save(const std::string& path) const {
  std::ofstream out(path);
  if (!out) throw Error("cannot write graph file '" + path + "'");
  out << to_json().dump(1) << "\n";
  if (!out) throw Error("error writing graph file '" + path + "'");
}

std::optional<std::string> Graph::file_device(const std::string& path) {
  const nlohmann::json json = read_json_file(path);
  if (json.is_object() && json.contains("device") && json["device"].is_string())
    return json["device"].get<std::string>();
  return std::nullopt;
}

}  // namespace wormsim::workloads
