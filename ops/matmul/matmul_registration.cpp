// JSON parameters of "matmul" / "linear" (graph nodes, `wormsim op --json`).
#include "ops/matmul/matmul.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::ops {
namespace {

MatmulProgramKind parse_kind(const std::string& text, const std::string& op) {
  if (text == "2d" || text == "MatmulMultiCoreReuseMultiCastProgramConfig") return MatmulProgramKind::MultiCast2D;
  if (text == "1d" || text == "MatmulMultiCoreReuseMultiCast1DProgramConfig") return MatmulProgramKind::MultiCast1D;
  if (text == "reuse" || text == "MatmulMultiCoreReuseProgramConfig") return MatmulProgramKind::MultiCoreReuse;
  if (text == "dram-sharded" || text == "MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig") {
    return MatmulProgramKind::DramSharded;
  }
  throw Error(op + ": unknown program config kind '" + text + "'; use 2d, 1d, reuse or dram-sharded");
}

MatmulProgramConfig parse_program_config(const nlohmann::json& p, const std::string& op) {
  reject_unknown_params(p, op + " program_config",
                        {"kind", "grid", "in0_block_w", "out_subblock_h", "out_subblock_w", "per_core_M", "per_core_N",
                         "out_block_h", "out_block_w", "transpose_mcast", "mcast_in0", "fuse_batch"});
  MatmulProgramConfig c;
  c.kind = parse_kind(param_string(p, op, "kind", "2d"), op);
  const auto grid = param_ints(p, op, "grid", {1, 1});
  if (grid.size() != 2 || grid[0] <= 0 || grid[1] <= 0) throw Error(op + ": program_config grid must be [x, y]");
  c.grid_x = static_cast<std::uint32_t>(grid[0]);
  c.grid_y = static_cast<std::uint32_t>(grid[1]);
  auto positive = [&](const char* key) {
    const std::int64_t v = param_int(p, op, key, 0);
    if (v <= 0) throw Error(op + ": program_config " + key + " must be a positive integer");
    return static_cast<std::uint32_t>(v);
  };
  c.in0_block_w = positive("in0_block_w");
  c.per_core_M = positive("per_core_M");
  c.per_core_N = positive("per_core_N");
  c.out_subblock_h = static_cast<std::uint32_t>(param_int(p, op, "out_subblock_h", 1));
  c.out_subblock_w = static_cast<std::uint32_t>(param_int(p, op, "out_subblock_w", 1));
  c.out_block_h = static_cast<std::uint32_t>(param_int(p, op, "out_block_h", 0));
  c.out_block_w = static_cast<std::uint32_t>(param_int(p, op, "out_block_w", 0));
  c.transpose_mcast = param_bool(p, op, "transpose_mcast", false);
  c.mcast_in0 = param_bool(p, op, "mcast_in0", true);
  c.fuse_batch = param_bool(p, op, "fuse_batch", true);
  return c;
}

// The compute config TT-NN's matmul uses when the caller passes none (create_matmul_attributes in
// ttnn matmul_device_operation.cpp): HiFi2 when there is no program config and no user grid and
// not both inputs are block floats, else LoFi; HiFi4 for two fp32 inputs; fp32 accumulation for
// an fp32 output, packer L1 accumulation otherwise; no approximation.
ComputeKernelConfig ttnn_matmul_compute_defaults(const std::vector<TensorSpec>& inputs,
                                                 std::optional<DataType> output_dtype,
                                                 bool has_program_config, bool has_user_grid) {
  const auto low_precision = [](DataType t) {
    return t == DataType::BFloat8_B || t == DataType::BFloat4_B;
  };
  const DataType in0 = inputs.at(0).data_type(), in1 = inputs.at(1).data_type();
  ComputeKernelConfig c;
  const bool increase_fidelity =
      !has_program_config && !has_user_grid && !(low_precision(in0) && low_precision(in1));
  c.math_fidelity = increase_fidelity ? arch::MathFidelity::HiFi2 : arch::MathFidelity::LoFi;
  if (in0 == DataType::Float32 && in1 == DataType::Float32)
    c.math_fidelity = arch::MathFidelity::HiFi4;
  const bool fp32_output = output_dtype.value_or(in0) == DataType::Float32;
  c.math_approx_mode = false;
  c.fp32_dest_acc_en = fp32_output;
  c.packer_l1_acc = !fp32_output;
  return c;
}

std::unique_ptr<Operation> make_matmul(const std::string& op, const nlohmann::json& params,
                                       const std::vector<TensorSpec>& inputs, const arch::DeviceSpec& device) {
  reject_unknown_params(params, op,
                        {"program_config", "math_fidelity", "math_approx_mode", "fp32_dest_acc_en", "packer_l1_acc",
                         "dst_full_sync_en", "output_memory", "output_dtype", "activation", "strict", "grid"});
  MatmulOptions options;
  if (params.contains("program_config")) options.program_config = parse_program_config(params["program_config"], op);
  options.activation = param_string(params, op, "activation", "");
  options.strict = param_bool(params, op, "strict", false);
  const std::string out_dtype = param_string(params, op, "output_dtype", "");
  if (!out_dtype.empty()) {
    const auto parsed = parse_data_type(out_dtype);
    if (!parsed) throw Error(op + ": unknown output_dtype '" + out_dtype + "'");
    options.output_dtype = *parsed;
  }
  options.compute = compute_config_from_params(
      params, op,
      ttnn_matmul_compute_defaults(inputs, options.output_dtype, options.program_config.has_value(),
                                   params.contains("grid")));
  const std::string out_memory = param_string(params, op, "output_memory", "dram-interleaved");
  const auto grid = param_ints(params, op, "grid", {device.worker_grid_x(), device.worker_grid_y()});
  if (grid.size() != 2) throw Error(op + ": grid must be [x, y]");
  // The output's shard spec depends on its shape: in0's with N columns.
  std::vector<std::uint32_t> dims = inputs.at(0).logical_shape().dims();
  dims.back() = inputs.at(1).logical_shape().x();
  const TensorSpec out_shape(Shape(dims), options.output_dtype.value_or(inputs[0].data_type()), Layout::Tile);
  options.output_memory = memory_config_from_keyword(out_memory, out_shape, static_cast<std::uint32_t>(grid[0]),
                                                     static_cast<std::uint32_t>(grid[1]), device);
  return std::make_unique<MatmulOp>(std::move(options));
}

const OpRegistration matmul_registration(OpInfo{
    "matmul", "Matmul", "out = in0 @ in1 (+ bias), TT-NN matmul with its four program configs", 2, 3,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_matmul("matmul", p, in, d);
    }});
const OpRegistration linear_registration(OpInfo{
    "linear", "Matmul", "ttnn.linear: in0 @ weight + bias, optional fused activation", 2, 3,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_matmul("linear", p, in, d);
    }});

}  // namespace
}  // namespace wormsim::ops
