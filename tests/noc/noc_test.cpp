// NoC, DRAM, Ethernet and PCIe fabric: routes, contention, multicast and lone-transfer timing.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "arch/device_spec.hpp"
#include "noc/board.hpp"
#include "noc/microbenchmarks.hpp"
#include "sim/engine.hpp"

namespace wormsim::noc {
namespace {

const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

// A spec whose NIU ports run at link speed, so a lone transfer's time has a closed form.
arch::DeviceSpec uniform_rate_spec() {
  arch::DeviceSpec spec = n300();
  spec.noc.niu_inject_tensix_bytes_per_cycle = spec.noc.link_bytes_per_cycle;
  spec.noc.niu_absorb_tensix_bytes_per_cycle = spec.noc.link_bytes_per_cycle;
  return spec;
}

TEST(Topology, HopCountsFollowEachNocsDirection) {
  Topology t(10, 12);
  EXPECT_EQ(t.hops(NocId::Noc0, {1, 1}, {4, 3}), 3 + 2);
  // NoC1 only moves -x and -y, so the same pair wraps around the torus.
  EXPECT_EQ(t.hops(NocId::Noc1, {1, 1}, {4, 3}), (1 - 4 + 10) + (1 - 3 + 12));
  EXPECT_EQ(t.hops(NocId::Noc1, {4, 3}, {1, 1}), 3 + 2);
  // NoC0 wrap-around: x 8 -> 1 goes 8,9,0,1.
  EXPECT_EQ(t.hops(NocId::Noc0, {8, 2}, {1, 2}), 3);
  EXPECT_EQ(t.hops(NocId::Noc0, {3, 3}, {3, 3}), 0);
}

TEST(Topology, Noc0RoutesXThenYAndNoc1YThenX) {
  Topology t(10, 12);
  std::vector<LinkId> links;
  t.unicast_route(NocId::Noc0, {8, 10}, {1, 1}, links);
  ASSERT_EQ(links.size(), 3u + 3u);
  const std::vector<std::pair<Coord, Coord>> expected0 = {
      {{8, 10}, {9, 10}}, {{9, 10}, {0, 10}}, {{0, 10}, {1, 10}},
      {{1, 10}, {1, 11}}, {{1, 11}, {1, 0}},  {{1, 0}, {1, 1}}};
  for (std::size_t i = 0; i < links.size(); ++i) {
    EXPECT_EQ(t.link_source(links[i]), expected0[i].first) << i;
    EXPECT_EQ(t.link_target(links[i]), expected0[i].second) << i;
    EXPECT_EQ(t.link_noc(links[i]), NocId::Noc0);
  }
  links.clear();
  t.unicast_route(NocId::Noc1, {2, 1}, {1, 11}, links);
  ASSERT_EQ(links.size(), 2u + 1u);
  EXPECT_EQ(t.link_source(links[0]), (Coord{2, 1}));
  EXPECT_EQ(t.link_target(links[0]), (Coord{2, 0}));
  EXPECT_EQ(t.link_target(links[1]), (Coord{2, 11}));  // y wraps 0 -> 11
  EXPECT_EQ(t.link_target(links[2]), (Coord{1, 11}));  // then one turn, to x
  EXPECT_EQ(t.link_name(links[0]), "noc1 (2,1)->(2,0)");
}

TEST(Topology, MulticastTreeCoversTheRectangleOnce) {
  Topology t(10, 12);
  std::vector<LinkId> links;
  const Rect rect{{2, 2}, {4, 5}};
  const int depth = t.multicast_tree(NocId::Noc0, {1, 1}, rect, links);
  // 2 hops to the entry corner, then (width) row links + (width+1)*(height) column links.
  EXPECT_EQ(links.size(), 2u + 2u + 3u * 3u);
  EXPECT_EQ(depth, 2 + 2 + 3);
  // Every node of the rectangle other than the entry is the target of exactly one tree link.
  for (int x = 2; x <= 4; ++x) {
    for (int y = 2; y <= 5; ++y) {
      int incoming = 0;
      for (std::size_t i = 2; i < links.size(); ++i) incoming += t.link_target(links[i]) == Coord{x, y} ? 1 : 0;
      EXPECT_EQ(incoming, (x == 2 && y == 2) ? 0 : 1) << x << "," << y;
    }
  }
}

TEST(Fabric, LoneWriteTakesLatencyPlusBytesOverBandwidth) {
  const arch::DeviceSpec spec = uniform_rate_spec();
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  const Coord a = spec.worker_coord(0, 0);
  const Coord b = spec.worker_coord(3, 2);
  const std::uint64_t payload = 4096;
  const TransferTimes t = chip.write(NocId::Noc0, a, chip.tensix(b), payload, 100);
  const auto hops = static_cast<Cycle>(chip.topology().hops(NocId::Noc0, a, b));
  const auto wire = payload + spec.noc.header_flits * spec.noc.flit_bytes;
  const auto serialise = static_cast<Cycle>(std::ceil(wire / spec.noc.link_bytes_per_cycle));
  const Cycle latency = spec.noc.inject_latency_cycles + hops * spec.noc.hop_latency_cycles + spec.noc.eject_latency_cycles;
  EXPECT_EQ(t.data_done, 100 + latency + serialise);
  EXPECT_EQ(t.source_done, 100 + serialise);
  EXPECT_EQ(t.ack_done, t.data_done + chip.header_latency(NocId::Noc0, b, a));
}

TEST(Fabric, LoneDramReadAddsRequestLatencyAndBankService) {
  const arch::DeviceSpec& spec = n300();
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  const Coord core = spec.worker_coord(0, 0);
  const Endpoint bank = chip.dram_bank(0);
  const std::uint64_t payload = 2048;
  const TransferTimes t = chip.read(NocId::Noc0, core, bank, payload, 0);
  const Cycle request = chip.header_latency(NocId::Noc0, core, bank.coord);
  const Cycle response_path = chip.header_latency(NocId::Noc0, bank.coord, core);
  const double wire = payload + spec.noc.header_flits * spec.noc.flit_bytes;
  const double slowest = std::min({spec.dram.bank_achievable_bytes_per_cycle, spec.dram.controller_bytes_per_cycle,
                                   spec.noc.niu_inject_dram_bytes_per_cycle, spec.noc.link_bytes_per_cycle,
                                   spec.noc.niu_absorb_tensix_bytes_per_cycle});
  const Cycle lower = request + spec.dram.read_latency_cycles + response_path + static_cast<Cycle>(wire / slowest);
  EXPECT_GE(t.data_done, lower);
  // Cut-through: the body is serialised once by the slowest element, not once per element.
  EXPECT_LE(t.data_done, lower + spec.noc.hop_latency_cycles + 4);
}

TEST(Fabric, TwoFlowsOnOneLinkShareItAndDisjointFlowsDoNot) {
  const arch::DeviceSpec spec = uniform_rate_spec();
  const std::uint64_t bytes = 64 * 8192;
  auto run = [&](Coord src1, Coord dst1, Coord src2, Coord dst2) {
    sim::Engine engine;
    Board board(engine, spec);
    ChipFabric& chip = board.chip(0);
    const Cycle a = chip.write(NocId::Noc0, src1, chip.tensix(dst1), bytes, 0).data_done;
    const Cycle b = chip.write(NocId::Noc0, src2, chip.tensix(dst2), bytes, 0).data_done;
    return std::max(a, b);
  };
  sim::Engine engine;
  Board board(engine, spec);
  const Cycle alone = board.chip(0).write(NocId::Noc0, {1, 1}, board.chip(0).tensix({4, 1}), bytes, 0).data_done;
  // (1,1)->(4,1) and (2,1)->(3,1) both use link (2,1)->(3,1).
  const Cycle shared = run({1, 1}, {4, 1}, {2, 1}, {3, 1});
  // (1,1)->(4,1) and (1,2)->(4,2) use different rows.
  const Cycle disjoint = run({1, 1}, {4, 1}, {1, 2}, {4, 2});
  EXPECT_EQ(disjoint, alone);
  const double ratio = static_cast<double>(shared) / static_cast<double>(alone);
  EXPECT_GT(ratio, 1.9);
  EXPECT_LT(ratio, 2.05);
}

TEST(Fabric, LaterArrivalUsesIdleLinkTimeBeforeAnEarlierBooking) {
  // Work conservation: a booking far in the future must not delay a packet that fits before it.
  Timeline timeline;
  EXPECT_EQ(timeline.book(1000, 100, 0), 1000u);
  EXPECT_EQ(timeline.book(10, 50, 0), 10u);
  EXPECT_EQ(timeline.book(950, 100, 0), 1100u);  // [950,1000) is too short: after [1000,1100)
  // Busy now: [10,60) [1000,1200). The gap [60,1000) holds 940 cycles.
  EXPECT_EQ(timeline.book(0, 900, 0), 60u);      // [0,10) too short; [60,960) fits
  EXPECT_EQ(timeline.book(0, 41, 0), 1200u);     // 40 cycles left before 1000: 41 does not fit
  EXPECT_EQ(timeline.book(0, 40, 0), 960u);      // exactly fills [960,1000)
  // Intervals that ended before `now` are forgotten and never reused.
  EXPECT_EQ(timeline.book(0, 5, 2000), 2000u);
}

TEST(Fabric, PacketsFillIdleGapsInPiecesAsInterleavedFlits) {
  // A packet's link time is booked piecewise: every gap of at least one flit is used, shorter
  // ones are skipped, and the packet ends when its whole duration has been booked.
  Timeline timeline;
  EXPECT_EQ(timeline.book(100, 50, 0), 100u);   // busy [100,150)
  EXPECT_EQ(timeline.book(152, 48, 0), 152u);   // busy [152,200): a 2-cycle gap at 150
  EXPECT_EQ(timeline.book(300, 100, 0), 300u);  // busy [300,400)
  // 80 cycles from 60: [60,100) takes 40, [150,152) is below the 3-cycle minimum piece,
  // [200,240) takes the other 40.
  const auto [first, end] = timeline.book_pieces(60, 80, 3, 0);
  EXPECT_EQ(first, 60u);
  EXPECT_EQ(end, 240u);
  // With a 2-cycle minimum the short gap is used too: 40 + 2 + 38.
  Timeline other;
  other.book(100, 50, 0);
  other.book(152, 48, 0);
  const auto [first2, end2] = other.book_pieces(60, 80, 2, 0);
  EXPECT_EQ(first2, 60u);
  EXPECT_EQ(end2, 238u);
  // The whole timeline is now busy from 60 to 238: nothing fits before it.
  EXPECT_EQ(other.book(60, 1, 0), 238u);
}

// A per-cycle reference of Timeline's rules: first fit at or after max(earliest, now) for
// book(); for book_pieces(), every gap of at least min(left, min_piece) cycles in turn.
class CycleReference {
 public:
  explicit CycleReference(std::size_t horizon) : busy_(horizon, false) {}
  Cycle book(Cycle earliest, Cycle duration, Cycle now) {
    Cycle start = std::max(earliest, now);
    while (!free(start, duration)) ++start;
    mark(start, duration);
    return start;
  }
  std::pair<Cycle, Cycle> book_pieces(Cycle earliest, Cycle duration, Cycle min_piece, Cycle now) {
    Cycle t = std::max(earliest, now);
    Cycle left = duration;
    Cycle first = 0;
    bool started = false;
    while (left > 0) {
      if (busy_.at(t)) {
        ++t;
        continue;
      }
      Cycle gap = 0;
      while (gap < left && !busy_.at(t + gap)) ++gap;
      // A gap bounded by a booking is usable only if long enough; one reaching `left` always is.
      if (gap < left && gap < std::min(left, min_piece)) {
        t += gap;
        continue;
      }
      mark(t, gap);
      if (!started) first = t;
      started = true;
      left -= gap;
      t += gap;
    }
    return {first, t};
  }

