// "yolov8s": Ultralytics YOLOv8s object detection (80 COCO classes) at 640x640, batch 1, as
// TT-NN's YOLOv8s demo runs it: NHWC convs with batch norm folded and SiLU fused, C2f blocks
// (channel split by slice, concat), SPPF (three 5x5 max pools), nearest upsampling, the
// decoupled Detect head and the DFL box decode.
#include <algorithm>

#include "sim/error.hpp"
#include "workloads/models/model_builder.hpp"

namespace wormsim::workloads::models {
namespace {

using nlohmann::json;

constexpr std::uint32_t kDefaultResolution = 640;
constexpr std::uint32_t kClasses = 80;
constexpr std::uint32_t kRegMax = 16;  // DFL bins per box side

// Ultralytics Conv: conv (bias = folded BN) + SiLU.
FeatureMap conv_silu(ModelBuilder& b, const std::string& name, const FeatureMap& x,
                     std::uint32_t out, std::uint32_t kernel, std::uint32_t stride,
                     const std::string& group, bool output_in_dram = false) {
  ConvOptions options{kernel, stride, kernel / 2, 1, true, "silu"};
  options.output_in_dram = output_in_dram;
  return b.conv(name + ".conv", x, out, options, group);
}
// C2f(c1, c2, n, shortcut): cv1 -> split in two halves -> n bottlenecks on the last half ->
// concat of all -> cv2.
// `skip`: the output feeds a later concat or the head (a skip connection): written to DRAM.
FeatureMap c2f(ModelBuilder& b, const std::string& p, const FeatureMap& x, std::uint32_t out,
               std::uint32_t n, bool shortcut, const std::string& group, bool skip = false) {
  const std::uint32_t c = out / 2;
  const FeatureMap y = conv_silu(b, p + ".cv1", x, 2 * c, 1, 1, group);
  // Every part stays in memory until the concat reads them all.
  std::vector<FeatureMap> parts{b.slice_channels(p + ".split0", y, 0, c, group),
                                b.slice_channels(p + ".split1", y, c, c, group)};
  for (const FeatureMap& part : parts) b.hold(part.id);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::string m = p + ".m." + std::to_string(i);
    FeatureMap h = conv_silu(b, m + ".cv1", parts.back(), c, 3, 1, group);
    h = conv_silu(b, m + ".cv2", h, c, 3, 1, group);
    if (shortcut) h = b.add_maps(m + ".add", parts.back(), h, group);
    parts.push_back(h);
    b.hold(h.id);
  }
  for (const FeatureMap& part : parts) b.release(part.id);
  return conv_silu(b, p + ".cv2", b.concat_channels(p + ".concat", parts, group), out, 1, 1, group,
                   skip);
}

// SPPF: cv1 -> three chained 5x5/1 max pools -> concat(4) -> cv2.
FeatureMap sppf(ModelBuilder& b, const std::string& p, const FeatureMap& x, std::uint32_t out,
                const std::string& group) {
  const FeatureMap y = conv_silu(b, p + ".cv1", x, x.channels / 2, 1, 1, group);
  std::vector<FeatureMap> parts{y};
  b.hold(y.id);
  FeatureMap pooled = y;
  for (int i = 0; i < 3; ++i) {
    pooled = b.max_pool(p + ".m." + std::to_string(i), pooled, 5, 1, 2, group);
    parts.push_back(b.to_tile(p + ".m." + std::to_string(i) + ".tilize", pooled, group));
    b.hold(parts.back().id);
  }
  for (const FeatureMap& part : parts) b.release(part.id);
  // Its output feeds the neck's last concat: written to DRAM.
  return conv_silu(b, p + ".cv2", b.concat_channels(p + ".concat", parts, group), out, 1, 1, group,
                   true);
}

}  // namespace

