#pragma once
// How the wormsim process uses glibc's allocator (no-ops elsewhere, and under AddressSanitizer,
// whose allocator ignores these settings).
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace wormsim::cli {

// glibc serves blocks above its mmap threshold with fresh mappings and returns freed memory at
// the heap top to the kernel. A numerics run allocates and frees tensors of a few MiB op after
// op, so each op paid page faults and zero-filling again (about a tenth of a dpt-large numerics
// run; figures in docs/performance.md, session 9). Blocks up to glibc's largest mmap threshold
// come from the heap instead, and freed heap memory is kept for the next op. Larger blocks (a
// 384 x 384 depth head's maps) are still mapped. A user's own allocator settings win.
inline void tune_allocator() {
#if defined(__GLIBC__)
  constexpr int kMmapThresholdBytes = 32 * 1024 * 1024;  // glibc's maximum on 64-bit
  constexpr int kTrimThresholdBytes = 1 << 30;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr && std::strstr(tunables, "glibc.malloc.") != nullptr) return;
  for (const char* user : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"}) {
    if (std::getenv(user) != nullptr) return;
  }
  mallopt(M_MMAP_THRESHOLD, kMmapThresholdBytes);
  mallopt(M_TRIM_THRESHOLD, kTrimThresholdBytes);
#endif
}

// Gives the memory tune_allocator() keeps back to the kernel: between sweep points, so a worker
// does not hold its largest point's heap (and its threads' arenas) while running small ones.
inline void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace wormsim::cli
