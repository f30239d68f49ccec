#pragma once
#include <coroutine>
#include <cstdint>
#include <deque>
#include <string>

#include "sim/engine.hpp"

namespace wormsim::sim {

// A level-triggered flag: waiters block until set(); stays set until reset().
class Trigger {
 public:
  explicit Trigger(Engine& engine) : engine_(engine) {}
  Trigger(const Trigger&) = delete;
  Trigger& operator=(const Trigger&) = delete;

  bool is_set() const noexcept { return set_; }
  void set();
  void reset() noexcept { set_ = false; }

  struct Awaiter {
    Trigger& trigger;
    bool await_ready() const noexcept { return trigger.set_; }
    void await_suspend(std::coroutine_handle<> h) { trigger.waiters_.push_back(h); }
    void await_resume() const noexcept {}
  };
  Awaiter wait() { return Awaiter{*this}; }

 private:
  Engine& engine_;
  bool set_{false};
  std::deque<std::coroutine_handle<>> waiters_;
};

// A counted resource with `capacity` units (a port, a DMA engine, a bank). acquire() blocks
// until its units are free; waiters are served strictly first come, first served.
class Resource {
 public:
  Resource(Engine& engine, std::string name, std::uint64_t capacity);
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;

  std::uint64_t capacity() const noexcept { return capacity_; }
  std::uint64_t in_use() const noexcept { return in_use_; }
  const BusyStats& stats() const noexcept { return *stats_; }

  struct Awaiter {
    Resource& resource;
    std::uint64_t units;
    bool queued{false};  // if queued, wake_waiters grants the units before resuming
    bool await_ready() const noexcept;
    void await_suspend(std::coroutine_handle<> h);
    void await_resume();
  };
  Awaiter acquire(std::uint64_t units = 1);
  void release(std::uint64_t units = 1);

 private:
  struct Waiter {
    std::coroutine_handle<> handle;
    std::uint64_t units;
    Cycle queued_at;
  };
  void grant(std::uint64_t units);
  void wake_waiters();

  Engine& engine_;
  std::uint64_t capacity_;
  std::uint64_t in_use_{0};
  Cycle busy_since_{0};
  std::deque<Waiter> waiters_;
  BusyStats* stats_;
};

// An integer semaphore with tt-metal semantics: producers increment (or set) it, consumers
// wait until it reaches a value (noc_semaphore_wait / _wait_min) or take units from it.
class Semaphore {
 public:
  Semaphore(Engine& engine, std::int64_t initial = 0) : engine_(engine), value_(initial) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  std::int64_t value() const noexcept { return value_; }
  void set(std::int64_t value);
  void increment(std::int64_t delta = 1) { set(value_ + delta); }

  struct AtLeastAwaiter {
    Semaphore& sem;
    std::int64_t target;
    bool await_ready() const noexcept { return sem.value_ >= target; }
    void await_suspend(std::coroutine_handle<> h) { sem.waiters_.push_back({h, target, false}); }
    void await_resume() const noexcept {}
  };
  // Wait until value >= target; the value is left unchanged.
  AtLeastAwaiter wait_at_least(std::int64_t target) { return AtLeastAwaiter{*this, target}; }

  struct TakeAwaiter {
    Semaphore& sem;
    std::int64_t units;
    bool queued{false};  // if queued, wake_waiters subtracts the units before resuming
    // Only queued takers go first; queued watchers (wait_at_least) never block a taker.
    bool await_ready() const noexcept { return sem.queued_takers_ == 0 && sem.value_ >= units; }
    void await_suspend(std::coroutine_handle<> h) {
      queued = true;
      sem.waiters_.push_back({h, units, true});
      ++sem.queued_takers_;
    }
    void await_resume() noexcept {
      if (!queued) sem.value_ -= units;
    }
  };
  // Wait until value >= units, then subtract units (FIFO among takers).
  TakeAwaiter take(std::int64_t units = 1) { return TakeAwaiter{*this, units}; }

 private:
  struct Waiter {
    std::coroutine_handle<> handle;
    std::int64_t target;
    bool takes;
  };
  void wake_waiters();

  Engine& engine_;
  std::int64_t value_;
  std::deque<Waiter> waiters_;
  std::size_t queued_takers_{0};
};

}  // namespace wormsim::sim
