#pragma once
#include <cstddef>

namespace wormsim::sim {

// Size-class free lists for coroutine frames. Kernels spawn many short-lived coroutines
// (one per transfer or tile block); recycling frames keeps the hot path free of malloc.
// Per thread, so independent engines on different threads never share a list.
class FramePool {
 public:
  static void* allocate(std::size_t bytes);
  static void deallocate(void* frame, std::size_t bytes) noexcept;

  // Frames larger than this go straight to the global allocator.
  static constexpr std::size_t kMaxPooledBytes = 4096;
  static constexpr std::size_t kGranularity = 64;
};

}  // namespace wormsim::sim
