#include "ops/tensor.hpp"

#include <string>
#include <utility>

#include "ops/numerics/pcc.hpp"
#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

// Calls visit(logical_index, padded_offset) for every logical element in row-major order.
template <typename Visit>
void for_each_logical(const TensorSpec& spec, Visit&& visit) {
  const auto logical = spec.logical_shape().wzyx();
  const auto padded = spec.padded_shape().wzyx();
  std::uint64_t index = 0;
  for (std::uint64_t w = 0; w < logical[0]; ++w) {
    for (std::uint64_t z = 0; z < logical[1]; ++z) {
      for (std::uint64_t y = 0; y < logical[2]; ++y) {
        const std::uint64_t row = ((w * padded[1] + z) * padded[2] + y) * padded[3];
        for (std::uint64_t x = 0; x < logical[3]; ++x) visit(index++, row + x);
      }
    }
  }
}

std::vector<float> gather_logical(const TensorSpec& spec, const std::vector<float>& buffer) {
  std::vector<float> out(spec.logical_shape().volume());
  for_each_logical(spec, [&](std::uint64_t i, std::uint64_t offset) { out[i] = buffer[offset]; });
  return out;
}

}  // namespace

Tensor::Tensor(TensorSpec spec) : spec_(std::move(spec)) {}

Tensor::Tensor(TensorSpec spec, Buffer values, Buffer golden)
    : spec_(std::move(spec)), values_(std::move(values)), golden_(std::move(golden)) {
  check_buffer(values_, "values");
  check_buffer(golden_, "golden values");
}

void Tensor::check_buffer(const Buffer& buffer, const char* what) const {
  if (buffer && buffer->size() != spec_.padded_shape().volume()) {
    throw Error("tensor " + to_string(spec_.logical_shape()) + ": " + what + " hold " +
                std::to_string(buffer->size()) + " floats but the padded shape " +
                to_string(spec_.padded_shape()) + " needs " +
                std::to_string(spec_.padded_shape().volume()) +
                " (row-major over the padded shape)");
  }
}

Tensor Tensor::zeros(TensorSpec spec, bool with_golden) {
  const std::size_t size = spec.padded_shape().volume();
  auto values = std::make_shared<std::vector<float>>(size, 0.0f);
  Buffer golden = with_golden ? std::make_shared<std::vector<float>>(size, 0.0f) : nullptr;
  return Tensor(std::move(spec), std::move(values), std::move(golden));
}

Tensor Tensor::filled(TensorSpec spec, float value, bool with_golden) {
  Tensor tensor = zeros(std::move(spec), with_golden);
  for_each_logical(tensor.spec_, [&](std::uint64_t, std::uint64_t offset) {
    (*tensor.values_)[offset] = value;
    if (tensor.golden_) (*tensor.golden_)[offset] = value;
  });
  return tensor;
}

Tensor Tensor::from_logical(TensorSpec spec, const std::vector<float>& logical_values,
                            bool with_golden) {
  if (logical_values.size() != spec.logical_shape().volume()) {
    throw Error("tensor " + to_string(spec.logical_shape()) + ": got " +
                std::to_string(logical_values.size()) + " logical values, expected " +
                std::to_string(spec.logical_shape().volume()));
  }
  Tensor tensor = zeros(std::move(spec), with_golden);
  for_each_logical(tensor.spec_, [&](std::uint64_t i, std::uint64_t offset) {
    (*tensor.values_)[offset] = logical_values[i];
    if (tensor.golden_) (*tensor.golden_)[offset] = logical_values[i];
  });
  return tensor;
}

const std::vector<float>& Tensor::values() const {
  if (!values_) {
    throw Error("tensor " + to_string(spec_.logical_shape()) +
                " has no values (timing-only); create it with values to read them");
  }
  return *values_;
}

const std::vector<float>& Tensor::golden() const {
  if (!golden_) {
    throw Error("tensor " + to_string(spec_.logical_shape()) +
                " has no golden values; attach them with with_golden()");
  }
  return *golden_;
}

Tensor Tensor::with_golden(Buffer golden) const {
  return Tensor(spec_, values_, std::move(golden));
}

Tensor Tensor::with_spec(TensorSpec spec) const {
  if (spec.padded_shape().volume() != spec_.padded_shape().volume()) {
    throw Error("tensor " + to_string(spec_.logical_shape()) + ": cannot reuse " +
                std::to_string(spec_.padded_shape().volume()) + " values for padded shape " +
                to_string(spec.padded_shape()));
  }
  return Tensor(std::move(spec), values_, golden_);
}

std::uint64_t Tensor::offset(std::uint32_t w, std::uint32_t z, std::uint32_t y,
                             std::uint32_t x) const {
  const auto padded = spec_.padded_shape().wzyx();
  if (w >= padded[0] || z >= padded[1] || y >= padded[2] || x >= padded[3]) {
    throw Error("element (w=" + std::to_string(w) + ",z=" + std::to_string(z) +
                ",y=" + std::to_string(y) + ",x=" + std::to_string(x) +
                ") is outside padded shape " + to_string(spec_.padded_shape()));
  }
  return ((static_cast<std::uint64_t>(w) * padded[1] + z) * padded[2] + y) * padded[3] + x;
}

float Tensor::at(std::uint32_t w, std::uint32_t z, std::uint32_t y, std::uint32_t x) const {
  return values()[offset(w, z, y, x)];
}

float Tensor::golden_at(std::uint32_t w, std::uint32_t z, std::uint32_t y, std::uint32_t x) const {
  return golden()[offset(w, z, y, x)];
}

void Tensor::set(std::uint32_t w, std::uint32_t z, std::uint32_t y, std::uint32_t x, float value) {
  const std::uint64_t at_offset = offset(w, z, y, x);
  values();  // throws if there are no values
  (*values_)[at_offset] = value;
}

std::vector<float> Tensor::logical_values() const { return gather_logical(spec_, values()); }
std::vector<float> Tensor::logical_golden() const { return gather_logical(spec_, golden()); }

std::optional<double> Tensor::golden_pcc() const {
  if (!values_ || !golden_) return std::nullopt;
  const auto l = spec_.logical_shape().wzyx();
  const auto p = spec_.padded_shape().wzyx();
  return numerics::pcc(*golden_, *values_,
                       numerics::PaddedShape{{l[0], l[1], l[2], l[3]}, {p[0], p[1], p[2], p[3]}});
}

}  // namespace wormsim::ops
