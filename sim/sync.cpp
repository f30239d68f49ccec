#include "sim/sync.hpp"

#include <algorithm>
#include <stdexcept>

namespace wormsim::sim {

void Trigger::set() {
  set_ = true;
  while (!waiters_.empty()) {
    engine_.schedule_now(waiters_.front());
    waiters_.pop_front();
  }
}

Resource::Resource(Engine& engine, std::string name, std::uint64_t capacity)
    : engine_(engine), capacity_(capacity), stats_(&engine.register_stats(std::move(name))) {
  if (capacity == 0) {
    throw std::invalid_argument("Resource '" + stats_->name + "': capacity must be > 0");
  }
}

Resource::Awaiter Resource::acquire(std::uint64_t units) {
  if (units == 0 || units > capacity_) {
    throw std::invalid_argument("Resource '" + stats_->name + "': cannot acquire " +
                                std::to_string(units) + " of " + std::to_string(capacity_) +
                                " units");
  }
  return Awaiter{*this, units};
}

bool Resource::Awaiter::await_ready() const noexcept {
  return resource.waiters_.empty() && resource.in_use_ + units <= resource.capacity_;
}

void Resource::Awaiter::await_suspend(std::coroutine_handle<> h) {
  queued = true;
  resource.waiters_.push_back({h, units, resource.engine_.now()});
  resource.stats_->max_queue =
      std::max<std::uint64_t>(resource.stats_->max_queue, resource.waiters_.size());
}

void Resource::Awaiter::await_resume() {
  if (!queued) resource.grant(units);
}

void Resource::grant(std::uint64_t units) {
  if (in_use_ == 0) busy_since_ = engine_.now();
  in_use_ += units;
  ++stats_->uses;
  stats_->units += units;
}

void Resource::release(std::uint64_t units) {
  if (units == 0 || units > in_use_) {
    throw std::logic_error("Resource '" + stats_->name + "': released " + std::to_string(units) +
                           " units but only " + std::to_string(in_use_) + " are in use");
  }
  in_use_ -= units;
  if (in_use_ == 0) stats_->busy_cycles += engine_.now() - busy_since_;
  wake_waiters();
}

void Resource::wake_waiters() {
  // Strict FIFO: the head waiter blocks later ones even if they would fit (no starvation).
  while (!waiters_.empty() && in_use_ + waiters_.front().units <= capacity_) {
    Waiter waiter = waiters_.front();
    waiters_.pop_front();
    stats_->wait_cycles += engine_.now() - waiter.queued_at;
    grant(waiter.units);
    engine_.schedule_now(waiter.handle);
  }
}

void Semaphore::set(std::int64_t value) {
  value_ = value;
  wake_waiters();
}

void Semaphore::wake_waiters() {
  // Takers are served in order; a waiting taker blocks later takers but not pure watchers.
  bool taker_blocked = false;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (value_ >= it->target && !(it->takes && taker_blocked)) {
      if (it->takes) {
        value_ -= it->target;
        --queued_takers_;
      }
      engine_.schedule_now(it->handle);
      it = waiters_.erase(it);
    } else {
      if (it->takes) taker_blocked = true;
      ++it;
    }
  }
}

}  // namespace wormsim::sim
