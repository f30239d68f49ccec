// Sharding strategies: JSON round trip, the graph rewrite (placements honoured, conversions
// inserted and counted, fallbacks), strict errors and the auto search's output.
#include "workloads/strategy.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "arch/device_spec.hpp"
#include "sim/error.hpp"
#include "workloads/models/model_zoo.hpp"
#include "workloads/strategy_search.hpp"

namespace wormsim::workloads {
namespace {

namespace fs = std::filesystem;

const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

Graph small_vit() {
  ModelOptions o;
  o.layers = 1;
  o.batch = 1;
  return build_model("vit-base", o, n300());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Strategy, PresetsAndFilesRoundTripThroughJson) {
  for (const std::string& name : strategy_preset_names()) {
    if (name == "auto") continue;
    const Strategy s = strategy_preset(name);
    EXPECT_EQ(Strategy::from_json(s.to_json()), s) << name;
  }
  Strategy custom;
  custom.name = "hand-tuned";
  custom.description = "softmax in DRAM, QKV block sharded on 8x4";
  custom.policy = "block-sharded";
  custom.rules.push_back(
      {"*.attention.softmax", "softmax", false, {"dram-interleaved", 0, 0, nullptr}});
  custom.rules.push_back({"*.qkv",
                          "linear",
                          false,
                          {"l1-block-sharded",
                           8,
                           4,
                           {{"kind", "2d"},
                            {"grid", {8, 4}},
                            {"in0_block_w", 3},
                            {"per_core_M", 1},
                            {"per_core_N", 9}}}});
  custom.rules.push_back({"vit.embeddings.*", "", true, {}});
  const fs::path file =
      fs::temp_directory_path() / ("wormsim_strategy_" + std::to_string(::getpid()) + ".json");
  custom.save(file.string());
  EXPECT_EQ(Strategy::load(file.string()), custom);
  EXPECT_EQ(strategy_from_name_or_file(file.string()), custom);
  fs::remove(file);
}

TEST(Strategy, BadFilesNameTheField) {
  EXPECT_NE(error_of([] {
              Strategy::from_json({{"name", "x"}, {"policy", "sideways"}});
            }).find("unknown policy 'sideways'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Strategy::from_json({{"name", "x"}, {"rules", {{{"match", "*"}, {"memory", "l2"}}}}});
            }).find("rules[0]: unknown memory 'l2'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Strategy::from_json({{"name", "x"}, {"rulez", 1}});
            }).find("rulez"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              Strategy::from_json({{"name", "x"}, {"rules", {{{"match", "*"}}}}});
            }).find("give \"memory\" or \"keep\""),
            std::string::npos);
  EXPECT_NE(error_of([] { Strategy::load("/nonexistent/s.json"); }).find("/nonexistent/s.json"),
            std::string::npos);
  EXPECT_NE(error_of([] { strategy_preset("diagonal"); }).find("hybrid-attention-island"),
            std::string::npos);
}

TEST(Strategy, GlobsMatchNodeNames) {
  EXPECT_TRUE(
      node_name_matches("vit.encoder.layer.*.attention.qkv", "vit.encoder.layer.11.attention.qkv"));
  EXPECT_TRUE(node_name_matches("*softmax", "a.b.softmax"));
  EXPECT_TRUE(node_name_matches("layer.?.x", "layer.3.x"));
  EXPECT_FALSE(node_name_matches("layer.?.x", "layer.10.x"));
  EXPECT_FALSE(node_name_matches("*.qkv", "a.qkv.bias"));
}

// The model's graph and the rewritten one compute the same thing: same original nodes in the
// same order, same outputs; only memory configs differ and conversion nodes are added.
void expect_same_computation(const Graph& model, const AppliedStrategy& applied) {
  const Graph& g = applied.graph;
  std::set<std::string> conversion_names;
  for (const auto& c : applied.stats.conversions) conversion_names.insert(c.node);
  std::vector<std::string> kept;
  for (const GraphNode& n : g.nodes()) {
    if (!conversion_names.count(n.name)) kept.push_back(n.name);
  }
  ASSERT_EQ(kept.size(), model.nodes().size());
  for (std::size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i], model.nodes()[i].name);
  EXPECT_EQ(g.nodes().size(), model.nodes().size() + applied.stats.conversions.size());
  ASSERT_EQ(g.outputs().size(), model.outputs().size());
  for (std::size_t i = 0; i < g.outputs().size(); ++i) {
    EXPECT_EQ(g.spec(g.outputs()[i]).logical_shape(),
              model.spec(model.outputs()[i]).logical_shape());
  }
}

