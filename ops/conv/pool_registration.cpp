// JSON parameters of "max_pool2d", "avg_pool2d", "global_avg_pool2d" and "upsample".
#include "ops/conv/conv_params.hpp"
#include "ops/conv/pool2d.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::ops {
namespace {

std::unique_ptr<Operation> make_pool(PoolType type, const nlohmann::json& p,
                                     const std::vector<TensorSpec>& inputs,
                                     const arch::DeviceSpec& device) {
  const std::string op = type == PoolType::Max ? "max_pool2d" : "avg_pool2d";
  std::vector<std::string> known = {"kernel_size", "stride",       "padding",       "dilation",
                                    "batch_size",  "input_height", "input_width",   "channels",
                                    "ceil_mode",   "shard_layout", "output_memory", "grid"};
  if (type == PoolType::Avg) {
    for (const char* key : {"count_include_pad", "math_fidelity", "math_approx_mode",
                            "fp32_dest_acc_en", "packer_l1_acc", "dst_full_sync_en"}) {
      known.emplace_back(key);
    }
  }
  reject_unknown_params(p, op, known);
  if (param_bool(p, op, "ceil_mode", false)) {
    throw Error(op +
                ": ceil_mode=true is not modelled; use ceil_mode=false (pad the input instead)");
  }
  Pool2dOptions o;
  o.type = type;
  o.window = sliding_window_from_params(p, op);
  const auto channels = non_negative_param(p, op, "channels", 0);
  if (channels != 0 && channels != inputs.at(0).logical_shape().x()) {
    throw Error(op + ": channels=" + std::to_string(channels) + " but the input has " +
                std::to_string(inputs.at(0).logical_shape().x()));
  }
  o.count_include_pad = param_bool(p, op, "count_include_pad", true);
  o.compute = compute_config_from_params(p, op, ComputeKernelConfig{});
  const std::string layout = param_string(p, op, "shard_layout", "");
  const bool input_block = inputs.at(0).is_sharded() && inputs.at(0).memory_config().layout() ==
                                                            TensorMemoryLayout::BlockSharded;
  if (layout.empty()) {
    o.block_sharded = input_block;
  } else if (layout == "height" || layout == "height_sharded" || layout == "HEIGHT_SHARDED") {
    o.block_sharded = false;
  } else if (layout == "block" || layout == "block_sharded" || layout == "BLOCK_SHARDED") {
    o.block_sharded = true;
  } else {
    throw Error(op + ": shard_layout '" + layout + "' is not supported; use height or block");
  }
  const std::string memory = param_string(p, op, "output_memory", "l1");
  if (memory == "dram" || memory == "dram-interleaved") {
    o.output_in_dram = true;
  } else if (memory != "l1" && memory != "l1-sharded") {
    throw Error(op + ": output_memory '" + memory + "' is not supported; use l1 (sharded) or dram");
  }
  const auto grid = param_ints(p, op, "grid", {device.worker_grid_x(), device.worker_grid_y()});
  if (grid.size() != 2 || grid[0] <= 0 || grid[1] <= 0) throw Error(op + ": grid must be [x, y]");
  o.grid_x = static_cast<std::uint32_t>(grid[0]);
  o.grid_y = static_cast<std::uint32_t>(grid[1]);
  return std::make_unique<Pool2dOp>(std::move(o));
}

std::unique_ptr<Operation> make_global_avg_pool(const nlohmann::json& p,
                                                const std::vector<TensorSpec>&,
                                                const arch::DeviceSpec&) {
  const std::string op = "global_avg_pool2d";
  reject_unknown_params(p, op,
                        {"math_fidelity", "math_approx_mode", "fp32_dest_acc_en", "packer_l1_acc",
                         "dst_full_sync_en", "dtype"});
  GlobalAvgPoolOptions o;
  o.compute = compute_config_from_params(p, op, ComputeKernelConfig{});
  const std::string dtype = param_string(p, op, "dtype", "");
  if (!dtype.empty()) {
    const auto parsed = parse_data_type(dtype);
    if (!parsed) throw Error(op + ": unknown dtype '" + dtype + "'");
    o.output_dtype = *parsed;
  }
  return std::make_unique<GlobalAvgPool2dOp>(std::move(o));
}

std::unique_ptr<Operation> make_upsample(const nlohmann::json& p, const std::vector<TensorSpec>&,
                                         const arch::DeviceSpec&) {
  const std::string op = "upsample";
  reject_unknown_params(p, op,
                        {"scale_factor", "mode", "math_fidelity", "math_approx_mode",
                         "fp32_dest_acc_en", "packer_l1_acc", "dst_full_sync_en"});
  UpsampleOptions o;
  std::vector<std::int64_t> scale;
  if (p.contains("scale_factor") && p["scale_factor"].is_array()) {
    scale = param_ints(p, op, "scale_factor", {});
  } else {
    scale = {param_int(p, op, "scale_factor", 2)};
  }
  if (scale.empty() || scale.size() > 2 || scale[0] <= 0 || scale.back() <= 0) {
    throw Error(op + ": scale_factor must be a positive integer or [scale_h, scale_w]");
  }
  o.scale_h = static_cast<std::uint32_t>(scale[0]);
  o.scale_w = static_cast<std::uint32_t>(scale.back());
  const std::string mode = param_string(p, op, "mode", "nearest");
  if (mode == "nearest") {
    o.mode = UpsampleMode::Nearest;
  } else if (mode == "bilinear") {
    o.mode = UpsampleMode::Bilinear;
  } else {
    throw Error(op + ": mode '" + mode + "' is not supported; use nearest or bilinear");
  }
  o.compute = compute_config_from_params(p, op, ComputeKernelConfig{});
  return std::make_unique<UpsampleOp>(std::move(o));
}

const OpRegistration max_pool_registration(OpInfo{
    "max_pool2d", "Pool2D",
    "ttnn.max_pool2d on NHWC sticks [1,1,N*H*W,C]: halo + window max per core", 1, 1,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_pool(PoolType::Max, p, in, d);
    }});
const OpRegistration avg_pool_registration(OpInfo{
    "avg_pool2d", "Pool2D",
    "ttnn.avg_pool2d on NHWC sticks [1,1,N*H*W,C]: halo + scaled window sum per core", 1, 1,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_pool(PoolType::Avg, p, in, d);
    }});
const OpRegistration global_avg_pool_registration(OpInfo{
    "global_avg_pool2d", "ReduceDeviceOperation",
    "ttnn.global_avg_pool2d: [N,H,W,C] TILE -> [N,1,1,C] mean over H*W", 1, 1,
    make_global_avg_pool});
const OpRegistration upsample_registration(OpInfo{
    "upsample", "UpsampleOperation",
    "ttnn.upsample: [N,H,W,C] ROW_MAJOR, nearest or bilinear, integer scale factors", 1, 1,
    make_upsample});

}  // namespace
}  // namespace wormsim::ops