 private:
  bool free(Cycle start, Cycle duration) const {
    for (Cycle c = start; c < start + duration; ++c)
      if (busy_.at(c)) return false;
    return true;
  }
  void mark(Cycle start, Cycle duration) {
    for (Cycle c = start; c < start + duration; ++c) busy_.at(c) = true;
  }
  std::vector<bool> busy_;
};

TEST(Fabric, TimelineMatchesAPerCycleReferenceOnLongQueues) {
  // Many bookings far ahead of a slowly moving present build the long queues of a busy DRAM
  // bank, where a booking searches back from the end; short ones land anywhere in between.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    Timeline timeline;
    CycleReference reference(200000);
    Cycle now = 0;
    for (int i = 0; i < 3000; ++i) {
      if (rng() % 8 == 0) now += rng() % 40;
      const Cycle earliest = now + rng() % (rng() % 4 == 0 ? 6000 : 300);
      const Cycle duration = 1 + rng() % 12;
      if (rng() % 3 == 0) {
        ASSERT_EQ(timeline.book(earliest, duration, now), reference.book(earliest, duration, now))
            << "trial " << trial << " booking " << i;
      } else {
        const Cycle min_piece = 1 + rng() % 4;
        ASSERT_EQ(timeline.book_pieces(earliest, duration, min_piece, now),
                  reference.book_pieces(earliest, duration, min_piece, now))
            << "trial " << trial << " booking " << i;
      }
    }
  }
}

// One of the 16 random placements of the dram_bw_12_readers_random_noc0 microbenchmark (reader i
// streams 1 MiB from bank i on NoC0) whose busiest link carries two response flows: each of
// them gets half a link, 12 x 16 B/cycle = 192 GB/s, which is the ISA's measured 189.8 GB/s.
// Booking each packet as one contiguous slot per link lost the gaps shorter than a packet and
// gave 161 GB/s here.
TEST(Fabric, TwoFlowPlacementOfTheRandomDramBenchmarkReachesHalfALinkPerReader) {
  sim::Engine engine;
  Board board(engine, n300());
  ChipFabric& chip = board.chip(0);
  const std::vector<Coord> readers = {{1, 9}, {4, 1}, {4, 7}, {2, 2}, {2, 3}, {6, 5},
                                      {7, 3}, {2, 9}, {1, 1}, {8, 9}, {9, 8}, {3, 9}};
  constexpr std::uint64_t kBytes = 1u << 20;
  std::vector<std::unique_ptr<NocPort>> ports;
  auto stream = [](NocPort& port, Endpoint bank) -> sim::Task {
    for (std::uint64_t done = 0; done < kBytes; done += 8192) co_await port.read(bank, 8192);
    co_await port.read_barrier();
  };
  for (std::uint32_t bank = 0; bank < readers.size(); ++bank) {
    ports.push_back(std::make_unique<NocPort>(chip, NocId::Noc0, readers[bank]));
    engine.spawn(stream(*ports.back(), chip.dram_bank(bank)));
  }
  engine.run();
  const double total =
      static_cast<double>(kBytes * readers.size()) / static_cast<double>(engine.now());
  const double half_link_each = 0.5 * n300().noc.link_bytes_per_cycle * readers.size();
  EXPECT_GT(total, 0.95 * half_link_each);
  EXPECT_LE(total, half_link_each);
}

TEST(Fabric, MulticastReachesExactlyItsRectangle) {
  const arch::DeviceSpec& spec = n300();
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  const Coord source = spec.worker_coord(0, 0);
  const Rect rect{spec.worker_coord(1, 1), spec.worker_coord(3, 2)};
  EXPECT_EQ(chip.multicast_receivers(rect, source, false), 3u * 2u);
  chip.multicast(NocId::Noc0, source, rect, 8192, false, 0);
  const auto& stats = engine.all_stats();
  int receivers = 0;
  for (const auto& s : stats) {
    if (s.name.find("noc0 absorb") != std::string::npos && s.units > 0) ++receivers;
  }
  EXPECT_EQ(receivers, 6);
  // Sender included: it receives its own packet too.
  EXPECT_EQ(chip.multicast_receivers(Rect{source, source}, source, true), 1u);
  EXPECT_THROW(chip.multicast(NocId::Noc0, source, Rect{source, source}, 64, false, 0), Error);
}

TEST(Fabric, BadEndpointsGiveClearErrors) {
  const arch::DeviceSpec& spec = n300();
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  try {
    chip.dram_bank(12);
    FAIL() << "bank 12 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("DRAM bank 12"), std::string::npos);
  }
  EXPECT_THROW(chip.worker(8, 0), Error);
  EXPECT_THROW(board.chip(2), Error);
  EXPECT_THROW(chip.write(NocId::Noc0, {10, 0}, chip.tensix({1, 1}), 32, 0), Error);
}

TEST(NocPort, BarrierWaitsForTheLastTransferAndIssueCostsRiscTime) {
  const arch::DeviceSpec spec = uniform_rate_spec();
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  NocPort port(chip, NocId::Noc0, spec.worker_coord(0, 0));
  Cycle after_issue = 0;
  Cycle after_barrier = 0;
  auto kernel = [&]() -> sim::Task {
    for (int i = 0; i < 4; ++i) co_await port.write(chip.tensix(spec.worker_coord(2, 0)), 2048);
    after_issue = engine.now();
    co_await port.write_barrier();
    after_barrier = engine.now();
  };
  engine.spawn(kernel());
  engine.run();
  EXPECT_EQ(after_issue, 4u * spec.noc.request_issue_cycles);
  // The last write is injected once the NIU has sent the first three.
  EXPECT_GT(after_barrier, after_issue + 3u * 2048u / static_cast<Cycle>(spec.noc.link_bytes_per_cycle));
  EXPECT_EQ(port.bytes_written(), 4u * 2048u);
}

TEST(Board, EthernetAndPcieFollowTheirSpec) {
  const arch::DeviceSpec& spec = n300();
  sim::Engine engine;
  Board board(engine, spec);
  ASSERT_EQ(board.chip_count(), 2u);
  EXPECT_EQ(board.user_link_count(0, 1), spec.ethernet.links.size() - spec.ethernet.links_reserved_for_dispatch);
  const std::uint64_t bytes = 1000;
  const TransferTimes ping = board.ethernet_link_send(1, true, bytes, 0);
  const double wire = bytes + spec.ethernet.packet_overhead_bytes;
  EXPECT_EQ(ping.data_done, static_cast<Cycle>(std::ceil(wire / spec.ethernet.bytes_per_cycle_per_direction)) +
                                spec.ethernet.one_way_latency_cycles);
  // Chip-to-chip core transfer: two NoC legs around the link, so strictly slower than the link.
  const TransferTimes send = board.ethernet_send(0, spec.worker_coord(0, 0), 1, spec.worker_coord(0, 0), bytes, 0);
  EXPECT_GT(send.data_done, ping.data_done);
  // Host writes stream: 16 MiB take about bytes / PCIe bandwidth.
  const std::uint64_t host_bytes = 16ull << 20;
  const TransferTimes h2d = board.host_write(0, board.chip(0).worker(0, 0), host_bytes, 0);
  const double ideal = host_bytes / spec.pcie.host_to_device_bytes_per_cycle;
  EXPECT_GT(static_cast<double>(h2d.data_done), ideal);
  EXPECT_LT(static_cast<double>(h2d.data_done), ideal * 1.05);
  // The remote chip is reached through the tunnel: slower, never faster.
  const TransferTimes remote = board.host_write(1, board.chip(1).worker(0, 0), 8192, 0);
  const TransferTimes local = board.host_write(0, board.chip(0).worker(0, 0), 8192, 0);
  EXPECT_GT(remote.data_done, local.data_done);
}

TEST(Microbenchmarks, AreDeterministic) {
  for (const Microbenchmark& bench : microbenchmarks()) {
    const MicrobenchmarkResult a = bench.run(n300());
    const MicrobenchmarkResult b = bench.run(n300());
    EXPECT_EQ(a.cycles, b.cycles) << bench.name;
    EXPECT_EQ(a.simulated, b.simulated) << bench.name;
  }
}

TEST(Microbenchmarks, TunedDramPlacementBeatsRandomAndNoc1RandomIsWorst) {
  // The ISA's DRAM-tile experiment: careful pairing ~ 92% of peak; random NoC1 reads suffer
  // column contention far more than random NoC0 reads.
  std::map<std::string, double> bw;
  for (const Microbenchmark& bench : microbenchmarks()) {
    if (bench.name.rfind("dram_bw_12", 0) == 0) bw[bench.name] = bench.run(n300()).simulated;
  }
  const double peak = n300().dram.bank_peak_bytes_per_cycle * n300().dram.banks.size();
  EXPECT_GT(bw["dram_bw_12_readers_tuned"], 0.9 * peak);
  EXPECT_LE(bw["dram_bw_12_readers_tuned"], peak);
  EXPECT_LT(bw["dram_bw_12_readers_random_noc0"], bw["dram_bw_12_readers_tuned"]);
  EXPECT_LT(bw["dram_bw_12_readers_random_noc1"], 0.75 * bw["dram_bw_12_readers_random_noc0"]);
}

TEST(Microbenchmarks, FortyEightRandomReadersShareEachChannelFairly) {
  // Four random readers per channel (the ISA's 48-tile rows): every channel has work queued all
  // the time, so NoC0 gets closer to the channels' total than with 12 readers, yet stays under
  // it; NoC1 stays column-bound, far below NoC0.
  std::map<std::string, double> bw;
  for (const Microbenchmark& bench : microbenchmarks()) {
    if (bench.name.find("_random_") != std::string::npos)
      bw[bench.name] = bench.run(n300()).simulated;
  }
  ASSERT_EQ(bw.size(), 4u);
  const double peak = n300().dram.bank_peak_bytes_per_cycle * n300().dram.banks.size();
  const double gb_per_s_per_byte_per_cycle = n300().clock_mhz / 1000.0;
  EXPECT_GT(bw["dram_bw_48_readers_random_noc0"], bw["dram_bw_12_readers_random_noc0"]);
  EXPECT_LT(bw["dram_bw_48_readers_random_noc0"], peak * gb_per_s_per_byte_per_cycle);
  EXPECT_LT(bw["dram_bw_48_readers_random_noc1"], 0.5 * bw["dram_bw_48_readers_random_noc0"]);
}

}  // namespace
}  // namespace wormsim::noc
