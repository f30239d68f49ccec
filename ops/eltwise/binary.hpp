#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/eltwise/eltwise_program.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

enum class BinaryOpType { Add, Sub, Mul };
std::string_view to_string(BinaryOpType type);  // "ADD", "SUB", "MUL" (BinaryOpType::<name>)

struct BinaryOptions {
  BinaryOpType type{BinaryOpType::Add};
  ComputeKernelConfig compute{};         // math_fidelity matters for mul only
  std::optional<DataType> output_dtype;  // default: input a's
  std::optional<MemoryConfig>
      output_memory;       // default: the memory config of the input shaped like the output
  std::string activation;  // fused unary on the output ("" = none)
};

// NumPy-style broadcast of two shapes (aligned at the last dim; every dim equal or 1).
// Throws Error naming `op`, both shapes and the clashing dim.
Shape broadcast_shape(const Shape& a, const Shape& b, const std::string& op);

// ttnn.add / ttnn.subtract / ttnn.multiply (binary_ng): out = act(a op b) with broadcasting
// of either operand (scalar [1,1,1,1], row [..,1,N], column [..,M,1], batch / channel dims).
// add and sub run ELWADD/ELWSUB on the FPU; mul runs ELWMUL with math-fidelity phases. Two
// float32 operands take the SFPU path (exact fp32), as binary_ng's is_sfpu does.
class BinaryOp : public Operation {
 public:
  explicit BinaryOp(BinaryOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "BinaryNgDeviceOperation"; }
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
  std::uint64_t flops(const std::vector<TensorSpec>& inputs,
                      const std::vector<TensorSpec>& outputs) const override;

  // Compute cycles of one output tile: unpack both operands, the FPU op (fidelity phases for
  // mul), the fused activation on the SFPU, pack.
  sim::Cycle tile_cycles(const std::vector<TensorSpec>& inputs, const TensorSpec& output,
                         const arch::DeviceSpec& device) const;
  const BinaryOptions& options() const { return options_; }

 private:
  StreamProgramSpec stream_spec(const std::vector<TensorSpec>& inputs, const TensorSpec& output,
                                const arch::DeviceSpec& device) const;
  bool fp32_dest(const std::vector<TensorSpec>& inputs, const TensorSpec& output) const;

  BinaryOptions options_;
  // Resolved by output_specs (attributes print them).
  mutable MemoryConfig memory_{};
  mutable std::string subtile_broadcast_{"NONE"};
  mutable bool is_sfpu_{false};
  mutable DataType input_dtype_{DataType::BFloat16};
  mutable DataType output_dtype_{DataType::BFloat16};
  mutable std::string worker_grid_;
};

}  // namespace wormsim::ops
