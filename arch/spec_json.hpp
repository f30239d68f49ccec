#pragma once
#include <nlohmann/json.hpp>

#include "arch/device_spec.hpp"

namespace wormsim::arch {

// A loaded spec as plain JSON (values only, no {"value","source"} wrappers) plus derived
// figures: worker counts, DRAM bandwidth per chip and board, peak matmul TFLOP/s per fidelity.
// With sources, adds "sources": {JSON path -> source}. Used by `wormsim spec show --format json`.
nlohmann::json device_spec_summary_json(const DeviceSpec& spec, bool with_sources);

// Bandwidth in GB/s for a rate in bytes per cycle at the spec's clock.
double gigabytes_per_second(const DeviceSpec& spec, double bytes_per_cycle);

}  // namespace wormsim::arch
