// Small MNIST models for tests and demos:
//   "mnist-mlp": 784 -> 128 (ReLU) -> 10, softmax;
//   "mnist-cnn": conv 3x3 1->16 (ReLU) -> max pool 2 -> conv 3x3 16->32 (ReLU) -> max pool 2 ->
//                flatten (7*7*32 = 1568, NHWC order) -> linear 10, softmax.
#include "sim/error.hpp"
#include "workloads/models/model_builder.hpp"

namespace wormsim::workloads::models {
namespace {

using nlohmann::json;

// One tile row of images: the matmuls' M is exactly one tile.
constexpr std::uint32_t kDefaultBatch = 32;
constexpr std::uint32_t kSide = 28;
constexpr std::uint32_t kPixels = kSide * kSide;
constexpr std::uint32_t kClasses = 10;
constexpr double kReluGain = 1.4142135623730951;

void check_resolution(const std::string& model, const ModelOptions& options) {
  if (options.resolution != 0 && options.resolution != kSide) {
    throw Error(model + ": MNIST images are 28x28; resolution must be 0 or 28, got " +
                std::to_string(options.resolution));
  }
}

}  // namespace

Graph build_mnist_mlp(const ModelOptions& options, const arch::DeviceSpec& device) {
  constexpr std::uint32_t kHidden = 128;
  Graph graph("mnist-mlp", device);
  check_resolution(graph.name(), options);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : kDefaultBatch;
  graph.set_batch(batch);
  // Flattened images, one per row.
  const TensorId x =
      b.input("images", ops::Shape({1, 1, batch, kPixels}), ops::Layout::Tile, b.dtype("mlp"));
  TensorId h = b.linear("fc1", x, kPixels, kHidden, "mlp", LinearOptions{true, "relu"});
  h = b.linear("fc2", h, kHidden, kClasses, "head");
  const TensorId probabilities = b.softmax("softmax", h, 1.0, "head");
  graph.mark_output(probabilities);
  return graph;
}

Graph build_mnist_cnn(const ModelOptions& options, const arch::DeviceSpec& device) {
  constexpr std::uint32_t kConv1 = 16;
  constexpr std::uint32_t kConv2 = 32;
  Graph graph("mnist-cnn", device);
  check_resolution(graph.name(), options);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : kDefaultBatch;
  graph.set_batch(batch);
  const TensorId image = b.input("images", ops::Shape({1, 1, batch * kPixels, 1}),
                                 ops::Layout::RowMajor, b.row_major_dtype("conv"));
  FeatureMap x{image, batch, kSide, kSide, 1};
  x = b.conv("conv1", x, kConv1, ConvOptions{3, 1, 1, 1, true, "relu", kReluGain}, "conv");
  x = b.max_pool("pool1", x, 2, 2, 0, "conv");
  x = b.conv("conv2", x, kConv2, ConvOptions{3, 1, 1, 1, true, "relu", kReluGain}, "conv");
  x = b.max_pool("pool2", x, 2, 2, 0, "conv");
  // Flatten each image's 7x7x32 NHWC values into one row.
  const std::uint32_t features = x.height * x.width * x.channels;
  TensorId t =
      b.move("flatten", "reshape", {x.id}, json{{"shape", {1, 1, batch, features}}}, "head");
  t = b.move("flatten.tilize", batch % ops::kTileHeight == 0 ? "tilize" : "tilize_with_val_padding",
             {t}, json::object(), "head");
  t = b.linear("fc", t, features, kClasses, "head");
  const TensorId probabilities = b.softmax("softmax", t, 1.0, "head");
  graph.mark_output(probabilities);
  return graph;
}

}  // namespace wormsim::workloads::models
