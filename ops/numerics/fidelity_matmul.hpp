#pragma once
// Math-fidelity emulation of the Wormhole FPU (matmul and eltwise multiply).
//
// What the hardware does (tenstorrent/tt-isa-documentation WormholeB0/TensixTile/
// TensixCoprocessor/SrcASrcB.md "Fidelity phases", MVMUL.md, ELWMUL.md functional models):
// the multipliers take 5 bits of SrcA (implicit 1 + 4 MSBs of the mantissa) and 7 bits of
// SrcB (implicit 1 + 6 MSBs). Fidelity phase p uses
//   SrcA slice: p bit0 == 0 -> hi = implicit 1 + mantissa bits 22..19
//                         1 -> lo = mantissa bits 18..14 (3 real bits for BF16; TF32's last
//                                   bit 13 is consumed by no phase)
//   SrcB slice: p bit1 == 0 -> hi = implicit 1 + mantissa bits 22..17
//                         1 -> lo = mantissa bits 16..13
// i.e. phase 0 = A_hi*B_hi, 1 = A_lo*B_hi, 2 = A_hi*B_lo, 3 = A_lo*B_lo. tt-llk runs phases
// 0..n-1 in order (LoFi 1, HiFi2 2, HiFi3 3, HiFi4 4; llk_math_matmul.h replays the whole
// tile's 16 MVMULs once per phase, so the phase loop is outside the K-faces of one tile).
// Each MVMUL adds a 16-deep dot product of one phase to Dst; with a 16-bit Dst the sum is
// rounded to BF16 after every MVMUL (MVMUL.md: RoundToBF16; round-to-nearest-even assumed here,
// the ISA text does not spell the mode out).
//
// Operand placement: Dst += SrcB @ SrcA, and tt-metal's matmul unpacks in0 -> SrcB and
// in1 -> SrcA (tt-metal llk_api llk_unpack_AB_matmul_api.h "In0 -> srcB, In1 -> srcA";
// llk_math_matmul.h "in0 - loaded to SrcB, in1 - loaded to SrcA"). So in0 keeps 7 bits in
// LoFi and in1 only 5. For eltwise (mul_tiles) in0 -> SrcA and in1 -> SrcB.
//
// Src formats: BF16 / BFP8 / BFP4 unpack losslessly to BF16; FP32 unpacks to TF32 by dropping
// the low 13 mantissa bits (SrcASrcB.md). Inputs given here must already hold their storage
// format's values (see number_formats.hpp); Float32 inputs are truncated to TF32 internally.
#include <cstddef>
#include <span>

#include "arch/device_spec.hpp"
#include "ops/data_type.hpp"

