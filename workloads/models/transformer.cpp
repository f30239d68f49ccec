#include "workloads/models/transformer.hpp"

#include <cmath>

#include "sim/error.hpp"

namespace wormsim::workloads::models {

using nlohmann::json;

std::uint32_t patches_per_side(const std::string& model, std::uint32_t resolution,
                               std::uint32_t patch) {
  if (resolution == 0 || resolution % patch != 0) {
    throw Error(model + ": resolution " + std::to_string(resolution) +
                " is not a multiple of the patch size " + std::to_string(patch) + "; use e.g. " +
                std::to_string(patch * 16) + " or " + std::to_string(patch * 24));
  }
  return resolution / patch;
}

TensorId encoder_block(ModelBuilder& b, const std::string& prefix, TensorId x,
                       const EncoderConfig& c, std::optional<TensorId> mask) {
  const std::string attention_group = c.group_prefix + "attention";
  const std::string mlp_group = c.group_prefix + "mlp";
  const std::uint32_t head_dim = c.hidden / c.heads;
  const std::uint32_t stored_head_dim = c.padded_head_dim ? c.padded_head_dim : head_dim;
  const std::uint32_t heads_width = c.heads * stored_head_dim;

  // Attention half.
  TensorId h = b.layernorm(prefix + ".layernorm_before", x, c.hidden, c.epsilon, attention_group);
  const TensorId qkv =
      b.linear(prefix + ".attention.attention.qkv", h, c.hidden, 3 * heads_width, attention_group);
  const auto heads =
      b.move_n(prefix + ".attention.create_heads", "nlp_create_qkv_heads", {qkv},
               json{{"num_heads", c.heads}, {"transpose_k_heads", true}}, attention_group);
  TensorId context =
      b.attention(prefix + ".attention", heads.at(0), heads.at(1), heads.at(2), c.heads, c.heads,
                  1.0 / std::sqrt(static_cast<double>(head_dim)), attention_group, mask);
  context = b.move(prefix + ".attention.concat_heads", "nlp_concat_heads", {context},
                   json::object(), attention_group);
  TensorId out =
      b.linear(prefix + ".attention.output.dense", context, heads_width, c.hidden, attention_group);
  if (c.layer_scale) {
    out = b.binary("mul", prefix + ".layer_scale1", out,
                   b.vector(prefix + ".layer_scale1.lambda1", c.hidden, attention_group, "ones"),
                   attention_group);
  }
  x = b.binary("add", prefix + ".attention.residual", x, out, attention_group);

  // MLP half.
  h = b.layernorm(prefix + ".layernorm_after", x, c.hidden, c.epsilon, mlp_group);
  h = b.linear(prefix + ".intermediate.dense", h, c.hidden, c.mlp, mlp_group,
               LinearOptions{true, "gelu"});
  h = b.linear(prefix + ".output.dense", h, c.mlp, c.hidden, mlp_group);
  if (c.layer_scale) {
    h = b.binary("mul", prefix + ".layer_scale2", h,
                 b.vector(prefix + ".layer_scale2.lambda1", c.hidden, mlp_group, "ones"),
                 mlp_group);
  }
  return b.binary("add", prefix + ".mlp.residual", x, h, mlp_group);
}

PatchEmbedding patch_embedding(ModelBuilder& b, const std::string& prefix, TensorId image,
                               std::uint32_t batch, std::uint32_t resolution, std::uint32_t patch,
                               std::uint32_t hidden, const std::string& group) {
  const std::uint32_t grid = patches_per_side(b.graph().name(), resolution, patch);
  const std::uint32_t channels = b.dims4(image)[3];
  const std::uint32_t patch_width = patch * patch * channels;
  const std::int64_t patches = static_cast<std::int64_t>(grid) * grid;
  TensorId t =
      b.move(prefix + ".fold", "fold", {image}, json{{"stride_h", patch}, {"stride_w", 1}}, group);
  t = b.move(prefix + ".flatten", "reshape", {t},
             json{{"shape", std::vector<std::int64_t>{batch, 1, patches, patch_width}}}, group);
  const bool aligned = patches % ops::kTileHeight == 0 && patch_width % ops::kTileWidth == 0;
  t = b.move(prefix + ".tilize", aligned ? "tilize" : "tilize_with_val_padding", {t},
             json::object(), group);
  PatchEmbedding out;
  out.tokens = b.linear(prefix + ".projection", t, patch_width, hidden, group);
  out.grid = grid;
  return out;
}

TensorId expand_batch(ModelBuilder& b, const std::string& name, TensorId row, std::uint32_t batch,
                      const std::string& group) {
  if (batch == 1) return row;
  const auto d = b.dims4(row);
  const TensorId zeros = b.constant(name + ".zeros", ops::Shape({batch, 1, 1, d[3]}),
                                    ops::Layout::Tile, b.dtype(group), "zeros");
  return b.binary("add", name, zeros, row, group);
}

}  // namespace wormsim::workloads::models
