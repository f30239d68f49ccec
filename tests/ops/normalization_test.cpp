// Softmax, layernorm, rmsnorm and groupnorm: numerics against independent fp32 references,
// row statistics of the outputs, timing bounds, sharded variants (statistics exchanged between
// cores) and the errors bad inputs raise.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/compute_config.hpp"
#include "ops/isolated_run.hpp"
#include "ops/normalization/layernorm.hpp"
#include "ops/normalization/softmax.hpp"
#include "ops/numerics/number_formats.hpp"
#include "ops/numerics/pcc.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"

namespace {

using namespace wormsim;
using namespace wormsim::ops;
using nlohmann::json;

const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

TensorSpec tile_spec(std::vector<std::uint32_t> dims, DataType type = DataType::BFloat16,
                     MemoryConfig memory = MemoryConfig::dram_interleaved()) {
  return TensorSpec(Shape(std::move(dims)), type, Layout::Tile, memory);
}

std::unique_ptr<Operation> make(const std::string& name, const std::vector<TensorSpec>& inputs,
                                const json& params = json::object()) {
  return make_operation(name, params, inputs, n300());
}

OpResult run_values(const Operation& op, const std::vector<Tensor>& inputs) {
  Device device(n300());
  std::vector<TensorSpec> specs;
  for (const Tensor& t : inputs) specs.push_back(t.spec());
  for (std::size_t i = 0; i < specs.size(); ++i)
    device.allocate(0, specs[i], "in" + std::to_string(i));
  for (const TensorSpec& out : op.output_specs(specs, n300())) device.allocate(0, out, "out");
  return execute(device, op, inputs);
}

Tensor uniform_tensor(const TensorSpec& spec, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> logical(spec.logical_shape().volume());
  for (float& v : logical) v = dist(rng);
  Tensor golden = Tensor::from_logical(spec, logical, true);
  auto values = std::make_shared<std::vector<float>>(golden.values());
  numerics::quantize(*values, static_cast<std::size_t>(spec.physical_height()),
                     spec.physical_width(), spec.data_type());
  return Tensor(spec, values, golden.golden_buffer());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

double dram_bandwidth() {
  return n300().dram.bank_achievable_bytes_per_cycle *
         static_cast<double>(n300().dram.banks.size());
}

// Lower bound: every DRAM tensor read or written once.
double dram_bound_cycles(const OpRecord& r) {
  return static_cast<double>(r.dram_bytes_read + r.dram_bytes_written) / dram_bandwidth();
}

// Sum over passes of (tiles x tile cost + tile rows x per-row cost), spread over `cores`.
double row_compute_bound(const RowProgramSpec& spec, double domains, double cores) {
  double cycles = 0;
  for (const RowPass& p : spec.passes) {
    cycles += static_cast<double>(spec.input.num_tiles()) * static_cast<double>(p.tile_cycles) +
              domains * static_cast<double>(p.domain_cycles);
  }
  return cycles / cores;
}

// ---- independent references (double precision, from the inputs' golden values) ----

std::vector<float> reference_softmax(const std::vector<float>& x, std::size_t rows, std::size_t n,
                                     double scale,
                                     const std::function<double(std::size_t, std::size_t)>& mask) {
  std::vector<float> out(x.size());
  for (std::size_t r = 0; r < rows; ++r) {
    std::vector<double> t(n);
    for (std::size_t i = 0; i < n; ++i) t[i] = x[r * n + i] * scale + mask(r, i);
    const double m = *std::max_element(t.begin(), t.end());
    double sum = 0;
    for (double& v : t) sum += (v = std::exp(v - m));
    for (std::size_t i = 0; i < n; ++i) out[r * n + i] = static_cast<float>(t[i] / sum);
  }
  return out;
}

std::vector<float> reference_norm(const std::vector<float>& x, std::size_t rows, std::size_t n,
                                  bool rms, double eps, const std::vector<float>* gamma,
                                  const std::vector<float>* beta) {
  std::vector<float> out(x.size());
  for (std::size_t r = 0; r < rows; ++r) {
    double mean = 0;
    if (!rms) {
      for (std::size_t i = 0; i < n; ++i) mean += x[r * n + i];
      mean /= static_cast<double>(n);
    }
    double var = 0;
    for (std::size_t i = 0; i < n; ++i) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
    var /= static_cast<double>(n);
    for (std::size_t i = 0; i < n; ++i) {
      double v = (x[r * n + i] - mean) / std::sqrt(var + eps);
      if (gamma != nullptr) v *= (*gamma)[i];
      if (beta != nullptr) v += (*beta)[i];
      out[r * n + i] = static_cast<float>(v);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Softmax

TEST(Softmax, RowsSumToOneAndMatchGolden) {
  const TensorSpec s = tile_spec({1, 2, 64, 512});
  const auto op = make("softmax", {s});
  const OpResult r = run_isolated(n300(), *op, {s}, IsolatedRunOptions{true, 3});
  EXPECT_EQ(r.record.op_code, "SoftmaxDeviceOperation");
  ASSERT_TRUE(r.record.pcc.has_value());
  EXPECT_GE(*r.record.pcc, 0.999);  // measured 0.99994 (bf16), 0.99984 (bfp8)
  const std::vector<float> out = r.outputs[0].logical_values();
  const std::vector<float> gold = r.outputs[0].logical_golden();
  for (std::size_t row = 0; row < 128; ++row) {
    double sum = 0;
    double gsum = 0;
    for (std::size_t i = 0; i < 512; ++i) {
      ASSERT_GE(out[row * 512 + i], 0.0f);
      sum += out[row * 512 + i];
      gsum += gold[row * 512 + i];
    }
    EXPECT_NEAR(sum, 1.0, 0.02) << row;
    EXPECT_NEAR(gsum, 1.0, 1e-5) << row;
  }
}

TEST(Softmax, ScaleAndMaskAgainstIndependentReference) {
  const TensorSpec in = tile_spec({2, 2, 64, 256});
  const Tensor x = uniform_tensor(in, -4.0f, 4.0f, 1);
  // Attention-style masks: one per batch over rows and heads, and one per (batch, head, row).
  for (const std::vector<std::uint32_t>& mask_dims :
       {std::vector<std::uint32_t>{2, 1, 1, 256}, {2, 2, 64, 256}}) {
    const TensorSpec ms = tile_spec(mask_dims);
    const Tensor mask = uniform_tensor(ms, -2.0f, 0.0f, 2);
    const auto op = make("softmax", {in, ms}, {{"scale", 0.125}});
    const OpResult r = run_values(*op, {x, mask});
    const std::vector<float> mg = mask.logical_golden();
    const auto md = ms.logical_shape().wzyx();
    auto mask_at = [&](std::size_t row, std::size_t i) {
      const std::size_t y = row % 64, z = (row / 64) % 2, w = row / 128;
      const std::size_t mrow = ((w * md[1] + (md[1] == 1 ? 0 : z)) * md[2] + (md[2] == 1 ? 0 : y));
      return static_cast<double>(mg[mrow * 256 + i]);
    };
    const std::vector<float> expected =
        reference_softmax(x.logical_golden(), 256, 256, 0.125, mask_at);
    EXPECT_GE(numerics::pcc(expected, r.outputs[0].logical_values()), 0.999);
    EXPECT_LT(numerics::max_abs_error(expected, r.outputs[0].logical_golden()), 1e-5);
    EXPECT_NE(r.record.attributes.find("'scale': '0.125'"), std::string::npos);
  }
}

TEST(Softmax, InPlaceAndUnstableVariants) {
  const TensorSpec d = tile_spec({1, 1, 256, 512});
  const TensorSpec s = d.with_memory_config(height_sharded(d, 8, n300()));
  const Tensor x = uniform_tensor(s, -1.0f, 1.0f, 4);
  const OpResult plain = run_values(*make("softmax", {s}), {x});
  const OpResult inplace = run_values(*make("softmax", {s}, {{"inplace", true}}), {x});
  const OpResult unstable = run_values(*make("softmax", {s}, {{"numeric_stable", false}}), {x});
  EXPECT_EQ(plain.outputs[0].values(), inplace.outputs[0].values());
  EXPECT_NE(inplace.record.attributes.find("'inplace': 'true'"), std::string::npos);
  EXPECT_EQ(inplace.outputs[0].spec().memory_config(), s.memory_config());
  EXPECT_GE(*unstable.record.pcc, 0.999);
  EXPECT_NE(unstable.record.attributes.find("'numeric_stable': 'false'"), std::string::npos);
  // Without the max pass the kernel does less work.
  EXPECT_LT(unstable.record.timing.compute_busy_cycles, plain.record.timing.compute_busy_cycles);
  // Sharded: 8 cores, one shard each, nothing read over the NoC.
  EXPECT_EQ(plain.record.timing.core_count, 8u);
  EXPECT_EQ(plain.record.timing.noc_bytes, 0u);
}

TEST(Softmax, TimingWithinBounds) {
  const TensorSpec s = tile_spec({1, 1, 4096, 1024});
  const auto op = make("softmax", {s});
  const OpResult r = run_isolated(n300(), *op, {s}, IsolatedRunOptions{false, 0});
  const RowProgramSpec spec =
      dynamic_cast<const SoftmaxOp&>(*op).row_program({s}, r.record.outputs[0], n300());
  ASSERT_EQ(spec.passes.size(), 3u);  // max, exp + sum, normalize
  // 128 tile rows over the 64 cores: two rows each.
  EXPECT_EQ(r.record.timing.core_count, 64u);
  const double compute_bound = row_compute_bound(spec, 128, 64);
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  EXPECT_GE(duration, compute_bound);
  EXPECT_GE(duration, dram_bound_cycles(r.record));
  EXPECT_LE(duration, 3.0 * std::max(compute_bound, dram_bound_cycles(r.record)));
  // The default (approximate) exp is far cheaper than the precise one.
  const auto precise = make("softmax", {s}, {{"math_approx_mode", false}});
  const RowProgramSpec precise_spec =
      dynamic_cast<const SoftmaxOp&>(*precise).row_program({s}, r.record.outputs[0], n300());
  EXPECT_GT(row_compute_bound(precise_spec, 128, 64), 3.0 * compute_bound);
}

TEST(Softmax, BadInputs) {
  const TensorSpec in = tile_spec({1, 2, 64, 512});
  EXPECT_NE(error_of([&] {
              make("softmax", {in, tile_spec({1, 1, 1, 256})})
                  ->output_specs({in, tile_spec({1, 1, 1, 256})}, n300());
            }).find("mask Shape([1, 1, 1, 256]) does not fit"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              make("softmax", {in, tile_spec({1, 2, 32, 512})})
                  ->output_specs({in, tile_spec({1, 2, 32, 512})}, n300());
            }).find("does not fit"),
            std::string::npos);
  const TensorSpec ws = in.with_memory_config(width_sharded(in, 4, n300()));
  EXPECT_NE(
      error_of([&] { make("softmax", {ws})->output_specs({ws}, n300()); }).find("HEIGHT_SHARDED"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              make("softmax", {in}, {{"inplace", true}, {"output_dtype", "bfloat8_b"}})
                  ->output_specs({in}, n300());
            }).find("in-place"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// LayerNorm / RMSNorm

TEST(LayerNorm, OutputRowsHaveZeroMeanUnitVariance) {
  const TensorSpec s = tile_spec({1, 1, 128, 1024});
  const Tensor x = uniform_tensor(s, -3.0f, 5.0f, 8);
  const OpResult r = run_values(*make("layernorm", {s}, {{"epsilon", 1e-5}}), {x});
  EXPECT_EQ(r.record.op_code, "LayerNormDeviceOperation");
  EXPECT_NE(r.record.attributes.find("LayerNormType::LAYERNORM"), std::string::npos);
  EXPECT_GE(*r.record.pcc, 0.999);  // measured 0.99999 (bf16), 0.99997 (bfp8)
  const std::vector<float> out = r.outputs[0].logical_values();
  for (std::size_t row = 0; row < 128; ++row) {
    double mean = 0, sq = 0;
    for (std::size_t i = 0; i < 1024; ++i) mean += out[row * 1024 + i];
    mean /= 1024;
    for (std::size_t i = 0; i < 1024; ++i)
      sq += (out[row * 1024 + i] - mean) * (out[row * 1024 + i] - mean);
    EXPECT_NEAR(mean, 0.0, 0.02) << row;
    EXPECT_NEAR(sq / 1024, 1.0, 0.03) << row;
  }
}

TEST(LayerNorm, GammaBetaAndRmsNormAgainstReference) {
  const TensorSpec s = tile_spec({1, 2, 64, 768});
  const TensorSpec ws = tile_spec({1, 1, 1, 768});
  const Tensor x = uniform_tensor(s, -2.0f, 2.0f, 9);
  const Tensor gamma = uniform_tensor(ws, 0.5f, 1.5f, 10);
  const Tensor beta = uniform_tensor(ws, -0.5f, 0.5f, 11);
  const std::vector<float> g = gamma.logical_golden();
  const std::vector<float> b = beta.logical_golden();
  for (const bool rms : {false, true}) {
    const std::string name = rms ? "rmsnorm" : "layernorm";
    const OpResult r = run_values(*make(name, {s, ws, ws}, {{"epsilon", 1e-6}}), {x, gamma, beta});
    const std::vector<float> expected =
        reference_norm(x.logical_golden(), 128, 768, rms, 1e-6, &g, &b);
    EXPECT_GE(numerics::pcc(expected, r.outputs[0].logical_values()), 0.999) << name;
    EXPECT_LT(numerics::max_abs_error(expected, r.outputs[0].logical_golden()), 1e-4) << name;
    EXPECT_NE(r.record.attributes.find(rms ? "RMSNORM" : "LAYERNORM"), std::string::npos);
  }
  // RMSNorm without affine: every row has unit root-mean-square.
  const OpResult r = run_values(*make("rmsnorm", {s}), {x});
  const std::vector<float> out = r.outputs[0].logical_values();
  for (std::size_t row = 0; row < 128; ++row) {
    double sq = 0;
    for (std::size_t i = 0; i < 768; ++i) sq += out[row * 768 + i] * out[row * 768 + i];
    EXPECT_NEAR(std::sqrt(sq / 768), 1.0, 0.02);
  }
}

TEST(LayerNorm, LoFiIsMeasurablyWorseThanHiFi4) {
  const TensorSpec s = tile_spec({1, 1, 64, 1024});
  const TensorSpec ws = tile_spec({1, 1, 1, 1024});
  const Tensor x = uniform_tensor(s, -2.0f, 2.0f, 12);
  const Tensor gamma = uniform_tensor(ws, -2.0f, 2.0f, 13);
  const OpResult lofi =
      run_values(*make("layernorm", {s, ws}, {{"math_fidelity", "LoFi"}}), {x, gamma});
  const OpResult hifi4 =
      run_values(*make("layernorm", {s, ws}, {{"math_fidelity", "HiFi4"}}), {x, gamma});
  EXPECT_GE(*hifi4.record.pcc, 0.999);
  EXPECT_LT(*lofi.record.pcc, *hifi4.record.pcc);
}

TEST(LayerNorm, ShardedAcrossWidthExchangesStatisticsAndMatchesInterleaved) {
  const TensorSpec d = tile_spec({1, 1, 128, 1024});
  const TensorSpec wd = tile_spec({1, 1, 1, 1024});
  const Tensor x = uniform_tensor(d, -1.0f, 1.0f, 14);
  const Tensor gamma = uniform_tensor(wd, 0.5f, 1.5f, 15);
  const OpResult interleaved = run_values(*make("layernorm", {d, wd}), {x, gamma});
  const TensorSpec width = d.with_memory_config(width_sharded(d, 4, n300()));
  const TensorSpec block = d.with_memory_config(block_sharded(d, 2, 2));
  for (const TensorSpec& s : {width, block}) {
    const OpResult r = run_values(*make("layernorm", {s, wd}), {x.with_spec(s), gamma});
    EXPECT_EQ(r.outputs[0].values(), interleaved.outputs[0].values());
    EXPECT_EQ(r.record.timing.core_count, 4u);
    EXPECT_TRUE(r.outputs[0].spec().is_sharded());
    EXPECT_NE(r.record.attributes.find("LayerNormShardedMultiCoreProgramConfig"),
              std::string::npos);
    // Only gamma and the partial / combined statistics cross the NoC, never the tensor.
    EXPECT_GT(r.record.timing.noc_bytes, 0u);
    EXPECT_LT(r.record.timing.noc_bytes, d.total_bytes());
  }
}

TEST(LayerNorm, TimingWithinBounds) {
  const TensorSpec s = tile_spec({1, 1, 2048, 1024});
  const TensorSpec ws = tile_spec({1, 1, 1, 1024});
  const auto op = make("layernorm", {s, ws, ws});
  const OpResult r = run_isolated(n300(), *op, {s, ws, ws}, IsolatedRunOptions{false, 0});
  const RowProgramSpec spec =
      dynamic_cast<const LayerNormOp&>(*op).row_program({s, ws, ws}, r.record.outputs[0], n300());
  EXPECT_EQ(r.record.timing.core_count, 64u);
  const double compute_bound = row_compute_bound(spec, 64, 64);
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  EXPECT_GE(duration, compute_bound);
  EXPECT_GE(duration, dram_bound_cycles(r.record));
  // Every core also reads gamma and beta: the DRAM traffic is the NoC traffic here. One tile
  // row per core leaves little overlap between reading, the passes and writing.
  const double traffic_bound = static_cast<double>(r.record.timing.noc_bytes) / dram_bandwidth();
  EXPECT_EQ(r.record.timing.noc_bytes, 2 * s.total_bytes() + 64 * 2 * ws.total_bytes());
  EXPECT_LE(duration, 3.0 * std::max(compute_bound, traffic_bound));
  EXPECT_NEAR(r.record.perf_model.compute_ns, compute_bound, compute_bound * 0.01);
}

TEST(LayerNorm, BadInputs) {
  const TensorSpec s = tile_spec({1, 1, 64, 512});
  const TensorSpec bad = tile_spec({1, 1, 1, 256});
  EXPECT_NE(error_of([&] {
              make("layernorm", {s, bad})->output_specs({s, bad}, n300());
            }).find("gamma Shape([1, 1, 1, 256]) must hold one value per column"),
            std::string::npos);
  const TensorSpec full = tile_spec({1, 1, 64, 512});
  EXPECT_NE(error_of([&] {
              make("rmsnorm", {s, tile_spec({1, 1, 1, 512}), full})
                  ->output_specs({s, tile_spec({1, 1, 1, 512}), full}, n300());
            }).find("beta"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              make("layernorm", {s}, {{"eps", 1e-5}});
            }).find("unknown parameter 'eps'"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// GroupNorm

std::vector<float> reference_groupnorm(const std::vector<float>& x, std::size_t n, std::size_t hw,
                                       std::size_t c, std::size_t groups, double eps,
                                       const std::vector<float>& gamma,
                                       const std::vector<float>& beta) {
  std::vector<float> out(x.size());
  const std::size_t per = c / groups;
  for (std::size_t b = 0; b < n; ++b) {
    for (std::size_t g = 0; g < groups; ++g) {
      double mean = 0, var = 0;
      for (std::size_t y = 0; y < hw; ++y)
        for (std::size_t ch = g * per; ch < (g + 1) * per; ++ch) mean += x[(b * hw + y) * c + ch];
      mean /= static_cast<double>(hw * per);
      for (std::size_t y = 0; y < hw; ++y)
        for (std::size_t ch = g * per; ch < (g + 1) * per; ++ch) {
          const double d = x[(b * hw + y) * c + ch] - mean;
          var += d * d;
        }
      var /= static_cast<double>(hw * per);
      for (std::size_t y = 0; y < hw; ++y)
        for (std::size_t ch = g * per; ch < (g + 1) * per; ++ch) {
          const std::size_t i = (b * hw + y) * c + ch;
          out[i] = static_cast<float>((x[i] - mean) / std::sqrt(var + eps) * gamma[ch] + beta[ch]);
        }
    }
  }
  return out;
}

TEST(GroupNorm, MatchesDirectReference) {
  const struct {
    std::vector<std::uint32_t> dims;
    std::uint32_t groups;
  } cases[] = {{{1, 1, 1024, 320}, 32}, {{2, 1, 256, 64}, 4}};
  for (const auto& c : cases) {
    const TensorSpec s = tile_spec(c.dims);
    const TensorSpec cs = tile_spec({1, 1, 1, c.dims[3]});
    const Tensor x = uniform_tensor(s, -2.0f, 3.0f, 16);
    const Tensor gamma = uniform_tensor(cs, 0.5f, 1.5f, 17);
    const Tensor beta = uniform_tensor(cs, -0.5f, 0.5f, 18);
    const OpResult r =
        run_values(*make("groupnorm", {s, cs, cs}, {{"num_groups", c.groups}, {"epsilon", 1e-5}}),
                   {x, gamma, beta});
    EXPECT_EQ(r.record.op_code, "GroupNormDeviceOperation");
    const std::vector<float> expected =
        reference_groupnorm(x.logical_golden(), c.dims[0], c.dims[2], c.dims[3], c.groups, 1e-5,
                            gamma.logical_golden(), beta.logical_golden());
    EXPECT_GE(numerics::pcc(expected, r.outputs[0].logical_values()), 0.999);
    EXPECT_LT(numerics::max_abs_error(expected, r.outputs[0].logical_golden()), 1e-4);
    // Rows are spread over cores, so each batch's statistics are combined across cores.
    EXPECT_GT(r.record.timing.core_count, c.dims[0]);
    EXPECT_GE(static_cast<double>(r.record.timing.kernel_duration()), dram_bound_cycles(r.record));
  }
}

TEST(GroupNorm, ShardedRunsWhereTheShardsAre) {
  const TensorSpec d = tile_spec({1, 1, 1024, 320});
  const TensorSpec s = d.with_memory_config(height_sharded(d, 32, n300()));
  const auto op = make("groupnorm", {s}, {{"num_groups", 32}});
  const OpResult r = run_isolated(n300(), *op, {s}, IsolatedRunOptions{true, 19});
  EXPECT_EQ(r.record.timing.core_count, 32u);
  EXPECT_GE(*r.record.pcc, 0.999);
  const RowProgramSpec spec =
      dynamic_cast<const GroupNormOp&>(*op).row_program({s}, r.record.outputs[0], n300());
  EXPECT_GE(static_cast<double>(r.record.timing.kernel_duration()), row_compute_bound(spec, 1, 32));
}

TEST(GroupNorm, BadInputs) {
  const TensorSpec s = tile_spec({1, 1, 256, 320});
  EXPECT_NE(error_of([&] {
              make("groupnorm", {s}, {{"num_groups", 24}})->output_specs({s}, n300());
            }).find("not divisible by num_groups"),
            std::string::npos);
  const TensorSpec z2 = tile_spec({1, 2, 256, 320});
  EXPECT_NE(
      error_of([&] { make("groupnorm", {z2})->output_specs({z2}, n300()); }).find("[N, 1, H*W, C]"),
      std::string::npos);
  const TensorSpec g = tile_spec({1, 1, 1, 160});
  EXPECT_NE(error_of([&] {
              make("groupnorm", {s, g})->output_specs({s, g}, n300());
            }).find("gamma"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              make("groupnorm", {s}, {{"num_groups", 0}});
            }).find("num_groups"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Audit additions: RMSNorm timing, fidelity and per-dtype thresholds

TEST(RmsNorm, TimingWithinBounds) {
  const TensorSpec s = tile_spec({1, 1, 2048, 1024});
  const TensorSpec ws = tile_spec({1, 1, 1, 1024});
  const auto op = make("rmsnorm", {s, ws});
  const OpResult r = run_isolated(n300(), *op, {s, ws}, IsolatedRunOptions{false, 0});
  const RowProgramSpec spec =
      dynamic_cast<const LayerNormOp&>(*op).row_program({s, ws}, r.record.outputs[0], n300());
  EXPECT_NE(r.record.attributes.find("RMSNORM"), std::string::npos);
  EXPECT_EQ(r.record.timing.core_count, 64u);  // 64 tile rows, one per core
  // Lower bound: the passes' per-tile and per-row cycles of the spec over the 64 cores.
  const double compute_bound = row_compute_bound(spec, 64, 64);
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  EXPECT_GE(duration, compute_bound);
  EXPECT_GE(duration, dram_bound_cycles(r.record));
  // Every core reads gamma too.
  EXPECT_EQ(r.record.timing.noc_bytes, 2 * s.total_bytes() + 64 * ws.total_bytes());
  const double traffic_bound = static_cast<double>(r.record.timing.noc_bytes) / dram_bandwidth();
  EXPECT_LE(duration, 3.0 * std::max(compute_bound, traffic_bound));
  // RMSNorm skips the mean pass: cheaper than LayerNorm's compute on the same shape.
  const auto ln = make("layernorm", {s, ws});
  const RowProgramSpec ln_spec =
      dynamic_cast<const LayerNormOp&>(*ln).row_program({s, ws}, r.record.outputs[0], n300());
  EXPECT_LT(compute_bound, row_compute_bound(ln_spec, 64, 64));
}

TEST(Softmax, LoFiIsMeasurablyWorseThanHiFi4) {
  // Softmax applies fidelity to its FPU multiplies (scale and 1/sum).
  const TensorSpec s = tile_spec({1, 1, 128, 1024});
  const Tensor x = uniform_tensor(s, -4.0f, 4.0f, 51);
  const OpResult lofi = run_values(*make("softmax", {s}, {{"math_fidelity", "LoFi"}}), {x});
  const OpResult hifi4 = run_values(*make("softmax", {s}, {{"math_fidelity", "HiFi4"}}), {x});
  const std::vector<float> expected =
      reference_softmax(x.logical_golden(), 128, 1024, 1.0, [](auto, auto) { return 0.0; });
  const double p_lofi = numerics::pcc(expected, lofi.outputs[0].logical_values());
  const double p_hifi4 = numerics::pcc(expected, hifi4.outputs[0].logical_values());
  EXPECT_GE(p_hifi4, 0.9999);
  EXPECT_GE(p_lofi, 0.99);
  // Measurably worse: LoFi's error at least 2x HiFi4's.
  EXPECT_GT(1.0 - p_lofi, 2.0 * (1.0 - p_hifi4)) << p_lofi << " vs " << p_hifi4;
  EXPECT_EQ(lofi.record.math_fidelity, arch::MathFidelity::LoFi);
}

TEST(RmsNorm, LoFiIsMeasurablyWorseThanHiFi4) {
  const TensorSpec s = tile_spec({1, 1, 64, 1024});
  const TensorSpec ws = tile_spec({1, 1, 1, 1024});
  const Tensor x = uniform_tensor(s, -2.0f, 2.0f, 52);
  const Tensor gamma = uniform_tensor(ws, -2.0f, 2.0f, 53);
  const std::vector<float> g = gamma.logical_golden();
  const std::vector<float> expected =
      reference_norm(x.logical_golden(), 64, 1024, true, 1e-5, &g, nullptr);
  double p[2];
  int i = 0;
  for (const char* fidelity : {"LoFi", "HiFi4"}) {
    const OpResult r = run_values(
        *make("rmsnorm", {s, ws}, {{"math_fidelity", fidelity}, {"epsilon", 1e-5}}), {x, gamma});
    p[i++] = numerics::pcc(expected, r.outputs[0].logical_values());
  }
  EXPECT_GE(p[1], 0.999);
  EXPECT_GT(1.0 - p[0], 2.0 * (1.0 - p[1])) << p[0] << " vs " << p[1];
}

TEST(GroupNorm, LoFiIsMeasurablyWorseThanHiFi4) {
  const TensorSpec s = tile_spec({1, 1, 1024, 320});
  const TensorSpec cs = tile_spec({1, 1, 1, 320});
  const Tensor x = uniform_tensor(s, -2.0f, 3.0f, 54);
  const Tensor gamma = uniform_tensor(cs, -2.0f, 2.0f, 55);
  const Tensor beta = uniform_tensor(cs, -0.5f, 0.5f, 56);
  const std::vector<float> expected = reference_groupnorm(
      x.logical_golden(), 1, 1024, 320, 32, 1e-5, gamma.logical_golden(), beta.logical_golden());
  double p[2];
  int i = 0;
  for (const char* fidelity : {"LoFi", "HiFi4"}) {
    const OpResult r =
        run_values(*make("groupnorm", {s, cs, cs},
                         {{"num_groups", 32}, {"epsilon", 1e-5}, {"math_fidelity", fidelity}}),
                   {x, gamma, beta});
    p[i++] = numerics::pcc(expected, r.outputs[0].logical_values());
  }
  EXPECT_GE(p[1], 0.999);
  EXPECT_GT(1.0 - p[0], 2.0 * (1.0 - p[1])) << p[0] << " vs " << p[1];
}

TEST(Softmax, PccThresholdsPerDtype) {
  // bfloat8_b inputs and outputs lose mantissa bits per 16-element block: a lower bar.
  const struct {
    DataType type;
    double min_pcc;
  } cases[] = {{DataType::BFloat16, 0.9999}, {DataType::BFloat8_B, 0.999}};
  double p[2];
  int i = 0;
  for (const auto& c : cases) {
    const TensorSpec s = tile_spec({1, 1, 128, 1024}, c.type);
    const Tensor x = uniform_tensor(s, -4.0f, 4.0f, 57);
    const OpResult r = run_values(*make("softmax", {s}), {x});
    EXPECT_EQ(r.outputs[0].spec().data_type(), c.type);
    const std::vector<float> expected =
        reference_softmax(x.logical_golden(), 128, 1024, 1.0, [](auto, auto) { return 0.0; });
    p[i] = numerics::pcc(expected, r.outputs[0].logical_values());
    EXPECT_GE(p[i], c.min_pcc) << to_string(c.type);
    ++i;
  }
  EXPECT_LT(p[1], p[0]);
}

}  // namespace
