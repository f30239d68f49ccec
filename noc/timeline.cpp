#include "noc/timeline.hpp"

#include <algorithm>
#include <cmath>

namespace wormsim::noc {

Cycle Element::compute_duration(std::uint64_t bytes) const {
  if (bytes == 0) return 0;
  return static_cast<Cycle>(std::ceil(static_cast<double>(bytes) / bytes_per_cycle));
}

void Timeline::forget_before(Cycle now) {
  // A local index: stores to first_live_ could alias the intervals' Cycle fields, which would
  // force a store per step.
  std::size_t live = first_live_;
  while (live < busy_.size() && busy_[live].end <= now) ++live;
  first_live_ = live;
  // Compact occasionally so the vector does not grow without bound on long runs.
  if (first_live_ > 64 && first_live_ * 2 > busy_.size()) {
    busy_.erase(busy_.begin(), busy_.begin() + static_cast<std::ptrdiff_t>(first_live_));
    first_live_ = 0;
  }
}

bool Timeline::append_if_last(Cycle earliest, Cycle duration) {
  if (first_live_ < busy_.size() && busy_.back().end > earliest) return false;
  if (first_live_ < busy_.size() && busy_.back().end == earliest) {
    busy_.back().end += duration;
  } else {
    busy_.push_back({earliest, earliest + duration});
  }
  return true;
}

Cycle Timeline::book(Cycle earliest, Cycle duration, Cycle now) {
  forget_before(now);
  earliest = std::max(earliest, now);  // the forgotten past cannot be booked
  if (duration == 0) return earliest;
  // Fast path: arrivals mostly come in time order, after everything booked so far.
  if (append_if_last(earliest, duration)) return earliest;
  // First fit among the gaps at or after `earliest`.
  Cycle candidate = earliest;
  std::size_t i = first_ending_after(candidate);
  for (; i < busy_.size(); ++i) {
    if (busy_[i].start >= candidate + duration) break;  // fits in the gap before interval i
    candidate = std::max(candidate, busy_[i].end);
  }
  insert_before(i, candidate, candidate + duration);
  return candidate;
}

std::size_t Timeline::first_ending_after(Cycle t) const {
  // Intervals are sorted and disjoint. A busy DRAM bank holds a long queue of future bookings
  // and a new arrival mostly lands near its end: gallop back from the last interval (cached by
  // prefetch()), then binary search the last step.
  std::size_t high = busy_.size();  // busy_[high].end > t holds for every high < size
  std::size_t step = 1;
  while (high > first_live_ && busy_[high - 1].end > t) {
    const std::size_t low = high - 1 >= first_live_ + step ? high - 1 - step : first_live_;
    if (low == first_live_ || busy_[low].end <= t) {
      return static_cast<std::size_t>(
          std::partition_point(busy_.begin() + static_cast<std::ptrdiff_t>(low),
                               busy_.begin() + static_cast<std::ptrdiff_t>(high - 1),
                               [t](const Interval& interval) { return interval.end <= t; }) -
          busy_.begin());
    }
    high = low;
    step *= 2;
  }
  return high;
}

void Timeline::insert_before(std::size_t i, Cycle start, Cycle end) {
  // Insert [start, end) before index i, merging with touching neighbours.
  const bool touches_prev = i > first_live_ && busy_[i - 1].end == start;
  const bool touches_next = i < busy_.size() && busy_[i].start == end;
  if (touches_prev && touches_next) {
    busy_[i - 1].end = busy_[i].end;
    busy_.erase(busy_.begin() + static_cast<std::ptrdiff_t>(i));
  } else if (touches_prev) {
    busy_[i - 1].end = end;
  } else if (touches_next) {
    busy_[i].start = start;
  } else {
    busy_.insert(busy_.begin() + static_cast<std::ptrdiff_t>(i), Interval{start, end});
  }
}

std::pair<Cycle, Cycle> Timeline::book_pieces(Cycle earliest, Cycle duration, Cycle min_piece,
                                              Cycle now) {
  forget_before(now);
  earliest = std::max(earliest, now);
  if (duration == 0) return {earliest, earliest};
  // Fast path, as in book(): nothing booked at or after `earliest`, so one piece.
  if (append_if_last(earliest, duration)) return {earliest, earliest + duration};
  Cycle first = 0;
  Cycle left = duration;
  Cycle candidate = earliest;
  // Walk the intervals from the first one ending after `earliest`, filling each gap in turn.
  std::size_t i = first_ending_after(candidate);
  while (left > 0) {
    if (i < busy_.size() && busy_[i].start <= candidate) {
      candidate = std::max(candidate, busy_[i].end);  // inside a busy interval: skip it
      ++i;
      continue;
    }
    const bool bounded = i < busy_.size();
    const Cycle gap = bounded ? busy_[i].start - candidate : left;
    if (gap < std::min(left, min_piece)) {  // too short for a piece
      candidate = busy_[i].end;
      ++i;
      continue;
    }
    const Cycle piece = std::min(gap, left);
    const std::size_t size_before = busy_.size();
    insert_before(i, candidate, candidate + piece);
    if (left == duration) first = candidate;  // the first piece
    left -= piece;
    candidate += piece;
    // The piece either merged into interval i-1 / i (sizes shrink or stay) or was inserted at i;
    // continue from the first interval ending after the new candidate.
    if (busy_.size() > size_before)
      ++i;  // inserted at i: the old i moved to i + 1
    else if (busy_.size() < size_before)
      --i;  // merged i-1 and i into i-1
    while (i < busy_.size() && busy_[i].end <= candidate) ++i;
  }
  return {first, candidate};
}

}  // namespace wormsim::noc
