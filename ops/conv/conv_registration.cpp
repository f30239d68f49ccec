// JSON parameters of "conv2d", "conv_transpose2d" and "halo" (graph nodes, `wormsim op --json`).
#include "ops/conv/conv2d.hpp"
#include "ops/conv/conv_params.hpp"
#include "ops/conv/halo.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::ops {
namespace {

ConvShardLayout parse_shard_layout(const std::string& text, const TensorSpec& input,
                                   const std::string& op) {
  if (text.empty()) {
    return input.is_sharded() && input.memory_config().layout() == TensorMemoryLayout::BlockSharded
               ? ConvShardLayout::Block
               : ConvShardLayout::Height;
  }
  if (text == "height" || text == "height_sharded" || text == "HEIGHT_SHARDED")
    return ConvShardLayout::Height;
  if (text == "block" || text == "block_sharded" || text == "BLOCK_SHARDED")
    return ConvShardLayout::Block;
  throw Error(op + ": shard_layout '" + text + "' is not supported; use height or block");
}

// conv2d and conv_transpose2d: the same device op, the transposed one over its spread input.
std::unique_ptr<Operation> make_conv(const std::string& op, const nlohmann::json& p,
                                     const std::vector<TensorSpec>& inputs,
                                     const arch::DeviceSpec& device) {
  const bool transposed = op == "conv_transpose2d";
  std::vector<std::string> known{"kernel_size",
                                 "stride",
                                 "padding",
                                 "dilation",
                                 "groups",
                                 "in_channels",
                                 "out_channels",
                                 "batch_size",
                                 "input_height",
                                 "input_width",
                                 "activation",
                                 "math_fidelity",
                                 "math_approx_mode",
                                 "fp32_dest_acc_en",
                                 "packer_l1_acc",
                                 "dst_full_sync_en",
                                 "shard_layout",
                                 "dtype",
                                 "output_memory",
                                 "grid",
                                 "act_block_h_ntiles",
                                 "enable_act_double_buffer",
                                 "force_split_reader"};
  if (transposed) known.push_back("output_padding");
  reject_unknown_params(p, op, known);
  Conv2dOptions o;
  o.window = transposed ? transposed_window_from_params(p, op) : sliding_window_from_params(p, op);
  o.in_channels = static_cast<std::uint32_t>(non_negative_param(p, op, "in_channels", 0));
  o.out_channels = static_cast<std::uint32_t>(non_negative_param(p, op, "out_channels", 0));
  o.groups = static_cast<std::uint32_t>(non_negative_param(p, op, "groups", 1));
  o.activation = param_string(p, op, "activation", "");
  o.compute = compute_config_from_params(p, op, ComputeKernelConfig{});
  o.shard_layout = parse_shard_layout(param_string(p, op, "shard_layout", ""), inputs.at(0), op);
  const std::string dtype = param_string(p, op, "dtype", "");
  if (!dtype.empty()) {
    const auto parsed = parse_data_type(dtype);
    if (!parsed) throw Error(op + ": unknown dtype '" + dtype + "'");
    o.output_dtype = *parsed;
  }
  const std::string memory = param_string(p, op, "output_memory", "l1");
  if (memory == "dram" || memory == "dram-interleaved") {
    o.output_in_dram = true;
  } else if (memory != "l1" && memory != "l1-sharded") {
    throw Error(op + ": output_memory '" + memory +
                "' is not supported; use l1 (sharded like the input) or dram");
  }
  const auto grid = param_ints(p, op, "grid", {device.worker_grid_x(), device.worker_grid_y()});
  if (grid.size() != 2 || grid[0] <= 0 || grid[1] <= 0) throw Error(op + ": grid must be [x, y]");
  o.grid_x = static_cast<std::uint32_t>(grid[0]);
  o.grid_y = static_cast<std::uint32_t>(grid[1]);
  o.act_block_h_ntiles =
      static_cast<std::uint32_t>(non_negative_param(p, op, "act_block_h_ntiles", 0));
  o.act_double_buffer = param_bool(p, op, "enable_act_double_buffer", false);
  if (p.contains("force_split_reader"))
    o.force_split_reader = param_bool(p, op, "force_split_reader", false);
  return std::make_unique<Conv2dOp>(std::move(o));
}

std::unique_ptr<Operation> make_conv2d(const nlohmann::json& p,
                                       const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) {
  return make_conv("conv2d", p, inputs, device);
}

std::unique_ptr<Operation> make_conv_transpose2d(const nlohmann::json& p,
                                                 const std::vector<TensorSpec>& inputs,
                                                 const arch::DeviceSpec& device) {
  return make_conv("conv_transpose2d", p, inputs, device);
}

std::unique_ptr<Operation> make_halo(const nlohmann::json& p, const std::vector<TensorSpec>&,
                                     const arch::DeviceSpec&) {
  const std::string op = "halo";
  reject_unknown_params(p, op,
                        {"kernel_size", "stride", "padding", "dilation", "batch_size",
                         "input_height", "input_width", "output_tile_aligned"});
  HaloOptions o;
  o.window = sliding_window_from_params(p, op);
  o.output_tile_aligned = param_bool(p, op, "output_tile_aligned", true);
  return std::make_unique<HaloOp>(std::move(o));
}

const OpRegistration conv2d_registration(OpInfo{
    "conv2d", "OptimizedConvNew",
    "ttnn.conv2d: NHWC [1,1,N*H*W,C] input x prepared weights [1,1,kh*kw*C_in,C_out] (+ bias), "
    "halo + sharded im2col "
    "matmul",
    2, 3, make_conv2d});
const OpRegistration conv_transpose2d_registration(OpInfo{
    "conv_transpose2d", "OptimizedConvNew",
    "ttnn.conv_transpose2d: as conv2d over the input spread stride apart (the halo inserts the "
    "zeros), stride-1 window; weights [1,1,kh*kw*C_in,C_out] of the flipped kernel",
    2, 3, make_conv_transpose2d});
const OpRegistration halo_registration(OpInfo{
    "halo", "HaloDeviceOperation",
    "ttnn halo: gathers each core's padded conv/pool window sticks from neighbour shards", 1, 1,
    make_halo});

}  // namespace
}  // namespace wormsim::ops
