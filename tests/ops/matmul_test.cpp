// Matmul: numerics against an fp64 reference of the fp32 inputs (per dtype, fidelity, Dst and
// packer accumulation, bias, fused activation, batched in1), the four program configs and the
// automatic chooser, timing against analytic bounds, and bad configs.
#include "ops/matmul/matmul.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "noc/topology.hpp"
#include "ops/compute_config.hpp"
#include "ops/isolated_run.hpp"
#include "ops/numerics/pcc.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"

namespace {

using wormsim::Error;
using wormsim::arch::MathFidelity;
using namespace wormsim::ops;

const wormsim::arch::DeviceSpec& n300() {
  static const wormsim::arch::DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n300");
  return spec;
}

TensorSpec matrix(std::uint32_t rows, std::uint32_t cols, DataType dtype, std::uint32_t batch = 1) {
  return TensorSpec(Shape{1, batch, rows, cols}, dtype, Layout::Tile);
}

MatmulProgramConfig make_config(MatmulProgramKind kind, std::uint32_t gx, std::uint32_t gy,
                                std::uint32_t in0_block_w, std::uint32_t sub_h, std::uint32_t sub_w,
                                std::uint32_t per_core_m, std::uint32_t per_core_n) {
  MatmulProgramConfig c;
  c.kind = kind;
  c.grid_x = gx;
  c.grid_y = gy;
  c.in0_block_w = in0_block_w;
  c.out_subblock_h = sub_h;
  c.out_subblock_w = sub_w;
  c.per_core_M = per_core_m;
  c.per_core_N = per_core_n;
  return c;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

OpResult run(const MatmulOptions& options, const std::vector<TensorSpec>& inputs,
             bool numerics = true, std::uint64_t seed = 7) {
  const MatmulOp op(options);
  return run_isolated(n300(), op, inputs, IsolatedRunOptions{numerics, seed});
}

// The inputs run_isolated generated (input i uses seed + i), so references can be built from
// the same fp32 values.
std::vector<Tensor> inputs_of(const std::vector<TensorSpec>& inputs, std::uint64_t seed = 7) {
  std::vector<Tensor> tensors;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    tensors.push_back(random_tensor(inputs[i], seed + i));
  return tensors;
}

// fp64 reference of act(in0 @ in1 + bias) from the fp32 (unrounded) inputs, logical elements.
// in1 may be batched ([1, B, K, N]) or shared.
std::vector<float> reference(const std::vector<Tensor>& in, const std::string& activation = "") {
  const Shape& a = in[0].spec().logical_shape();
  const Shape& b = in[1].spec().logical_shape();
  const std::size_t batches = static_cast<std::size_t>(a.w()) * a.z();
  const std::size_t m = a.y(), k = a.x(), n = b.x();
  const bool in1_batched = b.w() * b.z() > 1;
  const std::vector<float> x = in[0].logical_golden();
  const std::vector<float> y = in[1].logical_golden();
  const std::vector<float> bias =
      in.size() == 3 ? in[2].logical_golden() : std::vector<float>(n, 0.0f);
  std::vector<float> out(batches * m * n);
  std::vector<double> row(n);
  for (std::size_t bt = 0; bt < batches; ++bt) {
    const float* w = y.data() + (in1_batched ? bt * k * n : 0);
    for (std::size_t i = 0; i < m; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      for (std::size_t kk = 0; kk < k; ++kk) {
        const double xv = x[(bt * m + i) * k + kk];
        for (std::size_t j = 0; j < n; ++j) row[j] += xv * w[kk * n + j];
      }
      for (std::size_t j = 0; j < n; ++j) {
        double v = row[j] + bias[j];
        if (activation == "relu") v = std::max(v, 0.0);
        if (activation == "gelu") v = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
        out[(bt * m + i) * n + j] = static_cast<float>(v);
      }
    }
  }
  return out;
}

double pcc_vs(const std::vector<float>& expected, const Tensor& out) {
  return numerics::pcc(expected, out.logical_values());
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  return numerics::max_abs_error(a, b);
}

// ---------------------------------------------------------------------------------------------
// Numerics

struct DtypeCase {
  DataType in0;
  DataType in1;
  MathFidelity fidelity;
  std::optional<DataType> out;  // default: in0's dtype
  double min_pcc;
};

TEST(MatmulNumerics, PccAgainstFp32GoldenPerDtypeAndFidelity) {
  // 128x512 @ 512x128, uniform [-1, 1] inputs rounded to their format, 1D config with
  // in0_block_w 4: four K blocks, so three partials are spilled in the output format.
  // Thresholds sit below the PCC measured with seed 7, which is given per line.
  using DT = DataType;
  using MF = MathFidelity;
  const std::vector<DtypeCase> cases = {
      {DT::BFloat16, DT::BFloat16, MF::HiFi4, std::nullopt, 0.9999},    // 0.99995
      {DT::BFloat16, DT::BFloat16, MF::HiFi2, std::nullopt, 0.9999},    // 0.99995
      {DT::BFloat8_B, DT::BFloat8_B, MF::HiFi2, std::nullopt, 0.9995},  // 0.99988
      {DT::BFloat8_B, DT::BFloat8_B, MF::LoFi, std::nullopt, 0.9995},   // 0.99983
      {DT::BFloat16, DT::BFloat8_B, MF::HiFi2, std::nullopt, 0.9995},   // 0.99994
      {DT::BFloat8_B, DT::BFloat4_B, MF::LoFi, std::nullopt, 0.995},    // 0.99740
      {DT::BFloat16, DT::BFloat4_B, MF::HiFi2, std::nullopt, 0.995},    // 0.99746
      {DT::BFloat4_B, DT::BFloat4_B, MF::LoFi, DT::BFloat16, 0.99},     // 0.99490
      // bfp4 output: the packer truncates every spilled partial to 3 magnitude bits.
      {DT::BFloat4_B, DT::BFloat4_B, MF::LoFi, std::nullopt, 0.93},  // 0.94551
  };
  for (const DtypeCase& c : cases) {
    SCOPED_TRACE(std::string(to_string(c.in0)) + " x " + std::string(to_string(c.in1)) + " " +
                 std::string(to_string(c.fidelity)) + " -> " +
                 std::string(to_string(c.out.value_or(c.in0))));
    const std::vector<TensorSpec> specs = {matrix(128, 512, c.in0), matrix(512, 128, c.in1)};
    MatmulOptions options;
    options.compute.math_fidelity = c.fidelity;
    options.output_dtype = c.out;
    options.program_config = make_config(MatmulProgramKind::MultiCast1D, 4, 1, 4, 4, 1, 4, 1);
    options.strict = true;
    const OpResult r = run(options, specs);
    ASSERT_TRUE(r.record.pcc.has_value());
    const std::vector<float> ref = reference(inputs_of(specs));
    // The op's golden is the fp32 product of the unrounded inputs.
    const Tensor& out = r.outputs.front();
    EXPECT_LT(max_abs_diff(ref, out.logical_golden()), 1e-4);
    EXPECT_EQ(out.spec().data_type(), c.out.value_or(c.in0));
    const double measured = pcc_vs(ref, out);
    EXPECT_NEAR(*r.record.pcc, measured, 1e-6);
    EXPECT_GT(measured, c.min_pcc);
    EXPECT_LT(measured, 1.0);  // rounding is really applied
  }
}

double error_of(MathFidelity fidelity, bool fp32_acc, DataType out_dtype, std::uint32_t k) {
  const std::vector<TensorSpec> specs = {matrix(64, k, DataType::BFloat16),
                                         matrix(k, 64, DataType::BFloat16)};
  MatmulOptions options;
  options.compute.math_fidelity = fidelity;
  options.compute.fp32_dest_acc_en = fp32_acc;
  options.output_dtype = out_dtype;
  const OpResult r = run(options, specs);
  return 1.0 - pcc_vs(reference(inputs_of(specs)), r.outputs.front());
}

TEST(MatmulNumerics, FidelityOrdersTheErrorForBf16) {
  // fp32 Dst and fp32 output isolate the multiplier: LoFi keeps 5 bits of in1 (SrcA), HiFi2
  // all of in1, HiFi4 everything. LoFi's error is over an order of magnitude above HiFi4's.
  const double lofi = error_of(MathFidelity::LoFi, true, DataType::Float32, 256);
  const double hifi2 = error_of(MathFidelity::HiFi2, true, DataType::Float32, 256);
  const double hifi4 = error_of(MathFidelity::HiFi4, true, DataType::Float32, 256);
  // Measured 1 - PCC: LoFi 7.6e-5, HiFi2 5.3e-6, HiFi4 2.1e-6.
  EXPECT_GT(lofi, 10.0 * hifi4);
  EXPECT_GT(lofi, hifi2);
  EXPECT_GE(hifi2, hifi4);
  EXPECT_GT(lofi, 1e-5);  // measurable, not noise
  // The bf16-output defaults show it too.
  EXPECT_GT(error_of(MathFidelity::LoFi, false, DataType::BFloat16, 256),
            2.0 * error_of(MathFidelity::HiFi4, false, DataType::BFloat16, 256));
}

TEST(MatmulNumerics, Fp32DestAccumulationHelpsLongK) {
  // A bf16 Dst rounds the running sum after every 16-deep MVMUL step; over K = 2048 that error
  // dominates, and fp32 Dst removes it (fp32 output so the final pack does not mask it).
  const double bf16_dst = error_of(MathFidelity::HiFi4, false, DataType::Float32, 2048);
  const double fp32_dst = error_of(MathFidelity::HiFi4, true, DataType::Float32, 2048);
  EXPECT_GT(bf16_dst, 20.0 * fp32_dst);  // measured 1.5e-4 vs 2.3e-6
}

TEST(MatmulNumerics, PackerL1AccKeepsBfp8PartialsPrecise) {
  // in0_block_w = 1: 16 K blocks. Without packer_l1_acc every partial is spilled in the output
  // format (bfloat8_b) and re-quantized; with it the partials accumulate in a bf16 L1 buffer.
  const std::vector<TensorSpec> specs = {matrix(64, 512, DataType::BFloat16),
                                         matrix(512, 64, DataType::BFloat16)};
  const std::vector<float> ref = reference(inputs_of(specs));
  auto error_with = [&](bool packer_l1_acc, std::uint32_t in0_block_w) {
    MatmulOptions options;
    options.compute.math_fidelity = MathFidelity::HiFi4;
    options.compute.packer_l1_acc = packer_l1_acc;
    options.output_dtype = DataType::BFloat8_B;
    options.program_config =
        make_config(MatmulProgramKind::MultiCast2D, 2, 2, in0_block_w, 1, 1, 1, 1);
    const OpResult r = run(options, specs);
    EXPECT_TRUE(r.record.fallback_reason.empty()) << r.record.fallback_reason;
    return 1.0 - pcc_vs(ref, r.outputs.front());
  };
  const double spill = error_with(false, 1);
  const double l1_acc = error_with(true, 1);
  const double one_block = error_with(false, 16);  // no spills at all
  // Measured 1 - PCC: 3.3e-4 spilled, 5.0e-5 with packer_l1_acc, 7.3e-5 in one block.
  EXPECT_GT(spill, 3.0 * l1_acc);
  EXPECT_GT(spill, 3.0 * one_block);
}

TEST(MatmulNumerics, BiasAndFusedActivationMatchTheReference) {
  for (const std::string activation : {"", "relu", "gelu"}) {
    SCOPED_TRACE("activation '" + activation + "'");
    const std::vector<TensorSpec> specs = {
        matrix(96, 256, DataType::BFloat16), matrix(256, 160, DataType::BFloat16),
        TensorSpec(Shape{1, 1, 1, 160}, DataType::BFloat16, Layout::Tile)};
    MatmulOptions options;
    options.activation = activation;
    const OpResult r = run(options, specs);
    const std::vector<Tensor> in = inputs_of(specs);
    const std::vector<float> ref = reference(in, activation);
    const Tensor& out = r.outputs.front();
    EXPECT_LT(max_abs_diff(ref, out.logical_golden()), 1e-4);
    EXPECT_GT(pcc_vs(ref, out), 0.9999);
    // The bias and the activation really are in there.
    const std::vector<float> without_bias = reference({in[0], in[1]}, activation);
    EXPECT_LT(pcc_vs(without_bias, out), 0.999);
    if (!activation.empty()) {
      EXPECT_LT(pcc_vs(reference(in, ""), out), 0.99);
      EXPECT_TRUE(contains(r.record.attributes, "fused_activation=" + activation))
          << r.record.attributes;
    }
    if (activation == "relu") {
      const std::vector<float> values = out.logical_values();
      EXPECT_TRUE(std::all_of(values.begin(), values.end(), [](float v) { return v >= 0.0f; }));
    }
  }
}

TEST(MatmulNumerics, FusedActivationCostsSfpuTime) {
  const std::vector<TensorSpec> specs = {matrix(256, 256, DataType::BFloat16),
                                         matrix(256, 256, DataType::BFloat16)};
  MatmulOptions plain;
  plain.program_config = make_config(MatmulProgramKind::MultiCast2D, 1, 1, 8, 2, 4, 8, 8);
  MatmulOptions gelu = plain;
  gelu.activation = "gelu";
  const auto t_plain = run(plain, specs, false).record.timing.kernel_duration();
  const auto t_gelu = run(gelu, specs, false).record.timing.kernel_duration();
  // One core, 64 output tiles, each through the SFPU once.
  EXPECT_GE(t_gelu, t_plain + 64 * n300().compute.sfpu_tile_cycles.at("gelu") * 9 / 10);
  // A fused relu is the packer's (tt-metal's PACK_RELU): no time at all.
  MatmulOptions relu = plain;
  relu.activation = "relu";
  EXPECT_EQ(run(relu, specs, false).record.timing.kernel_duration(), t_plain);
}

TEST(MatmulNumerics, BatchedIn1RunsMultiCoreReusePerBatch) {
  const std::vector<TensorSpec> specs = {matrix(64, 128, DataType::BFloat16, 3),
                                         matrix(128, 96, DataType::BFloat16, 3)};
  const MatmulOp op(MatmulOptions{});
  const OpResult r = run_isolated(n300(), op, specs, IsolatedRunOptions{true, 7});
  EXPECT_TRUE(contains(r.record.attributes, "MatmulMultiCoreReuseProgramConfig("))
      << r.record.attributes;
  EXPECT_TRUE(r.record.fallback_reason.empty());
  const std::vector<Tensor> in = inputs_of(specs);
  const Tensor& out = r.outputs.front();
  EXPECT_EQ(out.spec().logical_shape(), (Shape{1, 3, 64, 96}));
  EXPECT_LT(max_abs_diff(reference(in), out.logical_golden()), 1e-4);
  EXPECT_GT(pcc_vs(reference(in), out), 0.9999);
  // Each batch used its own in1: the product with in1's batch 0 everywhere is far off.
  const TensorSpec shared_in1 = matrix(128, 96, DataType::BFloat16);
  const std::vector<float> in1_golden = in[1].logical_golden();
  const Tensor first_batch = Tensor::from_logical(
      shared_in1, std::vector<float>(in1_golden.begin(), in1_golden.begin() + 128 * 96), true);
  EXPECT_LT(pcc_vs(reference({in[0], first_batch}), out), 0.9);
  // Work is dealt in (batch, M block, N block) units, one core per unit up to the grid.
  const MatmulProgramConfig& c = op.resolved_config();
  const std::uint32_t units = 3 * (2 / c.per_core_M) * (3 / c.per_core_N);
  EXPECT_EQ(r.record.timing.core_count, std::min(units, c.grid_x * c.grid_y));
  EXPECT_GE(r.record.timing.core_count, 3u);
  EXPECT_EQ(r.record.flops, 2ull * 3 * 64 * 128 * 96);
}

// ---------------------------------------------------------------------------------------------
// Program configs

struct ConfigCase {
  std::string name;
  TensorSpec in0;
  TensorSpec in1;
  MemoryConfig out_memory;
  MatmulProgramConfig config;
  std::uint32_t cores;
};

TEST(MatmulConfigs, EveryProgramConfigRunsAndAgrees) {
  // 64x256 @ 256x384: 2 x 8 x 12 tiles, in0_block_w = 1 everywhere so the K-block spills (and
  // so the values) are the same for every config.
  const auto& dev = n300();
  const TensorSpec in0 = matrix(64, 256, DataType::BFloat16);
  const TensorSpec in1 = matrix(256, 384, DataType::BFloat8_B);
  const TensorSpec out = matrix(64, 384, DataType::BFloat16);
  const TensorSpec in1_dram_sharded = in1.with_memory_config(dram_width_sharded(in1, dev));

  MatmulProgramConfig transposed = make_config(MatmulProgramKind::MultiCast2D, 2, 4, 1, 1, 3, 1, 3);
  transposed.transpose_mcast = true;
  MatmulProgramConfig mcast_in0 = make_config(MatmulProgramKind::MultiCast1D, 6, 2, 1, 2, 1, 2, 1);
  mcast_in0.mcast_in0 = true;
  MatmulProgramConfig mcast_in1 = make_config(MatmulProgramKind::MultiCast1D, 2, 1, 1, 1, 4, 1, 12);
  mcast_in1.mcast_in0 = false;

  const std::vector<ConfigCase> cases = {
      {"reuse", in0, in1, MemoryConfig::dram_interleaved(),
       make_config(MatmulProgramKind::MultiCoreReuse, 4, 2, 1, 1, 3, 1, 3), 8},
      {"2d", in0, in1, MemoryConfig::dram_interleaved(),
       make_config(MatmulProgramKind::MultiCast2D, 4, 2, 1, 1, 3, 1, 3), 8},
      {"2d block-sharded", in0.with_memory_config(block_sharded(in0, 4, 2)), in1,
       block_sharded(out, 4, 2), make_config(MatmulProgramKind::MultiCast2D, 4, 2, 1, 1, 3, 1, 3),
       8},
      {"2d transpose_mcast", in0, in1, MemoryConfig::dram_interleaved(), transposed, 8},
      {"1d mcast_in0", in0.with_memory_config(width_sharded(in0, 8, dev)), in1,
       MemoryConfig::dram_interleaved(), mcast_in0, 12},
      {"1d mcast_in1", in0.with_memory_config(height_sharded(in0, 2, dev)), in1,
       height_sharded(out, 2, dev), mcast_in1, 2},
      {"dram-sharded", in0.with_memory_config(width_sharded(in0, 8, dev)), in1_dram_sharded,
       width_sharded(out, 12, dev),
       make_config(MatmulProgramKind::DramSharded, 8, 2, 1, 1, 1, 2, 1), 12},
  };
  std::optional<std::vector<float>> first;
  const std::vector<float> ref = reference(inputs_of({in0, in1}));
  for (const ConfigCase& c : cases) {
    SCOPED_TRACE(c.name);
    MatmulOptions options;
    options.program_config = c.config;
    options.output_memory = c.out_memory;
    options.strict = true;
    OpResult r;
    ASSERT_NO_THROW(r = run(options, {c.in0, c.in1}));
    EXPECT_TRUE(contains(r.record.attributes, std::string(to_string(c.config.kind)) + "("))
        << r.record.attributes;
    EXPECT_EQ(r.record.timing.core_count, c.cores);
    EXPECT_GT(r.record.timing.kernel_duration(), 0u);
    const std::vector<float> values = r.outputs.front().logical_values();
    EXPECT_GT(numerics::pcc(ref, values), 0.999);
    if (!first)
      first = values;
    else
      EXPECT_EQ(values, *first) << "values differ from the first config's";
  }
}

TEST(MatmulConfigs, HeightShardedIn0HeldByAnotherCoreIsRead) {
  // in0's two height shards live on cores (0,0) and (1,0). A 2x1 program grid finds its rows
  // in its own L1; a 1x2 grid puts the second row block on (0,1), which has to read its 8 in0
  // tiles from (1,0) instead of getting them for free.
  const auto& dev = n300();
  const TensorSpec a = matrix(64, 256, DataType::BFloat16);
  const std::vector<TensorSpec> specs = {a.with_memory_config(height_sharded(a, 2, dev)),
                                         matrix(256, 384, DataType::BFloat16)};
  auto timing = [&](std::uint32_t gx, std::uint32_t gy) {
    MatmulProgramConfig c = make_config(MatmulProgramKind::MultiCast1D, gx, gy, 1, 1, 4, 1, 12);
    c.mcast_in0 = false;
    MatmulOptions options;
    options.program_config = c;
    options.strict = true;
    return run(options, specs, false).record.timing;
  };
  const ProgramTiming aligned = timing(2, 1);
  const ProgramTiming misaligned = timing(1, 2);
  EXPECT_EQ(misaligned.noc_bytes, aligned.noc_bytes + 8u * 2048u);
  // The extra read overlaps the in1 multicasts, so it need not lengthen the kernel.
  EXPECT_GE(misaligned.kernel_duration(), aligned.kernel_duration());
}

TEST(MatmulConfigs, AutomaticChooserFollowsTheLayouts) {
  const auto& dev = n300();
  const ComputeKernelConfig compute{};
  const MemoryConfig dram = MemoryConfig::dram_interleaved();
  auto choose = [&](const TensorSpec& a, const TensorSpec& b) {
    const MatmulProgramConfig c = choose_matmul_config(a, b, dram, compute, dev);
    EXPECT_EQ(matmul_config_problem(c, a, b, compute, dev), "") << to_attribute_string(c);
    return c;
  };
  {  // Large interleaved operands: 2D over the full grid.
    const MatmulProgramConfig c =
        choose(matrix(1024, 1024, DataType::BFloat16), matrix(1024, 1024, DataType::BFloat16));
    EXPECT_EQ(c.kind, MatmulProgramKind::MultiCast2D);
    EXPECT_EQ(c.grid_x * c.grid_y, 64u);
    EXPECT_EQ(c.per_core_M, 4u);
    EXPECT_EQ(c.per_core_N, 4u);
    EXPECT_LE(c.out_subblock_h * c.out_subblock_w, 8u);
    EXPECT_EQ(c.out_subblock_h * c.out_subblock_w, 8u);  // the largest that fits Dst
  }
  {  // Block-sharded in0: 2D on the shard grid.
    const TensorSpec a = matrix(256, 512, DataType::BFloat16);
    const MatmulProgramConfig c =
        choose(a.with_memory_config(block_sharded(a, 4, 2)), matrix(512, 256, DataType::BFloat16));
    EXPECT_EQ(c.kind, MatmulProgramKind::MultiCast2D);
    EXPECT_EQ(c.grid_x, 4u);
    EXPECT_EQ(c.grid_y, 2u);
    EXPECT_EQ(512u / 32 / 4 % c.in0_block_w, 0u);  // a K block never straddles two shards
  }
  {  // Width-sharded activations (decode): 1D, in0 multicast.
    const TensorSpec a = matrix(32, 1024, DataType::BFloat16);
    const MatmulProgramConfig c = choose(a.with_memory_config(width_sharded(a, 16, dev)),
                                         matrix(1024, 2048, DataType::BFloat8_B));
    EXPECT_EQ(c.kind, MatmulProgramKind::MultiCast1D);
    EXPECT_TRUE(c.mcast_in0);
  }
  {  // Few rows, interleaved: 1D mcast_in0 too.
    const MatmulProgramConfig c =
        choose(matrix(32, 512, DataType::BFloat16), matrix(512, 1024, DataType::BFloat16));
    EXPECT_EQ(c.kind, MatmulProgramKind::MultiCast1D);
    EXPECT_TRUE(c.mcast_in0);
  }
  {  // Height-sharded tall activations: 1D, in1 multicast.
    const TensorSpec a = matrix(2048, 256, DataType::BFloat16);
    const MatmulProgramConfig c = choose(a.with_memory_config(height_sharded(a, 32, dev)),
                                         matrix(256, 256, DataType::BFloat16));
    EXPECT_EQ(c.kind, MatmulProgramKind::MultiCast1D);
    EXPECT_FALSE(c.mcast_in0);
    EXPECT_EQ(c.per_core_M, 2u);
  }
  {  // Width-sharded in0 and DRAM-sharded weights: the DRAM-sharded program.
    const TensorSpec a = matrix(32, 768, DataType::BFloat16);
    const TensorSpec w = matrix(768, 1536, DataType::BFloat8_B);
    const MatmulProgramConfig c = choose(a.with_memory_config(width_sharded(a, 12, dev)),
                                         w.with_memory_config(dram_width_sharded(w, dev)));
    EXPECT_EQ(c.kind, MatmulProgramKind::DramSharded);
    EXPECT_EQ(c.per_core_N, 4u);  // 48 tiles over 12 cores
  }
  {  // Batched in1: MultiCoreReuse.
    const MatmulProgramConfig c =
        choose(matrix(64, 64, DataType::BFloat16, 8), matrix(64, 64, DataType::BFloat16, 8));
    EXPECT_EQ(c.kind, MatmulProgramKind::MultiCoreReuse);
  }
}

// ---------------------------------------------------------------------------------------------
// Timing

struct TimingRun {
  OpRecord record;
  MatmulProgramConfig config;
};

TimingRun timed(std::uint32_t m, std::uint32_t k, std::uint32_t n, DataType dtype,
                MathFidelity fidelity, std::optional<MatmulProgramConfig> config = std::nullopt) {
  MatmulOptions options;
  options.compute.math_fidelity = fidelity;
  options.program_config = config;
  options.strict = config.has_value();
  const MatmulOp op(options);
  const std::vector<TensorSpec> specs = {matrix(m, k, dtype), matrix(k, n, dtype)};
  OpResult r = run_isolated(n300(), op, specs, IsolatedRunOptions{false, 0});
  return {r.record, op.resolved_config()};
}

// Chip DRAM bandwidth in bytes per cycle (what the banks achieve).
double chip_dram_bytes_per_cycle() {
  return n300().dram.bank_achievable_bytes_per_cycle *
         static_cast<double>(n300().dram.banks.size());
}

TEST(MatmulTiming, KernelDurationRespectsComputeAndBandwidthBounds) {
  struct Shape3 {
    std::uint32_t m, k, n;
    DataType dtype;
    MathFidelity fidelity;
    bool large;
  };
  const std::vector<Shape3> shapes = {
      {1024, 1024, 1024, DataType::BFloat16, MathFidelity::HiFi4, true},
      {1024, 1024, 1024, DataType::BFloat8_B, MathFidelity::HiFi2, true},
      {1024, 2048, 1024, DataType::BFloat8_B, MathFidelity::LoFi, true},
      {2048, 1024, 2048, DataType::BFloat16, MathFidelity::HiFi2, true},
      {32, 2048, 4096, DataType::BFloat8_B, MathFidelity::HiFi2, true},  // decode-like: DRAM bound
      {64, 64, 64, DataType::BFloat16, MathFidelity::HiFi4, false},
      {96, 320, 160, DataType::BFloat4_B, MathFidelity::LoFi, false},
  };
  for (const Shape3& s : shapes) {
    SCOPED_TRACE(std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n) + " " +
                 std::string(to_string(s.dtype)) + " " + std::string(to_string(s.fidelity)));
    const TimingRun t = timed(s.m, s.k, s.n, s.dtype, s.fidelity);
    const auto duration = static_cast<double>(t.record.timing.kernel_duration());
    const std::uint64_t kt = (s.k + 31) / 32;
    const double tile_cycles = n300().compute.matmul_tile_cycles[static_cast<int>(s.fidelity)];
    // The busiest core multiplies per_core_M x per_core_N x Kt tile pairs.
    const double compute =
        static_cast<double>(t.config.per_core_M) * t.config.per_core_N * kt * tile_cycles;
    const double in1_bytes = static_cast<double>(matrix(s.k, s.n, s.dtype).total_bytes());
    const double all_dram_bytes =
        static_cast<double>(t.record.dram_bytes_read + t.record.dram_bytes_written);
    const double bandwidth = all_dram_bytes / chip_dram_bytes_per_cycle();
    EXPECT_GE(duration, compute);
    EXPECT_GE(duration, in1_bytes / chip_dram_bytes_per_cycle());
    EXPECT_GE(duration, bandwidth);
    // tt-metal's perf model is a lower bound too.
    EXPECT_GE(duration, t.record.perf_model.ideal_ns() * n300().clock_mhz / 1000.0);
    if (s.large) {
      EXPECT_LT(duration, 3.0 * std::max(compute, bandwidth));
    }
  }
}

TEST(MatmulTiming, PerfModelIsTheIdealOverTheFullGrid) {
  const TimingRun t = timed(1024, 1024, 1024, DataType::BFloat16, MathFidelity::HiFi2);
  // 32 x 32 x 32 tile products over 64 cores at 32 cycles each.
  EXPECT_DOUBLE_EQ(t.record.perf_model.compute_ns, 32.0 * 32 * 32 * 32 / 64);
  // Largest DRAM tensor (every one is 2 MiB) over the chip's DRAM bandwidth.
  EXPECT_NEAR(t.record.perf_model.bandwidth_ns, 2097152.0 / chip_dram_bytes_per_cycle(), 1e-6);
  EXPECT_EQ(t.record.flops, 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(t.record.dram_bytes_read, 2u * 2097152u);
  EXPECT_EQ(t.record.dram_bytes_written, 2097152u);
}

TEST(MatmulTiming, HiFi4IsSlowerThanLoFiWhenComputeBound) {
  // Operands in L1 (in0 block-sharded, in1 L1 interleaved) so DRAM does not hide the math.
  const TensorSpec a = matrix(512, 1024, DataType::BFloat8_B);
  const TensorSpec in0 = a.with_memory_config(block_sharded(a, 4, 4));
  const TensorSpec in1 =
      matrix(1024, 512, DataType::BFloat8_B).with_memory_config(MemoryConfig::l1_interleaved());
  auto duration = [&](MathFidelity fidelity) {
    MatmulOptions options;
    options.compute.math_fidelity = fidelity;
    options.output_memory = block_sharded(matrix(512, 512, DataType::BFloat8_B), 4, 4);
    return static_cast<double>(run(options, {in0, in1}, false).record.timing.kernel_duration());
  };
  const double lofi = duration(MathFidelity::LoFi);
  const double hifi2 = duration(MathFidelity::HiFi2);
  const double hifi4 = duration(MathFidelity::HiFi4);
  // Measured 15.5k / 23.7k / 40.1k cycles: HiFi4 runs at ~80% of its 32768-cycle math bound
  // (4 x 4 output tiles x 32 K tiles x 64 cycles per core).
  EXPECT_GT(hifi2, 1.25 * lofi);
  EXPECT_GT(hifi4, 1.4 * hifi2);
  EXPECT_GT(hifi4, 2.0 * lofi);
  EXPECT_GE(hifi4, 4.0 * 4 * 32 * n300().compute.matmul_tile_cycles[3]);
}

TEST(MatmulTiming, LargerGridIsFasterForLargeShapes) {
  auto on_grid = [](std::uint32_t g) {
    const std::uint32_t per_core = 32 / g;
    return timed(1024, 1024, 1024, DataType::BFloat8_B, MathFidelity::HiFi2,
                 make_config(MatmulProgramKind::MultiCast2D, g, g, 4, 2, 4, per_core, per_core))
        .record.timing;
  };
  const auto t2 = on_grid(2);
  const auto t4 = on_grid(4);
  const auto t8 = on_grid(8);
  EXPECT_EQ(t2.core_count, 4u);
  EXPECT_EQ(t8.core_count, 64u);
  EXPECT_GT(t2.kernel_duration(), 3 * t4.kernel_duration());
  EXPECT_GT(t4.kernel_duration(), 2 * t8.kernel_duration());
}

TEST(MatmulTiming, PackerL1AccSkipsTheReloads) {
  const auto config = make_config(MatmulProgramKind::MultiCast2D, 2, 2, 1, 2, 4, 4, 4);
  const std::vector<TensorSpec> specs = {
      matrix(256, 1024, DataType::BFloat8_B).with_memory_config(MemoryConfig::l1_interleaved()),
      matrix(1024, 256, DataType::BFloat8_B).with_memory_config(MemoryConfig::l1_interleaved())};
  auto duration = [&](bool l1_acc) {
    MatmulOptions options;
    options.compute.math_fidelity = MathFidelity::LoFi;
    options.compute.packer_l1_acc = l1_acc;
    options.program_config = config;
    options.strict = true;
    return run(options, specs, false).record.timing.kernel_duration();
  };
  EXPECT_LT(duration(true), duration(false));
}

// A K step takes the longer of the math and the busier unpacker; the wider subblock side is
// streamed one tile per product (in1 into SrcA when out_subblock_w >= out_subblock_h).
TEST(MatmulTiming, KStepIsTheLongerOfMathAndTheBusierUnpacker) {
  const auto& s = n300();
  const std::uint64_t overhead = s.compute.matmul_inner_step_overhead_cycles;
  const std::uint64_t bf16 = unpack_tile_cycles(s, DataType::BFloat16);
  const std::uint64_t bfp8 = unpack_tile_cycles(s, DataType::BFloat8_B);
  const auto math = [&](MathFidelity f) {
    return std::uint64_t{s.compute.matmul_tile_cycles[static_cast<int>(f)]};
  };
  ASSERT_GT(bf16, math(MathFidelity::HiFi2));  // the fitted bf16 unpack exceeds HiFi2 math
  // 1x8, bf16 in1 streamed into SrcA: 8 unpacks per step bound it at HiFi2.
  EXPECT_EQ(
      matmul_k_step_cycles(s, MathFidelity::HiFi2, 1, 8, DataType::BFloat16, DataType::BFloat16),
      8 * bf16 + overhead);
  // HiFi4 math outlasts the unpacking.
  EXPECT_EQ(
      matmul_k_step_cycles(s, MathFidelity::HiFi4, 1, 8, DataType::BFloat16, DataType::BFloat16),
      8 * math(MathFidelity::HiFi4) + overhead);
  // Block-float weights streamed: math-bound at HiFi2 even with bf16 activations.
  EXPECT_EQ(
      matmul_k_step_cycles(s, MathFidelity::HiFi2, 1, 8, DataType::BFloat16, DataType::BFloat8_B),
      std::max(8 * math(MathFidelity::HiFi2), 8 * bfp8) + overhead);
  // 4x2 streams in0 into SrcB instead: bf16 activations bind LoFi, bfp8 ones do not.
  EXPECT_EQ(
      matmul_k_step_cycles(s, MathFidelity::LoFi, 4, 2, DataType::BFloat16, DataType::BFloat8_B),
      8 * bf16 + overhead);
  EXPECT_EQ(
      matmul_k_step_cycles(s, MathFidelity::LoFi, 4, 2, DataType::BFloat8_B, DataType::BFloat8_B),
      std::max(8 * math(MathFidelity::LoFi), 8 * bfp8) + overhead);
}

// TT-NN's 2D factory with interleaved in0 swaps the NoCs of the receivers right of the middle
// column: their output writes to DRAM travel on NoC1, the others' on NoC0. With in0 sharded it
// does not, and all writes stay on NoC0.
TEST(MatmulTiming, TwoDimInterleavedIn0SplitsTheOutputWritesOverBothNocs) {
  const auto& s = n300();
  const auto noc_bytes = [&](bool in0_sharded) {
    Device device(s);
    const TensorSpec a_plain = matrix(1024, 256, DataType::BFloat16);
    const TensorSpec a =
        in0_sharded ? a_plain.with_memory_config(block_sharded(a_plain, 8, 8)) : a_plain;
    const TensorSpec b = matrix(256, 1024, DataType::BFloat16);
    MatmulOptions options;
    options.program_config = make_config(MatmulProgramKind::MultiCast2D, 8, 8, 2, 1, 4, 4, 4);
    const MatmulOp op(options);
    device.allocate(0, a, "in0");
    device.allocate(0, b, "in1");
    for (const TensorSpec& out : op.output_specs({a, b}, s)) device.allocate(0, out, "out");
    execute(device, op, {Tensor(a), Tensor(b)}, ExecuteOptions{0, false, {}});
    const wormsim::noc::Topology& topo = device.fabric(0).topology();
    std::array<std::uint64_t, 2> bytes{0, 0};
    for (wormsim::noc::LinkId link = 0; link < topo.link_count(); ++link)
      bytes[static_cast<int>(topo.link_noc(link))] += device.fabric(0).link_stats(link).units;
    return bytes;
  };
  const auto interleaved = noc_bytes(false);
  const auto sharded = noc_bytes(true);
  // NoC0 carries in1's multicast and the output writes in both runs (in0 moves on NoC1), and
  // they are the same in both; with the split, the writes of the 21 swapped cores (right of
  // column 4, below the sender row) leave NoC0: 7.6 MB of 31.9 MB of link traffic here.
  EXPECT_LT(interleaved[0], sharded[0] * 9 / 10);
  EXPECT_GT(interleaved[1], interleaved[0] / 2);
}

TEST(MatmulTiming, SameRunTwiceGivesIdenticalCycles) {
  const auto a = timed(512, 1024, 768, DataType::BFloat8_B, MathFidelity::HiFi2).record.timing;
  const auto b = timed(512, 1024, 768, DataType::BFloat8_B, MathFidelity::HiFi2).record.timing;
  EXPECT_EQ(a.kernel_duration(), b.kernel_duration());
  EXPECT_EQ(a.fw_duration(), b.fw_duration());
  EXPECT_EQ(a.risc_duration, b.risc_duration);
  EXPECT_EQ(a.per_core_min, b.per_core_min);
  EXPECT_EQ(a.per_core_max, b.per_core_max);
  EXPECT_EQ(a.noc_bytes, b.noc_bytes);
  EXPECT_EQ(a.compute_busy_cycles, b.compute_busy_cycles);
  EXPECT_DOUBLE_EQ(a.cb_wait_front_avg, b.cb_wait_front_avg);
}

TEST(MatmulTiming, RecordFieldsAreConsistent) {
  const OpRecord r = timed(256, 512, 256, DataType::BFloat16, MathFidelity::HiFi4).record;
  const auto& t = r.timing;
  EXPECT_EQ(r.op_code, "Matmul");
  ASSERT_TRUE(r.math_fidelity.has_value());
  EXPECT_EQ(*r.math_fidelity, MathFidelity::HiFi4);
  EXPECT_FALSE(r.pcc.has_value());  // numerics off
  EXPECT_EQ(t.fw_duration(), t.kernel_duration() + 2ull * n300().compute.kernel_launch_cycles);
  EXPECT_LE(t.per_core_max, t.kernel_duration());
  EXPECT_LE(t.per_core_min, t.per_core_max);
  for (std::size_t risc = 0; risc < kRiscCount; ++risc) {
    EXPECT_GT(t.risc_duration[risc], 0u) << to_string(static_cast<Risc>(risc));
    EXPECT_LE(t.risc_duration[risc], t.kernel_duration());
  }
  // Every tile product was charged on some core.
  EXPECT_GE(t.compute_busy_cycles, 8ull * 16 * 8 * n300().compute.matmul_tile_cycles[3]);
  EXPECT_GT(t.l1_cb_peak_bytes, 0u);
  EXPECT_TRUE(contains(
      r.attributes,
      "'compute_kernel_config': 'WormholeComputeKernelConfig(math_fidelity=MathFidelity::HiFi4"))
      << r.attributes;
}

// ---------------------------------------------------------------------------------------------
// Bad configs

std::string error_of_run(const MatmulOptions& options, const std::vector<TensorSpec>& specs) {
  try {
    run(options, specs, false);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(MatmulBadConfigs, In0BlockWNotDividingKFallsBackOrFailsWhenStrict) {
  const std::vector<TensorSpec> specs = {matrix(256, 256, DataType::BFloat16),
                                         matrix(256, 256, DataType::BFloat16)};
  MatmulOptions options;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 4, 4, 3, 2, 2, 2, 2);
  const OpResult r = run(options, specs, false);
  EXPECT_TRUE(contains(r.record.fallback_reason, "in0_block_w=3 does not divide K=8 tiles"))
      << r.record.fallback_reason;
  // The replacement is valid and is what the record prints.
  EXPECT_FALSE(contains(r.record.attributes, "in0_block_w=3")) << r.record.attributes;
  EXPECT_GT(r.record.timing.kernel_duration(), 0u);

  options.strict = true;
  const std::string msg = error_of_run(options, specs);
  EXPECT_TRUE(contains(msg, "in0_block_w=3 does not divide K=8 tiles")) << msg;
  EXPECT_TRUE(contains(msg, "strict")) << msg;
}

TEST(MatmulBadConfigs, SubblockLargerThanDst) {
  const std::vector<TensorSpec> specs = {matrix(256, 256, DataType::BFloat16),
                                         matrix(256, 256, DataType::BFloat16)};
  MatmulOptions options;
  options.strict = true;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 2, 2, 2, 4, 4, 4, 4);
  EXPECT_TRUE(contains(error_of_run(options, specs),
                       "out_subblock_h*out_subblock_w = 16 exceeds the 8 Dst tiles"));
  // fp32 Dst halves the room: 2x4 no longer fits.
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 2, 2, 2, 2, 4, 4, 4);
  options.compute.fp32_dest_acc_en = true;
  EXPECT_TRUE(contains(error_of_run(options, specs), "exceeds the 4 Dst tiles"));
  options.compute.fp32_dest_acc_en = false;
  EXPECT_EQ(error_of_run(options, specs), "");
  // Non-strict: recorded fallback.
  options.strict = false;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 2, 2, 2, 4, 4, 4, 4);
  EXPECT_TRUE(contains(run(options, specs, false).record.fallback_reason, "Dst tiles"));
}

