#include "ops/numerics/fidelity_matmul.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/numerics/bf16_dst_kernel.hpp"
#include "ops/numerics/number_formats.hpp"
#include "sim/error.hpp"
#include "sim/parallel.hpp"

namespace wormsim::ops::numerics {
namespace {

constexpr std::uint32_t kExpMask = 0x7F800000u;
// Bits a Src register keeps: BF16 (and BFP unpacked to BF16) or TF32 (FP32 minus 13 bits).
constexpr std::uint32_t kBf16Keep = 0xFFFF0000u;
constexpr std::uint32_t kTf32Keep = 0xFFFFE000u;
// Multiplier slices (ELWMUL.md SrcAFidelityBits / SrcBFidelityBits): "hi" keeps sign, exponent
// and the leading mantissa bits; "lo" is everything down to the last consumed bit minus hi.
constexpr std::uint32_t kSrcAHiKeep = 0xFFF80000u;  // implicit 1 + mantissa 22..19
constexpr std::uint32_t kSrcALoKeep = 0xFFFFC000u;  // ... + mantissa 18..14
constexpr std::uint32_t kSrcBHiKeep = 0xFFFE0000u;  // implicit 1 + mantissa 22..17
constexpr std::uint32_t kSrcBLoKeep = 0xFFFFE000u;  // ... + mantissa 16..13

std::uint32_t src_keep_mask(DataType dtype) {
  return dtype == DataType::Float32 ? kTf32Keep : kBf16Keep;
}

// Slices one value; `src_keep` first reduces it to what the Src register holds.
template <std::uint32_t kHiKeep, std::uint32_t kLoKeep>
inline void slice(float value, std::uint32_t src_keep, float& hi, float& lo) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(value) & src_keep;
  const std::uint32_t exponent = u & kExpMask;
  const float hi_part = std::bit_cast<float>(u & kHiKeep);
  // Exact (Sterbenz): both share sign and exponent and differ only in low mantissa bits.
  const float lo_part = std::bit_cast<float>(u & kLoKeep) - hi_part;
  // Zero or denormal: the FPU reads 0. inf/NaN: keep hi, no lo (inf - inf would be NaN).
  // Selects as bit masks, so the slicing loops have no control flow and vectorise.
  const std::uint32_t normal = 0u - static_cast<std::uint32_t>(exponent != 0);
  const std::uint32_t finite_normal =
      normal & (0u - static_cast<std::uint32_t>(exponent != kExpMask));
  hi = std::bit_cast<float>(std::bit_cast<std::uint32_t>(hi_part) & normal);
  lo = std::bit_cast<float>(std::bit_cast<std::uint32_t>(lo_part) & finite_normal);
}

// Which part of an operand's mantissa a product term uses: a phase's slice, or both slices
// together ("full" = hi + lo, exactly the bits the phases consume).
enum class Part { Hi, Lo, Full };

// One BLAS product: in0 part (SrcB role) times in1 part (SrcA role).
struct Term {
  Part in0;
  Part in1;
};

// Phase p multiplies SrcB slice (p bit1) by SrcA slice (p bit0).
Term phase_term(int phase) {
  return {(phase & 2) ? Part::Lo : Part::Hi, (phase & 1) ? Part::Lo : Part::Hi};
}

// With an FP32 Dst the phases' sum only differs from a regrouped sum in fp32 rounding order, so
// phases sharing a slice merge into one product: HiFi2 = in0_hi * (in1_hi + in1_lo), HiFi4 =
// in0_full * in1_full. A BF16 Dst rounds after every phase, so there each phase is a term.
std::vector<Term> product_terms(int phases, bool fp32_dest) {
  std::vector<Term> terms;
  if (!fp32_dest) {
    for (int phase = 0; phase < phases; ++phase) terms.push_back(phase_term(phase));
    return terms;
  }
  switch (phases) {
    case 1:
      return {{Part::Hi, Part::Hi}};
    case 2:
      return {{Part::Hi, Part::Full}};
    case 3:
      return {{Part::Hi, Part::Full}, {Part::Lo, Part::Hi}};
    default:
      return {{Part::Full, Part::Full}};
  }
}

// A float array whose elements are not initialised on allocation: every one is written before
// it is read, and zero-filling operand slices cost as much as slicing them.
class FloatArray {
 public:
  void allocate(std::size_t count) {
    data_ = std::make_unique_for_overwrite<float[]>(count);
    size_ = count;
  }
  void release() {
    data_.reset();
    size_ = 0;
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

 private:
  std::unique_ptr<float[]> data_;
  std::size_t size_ = 0;
};

struct SlicedOperand {
  FloatArray hi, lo, full;  // only the parts some term uses are filled

