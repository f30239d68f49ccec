#pragma once
// The BF16-Dst matmul kernel behind fidelity_matmul (ops/numerics/fidelity_matmul.hpp).
//
// A 16-bit Dst rounds after every MVMUL (one fidelity phase, 16 deep), so a BLAS call per MVMUL
// would re-read the whole accumulator from memory every 16 K steps. Instead a block of a few rows
// x one panel of columns stays in registers for all of K: each MVMUL's dot products build up in
// separate registers (Dst + dot, the order the MVMUL model and sgemm with beta = 1 use), then
// Dst is rounded in place. Every output is computed by one thread in a fixed order, and the
// AVX-512 BF16, AVX-512 and AVX2 paths do the same fused multiply-adds per lane (explicit FMA or
// VDPBF16PS instructions, so the optimisation level does not matter), so results depend neither
// on the thread count nor on the vector code, except that the BF16 dot product reads denormal
// operands and partial sums (below 2^-126) as zero. The baseline path has no FMA: its products
// round before the add.
#include <cstddef>
#include <vector>

#include "ops/numerics/fidelity_matmul.hpp"

namespace wormsim::ops::numerics {

inline constexpr std::size_t kTileK = 32;   // K depth of one tile product
inline constexpr std::size_t kMvmulK = 16;  // K depth of one MVMUL
// Below this many multiply-adds a product runs on one thread (thread start-up dominates); the
// BF16-Dst kernel and the split BLAS products share it.
inline constexpr std::size_t kParallelMacs = std::size_t{1} << 22;

// One K block of C += sum over terms of in0_t @ in1_t, rounding Dst to BF16 after every MVMUL.
struct Bf16DstProduct {
  VectorIsa isa;                  // which compiled loop runs (sets rows and panel width)
  std::vector<const float*> in0;  // per term: its in0 part, m x k row-major
  std::vector<const float*> in1;  // per term: its in1 part packed by pack_bf16_dst_panels(isa)
  std::size_t m, k, n;
  std::size_t k0, kb;  // the K block being accumulated
  float* dst;          // m x n, holds the block's starting Dst
};

// in1 (k x n, row-major) as the kernel of `isa` reads it: column panels of two vectors' width,
// each k rows deep, zero past n. For AVX-512 BF16 a panel row holds two K rows as bf16 pairs
// (ceil(k / 2) rows; an odd k is padded with a zero row).
std::vector<float> pack_bf16_dst_panels(const float* b, std::size_t k, std::size_t n,
                                        VectorIsa isa);

// Runs the product, its rows split over the hardware threads when it is large enough.
void bf16_dst_product(const Bf16DstProduct& product);

}  // namespace wormsim::ops::numerics