TEST(MatmulBadConfigs, GridLargerThanDevice) {
  const std::vector<TensorSpec> specs = {matrix(288, 256, DataType::BFloat16),
                                         matrix(256, 256, DataType::BFloat16)};
  MatmulOptions options;
  options.strict = true;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 8, 9, 1, 1, 1, 1, 1);
  const std::string msg = error_of_run(options, specs);
  EXPECT_TRUE(contains(msg, "grid 8x9 does not fit the 8x8 worker grid")) << msg;
}

TEST(MatmulBadConfigs, BlocksNotCoveringTheOutput) {
  const std::vector<TensorSpec> specs = {matrix(256, 256, DataType::BFloat16),
                                         matrix(256, 256, DataType::BFloat16)};
  MatmulOptions options;
  options.strict = true;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 2, 2, 1, 1, 1, 2, 2);
  const std::string msg = error_of_run(options, specs);
  EXPECT_TRUE(contains(msg, "cover 4x4 tiles but the output is 8x8")) << msg;
}

TEST(MatmulBadConfigs, ShapeMismatch) {
  const std::string msg = error_of_run(
      MatmulOptions{}, {matrix(64, 64, DataType::BFloat16), matrix(128, 64, DataType::BFloat16)});
  EXPECT_TRUE(contains(msg, "Matmul shapes do not match")) << msg;
  const std::string batch = error_of_run(MatmulOptions{}, {matrix(64, 64, DataType::BFloat16, 2),
                                                           matrix(64, 64, DataType::BFloat16, 3)});
  EXPECT_TRUE(contains(batch, "batch mismatch")) << batch;
  const std::string layout = error_of_run(
      MatmulOptions{}, {TensorSpec(Shape{1, 1, 64, 64}, DataType::BFloat16, Layout::RowMajor),
                        matrix(64, 64, DataType::BFloat16)});
  EXPECT_TRUE(contains(layout, "TILE layout")) << layout;
  const std::string bias = error_of_run(
      MatmulOptions{}, {matrix(64, 64, DataType::BFloat16), matrix(64, 64, DataType::BFloat16),
                        TensorSpec(Shape{1, 1, 1, 32}, DataType::BFloat16, Layout::Tile)});
  EXPECT_TRUE(contains(bias, "bias")) << bias;
}

