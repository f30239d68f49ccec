#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"

namespace wormsim::noc {

// The result of one data-movement microbenchmark run on the simulated fabric.
struct MicrobenchmarkResult {
  std::string name;
  double simulated{0};
  std::string unit;
  std::uint64_t cycles{0};  // simulated duration of the measured phase
};

// A microbenchmark mirrors a silicon test (tt-metal data-movement / DRAM / Ethernet / PCIe
// tests): the same cores, transfer sizes and NoCs, run as kernels on a fresh board.
struct Microbenchmark {
  std::string name;
  std::string description;
  std::function<MicrobenchmarkResult(const arch::DeviceSpec&)> run;
};

const std::vector<Microbenchmark>& microbenchmarks();

}  // namespace wormsim::noc
