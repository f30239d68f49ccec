#pragma once
// A dry run of one op's placement on a scratch device: the tensors that stay resident in L1,
// the op's inputs and outputs and then its circular buffers are allocated with the executor's
// allocator, in that order on a fresh device (so the executor's own fragmentation, which it
// repairs by reallocating, is not reproduced). Nothing runs. The model zoo and the
// sharding strategies ask it before choosing a placement.
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/tensor_spec.hpp"

namespace wormsim::workloads {

// A tensor that stays allocated while the op runs (a residual branch, a feature map a later
// concat reads), with the name an L1 overflow message shows.
struct ResidentTensor {
  std::string name;
  ops::TensorSpec spec;
};

// Empty when `op` accepts `inputs` and `params` and its placement fits; otherwise the reason:
// the op's validation error or the L1 overflow (naming the chip, core, bytes and users).
std::string placement_problem(const arch::DeviceSpec& device, const std::string& op,
                              const nlohmann::json& params,
                              const std::vector<ops::TensorSpec>& inputs,
                              const std::vector<ResidentTensor>& resident = {});

// A conv (conv2d, conv_transpose2d) sizes its act blocks for the L1 its own tensors leave;
// beside resident tensors a smaller block may still fit (what a TT-NN model sets
// act_block_h_override for). The act block heights in tiles below the one the conv chooses for
// `inputs` and `params`, largest first; empty for other ops, a params-given height, or a conv
// that cannot plan at all.
std::vector<std::uint32_t> smaller_act_blocks(const arch::DeviceSpec& device, const std::string& op,
                                              const nlohmann::json& params,
                                              const std::vector<ops::TensorSpec>& inputs);

}  // namespace wormsim::workloads
