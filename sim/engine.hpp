#pragma once
#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "sim/stats.hpp"
#include "sim/task.hpp"
#include "sim/time.hpp"

namespace wormsim::sim {

// Identifies a process started with Engine::spawn; awaiting Engine::join on it waits for its end.
struct ProcessId {
  std::uint32_t value{0};
};

// The discrete-event kernel. Single-threaded and deterministic: events run in (time, insertion
// order). It knows nothing about hardware; models build on its coroutines and primitives.
class Engine {
 public:
  Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine();

  Cycle now() const noexcept { return now_; }
  std::uint64_t events_processed() const noexcept { return events_processed_; }

  // Start `task` as an independent process at the current time (after already-ready work).
  ProcessId spawn(Task task, std::string_view name = {});

  // Run until no event is left. Rethrows the first exception a process raised.
  void run();
  // Run events whose time is <= limit; returns true if events remain, and then now() == limit
  // (if none remain, now() is the time of the last event).
  bool run_until(Cycle limit);
  // Run events up to `when`, then move the clock to `when` even if nothing is pending
  // (a gap where the device idles, e.g. between two ops).
  void advance_to(Cycle when);

  // Resume `handle` at absolute time `when` (>= now) / at the current time.
  void schedule_at(Cycle when, std::coroutine_handle<> handle);
  void schedule_now(std::coroutine_handle<> handle) { ready_.push_back(handle); }

  struct DelayAwaiter {
    Engine& engine;
    Cycle cycles;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const { engine.schedule_at(engine.now_ + cycles, h); }
    void await_resume() const noexcept {}
  };
  // `co_await engine.delay(n)`: resume n cycles later (n = 0 yields to other ready work).
  DelayAwaiter delay(Cycle cycles) { return DelayAwaiter{*this, cycles}; }

  struct UntilAwaiter {
    Engine& engine;
    Cycle when;
    bool await_ready() const noexcept { return when <= engine.now_; }
    void await_suspend(std::coroutine_handle<> h) const { engine.schedule_at(when, h); }
    void await_resume() const noexcept {}
  };
  // `co_await engine.until(t)`: resume at absolute time t (immediately if t has passed).
  UntilAwaiter until(Cycle when) { return UntilAwaiter{*this, when}; }

  struct JoinAwaiter {
    Engine& engine;
    ProcessId process;
    bool await_ready() const;
    void await_suspend(std::coroutine_handle<> h) const;
    void await_resume() const;
  };
  // `co_await engine.join(p)`: wait for process p to finish; rethrows its exception.
  JoinAwaiter join(ProcessId process) { return JoinAwaiter{*this, process}; }

  bool finished(ProcessId process) const;
  std::size_t live_processes() const noexcept { return live_processes_; }
  // True when no event is pending: nothing already simulated can still act in the future.
  bool idle() const noexcept { return timed_.empty() && ready_.empty(); }

  // Busy-time statistics per named resource. References stay valid for the engine's life.
  BusyStats& register_stats(std::string name);
  const std::deque<BusyStats>& all_stats() const noexcept { return stats_; }
  // The statistics by registration index, writable: for replaying a recorded op's traffic
  // (ops/op_timing_reuse.hpp).
  BusyStats& stats_at(std::size_t index) { return stats_.at(index); }

 private:
  friend struct Task::FinalAwaiter;

  struct TimedEvent {
    Cycle when;
    std::uint64_t sequence;
    std::coroutine_handle<> handle;
  };
  struct Later {
    bool operator()(const TimedEvent& a, const TimedEvent& b) const noexcept {
      return a.when != b.when ? a.when > b.when : a.sequence > b.sequence;
    }
  };
  struct ProcessState {
    Task::Handle handle{};
    std::string name;
    bool done{false};
    std::exception_ptr error{};
    std::vector<std::coroutine_handle<>> joiners;
  };

  void process_finished(Task::Handle finished) noexcept;
  bool step();  // run one event; false when none is left

  Cycle now_{0};
  std::uint64_t next_sequence_{0};
  std::uint64_t events_processed_{0};
  std::vector<TimedEvent> timed_;            // binary heap ordered by Later
  std::deque<std::coroutine_handle<>> ready_;  // events due now, FIFO
  std::vector<ProcessState> processes_;
  std::size_t live_processes_{0};
  std::exception_ptr first_error_{};
  std::deque<BusyStats> stats_;
};

}  // namespace wormsim::sim
