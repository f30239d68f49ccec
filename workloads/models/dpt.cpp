// Dense prediction transformers: "dpt-large" (Intel/dpt-large: ViT-L/16 at 384 + DPT head) and
// "depth-anything-v2-large" (DINOv2 ViT-L/14 at 518 + the same DPT head, HuggingFace
// DepthAnythingForDepthEstimation). The head's convolutions run NHWC through ttnn.conv2d.
//
// Graph-level approximations (docs/models.md lists them):
//  - Bilinear resizes with align_corners=True run as ttnn.upsample bilinear (align_corners=False)
//    by 2; Depth Anything's non-integer resizes (19 -> 37, 296 -> 518) upsample by 2 and crop.
#include <algorithm>
#include <array>

#include "sim/error.hpp"
#include "workloads/models/model_builder.hpp"
#include "workloads/models/transformer.hpp"

namespace wormsim::workloads::models {
namespace {

using nlohmann::json;

constexpr std::uint32_t kHidden = 1024;  // ViT-L
constexpr std::uint32_t kHeads = 16;
constexpr std::uint32_t kMlp = 4096;
constexpr std::uint32_t kLayers = 24;
constexpr std::uint32_t kFusion = 256;  // fusion_hidden_size
constexpr std::array<std::uint32_t, 4> kNeckSizes{256, 512, 1024, 1024};
// Reassemble resize per tap: 4 and 2 (transposed conv), 1 (identity), 0 = 3x3 conv stride 2.
constexpr std::array<std::uint32_t, 4> kResize{4, 2, 1, 0};
constexpr std::uint32_t kHeadHidden = 128;  // features / 2
constexpr std::uint32_t kHeadOut = 32;      // head_hidden_size
// Tokens of Depth Anything's sequence after --pad-sequence: 64 tile rows.
constexpr std::uint32_t kPaddedSequence = 2048;
// Additive attention-mask value for padded keys: exp() of it underflows to exactly 0.
constexpr double kMaskedScore = -1.0e9;

std::vector<std::int64_t> shape4(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d) {
  return {a, b, c, d};
}

// The [B, 1, P, C] patch tokens as the NHWC map [1, 1, B*g*g, C].
FeatureMap tokens_to_map(ModelBuilder& b, const std::string& name, TensorId tokens,
                         std::uint32_t batch, std::uint32_t grid, std::uint32_t channels,
                         const std::string& group) {
  FeatureMap map{0, batch, grid, grid, channels};
  map.id = b.move(
      name, "reshape", {tokens},
      json{{"shape", shape4(1, 1, static_cast<std::int64_t>(batch) * grid * grid, channels)}},
      group);
  return map;
}

// PreActResidualLayer: x + conv2(relu(conv1(relu(x)))), 3x3 convs with bias.
FeatureMap residual_unit(ModelBuilder& b, const std::string& name, const FeatureMap& x,
                         const std::string& group) {
  b.hold(x.id);  // read again by the residual add
  FeatureMap h = x;
  h.id = b.unary("relu", name + ".activation1", x.id, group);
  h = b.conv(name + ".convolution1", h, x.channels, ConvOptions{3, 1, 1, 1, true, "relu"}, group);
  h = b.conv(name + ".convolution2", h, x.channels, ConvOptions{3, 1, 1, 1, true, ""}, group);
  b.release(x.id);
  return b.add_maps(name + ".residual", h, x, group);
}

struct DptHeadConfig {
  std::string neck_prefix;       // "neck" (both HF models)
  std::uint32_t output_size{0};  // depth map side (the input resolution)
};

// Reassembled taps (finest first) -> fusion -> depth head. Returns the [1, 1, B*R*R, 1] depth.
TensorId dpt_neck_and_head(ModelBuilder& b, std::array<FeatureMap, 4> taps,
                           const DptHeadConfig& config) {
  const std::string& neck = config.neck_prefix;
  // Reassemble: 1x1 projection, then resample.
  std::array<FeatureMap, 4> features{};
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string p = neck + ".reassemble_stage.layers." + std::to_string(i);
    FeatureMap f = b.conv(p + ".projection", taps[i], kNeckSizes[i],
                          ConvOptions{1, 1, 0, 1, true, ""}, "neck");
    if (kResize[i] > 1) {
      f = b.conv_transpose(p + ".resize", f, kNeckSizes[i], kResize[i], "neck");
    } else if (kResize[i] == 0) {
      f = b.conv(p + ".resize", f, kNeckSizes[i], ConvOptions{3, 2, 1, 1, true, ""}, "neck");
    }
    // Read only when the fusion reaches it: kept in DRAM meanwhile.
    ConvOptions keep{3, 1, 1, 1, false, ""};
    keep.output_in_dram = true;
    features[i] = b.conv(neck + ".convs." + std::to_string(i), f, kFusion, keep, "neck");
  }
  // Fusion, coarsest first: x = res2(x + res1(feature)); upsample x2 (to the next feature's
  // size); 1x1 projection.
  FeatureMap fused{};
  for (std::size_t stage = 0; stage < 4; ++stage) {
    const std::size_t i = 3 - stage;
    const std::string p = neck + ".fusion_stage.layers." + std::to_string(stage);
    FeatureMap x = features[i];
    if (stage > 0) {
      b.hold(fused.id);
      const FeatureMap res = residual_unit(b, p + ".residual_layer1", features[i], "fusion");
      b.release(fused.id);
      x = b.add_maps(p + ".add", fused, res, "fusion");
    }
    x = residual_unit(b, p + ".residual_layer2", x, "fusion");
    // To the next feature's size (2x; Depth Anything's 19 -> 37 upsamples 2x and crops).
    const std::uint32_t size = i > 0 ? features[i - 1].height : 2 * x.height;
    x = b.upsample(p + ".upsample", x, 2, "bilinear", "fusion", size, size);
    fused = b.conv(p + ".projection", x, kFusion, ConvOptions{1, 1, 0, 1, true, ""}, "fusion");
  }
  // Head: conv 3x3 -> resize to the input size -> conv 3x3 + relu -> conv 1x1 + relu.
  FeatureMap h =
      b.conv("head.conv1", fused, kHeadHidden, ConvOptions{3, 1, 1, 1, true, ""}, "head");
  h = b.upsample("head.upsample", h, 2, "bilinear", "head", config.output_size, config.output_size);
  h = b.conv("head.conv2", h, kHeadOut, ConvOptions{3, 1, 1, 1, true, "relu"}, "head");
  h = b.conv("head.conv3", h, 1, ConvOptions{1, 1, 0, 1, true, "relu"}, "head");
  return h.id;
}

// Clamped tap layers for a (possibly reduced) encoder depth.
std::array<std::uint32_t, 4> tap_layers(const std::array<std::uint32_t, 4>& full,
                                        std::uint32_t depth) {
  std::array<std::uint32_t, 4> taps{};
  for (std::size_t i = 0; i < 4; ++i) taps[i] = std::min(full[i], depth - 1);
  return taps;
}

}  // namespace

