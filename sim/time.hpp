#pragma once
#include <cstdint>

namespace wormsim::sim {

// Simulated time in AICLK cycles. 64-bit so a long model run never wraps.
using Cycle = std::uint64_t;

}  // namespace wormsim::sim
