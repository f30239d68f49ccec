#pragma once
#include <coroutine>
#include <cstdint>
#include <exception>
#include <utility>

#include "sim/frame_pool.hpp"

namespace wormsim::sim {

class Engine;

// A simulated activity (a kernel, a transfer, a whole op). Lazily started: it runs when
// awaited by a parent (`co_await child()`, which resumes the parent when the child ends)
// or when handed to Engine::spawn as an independent process.
class [[nodiscard]] Task {
 public:
  struct promise_type;
  using Handle = std::coroutine_handle<promise_type>;

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(Handle finished) noexcept;
    void await_resume() const noexcept {}
  };

  struct promise_type {
    std::coroutine_handle<> continuation{};  // parent waiting in `co_await child`
    std::exception_ptr error{};
    Engine* owner{nullptr};  // set when the task is a spawned process
    std::uint32_t process_id{0};
    bool running_inline{false};  // started by a parent's co_await and not suspended since

    Task get_return_object() noexcept { return Task{Handle::from_promise(*this)}; }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    FinalAwaiter final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }

    static void* operator new(std::size_t bytes) { return FramePool::allocate(bytes); }
    static void operator delete(void* frame, std::size_t bytes) noexcept {
      FramePool::deallocate(frame, bytes);
    }
  };

  Task() = default;
  explicit Task(Handle handle) noexcept : handle_(handle) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  // Awaiting a task runs it to completion as a child of the awaiting coroutine. The child starts
  // at once; if it ends without suspending, the parent just continues (returning false), so a
  // loop over children that complete synchronously never nests frames on the stack. Symmetric
  // transfer alone does not guarantee that: GCC only turns it into a tail call when optimising,
  // and Debug / sanitizer builds overflowed the stack after ~10^5 such children.
  bool await_ready() const noexcept { return !handle_ || handle_.done(); }
  bool await_suspend(std::coroutine_handle<> parent) {
    promise_type& child = handle_.promise();
    child.continuation = parent;
    child.running_inline = true;
    handle_.resume();                  // runs until the child suspends or ends
    if (handle_.done()) return false;  // ended inline: resume the parent now
    child.running_inline = false;      // suspended: its final_suspend resumes the parent
    return true;
  }
  void await_resume() const {
    if (handle_ && handle_.promise().error) std::rethrow_exception(handle_.promise().error);
  }

  bool valid() const noexcept { return static_cast<bool>(handle_); }
  Handle release() noexcept { return std::exchange(handle_, {}); }

 private:
  void reset() noexcept {
    if (handle_) handle_.destroy();
    handle_ = {};
  }
  Handle handle_{};
};

}  // namespace wormsim::sim
