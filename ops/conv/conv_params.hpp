#pragma once
// Parameter parsing shared by the sliding-window ops' registrations.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "ops/conv/sliding_window.hpp"

namespace wormsim::ops {

// An integer parameter that must be >= 0 (throws Error naming op and key otherwise).
std::int64_t non_negative_param(const nlohmann::json& params, const std::string& op,
                                const std::string& key, std::int64_t fallback);
// SlidingWindow from batch_size, input_height, input_width (required), kernel_size (required),
// stride [1], padding [0], dilation [1].
SlidingWindow sliding_window_from_params(const nlohmann::json& params, const std::string& op);
// The stride-1 window of a transposed conv (make_transposed_window): the same keys plus
// output_padding [0].
SlidingWindow transposed_window_from_params(const nlohmann::json& params, const std::string& op);

}  // namespace wormsim::ops
