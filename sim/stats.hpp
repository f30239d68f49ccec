#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "sim/time.hpp"

namespace wormsim::sim {

// Busy-time accounting for one named resource (a link, a bank, a RISC, a semaphore).
// Intervals may be reported out of order; overlapping time is counted once as long as
// each new interval starts no earlier than the previous one started (true for FIFO users).
struct BusyStats {
  std::string name;
  Cycle busy_cycles{0};       // time with at least one unit in use
  Cycle wait_cycles{0};       // total time users spent queued for it
  std::uint64_t uses{0};      // acquisitions / occupations
  std::uint64_t units{0};     // bytes, tiles or units moved through it
  std::uint64_t max_queue{0}; // longest waiting line seen
  Cycle last_busy_end{0};

  void occupy(Cycle start, Cycle end, std::uint64_t moved_units = 0) {
    ++uses;
    units += moved_units;
    if (end <= start) return;
    const Cycle effective_start = std::max(start, last_busy_end);
    if (end > effective_start) busy_cycles += end - effective_start;
    last_busy_end = std::max(last_busy_end, end);
  }

  double utilisation(Cycle window) const {
    return window == 0 ? 0.0 : static_cast<double>(busy_cycles) / static_cast<double>(window);
  }
};

}  // namespace wormsim::sim
