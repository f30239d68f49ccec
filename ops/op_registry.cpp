#include "ops/op_registry.hpp"

#include <algorithm>
#include <map>

namespace wormsim::ops {
namespace {

std::map<std::string, OpInfo>& registry() {
  static std::map<std::string, OpInfo> ops;
  return ops;
}

std::string known_list() {
  std::string list;
  for (const auto& [name, info] : registry()) list += (list.empty() ? "" : ", ") + name;
  return list;
}

const nlohmann::json* lookup(const nlohmann::json& params, const std::string& key) {
  if (!params.is_object()) return nullptr;
  auto it = params.find(key);
  return it == params.end() ? nullptr : &*it;
}

[[noreturn]] void bad_param(const std::string& op, const std::string& key, const std::string& expected,
                            const nlohmann::json& got) {
  throw Error(op + ": parameter '" + key + "' must be " + expected + ", got " + got.dump());
}

}  // namespace

OpRegistration::OpRegistration(OpInfo info) {
  const std::string name = info.name;
  registry().emplace(name, std::move(info));
}

const OpInfo& find_op(const std::string& name) {
  auto it = registry().find(name);
  if (it == registry().end()) throw Error("unknown op '" + name + "'; known ops: " + known_list());
  return it->second;
}

std::vector<const OpInfo*> registered_ops() {
  std::vector<const OpInfo*> out;
  for (const auto& [name, info] : registry()) out.push_back(&info);
  return out;
}

std::unique_ptr<Operation> make_operation(const std::string& name, const nlohmann::json& params,
                                          const std::vector<TensorSpec>& inputs, const arch::DeviceSpec& device) {
  const OpInfo& info = find_op(name);
  if (inputs.size() < info.min_inputs || inputs.size() > info.max_inputs) {
    throw Error("op '" + name + "' takes " + std::to_string(info.min_inputs) +
                (info.max_inputs != info.min_inputs ? " to " + std::to_string(info.max_inputs) : std::string()) +
                " input(s), got " + std::to_string(inputs.size()));
  }
  if (!params.is_null() && !params.is_object()) throw Error("op '" + name + "': params must be a JSON object");
  return info.factory(params.is_null() ? nlohmann::json::object() : params, inputs, device);
}

std::string param_string(const nlohmann::json& params, const std::string& op, const std::string& key,
                         const std::string& fallback) {
  const nlohmann::json* v = lookup(params, key);
  if (v == nullptr) return fallback;
  if (!v->is_string()) bad_param(op, key, "a string", *v);
  return v->get<std::string>();
}

double param_number(const nlohmann::json& params, const std::string& op, const std::string& key, double fallback) {
  const nlohmann::json* v = lookup(params, key);
  if (v == nullptr) return fallback;
  if (!v->is_number()) bad_param(op, key, "a number", *v);
  return v->get<double>();
}

std::int64_t param_int(const nlohmann::json& params, const std::string& op, const std::string& key,
                       std::int64_t fallback) {
  const nlohmann::json* v = lookup(params, key);
  if (v == nullptr) return fallback;
  if (!v->is_number_integer()) bad_param(op, key, "an integer", *v);
  return v->get<std::int64_t>();
}

bool param_bool(const nlohmann::json& params, const std::string& op, const std::string& key, bool fallback) {
  const nlohmann::json* v = lookup(params, key);
  if (v == nullptr) return fallback;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_number_integer() && (v->get<int>() == 0 || v->get<int>() == 1)) return v->get<int>() == 1;
  bad_param(op, key, "true/false", *v);
}

std::vector<std::int64_t> param_ints(const nlohmann::json& params, const std::string& op, const std::string& key,
                                     const std::vector<std::int64_t>& fallback) {
  const nlohmann::json* v = lookup(params, key);
  if (v == nullptr) return fallback;
  if (!v->is_array()) bad_param(op, key, "a list of integers", *v);
  std::vector<std::int64_t> out;
  for (const auto& item : *v) {
    if (!item.is_number_integer()) bad_param(op, key, "a list of integers", *v);
    out.push_back(item.get<std::int64_t>());
  }
  return out;
}

void reject_unknown_params(const nlohmann::json& params, const std::string& op, const std::vector<std::string>& known) {
  if (!params.is_object()) return;
  for (const auto& [key, value] : params.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw Error(op + ": unknown parameter '" + key + "'; accepted: " + list);
    }
  }
}

