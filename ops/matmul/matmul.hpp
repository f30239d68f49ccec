#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

// The four matmul program factories of TT-NN.
enum class MatmulProgramKind {
  MultiCoreReuse,     // MatmulMultiCoreReuseProgramConfig: no multicast, each core reads its operands
  MultiCast2D,        // MatmulMultiCoreReuseMultiCastProgramConfig: in0 along rows, in1 down columns
  MultiCast1D,        // MatmulMultiCoreReuseMultiCast1DProgramConfig: mcast_in0 or mcast_in1
  DramSharded,        // MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig
};
std::string_view to_string(MatmulProgramKind kind);

struct MatmulProgramConfig {
  MatmulProgramKind kind{MatmulProgramKind::MultiCast2D};
  std::uint32_t grid_x{1};  // compute_with_storage_grid_size
  std::uint32_t grid_y{1};
  std::uint32_t in0_block_w{1};
  std::uint32_t out_subblock_h{1};
  std::uint32_t out_subblock_w{1};
  std::uint32_t per_core_M{1};
  std::uint32_t per_core_N{1};
  // A core's output is produced in out_block_h x out_block_w tile blocks, each with its own
  // K loop, so a per-core output larger than L1 still runs (0 = the whole per-core block).
  std::uint32_t out_block_h{0};
  std::uint32_t out_block_w{0};
  bool transpose_mcast{false};  // 2D: M along grid x, N along grid y
  bool mcast_in0{true};         // 1D: true = width-parallel (in0 multicast), false = height-parallel
  bool fuse_batch{true};
  std::string fused_activation;  // unary op applied in the packer pass ("" = none)

  std::uint32_t block_h() const { return out_block_h == 0 ? per_core_M : out_block_h; }
  std::uint32_t block_w() const { return out_block_w == 0 ? per_core_N : out_block_w; }
};
// tt-metal's printed program config, e.g. "MatmulMultiCoreReuseMultiCastProgramConfig(
// compute_with_storage_grid_size=(x=8;y=8);in0_block_w=4;out_subblock_h=1;...)".
std::string to_attribute_string(const MatmulProgramConfig& config);

struct MatmulOptions {
  std::optional<MatmulProgramConfig> program_config;  // nullopt: chosen like TT-NN does
  ComputeKernelConfig compute{};
  MemoryConfig output_memory{};                       // DRAM interleaved by default
  std::optional<DataType> output_dtype;               // default: in0's
  std::string activation;                             // "", "gelu", "relu", "silu", ...
  bool strict{false};                                 // an invalid program config is an error, not a fallback
};

// ttnn.matmul / ttnn.linear: out = act(in0 @ in1 + bias). Inputs: in0 [..., M, K],
// in1 [K, N] or [..., K, N] (batched), optional bias [..., N] (broadcast over rows).
class MatmulOp : public Operation {
 public:
  explicit MatmulOp(MatmulOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "Matmul"; }
  std::string attributes() const override;
  std::optional<arch::MathFidelity> math_fidelity() const override { return options_.compute.math_fidelity; }
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs, const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;
  PerfModel perf_model(const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs,
                       const arch::DeviceSpec& device) const override;
  std::uint64_t flops(const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const override;
  std::string fallback_reason() const override { return fallback_; }

  // The program config this op runs with (the requested one, or its replacement).
  const MatmulProgramConfig& resolved_config() const { return resolved_; }
  const MatmulOptions& options() const { return options_; }

 private:
  MatmulOptions options_;
  mutable MatmulProgramConfig resolved_{};
  mutable std::string fallback_;
};

// Matmul dimensions in tiles as the program factories see them.
struct MatmulShape {
  std::uint64_t batch{1};  // batches of in1 (1 = in1 is shared: batch folds into M)
  std::uint64_t Mt{1};
  std::uint64_t Kt{1};
  std::uint64_t Nt{1};
};
MatmulShape matmul_shape(const TensorSpec& in0, const TensorSpec& in1);

// tt-metal's single-core matmul test program (tests/scripts test_compute_mm --one-core): in0
// [Mt x Kt] and in1 [Kt x Nt] tiles resident in one core's L1, the compute kernel looping over
// K in `num_blocks` blocks of Kt tiles each (the same data every block), output left in L1.
ProgramTiming run_single_core_matmul_test(Device& device, std::uint32_t Mt, std::uint32_t Kt, std::uint32_t Nt,
                                          std::uint32_t num_blocks, std::uint32_t subblock_h, std::uint32_t subblock_w,
                                          DataType type, const ComputeKernelConfig& compute);

// Chooses a program config the way TT-NN's matmul does when none is given.
MatmulProgramConfig choose_matmul_config(const TensorSpec& in0, const TensorSpec& in1, const MemoryConfig& output,
                                         const ComputeKernelConfig& compute, const arch::DeviceSpec& device);
// Empty if `config` is valid for these operands; otherwise why it is not.
std::string matmul_config_problem(const MatmulProgramConfig& config, const TensorSpec& in0, const TensorSpec& in1,
                                  const ComputeKernelConfig& compute, const arch::DeviceSpec& device);

}  // namespace wormsim::ops
