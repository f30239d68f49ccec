#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ops/compute_config.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

// Builds an op from its JSON parameters (the "params" object of a graph node or of
// `wormsim op --json`). Throws wormsim::Error naming the op and the bad parameter.
using OpFactory = std::function<std::unique_ptr<Operation>(const nlohmann::json& params,
                                                           const std::vector<TensorSpec>& inputs,
                                                           const arch::DeviceSpec& device)>;

struct OpInfo {
  std::string name;         // "matmul", "add", "softmax", ...
  std::string op_code;      // TT-NN device op name it reports
  std::string description;
  std::size_t min_inputs{1};
  std::size_t max_inputs{1};
  OpFactory factory;
};

// Each op file registers its ops with a static OpRegistration (the ops library is linked
// whole, so every registration runs).
struct OpRegistration {
  explicit OpRegistration(OpInfo info);
};

const OpInfo& find_op(const std::string& name);  // throws Error listing the known ops
std::vector<const OpInfo*> registered_ops();
std::unique_ptr<Operation> make_operation(const std::string& name, const nlohmann::json& params,
                                          const std::vector<TensorSpec>& inputs, const arch::DeviceSpec& device);

// ---- reading op parameters ----
// Typed lookups with defaults; a present value of the wrong type throws Error naming `op` and key.
std::string param_string(const nlohmann::json& params, const std::string& op, const std::string& key,
                         const std::string& fallback);
double param_number(const nlohmann::json& params, const std::string& op, const std::string& key, double fallback);
std::int64_t param_int(const nlohmann::json& params, const std::string& op, const std::string& key,
                       std::int64_t fallback);
bool param_bool(const nlohmann::json& params, const std::string& op, const std::string& key, bool fallback);
std::vector<std::int64_t> param_ints(const nlohmann::json& params, const std::string& op, const std::string& key,
                                     const std::vector<std::int64_t>& fallback);
// Unknown keys are typos: throws Error naming them and listing the accepted ones.
void reject_unknown_params(const nlohmann::json& params, const std::string& op, const std::vector<std::string>& known);

// ---- tensors in JSON ----
// {"shape": [1,1,1024,1024], "dtype": "bfloat16", "layout": "TILE",
//  "memory": "dram-interleaved" | "l1-interleaved" | "l1-height-sharded" | "l1-width-sharded" |
//            "l1-block-sharded" | "dram-sharded" | a TT-NN MemoryConfig string,
//  "grid": [8, 8]}   (grid: sharding grid; default the full worker grid)
TensorSpec tensor_spec_from_json(const nlohmann::json& tensor, const arch::DeviceSpec& device);
nlohmann::json tensor_spec_to_json(const TensorSpec& spec);
// A memory keyword as above, resolved for a tensor on a grid.
MemoryConfig memory_config_from_keyword(const std::string& keyword, const TensorSpec& tensor, std::uint32_t grid_x,
                                        std::uint32_t grid_y, const arch::DeviceSpec& device);
// Compute kernel config from params: math_fidelity, math_approx_mode, fp32_dest_acc_en, packer_l1_acc,
// dst_full_sync_en.
ComputeKernelConfig compute_config_from_params(const nlohmann::json& params, const std::string& op,
                                               const ComputeKernelConfig& defaults);

}  // namespace wormsim::ops
