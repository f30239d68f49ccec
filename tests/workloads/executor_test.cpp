// Executor: numerics through a small MLP, buffer lifetimes and peaks, determinism, op-to-op
// gaps, host transfers, synthetic values.
#include "workloads/executor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "graph_fixtures.hpp"
#include "ops/device.hpp"
#include "sim/error.hpp"

namespace wormsim::workloads {
namespace {

using testing::bf16;
using testing::l1_chain;
using testing::n300;
using testing::tiny_mlp;

// 16 MiB of bfloat16 per activation over 64 cores = 256 KiB per core: three live ones fit a
// core's L1, seven do not, so keeping every activation overflows and freeing them does not.
Graph l1_hog() {
  Graph g("overflow", n300());
  TensorId t = g.add_input("x", bf16({1, 1, 2048, 4096}, ops::MemoryConfig::l1_interleaved()));
  for (int i = 0; i < 6; ++i)
    t = g.op("step" + std::to_string(i), "relu", {t}, {{"output_memory", "l1-interleaved"}});
  g.mark_output(t);
  return g;
}

GraphRun run(const Graph& g, ExecutorOptions options = {}) {
  ops::Device device(n300());
  return run_graph(device, g, options);
}

TEST(Executor, TinyMlpRunsWithNumericsAndHighPcc) {
  const Graph g = tiny_mlp();
  const GraphRun r = run(g);
  ASSERT_EQ(r.nodes.size(), 4u);
  EXPECT_EQ(r.nodes[0].name, "fc1");
  EXPECT_EQ(r.nodes[0].group, "mlp");
  EXPECT_EQ(r.nodes[0].record.op_code, "Matmul");
  EXPECT_EQ(r.nodes[2].op, "relu");
  EXPECT_EQ(r.nodes[3].group, "head");
  ASSERT_TRUE(r.pcc.has_value());
  EXPECT_GT(*r.pcc, 0.99);
  ASSERT_TRUE(r.worst_op_pcc.has_value());
  EXPECT_GT(*r.worst_op_pcc, 0.99);
  EXPECT_LE(*r.worst_op_pcc, 1.0);
  EXPECT_FALSE(r.worst_op.empty());
  for (const NodeRun& n : r.nodes) {
    EXPECT_GT(n.duration_ns, 0) << n.name;
    ASSERT_TRUE(n.record.pcc.has_value()) << n.name;
    EXPECT_GE(*n.record.pcc, *r.worst_op_pcc);
  }
  ASSERT_EQ(r.outputs.count("fc2"), 1u);
  const ops::Tensor& y = r.outputs.at("fc2");
  EXPECT_EQ(y.spec().logical_shape(), ops::Shape({1, 1, 64, 64}));
  ASSERT_TRUE(y.has_values());
  // The output is not trivially zero: relu keeps about half the hidden units.
  const auto values = y.logical_values();
  EXPECT_GT(std::count_if(values.begin(), values.end(), [](float v) { return v != 0.0f; }),
            64 * 64 / 2);
}

TEST(Executor, LowPrecisionWeightsLowerPccAndLocalPccIsolatesTheOp) {
  // bfloat4_b weights: the end-to-end PCC drops below the bfloat16 run's.
  const GraphRun bf16_run = run(tiny_mlp());
  ExecutorOptions options;
  options.local_op_pcc = true;
  const GraphRun bfp4_run =
      run(tiny_mlp(n300(), 64, 128, 256, 64, ops::DataType::BFloat4_B), options);
  ASSERT_TRUE(bfp4_run.pcc && bf16_run.pcc);
  EXPECT_LT(*bfp4_run.pcc, *bf16_run.pcc);
  EXPECT_GT(*bfp4_run.pcc, 0.9);
  for (const NodeRun& n : bfp4_run.nodes) {
    ASSERT_TRUE(n.local_pcc.has_value()) << n.name;
    EXPECT_EQ(n.pcc(), n.local_pcc);
    // relu on its device input is exact.
    if (n.op == "relu") {
      EXPECT_DOUBLE_EQ(*n.local_pcc, 1.0);
    }
  }
  // fc1 reads only sources: its own error is all the error there is.
  EXPECT_DOUBLE_EQ(*bfp4_run.nodes[0].local_pcc, *bfp4_run.nodes[0].record.pcc);
  // fc2's accumulated PCC carries fc1's bfloat4 error on top of its own.
  EXPECT_LT(*bfp4_run.nodes[3].record.pcc, *bfp4_run.nodes[3].local_pcc);
  EXPECT_LT(*bfp4_run.nodes[3].local_pcc, 1.0);  // its own bfloat4 weights
}

TEST(Executor, DeviceTimeIsOpsPlusGapsForTheDispatchMode) {
  const Graph g = tiny_mlp();
  const double trace_gap = n300().host.trace_op_gap_ns;
  const double eager_gap = n300().host.eager_dispatch_ns;
  ExecutorOptions trace;
  trace.numerics = false;
  const GraphRun t = run(g, trace);
  ExecutorOptions eager = trace;
  eager.dispatch = DispatchMode::Eager;
  const GraphRun e = run(g, eager);

  double op_sum = 0;
  for (const NodeRun& n : t.nodes) op_sum += n.duration_ns;
  EXPECT_DOUBLE_EQ(t.op_time_ns, op_sum);
  EXPECT_NEAR(t.gap_time_ns, 3 * trace_gap, 1.0);  // 4 ops, 3 gaps
  EXPECT_DOUBLE_EQ(t.device_time_ns, t.op_time_ns + t.gap_time_ns);
  EXPECT_EQ(t.nodes[0].gap_before_ns, 0.0);
  EXPECT_NEAR(e.gap_time_ns, 3 * eager_gap, 1.0);
  EXPECT_DOUBLE_EQ(e.op_time_ns, t.op_time_ns);  // dispatch does not change the kernels
  EXPECT_GT(e.device_time_ns, t.device_time_ns);
  EXPECT_DOUBLE_EQ(t.launch_ns, n300().host.trace_replay_launch_ns);
  EXPECT_DOUBLE_EQ(e.launch_ns, eager_gap);
  // Each op's FW duration is the kernel span plus launch overheads.
  for (const NodeRun& n : t.nodes) {
    EXPECT_GE(n.duration_ns,
              static_cast<double>(n.record.timing.kernel_duration()) * 1000.0 / n300().clock_mhz);
  }
}

TEST(Executor, SameSeedGivesIdenticalTimeAndValuesOtherSeedOtherValues) {
  const Graph g = tiny_mlp();
  ExecutorOptions options;
  options.seed = 7;
  const GraphRun a = run(g, options);
  const GraphRun b = run(g, options);
  EXPECT_EQ(a.device_time_ns, b.device_time_ns);
  EXPECT_EQ(a.l1_peak_bytes, b.l1_peak_bytes);
  EXPECT_EQ(a.outputs.at("fc2").values(), b.outputs.at("fc2").values());
  EXPECT_EQ(a.pcc, b.pcc);
  options.seed = 8;
  const GraphRun c = run(g, options);
  EXPECT_NE(a.outputs.at("fc2").values(), c.outputs.at("fc2").values());
  // Timing does not depend on the values, nor on whether they are computed.
  EXPECT_EQ(a.device_time_ns, c.device_time_ns);
  options.numerics = false;
  const GraphRun d = run(g, options);
  EXPECT_EQ(a.device_time_ns, d.device_time_ns);
  EXPECT_FALSE(d.pcc.has_value());
  EXPECT_FALSE(d.outputs.at("fc2").has_values());
}

TEST(Executor, FreeingAfterLastUseLowersPeakL1OfAnActivationChain) {
  const std::size_t length = 8;
  const Graph g = l1_chain(length);
  const ops::TensorSpec& act = g.spec(g.outputs().front());
  const std::uint64_t per_core = ops::l1_bytes_per_core(act, n300());
  ExecutorOptions keep;
  keep.numerics = false;
  keep.free_after_last_use = false;
  ExecutorOptions free = keep;
  free.free_after_last_use = true;
  const GraphRun kept = run(g, keep);
  const GraphRun freed = run(g, free);
  // Freed: the input plus at most two live activations (an op's input and output), besides
  // the op's CBs. Kept: the input and all `length` activations.
  EXPECT_LT(freed.l1_peak_bytes, kept.l1_peak_bytes);
  EXPECT_GE(kept.l1_peak_bytes, (length + 1) * per_core);
  EXPECT_GE(kept.l1_peak_bytes - freed.l1_peak_bytes, (length - 2) * per_core);
  EXPECT_GE(freed.l1_peak_bytes, 3 * per_core);  // input, the op's input and output at once
  EXPECT_EQ(kept.device_time_ns, freed.device_time_ns);
}

TEST(Executor, DramPeakCountsWeightsAndLiveActivations) {
  const Graph g = tiny_mlp();
  ExecutorOptions options;
  options.numerics = false;
  const GraphRun r = run(g, options);
  std::uint64_t sources = 0;
  for (const GraphTensor& t : g.tensors()) {
    if (t.kind != TensorKind::Activation) sources += ops::dram_bytes_per_bank(t.spec, n300());
  }
  const std::uint32_t banks = static_cast<std::uint32_t>(n300().dram.banks.size());
  EXPECT_GE(r.dram_peak_bytes, sources * banks);
  EXPECT_GT(r.dram_peak_bytes, sources * banks);  // plus at least one activation
}

TEST(Executor, ReleasesEveryBufferSoTheDeviceCanRunAgain) {
  ops::Device device(n300());
  const Graph g = tiny_mlp();
  ExecutorOptions options;
  options.numerics = false;
  const GraphRun first = run_graph(device, g, options);
  EXPECT_EQ(device.dram(0).buffer_count(), 0u);
  EXPECT_EQ(device.l1().chip(0).buffer_count(), 0u);
  const GraphRun second = run_graph(device, g, options);
  EXPECT_EQ(first.device_time_ns, second.device_time_ns);
  // A failing run (here: L1 full) releases its buffers too.
  ExecutorOptions keep = options;
  keep.free_after_last_use = false;
  EXPECT_THROW(run_graph(device, l1_hog(), keep), Error);
  EXPECT_EQ(device.l1().chip(0).buffer_count(), 0u);
  EXPECT_EQ(device.dram(0).buffer_count(), 0u);
}

TEST(Executor, L1OverflowNamesTheNode) {
  const Graph g = l1_hog();
  ExecutorOptions keep;
  keep.numerics = false;
  keep.free_after_last_use = false;
  try {
    run(g, keep);
    FAIL() << "expected an L1 overflow";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("graph 'overflow', node 'step"), std::string::npos) << message;
  }
  ExecutorOptions free = keep;
  free.free_after_last_use = true;
  EXPECT_NO_THROW(run(g, free));
}

TEST(Executor, GivenInputsAreUsedExactly) {
  Graph g("relu", n300());
  const TensorId x = g.add_input("x", bf16({1, 1, 32, 64}));
  g.mark_output(g.op("r", "relu", {x}));
  std::vector<float> logical(32 * 64);
  for (std::size_t i = 0; i < logical.size(); ++i)
    logical[i] = static_cast<float>(static_cast<int>(i % 9) - 4) * 0.5f;
  ExecutorOptions options;
  options.inputs.emplace("x", tensor_from_logical(g.spec(x), logical));
  const GraphRun r = run(g, options);
  const std::vector<float> out = r.outputs.at("r").logical_values();
  for (std::size_t i = 0; i < logical.size(); ++i)
    ASSERT_EQ(out[i], std::max(0.0f, logical[i])) << i;

  ExecutorOptions wrong;
  wrong.inputs.emplace(
      "x", tensor_from_logical(bf16({1, 1, 32, 32}), std::vector<float>(32 * 32, 1.0f)));
  EXPECT_THROW(run(g, wrong), Error);
  ExecutorOptions unknown;
  unknown.inputs.emplace("y", tensor_from_logical(g.spec(x), logical));
  EXPECT_THROW(run(g, unknown), Error);
}

TEST(Executor, HostTransfersCostPcieTimeAndMoreForTheRemoteChip) {
  const Graph g = tiny_mlp();
  ExecutorOptions options;
  options.numerics = false;
  const GraphRun chip0 = run(g, options);
  EXPECT_GT(chip0.host_write_ns, 0);
  EXPECT_GT(chip0.host_read_ns, 0);
  EXPECT_DOUBLE_EQ(chip0.end_to_end_ns(), chip0.launch_ns + chip0.host_write_ns +
                                              chip0.device_time_ns + chip0.host_read_ns);
  // The input is 64x128 bfloat16 = 16 KiB: at least its bytes over the PCIe bandwidth.
  const double bytes = 64 * 128 * 2;
  const double pcie_ns =
      bytes / n300().pcie.host_to_device_bytes_per_cycle * 1000.0 / n300().clock_mhz;
  EXPECT_GE(chip0.host_write_ns, pcie_ns);
  options.chip = 1;  // reached through chip 0 and Ethernet
  const GraphRun chip1 = run(g, options);
  EXPECT_GT(chip1.host_write_ns, chip0.host_write_ns);
  EXPECT_GT(chip1.host_read_ns, chip0.host_read_ns);
  EXPECT_EQ(chip1.chip, 1u);
  options.chip = 2;
  EXPECT_THROW(run(g, options), Error);
  options.chip = 0;
  options.host_io = false;
  const GraphRun no_io = run(g, options);
  EXPECT_EQ(no_io.host_write_ns, 0.0);
  EXPECT_EQ(no_io.host_read_ns, 0.0);
}

TEST(Executor, SyntheticValuesFollowTheInitKinds) {
  auto tensor = [](const std::string& init, double scale,
                   ops::DataType type = ops::DataType::Float32) {
    GraphTensor t{.id = 0,
                  .name = "t." + init,
                  .kind = TensorKind::Weight,
                  .spec = ops::TensorSpec(ops::Shape({1, 1, 64, 64}), type, ops::Layout::Tile),
                  .producer = std::nullopt};
    t.init = init;
    t.init_scale = scale;
    return t;
  };
  const auto ones = synthetic_tensor(tensor("ones", 0.3), 1).logical_values();
  EXPECT_TRUE(std::all_of(ones.begin(), ones.end(), [](float v) { return v == 1.0f; }));
  const auto zeros = synthetic_tensor(tensor("zeros", 0.3), 1).logical_values();
  EXPECT_TRUE(std::all_of(zeros.begin(), zeros.end(), [](float v) { return v == 0.0f; }));
  const auto arange = synthetic_tensor(tensor("arange", 0.3), 1).logical_values();
  for (std::size_t i = 0; i < arange.size(); ++i) ASSERT_EQ(arange[i], static_cast<float>(i));
  const auto uniform = synthetic_tensor(tensor("uniform", 0.3), 1).logical_values();
  EXPECT_TRUE(
      std::all_of(uniform.begin(), uniform.end(), [](float v) { return std::abs(v) <= 0.3f; }));
  EXPECT_GT(*std::max_element(uniform.begin(), uniform.end()), 0.25f);
  const auto normal = synthetic_tensor(tensor("normal", 0.3), 1).logical_values();
  const double mean =
      std::accumulate(normal.begin(), normal.end(), 0.0) / static_cast<double>(normal.size());
  double var = 0;
  for (float v : normal) var += (v - mean) * (v - mean);
  EXPECT_NEAR(std::sqrt(var / static_cast<double>(normal.size())), 0.3, 0.02);
  EXPECT_NEAR(mean, 0.0, 0.03);
  // RoPE: x @ rotate_half = [-x2, x1]; cos / sin of (p + row) * theta^(-2k/D), k = col mod D/2.
  const auto rotate = synthetic_tensor(tensor("rotate_half", 1.0), 1).logical_values();
  std::vector<float> x(64), rotated(64, 0.0f);
  for (std::size_t i = 0; i < 64; ++i) x[i] = static_cast<float>(i + 1);
  for (std::size_t j = 0; j < 64; ++j) {
    for (std::size_t i = 0; i < 64; ++i) rotated[j] += x[i] * rotate[i * 64 + j];
  }
  for (std::size_t j = 0; j < 32; ++j) {
    EXPECT_EQ(rotated[j], -x[j + 32]);
    EXPECT_EQ(rotated[j + 32], x[j]);
  }
  const auto cosine = synthetic_tensor(tensor("rope_cos@7", 10000.0), 1).logical_values();
  const auto sine = synthetic_tensor(tensor("rope_sin", 10000.0), 1).logical_values();
  for (std::size_t row : {0u, 5u, 63u}) {
    for (std::size_t col : {0u, 3u, 31u, 35u}) {
      const double k = static_cast<double>(col % 32);
      EXPECT_NEAR(cosine[row * 64 + col], std::cos((7.0 + row) * std::pow(10000.0, -2.0 * k / 64)),
                  1e-6);
      EXPECT_NEAR(sine[row * 64 + col], std::sin(row * std::pow(10000.0, -2.0 * k / 64)), 1e-6);
    }
  }
  // Seeded by name and seed: same -> same, other seed -> other values.
  EXPECT_EQ(synthetic_tensor(tensor("uniform", 0.3), 1).values(),
            synthetic_tensor(tensor("uniform", 0.3), 1).values());
  EXPECT_NE(synthetic_tensor(tensor("uniform", 0.3), 1).values(),
            synthetic_tensor(tensor("uniform", 0.3), 2).values());
  // bfloat16 device values are rounded, the golden keeps fp32.
  const ops::Tensor rounded = synthetic_tensor(tensor("uniform", 0.3, ops::DataType::BFloat16), 1);
  EXPECT_NE(rounded.values(), rounded.golden());
  // Integer tensors: whole numbers below the bound.
  const auto ids =
      synthetic_tensor(tensor("uniform", 0, ops::DataType::UInt32), 1, 50).logical_values();
  EXPECT_TRUE(std::all_of(ids.begin(), ids.end(),
                          [](float v) { return v >= 0 && v < 50 && v == std::floor(v); }));
  EXPECT_GT(*std::max_element(ids.begin(), ids.end()), 40.0f);
  EXPECT_EQ(name_hash("fc1.weight"), name_hash("fc1.weight"));
  EXPECT_NE(name_hash("fc1.weight"), name_hash("fc2.weight"));
}

TEST(Executor, ProgressReportsEveryNode) {
  const Graph g = tiny_mlp();
  ExecutorOptions options;
  options.numerics = false;
  std::vector<std::size_t> seen;
  options.progress = [&](std::size_t done, std::size_t total) {
    EXPECT_EQ(total, 4u);
    seen.push_back(done);
  };
  run(g, options);
  EXPECT_EQ(seen, (std::vector<std::size_t>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace wormsim::workloads
