#pragma once
#include <optional>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/normalization/row_program.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

struct SoftmaxOptions {
  double scale{1.0};          // x * scale before the softmax (attention's 1/sqrt(d))
  bool inplace{false};        // output overwrites the input buffer
  bool numeric_stable{true};  // subtract the row max before exp
  ComputeKernelConfig compute{arch::MathFidelity::HiFi4, true};  // TT-NN's default: approx on
  std::optional<DataType> output_dtype;                          // default: the input's
  std::optional<MemoryConfig> output_memory;                     // default: the input's
};

// ttnn.softmax / scale_mask_softmax(_in_place) over the last dim:
//   y = exp(t - max(t)) / sum(exp(t - max(t))),  t = x * scale + mask.
// The optional mask (second input) is added to every row: shape [W|1, Z|1, H|1, X] against
// the input [W, Z, H, X] (broadcast over heads and/or rows).
class SoftmaxOp : public Operation {
 public:
  explicit SoftmaxOp(SoftmaxOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "SoftmaxDeviceOperation"; }
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

  // The passes over each row with their per-tile costs (see softmax.cpp).
  RowProgramSpec row_program(const std::vector<TensorSpec>& inputs, const TensorSpec& output,
                             const arch::DeviceSpec& device) const;

 private:
  SoftmaxOptions options_;
  mutable MemoryConfig memory_{};
};

}  // namespace wormsim::ops
