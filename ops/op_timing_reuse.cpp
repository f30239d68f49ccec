#include "ops/op_timing_reuse.hpp"

#include <algorithm>
#include <stdexcept>

#include "noc/board.hpp"

namespace wormsim::ops {
namespace {

// Recordings kept per device; a model has a few hundred distinct ops at most. When either limit
// is reached the map starts over (later ops are simulated again, never replayed wrongly). A
// recording grows with the elements its op used (one increment each) and its cores.
constexpr std::size_t kMaxRecordings = 4096;
constexpr std::size_t kMaxRecordingBytes = std::size_t{64} << 20;

// The card is idle at `now`: nothing pending on the engine, nothing booked past now.
bool card_idle(Device& device) {
  return device.engine().idle() && device.board().busy_until() <= device.engine().now();
}

struct Counts {
  sim::Cycle busy_cycles;
  sim::Cycle wait_cycles;
  std::uint64_t uses;
  std::uint64_t units;
  sim::Cycle last_busy_end;
};

// Approximate heap footprint of a recording and its key.
template <typename R>
std::size_t recording_bytes(const R& recording, const std::string& key) {
  std::size_t bytes = key.size() + sizeof(R);
  bytes += recording.increments.size() * sizeof(recording.increments.front());
  bytes += recording.circular_buffers.size() * sizeof(recording.circular_buffers.front());
  bytes += recording.timing.cores.size() * sizeof(CoreTiming);
  return bytes;
}

ProgramTiming shifted(ProgramTiming timing, sim::Cycle from, sim::Cycle to) {
  auto move = [&](sim::Cycle& t) { t = t - from + to; };
  move(timing.fw_start);
  move(timing.fw_end);
  move(timing.kernel_start);
  move(timing.kernel_end);
  for (CoreTiming& core : timing.cores) {
    for (KernelSpan& span : core.spans) {
      if (!span.used) continue;
      move(span.start);
      move(span.end);
    }
  }
  return timing;
}

}  // namespace

ProgramTiming OpTimingReuse::run(Program& program, const std::string& key,
                                 const std::function<void()>& build) {
  Device& device = program.device();
  sim::Engine& engine = device.engine();
  noc::Board& board = device.board();
  // Counted when started: a program that fails (an L1 overflow) counts as it would without
  // reuse.
  if (key.empty() || !card_idle(device)) {
    ++counters_.simulated;
    if (!key.empty()) ++counters_.busy_at_start;
    build();
    return program.run();
  }
  // Which link the next Ethernet transfer takes is part of what the op starts from.
  const std::string full_key = key + "\n#link-rotation " + std::to_string(board.link_rotation());
  const auto hit = recordings_.find(full_key);
  if (hit != recordings_.end() && !verify_) {
    ++counters_.reused;
    return replay(program, hit->second);
  }

  // Simulate, watching every statistic: the longest queue is zeroed first so the program's own
  // maximum can be read, then restored.
  const std::size_t count = engine.all_stats().size();
  std::vector<Counts> before(count);
  std::vector<std::uint64_t> max_queue_before(count);
  for (std::size_t i = 0; i < count; ++i) {
    sim::BusyStats& s = engine.stats_at(i);
    before[i] = Counts{s.busy_cycles, s.wait_cycles, s.uses, s.units, s.last_busy_end};
    max_queue_before[i] = s.max_queue;
    s.max_queue = 0;
  }
  ++counters_.simulated;
  ProgramTiming timing;
  try {
    build();
    timing = program.run();
  } catch (...) {  // an L1 overflow in build(): the maxima must still be restored
    for (std::size_t i = 0; i < count; ++i) {
      sim::BusyStats& s = engine.stats_at(i);
      s.max_queue = std::max(s.max_queue, max_queue_before[i]);
    }
    throw;
  }
  Recording recording;
  for (std::size_t i = 0; i < count; ++i) {
    sim::BusyStats& s = engine.stats_at(i);
    const std::uint64_t own_max_queue = s.max_queue;
    s.max_queue = std::max(own_max_queue, max_queue_before[i]);
    const Counts& b = before[i];
    StatsIncrement inc;
    inc.index = i;
    inc.busy_cycles = s.busy_cycles - b.busy_cycles;
    inc.wait_cycles = s.wait_cycles - b.wait_cycles;
    inc.uses = s.uses - b.uses;
    inc.units = s.units - b.units;
    inc.max_queue = own_max_queue;
    inc.ends_busy = s.last_busy_end != b.last_busy_end;
    if (inc.ends_busy) {
      inc.last_busy_end_offset =
          static_cast<std::int64_t>(s.last_busy_end) - static_cast<std::int64_t>(timing.fw_start);
    }
    const bool changed = inc.busy_cycles != 0 || inc.wait_cycles != 0 || inc.uses != 0 ||
                         inc.units != 0 || inc.max_queue != 0 || inc.ends_busy;
    if (changed) recording.increments.push_back(inc);
  }
  // A replay ends exactly at fw_end with nothing pending or booked: a program that left the
  // clock past its end (an event after the kernels), traffic booked past it, or an event still
  // pending would make the next op start differently, so it is not recorded. Nor is one that
  // registered statistics (their increments would have no recorded index).
  const bool recordable = engine.idle() && engine.now() == timing.fw_end &&
                          board.busy_until() <= timing.fw_end && engine.all_stats().size() == count;
  recording.timing = timing;
  recording.circular_buffers = program.circular_buffer_requests();
  recording.link_rotation_after = board.link_rotation();
  if (hit != recordings_.end()) {  // verifying: this simulation must be what a replay gives
    check_replay(hit->second, recording, recordable, program.name());
    ++counters_.verified;
    return timing;
  }
  if (recordable) {
    const std::size_t bytes = recording_bytes(recording, full_key);
    if (recordings_.size() >= kMaxRecordings || recorded_bytes_ + bytes > kMaxRecordingBytes) {
      recordings_.clear();
      recorded_bytes_ = 0;
    }
    recorded_bytes_ += bytes;
    recordings_.emplace(full_key, std::move(recording));
  }
  return timing;
}

void OpTimingReuse::check_replay(const Recording& recorded, const Recording& simulated,
                                 bool recordable, const std::string& program_name) {
  std::string differs;
  if (!recordable)
    differs = "the card was not idle at its end";
  else if (shifted(recorded.timing, recorded.timing.fw_start, simulated.timing.fw_start) !=
           simulated.timing)
    differs = "its timing";
  else if (recorded.circular_buffers != simulated.circular_buffers)
    differs = "its circular buffers";
  else if (recorded.increments != simulated.increments)
    differs = "the traffic it added to the NoC, DRAM, Ethernet or PCIe statistics";
  else if (recorded.link_rotation_after != simulated.link_rotation_after)
    differs = "the Ethernet link rotation it left";
  if (differs.empty()) return;
  throw std::logic_error("op timing reuse check failed for program '" + program_name +
                         "': simulating it again changed " + differs +
                         " compared with the identical op recorded earlier, so replaying "
                         "recordings would change results; run with --no-op-reuse and report "
                         "this as a bug");
}

ProgramTiming OpTimingReuse::replay(Program& program, const Recording& recording) {
  sim::Engine& engine = program.engine();
  // The same L1 placements, in the same order: they fail (and are freed with the program) as a
  // simulation's would.
  for (const Program::CircularBufferRequest& cb : recording.circular_buffers)
    program.create_cb(cb.core, cb.name, cb.pages, cb.page_bytes);
  const sim::Cycle start = engine.now();
  ProgramTiming timing = shifted(recording.timing, recording.timing.fw_start, start);
  for (const StatsIncrement& inc : recording.increments) {
    sim::BusyStats& s = engine.stats_at(inc.index);
    s.busy_cycles += inc.busy_cycles;
    s.wait_cycles += inc.wait_cycles;
    s.uses += inc.uses;
    s.units += inc.units;
    s.max_queue = std::max(s.max_queue, inc.max_queue);
    if (inc.ends_busy) {
      s.last_busy_end = std::max(
          s.last_busy_end,
          static_cast<sim::Cycle>(static_cast<std::int64_t>(start) + inc.last_busy_end_offset));
    }
  }
  program.device().board().set_link_rotation(recording.link_rotation_after);
  engine.advance_to(timing.fw_end);
  return timing;
}

}  // namespace wormsim::ops
