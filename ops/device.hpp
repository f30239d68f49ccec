#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "arch/dram_allocator.hpp"
#include "arch/l1_allocator.hpp"
#include "noc/board.hpp"
#include "ops/tensor_spec.hpp"
#include "sim/engine.hpp"

namespace wormsim::ops {

class OpTimingReuse;

// A tensor's buffer on the device: where its pages live (one DRAM or L1 allocation).
struct DeviceBuffer {
  std::uint32_t chip{0};
  BufferType buffer_type{BufferType::DRAM};
  std::uint64_t handle{0};
  std::uint64_t bytes_per_bank{0};
};

// One simulated card: the engine, the data-movement fabric and the memory allocators.
// Everything that runs on the card (ops, graphs) shares one Device so time and memory carry
// over from op to op.
class Device {
 public:
  explicit Device(arch::DeviceSpec spec);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const arch::DeviceSpec& spec() const noexcept { return spec_; }
  sim::Engine& engine() noexcept { return engine_; }
  noc::Board& board() noexcept { return *board_; }
  noc::ChipFabric& fabric(std::uint32_t chip) { return board_->chip(chip); }
  arch::DeviceL1Map& l1() noexcept { return l1_; }
  arch::DramAllocator& dram(std::uint32_t chip);
  // Recorded op timings that later identical ops replay (ops/op_timing_reuse.hpp).
  OpTimingReuse& timing_reuse() noexcept { return *timing_reuse_; }

  // Reserves the pages of a tensor as its memory config says (L1 or DRAM, interleaved or
  // sharded); throws wormsim::Error naming the tensor when it does not fit.
  DeviceBuffer allocate(std::uint32_t chip, const TensorSpec& spec, const std::string& name);
  void free(const DeviceBuffer& buffer);

 private:
  arch::DeviceSpec spec_;
  sim::Engine engine_;
  std::unique_ptr<noc::Board> board_;
  arch::DeviceL1Map l1_;
  std::vector<std::unique_ptr<arch::DramAllocator>> dram_;
  std::unique_ptr<OpTimingReuse> timing_reuse_;
};

// Where the tiles (pages) of a tensor live, as NoC endpoints: DRAM banks or worker cores for
// interleaved tensors, shard owners for sharded ones.
class TileLocator {
 public:
  TileLocator(const TensorSpec& spec, const noc::ChipFabric& fabric);
  // Page of tile (row, col) in the tensor's 2-D tile grid, and its endpoint.
  noc::Endpoint tile(std::uint64_t tile_row, std::uint64_t tile_col) const;
  // Logical core holding tile (row, col) of a sharded L1 tensor.
  CoreCoord owner(std::uint64_t tile_row, std::uint64_t tile_col) const;
  // Whether tile (row, col) exists (blocks at the tensor's edge may reach past it).
  bool contains(std::uint64_t tile_row, std::uint64_t tile_col) const noexcept {
    return tile_row < height_tiles_ && tile_col < width_tiles_;
  }
  bool in_dram() const noexcept { return dram_; }
  bool sharded() const noexcept { return sharded_; }
  std::uint32_t page_bytes() const noexcept { return page_bytes_; }

 private:
  const noc::ChipFabric& fabric_;
  bool dram_;
  bool sharded_;
  std::uint32_t page_bytes_;
  std::uint64_t width_tiles_;
  std::uint64_t height_tiles_;
  std::uint32_t banks_;
  std::uint64_t shard_h_tiles_{1};
  std::uint64_t shard_w_tiles_{1};
  std::uint64_t shards_along_width_{1};
  std::vector<CoreCoord> shard_cores_;  // shard index -> owner
};

}  // namespace wormsim::ops