Graph build_yolov8s(const ModelOptions& options, const arch::DeviceSpec& device) {
  Graph graph("yolov8s", device);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : 1;
  graph.set_batch(batch);
  const std::uint32_t resolution = options.resolution ? options.resolution : kDefaultResolution;
  if (resolution % 32 != 0) {
    throw Error("yolov8s: resolution " + std::to_string(resolution) +
                " must be a multiple of 32 (e.g. 640)");
  }
  const TensorId image = b.input("images", ops::Shape({1, 1, batch * resolution * resolution, 3}),
                                 ops::Layout::RowMajor, b.row_major_dtype("backbone"));
  FeatureMap x{image, batch, resolution, resolution, 3};

  // Backbone (depth 0.33, width 0.50 of YOLOv8's base).
  const auto d = [&](std::uint32_t n) { return b.depth(n); };
  x = conv_silu(b, "model.0", x, 32, 3, 2, "backbone");
  x = conv_silu(b, "model.1", x, 64, 3, 2, "backbone");
  x = c2f(b, "model.2", x, 64, d(1), true, "backbone");
  x = conv_silu(b, "model.3", x, 128, 3, 2, "backbone");
  // Feature maps a later concat or the head reads stay in memory until then.
  const FeatureMap p3 = c2f(b, "model.4", x, 128, d(2), true, "backbone", true);
  b.hold(p3.id);
  x = conv_silu(b, "model.5", p3, 256, 3, 2, "backbone");
  const FeatureMap p4 = c2f(b, "model.6", x, 256, d(2), true, "backbone", true);
  b.hold(p4.id);
  x = conv_silu(b, "model.7", p4, 512, 3, 2, "backbone");
  x = c2f(b, "model.8", x, 512, d(1), true, "backbone");
  const FeatureMap p5 = sppf(b, "model.9", x, 512, "backbone");
  b.hold(p5.id);

  // Neck (PAN).
  x = b.upsample("model.10", p5, 2, "nearest", "neck");
  b.release(p4.id);
  x = b.concat_channels("model.11", {x, p4}, "neck");
  const FeatureMap h12 = c2f(b, "model.12", x, 256, d(1), false, "neck", true);
  b.hold(h12.id);
  x = b.upsample("model.13", h12, 2, "nearest", "neck");
  b.release(p3.id);
  x = b.concat_channels("model.14", {x, p3}, "neck");
  const FeatureMap out_p3 = c2f(b, "model.15", x, 128, d(1), false, "neck", true);
  b.hold(out_p3.id);
  x = conv_silu(b, "model.16", out_p3, 128, 3, 2, "neck");
  b.release(h12.id);
  x = b.concat_channels("model.17", {x, h12}, "neck");
  const FeatureMap out_p4 = c2f(b, "model.18", x, 256, d(1), false, "neck", true);
  b.hold(out_p4.id);
  x = conv_silu(b, "model.19", out_p4, 256, 3, 2, "neck");
  b.release(p5.id);
  x = b.concat_channels("model.20", {x, p5}, "neck");
  const FeatureMap out_p5 = c2f(b, "model.21", x, 512, d(1), false, "neck", true);
  b.hold(out_p5.id);

  // Detect head: per level, box branch (64 = 4 sides x 16 bins) and class branch (80).
  const std::uint32_t box_channels = 4 * kRegMax;
  const std::uint32_t box_hidden = std::max<std::uint32_t>({16, 128 / 4, box_channels});  // c2 = 64
  const std::uint32_t cls_hidden = std::max<std::uint32_t>(128, kClasses);  // c3 = 128
  std::vector<TensorId> levels;
  std::uint32_t anchors = 0;
  const FeatureMap outs[3] = {out_p3, out_p4, out_p5};
  for (std::uint32_t i = 0; i < 3; ++i) {
    const std::string p = "model.22";
    const std::string level = std::to_string(i);
    FeatureMap box = conv_silu(b, p + ".cv2." + level + ".0", outs[i], box_hidden, 3, 1, "head");
    box = conv_silu(b, p + ".cv2." + level + ".1", box, box_hidden, 3, 1, "head");
    box = b.conv(p + ".cv2." + level + ".2", box, box_channels, ConvOptions{1, 1, 0, 1, true, ""},
                 "head");
    b.hold(box.id);
    FeatureMap cls = conv_silu(b, p + ".cv3." + level + ".0", outs[i], cls_hidden, 3, 1, "head");
    cls = conv_silu(b, p + ".cv3." + level + ".1", cls, cls_hidden, 3, 1, "head");
    cls = b.conv(p + ".cv3." + level + ".2", cls, kClasses, ConvOptions{1, 1, 0, 1, true, ""},
                 "head");
    b.release(outs[i].id);
    b.release(box.id);
    const FeatureMap both = b.concat_channels(p + ".concat." + level, {box, cls}, "head");
    const std::uint32_t cells = both.height * both.width;
    anchors += cells;
    levels.push_back(b.move(p + ".flatten." + level, "reshape", {both.id},
                            json{{"shape", {batch, 1, cells, box_channels + kClasses}}}, "head"));
  }
  const TensorId all = b.move("model.22.concat_levels", "concat", levels, json{{"dim", 2}}, "head");
  TensorId box =
      b.move("model.22.box", "slice", {all},
             json{{"begins", {0, 0, 0, 0}}, {"ends", {batch, 1, anchors, box_channels}}}, "head");
  TensorId cls = b.move("model.22.cls", "slice", {all},
                        json{{"begins", {0, 0, 0, box_channels}},
                             {"ends", {batch, 1, anchors, box_channels + kClasses}}},
                        "head");
  cls = b.unary("sigmoid", "model.22.cls.sigmoid", cls, "head");
  // DFL: softmax over each side's 16 bins, then the expectation sum(bin * p). The expectation
  // and dist2bbox's linear part ((r - l)/2, (b - t)/2, l + r, t + b) are one fixed [64, 4]
  // matrix; the anchor centres are added and everything scaled by the level's stride.
  box = b.move("model.22.dfl.bins", "reshape", {box},
               json{{"shape", {batch, 1, anchors * 4, kRegMax}}}, "head");
  box = b.softmax("model.22.dfl.softmax", box, 1.0, "head");
  box = b.move("model.22.dfl.sides", "reshape", {box},
               json{{"shape", {batch, 1, anchors, box_channels}}}, "head");
  const TensorId decode =
      b.constant("model.22.dfl.decode_matrix", ops::Shape({1, 1, box_channels, 4}),
                 ops::Layout::Tile, ops::DataType::BFloat16, "uniform");
  box = b.matmul("model.22.dfl.decode", box, decode, "head");
  const TensorId centres = b.constant("model.22.anchor_points", ops::Shape({1, 1, anchors, 4}),
                                      ops::Layout::Tile, ops::DataType::BFloat16, "uniform");
  const TensorId strides = b.constant("model.22.strides", ops::Shape({1, 1, anchors, 4}),
                                      ops::Layout::Tile, ops::DataType::BFloat16, "uniform");
  box = b.binary("add", "model.22.add_anchors", box, centres, "head");
  box = b.binary("mul", "model.22.scale_strides", box, strides, "head");
  const TensorId detections =
      b.move("model.22.detections", "concat", {box, cls}, json{{"dim", 3}}, "head");
  graph.mark_output(detections);
  return graph;
}

}  // namespace wormsim::workloads::models
