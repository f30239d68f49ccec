// Replaying an identical op's recorded timing (ops/op_timing_reuse.hpp) must be invisible: the
// same op sequence run with reuse and without it gives the same timings, the same clock and the
// same statistics on every link, NIU port, DRAM bank and controller, and the same errors.
#include "ops/op_timing_reuse.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/device.hpp"
#include "ops/op_registry.hpp"
#include "ops/operation.hpp"
#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

TensorSpec tiled(std::uint32_t rows, std::uint32_t cols) {
  return TensorSpec(Shape({1, 1, rows, cols}), DataType::BFloat16, Layout::Tile,
                    MemoryConfig::dram_interleaved());
}

// One op of a test sequence: registered name, parameters, input specs.
struct Step {
  std::string op;
  nlohmann::json params;
  std::vector<TensorSpec> inputs;
};

// A transformer-like sequence: every op appears twice, with idle gaps in between.
std::vector<Step> repeated_block() {
  const TensorSpec x = tiled(256, 512);
  const TensorSpec w = tiled(512, 1024);
  const TensorSpec h = tiled(256, 1024);
  const std::vector<Step> block = {
      {"matmul", nlohmann::json::object(), {x, w}},
      {"gelu", nlohmann::json::object(), {h}},
      {"add", nlohmann::json::object(), {h, h}},
      {"reshape", {{"shape", {1, 4, 64, 1024}}}, {h}},
  };
  std::vector<Step> steps = block;
  steps.insert(steps.end(), block.begin(), block.end());
  return steps;
}

// Runs `step` on `device` (timing only), with a reuse key when `reuse`.
OpRecord run_step(Device& device, const Step& step, bool reuse) {
  const auto op = make_operation(step.op, step.params, step.inputs, device.spec());
  std::vector<Tensor> inputs;
  for (const TensorSpec& spec : step.inputs) inputs.emplace_back(spec);
  ExecuteOptions options{0, false, {}};
  if (reuse) options.reuse_key = step.op + "\n" + step.params.dump();
  return execute(device, *op, inputs, options).record;
}

void expect_same_timing(const ProgramTiming& a, const ProgramTiming& b, const std::string& what) {
  EXPECT_TRUE(a == b) << what;  // every field; the checks below name the one that differs
  EXPECT_EQ(a.fw_start, b.fw_start) << what;
  EXPECT_EQ(a.fw_end, b.fw_end) << what;
  EXPECT_EQ(a.kernel_start, b.kernel_start) << what;
  EXPECT_EQ(a.kernel_end, b.kernel_end) << what;
  ASSERT_EQ(a.cores.size(), b.cores.size()) << what;
  for (std::size_t c = 0; c < a.cores.size(); ++c) {
    ASSERT_EQ(a.cores[c].spans.size(), b.cores[c].spans.size()) << what;
    for (std::size_t k = 0; k < a.cores[c].spans.size(); ++k) {
      EXPECT_EQ(a.cores[c].spans[k].used, b.cores[c].spans[k].used) << what;
      EXPECT_EQ(a.cores[c].spans[k].start, b.cores[c].spans[k].start) << what;
      EXPECT_EQ(a.cores[c].spans[k].end, b.cores[c].spans[k].end) << what;
    }
  }
}

void expect_same_stats(sim::Engine& a, sim::Engine& b) {
  ASSERT_EQ(a.all_stats().size(), b.all_stats().size());
  std::size_t used = 0;
  for (std::size_t i = 0; i < a.all_stats().size(); ++i) {
    const sim::BusyStats& x = a.all_stats()[i];
    const sim::BusyStats& y = b.all_stats()[i];
    EXPECT_EQ(x.busy_cycles, y.busy_cycles) << x.name;
    EXPECT_EQ(x.wait_cycles, y.wait_cycles) << x.name;
    EXPECT_EQ(x.uses, y.uses) << x.name;
    EXPECT_EQ(x.units, y.units) << x.name;
    EXPECT_EQ(x.max_queue, y.max_queue) << x.name;
    EXPECT_EQ(x.last_busy_end, y.last_busy_end) << x.name;
    if (x.uses > 0) ++used;
  }
  EXPECT_GT(used, 0u) << "the ops moved no data";
}

TEST(OpTimingReuse, RepeatedOpsReplayExactlyWhatASimulationGives) {
  Device with(n300());
  Device without(n300());
  const std::vector<Step> steps = repeated_block();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::string what = "step " + std::to_string(i) + " (" + steps[i].op + ")";
    const OpRecord a = run_step(with, steps[i], true);
    const OpRecord b = run_step(without, steps[i], false);
    expect_same_timing(a.timing, b.timing, what);
    EXPECT_EQ(with.engine().now(), without.engine().now()) << what;
    // An idle gap between ops, as the executor's op-to-op latency.
    with.engine().advance_to(with.engine().now() + 1000);
    without.engine().advance_to(without.engine().now() + 1000);
  }
  expect_same_stats(with.engine(), without.engine());
  // The second half replayed the first: four ops simulated, four replayed.
  EXPECT_EQ(with.timing_reuse().counters().simulated, 4u);
  EXPECT_EQ(with.timing_reuse().counters().reused, 4u);
  EXPECT_EQ(with.timing_reuse().counters().busy_at_start, 0u);
  // Replayed ops really skipped the simulation: fewer engine events.
  EXPECT_LT(with.engine().events_processed(), without.engine().events_processed());
  // Without a key every program is simulated.
  EXPECT_EQ(without.timing_reuse().counters().simulated, steps.size());
  EXPECT_EQ(without.timing_reuse().counters().reused, 0u);
}

