#include "ops/numerics/bf16_dst_kernel.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

#include "sim/error.hpp"
#include "sim/parallel.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define WORMSIM_X86_VECTOR_PATHS 1
#endif

namespace wormsim::ops::numerics {
namespace {

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

// AVX-512 BF16: VDPBF16PS multiplies two bf16 pairs per lane and adds them one after the other,
// each as a fused multiply-add (Intel SDM VDPBF16PS: "FP32 FMA with DAZ in, FTZ out and RNE";
// the element in the upper half of the pair goes first). Every fidelity slice fits a bf16
// exactly (at most 8 significant bits), so with the earlier K index in the upper half this is
// the FMA sequence of the other paths at twice the multiply-adds per instruction. It differs
// from them only below 2^-126: denormal operands and dot-product partial sums read as zero.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512bf16,fma")
namespace avx512_bf16 {
constexpr std::size_t kLanes = 16;
constexpr std::size_t kPanelCols = 2 * kLanes;
constexpr std::size_t kRows = 6;

// The bf16 bits of two slices, `first` in the upper half (the half VDPBF16PS adds first).
inline std::uint32_t bf16_pair(float first, float second) {
  return (std::bit_cast<std::uint32_t>(first) & 0xFFFF0000u) |
         (std::bit_cast<std::uint32_t>(second) >> 16);
}

// round_bits_nearest_even<16> of number_formats.cpp, bit for bit, by VCVTNEPS2BF16 (nearest
// even, NaN kept quiet) and a fix for its one difference: it reads a denormal as zero, where the
// emulation rounds a denormal of 0x007F8000 or more up to the smallest normal. The fix runs only
// when a lane is denormal. (Checked against the scalar rounding on every bit pattern with
// exponent 0, 1, 254 or 255.)
[[gnu::always_inline]] inline __m512 round_bf16_lanes(__m512 x) {
  // The maskz forms: GCC 12 flags the unmasked ones' undefined pass-through as uninitialised.
  const __m512i bf16 = _mm512_maskz_cvtepu16_epi32(0xFFFF, (__m256i)_mm512_cvtneps_pbh(x));
  __m512i rounded = _mm512_maskz_slli_epi32(0xFFFF, bf16, 16);
  constexpr int kDenormalClass = 0x20;  // VFPCLASSPS imm8 bit 5: denormal
  if (_mm512_fpclass_ps_mask(x, kDenormalClass) != 0) [[unlikely]] {
    const __m512i magnitude =
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7FFFFFFF));
    const __mmask16 rounds_up_to_normal = _mm512_cmplt_epu32_mask(
        _mm512_sub_epi32(magnitude, _mm512_set1_epi32(0x007F8000)), _mm512_set1_epi32(0x8000));
    rounded =
        _mm512_mask_or_epi32(rounded, rounds_up_to_normal, rounded, _mm512_set1_epi32(0x00800000));
  }
  return _mm512_castsi512_ps(rounded);
}

// Word indices for VPERMT2W that turn 32 consecutive slices (two vectors) into 16 bf16 pairs:
// dword p's upper word is the upper word of value 2p (word 4p + 1), its lower word that of
// value 2p + 1 (word 4p + 3). The same bits bf16_pair takes.
alignas(64) constexpr std::uint16_t kPairWords[32] = {3,  1,  7,  5,  11, 9,  15, 13, 19, 17, 23,
                                                      21, 27, 25, 31, 29, 35, 33, 39, 37, 43, 41,
                                                      47, 45, 51, 49, 55, 53, 59, 57, 63, 61};

// `pairs` K pairs of one in0 row starting at `row` (`valid` values there, zeros after).
inline void pack_row_pairs(const float* row, std::size_t valid, std::size_t pairs,
                           std::uint32_t* out) {
  const __m512i words = _mm512_load_si512(kPairWords);
  std::size_t p = 0;
  for (; 2 * p + 2 * kLanes <= valid; p += kLanes) {
    const __m512i first = _mm512_loadu_si512(row + 2 * p);
    const __m512i second = _mm512_loadu_si512(row + 2 * p + kLanes);
    _mm512_storeu_si512(out + p, _mm512_permutex2var_epi16(first, words, second));
  }
  for (; p < pairs; ++p) {
    const std::size_t k = 2 * p;
    out[p] = bf16_pair(k < valid ? row[k] : 0.0f, k + 1 < valid ? row[k + 1] : 0.0f);
  }
}

// Rows [r0, r0 + R) x panel `panel`; a_pairs[t] holds term t's R rows as K pairs of the block.
template <std::size_t R>
[[gnu::always_inline]] inline void dst_block(const Bf16DstProduct& g,
                                             const std::uint32_t* const* a_pairs,
                                             std::size_t block_pairs, std::size_t r0,
                                             std::size_t panel) {
  const std::size_t c0 = panel * kPanelCols;
  const std::size_t cols = std::min(kPanelCols, g.n - c0);
  const std::size_t panel_pairs = (g.k + 1) / 2;
  float buffer[R][kPanelCols] = {};
  for (std::size_t i = 0; i < R; ++i) std::copy_n(g.dst + (r0 + i) * g.n + c0, cols, buffer[i]);
  __m512 acc[R][2];
  for (std::size_t i = 0; i < R; ++i) {
    acc[i][0] = _mm512_loadu_ps(buffer[i]);
    acc[i][1] = _mm512_loadu_ps(buffer[i] + kLanes);
  }
  const std::size_t k_end = g.k0 + g.kb;
  for (std::size_t kt = g.k0; kt < k_end; kt += kTileK) {
    const std::size_t tile_end = std::min(kt + kTileK, k_end);
    for (std::size_t t = 0; t < g.in0.size(); ++t) {
      const std::uint32_t* a = a_pairs[t];
      const float* b = g.in1[t] + panel * panel_pairs * kPanelCols;
      for (std::size_t kf = kt; kf < tile_end; kf += kMvmulK) {
        const std::size_t face_end = std::min(kf + kMvmulK, tile_end);
        __m512 dot[R][2];
        for (std::size_t i = 0; i < R; ++i) dot[i][0] = dot[i][1] = _mm512_setzero_ps();
        // Faces start at even K (K blocks are whole tiles), so pairs never straddle two.
        for (std::size_t kk = kf; kk < face_end; kk += 2) {
          const std::size_t pair = kk / 2;
          const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + pair * kPanelCols);
          const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + pair * kPanelCols + kLanes);
          const std::size_t a_pair = (kk - g.k0) / 2;
#pragma GCC unroll 8
          for (std::size_t i = 0; i < R; ++i) {
            const __m512bh x =
                (__m512bh)_mm512_set1_epi32(static_cast<int>(a[i * block_pairs + a_pair]));
            dot[i][0] = _mm512_dpbf16_ps(dot[i][0], x, b0);
            dot[i][1] = _mm512_dpbf16_ps(dot[i][1], x, b1);
          }
        }
#pragma GCC unroll 8
        for (std::size_t i = 0; i < R; ++i) {
          acc[i][0] = round_bf16_lanes(acc[i][0] + dot[i][0]);
          acc[i][1] = round_bf16_lanes(acc[i][1] + dot[i][1]);
        }
      }
    }
  }
  for (std::size_t i = 0; i < R; ++i) {
    _mm512_storeu_ps(buffer[i], acc[i][0]);
    _mm512_storeu_ps(buffer[i] + kLanes, acc[i][1]);
    std::copy_n(buffer[i], cols, g.dst + (r0 + i) * g.n + c0);
  }
}

