// JSON parameters of "scaled_dot_product_attention" (graph nodes, `wormsim op --json`).
#include "ops/attention/sdpa.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::ops {
namespace {

std::unique_ptr<Operation> make_sdpa(const nlohmann::json& p, const std::vector<TensorSpec>&,
                                     const arch::DeviceSpec& device) {
  const std::string op = "scaled_dot_product_attention";
  reject_unknown_params(
      p, op,
      {"scale", "is_causal", "q_chunk_size", "k_chunk_size", "math_fidelity", "math_approx_mode",
       "fp32_dest_acc_en", "packer_l1_acc", "dst_full_sync_en", "dtype", "output_memory", "grid"});
  SdpaOptions o;
  if (p.contains("scale")) o.scale = static_cast<float>(param_number(p, op, "scale", 1.0));
  o.is_causal = param_bool(p, op, "is_causal", true);
  auto chunk = [&](const char* key) {
    const std::int64_t v = param_int(p, op, key, 32);
    if (v <= 0)
      throw Error(op + ": " + std::string(key) + " must be positive, got " + std::to_string(v));
    return static_cast<std::uint32_t>(v);
  };
  o.q_chunk_size = chunk("q_chunk_size");
  o.k_chunk_size = chunk("k_chunk_size");
  o.compute = compute_config_from_params(p, op, o.compute);
  const std::string dtype = param_string(p, op, "dtype", "");
  if (!dtype.empty()) {
    const auto parsed = parse_data_type(dtype);
    if (!parsed) throw Error(op + ": unknown dtype '" + dtype + "'");
    o.output_dtype = *parsed;
  }
  const std::string memory = param_string(p, op, "output_memory", "dram-interleaved");
  if (memory == "dram-interleaved" || memory == "dram") {
    o.output_memory = MemoryConfig::dram_interleaved();
  } else if (memory == "l1-interleaved" || memory == "l1") {
    o.output_memory = MemoryConfig::l1_interleaved();
  } else {
    throw Error(op + ": output_memory '" + memory +
                "' is not supported; use dram-interleaved or l1-interleaved");
  }
  const auto grid = param_ints(p, op, "grid", {device.worker_grid_x(), device.worker_grid_y()});
  if (grid.size() != 2 || grid[0] <= 0 || grid[1] <= 0) throw Error(op + ": grid must be [x, y]");
  o.grid_x = static_cast<std::uint32_t>(grid[0]);
  o.grid_y = static_cast<std::uint32_t>(grid[1]);
  return std::make_unique<SdpaOp>(std::move(o));
}

const OpRegistration sdpa_registration(OpInfo{
    "scaled_dot_product_attention", "ScaledDotProductAttention",
    "ttnn.transformer.scaled_dot_product_attention: flash-attention prefill over Q/K/V [B,H,S,D] "
    "(+ mask)",
    3, 4, make_sdpa});

}  // namespace
}  // namespace wormsim::ops
