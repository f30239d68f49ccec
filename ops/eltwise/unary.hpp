#pragma once
#include <optional>
#include <string>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/eltwise/eltwise_program.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

struct UnaryOptions {
  std::string function{"relu"};               // a name ops/unary_functions.hpp knows
  ComputeKernelConfig compute{};              // math_approx_mode picks the SFPU approximation
  std::optional<DataType> output_dtype;       // default: the input's
  std::optional<MemoryConfig> output_memory;  // default: the input's
};

// ttnn.gelu / relu / silu / exp / sigmoid / tanh / sqrt / reciprocal / rsqrt / ... : one SFPU
// function per element. The tile is unpacked into Dst, the SFPU rewrites it, the packer stores
// it in the output format.
class UnaryOp : public Operation {
 public:
  explicit UnaryOp(UnaryOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "UnaryDeviceOperation"; }
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

  // unpack + SFPU function (its approximate variant when math_approx_mode and the spec has one)
  // + pack.
  sim::Cycle tile_cycles(const TensorSpec& input, const TensorSpec& output,
                         const arch::DeviceSpec& device) const;

 private:
  // TT-NN turns fp32 Dst on for 32-bit inputs or outputs.
  bool fp32_dest(const TensorSpec& input, const TensorSpec& output) const;

  UnaryOptions options_;
  mutable MemoryConfig memory_{};
  mutable DataType output_dtype_{DataType::BFloat16};
  mutable bool fp32_dest_{false};
};

struct TypecastOptions {
  DataType output_dtype{DataType::BFloat16};
  ComputeKernelConfig compute{};
  std::optional<MemoryConfig> output_memory;  // default: the input's
};

// ttnn.typecast: the same values in another number format (unpack, SFPU typecast, pack).
class TypecastOp : public Operation {
 public:
  explicit TypecastOp(TypecastOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "TypecastDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;
  PerfModel perf_model(const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs,
                       const arch::DeviceSpec& device) const override;

  sim::Cycle tile_cycles(const TensorSpec& input, const TensorSpec& output,
                         const arch::DeviceSpec& device) const;

 private:
  TypecastOptions options_;
  mutable MemoryConfig memory_{};
  mutable DataType input_dtype_{DataType::BFloat16};
};

// The streaming plan of a one-input eltwise op (identity tile map).
StreamProgramSpec unary_stream_spec(const TensorSpec& input, const TensorSpec& output,
                                    sim::Cycle tile_cycles, std::uint32_t block_tiles);

}  // namespace wormsim::ops