template <std::size_t R>
[[gnu::always_inline]] inline void dst_rows(const Bf16DstProduct& g,
                                            const std::uint32_t* const* a_pairs,
                                            std::size_t block_pairs, std::size_t r0,
                                            std::size_t rows, std::size_t panel) {
  if constexpr (R > 0) {
    if (rows == R) {
      dst_block<R>(g, a_pairs, block_pairs, r0, panel);
    } else {
      dst_rows<R - 1>(g, a_pairs, block_pairs, r0, rows, panel);
    }
  }
}

// Row blocks [first, last): each block's in0 rows are first packed into K pairs (a zero pads
// an odd last K), then every panel runs over them.
void row_blocks(const Bf16DstProduct& g, std::size_t first, std::size_t last) {
  const std::size_t panels = (g.n + kPanelCols - 1) / kPanelCols;
  const std::size_t block_pairs = (g.kb + 1) / 2;
  const std::size_t terms = g.in0.size();
  std::vector<std::uint32_t> pairs(terms * kRows * block_pairs);
  std::vector<const std::uint32_t*> a_pairs(terms);
  for (std::size_t t = 0; t < terms; ++t) a_pairs[t] = pairs.data() + t * kRows * block_pairs;
  for (std::size_t block = first; block < last; ++block) {
    const std::size_t r0 = block * kRows;
    const std::size_t rows = std::min(kRows, g.m - r0);
    for (std::size_t t = 0; t < terms; ++t) {
      for (std::size_t i = 0; i < rows; ++i) {
        const float* row = g.in0[t] + (r0 + i) * g.k;
        pack_row_pairs(row + g.k0, g.kb, block_pairs, pairs.data() + (t * kRows + i) * block_pairs);
      }
    }
    for (std::size_t panel = 0; panel < panels; ++panel) {
      dst_rows<kRows>(g, a_pairs.data(), block_pairs, r0, rows, panel);
    }
  }
}

