#include "ops/normalization/row_numerics.hpp"

#include "ops/eltwise/eltwise_program.hpp"
#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"

namespace wormsim::ops {

std::vector<std::uint64_t> logical_row_offsets(const TensorSpec& spec) {
  const auto p = spec.padded_shape().wzyx();
  const auto l = spec.logical_shape().wzyx();
  std::vector<std::uint64_t> rows;
  rows.reserve(static_cast<std::size_t>(l[0]) * l[1] * l[2]);
  for (std::uint32_t w = 0; w < l[0]; ++w) {
    for (std::uint32_t z = 0; z < l[1]; ++z) {
      for (std::uint32_t y = 0; y < l[2]; ++y) {
        rows.push_back(((static_cast<std::uint64_t>(w) * p[1] + z) * p[2] + y) * p[3]);
      }
    }
  }
  return rows;
}

float device_row_sum(std::span<const float> values, float scaler, bool fp32_dest) {
  float total = 0.0f;
  for (std::size_t start = 0; start < values.size(); start += kTileWidth) {
    const std::size_t end = std::min(values.size(), start + kTileWidth);
    float tile_sum = 0.0f;
    for (std::size_t i = start; i < end; ++i) tile_sum += values[i];
    total = round_to_dst(total + tile_sum * scaler, fp32_dest);
  }
  return total;
}

std::vector<float> fpu_multiply(std::span<const float> a, std::span<const float> b,
                                arch::MathFidelity fidelity, bool fp32_dest) {
  std::vector<float> out(a.size());
  const DataType cb_format = fp32_dest ? DataType::Float32 : DataType::BFloat16;
  numerics::fidelity_eltwise_mul(a, b, out, fidelity, fp32_dest, cb_format, cb_format);
  return out;
}

std::vector<float> fpu_multiply_scalar(std::span<const float> a, float b,
                                       arch::MathFidelity fidelity, bool fp32_dest) {
  const std::vector<float> scalar(a.size(), b);
  return fpu_multiply(a, scalar, fidelity, fp32_dest);
}

float bf16_constant(double value) { return numerics::round_to_bf16(static_cast<float>(value)); }

}  // namespace wormsim::ops