TEST(Strategy, PresetsPlaceActivationsAsTheySay) {
  const Graph model = small_vit();
  for (const std::string& name : strategy_preset_names()) {
    if (name == "auto") continue;
    SCOPED_TRACE(name);
    const AppliedStrategy applied = apply_strategy(model, strategy_preset(name));
    expect_same_computation(model, applied);
    const Graph& g = applied.graph;
    const auto memory_of = [&](const std::string& node) {
      return g.spec(g.node(*g.find_node(node)).outputs[0]).memory_config();
    };
    const auto qkv = memory_of("vit.encoder.layer.0.attention.attention.qkv");
    const auto softmax = memory_of("vit.encoder.layer.0.attention.softmax");
    if (name == "dram-interleaved") {
      EXPECT_TRUE(qkv.is_dram() && !qkv.is_sharded());
      EXPECT_EQ(applied.stats.placement_fallbacks, 0u);
    } else if (name == "l1-interleaved") {
      EXPECT_TRUE(qkv.is_l1() && !qkv.is_sharded());
    } else if (name == "height-sharded") {
      EXPECT_EQ(qkv.layout(), ops::TensorMemoryLayout::HeightSharded);
    } else if (name == "block-sharded") {
      EXPECT_EQ(qkv.layout(), ops::TensorMemoryLayout::BlockSharded);
      EXPECT_EQ(softmax.layout(), ops::TensorMemoryLayout::HeightSharded);  // per-head tensor
    } else if (name == "hybrid-attention-island") {
      EXPECT_EQ(qkv.layout(), ops::TensorMemoryLayout::BlockSharded);
      EXPECT_TRUE(softmax.is_dram() && !softmax.is_sharded());
      // Into the island (head split reads the block-sharded QKV) and back out (the output
      // projection reads the merged heads block sharded).
      EXPECT_GE(applied.stats.conversion_count("attn_island_interleave"), 1u);
      EXPECT_GE(applied.stats.conversion_count("attn_island_reshard"), 1u);
    }
    // Every conversion node really converts: its input and output memory configs differ.
    for (const auto& c : applied.stats.conversions) {
      const GraphNode& n = g.node(*g.find_node(c.node));
      EXPECT_NE(g.spec(n.inputs[0]).memory_config(), g.spec(n.outputs[0]).memory_config())
          << c.node;
      EXPECT_EQ(g.spec(n.inputs[0]).logical_shape(), g.spec(n.outputs[0]).logical_shape())
          << c.node;
    }
  }
}

TEST(Strategy, ConversionsAreSharedBetweenConsumers) {
  const Graph model = small_vit();
  const AppliedStrategy applied = apply_strategy(model, strategy_preset("hybrid-attention-island"));
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& c : applied.stats.conversions) {
    const Graph& g = applied.graph;
    const auto memory =
        ops::to_string(g.spec(g.node(*g.find_node(c.node)).outputs[0]).memory_config());
    EXPECT_TRUE(seen.insert({c.source, memory}).second)
        << c.source << " converted twice to " << memory;
  }
}

TEST(Strategy, UnfittablePlacementFallsBackOrFailsStrictNamingNodeAndCore) {
  const Graph model = small_vit();
  Strategy s;
  s.name = "one-core";
  // The whole [1, 1, 197, 3072] MLP activation on one core's L1 cannot fit.
  s.rules.push_back({"*intermediate.dense", "linear", false, {"l1-height-sharded", 1, 1, nullptr}});
  const AppliedStrategy applied = apply_strategy(model, s);
  ASSERT_EQ(applied.stats.placement_fallbacks, 1u);
  ASSERT_EQ(applied.stats.choices.size(), 1u);
  EXPECT_EQ(applied.stats.choices[0].node, "vit.encoder.layer.0.intermediate.dense");
  EXPECT_NE(applied.stats.choices[0].reason.find("L1"), std::string::npos)
      << applied.stats.choices[0].reason;
  const Graph& g = applied.graph;
  EXPECT_TRUE(g.spec(g.node(*g.find_node("vit.encoder.layer.0.intermediate.dense")).outputs[0])
                  .memory_config()
                  .is_dram());

  ApplyOptions strict;
  strict.strict = true;
  const std::string error = error_of([&] { apply_strategy(model, s, strict); });
  EXPECT_NE(error.find("vit.encoder.layer.0.intermediate.dense"), std::string::npos) << error;
  EXPECT_NE(error.find("core"), std::string::npos) << error;
  EXPECT_NE(error.find("--strict"), std::string::npos) << error;
}

TEST(Strategy, InvalidProgramConfigFallsBackUnlessStrict) {
  const Graph model = small_vit();
  Strategy s;
  s.name = "bad-config";
  // per_core_N 1 on a 1x1 grid cannot cover the 96 output tile columns.
  s.rules.push_back({"*intermediate.dense",
                     "linear",
                     false,
                     {"dram-interleaved",
                      0,
                      0,
                      {{"kind", "2d"},
                       {"grid", {1, 1}},
                       {"in0_block_w", 1},
                       {"per_core_M", 7},
                       {"per_core_N", 1}}}});
  const AppliedStrategy applied = apply_strategy(model, s);
  EXPECT_EQ(applied.stats.placement_fallbacks, 0u);  // the op falls back by itself, at run time
  ApplyOptions strict;
  strict.strict = true;
  const std::string error = error_of([&] { apply_strategy(model, s, strict); });
  EXPECT_NE(error.find("program config is invalid"), std::string::npos) << error;
}

