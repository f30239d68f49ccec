// Eltwise ops: binary add / sub / mul (broadcasting, fidelity, fused activation), the unary SFPU
// functions and typecast: numerics against fp32 goldens, kernel timing against analytic bounds,
// and the errors bad inputs raise.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/compute_config.hpp"
#include "ops/isolated_run.hpp"
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

OpResult run_random(const std::string& name, const std::vector<TensorSpec>& inputs,
                    const json& params = json::object(), std::uint64_t seed = 7) {
  const auto op = make(name, inputs, params);
  return run_isolated(n300(), *op, inputs, IsolatedRunOptions{true, seed});
}

// Runs an op on the given tensors on a fresh device (buffers allocated, so L1 limits apply).
OpResult run_values(const Operation& op, const std::vector<Tensor>& inputs) {
  Device device(n300());
  std::vector<TensorSpec> specs;
  for (const Tensor& t : inputs) specs.push_back(t.spec());
  for (std::size_t i = 0; i < specs.size(); ++i)
    device.allocate(0, specs[i], "in" + std::to_string(i));
  for (const TensorSpec& out : op.output_specs(specs, n300())) device.allocate(0, out, "out");
  return execute(device, op, inputs);
}

// Seeded values uniform in [lo, hi], rounded to the tensor's format, the unrounded values as
// golden.
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

double dram_bound_cycles(const OpRecord& r) {
  const double bw =
      n300().dram.bank_achievable_bytes_per_cycle * static_cast<double>(n300().dram.banks.size());
  return static_cast<double>(r.dram_bytes_read + r.dram_bytes_written) / bw;
}

