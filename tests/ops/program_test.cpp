// The op framework's Program: circular buffers in L1, kernels per RISC, and the timing fields
// it reports (ops_perf_results semantics), checked on hand-built programs whose durations
// follow analytically from the kernels.
#include "ops/program.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "arch/device_spec.hpp"
#include "ops/device.hpp"
#include "sim/error.hpp"

namespace {

using wormsim::Error;
using wormsim::ops::CoreCoord;
using wormsim::ops::Device;
using wormsim::ops::Program;
using wormsim::ops::ProgramTiming;
using wormsim::ops::Risc;
using wormsim::sim::CircularBuffer;
using wormsim::sim::Cycle;
using wormsim::sim::Task;

const wormsim::arch::DeviceSpec& n300() {
  static const wormsim::arch::DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n300");
  return spec;
}

std::size_t risc_index(Risc risc) { return static_cast<std::size_t>(risc); }

Task busy(Program& program, CoreCoord core, Cycle cycles) {
  co_await program.compute(core, cycles);
}

Task wait_cycles(Program& program, Cycle cycles) { co_await program.engine().delay(cycles); }

// Reader: `tiles` pages, each `per_tile` cycles to fetch, into a CB of two pages.
Task producer(Program& program, CircularBuffer& cb, std::uint32_t tiles, Cycle per_tile) {
  for (std::uint32_t i = 0; i < tiles; ++i) {
    co_await cb.reserve_back(1);
    co_await program.engine().delay(per_tile);
    cb.push_back(1);
  }
}

// Compute: `per_tile` busy cycles per page.
Task consumer(Program& program, CoreCoord core, CircularBuffer& cb, std::uint32_t tiles,
              Cycle per_tile) {
  for (std::uint32_t i = 0; i < tiles; ++i) {
    co_await cb.wait_front(1);
    co_await program.compute(core, per_tile);
    cb.pop_front(1);
  }
}

Task dram_reader(Program& program, CoreCoord core, std::uint32_t bank, std::uint32_t pages,
                 std::uint32_t page_bytes) {
  wormsim::noc::NocPort& port = program.noc_port(core, Risc::Ncrisc, wormsim::noc::NocId::Noc1);
  const wormsim::noc::Endpoint source = program.fabric().dram_bank(bank);
  for (std::uint32_t i = 0; i < pages; ++i) co_await port.read(source, page_bytes);
  co_await port.read_barrier();
}

std::uint64_t core_free_bytes(Device& device, CoreCoord core) {
  return device.l1()
      .chip(0)
      .core(wormsim::arch::Coord{static_cast<int>(core.x), static_cast<int>(core.y)})
      .free_bytes();
}

TEST(Program, CircularBuffersTakeL1AndAreFreedWithTheProgram) {
  Device device(n300());
  const CoreCoord core{2, 3};
  const std::uint64_t free_before = core_free_bytes(device, core);
  EXPECT_EQ(free_before, n300().l1.usable_bytes);
  {
    Program program(device, 0, "cb_accounting");
    program.create_cb(core, "in0", 4, 2048);
    EXPECT_EQ(core_free_bytes(device, core), free_before - 4 * 2048);
    // A CB over a tensor's own L1 buffer (a sharded operand) takes no new space.
    program.create_cb(core, "sharded_in", 100, 2048, /*backed_by_tensor=*/true);
    EXPECT_EQ(core_free_bytes(device, core), free_before - 4 * 2048);
    // Other cores are untouched.
    EXPECT_EQ(core_free_bytes(device, CoreCoord{0, 0}), free_before);
  }
  EXPECT_EQ(core_free_bytes(device, core), free_before);
}

TEST(Program, CircularBufferBeyondL1NamesTheCoreAndTheBytes) {
  Device device(n300());
  Program program(device, 0, "cb_overflow");
  const CoreCoord core{5, 6};
  const std::uint64_t usable = n300().l1.usable_bytes;
  // Two CBs that each fit, but not together.
  const auto pages = static_cast<std::uint32_t>(usable / 2048 / 2 + 1);
  program.create_cb(core, "first", pages, 2048);
  try {
    program.create_cb(core, "second", pages, 2048);
    FAIL() << "second CB should not fit";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("L1 out of memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(x=5,y=6)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("second"), std::string::npos) << msg;
  }
  // One CB larger than L1 on its own.
  EXPECT_THROW(program.create_cb(CoreCoord{0, 0}, "huge",
                                 static_cast<std::uint32_t>(usable / 2048 + 1), 2048),
               Error);
}

TEST(Program, CoreOutsideTheWorkerGridIsAnError) {
  Device device(n300());
  Program program(device, 0, "outside");
  try {
    program.create_cb(CoreCoord{n300().worker_grid_x(), 0}, "cb", 1, 2048);
    FAIL() << "core outside the grid accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside the 8x8 worker grid"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(program.add_kernel(CoreCoord{0, n300().worker_grid_y()}, Risc::Brisc,
                                  wait_cycles(program, 1)),
               Error);
}

TEST(Program, SingleComputeKernelDurationIsItsCyclesPlusLaunch) {
  Device device(n300());
  Program program(device, 0, "fixed_compute");
  const CoreCoord core{1, 1};
  constexpr Cycle kCycles = 12345;
  const Cycle start = device.engine().now();
  program.add_kernel(core, Risc::Trisc0, busy(program, core, kCycles));
  const ProgramTiming t = program.run();
  const Cycle launch = n300().compute.kernel_launch_cycles;
  ASSERT_GT(launch, 0u);
  EXPECT_EQ(t.fw_start, start);
  EXPECT_EQ(t.kernel_start, start + launch);
  EXPECT_EQ(t.kernel_duration(), kCycles);
  // Firmware brackets the kernel with the launch cost on both sides.
  EXPECT_EQ(t.fw_duration(), kCycles + 2 * launch);
  EXPECT_EQ(t.core_count, 1u);
  // A compute kernel is timed on all three TRISCs; no data-movement kernel ran.
  EXPECT_EQ(t.risc_duration[risc_index(Risc::Trisc0)], kCycles);
  EXPECT_EQ(t.risc_duration[risc_index(Risc::Trisc1)], kCycles);
  EXPECT_EQ(t.risc_duration[risc_index(Risc::Trisc2)], kCycles);
  EXPECT_EQ(t.risc_duration[risc_index(Risc::Brisc)], 0u);
  EXPECT_EQ(t.risc_duration[risc_index(Risc::Ncrisc)], 0u);
  EXPECT_EQ(t.compute_busy_cycles, kCycles);
  EXPECT_EQ(t.per_core_min, kCycles);
  EXPECT_EQ(t.per_core_max, kCycles);
  EXPECT_DOUBLE_EQ(t.per_core_avg, static_cast<double>(kCycles));
  // The device clock moved to the firmware end.
  EXPECT_EQ(device.engine().now(), t.fw_end);
}

TEST(Program, PerRiscAndPerCoreFieldsOverSeveralCores) {
  Device device(n300());
  Program program(device, 0, "two_cores");
  const CoreCoord a{0, 0};
  const CoreCoord b{7, 7};
  program.add_kernel(a, Risc::Ncrisc, wait_cycles(program, 300));
  program.add_kernel(a, Risc::Brisc, wait_cycles(program, 1000));
  program.add_kernel(b, Risc::Trisc0, busy(program, b, 4000));
  program.add_kernel(b, Risc::Ncrisc, wait_cycles(program, 200));
  const ProgramTiming t = program.run();
  EXPECT_EQ(t.core_count, 2u);
  EXPECT_EQ(t.kernel_duration(), 4000u);
  EXPECT_EQ(t.risc_duration[risc_index(Risc::Brisc)], 1000u);
  EXPECT_EQ(t.risc_duration[risc_index(Risc::Ncrisc)], 300u);  // last end - first start over cores
  EXPECT_EQ(t.risc_duration[risc_index(Risc::Trisc1)], 4000u);
  EXPECT_EQ(t.per_core_min, 1000u);
  EXPECT_EQ(t.per_core_max, 4000u);
  EXPECT_DOUBLE_EQ(t.per_core_avg, 2500.0);
  EXPECT_EQ(t.compute_busy_cycles, 4000u);
  // Per-core detail: one entry per core that ran a kernel.
  ASSERT_EQ(t.cores.size(), 2u);
  EXPECT_EQ(t.cores[0].core, a);
  EXPECT_EQ(t.cores[1].core, b);
  const auto& brisc_a = t.cores[0].spans[risc_index(Risc::Brisc)];
  EXPECT_TRUE(brisc_a.used);
  EXPECT_EQ(brisc_a.end - brisc_a.start, 1000u);
  EXPECT_FALSE(t.cores[0].spans[risc_index(Risc::Trisc0)].used);
  EXPECT_EQ(t.cores[1].compute_busy_cycles, 4000u);
  EXPECT_EQ(t.cores[0].compute_busy_cycles, 0u);
}

TEST(Program, ProducerConsumerPipelineMatchesTheAnalyticDuration) {
  // A reader that needs d cycles per tile feeding a compute kernel that needs c > d cycles per
  // tile through a 2-page CB: the compute starts after the first tile and never waits again,
  // so the kernel takes d + N * c. The compute kernel waited d cycles in cb_wait_front.
  Device device(n300());
  Program program(device, 0, "pipeline");
  const CoreCoord core{3, 4};
  constexpr std::uint32_t kTiles = 50;
  constexpr Cycle kRead = 70;
  constexpr Cycle kCompute = 110;
  CircularBuffer& cb = program.create_cb(core, "in", 2, 2048);
  program.add_kernel(core, Risc::Ncrisc, producer(program, cb, kTiles, kRead));
  program.add_kernel(core, Risc::Trisc0, consumer(program, core, cb, kTiles, kCompute));
  const ProgramTiming t = program.run();
  EXPECT_EQ(t.kernel_duration(), kRead + kTiles * kCompute);
  EXPECT_DOUBLE_EQ(t.cb_wait_front_avg, static_cast<double>(kRead));
  EXPECT_EQ(t.l1_cb_peak_bytes, 2u * 2048u);
  EXPECT_EQ(t.compute_busy_cycles, kTiles * kCompute);

  // Reader-bound the other way round: N * d + c.
  Device device2(n300());
  Program program2(device2, 0, "pipeline_reader_bound");
  CircularBuffer& cb2 = program2.create_cb(core, "in", 2, 2048);
  program2.add_kernel(core, Risc::Ncrisc, producer(program2, cb2, kTiles, kCompute));
  program2.add_kernel(core, Risc::Trisc0, consumer(program2, core, cb2, kTiles, kRead));
  EXPECT_EQ(program2.run().kernel_duration(), kTiles * kCompute + kRead);
}

TEST(Program, DramReadTakesAtLeastBytesOverBankBandwidth) {
  Device device(n300());
  Program program(device, 0, "dram_read");
  constexpr std::uint32_t kPages = 64;
  constexpr std::uint32_t kPageBytes = 2048;
  program.add_kernel(CoreCoord{0, 0}, Risc::Ncrisc,
                     dram_reader(program, CoreCoord{0, 0}, 0, kPages, kPageBytes));
  const ProgramTiming t = program.run();
  const double bytes = static_cast<double>(kPages) * kPageBytes;
  const double bound = bytes / n300().dram.bank_achievable_bytes_per_cycle;
  EXPECT_GE(static_cast<double>(t.kernel_duration()), bound);
  // One bank streaming 128 KiB: latency adds little on top of the bandwidth bound.
  EXPECT_LT(static_cast<double>(t.kernel_duration()), 1.5 * bound);
  EXPECT_EQ(t.noc_bytes, kPages * kPageBytes);
}

TEST(Program, TwoKernelsOnOneRiscAreRejected) {
  Device device(n300());
  const CoreCoord core{0, 0};
  {
    Program program(device, 0, "clash");
    program.add_kernel(core, Risc::Brisc, wait_cycles(program, 10));
    try {
      program.add_kernel(core, Risc::Brisc, wait_cycles(program, 20));
      FAIL() << "two BRISC kernels on one core accepted";
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("two kernels on (x=0,y=0) BRISC"), std::string::npos)
          << e.what();
    }
    // Another RISC of the same core, or the same RISC of another core, is fine.
    program.add_kernel(core, Risc::Ncrisc, wait_cycles(program, 30));
    program.add_kernel(CoreCoord{1, 0}, Risc::Brisc, wait_cycles(program, 40));
  }
  // The rejected program left nothing behind: the next one on the device times only itself.
  Program next(device, 0, "next");
  next.add_kernel(core, Risc::Trisc0, busy(next, core, 77));
  const ProgramTiming t = next.run();
  EXPECT_EQ(t.kernel_duration(), 77u);
  EXPECT_EQ(t.core_count, 1u);
  EXPECT_EQ(t.fw_start, 0u);
}

TEST(Program, RunsOnceAndNeedsKernels) {
  Device device(n300());
  Program empty(device, 0, "empty");
  EXPECT_THROW(empty.run(), std::logic_error);
  Program once(device, 0, "once");
  once.add_kernel(CoreCoord{0, 0}, Risc::Brisc, wait_cycles(once, 5));
  once.run();
  EXPECT_THROW(once.run(), std::logic_error);
}

TEST(Program, ProgramsRunBackToBackOnOneDevice) {
  // The second program starts where the first one's firmware ended.
  Device device(n300());
  Cycle first_end = 0;
  {
    Program first(device, 0, "first");
    first.add_kernel(CoreCoord{0, 0}, Risc::Trisc0, busy(first, CoreCoord{0, 0}, 500));
    first_end = first.run().fw_end;
  }
  Program second(device, 0, "second");
  second.add_kernel(CoreCoord{0, 0}, Risc::Trisc0, busy(second, CoreCoord{0, 0}, 500));
  const ProgramTiming t = second.run();
  EXPECT_EQ(t.fw_start, first_end);
  EXPECT_EQ(t.kernel_duration(), 500u);
}

TEST(Program, ChipIndexIsValidated) {
  Device device(n300());
  EXPECT_THROW(Program(device, n300().num_chips, "bad_chip"), Error);
}

}  // namespace
