#pragma once
// Runs independent shares of one job on the machine's cores.
#include <algorithm>
#include <cstddef>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace wormsim::sim {

// Calls share(t) for every t in [0, shares): share 0 on this thread, the others on threads of
// their own (on this thread too when no more threads can be started). Returns when all are done;
// if any share threw, rethrows the exception of the lowest-numbered one. Shares must not touch
// each other's data.
template <class Share>
void run_shares(std::size_t shares, Share&& share) {
  std::vector<std::exception_ptr> failures(shares);
  auto run = [&](std::size_t t) {
    try {
      share(t);
    } catch (...) {
      failures[t] = std::current_exception();
    }
  };
  std::vector<std::thread> helpers;
  helpers.reserve(shares);  // no reallocation (and bad_alloc) once threads run
  std::size_t started = 1;
  try {
    for (; started < shares; ++started) helpers.emplace_back(run, started);
  } catch (const std::system_error&) {
    // No more threads to be had: this thread runs the remaining shares itself.
  }
  for (std::size_t t = started; t < shares; ++t) run(t);
  if (shares > 0) run(0);
  for (std::thread& helper : helpers) helper.join();
  for (const std::exception_ptr& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

// Values from which element-wise numerics are spread over the cores (below, starting threads
// costs more than it saves).
inline constexpr std::size_t kParallelValues = std::size_t{1} << 16;

// The machine's hardware threads (at least 1).
inline std::size_t hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

// Calls range(begin, end) on `pieces` contiguous pieces that cover [0, count), piece t being
// [count * t / pieces, count * (t + 1) / pieces), each on a thread of its own (run_shares).
// At most `count` pieces, so none is empty (one, [0, 0), when count is 0).
template <class Range>
void run_pieces(std::size_t count, std::size_t pieces, Range&& range) {
  const std::size_t n = std::clamp<std::size_t>(pieces, 1, std::max<std::size_t>(count, 1));
  run_shares(n, [&](std::size_t t) { range(count * t / n, count * (t + 1) / n); });
}

// run_pieces with one piece per hardware thread when count >= min_parallel, else the whole
// range on this thread. For element-wise work whose result does not depend on how it is split.
template <class Range>
void run_ranges(std::size_t count, std::size_t min_parallel, Range&& range) {
  run_pieces(count, count < min_parallel ? 1 : hardware_threads(), std::forward<Range>(range));
}

}  // namespace wormsim::sim
