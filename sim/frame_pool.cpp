#include "sim/frame_pool.hpp"

#include <array>
#include <new>
#include <vector>

namespace wormsim::sim {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kPoolingEnabled = false;  // let ASan see every frame's real lifetime
#else
constexpr bool kPoolingEnabled = true;
#endif

constexpr std::size_t kClassCount = FramePool::kMaxPooledBytes / FramePool::kGranularity;
constexpr std::size_t kFramesPerChunk = 64;

struct FreeNode {
  FreeNode* next;
};

struct ThreadPool {
  std::array<FreeNode*, kClassCount> free_lists{};
  std::vector<void*> chunks;

  ThreadPool() = default;
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() {
    for (void* chunk : chunks) ::operator delete(chunk);
  }

  void refill(std::size_t size_class) {
    const std::size_t frame_bytes = (size_class + 1) * FramePool::kGranularity;
    auto* chunk = static_cast<std::byte*>(::operator new(frame_bytes * kFramesPerChunk));
    chunks.push_back(chunk);
    for (std::size_t i = 0; i < kFramesPerChunk; ++i) {
      auto* node = reinterpret_cast<FreeNode*>(chunk + i * frame_bytes);
      node->next = free_lists[size_class];
      free_lists[size_class] = node;
    }
  }
};

ThreadPool& pool() {
  thread_local ThreadPool instance;
  return instance;
}

std::size_t size_class_of(std::size_t bytes) {
  return (bytes + FramePool::kGranularity - 1) / FramePool::kGranularity - 1;
}

}  // namespace

void* FramePool::allocate(std::size_t bytes) {
  if (!kPoolingEnabled || bytes == 0 || bytes > kMaxPooledBytes) return ::operator new(bytes);
  ThreadPool& p = pool();
  const std::size_t cls = size_class_of(bytes);
  if (p.free_lists[cls] == nullptr) p.refill(cls);
  FreeNode* node = p.free_lists[cls];
  p.free_lists[cls] = node->next;
  return node;
}

void FramePool::deallocate(void* frame, std::size_t bytes) noexcept {
  if (!kPoolingEnabled || bytes == 0 || bytes > kMaxPooledBytes) {
    ::operator delete(frame);
    return;
  }
  ThreadPool& p = pool();
  const std::size_t cls = size_class_of(bytes);
  auto* node = static_cast<FreeNode*>(frame);
  node->next = p.free_lists[cls];
  p.free_lists[cls] = node;
}

}  // namespace wormsim::sim