TEST(Strategy, ConvRulesChooseTheConvShardLayoutAndGrid) {
  // A window op runs sharded like its input; a sharded rule on it names the conv's own layout
  // and grid (TT-NN's shard_layout), and its input is resharded to match. ResNet-50's layer3
  // convs block sharded on a 4 x 4 grid, as tt-metal's demo shards its late stages.
  ModelOptions o;
  o.layers = 1;
  o.batch = 1;
  const Graph model = build_model("resnet-50", o, n300());
  Strategy s;
  s.name = "layer3-block";
  s.rules.push_back({"layer3.*", "conv2d", false, {"l1-block-sharded", 4, 4, nullptr}});
  ApplyOptions strict;
  strict.strict = true;
  const AppliedStrategy applied = apply_strategy(model, s, strict);
  EXPECT_EQ(applied.stats.placement_fallbacks, 0u);
  std::size_t convs = 0;
  for (const GraphNode& node : applied.graph.nodes()) {
    if (node.op != "conv2d" || !node.name.starts_with("layer3.")) continue;
    ++convs;
    EXPECT_EQ(node.params.value("shard_layout", ""), "block") << node.name;
    const ops::MemoryConfig& m = applied.graph.spec(node.outputs.at(0)).memory_config();
    EXPECT_EQ(m.layout(), ops::TensorMemoryLayout::BlockSharded) << node.name;
    EXPECT_TRUE(m.is_l1()) << node.name;
    ASSERT_TRUE(m.shard_spec().has_value()) << node.name;
    EXPECT_EQ(m.shard_spec()->grid.bounding_box().width(), 4u) << node.name;
  }
  EXPECT_EQ(convs, 4u);  // downsample, conv1, conv2, conv3
}

TEST(Strategy, ShippedResNetStrategyAppliesStrictly) {
  // workloads/models/strategies/resnet50_tt_metal_sharded.json (tt-metal's demo placement) on
  // ResNet-50 at its default batch in bfloat8_b: every rule honoured, no fallback.
  const fs::path file = fs::path(WORMSIM_TEST_DATA_DIR).parent_path().parent_path() /
                        "workloads/models/strategies/resnet50_tt_metal_sharded.json";
  const Strategy s = Strategy::load(file.string());
  ModelOptions o;
  o.layers = 1;
  o.dtype = "bfloat8_b";
  o.fidelity = "LoFi";
  const Graph model = build_model("resnet-50", o, n300());
  ApplyOptions strict;
  strict.strict = true;
  const AppliedStrategy applied = apply_strategy(model, s, strict);
  EXPECT_EQ(applied.stats.placement_fallbacks, 0u);
  for (const GraphNode& node : applied.graph.nodes()) {
    if (node.op != "conv2d" || !node.name.starts_with("layer")) continue;
    const bool late = node.name.starts_with("layer3") || node.name.starts_with("layer4");
    const ops::MemoryConfig& m = applied.graph.spec(node.outputs.at(0)).memory_config();
    EXPECT_EQ(m.layout(),
              late ? ops::TensorMemoryLayout::BlockSharded : ops::TensorMemoryLayout::HeightSharded)
        << node.name;
    if (!late) continue;
    // layer3 on CoreGrid(x=8, y=8), layer4 on CoreGrid(x=8, y=7).
    ASSERT_TRUE(m.shard_spec().has_value()) << node.name;
    const auto box = m.shard_spec()->grid.bounding_box();
    EXPECT_EQ(box.width(), 8u) << node.name;
    EXPECT_EQ(box.height(), node.name.starts_with("layer3") ? 8u : 7u) << node.name;
  }
}

TEST(Strategy, RuleOnAnOpWithoutPlacementIsAnError) {
  const Graph model = small_vit();
  Strategy s;
  s.name = "reshape-rule";
  s.rules.push_back({"*", "reshape", false, {"l1-interleaved", 0, 0, nullptr}});
  EXPECT_NE(error_of([&] { apply_strategy(model, s); }).find("has no output placement to choose"),
            std::string::npos);
}

TEST(StrategySearch, ProducesAStrategyThatAppliesAndRoundTrips) {
  const Graph model = small_vit();
  SearchOptions options;
  options.beam_width = 2;
  const SearchResult found = search_strategy(model, options);
  EXPECT_GT(found.estimated_ns, 0.0);
  EXPECT_GT(found.timed_ops, 0u);
  EXPECT_EQ(found.strategy.name, "auto");
  EXPECT_FALSE(found.strategy.rules.empty());
  EXPECT_EQ(Strategy::from_json(found.strategy.to_json()), found.strategy);
  const AppliedStrategy applied = apply_strategy(model, found.strategy);
  expect_same_computation(model, applied);
  // The search is deterministic.
  EXPECT_EQ(search_strategy(model, options).strategy, found.strategy);
}

}  // namespace
}  // namespace wormsim::workloads