  const FloatArray& part(Part which) const {
    return which == Part::Hi ? hi : which == Part::Lo ? lo : full;
  }
};

// Element-wise, so split over the cores for large operands (values do not depend on the split).
template <std::uint32_t kHiKeep, std::uint32_t kLoKeep>
SlicedOperand slice_operand(std::span<const float> values, DataType dtype, bool need_hi,
                            bool need_lo, bool need_full) {
  const std::size_t count = values.size();
  const std::uint32_t keep = src_keep_mask(dtype);
  SlicedOperand out;
  out.hi.allocate(count);  // always computed; the other parts derive from it
  if (need_lo || need_full) out.lo.allocate(count);
  if (need_full) out.full.allocate(count);
  float* hi = out.hi.data();
  float* lo = out.lo.data();
  float* full = out.full.data();
  sim::run_ranges(count, sim::kParallelValues, [&](std::size_t first, std::size_t last) {
    // Separate loops keep each one branch-free so it vectorises.
    if (lo != nullptr) {
      for (std::size_t i = first; i < last; ++i)
        slice<kHiKeep, kLoKeep>(values[i], keep, hi[i], lo[i]);
    } else {
      for (std::size_t i = first; i < last; ++i) {
        float unused;
        slice<kHiKeep, kLoKeep>(values[i], keep, hi[i], unused);
      }
    }
    // Exact: hi and lo hold disjoint bits of the same value.
    if (full != nullptr) {
      for (std::size_t i = first; i < last; ++i) full[i] = hi[i] + lo[i];
    }
  });
  if (!need_hi && need_full) out.hi.release();
  if (!need_lo) out.lo.release();
  return out;
}

template <std::uint32_t kHiKeep, std::uint32_t kLoKeep>
SlicedOperand slice_for_terms(std::span<const float> values, DataType dtype,
                              const std::vector<Term>& terms, Part Term::*side) {
  bool need[3] = {false, false, false};
  for (const Term& term : terms) need[static_cast<int>(term.*side)] = true;
  return slice_operand<kHiKeep, kLoKeep>(values, dtype, need[0], need[1], need[2]);
}

void check_size(std::span<const float> values, std::size_t expected, const char* name) {
  if (values.size() != expected) {
    throw Error(std::string("fidelity_matmul: ") + name + " has " + std::to_string(values.size()) +
                " values, expected " + std::to_string(expected));
  }
}

// Threads wormsim splits large products over (0: OpenBLAS threads them itself), and the thread
// count OpenBLAS had before wormsim took over (restored by split_gemms_over_threads(0)).
std::atomic<std::size_t> own_gemm_threads{0};
std::atomic<int> blas_threads_before_split{0};

// C = A B + beta C, row-major, split over rows: each output row comes from one cblas_sgemm
// over all of K, so the split changes no value.
void blas_gemm(const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
               std::size_t ldc, std::size_t m, std::size_t n, std::size_t k, float beta) {
  const std::size_t own = own_gemm_threads.load(std::memory_order_relaxed);
  const std::size_t shares = own == 0 || m * n * k < kParallelMacs ? 1 : own;
  sim::run_pieces(m, shares, [&](std::size_t r0, std::size_t r1) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(r1 - r0),
                static_cast<blasint>(n), static_cast<blasint>(k), 1.0f, a + r0 * lda,
                static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c + r0 * ldc,
                static_cast<blasint>(ldc));
  });
}

// Adds one term's product of A[r0:r0+rows, k0:k0+kk] (in0, SrcB role) and B[k0:k0+kk, :]
// (in1, SrcA role) into dst rows [r0, r0+rows).
struct TermGemm {
  const SlicedOperand& in0;
  const SlicedOperand& in1;
  std::size_t k, n;

  void operator()(const Term& term, std::size_t r0, std::size_t rows, std::size_t k0,
                  std::size_t kk, float* dst) const {
    const float* a = in0.part(term.in0).data() + r0 * k + k0;
    const float* b = in1.part(term.in1).data() + k0 * n;
    blas_gemm(a, k, b, n, dst + r0 * n, n, rows, n, kk, 1.0f);
  }
};

