#include "ops/numerics/bf16_dst_kernel.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>

#include "sim/parallel.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WORMSIM_X86_VECTOR_PATHS 1
#endif

namespace wormsim::ops::numerics {
namespace {

// Below this many multiply-adds one thread does the whole product (thread start-up dominates).
constexpr std::size_t kParallelMacs = std::size_t{1} << 22;

// The kernel's helpers are always inlined, so passing vectors by value never crosses an ABI
// boundary; GCC warns about the declarations regardless (at the end of the file, so the
// warning stays off for the whole of this kernel-only file).
#pragma GCC diagnostic ignored "-Wpsabi"

using Vec8 = float __attribute__((vector_size(32)));
using Bits8 = std::uint32_t __attribute__((vector_size(32)));
using Vec16 = float __attribute__((vector_size(64)));
using Bits16 = std::uint32_t __attribute__((vector_size(64)));

// Baseline x86-64 (or any other CPU): plain multiply then add.
namespace baseline {
using Lanes = Vec8;
using LaneBits = Bits8;
constexpr std::size_t kRows = 4;
[[gnu::always_inline]] inline Lanes multiply_add(float x, Lanes b, Lanes acc) {
  return acc + x * b;
}
#include "ops/numerics/bf16_dst_kernel_body.inc"
}  // namespace baseline

#if defined(WORMSIM_X86_VECTOR_PATHS)
// AVX2: 16 registers hold 4 rows x 2 vectors of Dst and as many of dot products (plus spills
// of the panel and broadcast values, which the loads absorb).
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
using Lanes = Vec8;
using LaneBits = Bits8;
constexpr std::size_t kRows = 4;
[[gnu::always_inline]] inline Lanes multiply_add(float x, Lanes b, Lanes acc) {
  return _mm256_fmadd_ps(_mm256_set1_ps(x), b, acc);
}
#include "ops/numerics/bf16_dst_kernel_body.inc"
}  // namespace avx2
#pragma GCC pop_options

// AVX-512: 32 registers, 6 rows x 2 vectors of Dst and of dot products.
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
namespace avx512 {
using Lanes = Vec16;
using LaneBits = Bits16;
constexpr std::size_t kRows = 6;
[[gnu::always_inline]] inline Lanes multiply_add(float x, Lanes b, Lanes acc) {
  return _mm512_fmadd_ps(_mm512_set1_ps(x), b, acc);
}
#include "ops/numerics/bf16_dst_kernel_body.inc"
}  // namespace avx512
#pragma GCC pop_options
#endif

std::atomic<VectorIsa> vector_isa_limit{VectorIsa::Avx512};

VectorIsa cpu_vector_isa() {
#if defined(WORMSIM_X86_VECTOR_PATHS)
  static const VectorIsa isa = [] {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"))
      return VectorIsa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VectorIsa::Avx2;
    return VectorIsa::Baseline;
  }();
  return isa;
#else
  return VectorIsa::Baseline;
#endif
}

std::size_t panel_cols(VectorIsa isa) {
#if defined(WORMSIM_X86_VECTOR_PATHS)
  if (isa == VectorIsa::Avx512) return avx512::kPanelCols;
  if (isa == VectorIsa::Avx2) return avx2::kPanelCols;
#endif
  (void)isa;
  return baseline::kPanelCols;
}

std::size_t block_rows(VectorIsa isa) {
#if defined(WORMSIM_X86_VECTOR_PATHS)
  if (isa == VectorIsa::Avx512) return avx512::kRows;
  if (isa == VectorIsa::Avx2) return avx2::kRows;
#endif
  (void)isa;
  return baseline::kRows;
}

void row_blocks(const Bf16DstProduct& g, std::size_t first, std::size_t last) {
#if defined(WORMSIM_X86_VECTOR_PATHS)
  if (g.isa == VectorIsa::Avx512) return avx512::row_blocks(g, first, last);
  if (g.isa == VectorIsa::Avx2) return avx2::row_blocks(g, first, last);
#endif
  baseline::row_blocks(g, first, last);
}

}  // namespace

VectorIsa numerics_vector_isa() {
  return std::min(cpu_vector_isa(), vector_isa_limit.load(std::memory_order_relaxed));
}

void limit_numerics_vector_isa(VectorIsa widest) {
  vector_isa_limit.store(widest, std::memory_order_relaxed);
}

std::vector<float> pack_bf16_dst_panels(const float* b, std::size_t k, std::size_t n,
                                        VectorIsa isa) {
  const std::size_t width = panel_cols(isa);
  const std::size_t panels = (n + width - 1) / width;
  std::vector<float> out(panels * k * width, 0.0f);
  for (std::size_t p = 0; p < panels; ++p) {
    const std::size_t cols = std::min(width, n - p * width);
    for (std::size_t kk = 0; kk < k; ++kk) {
      std::copy_n(b + kk * n + p * width, cols, out.data() + (p * k + kk) * width);
    }
  }
  return out;
}

void bf16_dst_product(const Bf16DstProduct& g) {
  if (g.m == 0 || g.n == 0 || g.kb == 0) return;
  const std::size_t rows = block_rows(g.isa);
  const std::size_t blocks = (g.m + rows - 1) / rows;
  const std::size_t macs = g.m * g.n * g.kb * g.in0.size();
  const std::size_t threads =
      macs < kParallelMacs
          ? 1
          : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, blocks);
  // Thread w owns row blocks [blocks * w / threads, blocks * (w + 1) / threads).
  sim::run_shares(threads, [&](std::size_t w) {
    row_blocks(g, blocks * w / threads, blocks * (w + 1) / threads);
  });
}

}  // namespace wormsim::ops::numerics
