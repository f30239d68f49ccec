#pragma once
#include <optional>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/normalization/row_program.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

enum class NormType { LayerNorm, RmsNorm };

struct LayerNormOptions {
  NormType type{NormType::LayerNorm};
  double epsilon{1e-12};                                         // TT-NN's default
  ComputeKernelConfig compute{arch::MathFidelity::HiFi4, true};  // TT-NN's default: approx on
  std::optional<DataType> output_dtype;                          // default: the input's
  std::optional<MemoryConfig> output_memory;                     // default: the input's
};

// ttnn.layer_norm / ttnn.rms_norm over the last dim, inputs (x, [gamma, [beta]]):
//   layernorm: y = (x - mean) / sqrt(var + eps) * gamma + beta
//   rmsnorm:   y = x / sqrt(mean(x^2) + eps) * gamma + beta
// gamma / beta hold one value per column ([1, 1, 1, W] or [W]). Width- and block-sharded
// inputs combine their partial row statistics across the cores of a row.
class LayerNormOp : public Operation {
 public:
  explicit LayerNormOp(LayerNormOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "LayerNormDeviceOperation"; }
  std::string attributes() const override;
  std::optional<arch::MathFidelity> math_fidelity() const override {
    return options_.compute.math_fidelity;
  }
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;
  PerfModel perf_model(const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs,
                       const arch::DeviceSpec& device) const override;

  RowProgramSpec row_program(const std::vector<TensorSpec>& inputs, const TensorSpec& output,
                             const arch::DeviceSpec& device) const;

 private:
  LayerNormOptions options_;
  mutable MemoryConfig memory_{};
  mutable bool sharded_{false};
};

struct GroupNormOptions {
  std::uint32_t num_groups{32};
  double epsilon{1e-12};                                         // TT-NN's default
  ComputeKernelConfig compute{arch::MathFidelity::HiFi4, true};  // TT-NN's default: approx on
  std::optional<DataType> output_dtype;
  std::optional<MemoryConfig> output_memory;
};

// ttnn.group_norm on TT-NN's [N, 1, H*W, C] layout, inputs (x, [gamma, [beta]]): the
// statistics of each (batch, group of C / num_groups channels) cover all H*W rows, so every
// core working on a batch exchanges partial sums with the batch's other cores.
class GroupNormOp : public Operation {
 public:
  explicit GroupNormOp(GroupNormOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "GroupNormDeviceOperation"; }
  std::string attributes() const override;
  std::optional<arch::MathFidelity> math_fidelity() const override {
    return options_.compute.math_fidelity;
  }
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;
  PerfModel perf_model(const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs,
                       const arch::DeviceSpec& device) const override;

  RowProgramSpec row_program(const std::vector<TensorSpec>& inputs, const TensorSpec& output,
                             const arch::DeviceSpec& device) const;

 private:
  GroupNormOptions options_;
  mutable MemoryConfig memory_{};
};

// Sum over passes of tiles x tile cost + domains x domain cost, spread over the worker grid:
// the compute part of the norms' perf model.
double row_program_ideal_cycles(const RowProgramSpec& spec, std::uint64_t domains,
                                const arch::DeviceSpec& device);

}  // namespace wormsim::ops
