// JSON parameters of softmax, layernorm, rmsnorm and groupnorm.
#include <vector>

#include "ops/normalization/layernorm.hpp"
#include "ops/normalization/softmax.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::ops {
namespace {

std::vector<std::string> keys_with_compute(std::vector<std::string> keys) {
  for (const char* k : {"math_fidelity", "math_approx_mode", "fp32_dest_acc_en", "packer_l1_acc",
                        "dst_full_sync_en"}) {
    keys.emplace_back(k);
  }
  return keys;
}

// TT-NN's softmax and norm ops default to HiFi4 with math_approx_mode on
// (init_device_compute_kernel_config(arch, config, MathFidelity::HiFi4, true, false, false)).
ComputeKernelConfig norm_defaults() {
  ComputeKernelConfig config;
  config.math_fidelity = arch::MathFidelity::HiFi4;
  config.math_approx_mode = true;
  return config;
}

TensorSpec output_shape(const std::vector<TensorSpec>& inputs,
                        const std::optional<DataType>& dtype) {
  return TensorSpec(inputs.at(0).logical_shape(), dtype.value_or(inputs[0].data_type()),
                    Layout::Tile);
}

std::unique_ptr<Operation> make_softmax(const nlohmann::json& params,
                                        const std::vector<TensorSpec>& inputs,
                                        const arch::DeviceSpec& device) {
  const std::string op = "softmax";
  reject_unknown_params(params, op,
                        keys_with_compute({"scale", "inplace", "numeric_stable", "output_dtype",
                                           "output_memory", "grid"}));
  SoftmaxOptions options;
  options.scale = param_number(params, op, "scale", 1.0);
  options.inplace = param_bool(params, op, "inplace", false);
  options.numeric_stable = param_bool(params, op, "numeric_stable", true);
  options.compute = compute_config_from_params(params, op, norm_defaults());
  options.output_dtype = output_dtype_param(params, op);
  options.output_memory =
      output_memory_param(params, op, output_shape(inputs, options.output_dtype), device);
  return std::make_unique<SoftmaxOp>(std::move(options));
}

std::unique_ptr<Operation> make_layernorm(NormType type, const std::string& op,
                                          const nlohmann::json& params,
                                          const std::vector<TensorSpec>& inputs,
                                          const arch::DeviceSpec& device) {
  reject_unknown_params(params, op,
                        keys_with_compute({"epsilon", "output_dtype", "output_memory", "grid"}));
  LayerNormOptions options;
  options.type = type;
  options.epsilon = param_number(params, op, "epsilon", options.epsilon);
  options.compute = compute_config_from_params(params, op, norm_defaults());
  options.output_dtype = output_dtype_param(params, op);
  options.output_memory =
      output_memory_param(params, op, output_shape(inputs, options.output_dtype), device);
  return std::make_unique<LayerNormOp>(std::move(options));
}

std::unique_ptr<Operation> make_groupnorm(const nlohmann::json& params,
                                          const std::vector<TensorSpec>& inputs,
                                          const arch::DeviceSpec& device) {
  const std::string op = "groupnorm";
  reject_unknown_params(
      params, op,
      keys_with_compute({"num_groups", "epsilon", "output_dtype", "output_memory", "grid"}));
  GroupNormOptions options;
  const std::int64_t groups = param_int(params, op, "num_groups", options.num_groups);
  if (groups <= 0) throw Error(op + ": num_groups must be a positive integer");
  options.num_groups = static_cast<std::uint32_t>(groups);
  options.epsilon = param_number(params, op, "epsilon", options.epsilon);
  options.compute = compute_config_from_params(params, op, norm_defaults());
  options.output_dtype = output_dtype_param(params, op);
  options.output_memory =
      output_memory_param(params, op, output_shape(inputs, options.output_dtype), device);
  return std::make_unique<GroupNormOp>(std::move(options));
}

const OpRegistration softmax_registration(OpInfo{
    "softmax", "SoftmaxDeviceOperation",
    "softmax over the last dim; optional additive mask input; params scale, inplace, "
    "numeric_stable",
    1, 2,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_softmax(p, in, d);
    }});
const OpRegistration layernorm_registration(OpInfo{
    "layernorm", "LayerNormDeviceOperation",
    "layer norm over the last dim; inputs x, [gamma, [beta]]; param epsilon", 1, 3,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_layernorm(NormType::LayerNorm, "layernorm", p, in, d);
    }});
const OpRegistration rmsnorm_registration(OpInfo{
    "rmsnorm", "LayerNormDeviceOperation",
    "RMS norm over the last dim; inputs x, [gamma, [beta]]; param epsilon", 1, 3,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_layernorm(NormType::RmsNorm, "rmsnorm", p, in, d);
    }});
const OpRegistration groupnorm_registration(OpInfo{
    "groupnorm", "GroupNormDeviceOperation",
    "group norm on [N, 1, H*W, C]; inputs x, [gamma, [beta]]; params num_groups, epsilon", 1, 3,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_groupnorm(p, in, d);
    }});

}  // namespace
}  // namespace wormsim::ops
