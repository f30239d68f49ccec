#pragma once
#include <cstdint>
#include <vector>

#include "ops/operation.hpp"

namespace wormsim::ops {

// Seeded values for a tensor, rounded to its storage format, with the unrounded values as
// the fp32 golden. Uniform in [-1, 1].
Tensor random_tensor(const TensorSpec& spec, std::uint64_t seed);

struct IsolatedRunOptions {
  bool numerics{true};
  std::uint64_t seed{0};
};

// Runs one op on a fresh device: inputs and outputs get real buffers (so L1 capacity applies),
// inputs carry seeded values when numerics are on.
OpResult run_isolated(const arch::DeviceSpec& spec, const Operation& op, const std::vector<TensorSpec>& inputs,
                      const IsolatedRunOptions& options = {});

}  // namespace wormsim::ops
