#pragma once
// Tensor: a TensorSpec plus, optionally, its values. Timing-only runs carry no values; numeric
// runs carry the device values (already rounded to the tensor's number format by the op or
// format code) and, optionally, fp32 golden values of the same shape for PCC checks.
//
// Values are stored row-major over the PADDED shape (W Z Y X, X fastest), so padding elements
// are present and addressable. Buffers are shared: copying a Tensor shares its values.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "ops/tensor_spec.hpp"

namespace wormsim::ops {

class Tensor {
 public:
  using Buffer = std::shared_ptr<std::vector<float>>;

  // A tensor without values.
  explicit Tensor(TensorSpec spec);
  // Takes device values (and optional golden values), each exactly padded_shape().volume()
  // floats in padded row-major order; throws wormsim::Error on a size mismatch.
  Tensor(TensorSpec spec, Buffer values, Buffer golden = nullptr);

  // All-zero values (padding included); golden values too when with_golden.
  static Tensor zeros(TensorSpec spec, bool with_golden = false);
  // `value` in every logical element, 0 in the padding.
  static Tensor filled(TensorSpec spec, float value, bool with_golden = false);
  // Logical values in row-major logical order, placed into the padded buffer with zero
  // padding. The same numbers become the golden values when with_golden (round them to the
  // device format first if the device values should differ from the reference).
  static Tensor from_logical(TensorSpec spec, const std::vector<float>& logical_values,
                             bool with_golden = false);

  const TensorSpec& spec() const { return spec_; }
  bool has_values() const { return values_ != nullptr; }
  bool has_golden() const { return golden_ != nullptr; }
  // Throw wormsim::Error if the tensor has no values / golden values.
  const std::vector<float>& values() const;
  const std::vector<float>& golden() const;
  const Buffer& values_buffer() const { return values_; }
  const Buffer& golden_buffer() const { return golden_; }

  // Same spec and values, other golden values (size-checked; nullptr drops them).
  Tensor with_golden(Buffer golden) const;
  // Same values under another spec of equal padded volume (e.g. a new memory config).
  Tensor with_spec(TensorSpec spec) const;

  // Offset of element (w, z, y, x) in the padded buffer; indices are checked against the padded
  // shape (padding is addressable), throwing wormsim::Error when out of range.
  std::uint64_t offset(std::uint32_t w, std::uint32_t z, std::uint32_t y, std::uint32_t x) const;
  float at(std::uint32_t w, std::uint32_t z, std::uint32_t y, std::uint32_t x) const;
  float golden_at(std::uint32_t w, std::uint32_t z, std::uint32_t y, std::uint32_t x) const;
  // Writes into the shared buffer: every Tensor sharing it sees the change.
  void set(std::uint32_t w, std::uint32_t z, std::uint32_t y, std::uint32_t x, float value);

  // The logical elements only, row-major (padding dropped).
  std::vector<float> logical_values() const;
  std::vector<float> logical_golden() const;
  // numerics::pcc of the logical values against the logical golden, read in place; nullopt
  // without values or golden.
  std::optional<double> golden_pcc() const;

 private:
  void check_buffer(const Buffer& buffer, const char* what) const;

  TensorSpec spec_;
  Buffer values_;
  Buffer golden_;
};

}  // namespace wormsim::ops
