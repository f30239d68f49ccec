// Math-fidelity matmul / eltwise emulation and the PCC metrics.
#include <cblas.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/data_type.hpp"
#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"
#include "ops/numerics/pcc.hpp"
#include "sim/error.hpp"

namespace {

using wormsim::Error;
using wormsim::arch::MathFidelity;
using wormsim::ops::DataType;
using namespace wormsim::ops::numerics;

constexpr MathFidelity kAllFidelities[] = {MathFidelity::LoFi, MathFidelity::HiFi2,
                                           MathFidelity::HiFi3, MathFidelity::HiFi4};

std::vector<float> random_floats(std::size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

// Values spread over 2^-12 .. 2^12, so fp32 sums round and their order shows in the results.
std::vector<float> random_wide_range(std::size_t count, unsigned seed) {
  std::vector<float> values = random_floats(count, seed);
  std::mt19937 rng(seed + 1000);
  for (float& v : values) v = std::ldexp(v, static_cast<int>(rng() % 25) - 12);
  return values;
}

std::vector<float> random_bf16(std::size_t count, unsigned seed) {
  std::vector<float> values = random_floats(count, seed);
  quantize_bf16(values);
  return values;
}

// fp64 reference product: the "golden" every fidelity is measured against.
std::vector<float> golden_matmul(const std::vector<float>& a, const std::vector<float>& b,
                                 std::size_t m, std::size_t k, std::size_t n) {
  std::vector<float> c(m * n);
  std::vector<double> row(n);
  for (std::size_t i = 0; i < m; ++i) {
    std::fill(row.begin(), row.end(), 0.0);
    for (std::size_t kk = 0; kk < k; ++kk) {
      const double x = a[i * k + kk];
      for (std::size_t j = 0; j < n; ++j) row[j] += x * b[kk * n + j];
    }
    for (std::size_t j = 0; j < n; ++j) c[i * n + j] = static_cast<float>(row[j]);
  }
  return c;
}

std::vector<float> plain_sgemm(const std::vector<float>& a, const std::vector<float>& b,
                               std::size_t m, std::size_t k, std::size_t n) {
  std::vector<float> c(m * n, 0.0f);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a.data(), static_cast<int>(k), b.data(),
              static_cast<int>(n), 0.0f, c.data(), static_cast<int>(n));
  return c;
}

std::vector<float> run(const std::vector<float>& a, const std::vector<float>& b, std::size_t m,
                       std::size_t k, std::size_t n, const MatmulNumerics& numerics) {
  std::vector<float> c(m * n);
  fidelity_matmul(a, b, c, m, k, n, numerics);
  return c;
}

// Keeps the `bits` most significant bits of the significand (implicit 1 included), by
// arithmetic instead of bit masks, so the reference is independent of the implementation.
float keep_significant_bits(float value, int bits) {
  if (value == 0.0f) return 0.0f;
  int exponent;
  const float fraction = std::frexp(value, &exponent);  // value = fraction * 2^exponent
  return std::ldexp(std::trunc(std::ldexp(fraction, bits)), exponent - bits);
}

// The multiplier slices from SrcASrcB.md, for BF16/TF32 data: SrcA hi = 5 significant bits,
// SrcA hi+lo = 10 (TF32's last bit is never used); SrcB hi = 7, hi+lo = 11.
float ref_srca(float v, bool low) {
  const float hi = keep_significant_bits(v, 5);
  return low ? keep_significant_bits(v, 10) - hi : hi;
}
float ref_srcb(float v, bool low) {
  const float hi = keep_significant_bits(v, 7);
  return low ? keep_significant_bits(v, 11) - hi : hi;
}

// Direct transcription of the MVMUL functional model (MVMUL.md) with tt-llk's loop order:
// per output, per 32-deep K tile, per fidelity phase, per 16-deep K face: Dst += 16-term dot.
std::vector<float> reference_matmul(const std::vector<float>& a, const std::vector<float>& b,
                                    std::size_t m, std::size_t k, std::size_t n,
                                    MathFidelity fidelity, bool fp32_dest) {
  const int phases = fidelity_phases(fidelity);
  std::vector<float> c(m * n);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      float dst = 0.0f;
      for (std::size_t kt = 0; kt < k; kt += 32) {
        for (int phase = 0; phase < phases; ++phase) {
          for (std::size_t kf = kt; kf < std::min(kt + 32, k); kf += 16) {
            float dot = 0.0f;
            for (std::size_t kk = kf; kk < std::min(kf + 16, k); ++kk) {
              dot += ref_srcb(a[i * k + kk], phase & 2) * ref_srca(b[kk * n + j], phase & 1);
            }
            dst = fp32_dest ? dst + dot : round_to_bf16(dst + dot);
          }
        }
      }
      c[i * n + j] = dst;
    }
  }
  return c;
}