// Accumulates K range [k0, k0+kb) into dst (m x n) as Dst would.
void accumulate_block(const TermGemm& gemm, const std::vector<Term>& terms, bool fp32_dest,
                      std::size_t m, std::size_t k0, std::size_t kb, std::span<float> dst,
                      VectorIsa isa, const std::vector<std::vector<float>>& packed_in1) {
  if (fp32_dest) {
    // FP32 Dst: the per-MVMUL additions are plain fp32 adds; only their order differs.
    for (const Term& term : terms) gemm(term, 0, m, k0, kb, dst.data());
    return;
  }
  // BF16 Dst: each MVMUL (one phase, 16 deep) rounds Dst to BF16.
  Bf16DstProduct product{isa, {}, {}, m, gemm.k, gemm.n, k0, kb, dst.data()};
  for (std::size_t t = 0; t < terms.size(); ++t) {
    product.in0.push_back(gemm.in0.part(terms[t].in0).data());
    product.in1.push_back(packed_in1[t].data());
  }
  bf16_dst_product(product);
}

void pack_as(std::span<float> values, std::size_t rows, std::size_t cols, DataType type) {
  quantize(values, rows, cols, type, BfpRounding::DevicePacker);
}

}  // namespace

std::size_t blas_thread_count() {
  return static_cast<std::size_t>(std::max(1, openblas_get_num_threads()));
}

void split_gemms_over_threads(std::size_t threads) {
  // An OpenMP build of OpenBLAS keeps its thread count per calling thread, so shares on threads
  // of wormsim's own would each start a full team: leave threading to such a library.
  constexpr int kOpenBlasPthreads = 1;  // openblas_get_parallel(): 0 serial, 1 pthreads, 2 OpenMP
  if (threads > 0 && openblas_get_parallel() != kOpenBlasPthreads) return;
  if (threads > 0) {
    if (own_gemm_threads.load() == 0) blas_threads_before_split = openblas_get_num_threads();
    openblas_set_num_threads(1);
  } else if (own_gemm_threads.load() > 0) {
    openblas_set_num_threads(blas_threads_before_split.load());
  }
  own_gemm_threads = threads;
}

int fidelity_phases(arch::MathFidelity fidelity) {
  switch (fidelity) {
    case arch::MathFidelity::LoFi:
      return 1;
    case arch::MathFidelity::HiFi2:
      return 2;
    case arch::MathFidelity::HiFi3:
      return 3;
    case arch::MathFidelity::HiFi4:
      return 4;
  }
  throw Error("unknown math fidelity value " + std::to_string(static_cast<int>(fidelity)));
}

float srca_slice(float value, bool low) {
  float hi, lo;
  slice<kSrcAHiKeep, kSrcALoKeep>(value, kTf32Keep, hi, lo);
  return low ? lo : hi;
}

float srcb_slice(float value, bool low) {
  float hi, lo;
  slice<kSrcBHiKeep, kSrcBLoKeep>(value, kTf32Keep, hi, lo);
  return low ? lo : hi;
}

