#include "ops/conv/conv_params.hpp"

#include "ops/op_registry.hpp"

namespace wormsim::ops {

std::int64_t non_negative_param(const nlohmann::json& params, const std::string& op,
                                const std::string& key, std::int64_t fallback) {
  const std::int64_t v = param_int(params, op, key, fallback);
  if (v < 0)
    throw Error(op + ": parameter '" + key + "' must not be negative, got " + std::to_string(v));
  return v;
}

namespace {

void require_window_params(const nlohmann::json& params, const std::string& op) {
  for (const char* key : {"batch_size", "input_height", "input_width", "kernel_size"}) {
    if (!params.is_object() || !params.contains(key)) {
      throw Error(
          op + ": parameter '" + std::string(key) +
          "' is required (TT-NN passes batch_size, input_height, input_width and kernel_size)");
    }
  }
}

std::uint32_t positive_param(const nlohmann::json& params, const std::string& op, const char* key) {
  const std::int64_t v = param_int(params, op, key, 0);
  if (v <= 0)
    throw Error(op + ": parameter '" + std::string(key) + "' must be positive, got " +
                std::to_string(v));
  return static_cast<std::uint32_t>(v);
}

}  // namespace

SlidingWindow sliding_window_from_params(const nlohmann::json& params, const std::string& op) {
  require_window_params(params, op);
  return make_sliding_window(
      op, positive_param(params, op, "batch_size"), positive_param(params, op, "input_height"),
      positive_param(params, op, "input_width"), param_ints(params, op, "kernel_size", {}),
      param_ints(params, op, "stride", {1}), param_ints(params, op, "padding", {0}),
      param_ints(params, op, "dilation", {1}));
}

SlidingWindow transposed_window_from_params(const nlohmann::json& params, const std::string& op) {
  require_window_params(params, op);
  return make_transposed_window(
      op, positive_param(params, op, "batch_size"), positive_param(params, op, "input_height"),
      positive_param(params, op, "input_width"), param_ints(params, op, "kernel_size", {}),
      param_ints(params, op, "stride", {1}), param_ints(params, op, "padding", {0}),
      param_ints(params, op, "output_padding", {0}), param_ints(params, op, "dilation", {1}));
}

}  // namespace wormsim::ops
