#pragma once
// L1 allocation, modelled on tt-metal's layout:
//  - the usable region of a Tensix L1 is [l1.first_usable_address, + l1.usable_bytes);
//  - circular buffers (CBs) are placed from the bottom of that region upwards;
//  - L1 buffers (interleaved pages and shards) are placed from the top downwards;
//  - the two never cross: CBs stay below the lowest L1 buffer, buffers above the highest CB.
// Fit policy: first fit in each direction (tt-metal's allocator uses first fit too). A CB
// takes the lowest free block that fits below the lowest buffer; a buffer takes the top of
// the highest free block that fits above the highest CB. Freed holes are reused by later
// allocations of the same kind. Sizes are rounded up to l1.alignment_bytes.
//
// Multi-core buffers (ChipL1Map) use lockstep allocation as tt-metal does: one address that
// is free on every bank involved, the same per-bank size reserved on each.
//
// L1 bank order: bank b is logical worker core (b mod grid_x, b div grid_x), i.e. the worker
// grid enumerated row-major. tt-metal enumerates its worker grid the same way
// (tt_metal/impl/allocator/l1_banking_allocator.cpp, init_compute_and_storage_l1_bank_manager,
// cores listed row-wise) and then, unless the device was opened with an explicit
// l1_bank_remap, applies a fixed-seed pseudo-random permutation of the bank ids. That
// permutation depends on the C++ library's shuffle, so we keep the unpermuted row-major order:
// every core still receives the same number of pages, only which page lands where differs.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "arch/buffer_address.hpp"
#include "arch/device_spec.hpp"

namespace wormsim::arch {

enum class L1Use { CircularBuffer, Buffer };

struct L1Allocation {
  std::uint64_t handle{0};
  std::uint64_t address{0};
  std::uint64_t bytes{0};  // after rounding to the L1 alignment
  L1Use use{L1Use::Buffer};
  std::string name;
};

struct L1Usage {
  std::uint64_t circular_buffer_bytes{0};
  std::uint64_t buffer_bytes{0};
  std::uint64_t total_bytes{0};  // for a peak: the highest simultaneous sum, not a sum of peaks
};

// Thrown when a circular buffer or an L1 buffer does not fit; its own type so that a caller
// that can make room (the executor's reallocation) catches exactly this failure.
class L1OutOfMemory : public Error {
 public:
  using Error::Error;
};

// The L1 of one Tensix core.
class CoreL1Allocator {
 public:
  CoreL1Allocator(const DeviceSpec& spec, std::uint32_t chip, Coord logical_core);

  // A CB of `bytes`; first fit from the bottom, below every L1 buffer. Throws wormsim::Error
  // if all l1.max_circular_buffers CBs are in use or it does not fit.
  L1Allocation allocate_circular_buffer(std::uint64_t bytes, std::string_view name = {});
  // An L1 buffer of `bytes`; first fit from the top, above every CB.
  L1Allocation allocate_buffer(std::uint64_t bytes, std::string_view name = {});
  // An L1 buffer at a given address (ChipL1Map picks one common to many cores). Throws
  // wormsim::Error unless the range is free, aligned and above every CB.
  L1Allocation allocate_buffer_at(std::uint64_t address, std::uint64_t bytes,
                                  std::string_view name = {});
  // Frees a CB or buffer by handle; std::logic_error for an unknown handle (a caller bug).
  void free(std::uint64_t handle);

  const L1Allocation& allocation(std::uint64_t handle) const;
  std::vector<L1Allocation> allocations() const;  // sorted by address

  // Free blocks a new L1 buffer could use: above the highest CB.
  std::vector<AddressRange> free_buffer_ranges() const;
  // Free blocks a new CB could use: below the lowest L1 buffer.
  std::vector<AddressRange> free_circular_buffer_ranges() const;
  std::uint64_t free_bytes() const;          // all free bytes of the usable region
  std::uint64_t largest_free_block() const;  // largest free block of the usable region

  std::uint32_t circular_buffer_count() const { return circular_buffer_count_; }
  std::uint32_t buffer_count() const;
  L1Usage usage() const;
  L1Usage peak() const { return peak_; }
  void reset_peak();  // peak := current use, e.g. at the start of an op

  std::uint64_t region_begin() const { return space_.begin(); }
  std::uint64_t region_end() const { return space_.end(); }
  std::uint64_t capacity() const { return space_.end() - space_.begin(); }
  std::uint32_t alignment() const { return alignment_; }
  std::uint32_t chip() const { return chip_; }
  Coord logical_core() const { return logical_core_; }
  Coord noc_coord() const { return noc_coord_; }
  // "chip 0 core (x=1,y=2) [NoC0 (2,3)]"
  std::string location() const;
  // Free space for `use` and what occupies the core, for out-of-memory messages.
  std::string space_report(L1Use use) const;

