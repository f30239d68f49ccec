#pragma once
// Number-format steps shared by the row-statistic ops (softmax and the norms), emulating what
// their compute kernels do to each value on its way through SrcA/SrcB, Dst and the
// intermediate circular buffers.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/tensor_spec.hpp"

namespace wormsim::ops {

// Offsets (into the padded row-major buffer) of the first element of every logical row, in
// order: rows of the padding are skipped.
std::vector<std::uint64_t> logical_row_offsets(const TensorSpec& spec);

// reduce_tile over a row: the FPU sums each 32-wide tile (fp32 inside the matrix unit) scaled
// by `scaler` (a bf16 constant tile), and the running total lives in Dst between tiles, so a
// 16-bit Dst rounds it to bf16 after every tile.
float device_row_sum(std::span<const float> values, float scaler, bool fp32_dest);

// FPU products a[i] * b[i] with math-fidelity phases; the operands come from CBs holding
// the intermediate format (fp32 CB data reaches SrcA/SrcB as TF32).
std::vector<float> fpu_multiply(std::span<const float> a, std::span<const float> b,
                                arch::MathFidelity fidelity, bool fp32_dest);
// The same with b a broadcast scalar (a column-broadcast statistic tile).
std::vector<float> fpu_multiply_scalar(std::span<const float> a, float b,
                                       arch::MathFidelity fidelity, bool fp32_dest);

// The bf16 value a scalar constant tile holds (scalers, epsilon, scale).
float bf16_constant(double value);

}  // namespace wormsim::ops