// in1 as K pairs: panel p, pair q, column j holds rows 2q (upper half) and 2q + 1.
void pack_panels(const float* b, std::size_t k, std::size_t n, float* out) {
  const std::size_t panels = (n + kPanelCols - 1) / kPanelCols;
  const std::size_t panel_pairs = (k + 1) / 2;
  for (std::size_t p = 0; p < panels; ++p) {
    const std::size_t cols = std::min(kPanelCols, n - p * kPanelCols);
    for (std::size_t q = 0; q < panel_pairs; ++q) {
      const float* upper = b + 2 * q * n + p * kPanelCols;
      const float* lower = 2 * q + 1 < k ? upper + n : nullptr;
      float* dst = out + (p * panel_pairs + q) * kPanelCols;
      for (std::size_t j = 0; j < cols; ++j) {
        dst[j] = std::bit_cast<float>(bf16_pair(upper[j], lower ? lower[j] : 0.0f));
      }
    }
  }
}
}  // namespace avx512_bf16
#pragma GCC pop_options
#endif

std::atomic<VectorIsa> vector_isa_limit{VectorIsa::Avx512Bf16};

VectorIsa cpu_vector_isa() {
#if defined(WORMSIM_X86_VECTOR_PATHS)
  static const VectorIsa isa = [] {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) {
      const bool bf16 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512bf16");
      return bf16 ? VectorIsa::Avx512Bf16 : VectorIsa::Avx512;
    }
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
  if (isa == VectorIsa::Avx512Bf16) return avx512_bf16::kPanelCols;
  if (isa == VectorIsa::Avx512) return avx512::kPanelCols;
  if (isa == VectorIsa::Avx2) return avx2::kPanelCols;
#endif
  (void)isa;
  return baseline::kPanelCols;
}

std::size_t block_rows(VectorIsa isa) {
#if defined(WORMSIM_X86_VECTOR_PATHS)
  if (isa == VectorIsa::Avx512Bf16) return avx512_bf16::kRows;
  if (isa == VectorIsa::Avx512) return avx512::kRows;
  if (isa == VectorIsa::Avx2) return avx2::kRows;
#endif
  (void)isa;
  return baseline::kRows;
}

void row_blocks(const Bf16DstProduct& g, std::size_t first, std::size_t last) {
#if defined(WORMSIM_X86_VECTOR_PATHS)
  if (g.isa == VectorIsa::Avx512Bf16) return avx512_bf16::row_blocks(g, first, last);
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
#if defined(WORMSIM_X86_VECTOR_PATHS)
  if (isa == VectorIsa::Avx512Bf16) {
    std::vector<float> pairs(panels * ((k + 1) / 2) * width, 0.0f);
    avx512_bf16::pack_panels(b, k, n, pairs.data());
    return pairs;
  }
#endif
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
  // The AVX-512 BF16 loop pairs K indices from k0 on; in1's pairs start at K = 0.
  if (g.k0 % 2 != 0) {
    throw Error("bf16_dst_product: K block starts at odd K " + std::to_string(g.k0) +
                "; K blocks must be whole tiles");
  }
  const std::size_t rows = block_rows(g.isa);
  const std::size_t blocks = (g.m + rows - 1) / rows;
  const std::size_t macs = g.m * g.n * g.kb * g.in0.size();
  sim::run_pieces(blocks, macs < kParallelMacs ? 1 : sim::hardware_threads(),
                  [&](std::size_t first, std::size_t last) { row_blocks(g, first, last); });
}

}  // namespace wormsim::ops::numerics
