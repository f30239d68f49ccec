#include "arch/buffer_address.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <stdexcept>

namespace wormsim::arch {

std::string format_bytes(std::uint64_t bytes) {
  constexpr double kKiB = 1024.0;
  constexpr double kMiB = kKiB * 1024.0;
  constexpr double kGiB = kMiB * 1024.0;
  const double b = static_cast<double>(bytes);
  char readable[48];
  if (b >= kGiB) {
    std::snprintf(readable, sizeof readable, "%.2f GiB", b / kGiB);
  } else if (b >= kMiB) {
    std::snprintf(readable, sizeof readable, "%.2f MiB", b / kMiB);
  } else if (b >= kKiB) {
    std::snprintf(readable, sizeof readable, "%.1f KiB", b / kKiB);
  } else {
    return std::to_string(bytes) + " B";
  }
  return std::to_string(bytes) + " B (" + readable + ")";
}

BankAddress InterleavedLayout::page(std::uint64_t page_index) const {
  return BankAddress{static_cast<std::uint32_t>(page_index % num_banks),
                     base_address + (page_index / num_banks) * aligned_page_size};
}

std::uint64_t InterleavedLayout::bytes_per_bank(std::uint64_t num_pages) const {
  return ceil_div(num_pages, num_banks) * aligned_page_size;
}

InterleavedLayout make_interleaved_layout(std::uint32_t num_banks, std::uint64_t base_address,
                                          std::uint64_t page_size, std::uint64_t alignment) {
  if (num_banks == 0) throw Error("interleaved layout: the number of banks must be > 0");
  if (page_size == 0) throw Error("interleaved layout: the page size must be > 0 bytes");
  if (alignment == 0) throw Error("interleaved layout: the bank alignment must be > 0 bytes");
  return InterleavedLayout{num_banks, base_address, page_size, round_up(page_size, alignment)};
}

std::uint64_t interleaved_bytes_per_bank(std::uint64_t num_pages, std::uint32_t num_banks,
                                         std::uint64_t page_size, std::uint64_t alignment) {
  return make_interleaved_layout(num_banks, 0, page_size, alignment).bytes_per_bank(num_pages);
}

BankAddress BufferPlacement::page(std::uint64_t page_index) const {
  if (page_index >= num_pages) {
    throw Error("page " + std::to_string(page_index) + " of buffer '" + name +
                "' does not exist: it has " + std::to_string(num_pages) + " pages (0.." +
                std::to_string(num_pages == 0 ? 0 : num_pages - 1) + ")");
  }
  if (sharded) {
    return BankAddress{banks[page_index / pages_per_shard],
                       address + (page_index % pages_per_shard) * aligned_page_size};
  }
  const InterleavedLayout layout{static_cast<std::uint32_t>(banks.size()), address, page_size,
                                 aligned_page_size};
  const BankAddress slot = layout.page(page_index);
  return BankAddress{banks[slot.bank], slot.address};
}

// ---- DRAM banks ----

std::uint32_t dram_alignment(const DeviceSpec& spec) {
  return std::max(spec.dram.read_alignment_bytes, spec.dram.write_alignment_bytes);
}

static const DramBankSpec& dram_bank(const DeviceSpec& spec, std::uint32_t bank) {
  if (bank >= spec.dram.banks.size()) {
    throw Error("DRAM bank " + std::to_string(bank) + " does not exist: " + spec.name + " has " +
                std::to_string(spec.dram.banks.size()) + " DRAM banks (0.." +
                std::to_string(spec.dram.banks.size() - 1) + ")");
  }
  return spec.dram.banks[bank];
}

Coord dram_bank_noc_endpoint(const DeviceSpec& spec, std::uint32_t bank) {
  return dram_bank(spec, bank).noc_endpoint;
}

std::uint64_t dram_bank_noc_address(const DeviceSpec& spec, std::uint32_t bank,
                                    std::uint64_t address_in_bank) {
  return dram_bank(spec, bank).offset_bytes + address_in_bank;
}

// ---- L1 banks ----

Coord l1_bank_logical_core(const DeviceSpec& spec, std::uint32_t bank) {
  if (bank >= spec.worker_count()) {
    throw Error("L1 bank " + std::to_string(bank) + " does not exist: " + spec.name + " has " +
                std::to_string(spec.worker_count()) + " worker cores, one L1 bank each");
  }
  const std::uint32_t grid_x = spec.worker_grid_x();
  return Coord{static_cast<int>(bank % grid_x), static_cast<int>(bank / grid_x)};
}

void check_logical_core(const std::string& device_name, std::uint32_t grid_x, std::uint32_t grid_y,
                        Coord logical_core) {
  if (logical_core.x < 0 || logical_core.y < 0 ||
      static_cast<std::uint32_t>(logical_core.x) >= grid_x ||
      static_cast<std::uint32_t>(logical_core.y) >= grid_y) {
    throw Error("logical core (x=" + std::to_string(logical_core.x) + ",y=" +
                std::to_string(logical_core.y) + ") is outside the " + std::to_string(grid_x) +
                "x" + std::to_string(grid_y) + " worker grid of " + device_name + "; use x in 0.." +
                std::to_string(grid_x - 1) + " and y in 0.." + std::to_string(grid_y - 1));
  }
}

void check_logical_core(const DeviceSpec& spec, Coord logical_core) {
  check_logical_core(spec.name, spec.worker_grid_x(), spec.worker_grid_y(), logical_core);
}

std::uint32_t l1_bank_of_core(const DeviceSpec& spec, Coord logical_core) {
  check_logical_core(spec, logical_core);
  return static_cast<std::uint32_t>(logical_core.y) * spec.worker_grid_x() +
         static_cast<std::uint32_t>(logical_core.x);
}

Coord l1_bank_noc_coord(const DeviceSpec& spec, std::uint32_t bank) {
  const Coord logical = l1_bank_logical_core(spec, bank);
  return spec.worker_coord(static_cast<std::uint32_t>(logical.x),
                           static_cast<std::uint32_t>(logical.y));
}

// ---- address ranges ----

std::vector<AddressRange> intersect_ranges(const std::vector<AddressRange>& a,
                                           const std::vector<AddressRange>& b) {
  std::vector<AddressRange> out;
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const std::uint64_t begin = std::max(a[i].begin, b[j].begin);
    const std::uint64_t end = std::min(a[i].end, b[j].end);
    if (begin < end) out.push_back({begin, end});
    // Advance whichever range ends first; the other may still overlap the next one.
    if (a[i].end < b[j].end) {
      ++i;
    } else {
      ++j;
    }
  }
  return out;
}

