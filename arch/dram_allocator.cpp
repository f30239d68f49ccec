#include "arch/dram_allocator.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace wormsim::arch {

namespace {

std::string quoted(std::string_view name) {
  return name.empty() ? std::string() : " '" + std::string(name) + "'";
}

// Alignment is validated in the constructor before the address space is built from it.
std::uint64_t usable_bank_bytes(const DeviceSpec& spec) {
  const std::uint64_t alignment = dram_alignment(spec);
  return alignment == 0 ? 0 : spec.dram.bank_size_bytes / alignment * alignment;
}

}  // namespace

DramAllocator::DramAllocator(const DeviceSpec& spec, std::uint32_t chip)
    : spec_name_(spec.name),
      chip_(chip),
      alignment_(dram_alignment(spec)),
      banks_(spec.dram.banks),
      space_(0, usable_bank_bytes(spec)) {
  if (banks_.empty() || spec.dram.bank_size_bytes == 0 || alignment_ == 0) {
    throw Error("device spec '" + spec.name +
                "' has no usable DRAM (dram.banks, dram.bank_size_bytes and the dram "
                "read/write alignments must be non-empty / > 0)");
  }
  for (std::uint32_t b = 0; b < banks_.size(); ++b) {
    if (banks_[b].id != b) {
      throw Error("device spec '" + spec.name + "': dram.banks[" + std::to_string(b) + "].id is " +
                  std::to_string(banks_[b].id) + "; list the banks in id order");
    }
  }
  if (chip >= spec.num_chips) {
    throw Error("chip " + std::to_string(chip) + " does not exist: " + spec.name + " has " +
                std::to_string(spec.num_chips) + " chip(s)");
  }
}

const DramBankSpec& DramAllocator::bank_spec(std::uint32_t bank) const {
  if (bank >= banks_.size()) {
    throw Error("DRAM bank " + std::to_string(bank) + " does not exist: " + spec_name_ + " has " +
                std::to_string(banks_.size()) + " DRAM banks (0.." +
                std::to_string(banks_.size() - 1) + ")");
  }
  return banks_[bank];
}

Coord DramAllocator::bank_noc_endpoint(std::uint32_t bank) const {
  return bank_spec(bank).noc_endpoint;
}

std::uint64_t DramAllocator::bank_noc_address(std::uint32_t bank,
                                              std::uint64_t address_in_bank) const {
  return bank_spec(bank).offset_bytes + address_in_bank;
}

DramBuffer DramAllocator::allocate_interleaved(std::uint64_t num_pages, std::uint64_t page_size,
                                               std::string_view name) {
  const std::string what = "interleaved DRAM buffer" + quoted(name) + " (" +
                           std::to_string(num_pages) + " pages of " + std::to_string(page_size) +
                           " B over " + std::to_string(num_banks()) + " banks)";
  if (num_pages == 0) throw Error(what + " has no pages; give it at least one page");
  const InterleavedLayout layout = make_interleaved_layout(num_banks(), 0, page_size, alignment_);
  DramBuffer buffer;
  buffer.name = std::string(name);
  buffer.page_size = page_size;
  buffer.aligned_page_size = layout.aligned_page_size;
  buffer.num_pages = num_pages;
  buffer.bytes_per_bank = layout.bytes_per_bank(num_pages);
  for (std::uint32_t b = 0; b < num_banks(); ++b) buffer.banks.push_back(b);
  return place(std::move(buffer), what);
}