 private:
  std::uint64_t aligned_size(std::uint64_t bytes, L1Use use, std::string_view name) const;
  L1Allocation record(std::uint64_t address, std::uint64_t bytes, L1Use use, std::string_view name);
  [[noreturn]] void throw_out_of_memory(std::uint64_t bytes, L1Use use,
                                        std::string_view name) const;
  std::uint64_t highest_circular_buffer_end() const;
  std::uint64_t lowest_buffer_address() const;

  std::uint32_t chip_;
  Coord logical_core_;
  Coord noc_coord_;
  std::uint32_t alignment_;
  std::uint32_t max_circular_buffers_;
  AddressSpace space_;
  std::map<std::uint64_t, L1Allocation> allocations_;  // by handle
  std::uint64_t next_handle_{1};
  std::uint32_t circular_buffer_count_{0};
  std::uint64_t circular_buffer_bytes_{0};
  std::uint64_t buffer_bytes_{0};
  L1Usage peak_;
};

// How much L1 a sharded buffer reserves.
enum class ShardReservation {
  // tt-metal's lockstep: every worker core reserves the shard size at the shard address,
  // even cores outside the shard grid. Matches silicon's out-of-memory behaviour.
  AllCores,
  // Only the cores of the shard grid reserve it (a leaner, non-tt-metal policy).
  GridOnly,
};

using L1Buffer = BufferPlacement;  // banks are L1 bank ids (see l1_bank_logical_core)

// The L1 of every worker core of one chip: one CoreL1Allocator per core, plus interleaved and
// sharded L1 buffers placed at one address common to all their cores.
class ChipL1Map {
 public:
  ChipL1Map(const DeviceSpec& spec, std::uint32_t chip,
            ShardReservation shard_reservation = ShardReservation::AllCores);

  std::uint32_t chip() const { return chip_; }
  std::uint32_t num_banks() const { return static_cast<std::uint32_t>(cores_.size()); }
  CoreL1Allocator& core(Coord logical_core);
  const CoreL1Allocator& core(Coord logical_core) const;
  CoreL1Allocator& bank(std::uint32_t bank_id);
  const CoreL1Allocator& bank(std::uint32_t bank_id) const;

  // Pages round-robin over all worker cores (page i -> bank i mod num_banks), one address on
  // every core, ceil(num_pages / num_banks) aligned pages reserved per core.
  L1Buffer allocate_interleaved(std::uint64_t num_pages, std::uint64_t page_size,
                                std::string_view name = {});
  // One shard of pages_per_shard pages per grid core, in grid order, at one common address.
  L1Buffer allocate_sharded(const std::vector<Coord>& grid, std::uint64_t pages_per_shard,
                            std::uint64_t page_size, std::string_view name = {});
  void free(std::uint64_t handle);
  const L1Buffer& buffer(std::uint64_t handle) const;
  std::size_t buffer_count() const { return buffers_.size(); }

  // Logical core / NoC0 coordinate of L1 bank `bank_id`.
  Coord bank_core(std::uint32_t bank_id) const;
  Coord bank_noc_coord(std::uint32_t bank_id) const;

  // The highest per-core peak total (CBs + buffers) over all cores, and which core had it.
  std::uint64_t peak_total_bytes() const;
  Coord peak_core() const;
  void reset_peaks();

 private:
  struct Entry {
    L1Buffer buffer;
    std::vector<std::pair<std::uint32_t, std::uint64_t>> core_handles;  // bank id, core handle
  };
  // Reserves bytes_per_bank on `reserve_banks` at the highest common free address.
  L1Buffer place(L1Buffer buffer, const std::vector<std::uint32_t>& reserve_banks,
                 const std::string& what);

  std::string spec_name_;
  std::uint32_t grid_x_;
  std::uint32_t grid_y_;
  std::uint32_t chip_;
  ShardReservation shard_reservation_;
  std::vector<CoreL1Allocator> cores_;  // indexed by L1 bank id
  std::map<std::uint64_t, Entry> buffers_;
  std::uint64_t next_handle_{1};
};

// One ChipL1Map per chip of the board.
class DeviceL1Map {
 public:
  explicit DeviceL1Map(const DeviceSpec& spec,
                       ShardReservation shard_reservation = ShardReservation::AllCores);
  std::uint32_t num_chips() const { return static_cast<std::uint32_t>(chips_.size()); }
  ChipL1Map& chip(std::uint32_t chip_id);
  const ChipL1Map& chip(std::uint32_t chip_id) const;

 private:
  std::vector<ChipL1Map> chips_;
};

}  // namespace wormsim::arch
