#pragma once
// ttnn.conv2d: TT-NN's sliding-window convolution (op code "OptimizedConvNew"; tt-metal renamed
// the device op Conv2d / Conv2dDeviceOperation in 2025 profiles).
//
// Tensors (TT-NN's device layouts):
//   input   [1, 1, N*H*W, C_in]   NHWC flattened to sticks, ROW_MAJOR (bf16/fp32) or TILE;
//                                  L1 HEIGHT_SHARDED / BLOCK_SHARDED, or interleaved (L1 or DRAM).
//   weight  [1, 1, kh*kw*C_in, C_out] TILE, interleaved (DRAM): TT-NN's prepared weight matrix.
//           Row (ky*kw + kx)*C_in + c holds the PyTorch weight W[c_out][c % (C_in/groups)][ky][kx]
//           for every output channel of c's group. Entries of other groups are the structural
//           zeros of TT-NN's grouped layout (prepare_conv2d_weights expands grouped and depthwise
//           weights block-diagonally); wormsim reads them as zero whatever the tensor holds.
//   bias    [1, 1, 1, C_out] TILE (optional).
//   output  [1, 1, N*OH*OW, C_out] TILE, sharded like the input (each core's per_core_out_matrix
//           rows, whole tiles) or DRAM interleaved.
//
// Device numerics: the im2col rows a core's reader gathers, tilized (bf16, or fp32 for fp32
// input), times the weight matrix on the FPU via numerics::fidelity_matmul with the op's math
// fidelity, Dst accumulation mode and K blocking (each K block = one act_block_w; partials spill
// between blocks as TT-NN's conv compute kernel does), then bias, activation and the output
// format. The golden is a direct fp32 convolution of the golden input and weights.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/conv/sliding_window.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

enum class ConvShardLayout { Height, Block };
std::string_view to_string(ConvShardLayout layout);

struct Conv2dOptions {
  SlidingWindow window;
  std::uint32_t in_channels{0};   // 0: taken from the input's width
  std::uint32_t out_channels{0};  // 0: taken from the weight's width
  std::uint32_t groups{1};
  std::string activation;         // "" or a unary op (relu, gelu, silu, ...) fused into the pack
  ComputeKernelConfig compute{};  // TT-NN's conv default: HiFi4, 16-bit Dst
  ConvShardLayout shard_layout{ConvShardLayout::Height};
  std::optional<DataType> output_dtype;  // default: the input's (bf16 for block-float inputs)
  bool output_in_dram{false};            // DRAM interleaved output instead of L1 shards
  std::uint32_t grid_x{0};               // grid for an interleaved input (0: the worker grid)
  std::uint32_t grid_y{0};
  std::uint32_t act_block_h_ntiles{0};  // 0: the largest divisor of per-core M that fits L1
  // TT-NN's enable_act_double_buffer (default off): two act blocks in the act CB, so the readers
  // gather the next block while the compute kernel tilizes this one.
  bool act_double_buffer{false};
  // TT-NN's force_split_reader: set, it turns the split reader on or off instead of tt-metal's
  // cost rule (it still needs act blocks of two tiles or more, and the conv path).
  std::optional<bool> force_split_reader;
};

// One K block of the device's im2col matrix: a contiguous range of one "K sequence" (height
// sharding: one kernel row, entries (kx, c); block sharding: one channel slice, entries
// (ky, kx, c)), padded to whole tiles.
struct ConvKBlock {
  std::uint32_t sequence{0};         // kernel row (height) or channel slice (block)
  std::uint32_t first{0};            // first entry of the sequence
  std::uint32_t count{0};            // entries
  std::uint32_t gather_segments{0};  // contiguous L1 runs one output row's entries form
};

// How the op runs: TT-NN's parallelization and block configs plus the halo plan.
struct ConvPlan {
  bool block{false};
  std::uint32_t grid_x{1};       // core columns (channel slices); 1 for height sharding
  std::uint32_t grid_y{1};       // cores along NHW
  std::uint32_t per_core_M{1};   // output tiles along NHW per core
  std::uint32_t per_core_N{1};   // output tiles along C_out per core column
  std::uint32_t act_block_h{1};  // tiles
  std::uint32_t in0_block_w{1};  // tiles per K block (act_block_w_ntiles)
  std::uint32_t chunks_per_sequence{1};
  std::uint32_t subblock_h{1};
  std::uint32_t subblock_w{1};
  bool weights_resident{false};  // every K block's weights stay in L1 for all act blocks
  // tt-metal's split reader: the weights RISC (BRISC) gathers the second part of every act
  // block's rows too, before its weight block (see split_reader_pays in conv2d.cpp).
  bool split_reader{false};
  // Act blocks the act CB holds: tt-metal's one, two with enable_act_double_buffer (the matmul
  // path keeps two: wormsim copies the shard there, a conservative L1 count).
  std::uint32_t act_cb_blocks{1};
  // tt-metal's matmul path of a 1x1 conv (see runs_on_its_input_shard in conv2d.cpp): the input
  // shard is the act operand as it is, so there is no halo, window gather or tilize.
  bool act_in_place{false};
  // Tile format of the matmul's in0 (act) blocks: the input shard's own on the matmul path;
  // else the conv's output dtype, since tt-metal's conv tilizes the gathered row-major act block
  // into the output's format (tilized_act_df in conv2d_op_sharded_program_factory.cpp).
  DataType act_type{DataType::BFloat16};
  std::uint32_t channels_per_slice{0};
  std::vector<ConvKBlock> k_blocks;
  std::optional<HaloPlan> halo;
  std::uint64_t cb_bytes_per_core{0};
  std::uint32_t num_k_blocks() const { return static_cast<std::uint32_t>(k_blocks.size()); }
  std::uint32_t num_act_blocks() const { return per_core_M / act_block_h; }
  // Act block tile rows the act RISC (NCRISC) gathers; the rest go to BRISC with a split reader.
  std::uint32_t first_reader_tile_rows() const {
    return split_reader ? (act_block_h + 1) / 2 : act_block_h;
  }
};

class Conv2dOp : public Operation {
 public:
  explicit Conv2dOp(Conv2dOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "OptimizedConvNew"; }
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

  const Conv2dOptions& options() const { return options_; }
  // The plan of the last output_specs() call.
  const ConvPlan& plan() const;
  // Output tile products every core computes (M x K x N tiles, K as the device pads it).
  std::uint64_t tile_products() const;
  // Cores that compute output tiles.
  std::uint32_t compute_cores() const;

 private:
  Conv2dOptions options_;
  mutable std::optional<ConvPlan> plan_;
  mutable bool has_bias_{false};
  mutable std::uint32_t in_channels_{0};
  mutable std::uint32_t out_channels_{0};
  mutable std::string memory_attribute_;
};

// Direct fp32 convolution of NHWC sticks (the golden): input [N*H*W, in_width] row-major,
// weights [kh*kw*C_in, w_width] in the layout above, bias [C_out] or empty; returns
// [N*OH*OW, out_width] row-major.
std::vector<float> direct_conv2d(const SlidingWindow& window, const std::vector<float>& input,
                                 std::size_t in_width, std::uint32_t in_channels,
                                 const std::vector<float>& weights, std::size_t w_width,
                                 std::uint32_t out_channels, std::uint32_t groups,
                                 const std::vector<float>& bias, std::size_t out_width);

}  // namespace wormsim::ops