// ---- slices ------------------------------------------------------------------------------------

TEST(Fidelity, PhaseCounts) {
  EXPECT_EQ(fidelity_phases(MathFidelity::LoFi), 1);
  EXPECT_EQ(fidelity_phases(MathFidelity::HiFi2), 2);
  EXPECT_EQ(fidelity_phases(MathFidelity::HiFi3), 3);
  EXPECT_EQ(fidelity_phases(MathFidelity::HiFi4), 4);
}

TEST(Fidelity, MantissaSlices) {
  // 1 + 2^-1 + 2^-5 + 2^-7 is bf16-exact with mantissa bits 22, 18 and 16 set.
  const float v = 1.0f + 0.5f + std::ldexp(1.0f, -5) + std::ldexp(1.0f, -7);
  EXPECT_EQ(srca_slice(v, false), 1.5f);  // implicit 1 + bits 22..19
  EXPECT_EQ(srca_slice(v, true), std::ldexp(1.0f, -5) + std::ldexp(1.0f, -7));
  EXPECT_EQ(srcb_slice(v, false), 1.5f + std::ldexp(1.0f, -5));  // + bits 18..17
  EXPECT_EQ(srcb_slice(v, true), std::ldexp(1.0f, -7));
  EXPECT_EQ(srca_slice(-v, false), -1.5f);
  // TF32's last mantissa bit (2^-10 at 1.0) reaches SrcB's low slice but no SrcA slice.
  const float tf32_lsb = 1.0f + std::ldexp(1.0f, -10);
  EXPECT_EQ(srcb_slice(tf32_lsb, true), std::ldexp(1.0f, -10));
  EXPECT_EQ(srca_slice(tf32_lsb, true), 0.0f);
  // Zero, denormals and specials.
  EXPECT_EQ(srca_slice(0.0f, false), 0.0f);
  EXPECT_EQ(srcb_slice(std::numeric_limits<float>::denorm_min(), false), 0.0f);
  EXPECT_EQ(srca_slice(std::numeric_limits<float>::infinity(), false),
            std::numeric_limits<float>::infinity());
  EXPECT_EQ(srca_slice(std::numeric_limits<float>::infinity(), true), 0.0f);
  // Slices agree with the arithmetic reference on random values.
  for (float x : random_bf16(1000, 5)) {
    ASSERT_EQ(srca_slice(x, false), ref_srca(x, false));
    ASSERT_EQ(srca_slice(x, true), ref_srca(x, true));
    ASSERT_EQ(srcb_slice(x, false), ref_srcb(x, false));
    ASSERT_EQ(srcb_slice(x, true), ref_srcb(x, true));
  }
}

// ---- matmul ----------------------------------------------------------------------------------

TEST(FidelityMatmul, BlasPathEqualsNaiveReferenceExactly) {
  // Inputs j/64 with |j| <= 255 carry 8 significant bits (bf16-exact, all slices non-empty)
  // and every partial sum is exact in fp32, so both paths must agree bit for bit.
  const std::size_t m = 24, k = 96, n = 32;
  std::mt19937 rng(21);
  std::uniform_int_distribution<int> dist(-255, 255);
  std::vector<float> a(m * k), b(k * n);
  for (float& v : a) v = static_cast<float>(dist(rng)) / 64.0f;
  for (float& v : b) v = static_cast<float>(dist(rng)) / 64.0f;
  for (MathFidelity fidelity : kAllFidelities) {
    for (bool fp32_dest : {true, false}) {
      MatmulNumerics numerics;
      numerics.fidelity = fidelity;
      numerics.fp32_dest_acc = fp32_dest;
      const std::vector<float> blas = run(a, b, m, k, n, numerics);
      const std::vector<float> naive = reference_matmul(a, b, m, k, n, fidelity, fp32_dest);
      ASSERT_EQ(blas, naive) << "fidelity " << static_cast<int>(fidelity) << " fp32_dest "
                             << fp32_dest;
    }
  }
}

