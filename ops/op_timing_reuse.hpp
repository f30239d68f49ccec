#pragma once
// Reuse of op timings within one device's run.
//
// An op's program is a deterministic function of what the op is (name, parameters, tensor specs,
// chip) and of the card's state when it starts. When it starts with the card idle (no pending
// event, no element booked past now) the only state left is which Ethernet link user traffic
// takes next, and nothing in the model depends on absolute time, so a second op with the same
// key and the same rotation runs exactly as the first did, shifted in time. A transformer's
// repeated blocks are such ops: the first of each is simulated, the others replay it:
// - the same circular buffers are placed in L1, in the same order (an L1 overflow is reported
//   as a simulated op would report it, and the L1 peaks see them);
// - the timing (firmware, kernel and per-core spans) is shifted to the present;
// - every statistic the first run changed (links, NIU ports, DRAM banks and controllers,
//   Ethernet, PCIe) gets the same increments, so per-op traffic, the trace and the database
//   see what a simulation would have produced.
// An op that leaves anything booked or pending past its own end is never recorded.
// What makes this exact: every piece of card state that outlives a program is an element's
// booked intervals (noc::Timeline, empty past `now` on an idle card), the Ethernet rotation
// (in the key) or L1 occupancy (replayed). New state of that kind (DRAM row buffers, NIU
// credits kept across programs) must join the idle test or the key.
// Timings, clock and statistics equal a run without reuse (tests/ops/op_timing_reuse_test.cpp,
// ZooRun.ReplayedOpTimingsEqualSimulatedOnes in tests/workloads/zoo_run_test.cpp).
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ops/program.hpp"

namespace wormsim::ops {

class OpTimingReuse {
 public:
  struct Counters {
    std::uint64_t simulated{0};      // programs simulated (recorded when reusable)
    std::uint64_t reused{0};         // programs replayed from an earlier identical one
    std::uint64_t busy_at_start{0};  // of `simulated`: the card was busy, no replay possible
    std::uint64_t verified{0};       // of `simulated`: had a recording, checked against it
  };

  const Counters& counters() const noexcept { return counters_; }

  // Verification mode: ops that have a recording are simulated anyway and compared with it
  // (timing, circular buffers, statistic increments, link rotation); a difference throws
  // std::logic_error naming the program. Slower than no reuse; for checking the method on new
  // models and device specs (`wormsim run --verify-op-reuse`).
  void set_verify(bool verify) noexcept { verify_ = verify; }

  // Times `program`: replays the recording under `key` when there is one and the card is idle,
  // else calls `build` (which adds the kernels) and runs it, recording the result when the
  // program started and ended with the card idle. An empty key always simulates, unrecorded.
  ProgramTiming run(Program& program, const std::string& key, const std::function<void()>& build);

 private:
  // What one statistic gained during a recorded program.
  struct StatsIncrement {
    std::size_t index{0};  // Engine::all_stats() order
    sim::Cycle busy_cycles{0};
    sim::Cycle wait_cycles{0};
    std::uint64_t uses{0};
    std::uint64_t units{0};
    std::uint64_t max_queue{0};            // the longest queue seen during the program
    bool ends_busy{false};                 // last_busy_end moved during the program
    std::int64_t last_busy_end_offset{0};  // ... to fw_start + this (0 unless ends_busy)
    friend bool operator==(const StatsIncrement&, const StatsIncrement&) = default;
  };
  struct Recording {
    ProgramTiming timing;  // as first simulated (absolute cycles of that run)
    std::vector<Program::CircularBufferRequest> circular_buffers;
    std::vector<StatsIncrement> increments;
    std::uint64_t link_rotation_after{0};
  };

  ProgramTiming replay(Program& program, const Recording& recording);
  static void check_replay(const Recording& recorded, const Recording& simulated, bool recordable,
                           const std::string& program_name);

  Counters counters_;
  std::unordered_map<std::string, Recording> recordings_;
  std::size_t recorded_bytes_{0};  // approximate footprint of recordings_
  bool verify_{false};
};

}  // namespace wormsim::ops
