#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/tensor_spec.hpp"

namespace wormsim::workloads {

using TensorId = std::uint32_t;
using NodeId = std::uint32_t;

// Where a graph tensor's values come from.
enum class TensorKind {
  Input,     // fed by the host each inference (e.g. the image)
  Weight,    // a model parameter: synthetic (seeded) or loaded from HDF5 by name
  Constant,  // a fixed tensor the model builds (masks, position ids)
  Activation // produced by a node
};

struct GraphTensor {
  TensorId id{0};
  std::string name;  // unique; weights use their HDF5 dataset name (see docs/graph-format.md)
  TensorKind kind{TensorKind::Activation};
  ops::TensorSpec spec;
  std::optional<NodeId> producer;  // set for activations
  // Synthetic weight initialisation: values ~ U(-scale, scale) (scale 0 = ones for gamma-like
  // tensors is expressed by init "ones" / "zeros").
  std::string init{"uniform"};  // "uniform", "ones", "zeros", "normal"
  double init_scale{0.02};
};

struct GraphNode {
  NodeId id{0};
  std::string name;            // unique, e.g. "encoder.layer.3.attention.query"
  std::string op;              // registered op name (ops/op_registry.hpp): "matmul", "add", ...
  nlohmann::json params;       // op parameters (see each op's registration)
  std::vector<TensorId> inputs;
  std::vector<TensorId> outputs;
  std::string group;           // layer group for reports and per-group dtype/fidelity ("encoder", "head")
};

// A model as TT-NN runs it: op invocations (nodes) connected by tensors (edges).
// Build with add_input / add_weight / add_op; output specs come from the ops themselves.
class Graph {
 public:
  Graph(std::string name, const arch::DeviceSpec& device);

  const std::string& name() const noexcept { return name_; }
  const arch::DeviceSpec& device() const noexcept { return *device_; }

  TensorId add_input(const std::string& name, const ops::TensorSpec& spec);
  TensorId add_weight(const std::string& name, const ops::TensorSpec& spec, const std::string& init = "uniform",
                      double scale = 0.02);
  TensorId add_constant(const std::string& name, const ops::TensorSpec& spec, const std::string& init = "zeros");
  // Adds an op node; validates it by asking the op for its output specs (throws wormsim::Error
  // naming the node if the op rejects its inputs). Returns the output tensor ids.
  std::vector<TensorId> add_op(const std::string& name, const std::string& op, const std::vector<TensorId>& inputs,
                               const nlohmann::json& params = nlohmann::json::object(), const std::string& group = "");
  // Single-output convenience.
  TensorId op(const std::string& name, const std::string& op, const std::vector<TensorId>& inputs,
              const nlohmann::json& params = nlohmann::json::object(), const std::string& group = "");
  void mark_output(TensorId tensor);

  const std::vector<GraphTensor>& tensors() const noexcept { return tensors_; }
  const std::vector<GraphNode>& nodes() const noexcept { return nodes_; }
  const std::vector<TensorId>& outputs() const noexcept { return outputs_; }
  const GraphTensor& tensor(TensorId id) const;
  const GraphNode& node(NodeId id) const;
  const ops::TensorSpec& spec(TensorId id) const { return tensor(id).spec; }

  // Nodes in an order where every input is produced before use (Kahn; ties by insertion).
  // Throws wormsim::Error naming the nodes of a cycle.
  std::vector<NodeId> topological_order() const;
  // For each tensor, the last node (in topological order) that reads it; freed after it.
  std::map<TensorId, NodeId> last_uses(const std::vector<NodeId>& order) const;

  std::uint64_t parameter_count() const;  // logical elements of all weights
  std::uint64_t flops() const;            // sum of the ops' FLOPs (per inference of the whole batch)

  // JSON round trip (docs/graph-format.md, workloads/graph.schema.json). Loading validates:
  // unknown op, shape mismatch, cycle, dangling edge, duplicate names -> wormsim::Error.
  nlohmann::json to_json() const;
  static Graph from_json(const nlohmann::json& json, const arch::DeviceSpec& device);

 private:
  TensorId add_tensor(GraphTensor tensor);
  std::string name_;
  const arch::DeviceSpec* device_;
  std::vector<GraphTensor> tensors_;
  std::vector<GraphNode> nodes_;
  std::vector<TensorId> outputs_;
  std::map<std::string, TensorId> tensor_by_name_;
  std::map<std::string, NodeId> node_by_name_;
};

}  // namespace wormsim::workloads