TEST(FidelityMatmul, BlasPathMatchesNaiveReferenceOnRandomData) {
  const std::size_t m = 16, k = 80, n = 48;  // k not a multiple of 32: partial last tile
  const std::vector<float> a = random_bf16(m * k, 31), b = random_bf16(k * n, 32);
  for (MathFidelity fidelity : kAllFidelities) {
    for (bool fp32_dest : {true, false}) {
      MatmulNumerics numerics;
      numerics.fidelity = fidelity;
      numerics.fp32_dest_acc = fp32_dest;
      const std::vector<float> blas = run(a, b, m, k, n, numerics);
      const std::vector<float> naive = reference_matmul(a, b, m, k, n, fidelity, fp32_dest);
      // Only the fp32 summation order differs; with a BF16 Dst that can flip a rounding.
      const double tolerance = fp32_dest ? 1e-6 : 1e-2;
      EXPECT_LT(rel_error(naive, blas), tolerance);
      EXPECT_LT(max_abs_error(naive, blas), fp32_dest ? 1e-4 : 0.1);
    }
  }
}

// Restores the process-wide vector code limit even when an assertion returns early.
struct VectorIsaLimit {
  explicit VectorIsaLimit(VectorIsa isa) { limit_numerics_vector_isa(isa); }
  ~VectorIsaLimit() { limit_numerics_vector_isa(VectorIsa::Avx512Bf16); }
  VectorIsaLimit(const VectorIsaLimit&) = delete;
  VectorIsaLimit& operator=(const VectorIsaLimit&) = delete;
};

// Runs the product under every vector code this CPU has, widest first.
std::vector<std::vector<float>> run_each_isa(const std::vector<float>& a,
                                             const std::vector<float>& b, std::size_t m,
                                             std::size_t k, std::size_t n,
                                             const MatmulNumerics& numerics) {
  const VectorIsa widest = numerics_vector_isa();
  std::vector<std::vector<float>> results;
  for (VectorIsa isa :
       {VectorIsa::Avx512Bf16, VectorIsa::Avx512, VectorIsa::Avx2, VectorIsa::Baseline}) {
    if (isa > widest) continue;  // not on this CPU
    const VectorIsaLimit limit(isa);
    EXPECT_EQ(numerics_vector_isa(), isa);
    results.push_back(run(a, b, m, k, n, numerics));
  }
  return results;
}

TEST(FidelityMatmul, VectorPathsAgree) {
  // The BF16-Dst kernel is compiled for AVX-512 BF16 (bf16 dot products), AVX-512, AVX2 and
  // baseline x86-64. The FMA paths must agree bit for bit (results may not depend on the
  // machine's vector code); every path is checked against the reference. Odd sizes exercise
  // partial row blocks, partial panels and a partial last K tile (k = 199 also an odd last
  // bf16 pair); two K blocks exercise the reload; Float32 operands give TF32 slices; values
  // over a wide range make the fp32 summation order matter.
  const std::size_t m = 37, n = 75;
  for (std::size_t k : {std::size_t{200}, std::size_t{199}}) {
    for (DataType dtype : {DataType::BFloat16, DataType::Float32}) {
      std::vector<float> a = random_wide_range(m * k, 41), b = random_wide_range(k * n, 42);
      if (dtype == DataType::BFloat16) {
        quantize_bf16(a);
        quantize_bf16(b);
      }
      for (MathFidelity fidelity : kAllFidelities) {
        MatmulNumerics numerics;
        numerics.fidelity = fidelity;
        numerics.in0_block_w = 4;
        numerics.packer_l1_acc = true;
        numerics.in0_dtype = numerics.in1_dtype = dtype;
        const std::vector<std::vector<float>> results = run_each_isa(a, b, m, k, n, numerics);
        // The last path is the baseline (no FMA); all others must equal the widest.
        for (std::size_t p = 1; p + 1 < results.size(); ++p) {
          EXPECT_EQ(results[0], results[p])
              << "path " << p << " differs from the widest, fidelity " << static_cast<int>(fidelity)
              << ", k " << k << ", " << to_string(dtype);
        }
        if (dtype == DataType::BFloat16) {
          const std::vector<float> naive = reference_matmul(a, b, m, k, n, fidelity, false);
          for (const auto& r : results) EXPECT_LT(rel_error(naive, r), 2e-2);
        }
      }
    }
  }
}

