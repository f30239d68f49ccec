#pragma once
// Address math shared by the L1 and DRAM allocators:
//  - interleaved page placement (tt-metal InterleavedAddrGen semantics),
//  - which NoC tile serves a DRAM bank or an L1 bank,
//  - AddressSpace, the used/free range bookkeeping both allocators are built on.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"

namespace wormsim::arch {

// value rounded up to a multiple of alignment (alignment > 0).
constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}
constexpr std::uint64_t ceil_div(std::uint64_t value, std::uint64_t divisor) {
  return (value + divisor - 1) / divisor;
}

// "524288 B (512.0 KiB)": exact bytes for grepping plus a readable size.
std::string format_bytes(std::uint64_t bytes);

// One page's home: a bank and the byte address inside that bank.
struct BankAddress {
  std::uint32_t bank{0};
  std::uint64_t address{0};
  friend bool operator==(const BankAddress&, const BankAddress&) = default;
};

// An interleaved buffer: page i lives in bank (i mod num_banks) at
// base_address + (i div num_banks) * aligned_page_size, the same base in every bank.
struct InterleavedLayout {
  std::uint32_t num_banks{0};
  std::uint64_t base_address{0};
  std::uint64_t page_size{0};          // bytes of payload per page
  std::uint64_t aligned_page_size{0};  // page_size rounded up to the bank alignment

  BankAddress page(std::uint64_t page_index) const;
  // Bytes every bank reserves for num_pages pages (lockstep: all banks reserve the maximum).
  std::uint64_t bytes_per_bank(std::uint64_t num_pages) const;
};

// Validates the arguments (non-zero banks, page size and alignment); throws wormsim::Error.
InterleavedLayout make_interleaved_layout(std::uint32_t num_banks, std::uint64_t base_address,
                                          std::uint64_t page_size, std::uint64_t alignment);

// ceil(num_pages / num_banks) * round_up(page_size, alignment): per-bank reservation of an
// interleaved buffer (tt-metal's bank size spread).
std::uint64_t interleaved_bytes_per_bank(std::uint64_t num_pages, std::uint32_t num_banks,
                                         std::uint64_t page_size, std::uint64_t alignment);

// Where an allocated buffer lives: one base address shared by all its banks (tt-metal's
// lockstep allocation), pages either interleaved over `banks` or one shard per bank.
struct BufferPlacement {
  std::uint64_t handle{0};
  std::string name;
  bool sharded{false};
  std::uint64_t address{0};            // base address, identical in every bank
  std::uint64_t page_size{0};          // payload bytes per page
  std::uint64_t aligned_page_size{0};  // page stride inside a bank
  std::uint64_t num_pages{0};
  std::uint64_t pages_per_shard{0};  // sharded only
  std::uint64_t bytes_per_bank{0};   // reserved in each bank
  // Interleaved: every bank of the memory, 0..n-1 (page i -> banks[i mod n]).
  // Sharded: the bank of each shard, in shard order (page i -> banks[i div pages_per_shard]).
  std::vector<std::uint32_t> banks;

  // Bank and in-bank address of page `page_index`; wormsim::Error if out of range.
  BankAddress page(std::uint64_t page_index) const;
};

// ---- DRAM banks ----
// Alignment of DRAM buffer pages and allocations: the stricter of the NoC read and write
// alignments, so every page can be both read and written without a misaligned access.
std::uint32_t dram_alignment(const DeviceSpec& spec);
// The NoC0 tile a worker uses to reach DRAM bank `bank` (spec dram.banks[bank].noc_endpoint).
Coord dram_bank_noc_endpoint(const DeviceSpec& spec, std::uint32_t bank);
// Address to put on the NoC for `address_in_bank` of bank `bank`: two banks share one
// controller, so the bank's offset inside its controller is added.
std::uint64_t dram_bank_noc_address(const DeviceSpec& spec, std::uint32_t bank,
                                    std::uint64_t address_in_bank);

// ---- L1 banks (one per worker core) ----
// Bank ids enumerate the logical worker grid row-major: bank b is logical core
// (b mod grid_x, b div grid_x). This is tt-metal's enumeration order before its optional
// bank shuffle; see l1_allocator.hpp for why we do not shuffle.
Coord l1_bank_logical_core(const DeviceSpec& spec, std::uint32_t bank);
std::uint32_t l1_bank_of_core(const DeviceSpec& spec, Coord logical_core);
// NoC0 coordinate of the worker core that holds L1 bank `bank`.
Coord l1_bank_noc_coord(const DeviceSpec& spec, std::uint32_t bank);
// Throws wormsim::Error unless logical_core is inside the worker grid.
void check_logical_core(const DeviceSpec& spec, Coord logical_core);
void check_logical_core(const std::string& device_name, std::uint32_t grid_x, std::uint32_t grid_y,
                        Coord logical_core);

// ---- address ranges ----
// Half-open byte range [begin, end).
struct AddressRange {
  std::uint64_t begin{0};
  std::uint64_t end{0};
  std::uint64_t size() const { return end - begin; }
  friend bool operator==(const AddressRange&, const AddressRange&) = default;
};

// Intersection of two sorted, non-overlapping range lists.
std::vector<AddressRange> intersect_ranges(const std::vector<AddressRange>& a,
                                           const std::vector<AddressRange>& b);
// First fit over sorted free ranges: lowest address that fits (bottom-up) ...
std::optional<std::uint64_t> lowest_fit(const std::vector<AddressRange>& free_ranges,
                                        std::uint64_t bytes);
// ... or the top of the highest range that fits (top-down).
std::optional<std::uint64_t> highest_fit(const std::vector<AddressRange>& free_ranges,
                                         std::uint64_t bytes);
std::uint64_t largest_range(const std::vector<AddressRange>& ranges);
std::uint64_t total_size(const std::vector<AddressRange>& ranges);

// The used ranges of one address space [begin, end). Callers keep sizes aligned; this class
// only guarantees that used ranges never overlap and stay inside the space.
class AddressSpace {
 public:
  AddressSpace(std::uint64_t begin, std::uint64_t end);

  std::uint64_t begin() const { return begin_; }
  std::uint64_t end() const { return end_; }
  std::uint64_t used_bytes() const { return used_bytes_; }
  std::size_t used_count() const { return used_.size(); }

  // Free ranges clipped to [window_begin, window_end), sorted by address.
  std::vector<AddressRange> free_ranges(std::uint64_t window_begin, std::uint64_t window_end) const;
  std::vector<AddressRange> free_ranges() const { return free_ranges(begin_, end_); }
  bool is_free(std::uint64_t address, std::uint64_t bytes) const;
  // Lowest / highest used address (end_ / begin_ when nothing is used).
  std::uint64_t lowest_used() const;
  std::uint64_t highest_used_end() const;

  // Marks [address, address + bytes) used; std::logic_error if not free (a caller bug).
  void reserve(std::uint64_t address, std::uint64_t bytes);
  // Frees the range that starts at address; std::logic_error if none does.
  void release(std::uint64_t address);

 private:
  std::uint64_t begin_;
  std::uint64_t end_;
  std::uint64_t used_bytes_{0};
  std::map<std::uint64_t, std::uint64_t> used_;  // start -> end
};

}  // namespace wormsim::arch
