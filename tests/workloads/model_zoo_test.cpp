// Model zoo: every model builds (graph construction only) at its default size and reduced,
// parameter counts match the published architectures, FLOPs are within the bounds the
// architectures give, per-group dtype / fidelity options reach the nodes, and bad options fail
// with clear errors. (Running the models end to end is the executor's test.)
#include "workloads/models/model_zoo.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include "arch/device_spec.hpp"
#include "ops/data_type.hpp"
#include "sim/error.hpp"
#include "workloads/graph.hpp"

#define MEASURE(name, v) std::printf("MEASURE %s = %.9g\n", name, static_cast<double>(v))

namespace {

using wormsim::Error;
using namespace wormsim::workloads;

const wormsim::arch::DeviceSpec& n300() {
  static const wormsim::arch::DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n300");
  return spec;
}

const std::vector<std::string> kModels = {"bert-large", "depth-anything-v2-large",
                                          "dpt-large",  "mnist-cnn",
                                          "mnist-mlp",  "pi0",
                                          "resnet-50",  "vit-base",
                                          "yolov8s"};

// Ops that take output_dtype / math_fidelity (conv2d: "dtype").
const std::set<std::string> kComputeOps = {
    "matmul", "linear",  "add",     "sub",       "mul",     "gelu",   "relu",
    "silu",   "sigmoid", "softmax", "layernorm", "rmsnorm", "conv2d", "global_avg_pool2d"};

std::uint64_t weights_with_prefix(const Graph& g, const std::string& prefix) {
  std::uint64_t count = 0;
  for (const GraphTensor& t : g.tensors()) {
    if (t.kind == TensorKind::Weight && t.name.rfind(prefix, 0) == 0)
      count += t.spec.logical_shape().volume();
  }
  return count;
}

const GraphNode& node_named(const Graph& g, const std::string& name) {
  const auto id = g.find_node(name);
  if (!id) throw std::runtime_error("no node " + name);
  return g.node(*id);
}

void expect_within(double value, double reference, double tolerance, const std::string& what) {
  EXPECT_NEAR(value / reference, 1.0, tolerance)
      << what << ": " << value << " vs reference " << reference;
}

TEST(ModelZoo, ListsTheModelsWithDescriptionsAndGroups) {
  EXPECT_EQ(model_names(), kModels);
  for (const std::string& name : kModels) {
    EXPECT_FALSE(model_description(name).empty()) << name;
    EXPECT_FALSE(model_groups(name).empty()) << name;
  }
}

TEST(ModelZoo, UnknownModelIsAnErrorListingTheModels) {
  for (auto call : {+[] { build_model("vit-huge", ModelOptions{}, n300()); },
                    +[] { model_description("vit-huge"); }}) {
    try {
      call();
      FAIL() << "expected an Error";
    } catch (const Error& e) {
      const std::string text = e.what();
      EXPECT_NE(text.find("vit-huge"), std::string::npos) << text;
      for (const std::string& name : kModels) EXPECT_NE(text.find(name), std::string::npos) << text;
    }
  }
}

class EveryModel : public ::testing::TestWithParam<std::string> {};

// Structural checks every zoo graph must pass. A reduced graph may leave a group out (pi0 with
// one layer has no backbone MLP: the last prefix layer stops at its K/V).
void check_graph(const Graph& g, const std::string& name, bool all_groups) {
  ASSERT_FALSE(g.nodes().empty());
  ASSERT_FALSE(g.outputs().empty());
  EXPECT_EQ(g.topological_order().size(), g.nodes().size());
  EXPECT_GT(g.parameter_count(), 0u);
  EXPECT_GT(g.flops(), 0u);
  // Groups used are exactly the groups the zoo declares.
  std::set<std::string> used;
  for (const GraphNode& n : g.nodes()) used.insert(n.group);
  const auto declared = model_groups(name);
  const std::set<std::string> declared_set(declared.begin(), declared.end());
  if (all_groups) {
    EXPECT_EQ(used, declared_set) << name;
  } else {
    EXPECT_TRUE(std::includes(declared_set.begin(), declared_set.end(), used.begin(), used.end()))
        << name;
  }
  // Every compute node carries the format and fidelity of its group.
  for (const GraphNode& n : g.nodes()) {
    if (kComputeOps.count(n.op) == 0) continue;
    const bool dtype_key = n.op == "conv2d" || n.op == "global_avg_pool2d";
    EXPECT_TRUE(n.params.contains(dtype_key ? "dtype" : "output_dtype")) << n.name;
    EXPECT_TRUE(n.params.contains("math_fidelity")) << n.name;
  }
  // Every node's result is used (consumed or a graph output): no dead compute. A multi-output
  // node may leave some outputs unused (the last prefix layer of pi0 needs only K and V).
  std::set<TensorId> consumed(g.outputs().begin(), g.outputs().end());
  for (const GraphNode& n : g.nodes()) consumed.insert(n.inputs.begin(), n.inputs.end());
  for (const GraphNode& n : g.nodes()) {
    const bool used = std::any_of(n.outputs.begin(), n.outputs.end(),
                                  [&](TensorId t) { return consumed.count(t) > 0; });
    EXPECT_TRUE(used) << name << ": node " << n.name << " feeds nothing";
  }
}

TEST_P(EveryModel, BuildsAtItsDefaultSize) {
  const Graph g = build_model(GetParam(), ModelOptions{}, n300());
  EXPECT_EQ(g.name(), GetParam());
  check_graph(g, GetParam(), true);
  MEASURE((GetParam() + ".nodes").c_str(), g.nodes().size());
  MEASURE((GetParam() + ".parameters").c_str(), g.parameter_count());
  MEASURE((GetParam() + ".flops").c_str(), g.flops());
  MEASURE((GetParam() + ".batch").c_str(), g.batch());
}

TEST_P(EveryModel, BuildsReducedAndRoundTripsThroughJson) {
  ModelOptions options;
  options.layers = 1;
  options.batch = 2;
  const Graph full = build_model(GetParam(), ModelOptions{}, n300());
  const Graph g = build_model(GetParam(), options, n300());
  check_graph(g, GetParam(), false);
  EXPECT_EQ(g.batch(), 2u);
  if (GetParam() != "mnist-mlp" && GetParam() != "mnist-cnn") {
    EXPECT_LT(g.nodes().size(), full.nodes().size());
    EXPECT_LT(g.parameter_count(), full.parameter_count());
  }
  const Graph loaded = Graph::from_json(g.to_json(), n300());
  EXPECT_TRUE(loaded == g);
}

INSTANTIATE_TEST_SUITE_P(Zoo, EveryModel, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// Published parameter counts (what each reference includes is in docs/models.md).
TEST(ModelZoo, ParameterCountsMatchThePublishedArchitectures) {
  const ModelOptions defaults;
  // HF ViTForImageClassification google/vit-base-patch16-224: 86,567,656.
  expect_within(static_cast<double>(build_model("vit-base", defaults, n300()).parameter_count()),
                86567656.0, 0.02, "vit-base");
  // torchvision resnet50: 25,557,032 (batch-norm scale/shift folded here: one bias per conv).
  expect_within(static_cast<double>(build_model("resnet-50", defaults, n300()).parameter_count()),
                25557032.0, 0.02, "resnet-50");
  // bert-large-uncased encoder + embeddings 334,092,288 (+ pooler = 335.1 M); QA head 2,050 ->
  // 334,094,338.
  expect_within(static_cast<double>(build_model("bert-large", defaults, n300()).parameter_count()),
                334094338.0, 0.02, "bert-large");
  // Ultralytics YOLOv8s fused (batch norm folded): 11,156,544.
  expect_within(static_cast<double>(build_model("yolov8s", defaults, n300()).parameter_count()),
                11156544.0, 0.02, "yolov8s");
  // DPT-Large: 343 M (paper); its ViT-L/16 backbone at 384 (577 positions, no final norm):
  // 303.69 M.
  const Graph dpt = build_model("dpt-large", defaults, n300());
  expect_within(static_cast<double>(dpt.parameter_count()), 343.0e6, 0.02, "dpt-large");
  expect_within(static_cast<double>(weights_with_prefix(dpt, "dpt.")), 303.69e6, 0.02,
                "dpt-large ViT-L/16");
  // Depth Anything V2 Large: 335.3 M; DINOv2 ViT-L/14 backbone at 518: 304.4 M.
  const Graph da = build_model("depth-anything-v2-large", defaults, n300());
  expect_within(static_cast<double>(da.parameter_count()), 335.3e6, 0.02,
                "depth-anything-v2-large");
  expect_within(static_cast<double>(weights_with_prefix(da, "backbone.")), 304.4e6, 0.02,
                "DINOv2 ViT-L/14");
  // pi0 (openpi pi0_base, "3.3 B"): Gemma-2B with openpi's 257,152-token vocabulary 2,508.53 M
  // (no final norm), Gemma-300M-style expert 311.46 M. The SigLIP So400m/14 tower has 412,442,352
  // parameters; its graph weights hold TT-NN's zero padding on top: patch rows 14*14*4 = 784
  // instead of 588 (+196 * 1152) and the head dim 72 padded to 96 in the fused QKV (+1152 * 1152
  // + 1152) and the output projection (+384 * 1152), per layer.
  const Graph pi0 = build_model("pi0", defaults, n300());
  EXPECT_EQ(weights_with_prefix(pi0, "vision_tower."),
            412442352u + 196u * 1152 + 27u * (1152u * 1152 + 1152 + 384 * 1152));
  expect_within(static_cast<double>(weights_with_prefix(pi0, "language_model.")), 2508.53e6, 0.02,
                "pi0 Gemma-2B");
  expect_within(static_cast<double>(weights_with_prefix(pi0, "gemma_expert.")), 311.46e6, 0.02,
                "pi0 expert");
  expect_within(static_cast<double>(pi0.parameter_count()), 3.3e9, 0.02, "pi0");
  // The small models exactly: 784*128+128 + 128*10+10; (9*16+16) + (9*16*32+32) + (1568*10+10).
  EXPECT_EQ(build_model("mnist-mlp", defaults, n300()).parameter_count(), 101770u);
  EXPECT_EQ(build_model("mnist-cnn", defaults, n300()).parameter_count(), 20490u);
}

TEST(ModelZoo, FlopsMatchTheArchitectures) {
  const ModelOptions defaults;
  // ResNet-50: 4.09 GMACs = 8.18 GFLOPs per 224 image; the folded stem's 4x4x16 conv adds
  // 2*112*112*64*(256-147) = 0.175 GFLOPs; the fc runs on a 32-row tile.
  const Graph resnet = build_model("resnet-50", defaults, n300());
  const double resnet_per_image = static_cast<double>(resnet.flops()) / resnet.batch();
  EXPECT_GT(resnet_per_image, 8.18e9);
  EXPECT_LT(resnet_per_image, 8.18e9 * 1.05);
  // YOLOv8s at 640: 28.6 GFLOPs (Ultralytics counts 2 FLOPs per MAC).
  expect_within(static_cast<double>(build_model("yolov8s", defaults, n300()).flops()), 28.6e9, 0.03,
                "yolov8s");
  // BERT-Large at 384 (tile aligned, so exact): per sequence 2*384*(24*12.58 M weights + 2048)
  // + 24 layers * 2 matmuls * 2*384*384*1024 attention.
  const Graph bert = build_model("bert-large", defaults, n300());
  const double bert_weights = 24.0 * (4 * 1024.0 * 1024 + 2 * 1024.0 * 4096) + 1024.0 * 2;
  const double bert_expected = 2 * 384 * bert_weights + 24 * 2 * 2 * 384.0 * 384 * 1024;
  EXPECT_NEAR(static_cast<double>(bert.flops()) / bert.batch() / bert_expected, 1.0, 0.01);
  // ViT-B/16: 17.6 GMACs = 35.1 GFLOPs per image over 197 tokens; the device computes whole
  // 32-row tiles (224 rows per image), so between 1x and 224/197 of it.
  const Graph vit = build_model("vit-base", defaults, n300());
  const double vit_per_image = static_cast<double>(vit.flops()) / vit.batch();
  EXPECT_GT(vit_per_image, 35.1e9);
  EXPECT_LT(vit_per_image, 35.1e9 * 224.0 / 197.0 * 1.02);
}

TEST(ModelZoo, PerGroupDtypeAndFidelityReachTheNodesAndWeights) {
  ModelOptions options;
  options.layers = 1;
  options.group_dtype = {{"mlp", "bfloat8_b"}};
  options.group_fidelity = {{"attention", "LoFi"}};
  const Graph g = build_model("vit-base", options, n300());
  const GraphNode& fc1 = node_named(g, "vit.encoder.layer.0.intermediate.dense");
  EXPECT_EQ(fc1.group, "mlp");
  EXPECT_EQ(fc1.params.at("output_dtype"), "bfloat8_b");
  EXPECT_EQ(fc1.params.at("math_fidelity"), "HiFi2");
  EXPECT_EQ(g.spec(fc1.outputs[0]).data_type(), wormsim::ops::DataType::BFloat8_B);
  EXPECT_EQ(g.spec(fc1.inputs[1]).data_type(), wormsim::ops::DataType::BFloat8_B);  // its weight
  const GraphNode& qkv = node_named(g, "vit.encoder.layer.0.attention.attention.qkv");
  EXPECT_EQ(qkv.params.at("output_dtype"), "bfloat16");
  EXPECT_EQ(qkv.params.at("math_fidelity"), "LoFi");
  EXPECT_EQ(g.spec(qkv.inputs[1]).data_type(), wormsim::ops::DataType::BFloat16);

  // Dot-separated groups: "mlp" reaches vision.mlp / llm.mlp / expert.mlp; an exact key wins.
  ModelOptions pi0_options;
  pi0_options.layers = 1;
  pi0_options.group_dtype = {{"mlp", "bfloat8_b"}, {"llm.mlp", "bfloat4_b"}};
  pi0_options.dtype = "bfloat16";
  const Graph pi0 = build_model("pi0", pi0_options, n300());
  EXPECT_EQ(
      node_named(pi0, "vision_tower.encoder.layers.0.intermediate.dense").params.at("output_dtype"),
      "bfloat8_b");
  EXPECT_EQ(
      node_named(pi0, "denoise.0.gemma_expert.layers.0.mlp.down_proj").params.at("output_dtype"),
      "bfloat8_b");
  EXPECT_EQ(pi0.spec(*pi0.find_tensor("gemma_expert.layers.0.mlp.gate_proj.weight")).data_type(),
            wormsim::ops::DataType::BFloat8_B);
  EXPECT_EQ(pi0.spec(*pi0.find_tensor("language_model.layers.0.mlp.up_proj.weight")).data_type(),
            wormsim::ops::DataType::BFloat4_B);
  EXPECT_EQ(
      node_named(pi0, "denoise.0.gemma_expert.layers.0.self_attn.o_proj").params.at("output_dtype"),
      "bfloat16");

  // A global block-float dtype keeps ROW_MAJOR tensors (images, embedding tables) in bfloat16.
  ModelOptions bf8;
  bf8.layers = 1;
  bf8.dtype = "bfloat8_b";
  const Graph bert = build_model("bert-large", bf8, n300());
  EXPECT_EQ(bert.spec(*bert.find_tensor("bert.embeddings.word_embeddings.weight")).data_type(),
            wormsim::ops::DataType::BFloat16);
  EXPECT_EQ(
      bert.spec(*bert.find_tensor("bert.encoder.layer.0.intermediate.dense.weight")).data_type(),
      wormsim::ops::DataType::BFloat8_B);
}

void expect_error(const std::string& model, const ModelOptions& options,
                  const std::vector<std::string>& fragments) {
  try {
    build_model(model, options, n300());
    ADD_FAILURE() << model << ": expected an Error";
  } catch (const Error& e) {
    const std::string text = e.what();
    for (const std::string& f : fragments) EXPECT_NE(text.find(f), std::string::npos) << text;
  }
}

TEST(ModelZoo, BadOptionsAreClearErrors) {
  ModelOptions unknown_group;
  unknown_group.group_dtype = {{"decoder", "bfloat8_b"}};
  expect_error("vit-base", unknown_group, {"decoder", "embeddings", "attention", "mlp", "head"});
  ModelOptions unknown_fidelity_group;
  unknown_fidelity_group.group_fidelity = {{"layer9", "LoFi"}};
  expect_error("resnet-50", unknown_fidelity_group, {"layer9", "layer4"});
  ModelOptions bad_dtype;
  bad_dtype.layers = 1;
  bad_dtype.dtype = "int8";
  expect_error("mnist-mlp", bad_dtype, {"int8", "bfloat8_b"});
  ModelOptions bad_fidelity;
  bad_fidelity.layers = 1;
  bad_fidelity.fidelity = "HiFi5";
  expect_error("mnist-mlp", bad_fidelity, {"HiFi5", "LoFi"});
  ModelOptions bad_resolution;
  bad_resolution.resolution = 230;
  expect_error("vit-base", bad_resolution, {"230", "16"});
  expect_error("depth-anything-v2-large", bad_resolution, {"230", "14"});
  ModelOptions mnist_resolution;
  mnist_resolution.resolution = 32;
  expect_error("mnist-cnn", mnist_resolution, {"28"});
  ModelOptions pad;
  pad.pad_sequence = true;
  expect_error("dpt-large", pad, {"pad_sequence", "depth-anything-v2-large"});
  ModelOptions long_bert;
  long_bert.resolution = 1024;
  expect_error("bert-large", long_bert, {"1024", "512"});
}

TEST(ModelZoo, DepthAnythingRunsWithAndWithoutSequencePadding) {
  ModelOptions options;
  options.layers = 2;
  const Graph plain = build_model("depth-anything-v2-large", options, n300());
  options.pad_sequence = true;
  const Graph padded = build_model("depth-anything-v2-large", options, n300());
  // 37 x 37 patches + class token; padded to 64 tile rows with a key mask.
  const GraphNode& plain_scores = node_named(plain, "backbone.encoder.layer.0.attention.scores");
  const GraphNode& padded_scores = node_named(padded, "backbone.encoder.layer.0.attention.scores");
  EXPECT_EQ(plain.spec(plain_scores.outputs[0]).logical_shape(),
            wormsim::ops::Shape({1, 16, 1370, 1370}));
  EXPECT_EQ(padded.spec(padded_scores.outputs[0]).logical_shape(),
            wormsim::ops::Shape({1, 16, 2048, 2048}));
  EXPECT_EQ(node_named(plain, "backbone.encoder.layer.0.attention.softmax").inputs.size(), 1u);
  EXPECT_EQ(node_named(padded, "backbone.encoder.layer.0.attention.softmax").inputs.size(), 2u);
  // Both give the 518 x 518 depth map.
  const auto depth_shape = wormsim::ops::Shape({1, 1, 518 * 518, 1});
  EXPECT_EQ(plain.spec(plain.outputs().at(0)).logical_shape(), depth_shape);
  EXPECT_EQ(padded.spec(padded.outputs().at(0)).logical_shape(), depth_shape);
  EXPECT_EQ(plain.parameter_count(), padded.parameter_count());
  EXPECT_GT(padded.flops(), plain.flops());
}

TEST(ModelZoo, OutputsHaveTheModelsShapes) {
  const ModelOptions defaults;
  auto output = [&](const std::string& name) {
    const Graph g = build_model(name, defaults, n300());
    return g.spec(g.outputs().at(0)).logical_shape();
  };
  EXPECT_EQ(output("vit-base"), wormsim::ops::Shape({8, 1, 1, 1000}));
  EXPECT_EQ(output("resnet-50"), wormsim::ops::Shape({1, 1, 16, 1000}));
  EXPECT_EQ(output("bert-large"), wormsim::ops::Shape({8, 1, 384, 2}));
  EXPECT_EQ(output("dpt-large"), wormsim::ops::Shape({1, 1, 384 * 384, 1}));
  EXPECT_EQ(output("yolov8s"), wormsim::ops::Shape({1, 1, 8400, 84}));
  EXPECT_EQ(output("pi0"), wormsim::ops::Shape({1, 1, 50, 32}));
  EXPECT_EQ(output("mnist-mlp"), wormsim::ops::Shape({1, 1, 32, 10}));
  EXPECT_EQ(output("mnist-cnn"), wormsim::ops::Shape({1, 1, 32, 10}));
}

}  // namespace
