#include "noc/microbenchmarks.hpp"

#include <algorithm>
#include <limits>
#include <memory>
#include <random>

#include "noc/board.hpp"
#include "sim/engine.hpp"

namespace wormsim::noc {
namespace {

// Transfer sizes follow the silicon tests: large bursts (one maximal NoC packet) for
// bandwidth, a single flit for latency.
constexpr std::uint64_t kBurstBytes = 8192;
constexpr std::uint64_t kBytesPerReader = 8ull << 20;  // long enough to reach steady state
constexpr std::uint64_t kPingBytes = 16;
constexpr std::uint64_t kHostTransferBytes = 64ull << 20;
constexpr std::uint32_t kRandomPlacementSeed = 1;
constexpr std::uint32_t kRandomPlacementTrials = 16;
constexpr std::uint64_t kRandomReadBytes = 1ull << 20;  // the ISA experiment reads 1 MiB per tile

double bytes_per_cycle(std::uint64_t bytes, Cycle cycles) {
  return cycles == 0 ? 0.0 : static_cast<double>(bytes) / static_cast<double>(cycles);
}

std::vector<Coord> all_workers(const arch::DeviceSpec& spec) {
  std::vector<Coord> cores;
  for (std::uint32_t row = 0; row < spec.worker_grid_y(); ++row) {
    for (std::uint32_t col = 0; col < spec.worker_grid_x(); ++col) cores.push_back(spec.worker_coord(col, row));
  }
  return cores;
}

sim::Task read_bank_stream(NocPort& port, Endpoint bank, std::uint64_t total) {
  for (std::uint64_t done = 0; done < total; done += kBurstBytes) co_await port.read(bank, kBurstBytes);
  co_await port.read_barrier();
}

sim::Task write_stream(NocPort& port, Endpoint dest, std::uint64_t total) {
  for (std::uint64_t done = 0; done < total; done += kBurstBytes) co_await port.write(dest, kBurstBytes);
  co_await port.write_barrier();
}

// Reader i streams from DRAM bank i mod 12; returns aggregate bytes/cycle over the makespan.
double dram_readers(const arch::DeviceSpec& spec, const std::vector<Coord>& readers, NocId noc,
                    std::uint64_t bytes_per_reader, Cycle& cycles) {
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  std::vector<std::unique_ptr<NocPort>> ports;
  const auto banks = static_cast<std::uint32_t>(spec.dram.banks.size());
  for (std::uint32_t reader = 0; reader < readers.size(); ++reader) {
    ports.push_back(std::make_unique<NocPort>(chip, noc, readers[reader]));
    engine.spawn(read_bank_stream(*ports.back(), chip.dram_bank(reader % banks), bytes_per_reader));
  }
  engine.run();
  cycles = engine.now();
  return bytes_per_cycle(bytes_per_reader * readers.size(), engine.now());
}

// For each bank, the free worker whose response path from the bank is shortest on `noc`.
std::vector<Coord> tuned_readers(const arch::DeviceSpec& spec, NocId noc) {
  Topology topology(spec.chip.noc_grid.x, spec.chip.noc_grid.y);
  std::vector<Coord> free = all_workers(spec);
  std::vector<Coord> chosen;
  for (const arch::DramBankSpec& bank : spec.dram.banks) {
    auto best = std::min_element(free.begin(), free.end(), [&](Coord a, Coord b) {
      return topology.hops(noc, bank.noc_endpoint, a) < topology.hops(noc, bank.noc_endpoint, b);
    });
    chosen.push_back(*best);
    free.erase(best);
  }
  return chosen;
}

// The ISA DRAM-tile experiment: randomly chosen Tensix tiles paired fairly with the channels
// (reader i reads channel i mod 12, `per_bank` readers each), each reading 1 MiB.
std::vector<Coord> random_readers(const arch::DeviceSpec& spec, std::uint32_t seed,
                                  std::uint32_t per_bank) {
  std::vector<Coord> cores = all_workers(spec);
  std::mt19937 rng(seed);
  std::shuffle(cores.begin(), cores.end(), rng);
  const std::size_t count = spec.dram.banks.size() * per_bank;
  if (count > cores.size())
    throw Error("DRAM microbenchmark: " + std::to_string(count) + " readers but only " +
                std::to_string(cores.size()) + " workers");
  cores.resize(count);
  return cores;
}

MicrobenchmarkResult dram_tuned(const arch::DeviceSpec& spec) {
  Cycle cycles = 0;
  const double bw = dram_readers(spec, tuned_readers(spec, NocId::Noc0), NocId::Noc0, kBytesPerReader, cycles);
  return {"dram_bw_12_readers_tuned", bw * spec.clock_mhz / 1000.0, "GB/s", cycles};
}

// A random pairing is one sample of a wide distribution (a reader whose response shares links
// with two others caps the whole run), so the figure is the mean over several seeded placements.
MicrobenchmarkResult dram_random(const arch::DeviceSpec& spec, NocId noc, std::uint32_t per_bank) {
  double sum = 0;
  Cycle total_cycles = 0;
  for (std::uint32_t trial = 0; trial < kRandomPlacementTrials; ++trial) {
    Cycle cycles = 0;
    sum += dram_readers(spec, random_readers(spec, kRandomPlacementSeed + trial, per_bank), noc,
                        kRandomReadBytes, cycles);
    total_cycles += cycles;
  }
  const std::string name = "dram_bw_" + std::to_string(spec.dram.banks.size() * per_bank) +
                           "_readers_random_" + (noc == NocId::Noc0 ? "noc0" : "noc1");
  return {name, sum / kRandomPlacementTrials * spec.clock_mhz / 1000.0, "GB/s",
          total_cycles / kRandomPlacementTrials};
}

sim::Task interleaved_pages(NocPort& port, ChipFabric& chip, std::uint64_t first_page, std::uint64_t page_step,
                            std::uint64_t total, bool write) {
  const auto banks = static_cast<std::uint64_t>(chip.spec().dram.banks.size());
  for (std::uint64_t page = first_page; page * kBurstBytes < total; page += page_step) {
    const Endpoint bank = chip.dram_bank(static_cast<std::uint32_t>(page % banks));
    if (write) co_await port.write(bank, kBurstBytes);
    else co_await port.read(bank, kBurstBytes);
  }
  if (write) co_await port.write_barrier();
  else co_await port.read_barrier();
}

// One core streaming interleaved pages over every bank on one NoC, as tt-metal's DRAM
// interleaved data-movement test does (reads on RISCV1/NoC1, writes on RISCV0/NoC0).
MicrobenchmarkResult single_core_dram(const arch::DeviceSpec& spec, bool write) {
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  NocPort port(chip, write ? NocId::Noc0 : NocId::Noc1, spec.worker_coord(0, 0));
  engine.spawn(interleaved_pages(port, chip, 0, 1, kBytesPerReader, write));
  engine.run();
  return {write ? "dram_write_single_core" : "dram_read_single_core", bytes_per_cycle(kBytesPerReader, engine.now()),
          "B/cycle", engine.now()};
}

MicrobenchmarkResult one_to_one(const arch::DeviceSpec& spec, bool read) {
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  const Coord a = spec.worker_coord(0, 0);
  const Coord b = spec.worker_coord(spec.worker_grid_x() - 1, spec.worker_grid_y() - 1);
  // The directed-ideal silicon tests pin one RISC to one NoC; NoC0 here.
  NocPort port(chip, NocId::Noc0, a);
  if (read) engine.spawn(read_bank_stream(port, chip.tensix(b), kBytesPerReader));
  else engine.spawn(write_stream(port, chip.tensix(b), kBytesPerReader));
  engine.run();
  return {read ? "one_from_one_read" : "one_to_one_write", bytes_per_cycle(kBytesPerReader, engine.now()), "B/cycle",
          engine.now()};
}

sim::Task multicast_stream(NocPort& port, Rect grid, std::uint64_t total) {
  for (std::uint64_t done = 0; done < total; done += kBurstBytes) co_await port.multicast(grid, kBurstBytes, false);
  co_await port.write_barrier();
}

sim::Task unicast_to_all(NocPort& port, ChipFabric& chip, std::vector<Coord> workers, std::uint64_t total) {
  for (std::uint64_t done = 0; done < total; done += kBurstBytes) {
    for (Coord dest : workers) {
      if (!(dest == port.self())) co_await port.write(chip.tensix(dest), kBurstBytes);
    }
  }
  co_await port.write_barrier();
}

// Bandwidth as the silicon test reports it: bytes the source sends per cycle (for multicast,
// each packet counts once however many cores receive it).
MicrobenchmarkResult one_to_all(const arch::DeviceSpec& spec, bool multicast) {
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(0);
  const Coord source = spec.worker_coord(0, 0);
  NocPort port(chip, NocId::Noc0, source);
  const std::vector<Coord> workers = all_workers(spec);
  const std::uint64_t per_destination = kBytesPerReader / 8;
  std::uint64_t sent = 0;
  if (multicast) {
    const Rect grid{spec.worker_coord(0, 0), spec.worker_coord(spec.worker_grid_x() - 1, spec.worker_grid_y() - 1)};
    engine.spawn(multicast_stream(port, grid, per_destination));
    sent = per_destination;
  } else {
    engine.spawn(unicast_to_all(port, chip, workers, per_destination));
    sent = per_destination * (workers.size() - 1);
  }
  engine.run();
  return {multicast ? "one_to_all_multicast" : "one_to_all_unicast", bytes_per_cycle(sent, engine.now()), "B/cycle",
          engine.now()};
}

MicrobenchmarkResult ethernet_latency(const arch::DeviceSpec& spec) {
  sim::Engine engine;
  Board board(engine, spec);
  if (spec.ethernet.links.empty()) {
    throw Error("device " + spec.name + " has no Ethernet links; run the Ethernet benchmark on n300");
  }
  const TransferTimes ping = board.ethernet_link_send(0, true, kPingBytes, 0);
  return {"ethernet_one_way_latency", static_cast<double>(ping.data_done) * 1000.0 / spec.clock_mhz, "ns",
          ping.data_done};
}

MicrobenchmarkResult pcie_host_to_device(const arch::DeviceSpec& spec) {
  sim::Engine engine;
  Board board(engine, spec);
  ChipFabric& chip = board.chip(spec.pcie.mmio_chip);
  const TransferTimes t = board.host_write(spec.pcie.mmio_chip, chip.worker(0, 0), kHostTransferBytes, 0);
  return {"pcie_host_to_device_l1", bytes_per_cycle(kHostTransferBytes, t.data_done) * spec.clock_mhz / 1000.0, "GB/s",
          t.data_done};
}

}  // namespace

const std::vector<Microbenchmark>& microbenchmarks() {
  static const std::vector<Microbenchmark> all = {
      {"dram_bw_12_readers_tuned",
       "12 readers, one per DRAM bank, each adjacent to its bank (NoC0 reads)", dram_tuned},
      {"dram_bw_12_readers_random_noc0",
       "12 random cores, one per bank, 1 MiB reads on NoC0 (mean of 16 placements)",
       [](const arch::DeviceSpec& s) { return dram_random(s, NocId::Noc0, 1); }},
      {"dram_bw_12_readers_random_noc1",
       "12 random cores, one per bank, 1 MiB reads on NoC1 (mean of 16 placements)",
       [](const arch::DeviceSpec& s) { return dram_random(s, NocId::Noc1, 1); }},
      {"dram_bw_48_readers_random_noc0",
       "48 random cores, four per bank, 1 MiB reads on NoC0 (mean of 16 placements)",
       [](const arch::DeviceSpec& s) { return dram_random(s, NocId::Noc0, 4); }},
      {"dram_bw_48_readers_random_noc1",
       "48 random cores, four per bank, 1 MiB reads on NoC1 (mean of 16 placements)",
       [](const arch::DeviceSpec& s) { return dram_random(s, NocId::Noc1, 4); }},
      {"dram_read_single_core", "one core reads interleaved 8 KiB pages from all banks (NoC1)",
       [](const arch::DeviceSpec& s) { return single_core_dram(s, false); }},
      {"dram_write_single_core", "one core writes interleaved 8 KiB pages to all banks (NoC0)",
       [](const arch::DeviceSpec& s) { return single_core_dram(s, true); }},
      {"one_to_one_write", "one core writes 8 KiB packets to one other core",
       [](const arch::DeviceSpec& s) { return one_to_one(s, false); }},
      {"one_from_one_read", "one core reads 8 KiB packets from one other core",
       [](const arch::DeviceSpec& s) { return one_to_one(s, true); }},
      {"one_to_all_unicast",
       "one core writes 8 KiB packets to every other worker, one unicast each",
       [](const arch::DeviceSpec& s) { return one_to_all(s, false); }},
      {"one_to_all_multicast", "one core multicasts 8 KiB packets to every other worker",
       [](const arch::DeviceSpec& s) { return one_to_all(s, true); }},
      {"ethernet_one_way_latency", "16 B from an Ethernet core on chip 0 to its peer on chip 1",
       ethernet_latency},
      {"pcie_host_to_device_l1", "64 MiB host-to-device write into one core's L1 over PCIe",
       pcie_host_to_device},
  };
  return all;
}

}  // namespace wormsim::noc
