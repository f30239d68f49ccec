#include "sim/engine.hpp"

#include <algorithm>
#include <stdexcept>

namespace wormsim::sim {

std::coroutine_handle<> Task::FinalAwaiter::await_suspend(Handle finished) noexcept {
  promise_type& promise = finished.promise();
  if (promise.owner != nullptr) {
    promise.owner->process_finished(finished);  // destroys the frame
    return std::noop_coroutine();
  }
  // A child that never suspended returns into its parent's Task::await_suspend, which continues
  // the parent; one that did suspend resumes the parent by symmetric transfer.
  if (promise.continuation && !promise.running_inline) return promise.continuation;
  return std::noop_coroutine();
}

Engine::~Engine() {
  // Unfinished processes (a run stopped early or failed) still own their frames.
  for (ProcessState& process : processes_) {
    if (!process.done && process.handle) process.handle.destroy();
  }
}

ProcessId Engine::spawn(Task task, std::string_view name) {
  if (!task.valid()) throw std::invalid_argument("Engine::spawn: empty task");
  Task::Handle handle = task.release();
  const auto id = static_cast<std::uint32_t>(processes_.size());
  handle.promise().owner = this;
  handle.promise().process_id = id;
  processes_.push_back(ProcessState{handle, std::string(name), false, {}, {}});
  ++live_processes_;
  schedule_now(handle);
  return ProcessId{id};
}

void Engine::process_finished(Task::Handle finished) noexcept {
  ProcessState& process = processes_[finished.promise().process_id];
  process.done = true;
  process.error = finished.promise().error;
  process.handle = {};
  --live_processes_;
  if (process.error && process.joiners.empty() && !first_error_) first_error_ = process.error;
  for (std::coroutine_handle<> joiner : process.joiners) schedule_now(joiner);
  process.joiners.clear();
  finished.destroy();
}

void Engine::schedule_at(Cycle when, std::coroutine_handle<> handle) {
  if (when < now_) throw std::logic_error("Engine::schedule_at: time is in the past");
  if (when == now_) {
    ready_.push_back(handle);
    return;
  }
  timed_.push_back(TimedEvent{when, next_sequence_++, handle});
  std::push_heap(timed_.begin(), timed_.end(), Later{});
}

bool Engine::step() {
  std::coroutine_handle<> next;
  // Timed events due now were inserted before anything in ready_ (which only receives
  // work created at the current time), so they go first: this keeps (time, insertion) order.
  if (!timed_.empty() && timed_.front().when == now_) {
    std::pop_heap(timed_.begin(), timed_.end(), Later{});
    next = timed_.back().handle;
    timed_.pop_back();
  } else if (!ready_.empty()) {
    next = ready_.front();
    ready_.pop_front();
  } else if (!timed_.empty()) {
    now_ = timed_.front().when;
    std::pop_heap(timed_.begin(), timed_.end(), Later{});
    next = timed_.back().handle;
    timed_.pop_back();
  } else {
    return false;
  }
  ++events_processed_;
  next.resume();
  if (first_error_) {
    std::exception_ptr error = std::exchange(first_error_, {});
    std::rethrow_exception(error);
  }
  return true;
}

void Engine::run() {
  while (step()) {
  }
}

bool Engine::run_until(Cycle limit) {
  while (true) {
    if (ready_.empty() && (timed_.empty() || timed_.front().when > limit)) break;
    step();
  }
  const bool pending = !ready_.empty() || !timed_.empty();
  // Everything up to `limit` has happened: work started now (spawn, schedule_now, delay) must
  // not land before `limit`. With nothing pending, now() stays at the last event's time.
  if (pending && limit > now_) now_ = limit;
  return pending;
}

void Engine::advance_to(Cycle when) {
  run_until(when);
  if (when > now_) now_ = when;
}

bool Engine::finished(ProcessId process) const {
  if (process.value >= processes_.size()) throw std::out_of_range("Engine: unknown process id");
  return processes_[process.value].done;
}

bool Engine::JoinAwaiter::await_ready() const { return engine.finished(process); }

void Engine::JoinAwaiter::await_suspend(std::coroutine_handle<> h) const {
  engine.processes_[process.value].joiners.push_back(h);
}

void Engine::JoinAwaiter::await_resume() const {
  const ProcessState& state = engine.processes_[process.value];
  if (state.error) std::rethrow_exception(state.error);
}

BusyStats& Engine::register_stats(std::string name) {
  stats_.push_back(BusyStats{});
  stats_.back().name = std::move(name);
  return stats_.back();
}

}  // namespace wormsim::sim