void fidelity_matmul(std::span<const float> a, std::span<const float> b, std::span<float> c,
                     std::size_t m, std::size_t k, std::size_t n, const MatmulNumerics& numerics) {
  check_size(a, m * k, "in0 (A)");
  check_size(b, k * n, "in1 (B)");
  if (c.size() != m * n) {
    throw Error("fidelity_matmul: output has " + std::to_string(c.size()) + " values, expected " +
                std::to_string(m * n));
  }
  if (is_block_float(numerics.output_dtype) && n % kBfpGroup != 0) {
    throw Error("fidelity_matmul: a " + std::string(to_string(numerics.output_dtype)) +
                " output needs n to be a multiple of 16 (one shared exponent per 16 values); "
                "got n = " +
                std::to_string(n));
  }
  const std::vector<Term> terms =
      product_terms(fidelity_phases(numerics.fidelity), numerics.fp32_dest_acc);
  const SlicedOperand in0 =
      slice_for_terms<kSrcBHiKeep, kSrcBLoKeep>(a, numerics.in0_dtype, terms, &Term::in0);
  const SlicedOperand in1 =
      slice_for_terms<kSrcAHiKeep, kSrcALoKeep>(b, numerics.in1_dtype, terms, &Term::in1);
  const TermGemm gemm{in0, in1, k, n};
  // The BF16-Dst kernel reads in1 as column panels, packed once for all K blocks; the vector
  // code is chosen once per call (panel width and rows depend on it).
  const VectorIsa isa = numerics_vector_isa();
  std::vector<std::vector<float>> packed_in1;
  if (!numerics.fp32_dest_acc && m > 0 && n > 0) {
    for (const Term& term : terms) {
      packed_in1.push_back(pack_bf16_dst_panels(in1.part(term.in1).data(), k, n, isa));
    }
  }

  const std::size_t block_k = numerics.in0_block_w > 0 ? numerics.in0_block_w * kTileK : k;
  const std::size_t num_blocks = k == 0 ? 1 : (k + block_k - 1) / block_k;
  // Format of the partial sum between K blocks (tt-metal interm0_data_format).
  const DataType interm_dtype = numerics.fp32_dest_acc   ? DataType::Float32
                                : numerics.packer_l1_acc ? DataType::BFloat16
                                                         : numerics.output_dtype;
  std::vector<float> partial(num_blocks > 1 ? m * n : 0);
  std::span<float> dst = c;  // Dst contents live in the output buffer
  for (std::size_t block = 0; block < num_blocks; ++block) {
    const bool last = block + 1 == num_blocks;
    const bool reload = block > 0 && (!numerics.packer_l1_acc || last);
    if (reload) {
      std::copy(partial.begin(), partial.end(), dst.begin());
    } else {
      std::fill(dst.begin(), dst.end(), 0.0f);
    }
    const std::size_t k0 = block * block_k;
    const std::size_t kb = std::min(block_k, k - std::min(k, k0));
    if (kb > 0 && m > 0 && n > 0) {
      accumulate_block(gemm, terms, numerics.fp32_dest_acc, m, k0, kb, dst, isa, packed_in1);
    }
    if (last) break;
    if (numerics.packer_l1_acc && block > 0) {
      // The packer adds Dst into the L1 intermediate, rounding to its format.
      for (std::size_t i = 0; i < partial.size(); ++i) partial[i] += dst[i];
    } else {
      std::copy(dst.begin(), dst.end(), partial.begin());  // spill (or first L1 write)
    }
    pack_as(partial, m, n, interm_dtype);
  }
  pack_as(dst, m, n, numerics.output_dtype);
}

void fidelity_matmul(std::span<const float> a, std::span<const float> b, std::span<float> c,
                     std::size_t m, std::size_t k, std::size_t n, arch::MathFidelity fidelity,
                     bool fp32_dest_acc) {
  MatmulNumerics numerics;
  numerics.fidelity = fidelity;
  numerics.fp32_dest_acc = fp32_dest_acc;
  fidelity_matmul(a, b, c, m, k, n, numerics);
}

void fidelity_eltwise_mul(std::span<const float> a, std::span<const float> b, std::span<float> out,
                          arch::MathFidelity fidelity, bool fp32_dest_acc, DataType a_dtype,
                          DataType b_dtype) {
  if (a.size() != b.size() || a.size() != out.size()) {
    throw Error("fidelity_eltwise_mul: operand sizes differ (" + std::to_string(a.size()) + ", " +
                std::to_string(b.size()) + ", output " + std::to_string(out.size()) + ")");
  }
  const int phases = fidelity_phases(fidelity);
  const SlicedOperand src_a =
      slice_operand<kSrcAHiKeep, kSrcALoKeep>(a, a_dtype, true, phases >= 2, false);
  const SlicedOperand src_b =
      slice_operand<kSrcBHiKeep, kSrcBLoKeep>(b, b_dtype, true, phases >= 3, false);
  std::fill(out.begin(), out.end(), 0.0f);
  // One ELWMUL per phase, in phase order.
  for (int phase = 0; phase < phases; ++phase) {
    const Term term = phase_term(phase);
    const float* x = src_a.part(term.in1).data();  // SrcA slice follows phase bit 0
    const float* y = src_b.part(term.in0).data();  // SrcB slice follows phase bit 1
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += x[i] * y[i];
    if (!fp32_dest_acc) quantize_bf16(out);  // BF16 Dst rounds after every ELWMUL
  }
}

void sgemm(const float* a, const float* b, float* c, std::size_t m, std::size_t k, std::size_t n,
           std::size_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (std::size_t r = 0; r < m; ++r) std::fill(c + r * ldc, c + r * ldc + n, 0.0f);
    return;
  }
  blas_gemm(a, k, b, n, c, ldc, m, n, k, 0.0f);
}

}  // namespace wormsim::ops::numerics