TEST(FidelityMatmul, EveryVectorPathAddsAnMvmulsProductsInKOrder) {
  // One MVMUL's products added in K order: 1, 2^-8, 3 * 2^-25, -2^-24. In fp32, 1 + 2^-8 is
  // exact, + 0.75 ulp rounds up one ulp, - 0.5 ulp is a tie back to the even 1 + 2^-8, which
  // Dst's BF16 rounding takes to 1 (tie to even). Adding the last two the other way round
  // gives 1 + 2^-8 + 1 ulp, which rounds to 1 + 2^-7. Every path must add in K order (the
  // AVX-512 BF16 path pairs K indices, so this catches a pair added back to front).
  const std::vector<float> a = {1.0f, std::ldexp(1.0f, -8), 3.0f * std::ldexp(1.0f, -25),
                                -std::ldexp(1.0f, -24)};
  const std::vector<float> b = {1.0f, 1.0f, 1.0f, 1.0f};
  MatmulNumerics numerics;
  numerics.fidelity = MathFidelity::LoFi;
  for (const std::vector<float>& c : run_each_isa(a, b, 1, 4, 1, numerics)) {
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0], 1.0f);
  }
}

TEST(FidelityMatmul, ThreadedProductEqualsTheSingleThreadedRows) {
  // Large enough to be split over threads: each output row must come out as it does when its
  // rows are computed alone (one thread, a small product), on every vector path.
  const std::size_t m = 197, k = 256, n = 160;  // 197 rows: ragged blocks per thread
  const std::vector<float> a = random_bf16(m * k, 51), b = random_bf16(k * n, 52);
  MatmulNumerics numerics;
  numerics.fidelity = MathFidelity::HiFi4;
  const std::vector<std::vector<float>> whole = run_each_isa(a, b, m, k, n, numerics);
  const std::size_t rows_alone = 3;  // three rows: far below the threading threshold
  for (std::size_t r0 : {std::size_t{0}, std::size_t{61}, m - rows_alone}) {
    const std::vector<float> a_rows(a.begin() + static_cast<std::ptrdiff_t>(r0 * k),
                                    a.begin() + static_cast<std::ptrdiff_t>((r0 + rows_alone) * k));
    const std::vector<std::vector<float>> alone =
        run_each_isa(a_rows, b, rows_alone, k, n, numerics);
    ASSERT_EQ(alone.size(), whole.size());
    for (std::size_t p = 0; p < whole.size(); ++p) {
      const std::vector<float> expected(
          whole[p].begin() + static_cast<std::ptrdiff_t>(r0 * n),
          whole[p].begin() + static_cast<std::ptrdiff_t>((r0 + rows_alone) * n));
      EXPECT_EQ(alone[p], expected) << "rows " << r0 << ", path " << p;
    }
  }
}

TEST(FidelityMatmul, GoldenSgemmSplitOverThreadsEqualsOneBlasCall) {
  // sgemm splits a large product over rows, one cblas_sgemm per share; that must change no
  // value against one cblas_sgemm of the whole product, and the result must match fp64 sums.
  const std::size_t m = 203, k = 320, n = 96;  // 6.2 M multiply-adds: split
  const std::vector<float> a = random_floats(m * k, 61), b = random_floats(k * n, 62);
  std::vector<float> split(m * n, -1.0f), whole(m * n, -1.0f);
  split_gemms_over_threads(3);
  sgemm(a.data(), b.data(), split.data(), m, k, n, n);
  split_gemms_over_threads(0);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a.data(), static_cast<int>(k), b.data(),
              static_cast<int>(n), 0.0f, whole.data(), static_cast<int>(n));
  EXPECT_EQ(split, whole);
  EXPECT_LT(max_abs_error(golden_matmul(a, b, m, k, n), split), 1e-3);
}

TEST(FidelityMatmul, AccuracyImprovesWithFidelity) {
  const std::size_t m = 128, k = 1024, n = 128;
  const std::vector<float> a = random_bf16(m * k, 41), b = random_bf16(k * n, 42);
  const std::vector<float> golden = golden_matmul(a, b, m, k, n);
  double previous_pcc = 0.0, previous_error = 1.0;
  std::vector<double> pccs, errors;
  for (MathFidelity fidelity : kAllFidelities) {
    MatmulNumerics numerics;
    numerics.fidelity = fidelity;
    numerics.fp32_dest_acc = true;
    const std::vector<float> c = run(a, b, m, k, n, numerics);
    const double p = pcc(golden, c);
    const double e = rel_error(golden, c);
    pccs.push_back(p);
    errors.push_back(e);
    EXPECT_GE(p, previous_pcc);
    EXPECT_LE(e, previous_error);
    previous_pcc = p;
    previous_error = e;
    std::printf("fidelity %d: pcc %.12f rel_error %.3e max_abs %.3e\n", static_cast<int>(fidelity),
                p, e, max_abs_error(golden, c));
  }
  // Measured on this case: PCC 0.99990 / 0.9999957 / 0.999999997 / 1.0 (to 12 digits), rel_error
  // 2.6e-2 / 4.0e-3 / 9.7e-5 / 1.1e-7. LoFi truncates 3 bits of in1 (SrcA) and 1 of in0 (SrcB),
  // HiFi2 only in0's last bit, HiFi3 only the tiny lo*lo term.
  EXPECT_LT(pccs[0], 0.99995);
  EXPECT_GT(pccs[0], 0.9998);
  EXPECT_GT(pccs[1], 0.99999);
  EXPECT_LT(pccs[1], 0.999999);
  EXPECT_GT(pccs[2], 0.9999999);
  EXPECT_GT(pccs[3], 1.0 - 1e-9);
  EXPECT_GT(errors[0], 5 * errors[1]);
  EXPECT_GT(errors[1], 10 * errors[2]);
  EXPECT_GT(errors[2], 100 * errors[3]);
  // bf16 x bf16 products are exact in fp32, so HiFi4 only has fp32 accumulation error.
  EXPECT_LT(errors[3], 1e-6);
}

