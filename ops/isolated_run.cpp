#include "ops/isolated_run.hpp"

#include <random>

#include "ops/numerics/number_formats.hpp"

namespace wormsim::ops {

Tensor random_tensor(const TensorSpec& spec, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const Shape& padded = spec.padded_shape();
  const Shape& logical = spec.logical_shape();
  auto golden = std::make_shared<std::vector<float>>(padded.volume(), 0.0f);
  const auto p = padded.wzyx();
  const auto l = logical.wzyx();
  for (std::uint32_t w = 0; w < l[0]; ++w) {
    for (std::uint32_t z = 0; z < l[1]; ++z) {
      for (std::uint32_t y = 0; y < l[2]; ++y) {
        const std::uint64_t row = ((static_cast<std::uint64_t>(w) * p[1] + z) * p[2] + y) * p[3];
        for (std::uint32_t x = 0; x < l[3]; ++x) (*golden)[row + x] = uniform(rng);
      }
    }
  }
  auto values = std::make_shared<std::vector<float>>(*golden);
  if (spec.data_type() == DataType::UInt32 || spec.data_type() == DataType::Int32) {
    for (float& v : *values) v = static_cast<float>(static_cast<int>(v * 100.0f));
    *golden = *values;
  } else {
    numerics::quantize(*values, static_cast<std::size_t>(spec.physical_height()), spec.physical_width(), spec.data_type());
  }
  return Tensor(spec, values, golden);
}

OpResult run_isolated(const arch::DeviceSpec& spec, const Operation& op, const std::vector<TensorSpec>& inputs,
                      const IsolatedRunOptions& options) {
  Device device(spec);
  std::vector<DeviceBuffer> buffers;
  std::vector<Tensor> tensors;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    buffers.push_back(device.allocate(0, inputs[i], "input_" + std::to_string(i)));
    tensors.push_back(options.numerics ? random_tensor(inputs[i], options.seed + i) : Tensor(inputs[i]));
  }
  const std::vector<TensorSpec> outputs = op.output_specs(inputs, spec);
  for (std::size_t i = 0; i < outputs.size(); ++i) buffers.push_back(device.allocate(0, outputs[i], "output_" + std::to_string(i)));
  ExecuteOptions execute_options;
  execute_options.numerics = options.numerics;
  OpResult result = execute(device, op, tensors, execute_options);
  for (const DeviceBuffer& b : buffers) device.free(b);
  return result;
}

}  // namespace wormsim::ops
