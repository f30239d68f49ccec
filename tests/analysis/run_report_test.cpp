// The run profile (tt-perf-report's DRAM % / FLOPs % and bound classes, advice), the engine
// element names, the traffic recorder and the console report.
#include "analysis/run_report.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "sim/engine.hpp"
#include "sim/error.hpp"
#include "tests/analysis/synthetic_run.hpp"

namespace wormsim::analysis {
namespace {

using testing::make_run;
using testing::make_traffic;
using testing::mlp_nodes;
using testing::n300;
using testing::NodeSpec;
using testing::tile_tensor;

TEST(ElementNames, EveryEngineStatisticKindIsDecoded) {
  ElementInfo e = parse_element_name("chip1 noc1 (3,4)->(3,3)");
  EXPECT_EQ(e.kind, ElementKind::NocLink);
  EXPECT_EQ(e.chip, 1u);
  EXPECT_EQ(e.noc, 1);
  EXPECT_EQ(e.src, (arch::Coord{3, 4}));
  EXPECT_EQ(e.dst, (arch::Coord{3, 3}));
  e = parse_element_name("chip0 noc0 inject (9,11)");
  EXPECT_EQ(e.kind, ElementKind::NiuPort);
  EXPECT_EQ(e.src, (arch::Coord{9, 11}));
  EXPECT_EQ(parse_element_name("chip0 noc1 absorb (1,1)").kind, ElementKind::NiuPort);
  e = parse_element_name("chip1 dram bank 11");
  EXPECT_EQ(e.kind, ElementKind::DramBank);
  EXPECT_EQ(e.index, 11u);
  EXPECT_EQ(parse_element_name("chip0 dram controller 5").kind, ElementKind::DramController);
  e = parse_element_name("ethernet link 1 chip0<->chip1 b->a");
  EXPECT_EQ(e.kind, ElementKind::Ethernet);
  EXPECT_EQ(e.chip, 1u);  // b->a: chip 1 sends
  EXPECT_EQ(e.index, 1u);
  EXPECT_EQ(parse_element_name("pcie host->device").kind, ElementKind::Pcie);
  EXPECT_EQ(parse_element_name("chip0 noc0 (1,1)->(2,1) extra").kind, ElementKind::Other);
  EXPECT_EQ(parse_element_name("semaphore 3").kind, ElementKind::Other);
}

TEST(TrafficRecorder, EachNodeGetsTheDifferenceSinceThePreviousNode) {
  sim::Engine engine;
  sim::BusyStats& link = engine.register_stats("chip0 noc0 (1,1)->(2,1)");
  link.occupy(0, 50, 64);  // before the run: not counted
  TrafficRecorder recorder(engine);
  recorder.begin_run();
  auto progress = recorder.wrap([](std::size_t, std::size_t) {});
  link.occupy(100, 300, 1000);
  progress(1, 3);
  sim::BusyStats& bank = engine.register_stats("chip0 dram bank 2");  // registered mid-run
  bank.occupy(400, 450, 500);
  progress(2, 3);
  progress(3, 3);  // nothing happened
  const RunTraffic traffic = recorder.finish_run();
  ASSERT_EQ(traffic.element_names.size(), 2u);
  ASSERT_EQ(traffic.nodes.size(), 3u);
  ASSERT_EQ(traffic.nodes[0].size(), 1u);
  EXPECT_EQ(traffic.nodes[0][0].busy_cycles, 200u);
  EXPECT_EQ(traffic.nodes[0][0].units, 1000u);
  ASSERT_EQ(traffic.nodes[1].size(), 1u);
  EXPECT_EQ(traffic.nodes[1][0].element, 1u);
  EXPECT_EQ(traffic.nodes[1][0].busy_cycles, 50u);
  EXPECT_TRUE(traffic.nodes[2].empty());
}

TEST(RunProfile, TrafficMustMatchTheRun) {
  const workloads::GraphRun run = make_run(mlp_nodes());
  const RunTraffic short_traffic = make_traffic(2, 100);
  try {
    build_profile(n300(), {{&run, &short_traffic}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("2 node records for 3 nodes"), std::string::npos)
        << e.what();
  }
}

TEST(RunProfile, TtPerfReportDatumSizes) {
  EXPECT_EQ(tpr_datum_bytes(ops::DataType::BFloat16), 2.0);
  EXPECT_EQ(tpr_datum_bytes(ops::DataType::BFloat8_B), 1.0);
  EXPECT_EQ(tpr_datum_bytes(ops::DataType::BFloat4_B), 0.5);
  EXPECT_EQ(tpr_datum_bytes(ops::DataType::Float32), 4.0);
  EXPECT_EQ(tpr_datum_bytes(ops::DataType::UInt32), 4.0);
  EXPECT_EQ(tt_metal_element_bytes(ops::DataType::BFloat4_B), 1.0);
}

// An M x 2048 x 2048 BF16 HiFi4 matmul: FLOPs and DRAM bytes are known, the kernel time sets the %.
NodeSpec matmul(sim::Cycle kernel, std::uint32_t cores, ops::MemoryConfig weights_memory,
                ops::MemoryConfig act_memory = ops::MemoryConfig::dram_interleaved(),
                std::uint32_t m = 2048) {
  const ops::TensorSpec act = tile_tensor({1, 1, m, 2048}, ops::DataType::BFloat16, act_memory);
  const ops::TensorSpec w =
      tile_tensor({1, 1, 2048, 2048}, ops::DataType::BFloat16, weights_memory);
  const ops::TensorSpec out = tile_tensor({1, 1, m, 2048}, ops::DataType::BFloat16, act_memory);
  NodeSpec s = testing::node_spec("mm", "matmul", "MatmulDeviceOperation", {act, w}, {out}, kernel,
                                  cores, true);
  s.fidelity = arch::MathFidelity::HiFi4;
  s.flops = 2ull * m * 2048 * 2048;
  return s;
}

TEST(RunProfile, DramAndFlopPercentagesFollowTtPerfReportDefinitions) {
  const workloads::GraphRun run =
      make_run({matmul(200000, 64, ops::MemoryConfig::dram_interleaved())});
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  const OpProfile& op = profile.ops.at(0);
  // Three 2048x2048 BF16 tensors in DRAM.
  EXPECT_DOUBLE_EQ(op.tpr_dram_bytes, 3.0 * 2048 * 2048 * 2);
  EXPECT_NEAR(*op.dram_gbps, op.tpr_dram_bytes / 200000.0, 1e-9);
  EXPECT_NEAR(profile.dram_peak_gbps, 288.0, 1e-9);  // 12 banks x 24 GB/s, tt-perf-report's figure
  EXPECT_NEAR(*op.dram_pct, 100.0 * *op.dram_gbps / 288.0, 1e-9);
  const double tflops = 2.0 * 2048 * 2048 * 2048 / 200000e-9 / 1e12;
  EXPECT_NEAR(*op.tflops, tflops, 1e-9);
  EXPECT_NEAR(*op.flops_pct,
              100.0 * tflops / n300().peak_tflops_per_chip(arch::MathFidelity::HiFi4), 1e-9);
}

TEST(RunProfile, BoundClassesAndAdviceAtTheSixtyFivePercentThresholds) {
  const ops::MemoryConfig dram = ops::MemoryConfig::dram_interleaved();
  const double peak_flops = n300().peak_tflops_per_chip(arch::MathFidelity::HiFi4) * 1e12;
  const double flops = 2.0 * 2048 * 2048 * 2048;
  // FLOP-bound: 80 % of the HiFi4 peak on 64 cores; inputs in L1 so DRAM % stays low.
  const auto l1 = ops::MemoryConfig::l1_interleaved();
  NodeSpec flop = matmul(static_cast<sim::Cycle>(flops / (0.8 * peak_flops) * 1e9), 64, l1, l1);
  flop.name = "flop";
  // DRAM-bound: 24 MiB in 0.1 ms = 252 GB/s = 87 % of 288, weights interleaved.
  NodeSpec dram_bound = matmul(100000, 64, dram);
  dram_bound.name = "dram";
  dram_bound.flops = 1;  // negligible FLOPs
  // SLOW on 4 cores.
  NodeSpec slow = matmul(10000000, 4, dram);
  slow.name = "slow";
  // NoC-bound: an L1 eltwise whose busiest link is busy 90 % of the kernel.
  const NodeSpec noc = testing::node_spec(
      "noc", "add", "BinaryNgDeviceOperation",
      {tile_tensor({1, 1, 64, 64}, ops::DataType::BFloat16, l1)},
      {tile_tensor({1, 1, 64, 64}, ops::DataType::BFloat16, l1)}, 1000, 64, true);
  const workloads::GraphRun run = make_run({flop, dram_bound, slow, noc});
  RunTraffic traffic = make_traffic(4, 0);
  for (auto& uses : traffic.nodes) uses.clear();
  traffic.nodes[3].push_back({0, 900, 0, 28800, 9});
  const RunProfile profile = build_profile(n300(), {{&run, &traffic}});

  EXPECT_EQ(profile.ops[0].bound, BoundClass::Flop);
  EXPECT_NE(profile.ops[0].advice.find("FLOP-bound at HiFi4: try HiFi2"), std::string::npos)
      << profile.ops[0].advice;
  EXPECT_EQ(profile.ops[1].bound, BoundClass::Dram);
  EXPECT_NE(profile.ops[1].advice.find("matmul DRAM-bound"), std::string::npos);
  EXPECT_NE(profile.ops[1].advice.find("in1 interleaved: try DRAM-sharded weights"),
            std::string::npos);
  EXPECT_EQ(profile.ops[2].bound, BoundClass::Slow);
  EXPECT_EQ(profile.ops[2].advice, "SLOW: low core count 4/64 - shard over more cores");
  EXPECT_EQ(profile.ops[3].bound, BoundClass::Noc);
  EXPECT_NEAR(*profile.ops[3].max_link_util_pct, 90.0, 1e-9);
  EXPECT_NE(profile.ops[3].advice.find("NoC-bound (chip0 noc0 (1,1)->(2,1) busy 90%)"),
            std::string::npos)
      << profile.ops[3].advice;
  EXPECT_EQ(to_string(BoundClass::Both), "BOTH");

  // Both: DRAM and FLOPs above 65 % at once (M = 256: 10.5 MB for 2.1 GFLOP).
  const double small_flops = 2.0 * 256 * 2048 * 2048;
  NodeSpec both =
      matmul(static_cast<sim::Cycle>(small_flops / (0.7 * peak_flops) * 1e9), 64, dram, dram, 256);
  const workloads::GraphRun run2 = make_run({both});
  const RunProfile p2 = build_profile(n300(), {{&run2, nullptr}});
  ASSERT_GE(*p2.ops[0].dram_pct, 65.0);
  EXPECT_EQ(p2.ops[0].bound, BoundClass::Both);
}

TEST(RunProfile, DramShardedMatmulsCountTheBankCoresAsTtPerfReportDoes) {
  NodeSpec mm = matmul(100000, 64, ops::MemoryConfig::dram_interleaved());
  mm.attributes =
      "{'program_config': 'MatmulMultiCoreReuseMultiCastDRAMShardedProgramConfig(in0_block_w=4)'}";
  const workloads::GraphRun run = make_run({mm});
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  EXPECT_EQ(profile.ops[0].effective_cores, 12u);
}

TEST(RunReport, PrintsTypesTopOpsGapsAndAdvice) {
  std::vector<NodeSpec> nodes = mlp_nodes();
  NodeSpec tiny = nodes[2];
  tiny.name = "tiny";
  tiny.cores = 2;
  tiny.inputs = {
      tile_tensor({1, 1, 32, 32}, ops::DataType::BFloat16, ops::MemoryConfig::l1_interleaved())};
  tiny.outputs = tiny.inputs;
  nodes.push_back(tiny);
  // Eager dispatch with 9 us gaps: the report asks for a trace.
  const workloads::GraphRun run = make_run(nodes, 9000, 0, workloads::DispatchMode::Eager);
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  std::ostringstream out;
  print_run_report(out, profile, ReportOptions{2, 5});
  const std::string text = out.str();
  EXPECT_NE(text.find("device time by op type"), std::string::npos);
  EXPECT_NE(text.find("MatmulDeviceOperation"), std::string::npos);
  EXPECT_NE(text.find("UnaryDeviceOperation"), std::string::npos);
  EXPECT_NE(text.find("top ops by device kernel time"), std::string::npos);
  EXPECT_NE(text.find("op-to-op gaps: 27.00 us total over 3 gaps"), std::string::npos) << text;
  EXPECT_NE(text.find("3 above 6.50 us"), std::string::npos) << text;
  EXPECT_NE(text.find("many small ops"), std::string::npos) << text;
  EXPECT_NE(text.find("--dispatch trace"), std::string::npos) << text;
  EXPECT_NE(text.find("tiny (UnaryDeviceOperation"), std::string::npos) << text;
  EXPECT_NE(text.find("low core count 2/64"), std::string::npos) << text;
  // Top 2 only: act (0.8 us) is not in the top table but the matmul is.
  const std::string top =
      text.substr(text.find("top ops"), text.find("op-to-op") - text.find("top ops"));
  EXPECT_NE(top.find("fc1 "), std::string::npos);
  EXPECT_EQ(top.find("act "), std::string::npos);

  // A traced run with small gaps has no gap advice.
  const workloads::GraphRun traced = make_run(mlp_nodes(), 100);
  EXPECT_EQ(gap_advice(build_profile(n300(), {{&traced, nullptr}})), "");
}

TEST(RunReport, OpsRepeatedPerLayerShareOneAdviceLine) {
  std::vector<NodeSpec> nodes = mlp_nodes();
  NodeSpec tiny = nodes[2];
  tiny.cores = 2;
  tiny.inputs = {
      tile_tensor({1, 1, 32, 32}, ops::DataType::BFloat16, ops::MemoryConfig::l1_interleaved())};
  tiny.outputs = tiny.inputs;
  for (int layer = 0; layer < 3; ++layer) {
    tiny.name = "layer" + std::to_string(layer) + ".tiny";
    nodes.push_back(tiny);
  }
  const workloads::GraphRun run = make_run(nodes, 100);
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  std::ostringstream out;
  print_run_report(out, profile, ReportOptions{2, 5});
  const std::string advice = out.str().substr(out.str().find("\nadvice\n"));
  EXPECT_NE(advice.find("layer0.tiny and 2 like it (UnaryDeviceOperation"), std::string::npos)
      << advice;
  EXPECT_EQ(advice.find("layer1.tiny"), std::string::npos) << advice;
  EXPECT_EQ(advice.find("layer2.tiny"), std::string::npos) << advice;
}

}  // namespace
}  // namespace wormsim::analysis