TEST(FidelityMatmul, HiFi4EqualsPlainSgemmOfQuantizedInputs) {
  const std::size_t m = 64, k = 512, n = 96;
  const std::vector<float> a = random_bf16(m * k, 51), b = random_bf16(k * n, 52);
  MatmulNumerics numerics;
  numerics.fidelity = MathFidelity::HiFi4;
  numerics.fp32_dest_acc = true;
  const std::vector<float> c = run(a, b, m, k, n, numerics);
  std::vector<float> shorthand(m * n);
  fidelity_matmul(a, b, shorthand, m, k, n, MathFidelity::HiFi4, true);
  EXPECT_EQ(shorthand, c);
  const std::vector<float> reference = plain_sgemm(a, b, m, k, n);
  EXPECT_LT(rel_error(reference, c), 1e-6);
  EXPECT_LT(max_abs_error(reference, c), 1e-4);
}

TEST(FidelityMatmul, HiFi2IsExactForBfp8Inputs) {
  // SrcASrcB.md: BFP8 needs phases 0 and 1 for full precision. A bfp8 value has at most
  // 6 mantissa bits, so SrcB's low slice is empty and phases 2 and 3 add exact zeros.
  const std::size_t m = 32, k = 256, n = 64;
  std::vector<float> a = random_bf16(m * k, 61), b = random_bf16(k * n, 62);
  quantize_bfp(a, m, k, DataType::BFloat8_B);
  quantize_bfp(b, k, n, DataType::BFloat8_B);
  MatmulNumerics hifi2;
  hifi2.fidelity = MathFidelity::HiFi2;
  hifi2.fp32_dest_acc = true;
  MatmulNumerics hifi4 = hifi2;
  hifi4.fidelity = MathFidelity::HiFi4;
  MatmulNumerics lofi = hifi2;
  lofi.fidelity = MathFidelity::LoFi;
  const std::vector<float> c2 = run(a, b, m, k, n, hifi2);
  EXPECT_EQ(c2, run(a, b, m, k, n, hifi4));
  EXPECT_NE(c2, run(a, b, m, k, n, lofi));
}

TEST(FidelityMatmul, Fp32InputsGoThroughTf32) {
  // in0 -> SrcB (TF32, all 10 bits used), in1 -> SrcA (TF32 minus its last bit).
  const float below_tf32 = 1.0f + std::ldexp(1.0f, -20);
  const float tf32_lsb = 1.0f + std::ldexp(1.0f, -10);
  const float one = 1.0f;
  MatmulNumerics numerics;
  numerics.fidelity = MathFidelity::HiFi4;
  numerics.fp32_dest_acc = true;
  numerics.in0_dtype = DataType::Float32;
  numerics.in1_dtype = DataType::Float32;
  float c = 0.0f;
  fidelity_matmul({&below_tf32, 1}, {&one, 1}, {&c, 1}, 1, 1, 1, numerics);
  EXPECT_EQ(c, 1.0f);
  fidelity_matmul({&tf32_lsb, 1}, {&one, 1}, {&c, 1}, 1, 1, 1, numerics);
  EXPECT_EQ(c, tf32_lsb);
  fidelity_matmul({&one, 1}, {&tf32_lsb, 1}, {&c, 1}, 1, 1, 1, numerics);
  EXPECT_EQ(c, 1.0f);
  // Declared bfloat16, the same bits are cut to bf16 on unpack.
  numerics.in0_dtype = DataType::BFloat16;
  fidelity_matmul({&tf32_lsb, 1}, {&one, 1}, {&c, 1}, 1, 1, 1, numerics);
  EXPECT_EQ(c, 1.0f);
}