TEST(OpTimingReuse, DifferentSpecsAreNotReplayed) {
  Device device(n300());
  run_step(device, {"gelu", nlohmann::json::object(), {tiled(256, 1024)}}, true);
  run_step(device, {"gelu", nlohmann::json::object(), {tiled(512, 1024)}}, true);
  run_step(device, {"relu", nlohmann::json::object(), {tiled(256, 1024)}}, true);
  EXPECT_EQ(device.timing_reuse().counters().simulated, 3u);
  EXPECT_EQ(device.timing_reuse().counters().reused, 0u);
}

// An event still pending when the op starts (here a process that wakes later) makes the card
// state more than the op's key: the op is simulated, and still matches a run without reuse.
TEST(OpTimingReuse, AnOpStartingOnABusyCardIsSimulated) {
  Device with(n300());
  Device without(n300());
  const Step step{"gelu", nlohmann::json::object(), {tiled(256, 1024)}};
  auto sleeper = [](sim::Engine& engine) -> sim::Task { co_await engine.delay(50000); };
  for (Device* device : {&with, &without}) {
    run_step(*device, step, device == &with);
    device->engine().spawn(sleeper(device->engine()), "pending");
  }
  const OpRecord a = run_step(with, step, true);
  const OpRecord b = run_step(without, step, false);
  expect_same_timing(a.timing, b.timing, "second gelu");
  EXPECT_EQ(with.timing_reuse().counters().busy_at_start, 1u);
  EXPECT_EQ(with.timing_reuse().counters().simulated, 2u);
  EXPECT_EQ(with.timing_reuse().counters().reused, 0u);
  with.engine().run();
  without.engine().run();
  EXPECT_EQ(with.engine().now(), without.engine().now());
  expect_same_stats(with.engine(), without.engine());
}

// A replayed op places its circular buffers again: with L1 filled in the meantime it fails with
// the same error a simulation gives. An op simulated for the first time that fails the same way
// leaves the statistics as a run without reuse does.
TEST(OpTimingReuse, AnL1OverflowIsReportedAndLeavesTheStatisticsAsWithoutReuse) {
  const Step gelu{"gelu", nlohmann::json::object(), {tiled(256, 1024)}};
  const Step matmul{"matmul", nlohmann::json::object(), {tiled(256, 512), tiled(512, 1024)}};
  Device with(n300());
  Device without(n300());
  auto error_of = [](Device& device, const Step& step, bool reuse) {
    try {
      run_step(device, step, reuse);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (Device* device : {&with, &without}) {
    run_step(*device, matmul, device == &with);
    run_step(*device, gelu, device == &with);
    arch::CoreL1Allocator& core = device->l1().chip(0).core(arch::Coord{0, 0});
    core.allocate_circular_buffer(core.free_bytes(), "blocker");
  }
  // Replayed (recorded above).
  const std::string replayed = error_of(with, gelu, true);
  EXPECT_EQ(with.timing_reuse().counters().reused, 1u);
  EXPECT_NE(replayed.find("L1 out of memory on chip 0 core (x=0,y=0)"), std::string::npos)
      << replayed;
  EXPECT_EQ(replayed, error_of(without, gelu, false));
  // First seen: simulated, fails in its build.
  const Step relu{"relu", nlohmann::json::object(), {tiled(256, 1024)}};
  const std::string simulated = error_of(with, relu, true);
  EXPECT_NE(simulated.find("L1 out of memory"), std::string::npos) << simulated;
  EXPECT_EQ(simulated, error_of(without, relu, false));
  EXPECT_EQ(with.timing_reuse().counters().simulated, 3u);
  EXPECT_EQ(with.timing_reuse().counters().simulated + with.timing_reuse().counters().reused,
            without.timing_reuse().counters().simulated);
  expect_same_stats(with.engine(), without.engine());
}

// Verification mode simulates ops that have a recording and checks the simulation against it.
TEST(OpTimingReuse, VerifyModeSimulatesRecordedOpsAndChecksThem) {
  Device device(n300());
  device.timing_reuse().set_verify(true);
  Device plain(n300());
  for (const Step& step : repeated_block()) {
    const OpRecord a = run_step(device, step, true);
    const OpRecord b = run_step(plain, step, false);
    expect_same_timing(a.timing, b.timing, step.op);
  }
  EXPECT_EQ(device.timing_reuse().counters().reused, 0u);
  EXPECT_EQ(device.timing_reuse().counters().verified, 4u);
  EXPECT_EQ(device.timing_reuse().counters().simulated, 8u);
  expect_same_stats(device.engine(), plain.engine());
}

// The key must name everything a program depends on. Two different programs under one key are
// what verification exists to catch: the second is reported, naming the program.
TEST(OpTimingReuse, VerifyModeReportsAProgramThatDiffersFromItsRecording) {
  Device device(n300());
  device.timing_reuse().set_verify(true);
  auto run_with_compute = [&](sim::Cycle cycles) {
    Program program(device, 0, "hand_built");
    auto kernel = [](Program& p, sim::Cycle c) -> sim::Task {
      co_await p.compute(CoreCoord{0, 0}, c);
    };
    return device.timing_reuse().run(program, "same key", [&] {
      program.add_kernel(CoreCoord{0, 0}, Risc::Trisc1, kernel(program, cycles));
    });
  };
  const ProgramTiming first = run_with_compute(1000);
  EXPECT_GE(first.kernel_duration(), 1000u);
  EXPECT_EQ(run_with_compute(1000).kernel_duration(), first.kernel_duration());  // same: passes
  try {
    run_with_compute(5000);
    FAIL() << "a different program under the same key was not reported";
  } catch (const std::logic_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'hand_built'"), std::string::npos) << message;
    EXPECT_NE(message.find("its timing"), std::string::npos) << message;
  }
  EXPECT_EQ(device.timing_reuse().counters().verified, 1u);
}

}  // namespace
}  // namespace wormsim::ops