DramBuffer DramAllocator::allocate_sharded(const std::vector<std::uint32_t>& shard_banks,
                                           std::uint64_t pages_per_shard, std::uint64_t page_size,
                                           std::string_view name) {
  const std::string what = "sharded DRAM buffer" + quoted(name) + " (" +
                           std::to_string(shard_banks.size()) + " shards of " +
                           std::to_string(pages_per_shard) + " pages of " +
                           std::to_string(page_size) + " B)";
  if (shard_banks.empty()) throw Error(what + " lists no banks; give it at least one bank");
  if (pages_per_shard == 0) throw Error(what + " has empty shards; give each shard a page");
  if (page_size == 0) throw Error(what + " has a page size of 0 B");
  std::set<std::uint32_t> seen;
  for (std::uint32_t b : shard_banks) {
    bank_spec(b);  // validates the id
    if (!seen.insert(b).second) {
      throw Error(what + " lists DRAM bank " + std::to_string(b) +
                  " twice; give each shard its own bank");
    }
  }
  DramBuffer buffer;
  buffer.name = std::string(name);
  buffer.sharded = true;
  buffer.page_size = page_size;
  buffer.aligned_page_size = round_up(page_size, alignment_);
  buffer.num_pages = pages_per_shard * shard_banks.size();
  buffer.pages_per_shard = pages_per_shard;
  buffer.bytes_per_bank = pages_per_shard * buffer.aligned_page_size;
  buffer.banks = shard_banks;
  return place(std::move(buffer), what);
}

DramBuffer DramAllocator::place(DramBuffer buffer, const std::string& what) {
  const std::vector<AddressRange> free_ranges = space_.free_ranges();
  const auto address = lowest_fit(free_ranges, buffer.bytes_per_bank);
  if (!address) {
    std::string in_use = std::to_string(buffers_.size()) + " buffers, " +
                         format_bytes(space_.used_bytes()) + " per bank";
    // Name the largest tensors: they are the ones worth moving or shrinking.
    std::vector<const DramBuffer*> largest;
    for (const auto& [handle, b] : buffers_) largest.push_back(&b);
    std::stable_sort(largest.begin(), largest.end(), [](const DramBuffer* a, const DramBuffer* b) {
      return a->bytes_per_bank > b->bytes_per_bank;
    });
    constexpr std::size_t kListed = 4;
    for (std::size_t i = 0; i < std::min(kListed, largest.size()); ++i) {
      in_use += (i == 0 ? "; largest: '" : ", '") + largest[i]->name + "' " +
                format_bytes(largest[i]->bytes_per_bank) + " per bank";
    }
    throw Error("DRAM out of memory on chip " + std::to_string(chip_) + ": " + what + " needs " +
                format_bytes(buffer.bytes_per_bank) + " per bank (" +
                format_bytes(buffer.bytes_per_bank * num_banks()) +
                " on the chip, every bank reserves it) but the largest free block is " +
                format_bytes(largest_range(free_ranges)) + " per bank (total free " +
                format_bytes(free_bytes_per_bank()) + " per bank of " + format_bytes(bank_size()) +
                "). In use: " + in_use +
                ". Fix: free tensors that are no longer needed, use a smaller data type (e.g. "
                "bfloat8_b), or split the model over both chips.");
  }
  space_.reserve(*address, buffer.bytes_per_bank);
  peak_bytes_per_bank_ = std::max(peak_bytes_per_bank_, space_.used_bytes());
  buffer.address = *address;
  buffer.handle = next_handle_++;
  buffers_.emplace(buffer.handle, buffer);
  return buffer;
}

void DramAllocator::free(std::uint64_t handle) {
  auto it = buffers_.find(handle);
  if (it == buffers_.end()) {
    throw std::logic_error("DramAllocator::free: unknown DRAM buffer handle " +
                           std::to_string(handle) + " on chip " + std::to_string(chip_));
  }
  space_.release(it->second.address);
  buffers_.erase(it);
}

const DramBuffer& DramAllocator::buffer(std::uint64_t handle) const {
  auto it = buffers_.find(handle);
  if (it == buffers_.end()) {
    throw std::logic_error("DramAllocator::buffer: unknown DRAM buffer handle " +
                           std::to_string(handle) + " on chip " + std::to_string(chip_));
  }
  return it->second;
}

}  // namespace wormsim::arch