TEST(FidelityMatmul, Bf16DestIsLessAccurateForLargeK) {
  const std::size_t m = 32, k = 4096, n = 64;
  const std::vector<float> a = random_bf16(m * k, 71), b = random_bf16(k * n, 72);
  const std::vector<float> golden = golden_matmul(a, b, m, k, n);
  MatmulNumerics fp32_dest;
  fp32_dest.fidelity = MathFidelity::HiFi4;
  fp32_dest.fp32_dest_acc = true;
  MatmulNumerics bf16_dest = fp32_dest;
  bf16_dest.fp32_dest_acc = false;
  const std::vector<float> c32 = run(a, b, m, k, n, fp32_dest);
  const std::vector<float> c16 = run(a, b, m, k, n, bf16_dest);
  const double e32 = rel_error(golden, c32), e16 = rel_error(golden, c16);
  std::printf("K=4096 HiFi4: fp32 Dst rel_error %.3e pcc %.9f, bf16 Dst rel_error %.3e pcc %.9f\n",
              e32, pcc(golden, c32), e16, pcc(golden, c16));
  EXPECT_GT(e16, 100 * e32);
  // Measured: 2.5e-2 (PCC 0.99974) vs 1.8e-7: 1024 BF16 roundings per output (256 MVMULs x
  // 4 phases) random-walk the sum.
  EXPECT_GT(e16, 5e-3);
  EXPECT_LT(pcc(golden, c16), pcc(golden, c32));
  EXPECT_GT(pcc(golden, c16), 0.999);
}

TEST(FidelityMatmul, PackerL1AccKeepsPartialsInBf16InsteadOfOutputFormat) {
  // Spilling partials in the bfloat8_b output format re-quantizes the running sum at every
  // K block; packer_l1_acc keeps them in BF16 in L1.
  const std::size_t m = 32, k = 2048, n = 64;
  const std::vector<float> a = random_bf16(m * k, 81), b = random_bf16(k * n, 82);
  const std::vector<float> golden = golden_matmul(a, b, m, k, n);
  MatmulNumerics spill;
  spill.fidelity = MathFidelity::HiFi2;
  spill.in0_block_w = 1;
  spill.output_dtype = DataType::BFloat8_B;
  MatmulNumerics l1_acc = spill;
  l1_acc.packer_l1_acc = true;
  MatmulNumerics single_block = spill;
  single_block.in0_block_w = 0;
  const double e_spill = rel_error(golden, run(a, b, m, k, n, spill));
  const double e_l1 = rel_error(golden, run(a, b, m, k, n, l1_acc));
  const double e_single = rel_error(golden, run(a, b, m, k, n, single_block));
  std::printf(
      "bfp8 out, K=2048, in0_block_w=1: spill rel_error %.3e, packer_l1_acc %.3e, "
      "one block %.3e\n",
      e_spill, e_l1, e_single);
  // Measured: spill 1.1e-1, packer_l1_acc 1.3e-2, single block 1.9e-2.
  EXPECT_GT(e_spill, 4 * e_l1);
  EXPECT_GT(e_spill, 4 * e_single);
  // With an fp32 Dst the intermediate is fp32 either way: spill == L1 acc up to fp32 order.
  spill.fp32_dest_acc = l1_acc.fp32_dest_acc = true;
  EXPECT_LT(rel_error(run(a, b, m, k, n, spill), run(a, b, m, k, n, l1_acc)), 1e-3);
}

TEST(FidelityMatmul, OutputIsPackedToOutputFormat) {
  const std::size_t m = 32, k = 64, n = 32;
  const std::vector<float> a = random_bf16(m * k, 91), b = random_bf16(k * n, 92);
  MatmulNumerics numerics;
  numerics.fp32_dest_acc = true;
  std::vector<float> expected = run(a, b, m, k, n, numerics);
  quantize(expected, m, n, DataType::BFloat8_B, BfpRounding::DevicePacker);
  numerics.output_dtype = DataType::BFloat8_B;
  EXPECT_EQ(run(a, b, m, k, n, numerics), expected);
}

TEST(FidelityMatmul, RejectsBadShapes) {
  std::vector<float> a(6), b(6), c(4);
  MatmulNumerics numerics;
  EXPECT_THROW(fidelity_matmul(a, b, c, 2, 4, 2, numerics), Error);
  EXPECT_THROW(fidelity_matmul(a, b, c, 2, 3, 3, numerics), Error);
  numerics.output_dtype = DataType::BFloat8_B;
  EXPECT_THROW(fidelity_matmul(a, b, c, 2, 3, 2, numerics), Error);  // n not a multiple of 16
}

