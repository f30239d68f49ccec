#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "sim/stats.hpp"
#include "sim/time.hpp"

namespace wormsim::noc {

using sim::Cycle;

// The booked busy intervals of one bandwidth element (a NoC link, an NIU port, a DRAM bank).
// A transfer books [start, start + duration) at the first gap that starts no earlier than its
// arrival and is long enough, so a later arrival can use idle time before an earlier booking:
// contention is work-conserving and no element is ever charged for time it is not used.
class Timeline {
 public:
  // Books `duration` cycles at or after `earliest`; returns the start. `now` lets the
  // timeline forget intervals that ended before the present (no booking can start earlier).
  Cycle book(Cycle earliest, Cycle duration, Cycle now);
  // Books `duration` cycles at or after `earliest` in pieces: every idle gap of at least
  // `min_piece` cycles is filled in turn until the duration is used up, as the flits of a packet
  // interleave with other packets' on a link's virtual channels. Returns {first start, end}.
  std::pair<Cycle, Cycle> book_pieces(Cycle earliest, Cycle duration, Cycle min_piece, Cycle now);

  // Starts loading the intervals a booking reads first (the oldest live one and the last), so
  // the cache misses along a packet's path overlap instead of following one another.
  void prefetch() const noexcept {
    if (busy_.empty()) return;
    __builtin_prefetch(busy_.data() + first_live_);
    __builtin_prefetch(busy_.data() + busy_.size() - 1);
  }

  std::size_t pending_intervals() const noexcept { return busy_.size(); }
  // End of the last booked interval (0 if nothing was ever booked).
  Cycle busy_until() const noexcept { return busy_.empty() ? 0 : busy_.back().end; }

 private:
  struct Interval {
    Cycle start;
    Cycle end;
  };
  void forget_before(Cycle now);
  // Books [earliest, earliest + duration) if nothing live ends after `earliest` (the common
  // case: arrivals in time order); false otherwise.
  bool append_if_last(Cycle earliest, Cycle duration);
  // Index of the first live interval ending after `t` (busy_.size() if none).
  std::size_t first_ending_after(Cycle t) const;
  void insert_before(std::size_t i, Cycle start, Cycle end);
  std::vector<Interval> busy_;  // sorted, disjoint, non-adjacent
  std::size_t first_live_{0};   // intervals before this index ended in the past
};

// A bandwidth element: its timeline plus rate, the latency until the next element sees the
// head of a packet, and statistics.
struct Element {
  Timeline timeline;
  double bytes_per_cycle{0};
  Cycle latency_after{0};
  sim::BusyStats* stats{nullptr};

  // Cycles `bytes` occupy the element. Packets mostly repeat one size, so the last answer is
  // kept (the division and rounding showed up in profiles).
  Cycle duration_for(std::uint64_t bytes) const {
    if (bytes != cached_bytes_) {
      cached_bytes_ = bytes;
      cached_duration_ = compute_duration(bytes);
    }
    return cached_duration_;
  }
  // The shortest piece a packet's booking may be split into: one flit's time, at least a cycle.
  // Kept apart from duration_for's cache, which holds the packet size.
  Cycle min_piece(std::uint64_t flit_bytes) const {
    if (flit_bytes != cached_flit_bytes_) {
      cached_flit_bytes_ = flit_bytes;
      cached_piece_ = std::max<Cycle>(1, compute_duration(flit_bytes));
    }
    return cached_piece_;
  }

 private:
  Cycle compute_duration(std::uint64_t bytes) const;
  mutable std::uint64_t cached_bytes_{0};
  mutable Cycle cached_duration_{0};
  mutable std::uint64_t cached_flit_bytes_{0};
  mutable Cycle cached_piece_{1};
};

}  // namespace wormsim::noc
