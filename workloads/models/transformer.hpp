#pragma once
// Vision-transformer pieces shared by vit-base, dpt-large, depth-anything-v2-large and pi0's
// SigLIP tower (internal to workloads/models/).
#include <cstdint>
#include <optional>
#include <string>

#include "workloads/models/model_builder.hpp"

namespace wormsim::workloads::models {

struct EncoderConfig {
  std::uint32_t hidden{768};
  std::uint32_t heads{12};
  std::uint32_t mlp{3072};
  double epsilon{1e-12};
  bool layer_scale{false};   // DINOv2: per-channel scales after attention and MLP
  std::string group_prefix;  // "" or e.g. "vision." (groups become <prefix>attention, <prefix>mlp)
  // Head dim the QKV / output weights are laid out with (0 = hidden / heads). TT-NN pads a head
  // dim that is not whole tiles with zero weight columns (SigLIP: 72 -> 96) so that
  // nlp_create_qkv_heads / nlp_concat_heads move whole tiles.
  std::uint32_t padded_head_dim{0};
};

// One pre-norm encoder block as TT-NN's ViT runs it:
//   x += proj(attention(qkv(layernorm(x))))   (fused QKV linear, nlp_create_qkv_heads, matmul,
//                                               softmax(scale 1/sqrt(d)), matmul, nlp_concat_heads)
//   x += fc2(gelu(fc1(layernorm(x))))         (GELU fused into fc1)
// Weights follow HuggingFace ViT names under `prefix` ("<prefix>.attention.attention.qkv" holds
// query|key|value side by side, TT-NN's fused layout). `mask` is an additive [.., 1, S] key mask.
TensorId encoder_block(ModelBuilder& b, const std::string& prefix, TensorId x,
                       const EncoderConfig& config, std::optional<TensorId> mask = std::nullopt);

struct PatchEmbedding {
  TensorId tokens{0};     // [B, 1, P, hidden] TILE
  std::uint32_t grid{0};  // patches per side
};

// TT-NN's ViT patch embedding: the NHWC image [B, R, R, 4] (RGB plus the zero channel the host
// pads, as TT-NN's ViT demo does) ROW_MAJOR -> fold(stride_h = patch, stride_w = 1) ->
// reshape [B, 1, P, patch*patch*4] -> tilize -> linear (patch*patch*4 -> hidden, bias).
// The conv's weight becomes "<prefix>.projection.weight" [patch*patch*4, hidden] (its rows for the
// padded channel are zeros in a converted checkpoint). Throws Error if R is not a multiple of
// `patch`.
PatchEmbedding patch_embedding(ModelBuilder& b, const std::string& prefix, TensorId image,
                               std::uint32_t batch, std::uint32_t resolution, std::uint32_t patch,
                               std::uint32_t hidden, const std::string& group);

// Expands a [1, 1, 1, D] weight to [B, 1, 1, D] (TT-NN keeps the class token per batch; the graph
// broadcasts it with an add to a zero constant).
TensorId expand_batch(ModelBuilder& b, const std::string& name, TensorId row, std::uint32_t batch,
                      const std::string& group);

// Patch count per side for an image side, or Error naming the model and the valid sizes.
std::uint32_t patches_per_side(const std::string& model, std::uint32_t resolution,
                               std::uint32_t patch);

}  // namespace wormsim::workloads::models
