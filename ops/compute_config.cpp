#include "ops/compute_config.hpp"

#include <algorithm>
#include <cctype>

namespace wormsim::ops {
namespace {

// The spec's per-format maps use these keys.
std::string spec_format_key(DataType type) {
  switch (type) {
    case DataType::Float32: return "Float32";
    case DataType::BFloat16: return "BFloat16";
    case DataType::BFloat8_B: return "BFloat8_B";
    case DataType::BFloat4_B: return "BFloat4_B";
    case DataType::UInt32: return "UInt32";
    case DataType::Int32: return "Int32";
  }
  return "?";
}

std::uint32_t lookup(const std::map<std::string, std::uint32_t>& table, const std::string& key, const char* path) {
  auto it = table.find(key);
  if (it == table.end()) {
    throw Error(std::string("device spec ") + path + " has no entry for '" + key + "'; add it to arch/specs");
  }
  return it->second;
}

}  // namespace

std::string_view to_string(arch::MathFidelity fidelity) { return arch::kMathFidelityNames[static_cast<int>(fidelity)]; }

arch::MathFidelity parse_math_fidelity(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (auto pos = lower.rfind(':'); pos != std::string::npos) lower = lower.substr(pos + 1);
  if (auto pos = lower.rfind('.'); pos != std::string::npos) lower = lower.substr(pos + 1);
  for (int i = 0; i < 4; ++i) {
    std::string name = arch::kMathFidelityNames[i];
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (name == lower) return static_cast<arch::MathFidelity>(i);
  }
  throw Error("unknown math fidelity '" + std::string(text) + "'; use LoFi, HiFi2, HiFi3 or HiFi4");
}

std::string to_attribute_string(const ComputeKernelConfig& c) {
  std::string s = "WormholeComputeKernelConfig(math_fidelity=MathFidelity::";
  s += to_string(c.math_fidelity);
  s += ";math_approx_mode=" + std::to_string(c.math_approx_mode ? 1 : 0);
  s += ";fp32_dest_acc_en=" + std::to_string(c.fp32_dest_acc_en ? 1 : 0);
  s += ";packer_l1_acc=" + std::to_string(c.packer_l1_acc ? 1 : 0);
  s += ";dst_full_sync_en=" + std::to_string(c.dst_full_sync_en ? 1 : 0);
  s += ";throttle_level=ThrottleLevel::NO_THROTTLE)";
  return s;
}

std::uint32_t unpack_tile_cycles(const arch::DeviceSpec& spec, DataType type) {
  return lookup(spec.compute.unpack_tile_cycles, spec_format_key(type), "/compute/unpack_tile_cycles");
}

std::uint32_t pack_tile_cycles(const arch::DeviceSpec& spec, DataType type) {
  return lookup(spec.compute.pack_tile_cycles, spec_format_key(type), "/compute/pack_tile_cycles");
}

std::uint32_t tilize_tile_cycles(const arch::DeviceSpec& spec, DataType in, DataType out,
                                 bool fp32_dest_acc) {
  const auto& by_input = spec.compute.tilize_tile_cycles;
  if (auto i = by_input.find(spec_format_key(in)); i != by_input.end()) {
    if (auto o = i->second.find(spec_format_key(out)); o != i->second.end())
      return o->second[fp32_dest_acc ? 1 : 0];
  }
  return unpack_tile_cycles(spec, in) + pack_tile_cycles(spec, out);
}

std::uint32_t fused_activation_tile_cycles(const arch::DeviceSpec& spec,
                                           const std::string& activation) {
  if (activation.empty() || activation == "relu") return 0;
  return sfpu_tile_cycles(spec, activation);
}

std::uint32_t sfpu_tile_cycles(const arch::DeviceSpec& spec, const std::string& op) {
  return lookup(spec.compute.sfpu_tile_cycles, op, "/compute/sfpu_tile_cycles");
}

std::uint64_t matmul_k_step_cycles(const arch::DeviceSpec& spec, arch::MathFidelity fidelity,
                                   std::uint32_t subblock_h, std::uint32_t subblock_w,
                                   DataType in0_type, DataType in1_type) {
  const std::uint64_t products = std::uint64_t{subblock_h} * subblock_w;
  const std::uint64_t math = products * spec.compute.matmul_tile_cycles[static_cast<int>(fidelity)];
  const std::uint64_t in0_tile = unpack_tile_cycles(spec, in0_type);
  const std::uint64_t in1_tile = unpack_tile_cycles(spec, in1_type);
  // SrcA (unpacker 0) takes in1, SrcB (unpacker 1) takes in0.
  const bool stream_in1 = subblock_w >= subblock_h;
  const std::uint64_t src_a = (stream_in1 ? products : subblock_w) * in1_tile;
  const std::uint64_t src_b = (stream_in1 ? subblock_h : products) * in0_tile;
  return std::max({math, src_a, src_b}) + spec.compute.matmul_inner_step_overhead_cycles;
}

std::uint32_t dst_tiles(const arch::DeviceSpec& spec, const ComputeKernelConfig& config) {
  const std::uint32_t half = config.fp32_dest_acc_en ? spec.compute.dst_tiles_fp32 : spec.compute.dst_tiles_bf16;
  return config.dst_full_sync_en ? half * 2 : half;
}

}  // namespace wormsim::ops
