// JSON parameters of the eltwise ops: add / sub / mul, the unary SFPU functions, typecast.
#include <vector>

#include "ops/eltwise/binary.hpp"
#include "ops/eltwise/unary.hpp"
#include "ops/op_registry.hpp"
#include "ops/unary_functions.hpp"

namespace wormsim::ops {
namespace {

const std::vector<std::string> kComputeKeys = {
    "math_fidelity", "math_approx_mode", "fp32_dest_acc_en", "packer_l1_acc", "dst_full_sync_en"};

std::vector<std::string> with_compute_keys(std::vector<std::string> keys) {
  keys.insert(keys.end(), kComputeKeys.begin(), kComputeKeys.end());
  return keys;
}

std::unique_ptr<Operation> make_binary(BinaryOpType type, const std::string& op,
                                       const nlohmann::json& params,
                                       const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) {
  reject_unknown_params(params, op,
                        with_compute_keys({"output_dtype", "output_memory", "grid", "activation"}));
  BinaryOptions options;
  options.type = type;
  options.compute = compute_config_from_params(params, op, ComputeKernelConfig{});
  options.output_dtype = output_dtype_param(params, op);
  options.activation = param_string(params, op, "activation", "");
  if (!options.activation.empty() && !is_known_unary(options.activation)) {
    throw Error(op + ": unknown activation '" + options.activation +
                "'; use one of gelu, relu, silu, exp, sigmoid, tanh, sqrt, rsqrt, reciprocal, "
                "square, abs, log");
  }
  const Shape out_shape =
      broadcast_shape(inputs.at(0).logical_shape(), inputs.at(1).logical_shape(), op);
  const TensorSpec out(out_shape, options.output_dtype.value_or(inputs[0].data_type()),
                       Layout::Tile);
  options.output_memory = output_memory_param(params, op, out, device);
  return std::make_unique<BinaryOp>(std::move(options));
}

std::unique_ptr<Operation> make_unary(const std::string& function, const nlohmann::json& params,
                                      const std::vector<TensorSpec>& inputs,
                                      const arch::DeviceSpec& device) {
  reject_unknown_params(params, function,
                        with_compute_keys({"output_dtype", "output_memory", "grid"}));
  UnaryOptions options;
  options.function = function;
  options.compute = compute_config_from_params(params, function, ComputeKernelConfig{});
  options.output_dtype = output_dtype_param(params, function);
  const TensorSpec out(inputs.at(0).logical_shape(),
                       options.output_dtype.value_or(inputs[0].data_type()), Layout::Tile);
  options.output_memory = output_memory_param(params, function, out, device);
  return std::make_unique<UnaryOp>(std::move(options));
}

std::unique_ptr<Operation> make_typecast(const nlohmann::json& params,
                                         const std::vector<TensorSpec>& inputs,
                                         const arch::DeviceSpec& device) {
  reject_unknown_params(params, "typecast",
                        with_compute_keys({"output_dtype", "output_memory", "grid"}));
  TypecastOptions options;
  const auto dtype = output_dtype_param(params, "typecast");
  if (!dtype)
    throw Error(
        "typecast needs the target type: params {\"output_dtype\": \"bfloat8_b\"} (or another "
        "dtype)");
  options.output_dtype = *dtype;
  options.compute = compute_config_from_params(params, "typecast", ComputeKernelConfig{});
  const TensorSpec out(inputs.at(0).logical_shape(), *dtype, Layout::Tile);
  options.output_memory = output_memory_param(params, "typecast", out, device);
  return std::make_unique<TypecastOp>(std::move(options));
}

OpInfo binary_info(BinaryOpType type, const std::string& name, const std::string& what) {
  return OpInfo{
      name,
      "BinaryNgDeviceOperation",
      what +
          " with broadcasting (binary_ng); params math_fidelity, output_dtype, output_memory, "
          "activation",
      2,
      2,
      [type, name](const nlohmann::json& p, const std::vector<TensorSpec>& in,
                   const arch::DeviceSpec& d) { return make_binary(type, name, p, in, d); }};
}

OpInfo unary_info(const std::string& name) {
  return OpInfo{
      name,
      "UnaryDeviceOperation",
      "elementwise " + name + " on the SFPU; params math_approx_mode, output_dtype, output_memory",
      1,
      1,
      [name](const nlohmann::json& p, const std::vector<TensorSpec>& in,
             const arch::DeviceSpec& d) { return make_unary(name, p, in, d); }};
}

const OpRegistration add_registration(binary_info(BinaryOpType::Add, "add", "a + b"));
const OpRegistration sub_registration(binary_info(BinaryOpType::Sub, "sub", "a - b"));
const OpRegistration mul_registration(binary_info(BinaryOpType::Mul, "mul",
                                                  "a * b (FPU, math fidelity)"));

const OpRegistration gelu_registration(unary_info("gelu"));
const OpRegistration relu_registration(unary_info("relu"));
const OpRegistration silu_registration(unary_info("silu"));
const OpRegistration exp_registration(unary_info("exp"));
const OpRegistration sigmoid_registration(unary_info("sigmoid"));
const OpRegistration tanh_registration(unary_info("tanh"));
const OpRegistration sqrt_registration(unary_info("sqrt"));
const OpRegistration rsqrt_registration(unary_info("rsqrt"));
const OpRegistration reciprocal_registration(unary_info("reciprocal"));
const OpRegistration identity_registration(unary_info("identity"));
const OpRegistration abs_registration(unary_info("abs"));
const OpRegistration square_registration(unary_info("square"));
const OpRegistration log_registration(unary_info("log"));

const OpRegistration typecast_registration(OpInfo{
    "typecast", "TypecastDeviceOperation",
    "number format conversion; params output_dtype (required), output_memory", 1, 1,
    [](const nlohmann::json& p, const std::vector<TensorSpec>& in, const arch::DeviceSpec& d) {
      return make_typecast(p, in, d);
    }});

}  // namespace
}  // namespace wormsim::ops