std::optional<std::uint64_t> lowest_fit(const std::vector<AddressRange>& free_ranges,
                                        std::uint64_t bytes) {
  for (const AddressRange& r : free_ranges) {
    if (r.size() >= bytes) return r.begin;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> highest_fit(const std::vector<AddressRange>& free_ranges,
                                         std::uint64_t bytes) {
  for (auto it = free_ranges.rbegin(); it != free_ranges.rend(); ++it) {
    if (it->size() >= bytes) return it->end - bytes;
  }
  return std::nullopt;
}

std::uint64_t largest_range(const std::vector<AddressRange>& ranges) {
  std::uint64_t largest = 0;
  for (const AddressRange& r : ranges) largest = std::max(largest, r.size());
  return largest;
}

std::uint64_t total_size(const std::vector<AddressRange>& ranges) {
  std::uint64_t total = 0;
  for (const AddressRange& r : ranges) total += r.size();
  return total;
}

AddressSpace::AddressSpace(std::uint64_t begin, std::uint64_t end) : begin_(begin), end_(end) {
  if (end < begin) throw std::logic_error("AddressSpace: end below begin");
}

std::vector<AddressRange> AddressSpace::free_ranges(std::uint64_t window_begin,
                                                    std::uint64_t window_end) const {
  std::vector<AddressRange> out;
  std::uint64_t cursor = std::max(window_begin, begin_);
  const std::uint64_t stop = std::min(window_end, end_);
  for (const auto& [start, finish] : used_) {
    if (cursor >= stop) break;
    if (finish <= cursor) continue;
    if (start > cursor) out.push_back({cursor, std::min(start, stop)});
    cursor = std::max(cursor, finish);
  }
  if (cursor < stop) out.push_back({cursor, stop});
  return out;
}

bool AddressSpace::is_free(std::uint64_t address, std::uint64_t bytes) const {
  if (address < begin_ || address + bytes > end_ || address + bytes < address) return false;
  // The first used range ending after `address` is the only one that could overlap first.
  auto it = used_.upper_bound(address);
  if (it != used_.begin() && std::prev(it)->second > address) return false;
  return it == used_.end() || it->first >= address + bytes;
}

std::uint64_t AddressSpace::lowest_used() const {
  return used_.empty() ? end_ : used_.begin()->first;
}

std::uint64_t AddressSpace::highest_used_end() const {
  std::uint64_t highest = begin_;
  for (const auto& [start, finish] : used_) highest = std::max(highest, finish);
  return highest;
}

void AddressSpace::reserve(std::uint64_t address, std::uint64_t bytes) {
  if (bytes == 0 || !is_free(address, bytes)) {
    throw std::logic_error("AddressSpace::reserve: range " + std::to_string(address) + "+" +
                           std::to_string(bytes) + " is not free");
  }
  used_.emplace(address, address + bytes);
  used_bytes_ += bytes;
}

void AddressSpace::release(std::uint64_t address) {
  auto it = used_.find(address);
  if (it == used_.end()) {
    throw std::logic_error("AddressSpace::release: nothing allocated at " +
                           std::to_string(address));
  }
  used_bytes_ -= it->second - it->first;
  used_.erase(it);
}

}  // namespace wormsim::arch