Graph build_dpt_large(const ModelOptions& options, const arch::DeviceSpec& device) {
  constexpr std::uint32_t kPatch = 16;
  Graph graph("dpt-large", device);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : 1;
  graph.set_batch(batch);
  const std::uint32_t resolution = options.resolution ? options.resolution : 384;

  const TensorId image = b.input("pixel_values", ops::Shape({batch, resolution, resolution, 4}),
                                 ops::Layout::RowMajor, b.row_major_dtype("embeddings"));
  const PatchEmbedding patches = patch_embedding(b, "dpt.embeddings.patch_embeddings", image, batch,
                                                 resolution, kPatch, kHidden, "embeddings");
  const std::uint32_t grid = patches.grid;
  const std::uint32_t tokens = grid * grid + 1;
  const TensorId cls = expand_batch(
      b, "dpt.embeddings.cls_token.expand",
      b.vector("dpt.embeddings.cls_token", kHidden, "embeddings", "uniform"), batch, "embeddings");
  TensorId x = b.move("dpt.embeddings.concat_cls", "concat", {cls, patches.tokens},
                      json{{"dim", 2}}, "embeddings");
  x = b.binary("add", "dpt.embeddings.add_position", x,
               b.weight("dpt.embeddings.position_embeddings", ops::Shape({1, 1, tokens, kHidden}),
                        "embeddings", 0.02),
               "embeddings");

  const std::uint32_t depth = b.depth(kLayers);
  const auto taps_at = tap_layers({5, 11, 17, 23}, depth);
  const EncoderConfig config{kHidden, kHeads, kMlp, 1e-12, false, ""};
  std::array<FeatureMap, 4> taps{};
  for (std::uint32_t layer = 0; layer < depth; ++layer) {
    x = encoder_block(b, "dpt.encoder.layer." + std::to_string(layer), x, config);
    for (std::size_t t = 0; t < 4; ++t) {
      if (taps_at[t] != layer) continue;
      // Readout "project": gelu(Linear(cat(patch, cls))) = gelu(patch W_p + cls W_c + b).
      const std::string p = "neck.reassemble_stage.readout_projects." + std::to_string(t);
      const TensorId patch_tokens =
          b.move(p + ".patches", "slice", {x},
                 json{{"begins", shape4(0, 0, 1, 0)}, {"ends", shape4(batch, 1, tokens, kHidden)}},
                 "neck");
      const TensorId cls_token = b.move(
          p + ".cls", "slice", {x},
          json{{"begins", shape4(0, 0, 0, 0)}, {"ends", shape4(batch, 1, 1, kHidden)}}, "neck");
      const TensorId from_patches = b.compute(
          p + ".0.patch", "linear",
          {patch_tokens, b.weight(p + ".0.weight_patch", ops::Shape({1, 1, kHidden, kHidden}),
                                  "neck", fan_in_scale(2 * kHidden))},
          json::object(), "neck");
      const TensorId from_cls =
          b.compute(p + ".0.readout", "linear",
                    {cls_token,
                     b.weight(p + ".0.weight_readout", ops::Shape({1, 1, kHidden, kHidden}), "neck",
                              fan_in_scale(2 * kHidden)),
                     b.vector(p + ".0.bias", kHidden, "neck", "uniform")},
                    json::object(), "neck");
      const TensorId projected = b.compute(p + ".0", "add", {from_patches, from_cls},
                                           json{{"activation", "gelu"}}, "neck");
      taps[t] = tokens_to_map(b, p + ".to_map", projected, batch, grid, kHidden, "neck");
    }
  }
  const TensorId depth_map = dpt_neck_and_head(b, taps, DptHeadConfig{"neck", resolution});
  graph.mark_output(depth_map);
  return graph;
}