TEST(MatmulBadConfigs, UnknownActivationIsAnError) {
  MatmulOptions options;
  options.activation = "nosuchfn";
  const std::string msg = error_of_run(
      options, {matrix(64, 64, DataType::BFloat16), matrix(64, 64, DataType::BFloat16)});
  EXPECT_TRUE(contains(msg, "nosuchfn")) << msg;
}

TEST(MatmulBadConfigs, BatchedIn1NeedsMultiCoreReuse) {
  MatmulOptions options;
  options.strict = true;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 2, 2, 1, 1, 1, 1, 1);
  const std::string msg = error_of_run(
      options, {matrix(64, 64, DataType::BFloat16, 2), matrix(64, 64, DataType::BFloat16, 2)});
  EXPECT_TRUE(contains(msg, "batched in1 runs MultiCoreReuse")) << msg;
}

TEST(MatmulBadConfigs, CircularBuffersLargerThanL1) {
  // per_core 16 x 16 with in0_block_w 8 in bf16 needs 1.5 MiB of CBs per core.
  const std::vector<TensorSpec> specs = {matrix(512, 512, DataType::BFloat16),
                                         matrix(512, 512, DataType::BFloat16)};
  MatmulOptions options;
  options.strict = true;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 1, 1, 8, 2, 4, 16, 16);
  const std::string msg = error_of_run(options, specs);
  EXPECT_TRUE(contains(msg, "circular buffers need 1572864 B of L1 per core")) << msg;
  EXPECT_TRUE(contains(msg, "more than the 1395424 B usable")) << msg;
  // Non-strict: an automatic config that fits replaces it.
  options.strict = false;
  const OpResult r = run(options, specs, false);
  EXPECT_TRUE(contains(r.record.fallback_reason, "circular buffers need"))
      << r.record.fallback_reason;
  EXPECT_LE(r.record.timing.l1_cb_peak_bytes, n300().l1.usable_bytes);
}

