#pragma once
// Pooling and resampling ops of TT-NN's CNN path:
//   max_pool2d / avg_pool2d -> "Pool2D" (ttnn/cpp/ttnn/operations/pool/generic/device/pool_op.hpp;
//                              profiler op name "Pool2D", tests/ttnn perf tests use that name),
//   global_avg_pool2d       -> "ReduceDeviceOperation" (TT-NN reshapes [N,H,W,C] to [N,1,H*W,C]
//                              and sums over H*W with scaler 1/(H*W): global_avg_pool.cpp),
//   upsample                -> "UpsampleOperation"
//   (pool/upsample/device/upsample_device_operation.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/conv/sliding_window.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

enum class PoolType { Max, Avg };

struct Pool2dOptions {
  PoolType type{PoolType::Max};
  SlidingWindow window;
  bool count_include_pad{true};  // avg: divide by kh*kw (true) or by the taps inside the image
  bool block_sharded{false};     // one channel slice per grid column
  bool output_in_dram{false};
  std::uint32_t grid_x{0};  // grid for an interleaved input (0: the worker grid)
  std::uint32_t grid_y{0};
  ComputeKernelConfig compute{};  // avg: fidelity of the scaler multiply and Dst mode
};

// ttnn.max_pool2d / ttnn.avg_pool2d. Input [1, 1, N*H*W, C] (ROW_MAJOR or TILE; sharded or
// interleaved), output ROW_MAJOR [1, 1, N*OH*OW, C] sharded over the same cores (or DRAM).
// Max: padding taps are -inf, the result is exact. Avg: sum of x * bf16(1/divisor) with
// products as the FPU forms them (math fidelity) and Dst rounding per 16 taps without fp32 Dst.
// Kernels: halo phase, then per block of 32 output sticks the reader gathers the window sticks
// (one NoC read per window row) and the compute tilizes and reduces them per channel tile.
class Pool2dOp : public Operation {
 public:
  explicit Pool2dOp(Pool2dOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "Pool2D"; }
  std::string attributes() const override;
  std::optional<arch::MathFidelity> math_fidelity() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;

  const HaloPlan& plan() const;

 private:
  Pool2dOptions options_;
  mutable std::optional<HaloPlan> plan_;
  mutable std::uint32_t channels_{0};
  mutable std::string memory_attribute_;
};

// ttnn.global_avg_pool2d: input [N, H, W, C] TILE, interleaved; output [N, 1, 1, C] TILE in the
// input's buffer type. Each core reduces whole columns of tiles (one batch, one channel tile):
// Ht tiles of reduce (sum with the scaler 1/(H*W)) and one packed tile. Numerics: the FPU's
// scaler reduction, i.e. fidelity_matmul of the scaler row (SrcB) with the column (SrcA).
struct GlobalAvgPoolOptions {
  ComputeKernelConfig compute{};
  std::optional<DataType> output_dtype;
};

class GlobalAvgPool2dOp : public Operation {
 public:
  explicit GlobalAvgPool2dOp(GlobalAvgPoolOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "ReduceDeviceOperation"; }
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

 private:
  GlobalAvgPoolOptions options_;
  mutable float scaler_{1.0f};
  mutable std::string memory_attribute_;
};

enum class UpsampleMode { Nearest, Bilinear };

struct UpsampleOptions {
  UpsampleMode mode{UpsampleMode::Nearest};
  std::uint32_t scale_h{1};
  std::uint32_t scale_w{1};
  ComputeKernelConfig compute{};  // bilinear: fidelity of the weight multiplies
};

// ttnn.upsample: input [N, H, W, C] ROW_MAJOR (L1 HEIGHT_SHARDED, or interleaved for nearest),
// output [N, H*sh, W*sw, C] in the same kind of memory. Nearest copies every input stick
// sh*sw times (exact). Bilinear (PyTorch align_corners=False) needs height-sharded input: a halo
// phase brings the neighbouring input rows, then each output stick is the weighted sum of four
// input sticks (weights in bf16, products with the op's fidelity).
class UpsampleOp : public Operation {
 public:
  explicit UpsampleOp(UpsampleOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "UpsampleOperation"; }
  std::string attributes() const override;
  std::optional<arch::MathFidelity> math_fidelity() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;

 private:
  UpsampleOptions options_;
  mutable std::optional<HaloPlan> plan_;  // bilinear
  mutable std::string memory_attribute_;
};

}  // namespace wormsim::ops
