#pragma once
// Small hand-built graphs shared by the workloads tests.
#include <cmath>
#include <string>

#include "arch/device_spec.hpp"
#include "ops/tensor_spec.hpp"
#include "workloads/graph.hpp"

namespace wormsim::workloads::testing {

inline const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

inline ops::TensorSpec bf16(std::initializer_list<std::uint32_t> dims,
                            ops::MemoryConfig memory = ops::MemoryConfig::dram_interleaved(),
                            ops::DataType type = ops::DataType::BFloat16) {
  return ops::TensorSpec(ops::Shape(dims), type, ops::Layout::Tile, memory);
}

// y = relu(x @ W1 + b1) @ W2: matmul, add (row broadcast), relu, matmul.
inline Graph tiny_mlp(const arch::DeviceSpec& device = n300(), std::uint32_t rows = 64,
                      std::uint32_t in = 128, std::uint32_t hidden = 256, std::uint32_t out = 64,
                      ops::DataType weight_type = ops::DataType::BFloat16) {
  Graph g("tiny-mlp", device);
  const TensorId x = g.add_input("x", bf16({1, 1, rows, in}));
  // Scales ~ 1/sqrt(fan_in) keep activations O(1), as a trained model's would be.
  const TensorId w1 = g.add_weight(
      "fc1.weight", bf16({1, 1, in, hidden}, ops::MemoryConfig::dram_interleaved(), weight_type),
      "uniform", 1.0 / std::sqrt(static_cast<double>(in)));
  const TensorId b1 = g.add_weight("fc1.bias", bf16({1, 1, 1, hidden}), "uniform", 0.1);
  const TensorId w2 = g.add_weight(
      "fc2.weight", bf16({1, 1, hidden, out}, ops::MemoryConfig::dram_interleaved(), weight_type),
      "uniform", 1.0 / std::sqrt(static_cast<double>(hidden)));
  const TensorId h = g.op("fc1", "matmul", {x, w1}, nlohmann::json::object(), "mlp");
  const TensorId hb = g.op("fc1.bias_add", "add", {h, b1}, nlohmann::json::object(), "mlp");
  const TensorId a = g.op("act", "relu", {hb}, nlohmann::json::object(), "mlp");
  const TensorId y = g.op("fc2", "matmul", {a, w2}, nlohmann::json::object(), "head");
  g.mark_output(y);
  return g;
}

// x -> relu -> relu -> ... (length nodes), every activation in L1 (interleaved).
inline Graph l1_chain(std::size_t length, std::uint32_t rows = 512, std::uint32_t cols = 1024,
                      const arch::DeviceSpec& device = n300()) {
  Graph g("l1-chain", device);
  TensorId t = g.add_input("x", bf16({1, 1, rows, cols}, ops::MemoryConfig::l1_interleaved()));
  for (std::size_t i = 0; i < length; ++i) {
    t = g.op("relu" + std::to_string(i), "relu", {t}, {{"output_memory", "l1-interleaved"}});
  }
  g.mark_output(t);
  return g;
}

}  // namespace wormsim::workloads::testing