// ---- eltwise multiply --------------------------------------------------------------------------

TEST(FidelityEltwise, PhasesAddSliceProducts) {
  const float x = 1.0f + 0.5f + std::ldexp(1.0f, -5) + std::ldexp(1.0f, -7);  // SrcA operand
  const float y = 1.0f + std::ldexp(1.0f, -7);                                // SrcB operand
  const float a_hi = 1.5f, a_lo = std::ldexp(1.0f, -5) + std::ldexp(1.0f, -7);
  const float b_hi = 1.0f, b_lo = std::ldexp(1.0f, -7);
  const float expected[] = {a_hi * b_hi, a_hi * b_hi + a_lo * b_hi,
                            a_hi * b_hi + a_lo * b_hi + a_hi * b_lo, x * y};
  for (int f = 0; f < 4; ++f) {
    float out = 0.0f;
    fidelity_eltwise_mul({&x, 1}, {&y, 1}, {&out, 1}, kAllFidelities[f], true);
    EXPECT_EQ(out, expected[f]) << f;
  }
  // A BF16 Dst rounds after every phase.
  float out = 0.0f;
  fidelity_eltwise_mul({&x, 1}, {&y, 1}, {&out, 1}, MathFidelity::HiFi4, false);
  EXPECT_EQ(out,
            round_to_bf16(round_to_bf16(round_to_bf16(round_to_bf16(a_hi * b_hi) + a_lo * b_hi) +
                                        a_hi * b_lo) +
                          a_lo * b_lo));
}

TEST(FidelityEltwise, LoFiIsWorseThanHiFi4) {
  const std::vector<float> a = random_bf16(4096, 101), b = random_bf16(4096, 102);
  std::vector<float> exact(a.size()), lofi(a.size()), hifi4(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) exact[i] = a[i] * b[i];  // exact in fp32
  fidelity_eltwise_mul(a, b, lofi, MathFidelity::LoFi, true);
  fidelity_eltwise_mul(a, b, hifi4, MathFidelity::HiFi4, true);
  EXPECT_EQ(hifi4, exact);
  EXPECT_GT(rel_error(exact, lofi), 1e-3);
  EXPECT_THROW(fidelity_eltwise_mul(a, b, std::span<float>(lofi).first(10), MathFidelity::LoFi),
               Error);
}

// ---- PCC ---------------------------------------------------------------------------------------

TEST(Pcc, IdenticalAndNegated) {
  const std::vector<float> x = random_bf16(1000, 111);
  std::vector<float> negated(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) negated[i] = -x[i];
  EXPECT_EQ(pcc(x, x), 1.0);
  EXPECT_NEAR(pcc(x, negated), -1.0, 1e-12);
  std::vector<float> scaled(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) scaled[i] = 3.0f * x[i] + 1.0f;
  EXPECT_NEAR(pcc(x, scaled), 1.0, 1e-6);
}

TEST(Pcc, KnownValue) {
  // x = 1..5, y = {2, 4, 5, 4, 5}: r = 6 / sqrt(10 * 6) = 0.7745966692...
  const std::vector<float> x = {1, 2, 3, 4, 5}, y = {2, 4, 5, 4, 5};
  EXPECT_NEAR(pcc(x, y), 6.0 / std::sqrt(60.0), 1e-12);
}

TEST(Pcc, SpecialCasesFollowCompPcc) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> all_nan = {nan, nan, nan};
  const std::vector<float> zeros = {0, 0, 0};
  const std::vector<float> values = {1, 2, 3};
  EXPECT_EQ(pcc(all_nan, all_nan), 1.0);
  EXPECT_EQ(pcc(all_nan, values), 0.0);
  EXPECT_EQ(pcc(values, zeros), 0.0);
  EXPECT_EQ(pcc(zeros, zeros), 1.0);
  // NaN / inf are zeroed in both before comparing.
  EXPECT_EQ(pcc(std::vector<float>{1, 2, 0, 4}, std::vector<float>{1, 2, inf, 4}), 1.0);
  EXPECT_NEAR(pcc(std::vector<float>{1, 2, 3, nan}, std::vector<float>{1, 2, 3, 4}),
              pcc(std::vector<float>{1, 2, 3, 0}, std::vector<float>{1, 2, 3, 4}), 1e-15);
  // numpy's masked corrcoef makes a constant vector correlate 1.0 with anything.
  EXPECT_EQ(pcc(std::vector<float>{2, 2, 2}, values), 1.0);
  EXPECT_THROW(pcc(values, std::vector<float>{1, 2}), Error);
}

