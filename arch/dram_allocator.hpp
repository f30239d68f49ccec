#pragma once
// DRAM allocation for one chip, modelled on tt-metal:
//  - dram.banks banks of dram.bank_size_bytes each (12 x 1 GiB on wormhole_b0);
//  - lockstep allocation: one free list stands for every bank, so a buffer gets the same base
//    address in all banks and reserves the same per-bank size in each, interleaved or sharded;
//  - first fit from the bottom (tt-metal allocates DRAM buffers bottom-up);
//  - pages and allocations are aligned to max(dram.read_alignment_bytes,
//    dram.write_alignment_bytes).
// The DRAM region starts at address 0 of each bank: the spec has no reserved-base field yet.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "arch/buffer_address.hpp"
#include "arch/device_spec.hpp"

namespace wormsim::arch {

using DramBuffer = BufferPlacement;  // banks are DRAM bank ids

class DramAllocator {
 public:
  DramAllocator(const DeviceSpec& spec, std::uint32_t chip);

  std::uint32_t chip() const { return chip_; }
  std::uint32_t num_banks() const { return static_cast<std::uint32_t>(banks_.size()); }
  std::uint64_t bank_size() const { return space_.end() - space_.begin(); }
  std::uint32_t alignment() const { return alignment_; }

  // Page i -> bank i mod num_banks, address base + (i div num_banks) * aligned page size;
  // ceil(num_pages / num_banks) aligned pages reserved in every bank.
  DramBuffer allocate_interleaved(std::uint64_t num_pages, std::uint64_t page_size,
                                  std::string_view name = {});
  // One shard of pages_per_shard pages per listed bank, in list order; the shard size is
  // reserved in every bank (lockstep), as tt-metal does.
  DramBuffer allocate_sharded(const std::vector<std::uint32_t>& shard_banks,
                              std::uint64_t pages_per_shard, std::uint64_t page_size,
                              std::string_view name = {});
  // std::logic_error for an unknown handle (a caller bug).
  void free(std::uint64_t handle);
  const DramBuffer& buffer(std::uint64_t handle) const;
  std::size_t buffer_count() const { return buffers_.size(); }

  std::uint64_t used_bytes_per_bank() const { return space_.used_bytes(); }
  std::uint64_t free_bytes_per_bank() const { return bank_size() - space_.used_bytes(); }
  std::uint64_t largest_free_block() const { return largest_range(space_.free_ranges()); }
  std::uint64_t peak_bytes_per_bank() const { return peak_bytes_per_bank_; }
  void reset_peak() { peak_bytes_per_bank_ = space_.used_bytes(); }

  // NoC0 tile serving a bank, and the address to use at that tile for an in-bank address.
  Coord bank_noc_endpoint(std::uint32_t bank) const;
  std::uint64_t bank_noc_address(std::uint32_t bank, std::uint64_t address_in_bank) const;

 private:
  DramBuffer place(DramBuffer buffer, const std::string& what);
  const DramBankSpec& bank_spec(std::uint32_t bank) const;

  std::string spec_name_;
  std::uint32_t chip_;
  std::uint32_t alignment_;
  std::vector<DramBankSpec> banks_;
  AddressSpace space_;  // the address range of one bank; stands for all of them
  std::map<std::uint64_t, DramBuffer> buffers_;
  std::uint64_t next_handle_{1};
  std::uint64_t peak_bytes_per_bank_{0};
};

}  // namespace wormsim::arch