MemoryConfig memory_config_from_keyword(const std::string& keyword, const TensorSpec& tensor, std::uint32_t grid_x,
                                        std::uint32_t grid_y, const arch::DeviceSpec& device) {
  if (keyword == "dram-interleaved" || keyword == "dram") return MemoryConfig::dram_interleaved();
  if (keyword == "l1-interleaved" || keyword == "l1") return MemoryConfig::l1_interleaved();
  if (keyword == "l1-block-sharded") return block_sharded(tensor, grid_x, grid_y);
  if (keyword == "l1-height-sharded") return height_sharded(tensor, grid_x * grid_y, device);
  if (keyword == "l1-width-sharded") return width_sharded(tensor, grid_x * grid_y, device);
  if (keyword == "dram-sharded") return dram_width_sharded(tensor, device);
  if (keyword.find("MemoryConfig") != std::string::npos) return parse_memory_config_string(keyword);
  throw Error("unknown memory placement '" + keyword +
              "'; use dram-interleaved, l1-interleaved, l1-height-sharded, l1-width-sharded, l1-block-sharded, "
              "dram-sharded or a TT-NN MemoryConfig(...) string");
}

TensorSpec tensor_spec_from_json(const nlohmann::json& tensor, const arch::DeviceSpec& device) {
  if (!tensor.is_object()) throw Error("a tensor must be a JSON object with \"shape\", got " + tensor.dump());
  const std::string what = "tensor " + tensor.dump();
  reject_unknown_params(tensor, what, {"shape", "dtype", "layout", "memory", "grid", "name"});
  const std::vector<std::int64_t> dims = param_ints(tensor, what, "shape", {});
  if (dims.empty() || dims.size() > 4) throw Error(what + ": \"shape\" needs 1 to 4 dimensions");
  std::vector<std::uint32_t> udims;
  for (std::int64_t d : dims) {
    if (d <= 0) throw Error(what + ": every dimension must be positive");
    udims.push_back(static_cast<std::uint32_t>(d));
  }
  const std::string dtype_text = param_string(tensor, what, "dtype", "bfloat16");
  const auto dtype = parse_data_type(dtype_text);
  if (!dtype) throw Error(what + ": unknown dtype '" + dtype_text + "'; use float32, bfloat16, bfloat8_b, bfloat4_b, uint32 or int32");
  const std::string layout_text = param_string(tensor, what, "layout", "TILE");
  const auto layout = parse_layout(layout_text);
  if (!layout) throw Error(what + ": unknown layout '" + layout_text + "'; use TILE or ROW_MAJOR");
  TensorSpec spec(Shape(udims), *dtype, *layout);
  const std::vector<std::int64_t> grid =
      param_ints(tensor, what, "grid", {device.worker_grid_x(), device.worker_grid_y()});
  if (grid.size() != 2 || grid[0] <= 0 || grid[1] <= 0) throw Error(what + ": \"grid\" must be [x, y]");
  const std::string memory = param_string(tensor, what, "memory", "dram-interleaved");
  spec = spec.with_memory_config(memory_config_from_keyword(memory, spec, static_cast<std::uint32_t>(grid[0]),
                                                            static_cast<std::uint32_t>(grid[1]), device));
  validate_for_device(spec, device);
  return spec;
}

nlohmann::json tensor_spec_to_json(const TensorSpec& spec) {
  nlohmann::json shape = nlohmann::json::array();
  for (std::uint32_t d : spec.logical_shape().dims()) shape.push_back(d);
  return {{"shape", shape},
          {"dtype", std::string(to_string(spec.data_type()))},
          {"layout", std::string(to_string(spec.layout()))},
          {"memory", to_string(spec.memory_config())}};
}

ComputeKernelConfig compute_config_from_params(const nlohmann::json& params, const std::string& op,
                                               const ComputeKernelConfig& defaults) {
  ComputeKernelConfig c = defaults;
  const std::string fidelity = param_string(params, op, "math_fidelity", "");
  if (!fidelity.empty()) c.math_fidelity = parse_math_fidelity(fidelity);
  c.math_approx_mode = param_bool(params, op, "math_approx_mode", c.math_approx_mode);
  c.fp32_dest_acc_en = param_bool(params, op, "fp32_dest_acc_en", c.fp32_dest_acc_en);
  c.packer_l1_acc = param_bool(params, op, "packer_l1_acc", c.packer_l1_acc);
  c.dst_full_sync_en = param_bool(params, op, "dst_full_sync_en", c.dst_full_sync_en);
  return c;
}

}  // namespace wormsim::ops
