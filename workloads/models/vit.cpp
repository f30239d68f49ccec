// "vit-base": ViT-B/16 image classification (google/vit-base-patch16-224) as TT-NN's ViT demo
// runs it (models/demos/vit): fold + linear patch embedding, class token and position
// embeddings, 12 pre-norm encoder blocks, final layernorm and the 1000-way classifier on the
// class token.
#include "workloads/models/model_builder.hpp"
#include "workloads/models/transformer.hpp"

namespace wormsim::workloads::models {

namespace {
constexpr std::uint32_t kDefaultBatch = 8;
constexpr std::uint32_t kDefaultResolution = 224;
constexpr std::uint32_t kPatch = 16;
constexpr std::uint32_t kHidden = 768;
constexpr std::uint32_t kHeads = 12;
constexpr std::uint32_t kMlp = 3072;
constexpr std::uint32_t kLayers = 12;
constexpr std::uint32_t kClasses = 1000;
constexpr double kEpsilon = 1e-12;
}  // namespace

Graph build_vit_base(const ModelOptions& options, const arch::DeviceSpec& device) {
  Graph graph("vit-base", device);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : kDefaultBatch;
  graph.set_batch(batch);
  const std::uint32_t resolution = options.resolution ? options.resolution : kDefaultResolution;
  patches_per_side(graph.name(), resolution, kPatch);

  const TensorId image = b.input("pixel_values", ops::Shape({batch, resolution, resolution, 4}),
                                 ops::Layout::RowMajor, b.row_major_dtype("embeddings"));
  const PatchEmbedding patches = patch_embedding(b, "vit.embeddings.patch_embeddings", image, batch,
                                                 resolution, kPatch, kHidden, "embeddings");
  const std::uint32_t tokens = patches.grid * patches.grid + 1;

  const TensorId cls = expand_batch(
      b, "vit.embeddings.cls_token.expand",
      b.vector("vit.embeddings.cls_token", kHidden, "embeddings", "uniform"), batch, "embeddings");
  TensorId x = b.move("vit.embeddings.concat_cls", "concat", {cls, patches.tokens},
                      nlohmann::json{{"dim", 2}}, "embeddings");
  const TensorId position = b.weight("vit.embeddings.position_embeddings",
                                     ops::Shape({1, 1, tokens, kHidden}), "embeddings", 0.02);
  x = b.binary("add", "vit.embeddings.add_position", x, position, "embeddings");

  const EncoderConfig config{kHidden, kHeads, kMlp, kEpsilon, false, ""};
  for (std::uint32_t i = 0; i < b.depth(kLayers); ++i) {
    x = encoder_block(b, "vit.encoder.layer." + std::to_string(i), x, config);
  }
  // The classifier reads the class token only: slice it first (layernorm is per token).
  x = b.move("vit.cls_token", "slice", {x},
             nlohmann::json{{"begins", {0, 0, 0, 0}}, {"ends", {batch, 1, 1, kHidden}}}, "head");
  x = b.layernorm("vit.layernorm", x, kHidden, kEpsilon, "head");
  const TensorId logits = b.linear("classifier", x, kHidden, kClasses, "head");
  graph.mark_output(logits);
  return graph;
}

}  // namespace wormsim::workloads::models