namespace wormsim::ops::numerics {

struct MatmulNumerics {
  arch::MathFidelity fidelity = arch::MathFidelity::HiFi4;
  // fp32_dest_acc_en: Dst holds FP32. Otherwise Dst holds BF16 and rounds after every MVMUL.
  bool fp32_dest_acc = false;
  // K is processed in blocks of in0_block_w tiles (32 columns each); 0 = all of K in one block.
  // Between blocks the partial sum leaves Dst:
  //  - packer_l1_acc = false ("spill and reload", tt-metal bmm_large_block_zm): the partial is
  //    packed to the intermediate CB in FP32 (fp32_dest_acc) or else in the *output* format,
  //    and unpacked back into Dst before the next block. A bfloat8_b output therefore
  //    re-quantizes the running sum at every block boundary.
  //  - packer_l1_acc = true: each block starts from a zeroed Dst and the packer adds it into the
  //    L1 intermediate, which is FP32 (fp32_dest_acc) or BF16; the last block reloads that
  //    intermediate into Dst, accumulates, and packs to the output (the "last iteration does a
  //    spill and reload" of tt-metal's matmul program factories, interm0_data_format choice).
  //  The packer's L1 add rounds to BF16 with round-to-nearest-even (assumption; not documented).
  bool packer_l1_acc = false;
  std::size_t in0_block_w = 0;
  // Storage formats of the operands: only Float32 matters (-> TF32 in Src).
  DataType in0_dtype = DataType::BFloat16;
  DataType in1_dtype = DataType::BFloat16;
  // Format the output tile is packed to (spills use it too). Packing rounds like the device
  // packer (BfpRounding::DevicePacker for block floats). Float32 = Dst contents unchanged.
  // Block-float outputs need n to be a multiple of 16.
  DataType output_dtype = DataType::Float32;
};

// C[m,n] = A[m,k] (in0) @ B[k,n] (in1), all row-major, as the Wormhole FPU computes it with
// the given fidelity and accumulation settings, with cblas_sgemm on the mantissa slices.
// FP32 Dst: phases that share a slice are merged into one product (LoFi in0_hi*in1_hi, HiFi2
// in0_hi*in1_full, HiFi3 adds in0_lo*in1_hi, HiFi4 in0_full*in1_full: 1/1/2/1 sgemms per K
// block), identical to the per-phase sum up to fp32 summation order. BF16 Dst: one sgemm per
// phase per 16-deep K step, each followed by the BF16 rounding, row-blocked so the accumulator
// stays in cache. Throws Error on size mismatches.
// Plain fp32 C = A B (row-major; A m x k, B k x n, C rows ldc apart), the BLAS the fp32
// golden paths share.
void sgemm(const float* a, const float* b, float* c, std::size_t m, std::size_t k, std::size_t n,
           std::size_t ldc);

// Who threads large products. By default OpenBLAS does, but its worker threads then spin
// (sched_yield) for a while after every call, taking the cores from the BF16-Dst kernel and the
// simulator between GEMMs (in a dpt-large numerics run about a fifth of the CPU time went to
// that spinning and the scheduler). split_gemms_over_threads(n), n >= 1, makes sgemm and
// fidelity_matmul split products of 4 M multiply-adds or more over rows on n threads of their
// own, one cblas_sgemm per share over all of K (so no value changes), and sets OpenBLAS to one
// thread; 0 gives the threading back to OpenBLAS. The wormsim program calls it at start-up with
// blas_thread_count(): OPENBLAS_NUM_THREADS, else the cores. Only with the pthreads build of
// OpenBLAS (Debian's default); with the OpenMP build the call changes nothing. Process-wide; call
// it while no product runs.
void split_gemms_over_threads(std::size_t threads);
std::size_t blas_thread_count();

void fidelity_matmul(std::span<const float> a, std::span<const float> b, std::span<float> c,
                     std::size_t m, std::size_t k, std::size_t n, const MatmulNumerics& numerics);
// Shorthand: bf16 operands, all of K in one block, Dst contents returned unpacked (Float32).
void fidelity_matmul(std::span<const float> a, std::span<const float> b, std::span<float> c,
                     std::size_t m, std::size_t k, std::size_t n, arch::MathFidelity fidelity,
                     bool fp32_dest_acc);

// out[i] = a[i] * b[i] through the FPU's ELWMUL: a is SrcA (in0 of mul_tiles), b is SrcB.
// Each phase's product is added to a zeroed Dst; a BF16 Dst rounds after every phase.
// Float32 operands are truncated to TF32 like the unpacker does.
void fidelity_eltwise_mul(std::span<const float> a, std::span<const float> b, std::span<float> out,
                          arch::MathFidelity fidelity, bool fp32_dest_acc = false,
                          DataType a_dtype = DataType::BFloat16,
                          DataType b_dtype = DataType::BFloat16);

// The vector code the BF16-Dst matmul kernel runs: the widest the CPU supports, or narrower if
// limited. AVX2, AVX-512 and AVX-512 BF16 give identical results (the same fused multiply-adds
// per lane, in the same order), except that the BF16 dot-product instruction reads denormals
// (below 2^-126) as zero; the baseline x86-64 code has no FMA, so its products may round
// differently.
enum class VectorIsa { Baseline, Avx2, Avx512, Avx512Bf16 };
VectorIsa numerics_vector_isa();
// Caps numerics_vector_isa() (process-wide; tests compare the paths).
void limit_numerics_vector_isa(VectorIsa widest);

// Number of fidelity phases: LoFi 1, HiFi2 2, HiFi3 3, HiFi4 4.
int fidelity_phases(arch::MathFidelity fidelity);

// The mantissa slices the multipliers see (exposed for tests and for other FPU ops).
// SrcA: hi = implicit 1 + 4 MSBs; lo = next 5 bits (bits 18..14). SrcB: hi = implicit 1 +
// 6 MSBs; lo = next 4 bits (16..13). Zero / denormal -> 0; inf/NaN keep hi, lo = 0.
float srca_slice(float value, bool low);
float srcb_slice(float value, bool low);

}  // namespace wormsim::ops::numerics
