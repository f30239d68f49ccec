// "resnet-50": torchvision ResNet-50 v1.5 (stride in the 3x3 conv) at 224 as TT-NN's ResNet-50
// demo (models/demos/ttnn_resnet) runs it: batch norm folded into the conv weights and biases,
// the 7x7/2 stem conv rewritten as pad + fold(2x2) + 4x4/1 conv (fold_conv7s2_into_conv4s1),
// NHWC convs with fused ReLU, residual adds with fused ReLU, global average pool and the
// 1000-way linear.
#include "sim/error.hpp"
#include "workloads/models/model_builder.hpp"

namespace wormsim::workloads::models {
namespace {

using nlohmann::json;

// TT-NN's ResNet-50 demo runs 16 images per chip (batch 16 on N150 / per N300 chip).
constexpr std::uint32_t kDefaultBatch = 16;
constexpr std::uint32_t kDefaultResolution = 224;
constexpr std::uint32_t kStemChannels = 64;
constexpr std::uint32_t kExpansion = 4;
constexpr std::uint32_t kClasses = 1000;
constexpr double kReluGain = 1.4142135623730951;  // He init: keeps ReLU activations' variance

FeatureMap bottleneck(ModelBuilder& b, const std::string& p, const FeatureMap& x,
                      std::uint32_t width, std::uint32_t stride, bool downsample,
                      const std::string& group) {
  // The shortcut (downsampled first, as TT-NN's bottleneck does) stays in memory while the
  // three convs of the main branch run.
  FeatureMap identity = x;
  if (downsample) {
    b.hold(x.id);  // conv1 reads it next
    // The demo double-buffers the act of the downsample and of the 3x3 conv.
    identity = b.conv(p + ".downsample.0", x, width * kExpansion,
                      ConvOptions{1, stride, 0, 1, true, "", 1.0, false, true}, group);
    b.release(x.id);
  }
  b.hold(identity.id);
  FeatureMap h =
      b.conv(p + ".conv1", x, width, ConvOptions{1, 1, 0, 1, true, "relu", kReluGain}, group);
  h = b.conv(p + ".conv2", h, width,
             ConvOptions{3, stride, 1, 1, true, "relu", kReluGain, false, true}, group);
  h = b.conv(p + ".conv3", h, width * kExpansion, ConvOptions{1, 1, 0, 1, true, "", 1.0}, group);
  b.release(identity.id);
  return b.add_maps(p + ".add", h, identity, group, "relu");
}

}  // namespace

Graph build_resnet50(const ModelOptions& options, const arch::DeviceSpec& device) {
  Graph graph("resnet-50", device);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : kDefaultBatch;
  graph.set_batch(batch);
  const std::uint32_t resolution = options.resolution ? options.resolution : kDefaultResolution;
  if (resolution % 32 != 0) {
    throw Error("resnet-50: resolution " + std::to_string(resolution) +
                " must be a multiple of 32 (e.g. 224)");
  }
  const TensorId image = b.input("pixel_values", ops::Shape({batch, resolution, resolution, 3}),
                                 ops::Layout::RowMajor, b.row_major_dtype("stem"));
  // Stem: conv 7x7/2 pad 3 == pad 3 (+1 channel) -> fold 2x2 -> conv 4x4/1 on 16 channels.
  TensorId t =
      b.move("conv1.pad", "pad", {image}, json{{"padding", {{3, 3}, {3, 3}, {0, 1}}}}, "stem");
  t = b.move("conv1.fold", "fold", {t}, json{{"stride_h", 2}, {"stride_w", 2}}, "stem");
  const std::uint32_t folded = (resolution + 6) / 2;
  FeatureMap x{0, batch, folded, folded, 16};
  x.id = b.move("conv1.flatten", "reshape", {t},
                json{{"shape", {1, 1, static_cast<std::int64_t>(batch) * folded * folded, 16}}},
                "stem");
  x = b.conv("conv1", x, kStemChannels,
             ConvOptions{4, 1, 0, 1, true, "relu", kReluGain, false, true}, "stem");
  x = b.max_pool("maxpool", x, 3, 2, 1, "stem");

  const std::uint32_t blocks[4] = {3, 4, 6, 3};
  const std::uint32_t widths[4] = {64, 128, 256, 512};
  for (std::uint32_t stage = 0; stage < 4; ++stage) {
    const std::string layer = "layer" + std::to_string(stage + 1);
    for (std::uint32_t i = 0; i < b.depth(blocks[stage]); ++i) {
      const std::uint32_t stride = (i == 0 && stage > 0) ? 2 : 1;
      x = bottleneck(b, layer + "." + std::to_string(i), x, widths[stage], stride, i == 0, layer);
    }
  }
  // Head: [1, 1, N*7*7, 2048] -> [N, 7, 7, 2048] -> global average pool -> [1, 1, N, 2048] -> fc.
  t = b.move("avgpool.to_nhwc", "reshape", {x.id},
             json{{"shape", {batch, x.height, x.width, x.channels}},
                  {"output_memory", "dram-interleaved"}},
             "head");
  t = b.compute("avgpool", "global_avg_pool2d", {t}, json::object(), "head");
  t = b.move("avgpool.flatten", "reshape", {t}, json{{"shape", {1, 1, batch, x.channels}}}, "head");
  const TensorId logits = b.linear("fc", t, x.channels, kClasses, "head");
  graph.mark_output(logits);
  return graph;
}

}  // namespace wormsim::workloads::models
