#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/tensor_spec.hpp"

namespace wormsim::workloads {

using TensorId = std::uint32_t;
using NodeId = std::uint32_t;

// init_scale of a weight unless the builder says otherwise.
inline constexpr double kDefaultWeightScale = 0.02;

// Where a graph tensor's values come from.
enum class TensorKind {
  Input,      // fed by the host each inference (e.g. the image)
  Weight,     // a model parameter: synthetic (seeded) or loaded from HDF5 by name
  Constant,   // a fixed tensor the model builds (masks, position ids)
  Activation  // produced by a node
};
// "input", "weight", "constant", "activation" (the graph file's "kind").
std::string_view to_string(TensorKind kind);

struct GraphTensor {
  TensorId id{0};
  std::string name;  // unique; weights use their HDF5 dataset name (see docs/graph-format.md)
  TensorKind kind{TensorKind::Activation};
  ops::TensorSpec spec;
  std::optional<NodeId> producer;  // set for activations
  // Synthetic values of a source tensor when no weights file provides them: "uniform"
  // U(-scale, scale), "normal" N(0, scale), "ones" / "zeros" (gamma / beta-like tensors),
  // "arange" (0, 1, 2, ... over the logical elements, row-major: position ids). Integer tensors
  // draw "uniform" whole numbers from [0, init_scale) (see workloads/executor.hpp).
  std::string init{"uniform"};  // "uniform", "ones", "zeros", "normal", "arange"
  double init_scale{kDefaultWeightScale};
  friend bool operator==(const GraphTensor&, const GraphTensor&) = default;
};

struct GraphNode {
  NodeId id{0};
  std::string name;       // unique, e.g. "encoder.layer.3.attention.query"
  std::string op;         // registered op name (ops/op_registry.hpp): "matmul", "add", ...
  nlohmann::json params;  // op parameters (see each op's registration)
  std::vector<TensorId> inputs;
  std::vector<TensorId> outputs;
  std::string group;  // layer group for reports and per-group dtype/fidelity ("encoder", "head")
  friend bool operator==(const GraphNode&, const GraphNode&) = default;
};

// A model as TT-NN runs it: op invocations (nodes) connected by tensors (edges).
// Build with add_input / add_weight / add_op; output specs come from the ops themselves.
class Graph {
 public:
  Graph(std::string name, const arch::DeviceSpec& device);

  const std::string& name() const noexcept { return name_; }
  const arch::DeviceSpec& device() const noexcept { return *device_; }
  // Samples one inference processes (reports divide by it for FPS); 1 unless the builder says.
  std::uint32_t batch() const noexcept { return batch_; }
  void set_batch(std::uint32_t batch);

  TensorId add_input(const std::string& name, const ops::TensorSpec& spec);
  TensorId add_weight(const std::string& name, const ops::TensorSpec& spec,
                      const std::string& init = "uniform", double scale = kDefaultWeightScale);
  TensorId add_constant(const std::string& name, const ops::TensorSpec& spec,
                        const std::string& init = "zeros");
  // Adds an op node; validates it by asking the op for its output specs (throws wormsim::Error
  // naming the node if the op rejects its inputs). Returns the output tensor ids.
  std::vector<TensorId> add_op(const std::string& name, const std::string& op,
                               const std::vector<TensorId>& inputs,
                               const nlohmann::json& params = nlohmann::json::object(),
                               const std::string& group = "");
  // Single-output convenience.
  TensorId op(const std::string& name, const std::string& op, const std::vector<TensorId>& inputs,
              const nlohmann::json& params = nlohmann::json::object(),
              const std::string& group = "");
  void mark_output(TensorId tensor);
  // Changes how a source tensor (input / weight / constant) is synthesised, e.g. the index
  // range of an integer input: set_init(ids, "uniform", vocab_size).
  void set_init(TensorId tensor, const std::string& init, double scale);

  const std::vector<GraphTensor>& tensors() const noexcept { return tensors_; }
  const std::vector<GraphNode>& nodes() const noexcept { return nodes_; }
  const std::vector<TensorId>& outputs() const noexcept { return outputs_; }
  const GraphTensor& tensor(TensorId id) const;
  const GraphNode& node(NodeId id) const;
  const ops::TensorSpec& spec(TensorId id) const { return tensor(id).spec; }
  std::optional<TensorId> find_tensor(const std::string& name) const;
  std::optional<NodeId> find_node(const std::string& name) const;

  // Nodes in an order where every input is produced before use (Kahn; ties by insertion).
  // Throws wormsim::Error naming the nodes of a cycle.
  std::vector<NodeId> topological_order() const;
  // For each tensor, the last node (in topological order) that reads it; freed after it.
  std::map<TensorId, NodeId> last_uses(const std::vector<NodeId>& order) const;

  std::uint64_t parameter_count() const;  // logical elements of all weights
  std::uint64_t flops() const;  // sum of the ops' FLOPs (per inference of the whole batch)
  std::uint64_t node_flops(NodeId node) const;

  // Same name, tensors (ids, names, kinds, specs, inits), nodes and outputs; the device is not
  // compared.
  bool operator==(const Graph& other) const;

  // JSON round trip (docs/graph-format.md, workloads/graph.schema.json). Loading validates:
  // unknown op, shape mismatch, cycle, dangling edge, duplicate names -> wormsim::Error.
  nlohmann::json to_json() const;
  static Graph from_json(const nlohmann::json& json, const arch::DeviceSpec& device);
  // The same through a file; errors name the file.
  static Graph load(const std::string& path, const arch::DeviceSpec& device);
  void save(const std::string& path) const;
  // The "device" a graph file was built for, if it says (to pick the default device).
  static std::optional<std::string> file_device(const std::string& path);

 private:
  TensorId add_tensor(GraphTensor tensor);
  // Asks the node's op for its output specs; errors name the graph, node and op.
  std::vector<ops::TensorSpec> derive_output_specs(const GraphNode& node) const;
  std::string name_;
  const arch::DeviceSpec* device_;  // the caller keeps the spec alive as long as the graph
  std::uint32_t batch_{1};
  std::vector<GraphTensor> tensors_;
  std::vector<GraphNode> nodes_;
  std::vector<TensorId> outputs_;
  std::map<std::string, TensorId> tensor_by_name_;
  std::map<std::string, NodeId> node_by_name_;
};

}  // namespace wormsim::workloads
