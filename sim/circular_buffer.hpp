#pragma once
#include <coroutine>
#include <cstdint>
#include <deque>
#include <string>

#include "sim/engine.hpp"

namespace wormsim::sim {

// A circular buffer with tt-metal semantics, counted in pages (usually tiles).
// Producer: co_await reserve_back(n) (wait for n free pages), then push_back(n).
// Consumer: co_await wait_front(n) (wait for n filled pages), then pop_front(n).
// Blocked producers and consumers resume in FIFO order. Timing only: values live elsewhere.
class CircularBuffer {
 public:
  CircularBuffer(Engine& engine, std::string name, std::uint32_t capacity_pages);
  CircularBuffer(const CircularBuffer&) = delete;
  CircularBuffer& operator=(const CircularBuffer&) = delete;

  const std::string& name() const noexcept { return name_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint32_t filled() const noexcept { return filled_; }
  std::uint32_t free_pages() const noexcept { return capacity_ - filled_; }

  struct Awaiter {
    CircularBuffer& cb;
    std::uint32_t pages;
    bool producer;
    Cycle queued_at{0};
    bool queued{false};
    bool await_ready() const noexcept;
    void await_suspend(std::coroutine_handle<> h);
    void await_resume() noexcept;
  };
  Awaiter reserve_back(std::uint32_t pages);
  void push_back(std::uint32_t pages);
  Awaiter wait_front(std::uint32_t pages);
  void pop_front(std::uint32_t pages);

  // Total cycles producers spent blocked in reserve_back / consumers in wait_front
  // (tt-metal's CB RESERVE BACK / CB WAIT FRONT profiler columns).
  Cycle reserve_back_wait_cycles() const noexcept { return reserve_wait_; }
  Cycle wait_front_wait_cycles() const noexcept { return front_wait_; }
  std::uint64_t pages_pushed() const noexcept { return pushed_; }
  std::uint32_t peak_filled() const noexcept { return peak_filled_; }

 private:
  struct Waiter {
    std::coroutine_handle<> handle;
    std::uint32_t pages;
  };
  void check_request(std::uint32_t pages, const char* what) const;
  void wake(std::deque<Waiter>& waiters, bool producers);

  Engine& engine_;
  std::string name_;
  std::uint32_t capacity_;
  std::uint32_t filled_{0};
  std::uint32_t peak_filled_{0};
  std::uint64_t pushed_{0};
  Cycle reserve_wait_{0};
  Cycle front_wait_{0};
  std::deque<Waiter> producers_;
  std::deque<Waiter> consumers_;
};

}  // namespace wormsim::sim