TEST(MatmulBadConfigs, ResidentShardsCountAgainstTheCircularBuffers) {
  // The CBs alone (1 MiB) fit, but not next to the 384 KiB in0 shard on the single core.
  const TensorSpec a = matrix(384, 512, DataType::BFloat16);
  MatmulOptions options;
  options.strict = true;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 1, 1, 8, 2, 4, 12, 12);
  options.output_memory = block_sharded(matrix(384, 384, DataType::BFloat16), 1, 1);
  const std::string msg = error_of_run(options, {a.with_memory_config(block_sharded(a, 1, 1)),
                                                 matrix(512, 384, DataType::BFloat16)});
  EXPECT_TRUE(contains(msg, "next to 393216 B of resident operands")) << msg;
}

TEST(MatmulBadConfigs, L1OverflowAtBuildNamesTheCoreAndTheBytes) {
  // L1 already holds another op's 1 MiB tensor on core (0,0): the program's CBs (640 KiB for
  // 8x8 tiles per core, in0_block_w 8) no longer fit there, which only the allocator can see.
  const auto& dev = n300();
  Device device(dev);
  const TensorSpec other = matrix(512, 1024, DataType::BFloat16);
  device.allocate(0, other.with_memory_config(block_sharded(other, 1, 1)), "resident_activation");
  MatmulOptions options;
  options.program_config = make_config(MatmulProgramKind::MultiCast2D, 1, 1, 8, 2, 4, 8, 8);
  const MatmulOp op(options);
  const std::vector<Tensor> inputs = {Tensor(matrix(256, 256, DataType::BFloat16)),
                                      Tensor(matrix(256, 256, DataType::BFloat16))};
  try {
    execute(device, op, inputs, ExecuteOptions{0, false, {}});
    FAIL() << "CBs placed over a full L1";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(contains(msg, "L1 out of memory on chip 0 core (x=0,y=0)")) << msg;
    EXPECT_TRUE(contains(msg, "needs")) << msg;
    EXPECT_TRUE(contains(msg, "Matmul:")) << msg;  // the CB is labelled with the op's program
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Batched matmul (bmm) timing: attention's Q @ K^T and scores @ V, [1,B,M,K] x [1,B,K,N]

TEST(MatmulTiming, BatchedBmmRespectsComputeAndBandwidthBounds) {
  struct Bmm {
    std::uint32_t batch, m, k, n;
    MathFidelity fidelity;
  };
  // 16 heads of Q K^T (seq 512, head dim 64) and of scores @ V.
  const std::vector<Bmm> cases = {{16, 512, 64, 512, MathFidelity::HiFi2},
                                  {16, 512, 512, 64, MathFidelity::HiFi2},
                                  {8, 256, 256, 256, MathFidelity::HiFi4}};
  for (const Bmm& c : cases) {
    SCOPED_TRACE(std::to_string(c.batch) + "x" + std::to_string(c.m) + "x" + std::to_string(c.k) +
                 "x" + std::to_string(c.n));
    MatmulOptions options;
    options.compute.math_fidelity = c.fidelity;
    const MatmulOp op(options);
    const std::vector<TensorSpec> specs = {matrix(c.m, c.k, DataType::BFloat16, c.batch),
                                           matrix(c.k, c.n, DataType::BFloat16, c.batch)};
    const OpResult r = run_isolated(n300(), op, specs, IsolatedRunOptions{false, 0});
    const MatmulProgramConfig& cfg = op.resolved_config();
    EXPECT_EQ(cfg.kind, MatmulProgramKind::MultiCoreReuse);
    EXPECT_TRUE(r.record.fallback_reason.empty()) << r.record.fallback_reason;
    EXPECT_EQ(r.record.flops, 2ull * c.batch * c.m * c.k * c.n);
    // Every operand crosses DRAM once: both inputs read, the output written.
    EXPECT_EQ(r.record.dram_bytes_read, specs[0].total_bytes() + specs[1].total_bytes());
    EXPECT_EQ(r.record.dram_bytes_written,
              matrix(c.m, c.n, DataType::BFloat16, c.batch).total_bytes());
    const double duration = static_cast<double>(r.record.timing.kernel_duration());
    const double mt = c.m / 32.0, kt = c.k / 32.0, nt = c.n / 32.0;
    const double tile_cycles = n300().compute.matmul_tile_cycles[static_cast<int>(c.fidelity)];
    // Work units are (batch, M block, N block); the busiest core does ceil(units / cores) of
    // them, each per_core_M x per_core_N x Kt tile products.
    const double units = c.batch * (mt / cfg.per_core_M) * (nt / cfg.per_core_N);
    const double cores = static_cast<double>(r.record.timing.core_count);
    ASSERT_GT(cores, 0.0);
    const double per_unit = static_cast<double>(cfg.per_core_M) * cfg.per_core_N * kt * tile_cycles;
    const double compute = std::ceil(units / cores) * per_unit;
    const double total_products = c.batch * mt * nt * kt;
    EXPECT_GE(compute, total_products * tile_cycles / 64.0);
    const double bandwidth =
        static_cast<double>(r.record.dram_bytes_read + r.record.dram_bytes_written) /
        chip_dram_bytes_per_cycle();
    EXPECT_GE(duration, compute);
    EXPECT_GE(duration, bandwidth);
    EXPECT_GE(duration, r.record.perf_model.ideal_ns() * n300().clock_mhz / 1000.0);
    // Generous upper bound: 6x the larger lower bound (measured 2.9x to 4.9x: the chooser
    // deals whole (batch, block) units, so only 8 to 32 cores run, and each core's DRAM reads
    // are not spread over the chip's banks' full bandwidth).
    EXPECT_LE(duration, 6.0 * std::max(compute, bandwidth));
    EXPECT_LE(cores, units);
  }
}

// A graph node or `wormsim op` matmul without a compute config gets TT-NN's defaults
// (ttnn matmul_device_operation.cpp create_matmul_attributes), not the struct's.
TEST(MatmulRegistration, ComputeConfigDefaultsFollowTtnn) {
  const wormsim::arch::DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n300");
  auto compute_of = [&](DataType in0, DataType in1, const nlohmann::json& params) {
    const TensorSpec a(Shape({1, 1, 256, 256}), in0, Layout::Tile);
    const TensorSpec b(Shape({1, 1, 256, 256}), in1, Layout::Tile);
    const auto op = make_operation("matmul", params, {a, b}, spec);
    return dynamic_cast<const MatmulOp&>(*op).options().compute;
  };
  const ComputeKernelConfig bf16 =
      compute_of(DataType::BFloat16, DataType::BFloat16, nlohmann::json::object());
  EXPECT_EQ(bf16.math_fidelity, MathFidelity::HiFi2);
  EXPECT_TRUE(bf16.packer_l1_acc);
  EXPECT_FALSE(bf16.fp32_dest_acc_en);
  EXPECT_FALSE(bf16.math_approx_mode);
  // Two block-float inputs, or a user program config, drop to LoFi.
  EXPECT_EQ(
      compute_of(DataType::BFloat8_B, DataType::BFloat8_B, nlohmann::json::object()).math_fidelity,
      MathFidelity::LoFi);
  EXPECT_EQ(
      compute_of(DataType::BFloat16, DataType::BFloat8_B, nlohmann::json::object()).math_fidelity,
      MathFidelity::HiFi2);
  const nlohmann::json with_config = {{"program_config",
                                       {{"kind", "2d"},
                                        {"grid", {8, 8}},
                                        {"in0_block_w", 1},
                                        {"per_core_M", 1},
                                        {"per_core_N", 1}}}};
  EXPECT_EQ(compute_of(DataType::BFloat16, DataType::BFloat16, with_config).math_fidelity,
            MathFidelity::LoFi);
  // An fp32 output accumulates in an fp32 Dst and packs without L1 accumulation.
  const ComputeKernelConfig fp32_out =
      compute_of(DataType::BFloat16, DataType::BFloat16, {{"output_dtype", "float32"}});
  EXPECT_TRUE(fp32_out.fp32_dest_acc_en);
  EXPECT_FALSE(fp32_out.packer_l1_acc);
  EXPECT_EQ(
      compute_of(DataType::Float32, DataType::Float32, nlohmann::json::object()).math_fidelity,
      MathFidelity::HiFi4);
  // What the node says wins.
  const ComputeKernelConfig given =
      compute_of(DataType::BFloat16, DataType::BFloat16,
                 {{"math_fidelity", "HiFi4"}, {"packer_l1_acc", false}});
  EXPECT_EQ(given.math_fidelity, MathFidelity::HiFi4);
  EXPECT_FALSE(given.packer_l1_acc);
}