sim::Cycle binary_tile_cycles(DataType a, DataType b, DataType out, sim::Cycle math) {
  return unpack_tile_cycles(n300(), a) + unpack_tile_cycles(n300(), b) + math +
         pack_tile_cycles(n300(), out);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Binary numerics

TEST(EltwiseBinary, AddPccPerDtype) {
  // Measured: bf16 0.999997, bfp8 0.99998, bfp4 0.9929, fp32 (SFPU path) 1.0; thresholds leave
  // headroom.
  const struct {
    DataType type;
    double min_pcc;
  } cases[] = {
      {DataType::BFloat16, 0.9999}, {DataType::BFloat8_B, 0.9995}, {DataType::Float32, 0.999999}};
  for (const auto& c : cases) {
    const TensorSpec s = tile_spec({1, 1, 256, 512}, c.type);
    const OpResult r = run_random("add", {s, s});
    ASSERT_TRUE(r.record.pcc.has_value());
    EXPECT_GE(*r.record.pcc, c.min_pcc) << to_string(c.type);
    EXPECT_LT(*r.record.pcc, 1.0 + 1e-12);
    EXPECT_EQ(r.record.op_code, "BinaryNgDeviceOperation");
    EXPECT_EQ(r.outputs[0].spec().data_type(), c.type);
  }
}

TEST(EltwiseBinary, Bfloat4IsMeasurablyWorseThanBfloat8) {
  const OpResult r8 = run_random("sub", {tile_spec({1, 1, 128, 256}, DataType::BFloat8_B),
                                         tile_spec({1, 1, 128, 256}, DataType::BFloat8_B)});
  const OpResult r4 = run_random("sub", {tile_spec({1, 1, 128, 256}, DataType::BFloat4_B),
                                         tile_spec({1, 1, 128, 256}, DataType::BFloat4_B)});
  EXPECT_GE(*r8.record.pcc, 0.999);
  EXPECT_GE(*r4.record.pcc, 0.95);
  EXPECT_LT(*r4.record.pcc, *r8.record.pcc - 0.001);
}

TEST(EltwiseBinary, MulLoFiMeasurablyWorseThanHiFi4) {
  const TensorSpec s = tile_spec({1, 1, 256, 256});
  const OpResult lofi = run_random("mul", {s, s}, {{"math_fidelity", "LoFi"}});
  const OpResult hifi2 = run_random("mul", {s, s}, {{"math_fidelity", "HiFi2"}});
  const OpResult hifi4 = run_random("mul", {s, s}, {{"math_fidelity", "HiFi4"}});
  // Measured: LoFi 0.99992, HiFi2 0.999992, HiFi4 0.999995 (bf16 operands in [-1, 1]).
  EXPECT_GE(*hifi4.record.pcc, 0.9999);
  EXPECT_GE(*lofi.record.pcc, 0.99);
  EXPECT_LT(*lofi.record.pcc, *hifi2.record.pcc);
  EXPECT_LE(*hifi2.record.pcc, *hifi4.record.pcc);
  EXPECT_GT(1.0 - *lofi.record.pcc, 5.0 * (1.0 - *hifi4.record.pcc));
  EXPECT_EQ(lofi.record.math_fidelity, arch::MathFidelity::LoFi);
  // Fidelity phases cost FPU time: LoFi's compute time is lower.
  EXPECT_LT(lofi.record.perf_model.compute_ns, hifi4.record.perf_model.compute_ns);
}

TEST(EltwiseBinary, BroadcastMatchesHandComputedValues) {
  // a[w][z][y][x] = 100w + 10z + ... small integers: every sum / product below is exact in bf16.
  const TensorSpec a_spec = tile_spec({2, 2, 3, 4});
  std::vector<float> a_vals(a_spec.logical_shape().volume());
  for (std::size_t i = 0; i < a_vals.size(); ++i) a_vals[i] = static_cast<float>(i);
  const Tensor a = Tensor::from_logical(a_spec, a_vals, true);
  auto index = [](std::uint32_t w, std::uint32_t z, std::uint32_t y, std::uint32_t x) {
    return ((w * 2 + z) * 3 + y) * 4 + x;
  };

  struct Case {
    std::string op;
    std::vector<std::uint32_t> b_dims;
    std::function<float(std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t)>
        b_value;  // b at (w,z,y,x) of b
    std::function<float(float, float)> combine;
    std::string subtile;
  };
  const std::vector<Case> cases = {
      {"add",
       {1, 1, 1, 4},
       [](auto, auto, auto, std::uint32_t x) { return 10.0f * (x + 1); },
       [](float p, float q) { return p + q; },
       "ROW_B"},
      {"mul",
       {1, 1, 1, 1},
       [](auto, auto, auto, auto) { return 0.5f; },
       [](float p, float q) { return p * q; },
       "SCALAR_B"},
      {"sub",
       {1, 2, 3, 1},
       [](auto, std::uint32_t z, std::uint32_t y, auto) { return static_cast<float>(z * 3 + y); },
       [](float p, float q) { return p - q; },
       "COL_B"},
      {"add",
       {1, 2, 3, 4},
       [](auto, std::uint32_t z, std::uint32_t y, std::uint32_t x) {
         return static_cast<float>(-(z * 12 + y * 4 + x));
       },
       [](float p, float q) { return p + q; },
       "NONE"},
  };
  for (const Case& c : cases) {
    const TensorSpec b_spec = tile_spec(c.b_dims);
    const auto bw = b_spec.logical_shape().wzyx();
    std::vector<float> b_vals;
    for (std::uint32_t w = 0; w < bw[0]; ++w)
      for (std::uint32_t z = 0; z < bw[1]; ++z)
        for (std::uint32_t y = 0; y < bw[2]; ++y)
          for (std::uint32_t x = 0; x < bw[3]; ++x) b_vals.push_back(c.b_value(w, z, y, x));
    const Tensor b = Tensor::from_logical(b_spec, b_vals, true);
    const auto op = make(c.op, {a_spec, b_spec});
    const OpResult r = run_values(*op, {a, b});
    ASSERT_EQ(r.outputs[0].spec().logical_shape(), a_spec.logical_shape()) << c.op;
    EXPECT_NE(r.record.attributes.find("SubtileBroadcastType::" + c.subtile + "'"),
              std::string::npos)
        << r.record.attributes;
    const std::vector<float> out = r.outputs[0].logical_values();
    const std::vector<float> gold = r.outputs[0].logical_golden();
    for (std::uint32_t w = 0; w < 2; ++w)
      for (std::uint32_t z = 0; z < 2; ++z)
        for (std::uint32_t y = 0; y < 3; ++y)
          for (std::uint32_t x = 0; x < 4; ++x) {
            const float bv =
                c.b_value(0, bw[1] == 1 ? 0 : z, bw[2] == 1 ? 0 : y, bw[3] == 1 ? 0 : x);
            const float expected = c.combine(a_vals[index(w, z, y, x)], bv);
            ASSERT_EQ(out[index(w, z, y, x)], expected) << c.op << " at " << w << z << y << x;
            ASSERT_EQ(gold[index(w, z, y, x)], expected) << c.op;
          }
  }
  // The smaller operand may also come first: [1,1,1,4] + [2,2,3,4].
  const TensorSpec row_spec = tile_spec({1, 1, 1, 4});
  const Tensor row = Tensor::from_logical(row_spec, {1, 2, 3, 4}, true);
  const OpResult r = run_values(*make("add", {row_spec, a_spec}), {row, a});
  ASSERT_EQ(r.outputs[0].spec().logical_shape(), a_spec.logical_shape());
  EXPECT_EQ(r.outputs[0].logical_values()[index(1, 1, 2, 3)], a_vals[index(1, 1, 2, 3)] + 4.0f);
  EXPECT_NE(r.record.attributes.find("ROW_A"), std::string::npos);
}

TEST(EltwiseBinary, ScalarBroadcastReadsTheTileOnce) {
  const TensorSpec a = tile_spec({1, 1, 512, 512});
  const OpResult full = run_random("mul", {a, a});
  const OpResult scalar = run_random("mul", {a, tile_spec({1, 1, 1, 1})});
  EXPECT_GE(*scalar.record.pcc, 0.9999);
  // b: one tile per core instead of one per output tile.
  const std::uint64_t tile = 2048;
  EXPECT_EQ(full.record.timing.noc_bytes, 3 * a.num_tiles() * tile);
  EXPECT_EQ(scalar.record.timing.noc_bytes,
            2 * a.num_tiles() * tile + scalar.record.timing.core_count * tile);
}

TEST(EltwiseBinary, FusedActivationAndOutputDtype) {
  const TensorSpec s = tile_spec({1, 1, 128, 256});
  const OpResult r =
      run_random("add", {s, s}, {{"activation", "relu"}, {"output_dtype", "bfloat8_b"}});
  EXPECT_GE(*r.record.pcc, 0.999);
  EXPECT_EQ(r.outputs[0].spec().data_type(), DataType::BFloat8_B);
  const std::vector<float> out = r.outputs[0].logical_values();
  EXPECT_GE(*std::min_element(out.begin(), out.end()), 0.0f);
  EXPECT_GT(*std::max_element(out.begin(), out.end()), 0.5f);
  EXPECT_NE(r.record.attributes.find("UnaryOpType::RELU"), std::string::npos);
  // An add's relu is the packer's (tt-metal's PACK_RELU): no compute time. Any other fused
  // activation, or a relu after a multiply, takes an SFPU pass.
  const OpResult plain = run_random("add", {s, s}, {{"output_dtype", "bfloat8_b"}});
  EXPECT_EQ(r.record.timing.compute_busy_cycles, plain.record.timing.compute_busy_cycles);
  const OpResult gelu =
      run_random("add", {s, s}, {{"activation", "gelu"}, {"output_dtype", "bfloat8_b"}});
  EXPECT_GT(gelu.record.timing.compute_busy_cycles, plain.record.timing.compute_busy_cycles);
  const OpResult mul_relu =
      run_random("mul", {s, s}, {{"activation", "relu"}, {"output_dtype", "bfloat8_b"}});
  const OpResult mul = run_random("mul", {s, s}, {{"output_dtype", "bfloat8_b"}});
  EXPECT_GT(mul_relu.record.timing.compute_busy_cycles, mul.record.timing.compute_busy_cycles);
}

// ---------------------------------------------------------------------------------------------
// Binary timing

TEST(EltwiseBinary, InterleavedAddTimingWithinBounds) {
  const TensorSpec s = tile_spec({1, 1, 1024, 1024});
  const OpResult r = run_random("add", {s, s});
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  const double tiles = static_cast<double>(s.num_tiles());
  const double compute_bound = tiles *
                               static_cast<double>(binary_tile_cycles(
                                   DataType::BFloat16, DataType::BFloat16, DataType::BFloat16,
                                   n300().compute.eltwise_add_tile_cycles)) /
                               n300().worker_count();
  const double dram_bound = dram_bound_cycles(r.record);
  EXPECT_EQ(r.record.timing.core_count, 64u);
  EXPECT_EQ(r.record.dram_bytes_read, 2 * s.total_bytes());
  EXPECT_EQ(r.record.dram_bytes_written, s.total_bytes());
  EXPECT_GE(duration, compute_bound);
  EXPECT_GE(duration, dram_bound);
  // Memory bound: within a small factor of the DRAM bound (NoC1 read contention costs the rest).
  EXPECT_LE(duration, 3.0 * std::max(compute_bound, dram_bound));
}

TEST(EltwiseBinary, ShardedAddIsFasterThanDramInterleaved) {
  const TensorSpec dram = tile_spec({1, 1, 1024, 1024});
  const TensorSpec sharded = dram.with_memory_config(block_sharded(dram, 8, 8));
  const OpResult rd = run_random("add", {dram, dram});
  const OpResult rs = run_random("add", {sharded, sharded});
  EXPECT_TRUE(rs.outputs[0].spec().is_sharded());  // output follows input a
  EXPECT_EQ(rs.record.timing.noc_bytes, 0u);       // every tile is read and written in place
  EXPECT_EQ(rs.record.dram_bytes_read, 0u);
  EXPECT_GE(*rs.record.pcc, 0.9999);
  const double per_core_tiles = static_cast<double>(dram.num_tiles()) / 64.0;
  const double tile = static_cast<double>(
      binary_tile_cycles(DataType::BFloat16, DataType::BFloat16, DataType::BFloat16,
                         n300().compute.eltwise_add_tile_cycles));
  EXPECT_GE(static_cast<double>(rs.record.timing.kernel_duration()), per_core_tiles * tile);
  EXPECT_LT(rs.record.timing.kernel_duration() * 4, rd.record.timing.kernel_duration());
}

TEST(EltwiseBinary, MulCostGrowsWithFidelityWhenComputeBound) {
  // Sharded in L1: no DRAM, so the FPU phases show in the kernel time.
  const TensorSpec d = tile_spec({1, 1, 2048, 512});
  const TensorSpec s =
      d.with_memory_config(height_sharded(d, 64, n300()));  // one tile row per core
  const OpResult lofi = run_random("mul", {s, s}, {{"math_fidelity", "LoFi"}});
  const OpResult hifi4 = run_random("mul", {s, s}, {{"math_fidelity", "HiFi4"}});
  const sim::Cycle delta =
      hifi4.record.timing.kernel_duration() - lofi.record.timing.kernel_duration();
  const std::uint64_t tiles_per_core = s.num_tiles() / 64;
  const auto& mul = n300().compute.eltwise_mul_tile_cycles;
  EXPECT_EQ(delta, tiles_per_core * (mul[3] - mul[0]));
}

TEST(EltwiseBinary, BadInputsRaiseClearErrors) {
  EXPECT_NE(error_of([] {
              make("add", {tile_spec({1, 1, 32, 64}), tile_spec({1, 1, 32, 32})});
            }).find("do not broadcast"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make("mul", {tile_spec({1, 1, 32, 32}), tile_spec({1, 1, 32, 32})},
                   {{"activation", "swish"}});
            }).find("unknown activation 'swish'"),
            std::string::npos);
  EXPECT_NE(
      error_of([] {
        make("sub", {tile_spec({1, 1, 32, 32}), tile_spec({1, 1, 32, 32})}, {{"fidelity", "LoFi"}});
      }).find("unknown parameter 'fidelity'"),
      std::string::npos);
  const TensorSpec rm(Shape({1, 1, 32, 32}), DataType::BFloat16, Layout::RowMajor);
  EXPECT_NE(error_of([&] {
              make("add", {rm, rm})->output_specs({rm, rm}, n300());
            }).find("TILE layout"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make("add", {tile_spec({1, 1, 32, 32}), tile_spec({1, 1, 32, 32})},
                   {{"output_dtype", "int4"}});
            }).find("unknown output_dtype"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Unary

TEST(EltwiseUnary, FunctionsMatchGolden) {
  // Measured PCCs (bf16, inputs in [-1, 1]): 0.99998 (sigmoid) to 0.999998 (relu); 0.999 is the
  // bar.
  const TensorSpec s = tile_spec({1, 1, 64, 512});
  for (const std::string fn :
       {"gelu", "relu", "silu", "exp", "sigmoid", "tanh", "identity", "abs", "square"}) {
    const OpResult r = run_random(fn, {s});
    ASSERT_TRUE(r.record.pcc.has_value()) << fn;
    EXPECT_GE(*r.record.pcc, 0.999) << fn;
    EXPECT_EQ(r.record.op_code, "UnaryDeviceOperation");
    EXPECT_NE(r.record.attributes.find("UnaryOpType::"), std::string::npos);
  }
  // Positive-domain functions on inputs in [0.5, 4].
  for (const std::string fn : {"sqrt", "rsqrt", "reciprocal", "log"}) {
    const auto op = make(fn, {s});
    const OpResult r = run_values(*op, {uniform_tensor(s, 0.5f, 4.0f, 3)});
    EXPECT_GE(*r.record.pcc, 0.999) << fn;
  }
  // identity is exact for bf16.
  const Tensor in = uniform_tensor(s, -2.0f, 2.0f, 5);
  EXPECT_EQ(run_values(*make("identity", {s}), {in}).outputs[0].values(), in.values());
}

TEST(EltwiseUnary, GeluApproximateModeDiffersFromExact) {
  const TensorSpec s = tile_spec({1, 1, 64, 256});
  const Tensor in = uniform_tensor(s, -4.0f, 4.0f, 11);
  const OpResult exact = run_values(*make("gelu", {s}), {in});
  const OpResult approx = run_values(*make("gelu", {s}, {{"math_approx_mode", true}}), {in});
  EXPECT_NE(exact.outputs[0].values(), approx.outputs[0].values());
  EXPECT_GE(*approx.record.pcc, 0.999);
  EXPECT_GE(*exact.record.pcc, *approx.record.pcc);
}

TEST(EltwiseUnary, TimingIsSfpuBoundAndApproxExpIsFaster) {
  const TensorSpec d = tile_spec({1, 1, 1024, 1024});
  const OpResult precise = run_random("exp", {d});
  const double per_tile = static_cast<double>(unpack_tile_cycles(n300(), DataType::BFloat16) +
                                              sfpu_tile_cycles(n300(), "exp") +
                                              pack_tile_cycles(n300(), DataType::BFloat16));
  const double compute_bound = static_cast<double>(d.num_tiles()) * per_tile / 64.0;
  const double duration = static_cast<double>(precise.record.timing.kernel_duration());
  EXPECT_GE(duration, compute_bound);
  EXPECT_GE(duration, dram_bound_cycles(precise.record));
  // Precise exp (1771 SFPU cycles per tile) dominates; pipeline fill and drain add the rest.
  EXPECT_LE(duration, 1.5 * compute_bound);
  // In L1 (no DRAM traffic) the approximate exp's cheaper SFPU program shows directly.
  const TensorSpec s = d.with_memory_config(height_sharded(d, 32, n300()));
  const OpResult precise_l1 = run_random("exp", {s});
  const OpResult approx_l1 = run_random("exp", {s}, {{"math_approx_mode", true}});
  EXPECT_EQ(precise_l1.record.timing.noc_bytes, 0u);
  EXPECT_LT(approx_l1.record.timing.kernel_duration() * 4,
            precise_l1.record.timing.kernel_duration());
  EXPECT_GE(*approx_l1.record.pcc, 0.999);
}

TEST(EltwiseUnary, BadInputs) {
  EXPECT_NE(error_of([] {
              make("gelu", {tile_spec({1, 1, 32, 32})}, {{"scale", 2}});
            }).find("unknown parameter 'scale'"),
            std::string::npos);
  const TensorSpec ints = tile_spec({1, 1, 32, 32}, DataType::Int32);
  EXPECT_NE(
      error_of([&] { make("relu", {ints})->output_specs({ints}, n300()); }).find("integer type"),
      std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Typecast

TEST(Typecast, ConversionsRoundLikeTheDevice) {
  const TensorSpec bf16 = tile_spec({1, 1, 64, 128});
  const Tensor in = uniform_tensor(bf16, -3.0f, 3.0f, 21);
  // bf16 -> fp32 is exact.
  const OpResult widen = run_values(*make("typecast", {bf16}, {{"output_dtype", "float32"}}), {in});
  EXPECT_EQ(widen.record.op_code, "TypecastDeviceOperation");
  EXPECT_EQ(widen.outputs[0].values(), in.values());
  // bf16 -> bfp8: the packer's rounding.
  const OpResult narrow =
      run_values(*make("typecast", {bf16}, {{"output_dtype", "bfloat8_b"}}), {in});
  std::vector<float> expected = in.values();
  numerics::quantize_bfp(expected, 64, 128, DataType::BFloat8_B,
                         numerics::BfpRounding::DevicePacker);
  EXPECT_EQ(narrow.outputs[0].values(), expected);
  EXPECT_GE(*narrow.record.pcc, 0.999);
  // fp32 -> bf16 rounds to nearest even.
  const TensorSpec fp32 = tile_spec({1, 1, 64, 128}, DataType::Float32);
  const Tensor wide = uniform_tensor(fp32, -3.0f, 3.0f, 22);
  const OpResult down =
      run_values(*make("typecast", {fp32}, {{"output_dtype", "bfloat16"}}), {wide});
  std::vector<float> rounded = wide.values();
  numerics::quantize_bf16(rounded);
  EXPECT_EQ(down.outputs[0].values(), rounded);
  // float -> int32 rounds to the nearest integer.
  const OpResult ints = run_values(*make("typecast", {bf16}, {{"output_dtype", "int32"}}), {in});
  for (std::size_t i = 0; i < in.values().size(); ++i)
    ASSERT_EQ(ints.outputs[0].values()[i], std::nearbyint(in.values()[i]));
}

TEST(Typecast, CostAndErrors) {
  const TensorSpec s = tile_spec({1, 1, 512, 512});
  const OpResult r = run_random("typecast", {s}, {{"output_dtype", "bfloat8_b"}});
  const double per_tile = static_cast<double>(unpack_tile_cycles(n300(), DataType::BFloat16) +
                                              sfpu_tile_cycles(n300(), "typecast") +
                                              pack_tile_cycles(n300(), DataType::BFloat8_B));
  EXPECT_GE(static_cast<double>(r.record.timing.kernel_duration()),
            static_cast<double>(s.num_tiles()) * per_tile / 64.0);
  EXPECT_GE(static_cast<double>(r.record.timing.kernel_duration()), dram_bound_cycles(r.record));
  EXPECT_EQ(r.record.dram_bytes_written, s.num_tiles() * tile_bytes(DataType::BFloat8_B));
  EXPECT_NE(error_of([&] { make("typecast", {s}); }).find("output_dtype"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// CLI

TEST(EltwiseCli, WormsimOpAddJson) {
  const std::string command = std::string(WORMSIM_BINARY) +
                              " op add --shape 1,1,1024,1024 --shape 1,1,1024,1024 --format json";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  ASSERT_EQ(pclose(pipe), 0) << output;
  const json record = json::parse(output);
  EXPECT_EQ(record["op_code"], "BinaryNgDeviceOperation");
  EXPECT_EQ(record["core_count"], 64);
  EXPECT_GT(record["device_kernel_duration_ns"].get<double>(), 0.0);
  EXPECT_GE(record["pcc"].get<double>(), 0.9999);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Audit additions: unary timing per function, sub timing, bad configs, per-dtype PCC

namespace {

// Per-tile compute cost the unary op charges: unpack + SFPU (precise entry) + pack.
double unary_tile_cycles(const std::string& fn, DataType in, DataType out) {
  return static_cast<double>(unpack_tile_cycles(n300(), in) + sfpu_tile_cycles(n300(), fn) +
                             pack_tile_cycles(n300(), out));
}

const char* const kTimedUnaries[] = {"gelu", "relu", "silu",      "sigmoid",
                                     "tanh", "sqrt", "reciprocal"};

// Inputs in [0.5, 4] so sqrt / reciprocal stay in their domain; timing does not depend on values.
OpResult run_positive(const std::string& fn, const TensorSpec& s) {
  return run_values(*make(fn, {s}), {uniform_tensor(s, 0.5f, 4.0f, 31)});
}

class UnaryTiming : public ::testing::TestWithParam<const char*> {};

TEST_P(UnaryTiming, DramInterleavedWithinComputeAndDramBounds) {
  const std::string fn = GetParam();
  const TensorSpec s = tile_spec({1, 1, 1024, 1024});
  const OpResult r = run_positive(fn, s);
  EXPECT_EQ(r.record.timing.core_count, 64u) << fn;
  EXPECT_EQ(r.record.dram_bytes_read, s.total_bytes()) << fn;
  EXPECT_EQ(r.record.dram_bytes_written, s.total_bytes()) << fn;
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  // 1024 tiles over 64 cores: 16 tiles per core.
  const double compute_bound = static_cast<double>(s.num_tiles()) *
                               unary_tile_cycles(fn, DataType::BFloat16, DataType::BFloat16) / 64.0;
  const double dram_bound = dram_bound_cycles(r.record);
  EXPECT_GE(duration, compute_bound) << fn;
  EXPECT_GE(duration, dram_bound) << fn;
  // Generous upper bound: 3x the larger lower bound (pipeline fill/drain, NoC contention).
  EXPECT_LE(duration, 3.0 * std::max(compute_bound, dram_bound)) << fn;
  EXPECT_GE(*r.record.pcc, 0.999) << fn;
}

TEST_P(UnaryTiming, L1ShardedIsComputeBound) {
  const std::string fn = GetParam();
  const TensorSpec d = tile_spec({1, 1, 2048, 512});
  const TensorSpec s = d.with_memory_config(height_sharded(d, 64, n300()));  // 16 tiles per core
  const OpResult r = run_positive(fn, s);
  EXPECT_EQ(r.record.timing.noc_bytes, 0u) << fn;
  EXPECT_EQ(r.record.dram_bytes_read, 0u) << fn;
  const double compute_bound = 16.0 * unary_tile_cycles(fn, DataType::BFloat16, DataType::BFloat16);
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  EXPECT_GE(duration, compute_bound) << fn;
  EXPECT_LE(duration, 2.0 * compute_bound) << fn;
}

INSTANTIATE_TEST_SUITE_P(Functions, UnaryTiming, ::testing::ValuesIn(kTimedUnaries),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

TEST(EltwiseUnary, ShardedDurationsFollowSpecSfpuCostOrder) {
  const TensorSpec d = tile_spec({1, 1, 2048, 512});
  const TensorSpec s = d.with_memory_config(height_sharded(d, 64, n300()));
  std::vector<std::pair<std::uint32_t, sim::Cycle>> measured;
  for (const std::string fn : kTimedUnaries) {
    measured.emplace_back(sfpu_tile_cycles(n300(), fn),
                          run_positive(fn, s).record.timing.kernel_duration());
  }
  for (std::size_t i = 0; i < measured.size(); ++i) {
    for (std::size_t j = 0; j < measured.size(); ++j) {
      const auto [ci, di] = measured[i];
      const auto [cj, dj] = measured[j];
      if (ci < cj) {
        EXPECT_LT(di, dj) << kTimedUnaries[i] << " vs " << kTimedUnaries[j];
        // Compute-bound: the gap is the SFPU difference over the core's 16 tiles.
        EXPECT_EQ(dj - di, 16u * (cj - ci)) << kTimedUnaries[i] << " vs " << kTimedUnaries[j];
      } else if (ci == cj) {
        EXPECT_EQ(di, dj) << kTimedUnaries[i] << " vs " << kTimedUnaries[j];
      }
    }
  }
}

TEST(EltwiseBinary, InterleavedSubTimingWithinBounds) {
  const TensorSpec s = tile_spec({1, 1, 1024, 2048});
  const OpResult r = run_random("sub", {s, s});
  EXPECT_EQ(r.record.timing.core_count, 64u);
  EXPECT_EQ(r.record.dram_bytes_read, 2 * s.total_bytes());
  EXPECT_EQ(r.record.dram_bytes_written, s.total_bytes());
  const double duration = static_cast<double>(r.record.timing.kernel_duration());
  // Sub costs the add's FPU cycles (no fidelity phases).
  const double compute_bound = static_cast<double>(s.num_tiles()) *
                               static_cast<double>(binary_tile_cycles(
                                   DataType::BFloat16, DataType::BFloat16, DataType::BFloat16,
                                   n300().compute.eltwise_add_tile_cycles)) /
                               64.0;
  const double dram_bound = dram_bound_cycles(r.record);
  EXPECT_GE(duration, compute_bound);
  EXPECT_GE(duration, dram_bound);
  EXPECT_LE(duration, 3.0 * std::max(compute_bound, dram_bound));
  // Sharded in L1 it is compute bound: 32 tiles per core.
  const TensorSpec sh = s.with_memory_config(height_sharded(s, 64, n300()));
  const OpResult rs = run_random("sub", {sh, sh});
  const double sharded_bound =
      32.0 * static_cast<double>(binary_tile_cycles(DataType::BFloat16, DataType::BFloat16,
                                                    DataType::BFloat16,
                                                    n300().compute.eltwise_add_tile_cycles));
  const double sharded = static_cast<double>(rs.record.timing.kernel_duration());
  EXPECT_GE(sharded, sharded_bound);
  // The binary kernel computes one tile per block, so each tile also pays the spec's block
  // overhead (CB waits, Dst acquire / release); 1.25x of that sum is the upper bound.
  const double per_block = static_cast<double>(n300().compute.block_overhead_cycles);
  EXPECT_GT(sharded, 2.0 * sharded_bound);  // the per-tile overhead is visible
  EXPECT_LE(sharded, 1.25 * (sharded_bound + 32.0 * per_block));
  EXPECT_GE(*rs.record.pcc, 0.9999);
}

TEST(EltwiseUnary, BadConfigsNameTheProblem) {
  const TensorSpec s = tile_spec({1, 1, 32, 32});
  // Unknown unary name: the registry lists the known ops.
  EXPECT_NE(error_of([&] { make("swish", {s}); }).find("unknown op 'swish'"), std::string::npos);
  // Integer inputs are rejected for sqrt / reciprocal like any other SFPU function.
  for (const DataType type : {DataType::Int32, DataType::UInt32}) {
    const TensorSpec ints = tile_spec({1, 1, 32, 32}, type);
    for (const std::string fn : {"sqrt", "reciprocal"}) {
      const std::string message = error_of([&] { make(fn, {ints})->output_specs({ints}, n300()); });
      EXPECT_NE(message.find(fn + ": input dtype"), std::string::npos) << message;
      EXPECT_NE(message.find("integer type"), std::string::npos) << message;
    }
  }
  // ROW_MAJOR input.
  const TensorSpec rm(Shape({1, 1, 32, 32}), DataType::BFloat16, Layout::RowMajor);
  EXPECT_NE(error_of([&] { make("sqrt", {rm})->output_specs({rm}, n300()); }).find("TILE layout"),
            std::string::npos);
  // Unknown output dtype.
  EXPECT_NE(error_of([&] {
              make("reciprocal", {s}, {{"output_dtype", "fp8"}});
            }).find("unknown output_dtype"),
            std::string::npos);
}

TEST(EltwiseUnary, PccThresholdsPerDtype) {
  // bfloat8_b rounds inputs and outputs to 7-bit block mantissas: a lower bar than bfloat16.
  const struct {
    std::string fn;
    DataType type;
    double min_pcc;
  } cases[] = {{"gelu", DataType::BFloat16, 0.9999},
               {"gelu", DataType::BFloat8_B, 0.999},
               {"exp", DataType::BFloat16, 0.9999},
               {"exp", DataType::BFloat8_B, 0.999}};
  double pcc_of[2][2] = {};
  for (const auto& c : cases) {
    const TensorSpec s = tile_spec({1, 1, 256, 512}, c.type);
    const OpResult r = run_values(*make(c.fn, {s}), {uniform_tensor(s, -3.0f, 3.0f, 41)});
    ASSERT_TRUE(r.record.pcc.has_value());
    EXPECT_GE(*r.record.pcc, c.min_pcc) << c.fn << " " << to_string(c.type);
    EXPECT_LT(*r.record.pcc, 1.0 + 1e-12);
    EXPECT_EQ(r.outputs[0].spec().data_type(), c.type);
    pcc_of[c.fn == "exp"][c.type == DataType::BFloat8_B] = *r.record.pcc;
  }
  // The block format is measurably worse than bfloat16 for both functions.
  EXPECT_LT(pcc_of[0][1], pcc_of[0][0]);
  EXPECT_LT(pcc_of[1][1], pcc_of[1][0]);
}

}  // namespace
