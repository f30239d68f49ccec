#include "noc/timeline.hpp"

#include <algorithm>
#include <cmath>

namespace wormsim::noc {

Cycle Element::compute_duration(std::uint64_t bytes) const {
  if (bytes == 0) return 0;
  return static_cast<Cycle>(std::ceil(static_cast<double>(bytes) / bytes_per_cycle));
}

void Timeline::forget_before(Cycle now) {
  while (first_live_ < busy_.size() && busy_[first_live_].end <= now) ++first_live_;
  // Compact occasionally so the vector does not grow without bound on long runs.
  if (first_live_ > 64 && first_live_ * 2 > busy_.size()) {
    busy_.erase(busy_.begin(), busy_.begin() + static_cast<std::ptrdiff_t>(first_live_));
    first_live_ = 0;
  }
}

Cycle Timeline::book(Cycle earliest, Cycle duration, Cycle now) {
  forget_before(now);
  earliest = std::max(earliest, now);  // the forgotten past cannot be booked
  if (duration == 0) return earliest;
  // Fast path: arrivals mostly come in time order, after everything booked so far.
  if (first_live_ == busy_.size() || busy_.back().end <= earliest) {
    if (first_live_ < busy_.size() && busy_.back().end == earliest) {
      busy_.back().end += duration;
    } else {
      busy_.push_back({earliest, earliest + duration});
    }
    return earliest;
  }
  // First fit among the gaps at or after `earliest`.
  Cycle candidate = earliest;
  // Intervals are sorted and disjoint: binary search for the first one ending after `candidate`
  // (a busy link can hold many future bookings).
  std::size_t i = static_cast<std::size_t>(
      std::partition_point(
          busy_.begin() + static_cast<std::ptrdiff_t>(first_live_), busy_.end(),
          [candidate](const auto& interval) { return interval.end <= candidate; }) -
      busy_.begin());
  for (; i < busy_.size(); ++i) {
    if (busy_[i].start >= candidate + duration) break;  // fits in the gap before interval i
    candidate = std::max(candidate, busy_[i].end);
  }
  const Cycle end = candidate + duration;
  // Insert [candidate, end) before index i, merging with touching neighbours.
  const bool touches_prev = i > first_live_ && busy_[i - 1].end == candidate;
  const bool touches_next = i < busy_.size() && busy_[i].start == end;
  if (touches_prev && touches_next) {
    busy_[i - 1].end = busy_[i].end;
    busy_.erase(busy_.begin() + static_cast<std::ptrdiff_t>(i));
  } else if (touches_prev) {
    busy_[i - 1].end = end;
  } else if (touches_next) {
    busy_[i].start = candidate;
  } else {
    busy_.insert(busy_.begin() + static_cast<std::ptrdiff_t>(i), Interval{candidate, end});
  }
  return candidate;
}

std::pair<Cycle, Cycle> Timeline::book_pieces(Cycle earliest, Cycle duration, Cycle min_piece,
                                              Cycle now) {
  forget_before(now);
  earliest = std::max(earliest, now);
  if (duration == 0) return {earliest, earliest};
  Cycle first = 0;
  bool started = false;
  Cycle left = duration;
  Cycle candidate = earliest;
  while (left > 0) {
    // The gap at or after `candidate`: from candidate (or the end of the interval covering it)
    // to the start of the next interval, or unbounded.
    const auto next = std::partition_point(
        busy_.begin() + static_cast<std::ptrdiff_t>(first_live_), busy_.end(),
        [candidate](const Interval& interval) { return interval.end <= candidate; });
    if (next != busy_.end() && next->start <= candidate) {
      candidate = next->end;  // inside a busy interval: move to its end
      continue;
    }
    const bool bounded = next != busy_.end();
    const Cycle gap = bounded ? next->start - candidate : left;
    if (gap < std::min(left, min_piece)) {  // too short for a piece: skip it
      candidate = next->end;
      continue;
    }
    const Cycle piece = std::min(gap, left);
    const Cycle start = book(candidate, piece, now);  // fits exactly in this gap
    if (!started) {
      first = start;
      started = true;
    }
    left -= piece;
    candidate = start + piece;
  }
  return {first, candidate};
}

}  // namespace wormsim::noc