TEST(Pcc, LargeVectorsSummedInChunksMatchOneLongSum) {
  // The sums are taken per 16 Ki-value chunk (on several threads from 4 chunks on); the result must
  // match a plain long double two-pass sum. The special cases must also see every chunk: one NaN or
  // one non-zero far from the start changes the answer.
  const std::size_t count = 300'001;
  std::vector<float> g = random_floats(count, 121), c = random_floats(count, 122);
  for (std::size_t i = 0; i < count; ++i) c[i] = 0.8f * g[i] + 0.6f * c[i] + 5.0f;
  long double sg = 0, sc = 0;
  for (std::size_t i = 0; i < count; ++i) sg += g[i], sc += c[i];
  const long double mg = sg / count, mc = sc / count;
  long double cov = 0, vg = 0, vc = 0;
  for (std::size_t i = 0; i < count; ++i) {
    cov += (g[i] - mg) * (c[i] - mc);
    vg += (g[i] - mg) * (g[i] - mg);
    vc += (c[i] - mc) * (c[i] - mc);
  }
  EXPECT_NEAR(pcc(g, c), static_cast<double>(cov / std::sqrt(vg * vc)), 1e-12);
  EXPECT_EQ(pcc(g, g), 1.0);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> nans(count, nan);
  EXPECT_EQ(pcc(nans, nans), 1.0);
  nans[count - 1] = 1.0f;  // no longer all NaN, in the last chunk only
  EXPECT_EQ(pcc(nans, std::vector<float>(count, nan)), 0.0);
  std::vector<float> zeros(count, 0.0f), one_nonzero(count, 0.0f);
  one_nonzero[200'000] = 2.0f;
  EXPECT_EQ(pcc(zeros, one_nonzero), 0.0);
  EXPECT_EQ(pcc(zeros, zeros), 1.0);
}

TEST(Pcc, PaddedBuffersReadInPlaceEqualTheGatheredLogicalValues) {
  // [2, 3, 90, 140] logical in [2, 3, 96, 160] padded: 75,600 values, five chunks (so they are
  // spread over threads, each with its own scratch) and rows that cross chunk boundaries.
  // Padding holds values far from the data, so reading one of them (or skipping a logical one)
  // changes the result.
  const std::size_t lw = 2, lz = 3, ly = 90, lx = 140, py = 96, px = 160;
  const PaddedShape shape{{lw, lz, ly, lx}, {lw, lz, py, px}};
  const std::size_t padded = lw * lz * py * px;
  std::vector<float> g = random_floats(padded, 31), c = random_floats(padded, 32);
  std::vector<float> logical_g, logical_c;
  for (std::size_t w = 0; w < lw; ++w) {
    for (std::size_t z = 0; z < lz; ++z) {
      for (std::size_t y = 0; y < py; ++y) {
        for (std::size_t x = 0; x < px; ++x) {
          const std::size_t i = ((w * lz + z) * py + y) * px + x;
          c[i] = 0.9f * g[i] + 0.4f * c[i];
          if (y < ly && x < lx) {
            logical_g.push_back(g[i]);
            logical_c.push_back(c[i]);
          } else {
            g[i] = 1.0e6f;
            c[i] = -1.0e6f;
          }
        }
      }
    }
  }
  const double expected = pcc(logical_g, logical_c);
  EXPECT_GT(expected, 0.85);
  EXPECT_EQ(pcc(g, c, shape), expected);  // bit for bit
  EXPECT_THROW(pcc(g, c, PaddedShape{{lw, lz, py + 1, lx}, {lw, lz, py, px}}), wormsim::Error);
  EXPECT_THROW(pcc(g, c, PaddedShape{{lw, lz, ly, lx}, {lw, lz, py, px - 1}}), wormsim::Error);
}

TEST(Metrics, MaxAbsAndRelativeError) {
  const std::vector<float> golden = {1, -2, 3, 4}, calc = {1, -2.5f, 3, 3};
  EXPECT_DOUBLE_EQ(max_abs_error(golden, calc), 1.0);
  EXPECT_NEAR(rel_error(golden, calc), std::sqrt(1.25 / 30.0), 1e-12);
  EXPECT_EQ(rel_error(std::vector<float>{0, 0}, std::vector<float>{0, 0}), 0.0);
  EXPECT_TRUE(std::isinf(rel_error(std::vector<float>{0, 0}, std::vector<float>{0, 1})));
  EXPECT_TRUE(std::isnan(max_abs_error(
      std::vector<float>{1}, std::vector<float>{std::numeric_limits<float>::quiet_NaN()})));
}

}  // namespace
