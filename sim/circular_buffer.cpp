#include "sim/circular_buffer.hpp"

#include <algorithm>
#include <stdexcept>

namespace wormsim::sim {

CircularBuffer::CircularBuffer(Engine& engine, std::string name, std::uint32_t capacity_pages)
    : engine_(engine), name_(std::move(name)), capacity_(capacity_pages) {
  if (capacity_pages == 0) throw std::invalid_argument("CircularBuffer '" + name_ + "': capacity is 0 pages");
}

void CircularBuffer::check_request(std::uint32_t pages, const char* what) const {
  if (pages == 0 || pages > capacity_) {
    throw std::invalid_argument("CircularBuffer '" + name_ + "': " + what + "(" + std::to_string(pages) +
                                ") with capacity " + std::to_string(capacity_) +
                                " pages can never be satisfied");
  }
}

CircularBuffer::Awaiter CircularBuffer::reserve_back(std::uint32_t pages) {
  check_request(pages, "reserve_back");
  return Awaiter{*this, pages, true};
}

CircularBuffer::Awaiter CircularBuffer::wait_front(std::uint32_t pages) {
  check_request(pages, "wait_front");
  return Awaiter{*this, pages, false};
}

bool CircularBuffer::Awaiter::await_ready() const noexcept {
  if (producer) return cb.producers_.empty() && cb.free_pages() >= pages;
  return cb.consumers_.empty() && cb.filled_ >= pages;
}

void CircularBuffer::Awaiter::await_suspend(std::coroutine_handle<> h) {
  queued = true;
  queued_at = cb.engine_.now();
  (producer ? cb.producers_ : cb.consumers_).push_back({h, pages});
}

void CircularBuffer::Awaiter::await_resume() noexcept {
  if (!queued) return;
  const Cycle waited = cb.engine_.now() - queued_at;
  (producer ? cb.reserve_wait_ : cb.front_wait_) += waited;
}

void CircularBuffer::push_back(std::uint32_t pages) {
  if (filled_ + pages > capacity_) {
    throw std::logic_error("CircularBuffer '" + name_ + "': push_back(" + std::to_string(pages) +
                           ") overflows " + std::to_string(capacity_) + " pages (" +
                           std::to_string(filled_) + " filled); reserve_back first");
  }
  filled_ += pages;
  pushed_ += pages;
  peak_filled_ = std::max(peak_filled_, filled_);
  wake(consumers_, false);
}

void CircularBuffer::pop_front(std::uint32_t pages) {
  if (pages > filled_) {
    throw std::logic_error("CircularBuffer '" + name_ + "': pop_front(" + std::to_string(pages) +
                           ") but only " + std::to_string(filled_) + " pages are filled");
  }
  filled_ -= pages;
  wake(producers_, true);
}

void CircularBuffer::wake(std::deque<Waiter>& waiters, bool producers) {
  // Waking does not claim pages (as in tt-metal, reserve/wait only check); FIFO order, and
  // the head blocks later waiters so a large request is never starved by small ones.
  while (!waiters.empty()) {
    const std::uint32_t available = producers ? free_pages() : filled_;
    if (available < waiters.front().pages) break;
    engine_.schedule_now(waiters.front().handle);
    waiters.pop_front();
  }
}

}  // namespace wormsim::sim
