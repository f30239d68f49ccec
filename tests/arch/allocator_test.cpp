// L1 and DRAM allocators: CB / buffer placement and alignment, CBs and buffers never crossing,
// free and reuse, out-of-memory messages, the CB count limit, peak tracking, lockstep
// (common-address) interleaved and sharded buffers, and interleaved page address math.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "arch/buffer_address.hpp"
#include "arch/device_spec.hpp"
#include "arch/dram_allocator.hpp"
#include "arch/l1_allocator.hpp"

namespace wormsim::arch {

// Readable failure output (internal linkage: other test files may print these types too).
[[maybe_unused]] static void PrintTo(const Coord& c, std::ostream* os) {
  *os << "(" << c.x << "," << c.y << ")";
}
[[maybe_unused]] static void PrintTo(const BankAddress& a, std::ostream* os) {
  *os << "{bank " << a.bank << ", address " << a.address << "}";
}

namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;

bool overlaps(const L1Allocation& a, const L1Allocation& b) {
  return a.address < b.address + b.bytes && b.address < a.address + a.bytes;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

template <typename F>
std::string error_text(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected wormsim::Error";
  return {};
}

class AllocatorTest : public ::testing::Test {
 protected:
  DeviceSpec spec = load_device_spec_by_name("n300");
  std::uint64_t l1_begin() const { return spec.l1.first_usable_address; }
  std::uint64_t l1_end() const { return spec.l1.first_usable_address + spec.l1.usable_bytes; }
};

// ---------------------------------------------------------------------------------------------
// Address math

TEST(AddressMath, RoundUpAndCeilDiv) {
  EXPECT_EQ(round_up(0, 32), 0u);
  EXPECT_EQ(round_up(1, 32), 32u);
  EXPECT_EQ(round_up(1000, 32), 1024u);
  EXPECT_EQ(round_up(1088, 32), 1088u);
  EXPECT_EQ(ceil_div(100, 12), 9u);
  EXPECT_EQ(ceil_div(96, 12), 8u);
}

TEST(AddressMath, InterleavedPagesRoundRobinFromBankZero) {
  // 12 DRAM banks, 2048 B tiles, base 4096: page i -> bank i%12, base + (i/12)*2048.
  const InterleavedLayout layout = make_interleaved_layout(12, 4096, 2048, 32);
  EXPECT_EQ(layout.aligned_page_size, 2048u);
  EXPECT_EQ(layout.page(0), (BankAddress{0, 4096}));
  EXPECT_EQ(layout.page(11), (BankAddress{11, 4096}));
  EXPECT_EQ(layout.page(12), (BankAddress{0, 4096 + 2048}));
  EXPECT_EQ(layout.page(25), (BankAddress{1, 4096 + 2 * 2048}));
  EXPECT_EQ(layout.page(143), (BankAddress{11, 4096 + 11 * 2048}));
}

TEST(AddressMath, NonAlignedPagesAreStridedByTheAlignedSize) {
  // 1000 B pages in 32 B-aligned banks occupy 1024 B slots.
  const InterleavedLayout dram = make_interleaved_layout(12, 0, 1000, 32);
  EXPECT_EQ(dram.aligned_page_size, 1024u);
  EXPECT_EQ(dram.page(13), (BankAddress{1, 1024}));
  EXPECT_EQ(dram.page(37), (BankAddress{1, 3 * 1024}));
  // bfloat8_b tile (1088 B) is already 32 B aligned; a 100 B row pads to 128.
  EXPECT_EQ(make_interleaved_layout(12, 0, 1088, 32).page(24).address, 2u * 1088);
  EXPECT_EQ(make_interleaved_layout(12, 0, 100, 32).page(24).address, 2u * 128);
  // Same page size in 16 B-aligned L1 over 64 banks: 1008 B slots.
  const InterleavedLayout l1 = make_interleaved_layout(64, 500'000, 1000, 16);
  EXPECT_EQ(l1.aligned_page_size, 1008u);
  EXPECT_EQ(l1.page(64 * 3 + 5), (BankAddress{5, 500'000 + 3 * 1008}));
}

TEST(AddressMath, PerBankFootprintIsCeilPagesTimesAlignedPage) {
  EXPECT_EQ(interleaved_bytes_per_bank(100, 12, 2048, 32), 9u * 2048);
  EXPECT_EQ(interleaved_bytes_per_bank(96, 12, 2048, 32), 8u * 2048);
  EXPECT_EQ(interleaved_bytes_per_bank(25, 12, 1000, 32), 3u * 1024);
  EXPECT_EQ(interleaved_bytes_per_bank(1, 12, 2048, 32), 2048u);  // lockstep: one page still
  EXPECT_EQ(interleaved_bytes_per_bank(130, 64, 2048, 16), 3u * 2048);
  EXPECT_EQ(interleaved_bytes_per_bank(65, 64, 1000, 16), 2u * 1008);
}

TEST(AddressMath, InvalidLayoutsAreUserErrors) {
  EXPECT_THROW(make_interleaved_layout(0, 0, 2048, 32), Error);
  EXPECT_THROW(make_interleaved_layout(12, 0, 0, 32), Error);
}

TEST(AddressMath, RangeIntersectionAndFits) {
  const std::vector<AddressRange> a = {{0, 100}, {200, 300}};
  const std::vector<AddressRange> b = {{50, 250}, {280, 400}};
  const std::vector<AddressRange> both = intersect_ranges(a, b);
  ASSERT_EQ(both.size(), 3u);
  EXPECT_EQ(both[0], (AddressRange{50, 100}));
  EXPECT_EQ(both[1], (AddressRange{200, 250}));
  EXPECT_EQ(both[2], (AddressRange{280, 300}));
  EXPECT_EQ(lowest_fit(both, 40), std::optional<std::uint64_t>(50));
  EXPECT_EQ(highest_fit(both, 40), std::optional<std::uint64_t>(210));
  EXPECT_EQ(highest_fit(both, 60), std::nullopt);
  EXPECT_EQ(largest_range(both), 50u);
  EXPECT_EQ(total_size(both), 120u);
}

TEST_F(AllocatorTest, DramBanksMapToTheirNocEndpointsAndOffsets) {
  EXPECT_EQ(dram_alignment(spec), 32u);
  EXPECT_EQ(dram_bank_noc_endpoint(spec, 0), (Coord{0, 11}));
  EXPECT_EQ(dram_bank_noc_endpoint(spec, 4), (Coord{5, 1}));
  EXPECT_EQ(dram_bank_noc_endpoint(spec, 11), (Coord{5, 7}));
  // Odd banks are the second 1 GiB of their controller.
  EXPECT_EQ(dram_bank_noc_address(spec, 0, 4096), 4096u);
  EXPECT_EQ(dram_bank_noc_address(spec, 1, 4096), kGiB + 4096);
  EXPECT_THROW(dram_bank_noc_endpoint(spec, 12), Error);
}

TEST_F(AllocatorTest, L1BanksEnumerateTheWorkerGridRowMajor) {
  EXPECT_EQ(l1_bank_logical_core(spec, 0), (Coord{0, 0}));
  EXPECT_EQ(l1_bank_logical_core(spec, 7), (Coord{7, 0}));
  EXPECT_EQ(l1_bank_logical_core(spec, 9), (Coord{1, 1}));
  EXPECT_EQ(l1_bank_logical_core(spec, 63), (Coord{7, 7}));
  EXPECT_EQ(l1_bank_of_core(spec, Coord{1, 1}), 9u);
  EXPECT_EQ(l1_bank_noc_coord(spec, 9), spec.worker_coord(1, 1));
  EXPECT_EQ(l1_bank_noc_coord(spec, 63), spec.worker_coord(7, 7));
  EXPECT_THROW(l1_bank_logical_core(spec, 64), Error);
  EXPECT_THROW(l1_bank_of_core(spec, Coord{8, 0}), Error);
}

// ---------------------------------------------------------------------------------------------
// One core's L1

TEST_F(AllocatorTest, CircularBuffersGrowUpFromTheFirstUsableAddress) {
  CoreL1Allocator l1(spec, 0, Coord{0, 0});
  EXPECT_EQ(l1.region_begin(), l1_begin());
  EXPECT_EQ(l1.region_end(), l1_end());
  EXPECT_EQ(l1.capacity(), spec.l1.usable_bytes);

  const L1Allocation a = l1.allocate_circular_buffer(1000, "cb_in0");  // rounds to 1008
  const L1Allocation b = l1.allocate_circular_buffer(4096, "cb_in1");
  const L1Allocation c = l1.allocate_circular_buffer(1, "cb_out");  // rounds to 16
  EXPECT_EQ(a.address, l1_begin());
  EXPECT_EQ(a.bytes, 1008u);
  EXPECT_EQ(b.address, l1_begin() + 1008);
  EXPECT_EQ(c.address, l1_begin() + 1008 + 4096);
  EXPECT_EQ(c.bytes, 16u);
  for (const L1Allocation& x : {a, b, c}) {
    EXPECT_EQ(x.address % spec.l1.alignment_bytes, 0u);
    EXPECT_EQ(x.use, L1Use::CircularBuffer);
  }
  EXPECT_EQ(l1.circular_buffer_count(), 3u);
  EXPECT_EQ(l1.usage().circular_buffer_bytes, 1008u + 4096 + 16);
}

TEST_F(AllocatorTest, BuffersGrowDownFromTheTopOfL1) {
  CoreL1Allocator l1(spec, 0, Coord{0, 0});
  const L1Allocation a = l1.allocate_buffer(2048, "a");
  const L1Allocation b = l1.allocate_buffer(100, "b");  // rounds to 112
  EXPECT_EQ(a.address, l1_end() - 2048);
  EXPECT_EQ(b.address, l1_end() - 2048 - 112);
  EXPECT_EQ(b.bytes, 112u);
  EXPECT_EQ(a.address % 16, 0u);
  EXPECT_EQ(b.address % 16, 0u);
  EXPECT_EQ(l1.usage().buffer_bytes, 2048u + 112);
  EXPECT_EQ(l1.free_bytes(), spec.l1.usable_bytes - 2048 - 112);
}

TEST_F(AllocatorTest, FreedBlocksAreReusedFirstFit) {
  CoreL1Allocator l1(spec, 0, Coord{0, 0});
  const L1Allocation a = l1.allocate_buffer(8 * kKiB, "a");
  const L1Allocation b = l1.allocate_buffer(8 * kKiB, "b");
  const L1Allocation c = l1.allocate_buffer(8 * kKiB, "c");
  l1.free(b.handle);
  // Top-down first fit: the hole left by b is the highest block that fits.
  const L1Allocation d = l1.allocate_buffer(8 * kKiB, "d");
  EXPECT_EQ(d.address, b.address);
  l1.free(d.handle);
  const L1Allocation e = l1.allocate_buffer(2 * kKiB, "e");  // top of b's hole
  EXPECT_EQ(e.address, b.address + 6 * kKiB);
  // A request larger than the hole goes below c.
  const L1Allocation f = l1.allocate_buffer(16 * kKiB, "f");
  EXPECT_EQ(f.address, c.address - 16 * kKiB);

  const L1Allocation cb0 = l1.allocate_circular_buffer(4 * kKiB, "cb0");
  const L1Allocation cb1 = l1.allocate_circular_buffer(4 * kKiB, "cb1");
  const L1Allocation cb2 = l1.allocate_circular_buffer(4 * kKiB, "cb2");
  l1.free(cb1.handle);
  // Bottom-up first fit: cb1's hole is the lowest block that fits.
  EXPECT_EQ(l1.allocate_circular_buffer(4 * kKiB, "cb3").address, cb1.address);
  EXPECT_EQ(l1.allocate_circular_buffer(4 * kKiB, "cb4").address, cb2.address + 4 * kKiB);
  EXPECT_EQ(cb0.address, l1_begin());
  EXPECT_EQ(a.address, l1_end() - 8 * kKiB);

  // Freeing everything returns the whole region.
  for (const L1Allocation& x : l1.allocations()) l1.free(x.handle);
  EXPECT_EQ(l1.free_bytes(), spec.l1.usable_bytes);
  EXPECT_EQ(l1.largest_free_block(), spec.l1.usable_bytes);
  EXPECT_EQ(l1.circular_buffer_count(), 0u);
  EXPECT_THROW(l1.free(a.handle), std::logic_error);
}

TEST_F(AllocatorTest, CircularBuffersAndBuffersNeverCross) {
  CoreL1Allocator l1(spec, 0, Coord{0, 0});
  // A buffer hole at the very top cannot take a CB: CBs stay below the lowest buffer.
  const L1Allocation top = l1.allocate_buffer(256 * kKiB, "top");
  const L1Allocation low = l1.allocate_buffer(8 * kKiB, "low");
  l1.free(top.handle);
  const std::uint64_t below_low = low.address - l1_begin();
  EXPECT_EQ(largest_range(l1.free_circular_buffer_ranges()), below_low);
  EXPECT_NO_THROW(l1.allocate_circular_buffer(below_low, "fills_below"));
  EXPECT_THROW(l1.allocate_circular_buffer(16, "no_room"), Error);
  EXPECT_EQ(l1.free_bytes(), 256 * kKiB);  // the free hole is above `low`

  // A CB hole at the bottom cannot take a buffer: buffers stay above the highest CB.
  CoreL1Allocator l1b(spec, 0, Coord{1, 0});
  const L1Allocation cb_a = l1b.allocate_circular_buffer(256 * kKiB, "cb_a");
  l1b.allocate_circular_buffer(8 * kKiB, "cb_b");
  l1b.free(cb_a.handle);
  const std::uint64_t above_cbs = l1_end() - (l1_begin() + 256 * kKiB + 8 * kKiB);
  EXPECT_EQ(largest_range(l1b.free_buffer_ranges()), above_cbs);
  EXPECT_THROW(l1b.allocate_buffer(above_cbs + 16, "too_big"), Error);
  EXPECT_NO_THROW(l1b.allocate_buffer(above_cbs, "exact"));
  EXPECT_THROW(l1b.allocate_buffer_at(l1_begin(), 16, "in_cb_hole"), Error);
}

TEST_F(AllocatorTest, RandomWorkloadKeepsEveryInvariant) {
  CoreL1Allocator l1(spec, 0, Coord{2, 3});
  std::mt19937 rng(1234);
  std::vector<std::uint64_t> live;
  for (int step = 0; step < 4000; ++step) {
    const bool do_free = !live.empty() && rng() % 3 == 0;
    if (do_free) {
      const std::size_t i = rng() % live.size();
      l1.free(live[i]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      const std::uint64_t bytes = 1 + rng() % (64 * kKiB);
      try {
        live.push_back(rng() % 2 == 0 ? l1.allocate_circular_buffer(bytes).handle
                                      : l1.allocate_buffer(bytes).handle);
      } catch (const Error&) {
        // Full, or out of CBs: fine, the invariants below must still hold.
      }
    }
    const std::vector<L1Allocation> all = l1.allocations();
    std::uint64_t used = 0;
    std::uint64_t highest_cb_end = l1_begin();
    std::uint64_t lowest_buffer = l1_end();
    for (std::size_t i = 0; i < all.size(); ++i) {
      ASSERT_GE(all[i].address, l1_begin());
      ASSERT_LE(all[i].address + all[i].bytes, l1_end());
      ASSERT_EQ(all[i].address % 16, 0u);
      ASSERT_EQ(all[i].bytes % 16, 0u);
      if (i + 1 < all.size()) {
        ASSERT_FALSE(overlaps(all[i], all[i + 1]));
      }
      used += all[i].bytes;
      if (all[i].use == L1Use::CircularBuffer) {
        highest_cb_end = std::max(highest_cb_end, all[i].address + all[i].bytes);
      } else {
        lowest_buffer = std::min(lowest_buffer, all[i].address);
      }
    }
    ASSERT_LE(highest_cb_end, lowest_buffer);
    ASSERT_LE(l1.circular_buffer_count(), spec.l1.max_circular_buffers);
    ASSERT_EQ(l1.usage().total_bytes, used);
    ASSERT_EQ(l1.free_bytes(), spec.l1.usable_bytes - used);
    ASSERT_GE(l1.peak().total_bytes, used);
  }
}

TEST_F(AllocatorTest, OverflowErrorNamesCoreAskedFreeUsersAndFix) {
  ChipL1Map chip(spec, 1);
  CoreL1Allocator& l1 = chip.core(Coord{3, 2});
  l1.allocate_circular_buffer(600'000, "cb_in0");
  l1.allocate_circular_buffer(400'000, "cb_out");
  l1.allocate_buffer(300'000, "weights");
  const std::uint64_t free = spec.l1.usable_bytes - 600'000 - 400'000 - 300'000;  // 95424
  ASSERT_EQ(l1.free_bytes(), free);
  const std::string text = error_text([&] { l1.allocate_buffer(200'000, "activations"); });
  EXPECT_TRUE(contains(text, "chip 1 core (x=3,y=2)")) << text;
  const Coord noc = spec.worker_coord(3, 2);
  EXPECT_TRUE(contains(text, "NoC0 (" + std::to_string(noc.x) + "," + std::to_string(noc.y) + ")"))
      << text;
  EXPECT_TRUE(contains(text, "'activations' needs 200000 B")) << text;
  EXPECT_TRUE(contains(text, "largest free block for L1 buffers")) << text;
  EXPECT_TRUE(contains(text, std::to_string(free) + " B")) << text;  // largest == total here
  EXPECT_TRUE(contains(text, "total free " + std::to_string(free) + " B")) << text;
  EXPECT_TRUE(contains(text, "circular buffers 2 CBs, 1000000 B")) << text;
  EXPECT_TRUE(contains(text, "L1 buffers 1 buffer, 300000 B")) << text;
  EXPECT_TRUE(contains(text, "circular buffer 'cb_in0'")) << text;
  EXPECT_TRUE(contains(text,
                       "use fewer/smaller CBs, shard over more cores, or place the "
                       "tensor in DRAM"))
      << text;

  const std::string cb_text = error_text([&] { l1.allocate_circular_buffer(100'000, "cb_big"); });
  EXPECT_TRUE(contains(cb_text, "chip 1 core (x=3,y=2)")) << cb_text;
  EXPECT_TRUE(contains(cb_text, "circular buffer 'cb_big' needs 100000 B")) << cb_text;
  EXPECT_TRUE(contains(cb_text, "largest free block for circular buffers")) << cb_text;
}

TEST_F(AllocatorTest, CircularBufferCountIsLimited) {
  CoreL1Allocator l1(spec, 0, Coord{0, 0});
  std::vector<L1Allocation> cbs;
  for (std::uint32_t i = 0; i < spec.l1.max_circular_buffers; ++i) {
    cbs.push_back(l1.allocate_circular_buffer(2048, "cb" + std::to_string(i)));
  }
  EXPECT_EQ(l1.circular_buffer_count(), 32u);
  const std::string text = error_text([&] { l1.allocate_circular_buffer(2048, "cb32"); });
  EXPECT_TRUE(contains(text, "all 32 circular buffers")) << text;
  EXPECT_TRUE(contains(text, "core (x=0,y=0)")) << text;
  // Buffers are not limited by the CB count.
  EXPECT_NO_THROW(l1.allocate_buffer(2048, "buffer"));
  l1.free(cbs[5].handle);
  EXPECT_EQ(l1.allocate_circular_buffer(2048, "cb_again").address, cbs[5].address);
}

TEST_F(AllocatorTest, PeakTracksSimultaneousUse) {
  CoreL1Allocator l1(spec, 0, Coord{0, 0});
  const L1Allocation cb = l1.allocate_circular_buffer(100 * kKiB, "cb");
  l1.free(cb.handle);
  const L1Allocation buf = l1.allocate_buffer(200 * kKiB, "buf");
  EXPECT_EQ(l1.peak().circular_buffer_bytes, 100 * kKiB);
  EXPECT_EQ(l1.peak().buffer_bytes, 200 * kKiB);
  EXPECT_EQ(l1.peak().total_bytes, 200 * kKiB);  // never both at once
  const L1Allocation cb2 = l1.allocate_circular_buffer(50 * kKiB, "cb2");
  EXPECT_EQ(l1.peak().total_bytes, 250 * kKiB);
  EXPECT_EQ(l1.usage().total_bytes, 250 * kKiB);
  l1.free(cb2.handle);
  l1.free(buf.handle);
  EXPECT_EQ(l1.usage().total_bytes, 0u);
  EXPECT_EQ(l1.peak().total_bytes, 250 * kKiB);
  l1.reset_peak();
  EXPECT_EQ(l1.peak().total_bytes, 0u);
  EXPECT_EQ(l1.peak().circular_buffer_bytes, 0u);
}

TEST_F(AllocatorTest, ZeroSizesAndBadCoresAreUserErrors) {
  CoreL1Allocator l1(spec, 0, Coord{0, 0});
  EXPECT_THROW(l1.allocate_buffer(0, "empty"), Error);
  EXPECT_THROW(l1.allocate_circular_buffer(0, "empty"), Error);
  EXPECT_THROW(CoreL1Allocator(spec, 0, Coord{8, 0}), Error);
  EXPECT_THROW(CoreL1Allocator(spec, 2, Coord{0, 0}), Error);
  ChipL1Map chip(spec, 0);
  const std::string text = error_text([&] { chip.core(Coord{0, 8}); });
  EXPECT_TRUE(contains(text, "(x=0,y=8)")) << text;
  EXPECT_TRUE(contains(text, "8x8 worker grid")) << text;
}

// ---------------------------------------------------------------------------------------------
// A chip's L1: interleaved and sharded buffers at one common address

TEST_F(AllocatorTest, InterleavedL1BufferSharesOneAddressOnEveryCore) {
  ChipL1Map chip(spec, 0);
  ASSERT_EQ(chip.num_banks(), 64u);
  // Core (5,5) already holds a 4 KiB buffer at the top, so the common address is below it.
  chip.core(Coord{5, 5}).allocate_buffer(4 * kKiB, "private");
  chip.core(Coord{0, 0}).allocate_circular_buffer(64 * kKiB, "cb");

  const L1Buffer buf = chip.allocate_interleaved(130, 2048, "act");
  EXPECT_FALSE(buf.sharded);
  EXPECT_EQ(buf.bytes_per_bank, 3u * 2048);  // ceil(130 / 64) pages per core
  EXPECT_EQ(buf.address, l1_end() - 4 * kKiB - 3 * 2048);
  for (std::uint32_t b = 0; b < chip.num_banks(); ++b) {
    const std::vector<L1Allocation> on_core = chip.bank(b).allocations();
    const bool found = std::any_of(on_core.begin(), on_core.end(), [&](const L1Allocation& a) {
      return a.address == buf.address && a.bytes == 3u * 2048 && a.name == "act";
    });
    EXPECT_TRUE(found) << "bank " << b;
  }
  EXPECT_EQ(buf.page(0), (BankAddress{0, buf.address}));
  EXPECT_EQ(buf.page(65), (BankAddress{1, buf.address + 2048}));
  EXPECT_EQ(buf.page(129), (BankAddress{1, buf.address + 2 * 2048}));
  EXPECT_THROW(buf.page(130), Error);
  EXPECT_EQ(chip.bank_core(9), (Coord{1, 1}));
  EXPECT_EQ(chip.bank_noc_coord(9), spec.worker_coord(1, 1));

  // Non-aligned pages: 1000 B rounds to 1008 B slots.
  const L1Buffer odd = chip.allocate_interleaved(64 * 2 + 1, 1000, "odd");
  EXPECT_EQ(odd.aligned_page_size, 1008u);
  EXPECT_EQ(odd.bytes_per_bank, 3u * 1008);
  EXPECT_EQ(odd.address, buf.address - 3 * 1008);
  EXPECT_EQ(odd.page(64 + 7), (BankAddress{7, odd.address + 1008}));

  chip.free(buf.handle);
  for (std::uint32_t b = 0; b < chip.num_banks(); ++b) {
    for (const L1Allocation& a : chip.bank(b).allocations()) EXPECT_NE(a.name, "act");
  }
  EXPECT_EQ(chip.buffer_count(), 1u);
  EXPECT_EQ(chip.bank(3).usage().buffer_bytes, 3u * 1008);
  EXPECT_THROW(chip.free(buf.handle), std::logic_error);
}

TEST_F(AllocatorTest, InterleavedL1FindsACommonHoleAcrossCores) {
  ChipL1Map chip(spec, 0);
  // Every core gets a different top-of-L1 buffer; freeing leaves holes at different heights.
  const L1Buffer base = chip.allocate_interleaved(64 * 4, 4096, "base");  // 16 KiB per core
  chip.core(Coord{7, 7}).allocate_buffer(32 * kKiB, "tall");              // below base on (7,7)
  chip.free(base.handle);
  // The top 16 KiB is free everywhere; 16 KiB fits there on every core including (7,7).
  const L1Buffer again = chip.allocate_interleaved(64, 16 * kKiB, "again");
  EXPECT_EQ(again.address, l1_end() - 16 * kKiB);
  // 32 KiB does not fit in the top hole; it goes below (7,7)'s private buffer.
  const L1Buffer bigger = chip.allocate_interleaved(64, 32 * kKiB, "bigger");
  EXPECT_EQ(bigger.address, l1_end() - 16 * kKiB - 32 * kKiB - 32 * kKiB);
}

TEST_F(AllocatorTest, InterleavedL1OverflowNamesTheTightestCore) {
  ChipL1Map chip(spec, 0);
  chip.core(Coord{3, 2}).allocate_circular_buffer(spec.l1.usable_bytes - 8 * kKiB, "huge_cb");
  const std::string text = error_text([&] { chip.allocate_interleaved(64 * 8, 2048, "act"); });
  EXPECT_TRUE(contains(text, "L1 out of memory on chip 0")) << text;
  EXPECT_TRUE(contains(text, "interleaved L1 buffer 'act'")) << text;
  EXPECT_TRUE(contains(text, "needs 16384 B")) << text;
  EXPECT_TRUE(contains(text, "each of 64 cores")) << text;
  EXPECT_TRUE(contains(text, "common address on those cores is 8192 B")) << text;
  EXPECT_TRUE(contains(text, "Tightest core chip 0 core (x=3,y=2)")) << text;
  EXPECT_TRUE(contains(text, "circular buffer 'huge_cb'")) << text;
  EXPECT_TRUE(contains(text, "place the tensor in DRAM")) << text;
  // Nothing was reserved by the failed attempt.
  EXPECT_EQ(chip.buffer_count(), 0u);
  EXPECT_EQ(chip.core(Coord{0, 0}).usage().total_bytes, 0u);
  EXPECT_NO_THROW(chip.allocate_interleaved(64 * 4, 2048, "fits"));
}

TEST_F(AllocatorTest, ShardedL1ReservesLockstepOnAllCoresByDefault) {
  ChipL1Map chip(spec, 0);  // ShardReservation::AllCores, as tt-metal
  const std::vector<Coord> grid = {{0, 0}, {1, 0}, {2, 0}};
  const L1Buffer s = chip.allocate_sharded(grid, 4, 2048, "shards");
  EXPECT_TRUE(s.sharded);
  EXPECT_EQ(s.bytes_per_bank, 4u * 2048);
  EXPECT_EQ(s.address, l1_end() - 4 * 2048);
  EXPECT_EQ(s.num_pages, 12u);
  EXPECT_EQ(s.banks, (std::vector<std::uint32_t>{0, 1, 2}));
  EXPECT_EQ(s.page(5), (BankAddress{1, s.address + 2048}));
  EXPECT_EQ(s.page(11), (BankAddress{2, s.address + 3 * 2048}));
  EXPECT_EQ(chip.core(Coord{7, 7}).usage().buffer_bytes, 4u * 2048);  // outside the grid too
  const L1Buffer next = chip.allocate_interleaved(64, 2048, "next");
  EXPECT_EQ(next.address, s.address - 2048);
}

TEST_F(AllocatorTest, ShardedL1GridOnlyReservesOnlyTheGrid) {
  ChipL1Map chip(spec, 0, ShardReservation::GridOnly);
  const std::vector<Coord> grid = {{0, 1}, {4, 1}};  // banks 8 and 12
  chip.core(Coord{4, 1}).allocate_buffer(1024, "private");
  const L1Buffer s = chip.allocate_sharded(grid, 2, 1000, "shards");
  EXPECT_EQ(s.aligned_page_size, 1008u);
  EXPECT_EQ(s.bytes_per_bank, 2u * 1008);
  EXPECT_EQ(s.address, l1_end() - 1024 - 2 * 1008);  // common with (4,1)'s private buffer
  EXPECT_EQ(s.banks, (std::vector<std::uint32_t>{8, 12}));
  EXPECT_EQ(s.page(3), (BankAddress{12, s.address + 1008}));
  EXPECT_EQ(chip.core(Coord{7, 7}).usage().buffer_bytes, 0u);
  EXPECT_EQ(chip.core(Coord{0, 1}).usage().buffer_bytes, 2u * 1008);
  chip.free(s.handle);
  EXPECT_EQ(chip.core(Coord{0, 1}).usage().buffer_bytes, 0u);
  EXPECT_EQ(chip.core(Coord{4, 1}).usage().buffer_bytes, 1024u);

  EXPECT_THROW(chip.allocate_sharded({}, 2, 1000, "none"), Error);
  EXPECT_THROW(chip.allocate_sharded({{0, 0}, {0, 0}}, 2, 1000, "dup"), Error);
  EXPECT_THROW(chip.allocate_sharded({{9, 0}}, 2, 1000, "outside"), Error);
}

TEST_F(AllocatorTest, ChipPeakIsTheBusiestCore) {
  DeviceL1Map device(spec);
  ASSERT_EQ(device.num_chips(), 2u);
  ChipL1Map& chip1 = device.chip(1);
  chip1.allocate_interleaved(64, 2048, "x");
  const L1Allocation cb = chip1.core(Coord{6, 3}).allocate_circular_buffer(10 * kKiB, "cb");
  chip1.core(Coord{6, 3}).free(cb.handle);
  EXPECT_EQ(chip1.peak_total_bytes(), 2048u + 10 * kKiB);
  EXPECT_EQ(chip1.peak_core(), (Coord{6, 3}));
  chip1.reset_peaks();
  EXPECT_EQ(chip1.peak_total_bytes(), 2048u);
  EXPECT_EQ(device.chip(0).peak_total_bytes(), 0u);
  EXPECT_THROW(device.chip(2), Error);
}

// ---------------------------------------------------------------------------------------------
// DRAM

TEST_F(AllocatorTest, DramInterleavedBuffersAreBottomUpWithOneBaseInEveryBank) {
  DramAllocator dram(spec, 0);
  EXPECT_EQ(dram.num_banks(), 12u);
  EXPECT_EQ(dram.bank_size(), kGiB);
  EXPECT_EQ(dram.alignment(), 32u);

  const DramBuffer a = dram.allocate_interleaved(100, 2048, "a");
  EXPECT_EQ(a.address, 0u);
  EXPECT_EQ(a.bytes_per_bank, 9u * 2048);
  EXPECT_EQ(a.page(0), (BankAddress{0, 0}));
  EXPECT_EQ(a.page(11), (BankAddress{11, 0}));
  EXPECT_EQ(a.page(12), (BankAddress{0, 2048}));
  EXPECT_EQ(a.page(99), (BankAddress{3, 8 * 2048}));

  const DramBuffer b = dram.allocate_interleaved(25, 1000, "b");  // 1024 B slots
  EXPECT_EQ(b.address, 9u * 2048);
  EXPECT_EQ(b.aligned_page_size, 1024u);
  EXPECT_EQ(b.bytes_per_bank, 3u * 1024);
  EXPECT_EQ(b.page(13), (BankAddress{1, b.address + 1024}));
  EXPECT_EQ(b.page(24), (BankAddress{0, b.address + 2 * 1024}));

  const DramBuffer c = dram.allocate_interleaved(12, 1088, "c");  // bfloat8_b tiles
  EXPECT_EQ(c.address, b.address + 3 * 1024);
  EXPECT_EQ(c.bytes_per_bank, 1088u);
  EXPECT_EQ(c.address % 32, 0u);
  EXPECT_EQ(dram.used_bytes_per_bank(), 9u * 2048 + 3 * 1024 + 1088);

  // Free and reuse: b's hole is the lowest block that fits a same-size buffer.
  dram.free(b.handle);
  const DramBuffer d = dram.allocate_interleaved(36, 1024, "d");
  EXPECT_EQ(d.address, b.address);
  EXPECT_EQ(dram.peak_bytes_per_bank(), 9u * 2048 + 3 * 1024 + 1088);
  EXPECT_EQ(a.page(16).bank, 4u);
  EXPECT_EQ(dram.bank_noc_endpoint(a.page(16).bank), (Coord{5, 1}));
  EXPECT_EQ(dram.bank_noc_address(a.page(13).bank, a.page(13).address), kGiB + 2048);
}

TEST_F(AllocatorTest, DramShardedBuffersAreLockstepToo) {
  DramAllocator dram(spec, 1);
  const DramBuffer s = dram.allocate_sharded({0, 3, 7}, 4, 2048, "weights");
  EXPECT_TRUE(s.sharded);
  EXPECT_EQ(s.address, 0u);
  EXPECT_EQ(s.bytes_per_bank, 4u * 2048);
  EXPECT_EQ(s.page(5), (BankAddress{3, 2048}));
  EXPECT_EQ(s.page(8), (BankAddress{7, 0}));
  // The shard size is reserved in every bank, so the next buffer starts above it.
  EXPECT_EQ(dram.allocate_interleaved(12, 2048, "next").address, 4u * 2048);
  EXPECT_THROW(dram.allocate_sharded({0, 12}, 4, 2048, "bad_bank"), Error);
  EXPECT_THROW(dram.allocate_sharded({1, 1}, 4, 2048, "dup_bank"), Error);
  EXPECT_THROW(dram.allocate_interleaved(0, 2048, "empty"), Error);
}

TEST_F(AllocatorTest, DramOutOfMemoryNamesAskedAndFree) {
  DramAllocator dram(spec, 0);
  const DramBuffer weights = dram.allocate_interleaved(12 * 768, kMiB, "weights");  // 768 MiB
  EXPECT_EQ(weights.bytes_per_bank, 768 * kMiB);
  const std::string text =
      error_text([&] { dram.allocate_interleaved(12 * 300, kMiB, "kv_cache"); });
  EXPECT_TRUE(contains(text, "DRAM out of memory on chip 0")) << text;
  EXPECT_TRUE(contains(text, "interleaved DRAM buffer 'kv_cache'")) << text;
  EXPECT_TRUE(contains(text, "needs " + std::to_string(300 * kMiB) + " B")) << text;
  EXPECT_TRUE(contains(text, "largest free block is " + std::to_string(256 * kMiB) + " B")) << text;
  EXPECT_TRUE(contains(text, "total free " + std::to_string(256 * kMiB) + " B")) << text;
  EXPECT_TRUE(contains(text, "'weights'")) << text;
  EXPECT_TRUE(contains(text, "Fix:")) << text;
  EXPECT_EQ(dram.buffer_count(), 1u);
  EXPECT_NO_THROW(dram.allocate_interleaved(12 * 256, kMiB, "fits_exactly"));
  EXPECT_EQ(dram.free_bytes_per_bank(), 0u);
}

}  // namespace
}  // namespace wormsim::arch
