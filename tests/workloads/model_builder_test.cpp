// ModelBuilder paths the zoo models reach only at some sizes: a conv that fits L1 in no placement
// runs in DRAM-sliced bands (padded_slice, conv2d per band, slice_write) and must compute what
// the unsliced conv computes; a held residual that leaves a conv no room moves to DRAM.
#include "workloads/models/model_builder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "arch/device_spec.hpp"
#include "ops/device.hpp"
#include "ops/numerics/pcc.hpp"
#include "workloads/executor.hpp"
#include "workloads/graph.hpp"
#include "workloads/models/model_zoo.hpp"

namespace wormsim::workloads::models {
namespace {

// A batch-2 3x3 conv on a 160 x 128 map, built for `spec`; returns the graph's op names.
Graph conv_graph(const arch::DeviceSpec& spec, std::set<std::string>& ops) {
  Graph graph("sliced_conv", spec);
  ModelOptions options;
  options.batch = 2;
  ModelBuilder b(graph, options);
  FeatureMap x{0, 2, 160, 128, 16};
  x.id = b.input("images", ops::Shape({1, 1, 2 * 160 * 128, 16}), ops::Layout::Tile,
                 ops::DataType::BFloat16);
  const FeatureMap y = b.conv("conv", x, 16, ConvOptions{3, 1, 1, 1, true, "relu"}, "body");
  graph.mark_output(y.id);
  for (const GraphNode& node : graph.nodes()) ops.insert(node.op);
  return graph;
}

GraphRun run_with_numerics(const arch::DeviceSpec& spec, const Graph& graph) {
  ops::Device device(spec);
  ExecutorOptions exec;
  exec.numerics = true;
  exec.seed = 3;
  return run_graph(device, graph, exec);
}

TEST(ModelBuilder, DramSlicedConvComputesWhatTheWholeConvComputes) {
  const arch::DeviceSpec n300 = arch::load_device_spec_by_name("n300");
  // The same card with a fraction of the L1: the conv then fits in no placement and is sliced.
  arch::DeviceSpec small = n300;
  small.l1.usable_bytes = 64 * 1024;
  std::set<std::string> whole_ops, sliced_ops;
  const Graph whole = conv_graph(n300, whole_ops);
  const Graph sliced = conv_graph(small, sliced_ops);
  ASSERT_FALSE(whole_ops.count("padded_slice"));
  ASSERT_TRUE(sliced_ops.count("padded_slice")) << "the conv was not sliced; shrink the L1 more";
  ASSERT_TRUE(sliced_ops.count("slice_write"));

  const GraphRun a = run_with_numerics(n300, whole);
  const GraphRun b = run_with_numerics(small, sliced);
  const ops::Tensor& out_a = a.outputs.at("conv");
  const ops::Tensor& out_b = b.outputs.at(sliced.tensor(sliced.outputs().front()).name);
  ASSERT_EQ(out_a.spec().logical_shape(), out_b.spec().logical_shape());
  // Same synthetic input and weights (seeded by name): the goldens are one fp32 convolution
  // computed whole or band by band, the device values the same FPU model on the same rows.
  EXPECT_LE(ops::numerics::max_abs_error(out_a.logical_golden(), out_b.logical_golden()), 1e-4);
  EXPECT_GE(ops::numerics::pcc(out_a.logical_values(), out_b.logical_values()), 0.9999);
}

TEST(ModelBuilder, AHeldResidualMovesToDramWhenAConvFitsNoOtherWay) {
  // ResNet-50 at batch 1: layer4.0's output stays in L1 for layer4.1's residual add. On a card
  // with less L1, layer4.1.conv2 (3x3, 512 channels, 2.4 M weights) fits beside it neither whole
  // nor in bands. The builder then moves the held tensor to DRAM, as a TT-NN model would, and the
  // add reads the copy. The L1 size is searched downwards, so the test does not depend on exactly
  // how much room the conv's blocks take.
  const arch::DeviceSpec n300 = arch::load_device_spec_by_name("n300");
  ModelOptions options;
  options.layers = 2;
  options.batch = 1;
  constexpr std::uint64_t kStep = 32 * 1024;
  for (std::uint64_t usable = n300.l1.usable_bytes; usable > 8 * kStep; usable -= kStep) {
    arch::DeviceSpec spec = n300;
    spec.l1.usable_bytes = usable;
    spec.l1.first_usable_address = spec.l1.size_bytes - usable;
    Graph graph = [&] {
      try {
        return build_model("resnet-50", options, spec);
      } catch (const Error&) {
        return Graph("unbuildable", spec);  // too little L1 for some other op
      }
    }();
    const GraphNode* spill = nullptr;
    const GraphNode* add = nullptr;
    for (const GraphNode& node : graph.nodes()) {
      if (node.name == "layer4.0.add.spill") spill = &node;
      if (node.name == "layer4.1.add") add = &node;
    }
    if (spill == nullptr) continue;
    SCOPED_TRACE("usable L1 " + std::to_string(usable) + " B");
    ASSERT_NE(add, nullptr);
    EXPECT_EQ(spill->op, "sharded_to_interleaved");
    const TensorId copy = spill->outputs.at(0);
    EXPECT_TRUE(graph.spec(copy).memory_config().is_dram());
    EXPECT_NE(std::find(add->inputs.begin(), add->inputs.end(), copy), add->inputs.end())
        << "the residual add does not read the DRAM copy";
    const GraphRun run = run_with_numerics(spec, graph);
    ASSERT_TRUE(run.pcc.has_value());
    EXPECT_GE(*run.pcc, 0.999);
    return;
  }
  FAIL() << "no L1 size made the builder move layer4.0's output to DRAM";
}

}  // namespace
}  // namespace wormsim::workloads::models
