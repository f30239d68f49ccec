#pragma once
#include <cstdint>
#include <string>

#include "arch/device_spec.hpp"
#include "ops/data_type.hpp"

namespace wormsim::ops {

// TT-NN's WormholeComputeKernelConfig.
struct ComputeKernelConfig {
  arch::MathFidelity math_fidelity{arch::MathFidelity::HiFi4};
  bool math_approx_mode{false};
  bool fp32_dest_acc_en{false};
  bool packer_l1_acc{false};
  bool dst_full_sync_en{false};
};
// "WormholeComputeKernelConfig(math_fidelity=MathFidelity::HiFi2;math_approx_mode=0;...)"
// as the ATTRIBUTES column of ops_perf_results prints it (';' instead of ',').
std::string to_attribute_string(const ComputeKernelConfig& config);
std::string_view to_string(arch::MathFidelity fidelity);
// "LoFi", "HiFi2", ... (case-insensitive, with or without "MathFidelity::").
arch::MathFidelity parse_math_fidelity(std::string_view text);

// Per-tile costs of the compute pipeline from the device spec, by number format.
std::uint32_t unpack_tile_cycles(const arch::DeviceSpec& spec, DataType type);
std::uint32_t pack_tile_cycles(const arch::DeviceSpec& spec, DataType type);
// Cycles the compute kernel spends tilizing one row-major tile of `in` into a tile of `out`: the
// spec's measured table, or (for a pair it lacks) unpack then pack in series, an estimate.
std::uint32_t tilize_tile_cycles(const arch::DeviceSpec& spec, DataType in, DataType out,
                                 bool fp32_dest_acc);
// SFPU cost of a unary op on one tile; throws wormsim::Error naming the op if the spec lacks it.
std::uint32_t sfpu_tile_cycles(const arch::DeviceSpec& spec, const std::string& op);
// Cycles a tile's fused activation adds after a matmul, conv or add: none for relu, which
// tt-metal's kernels hand to the packer (PACK_RELU in the conv, matmul and binary program
// factories), else the activation's SFPU pass.
std::uint32_t fused_activation_tile_cycles(const arch::DeviceSpec& spec,
                                           const std::string& activation);
// Cycles of one K step of a matmul subblock (sh x sw output tiles): the matrix unit's tile
// products and the unpackers run on different TRISCs, so the step takes the longer of the math
// and the busier unpacker, plus the step's fixed overhead. As the LLK's matmul unpack does, the
// wider of the subblock's two sides is streamed one tile per product (in1 into SrcA when
// sw >= sh, else in0 into SrcB) and the other side is unpacked once per row or column.
std::uint64_t matmul_k_step_cycles(const arch::DeviceSpec& spec, arch::MathFidelity fidelity,
                                   std::uint32_t subblock_h, std::uint32_t subblock_w,
                                   DataType in0_type, DataType in1_type);
// Dst tiles one half of Dst holds (the subblock limit).
std::uint32_t dst_tiles(const arch::DeviceSpec& spec, const ComputeKernelConfig& config);

}  // namespace wormsim::ops
