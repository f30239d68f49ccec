#include "ops/device.hpp"

#include <algorithm>

#include "ops/op_timing_reuse.hpp"

namespace wormsim::ops {

Device::Device(arch::DeviceSpec spec)
    : spec_(std::move(spec)), l1_(spec_), timing_reuse_(std::make_unique<OpTimingReuse>()) {
  board_ = std::make_unique<noc::Board>(engine_, spec_);
  for (std::uint32_t chip = 0; chip < spec_.num_chips; ++chip) {
    dram_.push_back(std::make_unique<arch::DramAllocator>(spec_, chip));
  }
}

Device::~Device() = default;

arch::DramAllocator& Device::dram(std::uint32_t chip) {
  if (chip >= dram_.size()) throw Error("chip " + std::to_string(chip) + " does not exist on " + spec_.name);
  return *dram_[chip];
}

DeviceBuffer Device::allocate(std::uint32_t chip, const TensorSpec& spec, const std::string& name) {
  validate_for_device(spec, spec_);
  DeviceBuffer buffer;
  buffer.chip = chip;
  buffer.buffer_type = spec.memory_config().buffer_type();
  const std::uint64_t page = spec.page_size_bytes();
  if (spec.memory_config().is_dram()) {
    arch::DramAllocator& dram = this->dram(chip);
    arch::DramBuffer placed;
    if (spec.is_sharded()) {
      std::vector<std::uint32_t> banks;
      for (CoreCoord core : spec.shard_spec().grid.cores(spec.shard_spec().orientation)) banks.push_back(core.x);
      placed = dram.allocate_sharded(banks, spec.pages_per_shard(), page, name);
    } else {
      placed = dram.allocate_interleaved(spec.num_pages(), page, name);
    }
    buffer.handle = placed.handle;
    buffer.bytes_per_bank = placed.bytes_per_bank;
    return buffer;
  }
  arch::ChipL1Map& l1 = l1_.chip(chip);
  arch::L1Buffer placed;
  if (spec.is_sharded()) {
    std::vector<arch::Coord> grid;
    for (CoreCoord core : spec.shard_spec().grid.cores(spec.shard_spec().orientation)) {
      grid.push_back(arch::Coord{static_cast<int>(core.x), static_cast<int>(core.y)});
    }
    placed = l1.allocate_sharded(grid, spec.pages_per_shard(), page, name);
  } else {
    placed = l1.allocate_interleaved(spec.num_pages(), page, name);
  }
  buffer.handle = placed.handle;
  buffer.bytes_per_bank = placed.bytes_per_bank;
  return buffer;
}

void Device::free(const DeviceBuffer& buffer) {
  if (buffer.buffer_type == BufferType::DRAM) dram(buffer.chip).free(buffer.handle);
  else l1_.chip(buffer.chip).free(buffer.handle);
}

TileLocator::TileLocator(const TensorSpec& spec, const noc::ChipFabric& fabric)
    : fabric_(fabric),
      dram_(spec.memory_config().is_dram()),
      sharded_(spec.is_sharded()),
      page_bytes_(spec.page_size_bytes()),
      width_tiles_(spec.width_tiles()),
      height_tiles_(spec.height_tiles()),
      banks_(num_interleaved_banks(spec.memory_config().buffer_type(), fabric.spec())) {
  if (sharded_) {
    const ShardSpec& shard = spec.shard_spec();
    shard_h_tiles_ = std::max<std::uint64_t>(1, shard.height() / kTileHeight);
    shard_w_tiles_ = std::max<std::uint64_t>(1, shard.width() / kTileWidth);
    shards_along_width_ = spec.shards_along_width();
    shard_cores_ = shard.grid.cores(shard.orientation);
  }
}

CoreCoord TileLocator::owner(std::uint64_t tile_row, std::uint64_t tile_col) const {
  if (!sharded_) return l1_bank_core(static_cast<std::uint32_t>((tile_row * width_tiles_ + tile_col) % banks_), fabric_.spec());
  const std::uint64_t index = (tile_row / shard_h_tiles_) * shards_along_width_ + tile_col / shard_w_tiles_;
  return shard_cores_.at(index);
}

noc::Endpoint TileLocator::tile(std::uint64_t tile_row, std::uint64_t tile_col) const {
  if (dram_) {
    if (sharded_) return fabric_.dram_bank(owner(tile_row, tile_col).x);
    return fabric_.dram_bank(static_cast<std::uint32_t>((tile_row * width_tiles_ + tile_col) % banks_));
  }
  const CoreCoord core = owner(tile_row, tile_col);
  return fabric_.worker(core.x, core.y);
}

}  // namespace wormsim::ops
