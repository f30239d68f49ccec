// Speed of the numerics emulation. BM_QuantizeBf16 / BM_QuantizeBfp8: items_per_second =
// values quantized per second on 1M values. BM_FidelityMatmul vs BM_PlainSgemm (1024^3):
// items_per_second = FLOP/s (2*M*N*K), so their ratio is the cost of emulating fidelity phases
// and Dst rounding on top of one plain BLAS sgemm. BM_Pcc: a vit-base activation
// ([8, 197, 768] in a [8, 224, 768] tile-padded buffer); items_per_second = logical values per
// second, Arg 0 = gather both logical vectors then pcc() (what an op's PCC did before session
// 12), Arg 1 = pcc() reading the padded buffers in place.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <random>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/data_type.hpp"
#include "ops/numerics/fidelity_matmul.hpp"
#include "ops/numerics/number_formats.hpp"
#include "ops/numerics/pcc.hpp"

namespace {

namespace numerics = wormsim::ops::numerics;
using wormsim::arch::MathFidelity;
using wormsim::ops::DataType;

constexpr std::size_t kQuantizeRows = 1024;
constexpr std::size_t kQuantizeCols = 1024;
constexpr std::size_t kMatmulDim = 1024;

std::vector<float> random_values(std::size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

void BM_QuantizeBf16(benchmark::State& state) {
  const std::vector<float> original = random_values(kQuantizeRows * kQuantizeCols, 1);
  std::vector<float> values = original;
  for (auto _ : state) {
    numerics::quantize_bf16(values);
    benchmark::DoNotOptimize(values.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(values.size()));
}
BENCHMARK(BM_QuantizeBf16);

// Arg: 0 = tt-metal host rounding, 1 = device packer rounding.
void BM_QuantizeBfp8(benchmark::State& state) {
  const auto rounding = state.range(0) == 0 ? numerics::BfpRounding::HostNearestEven
                                            : numerics::BfpRounding::DevicePacker;
  const std::vector<float> original = random_values(kQuantizeRows * kQuantizeCols, 2);
  std::vector<float> values = original;
  for (auto _ : state) {
    // Re-quantizing already-quantized data does the same work, so no copy in the loop.
    numerics::quantize_bfp(values, kQuantizeRows, kQuantizeCols, DataType::BFloat8_B, rounding);
    benchmark::DoNotOptimize(values.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(values.size()));
  state.SetLabel(state.range(0) == 0 ? "host" : "device packer");
}
BENCHMARK(BM_QuantizeBfp8)->Arg(0)->Arg(1);

void BM_Pcc(benchmark::State& state) {
  constexpr std::size_t kBatch = 8, kTokens = 197, kPaddedTokens = 224, kWidth = 768;
  const numerics::PaddedShape shape{{1, kBatch, kTokens, kWidth},
                                    {1, kBatch, kPaddedTokens, kWidth}};
  const std::size_t padded = kBatch * kPaddedTokens * kWidth;
  const std::vector<float> golden = random_values(padded, 3);
  std::vector<float> calculated = random_values(padded, 4);
  for (std::size_t i = 0; i < padded; ++i) calculated[i] = golden[i] + 0.01f * calculated[i];
  auto logical = [&](const std::vector<float>& buffer) {
    std::vector<float> out;
    out.reserve(kBatch * kTokens * kWidth);
    for (std::size_t b = 0; b < kBatch; ++b) {
      const auto row = buffer.begin() + static_cast<std::ptrdiff_t>(b * kPaddedTokens * kWidth);
      out.insert(out.end(), row, row + static_cast<std::ptrdiff_t>(kTokens * kWidth));
    }
    return out;
  };
  for (auto _ : state) {
    const double r = state.range(0) == 0 ? numerics::pcc(logical(golden), logical(calculated))
                                         : numerics::pcc(golden, calculated, shape);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(kBatch * kTokens * kWidth));
  state.SetLabel(state.range(0) == 0 ? "gathered copies" : "in place");
}
BENCHMARK(BM_Pcc)->Arg(0)->Arg(1)->UseRealTime();

void set_matmul_flops(benchmark::State& state) {
  const auto n = static_cast<std::int64_t>(kMatmulDim);
  state.SetItemsProcessed(state.iterations() * 2 * n * n * n);
}

constexpr const char* kVectorIsaNames[] = {"baseline", "AVX2", "AVX-512", "AVX-512 BF16"};

// Args: fidelity (0 = LoFi .. 3 = HiFi4), fp32_dest_acc (1) or 16-bit Dst (0), and the widest
// vector code the 16-bit Dst kernel may use (numerics::VectorIsa; capped by the CPU).
void BM_FidelityMatmul(benchmark::State& state) {
  std::vector<float> a = random_values(kMatmulDim * kMatmulDim, 3);
  std::vector<float> b = random_values(kMatmulDim * kMatmulDim, 4);
  numerics::quantize_bf16(a);
  numerics::quantize_bf16(b);
  std::vector<float> c(kMatmulDim * kMatmulDim);
  numerics::MatmulNumerics config;
  config.fidelity = static_cast<MathFidelity>(state.range(0));
  config.fp32_dest_acc = state.range(1) != 0;
  const numerics::VectorIsa widest = numerics::numerics_vector_isa();
  numerics::limit_numerics_vector_isa(static_cast<numerics::VectorIsa>(state.range(2)));
  const numerics::VectorIsa used = numerics::numerics_vector_isa();
  for (auto _ : state) {
    numerics::fidelity_matmul(a, b, c, kMatmulDim, kMatmulDim, kMatmulDim, config);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  numerics::limit_numerics_vector_isa(widest);
  set_matmul_flops(state);
  state.SetLabel(std::string(wormsim::arch::kMathFidelityNames[state.range(0)]) +
                 (config.fp32_dest_acc
                      ? " fp32 Dst"
                      : std::string(" bf16 Dst, ") + kVectorIsaNames[static_cast<int>(used)]));
}
constexpr auto kAvx512 = static_cast<std::int64_t>(numerics::VectorIsa::Avx512);
constexpr auto kAvx512Bf16 = static_cast<std::int64_t>(numerics::VectorIsa::Avx512Bf16);
BENCHMARK(BM_FidelityMatmul)
    ->Args({0, 1, kAvx512Bf16})
    ->Args({3, 1, kAvx512Bf16})
    ->Args({0, 0, kAvx512Bf16})
    ->Args({1, 0, kAvx512})
    ->Args({1, 0, kAvx512Bf16})
    ->Args({3, 0, kAvx512Bf16})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_PlainSgemm(benchmark::State& state) {
  const std::vector<float> a = random_values(kMatmulDim * kMatmulDim, 3);
  const std::vector<float> b = random_values(kMatmulDim * kMatmulDim, 4);
  std::vector<float> c(kMatmulDim * kMatmulDim);
  const int n = static_cast<int>(kMatmulDim);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_matmul_flops(state);
}
BENCHMARK(BM_PlainSgemm)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
