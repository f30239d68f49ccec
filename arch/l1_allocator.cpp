#include "arch/l1_allocator.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace wormsim::arch {

namespace {

constexpr const char* kL1Fix =
    "Fix: use fewer/smaller CBs, shard over more cores, or place the tensor in DRAM.";

const char* use_name(L1Use use) {
  return use == L1Use::CircularBuffer ? "circular buffer" : "L1 buffer";
}

// "circular buffer 'cb_in0'" or "an unnamed circular buffer".
std::string label(L1Use use, std::string_view name) {
  if (name.empty()) return std::string("an unnamed ") + use_name(use);
  return std::string(use_name(use)) + " '" + std::string(name) + "'";
}

// "1 CB", "3 CBs".
std::string count_of(std::uint64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// " 'name'" or "" for an unnamed buffer.
std::string quoted(std::string_view name) {
  return name.empty() ? std::string() : " '" + std::string(name) + "'";
}

std::uint64_t align_down(std::uint64_t value, std::uint64_t alignment) {
  return value / alignment * alignment;
}

}  // namespace

// ---- CoreL1Allocator ----

CoreL1Allocator::CoreL1Allocator(const DeviceSpec& spec, std::uint32_t chip, Coord logical_core)
    : chip_(chip),
      logical_core_(logical_core),
      alignment_(spec.l1.alignment_bytes),
      max_circular_buffers_(spec.l1.max_circular_buffers),
      // Keep both ends aligned so every first-fit address is aligned by construction.
      space_(spec.l1.alignment_bytes == 0
                 ? 0
                 : round_up(spec.l1.first_usable_address, spec.l1.alignment_bytes),
             spec.l1.alignment_bytes == 0
                 ? 0
                 : align_down(spec.l1.first_usable_address + spec.l1.usable_bytes,
                              spec.l1.alignment_bytes)) {
  if (alignment_ == 0 || spec.l1.usable_bytes == 0) {
    throw Error("device spec '" + spec.name +
                "' has no usable L1 (l1.usable_bytes and l1.alignment_bytes must be > 0)");
  }
  if (spec.l1.first_usable_address + spec.l1.usable_bytes > spec.l1.size_bytes) {
    throw Error("device spec '" + spec.name + "': l1.first_usable_address + l1.usable_bytes (" +
                std::to_string(spec.l1.first_usable_address + spec.l1.usable_bytes) +
                ") exceeds l1.size_bytes (" + std::to_string(spec.l1.size_bytes) + ")");
  }
  if (chip >= spec.num_chips) {
    throw Error("chip " + std::to_string(chip) + " does not exist: " + spec.name + " has " +
                std::to_string(spec.num_chips) + " chip(s)");
  }
  check_logical_core(spec, logical_core);
  noc_coord_ = spec.worker_coord(static_cast<std::uint32_t>(logical_core.x),
                                 static_cast<std::uint32_t>(logical_core.y));
}

std::string CoreL1Allocator::location() const {
  return "chip " + std::to_string(chip_) + " core (x=" + std::to_string(logical_core_.x) +
         ",y=" + std::to_string(logical_core_.y) + ") [NoC0 (" + std::to_string(noc_coord_.x) +
         "," + std::to_string(noc_coord_.y) + ")]";
}

std::uint64_t CoreL1Allocator::aligned_size(std::uint64_t bytes, L1Use use,
                                            std::string_view name) const {
  if (bytes == 0) {
    throw Error(label(use, name) + " on " + location() +
                " has a size of 0 B; give it at least one page");
  }
  return round_up(bytes, alignment_);
}

std::uint64_t CoreL1Allocator::highest_circular_buffer_end() const {
  std::uint64_t highest = space_.begin();
  for (const auto& [handle, a] : allocations_) {
    if (a.use == L1Use::CircularBuffer) highest = std::max(highest, a.address + a.bytes);
  }
  return highest;
}

std::uint64_t CoreL1Allocator::lowest_buffer_address() const {
  std::uint64_t lowest = space_.end();
  for (const auto& [handle, a] : allocations_) {
    if (a.use == L1Use::Buffer) lowest = std::min(lowest, a.address);
  }
  return lowest;
}

std::vector<AddressRange> CoreL1Allocator::free_buffer_ranges() const {
  return space_.free_ranges(highest_circular_buffer_end(), space_.end());
}

std::vector<AddressRange> CoreL1Allocator::free_circular_buffer_ranges() const {
  return space_.free_ranges(space_.begin(), lowest_buffer_address());
}

std::uint64_t CoreL1Allocator::free_bytes() const { return capacity() - space_.used_bytes(); }

std::uint64_t CoreL1Allocator::largest_free_block() const {
  return largest_range(space_.free_ranges());
}

std::uint32_t CoreL1Allocator::buffer_count() const {
  return static_cast<std::uint32_t>(allocations_.size()) - circular_buffer_count_;
}

L1Usage CoreL1Allocator::usage() const {
  return L1Usage{circular_buffer_bytes_, buffer_bytes_, circular_buffer_bytes_ + buffer_bytes_};
}

void CoreL1Allocator::reset_peak() { peak_ = usage(); }

L1Allocation CoreL1Allocator::record(std::uint64_t address, std::uint64_t bytes, L1Use use,
                                     std::string_view name) {
  space_.reserve(address, bytes);
  L1Allocation allocation{next_handle_++, address, bytes, use, std::string(name)};
  allocations_.emplace(allocation.handle, allocation);
  if (use == L1Use::CircularBuffer) {
    ++circular_buffer_count_;
    circular_buffer_bytes_ += bytes;
  } else {
    buffer_bytes_ += bytes;
  }
  peak_.circular_buffer_bytes = std::max(peak_.circular_buffer_bytes, circular_buffer_bytes_);
  peak_.buffer_bytes = std::max(peak_.buffer_bytes, buffer_bytes_);
  peak_.total_bytes = std::max(peak_.total_bytes, circular_buffer_bytes_ + buffer_bytes_);
  return allocation;
}

L1Allocation CoreL1Allocator::allocate_circular_buffer(std::uint64_t bytes, std::string_view name) {
  if (circular_buffer_count_ >= max_circular_buffers_) {
    throw Error("cannot create " + label(L1Use::CircularBuffer, name) + " on " + location() +
                ": all " + std::to_string(max_circular_buffers_) +
                " circular buffers of the core (l1.max_circular_buffers) are in use. Fix: merge "
                "or free CBs, or split the op so each core needs fewer CBs.");
  }
  const std::uint64_t size = aligned_size(bytes, L1Use::CircularBuffer, name);
  const auto address = lowest_fit(free_circular_buffer_ranges(), size);
  if (!address) throw_out_of_memory(size, L1Use::CircularBuffer, name);
  return record(*address, size, L1Use::CircularBuffer, name);
}

L1Allocation CoreL1Allocator::allocate_buffer(std::uint64_t bytes, std::string_view name) {
  const std::uint64_t size = aligned_size(bytes, L1Use::Buffer, name);
  const auto address = highest_fit(free_buffer_ranges(), size);
  if (!address) throw_out_of_memory(size, L1Use::Buffer, name);
  return record(*address, size, L1Use::Buffer, name);
}

L1Allocation CoreL1Allocator::allocate_buffer_at(std::uint64_t address, std::uint64_t bytes,
                                                 std::string_view name) {
  const std::uint64_t size = aligned_size(bytes, L1Use::Buffer, name);
  const bool fits = address % alignment_ == 0 && address >= highest_circular_buffer_end() &&
                    space_.is_free(address, size);
  if (!fits) {
    throw Error("cannot place " + label(L1Use::Buffer, name) + " of " + format_bytes(size) +
                " at L1 address " + std::to_string(address) + " on " + location() +
                ": the range must be " + std::to_string(alignment_) +
                "-byte aligned, free, and above every circular buffer (highest CB ends at " +
                std::to_string(highest_circular_buffer_end()) +
                "). Fix: let the allocator choose the address.");
  }
  return record(address, size, L1Use::Buffer, name);
}

void CoreL1Allocator::free(std::uint64_t handle) {
  auto it = allocations_.find(handle);
  if (it == allocations_.end()) {
    throw std::logic_error("CoreL1Allocator::free: unknown handle " + std::to_string(handle) +
                           " on " + location());
  }
  const L1Allocation& a = it->second;
  space_.release(a.address);
  if (a.use == L1Use::CircularBuffer) {
    --circular_buffer_count_;
    circular_buffer_bytes_ -= a.bytes;
  } else {
    buffer_bytes_ -= a.bytes;
  }
  allocations_.erase(it);
}

const L1Allocation& CoreL1Allocator::allocation(std::uint64_t handle) const {
  auto it = allocations_.find(handle);
  if (it == allocations_.end()) {
    throw std::logic_error("CoreL1Allocator::allocation: unknown handle " + std::to_string(handle) +
                           " on " + location());
  }
  return it->second;
}

std::vector<L1Allocation> CoreL1Allocator::allocations() const {
  std::vector<L1Allocation> out;
  out.reserve(allocations_.size());
  for (const auto& [handle, a] : allocations_) out.push_back(a);
  std::sort(out.begin(), out.end(),
            [](const L1Allocation& a, const L1Allocation& b) { return a.address < b.address; });
  return out;
}

std::string CoreL1Allocator::space_report(L1Use use) const {
  const bool for_cb = use == L1Use::CircularBuffer;
  const std::vector<AddressRange> usable =
      for_cb ? free_circular_buffer_ranges() : free_buffer_ranges();
  std::string report =
      "the largest free block for " + std::string(use_name(use)) + "s (" +
      (for_cb ? "below the lowest L1 buffer" : "above the highest CB") + ") is " +
      format_bytes(largest_range(usable)) + ", total free " + format_bytes(free_bytes()) + " of " +
      format_bytes(capacity()) + " usable. In use: circular buffers " +
      count_of(circular_buffer_count_, "CB") + ", " + format_bytes(circular_buffer_bytes_) +
      "; L1 buffers " + count_of(buffer_count(), "buffer") + ", " + format_bytes(buffer_bytes_);
  // Name the largest occupants: they are what the user has to shrink or move.
  std::vector<L1Allocation> largest = allocations();
  std::stable_sort(largest.begin(), largest.end(),
                   [](const L1Allocation& a, const L1Allocation& b) { return a.bytes > b.bytes; });
  constexpr std::size_t kListed = 4;
  if (!largest.empty()) {
    report += "; largest: ";
    for (std::size_t i = 0; i < std::min(kListed, largest.size()); ++i) {
      if (i > 0) report += ", ";
      report += label(largest[i].use, largest[i].name) + " " + format_bytes(largest[i].bytes);
    }
  }
  return report;
}

void CoreL1Allocator::throw_out_of_memory(std::uint64_t bytes, L1Use use,
                                          std::string_view name) const {
  throw L1OutOfMemory("L1 out of memory on " + location() + ": " + label(use, name) + " needs " +
                      format_bytes(bytes) + " but " + space_report(use) + ". " + kL1Fix);
}

// ---- ChipL1Map ----

ChipL1Map::ChipL1Map(const DeviceSpec& spec, std::uint32_t chip, ShardReservation shard_reservation)
    : spec_name_(spec.name),
      grid_x_(spec.worker_grid_x()),
      grid_y_(spec.worker_grid_y()),
      chip_(chip),
      shard_reservation_(shard_reservation) {
  if (spec.worker_count() == 0) {
    throw Error("device spec '" + spec.name +
                "' has no worker cores (chip.worker_columns / chip.worker_rows are empty)");
  }
  cores_.reserve(spec.worker_count());
  for (std::uint32_t bank_id = 0; bank_id < spec.worker_count(); ++bank_id) {
    cores_.emplace_back(spec, chip, l1_bank_logical_core(spec, bank_id));
  }
}

CoreL1Allocator& ChipL1Map::core(Coord logical_core) {
  check_logical_core(spec_name_, grid_x_, grid_y_, logical_core);
  return cores_[static_cast<std::uint32_t>(logical_core.y) * grid_x_ +
                static_cast<std::uint32_t>(logical_core.x)];
}

const CoreL1Allocator& ChipL1Map::core(Coord logical_core) const {
  return const_cast<ChipL1Map*>(this)->core(logical_core);
}

CoreL1Allocator& ChipL1Map::bank(std::uint32_t bank_id) {
  if (bank_id >= cores_.size()) {
    throw Error("L1 bank " + std::to_string(bank_id) + " does not exist: " + spec_name_ + " has " +
                std::to_string(cores_.size()) + " L1 banks (one per worker core)");
  }
  return cores_[bank_id];
}

const CoreL1Allocator& ChipL1Map::bank(std::uint32_t bank_id) const {
  return const_cast<ChipL1Map*>(this)->bank(bank_id);
}

Coord ChipL1Map::bank_core(std::uint32_t bank_id) const { return bank(bank_id).logical_core(); }

Coord ChipL1Map::bank_noc_coord(std::uint32_t bank_id) const { return bank(bank_id).noc_coord(); }

L1Buffer ChipL1Map::allocate_interleaved(std::uint64_t num_pages, std::uint64_t page_size,
                                         std::string_view name) {
  const std::string what = "interleaved L1 buffer" + quoted(name) + " (" +
                           std::to_string(num_pages) + " pages of " + std::to_string(page_size) +
                           " B over " + std::to_string(num_banks()) + " L1 banks)";
  if (num_pages == 0) throw Error(what + " has no pages; give it at least one page");
  const InterleavedLayout layout =
      make_interleaved_layout(num_banks(), 0, page_size, cores_.front().alignment());
  L1Buffer buffer;
  buffer.name = std::string(name);
  buffer.page_size = page_size;
  buffer.aligned_page_size = layout.aligned_page_size;
  buffer.num_pages = num_pages;
  buffer.bytes_per_bank = layout.bytes_per_bank(num_pages);
  for (std::uint32_t b = 0; b < num_banks(); ++b) buffer.banks.push_back(b);
  const std::vector<std::uint32_t> reserve = buffer.banks;
  return place(std::move(buffer), reserve, what);
}

L1Buffer ChipL1Map::allocate_sharded(const std::vector<Coord>& grid, std::uint64_t pages_per_shard,
                                     std::uint64_t page_size, std::string_view name) {
  const std::string what = "sharded L1 buffer" + quoted(name) + " (" + std::to_string(grid.size()) +
                           " shards of " + std::to_string(pages_per_shard) + " pages of " +
                           std::to_string(page_size) + " B)";
  if (grid.empty()) throw Error(what + " has an empty core grid; give it at least one core");
  if (pages_per_shard == 0) throw Error(what + " has empty shards; give each shard a page");
  if (page_size == 0) throw Error(what + " has a page size of 0 B");
  L1Buffer buffer;
  buffer.name = std::string(name);
  buffer.sharded = true;
  buffer.page_size = page_size;
  buffer.aligned_page_size = round_up(page_size, cores_.front().alignment());
  buffer.num_pages = pages_per_shard * grid.size();
  buffer.pages_per_shard = pages_per_shard;
  buffer.bytes_per_bank = pages_per_shard * buffer.aligned_page_size;
  std::set<std::uint32_t> seen;
  for (const Coord& c : grid) {
    check_logical_core(spec_name_, grid_x_, grid_y_, c);
    const std::uint32_t bank_id =
        static_cast<std::uint32_t>(c.y) * grid_x_ + static_cast<std::uint32_t>(c.x);
    if (!seen.insert(bank_id).second) {
      throw Error(what + " lists core (x=" + std::to_string(c.x) + ",y=" + std::to_string(c.y) +
                  ") twice; give each shard its own core");
    }
    buffer.banks.push_back(bank_id);
  }
  std::vector<std::uint32_t> reserve = buffer.banks;
  if (shard_reservation_ == ShardReservation::AllCores) {
    reserve.clear();
    for (std::uint32_t b = 0; b < num_banks(); ++b) reserve.push_back(b);
  }
  return place(std::move(buffer), reserve, what);
}

L1Buffer ChipL1Map::place(L1Buffer buffer, const std::vector<std::uint32_t>& reserve_banks,
                          const std::string& what) {
  std::vector<AddressRange> common = cores_[reserve_banks.front()].free_buffer_ranges();
  for (std::size_t i = 1; i < reserve_banks.size() && !common.empty(); ++i) {
    common = intersect_ranges(common, cores_[reserve_banks[i]].free_buffer_ranges());
  }
  const auto address = highest_fit(common, buffer.bytes_per_bank);
  if (!address) {
    // The core with the least room for buffers is the one to report and relieve.
    const CoreL1Allocator* tightest = &cores_[reserve_banks.front()];
    std::uint64_t tightest_block = largest_range(tightest->free_buffer_ranges());
    for (std::uint32_t b : reserve_banks) {
      const std::uint64_t block = largest_range(cores_[b].free_buffer_ranges());
      if (block < tightest_block) {
        tightest = &cores_[b];
        tightest_block = block;
      }
    }
    throw L1OutOfMemory(
        "L1 out of memory on chip " + std::to_string(chip_) + ": " + what + " needs " +
        format_bytes(buffer.bytes_per_bank) + " at one address on each of " +
        std::to_string(reserve_banks.size()) + " cores (" +
        format_bytes(buffer.bytes_per_bank * reserve_banks.size()) +
        " in all), but the largest block free at a common address on those cores is " +
        format_bytes(largest_range(common)) + ". Tightest core " + tightest->location() + ": " +
        tightest->space_report(L1Use::Buffer) + ". " + kL1Fix);
  }
  buffer.address = *address;
  buffer.handle = next_handle_++;
  Entry entry{buffer, {}};
  entry.core_handles.reserve(reserve_banks.size());
  for (std::uint32_t b : reserve_banks) {
    entry.core_handles.emplace_back(
        b, cores_[b].allocate_buffer_at(*address, buffer.bytes_per_bank, buffer.name).handle);
  }
  buffers_.emplace(buffer.handle, std::move(entry));
  return buffer;
}

void ChipL1Map::free(std::uint64_t handle) {
  auto it = buffers_.find(handle);
  if (it == buffers_.end()) {
    throw std::logic_error("ChipL1Map::free: unknown L1 buffer handle " + std::to_string(handle) +
                           " on chip " + std::to_string(chip_));
  }
  for (const auto& [bank_id, core_handle] : it->second.core_handles) {
    cores_[bank_id].free(core_handle);
  }
  buffers_.erase(it);
}

const L1Buffer& ChipL1Map::buffer(std::uint64_t handle) const {
  auto it = buffers_.find(handle);
  if (it == buffers_.end()) {
    throw std::logic_error("ChipL1Map::buffer: unknown L1 buffer handle " + std::to_string(handle) +
                           " on chip " + std::to_string(chip_));
  }
  return it->second.buffer;
}

std::uint64_t ChipL1Map::peak_total_bytes() const {
  std::uint64_t peak = 0;
  for (const CoreL1Allocator& c : cores_) peak = std::max(peak, c.peak().total_bytes);
  return peak;
}

Coord ChipL1Map::peak_core() const {
  const CoreL1Allocator* best = &cores_.front();
  for (const CoreL1Allocator& c : cores_) {
    if (c.peak().total_bytes > best->peak().total_bytes) best = &c;
  }
  return best->logical_core();
}

void ChipL1Map::reset_peaks() {
  for (CoreL1Allocator& c : cores_) c.reset_peak();
}

// ---- DeviceL1Map ----

DeviceL1Map::DeviceL1Map(const DeviceSpec& spec, ShardReservation shard_reservation) {
  chips_.reserve(spec.num_chips);
  for (std::uint32_t c = 0; c < spec.num_chips; ++c) {
    chips_.emplace_back(spec, c, shard_reservation);
  }
}

ChipL1Map& DeviceL1Map::chip(std::uint32_t chip_id) {
  if (chip_id >= chips_.size()) {
    throw Error("chip " + std::to_string(chip_id) + " does not exist: the device has " +
                std::to_string(chips_.size()) + " chip(s)");
  }
  return chips_[chip_id];
}

const ChipL1Map& DeviceL1Map::chip(std::uint32_t chip_id) const {
  return const_cast<DeviceL1Map*>(this)->chip(chip_id);
}

}  // namespace wormsim::arch