Graph build_depth_anything_v2_large(const ModelOptions& options, const arch::DeviceSpec& device) {
  constexpr std::uint32_t kPatch = 14;
  Graph graph("depth-anything-v2-large", device);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : 1;
  graph.set_batch(batch);
  const std::uint32_t resolution = options.resolution ? options.resolution : 518;

  const TensorId image = b.input("pixel_values", ops::Shape({batch, resolution, resolution, 4}),
                                 ops::Layout::RowMajor, b.row_major_dtype("embeddings"));
  const PatchEmbedding patches = patch_embedding(b, "backbone.embeddings.patch_embeddings", image,
                                                 batch, resolution, kPatch, kHidden, "embeddings");
  const std::uint32_t grid = patches.grid;
  const std::uint32_t tokens = grid * grid + 1;
  const TensorId cls =
      expand_batch(b, "backbone.embeddings.cls_token.expand",
                   b.vector("backbone.embeddings.cls_token", kHidden, "embeddings", "uniform"),
                   batch, "embeddings");
  TensorId x = b.move("backbone.embeddings.concat_cls", "concat", {cls, patches.tokens},
                      json{{"dim", 2}}, "embeddings");
  x = b.binary("add", "backbone.embeddings.add_position", x,
               b.weight("backbone.embeddings.position_embeddings",
                        ops::Shape({1, 1, tokens, kHidden}), "embeddings", 0.02),
               "embeddings");

  std::optional<TensorId> mask;
  if (options.pad_sequence) {
    if (tokens > kPaddedSequence) {
      throw Error("depth-anything-v2-large: pad_sequence pads to " +
                  std::to_string(kPaddedSequence) + " tokens but " + std::to_string(tokens) +
                  " tokens do not fit; use a resolution of at most 630");
    }
    const std::int64_t extra = kPaddedSequence - tokens;
    x = b.move("backbone.embeddings.pad_sequence", "pad", {x},
               json{{"padding", {{0, 0}, {0, extra}, {0, 0}}}, {"value", 0.0}}, "embeddings");
    // Padded keys get -1e9 so real tokens attend exactly as without padding.
    const TensorId zeros =
        b.constant("backbone.attention_mask.zeros", ops::Shape({1, 1, 1, tokens}),
                   ops::Layout::Tile, ops::DataType::BFloat16, "zeros");
    mask = b.move("backbone.attention_mask", "pad", {zeros},
                  json{{"padding", {{0, 0}, {0, extra}}}, {"value", kMaskedScore}}, "embeddings");
  }

  constexpr double kEpsilon = 1e-6;
  const std::uint32_t depth = b.depth(kLayers);
  const auto taps_at = tap_layers({4, 11, 17, 23}, depth);
  const EncoderConfig config{kHidden, kHeads, kMlp, kEpsilon, true, ""};
  const TensorId norm_gamma = b.vector("backbone.layernorm.weight", kHidden, "neck", "ones");
  const TensorId norm_beta = b.vector("backbone.layernorm.bias", kHidden, "neck", "zeros");
  std::array<FeatureMap, 4> taps{};
  for (std::uint32_t layer = 0; layer < depth; ++layer) {
    x = encoder_block(b, "backbone.encoder.layer." + std::to_string(layer), x, config, mask);
    for (std::size_t t = 0; t < 4; ++t) {
      if (taps_at[t] != layer) continue;
      // Readout "ignore": drop the class token (and the padding); the backbone's final layernorm
      // normalises every tapped feature.
      const std::string p = "backbone.tap." + std::to_string(t);
      TensorId patch_tokens =
          b.move(p + ".patches", "slice", {x},
                 json{{"begins", shape4(0, 0, 1, 0)}, {"ends", shape4(batch, 1, tokens, kHidden)}},
                 "neck");
      patch_tokens = b.compute(p + ".layernorm", "layernorm", {patch_tokens, norm_gamma, norm_beta},
                               json{{"epsilon", kEpsilon}}, "neck");
      taps[t] = tokens_to_map(b, p + ".to_map", patch_tokens, batch, grid, kHidden, "neck");
    }
  }
  const TensorId depth_map = dpt_neck_and_head(b, taps, DptHeadConfig{"neck", resolution});
  graph.mark_output(depth_map);
  return graph;
}

}  // namespace wormsim::workloads::models
