// "pi0": Physical Intelligence's pi0 vision-language-action model (openpi pi0_base) at inference,
// as Tenstorrent's TT-NN implementation (models/experimental/pi0) runs sample_actions():
//
//  1. SigLIP-So400m/14 at 224 over the camera images (both cameras as one batch), projector
//     1152 -> 2048;
//  2. the language prompt through Gemma's embedding table (sqrt(2048) normaliser folded into the
//     table);
//  3. the Gemma-2B backbone over the prefix (image tokens + prompt), keeping every layer's K and V
//     (after RoPE) as the KV cache;
//  4. ten flow-matching steps: the suffix (state token + 50 noisy action tokens, with the step's
//     time embedding) through the 18 action-expert layers, each attending to the cached prefix
//     K/V plus its own; action_out_proj gives the velocity and x += dt * v (dt folded into
//     action_out_proj's weights, so the step is one add).
//
// RoPE runs as TT-NN's matrix form: rope(x) = x * cos + (x @ R) * sin with R the fixed
// rotate-half matrix [256, 256] (ttnn.experimental.rotary_embedding is not in wormsim's op set).
#include <cmath>

#include "sim/error.hpp"
#include "workloads/models/model_builder.hpp"
#include "workloads/models/transformer.hpp"

namespace wormsim::workloads::models {
namespace {

using nlohmann::json;

// Inference configuration (docs/models.md).
constexpr std::uint32_t kCameras = 2;        // TT-NN's pi0 perf test: two camera views
constexpr std::uint32_t kPromptTokens = 48;  // openpi pi0 max_token_len
constexpr std::uint32_t kActionHorizon = 50;
constexpr std::uint32_t kActionDim = 32;
constexpr std::uint32_t kStateDim = 32;
constexpr std::uint32_t kDenoiseSteps = 10;
// SigLIP So400m/14.
constexpr std::uint32_t kVisionResolution = 224;
constexpr std::uint32_t kVisionPatch = 14;
constexpr std::uint32_t kVisionHidden = 1152;
constexpr std::uint32_t kVisionHeads = 16;
constexpr std::uint32_t kVisionMlp = 4304;
constexpr std::uint32_t kVisionLayers = 27;
// SigLIP's head dim 72 padded to whole tiles, as TT-NN's pi0 SigLIP lays out its weights.
constexpr std::uint32_t kVisionPaddedHeadDim = 96;
// Gemma 2B (PaliGemma vocabulary) and the Gemma-300M-style action expert.
constexpr std::uint32_t kVocab = 257152;
constexpr std::uint32_t kLlmWidth = 2048;
constexpr std::uint32_t kLlmMlp = 16384;
constexpr std::uint32_t kExpertWidth = 1024;
constexpr std::uint32_t kExpertMlp = 4096;
constexpr std::uint32_t kGemmaLayers = 18;
constexpr std::uint32_t kHeads = 8;
constexpr std::uint32_t kKvHeads = 1;
constexpr std::uint32_t kHeadDim = 256;
constexpr double kRmsEpsilon = 1e-6;
constexpr double kMaskedScore = -1.0e9;
// Gemma's rope_theta (HuggingFace GemmaConfig default).
constexpr double kRopeTheta = 10000.0;

std::vector<std::int64_t> shape4(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d) {
  return {a, b, c, d};
}

struct Rope {
  TensorId cos{0};
  TensorId sin{0};
  TensorId rotate{0};
};

// rope(x) = x * cos + (x @ R) * sin; cos / sin [1, 1, S, D] broadcast over batch and heads.
TensorId apply_rope(ModelBuilder& b, const std::string& name, TensorId x, const Rope& rope,
                    const std::string& group) {
  const TensorId rotated = b.matmul(name + ".rotate", x, rope.rotate, group);
  const TensorId a = b.binary("mul", name + ".cos", x, rope.cos, group);
  const TensorId c = b.binary("mul", name + ".sin", rotated, rope.sin, group);
  return b.binary("add", name, a, c, group);
}

struct GemmaDims {
  std::uint32_t width{0};
  std::uint32_t mlp{0};
};

// One Gemma layer's weights (the action expert's are shared by the ten denoising steps).
struct GemmaWeights {
  TensorId input_norm{0};
  TensorId qkv{0};  // [width, (H + 2*KVH) * D]: q_proj | k_proj | v_proj
  TensorId o_proj{0};
  TensorId post_norm{0};
  TensorId gate{0};
  TensorId up{0};
  TensorId down{0};
};

GemmaWeights gemma_weights(ModelBuilder& b, const std::string& p, const GemmaDims& dims,
                           const std::string& attention_group, const std::string& mlp_group) {
  const std::uint32_t q_width = kHeads * kHeadDim;
  GemmaWeights w;
  // Gemma scales by (1 + weight); the converted checkpoint stores 1 + weight.
  w.input_norm = b.vector(p + ".input_layernorm.weight", dims.width, attention_group, "ones");
  w.qkv = b.weight(p + ".self_attn.qkv_proj.weight",
                   ops::Shape({1, 1, dims.width, q_width + 2 * kKvHeads * kHeadDim}),
                   attention_group, fan_in_scale(dims.width));
  w.o_proj = b.weight(p + ".self_attn.o_proj.weight", ops::Shape({1, 1, q_width, dims.width}),
                      attention_group, fan_in_scale(q_width));
  w.post_norm = b.vector(p + ".post_attention_layernorm.weight", dims.width, mlp_group, "ones");
  w.gate = b.weight(p + ".mlp.gate_proj.weight", ops::Shape({1, 1, dims.width, dims.mlp}),
                    mlp_group, fan_in_scale(dims.width));
  w.up = b.weight(p + ".mlp.up_proj.weight", ops::Shape({1, 1, dims.width, dims.mlp}), mlp_group,
                  fan_in_scale(dims.width));
  w.down = b.weight(p + ".mlp.down_proj.weight", ops::Shape({1, 1, dims.mlp, dims.width}),
                    mlp_group, fan_in_scale(dims.mlp));
  return w;
}

struct KvCache {
  TensorId k{0};  // [B, KVH, S, D] after RoPE
  TensorId v{0};
};

struct QkvResult {
  TensorId q{0};
  KvCache kv;
};

// The attention projections of one Gemma layer: rmsnorm -> fused QKV (no bias) -> heads -> RoPE.
QkvResult gemma_qkv(ModelBuilder& b, const std::string& p, TensorId x, const GemmaWeights& w,
                    const Rope& rope, const std::string& group, bool need_query = true) {
  const TensorId h = b.compute(p + ".input_layernorm", "rmsnorm", {x, w.input_norm},
                               json{{"epsilon", kRmsEpsilon}}, group);
  const TensorId qkv =
      b.compute(p + ".self_attn.qkv_proj", "linear", {h, w.qkv}, json::object(), group);
  const auto heads = b.move_n(
      p + ".self_attn.create_heads", "nlp_create_qkv_heads", {qkv},
      json{{"num_heads", kHeads}, {"num_kv_heads", kKvHeads}, {"transpose_k_heads", false}}, group);
  QkvResult r;
  if (need_query) r.q = apply_rope(b, p + ".self_attn.rope_q", heads.at(0), rope, group);
  r.kv.k = apply_rope(b, p + ".self_attn.rope_k", heads.at(1), rope, group);
  r.kv.v = heads.at(2);
  return r;
}

// The rest of a Gemma layer once its keys / values are known: attention, o_proj, residual,
// GeGLU MLP (gelu fused into gate_proj), residual.
TensorId gemma_rest(ModelBuilder& b, const std::string& p, TensorId x, TensorId q, TensorId keys,
                    TensorId values, const GemmaWeights& w, std::optional<TensorId> mask,
                    const std::string& attention_group, const std::string& mlp_group) {
  const TensorId k_t = b.move(p + ".self_attn.transpose_k", "transpose", {keys},
                              json{{"dim0", -2}, {"dim1", -1}}, attention_group);
  TensorId context =
      b.attention(p + ".self_attn", q, k_t, values, kHeads, kKvHeads,
                  1.0 / std::sqrt(static_cast<double>(kHeadDim)), attention_group, mask);
  context = b.move(p + ".self_attn.concat_heads", "nlp_concat_heads", {context}, json::object(),
                   attention_group);
  const TensorId attn = b.compute(p + ".self_attn.o_proj", "linear", {context, w.o_proj},
                                  json::object(), attention_group);
  x = b.binary("add", p + ".self_attn.residual", x, attn, attention_group);

  const TensorId h = b.compute(p + ".post_attention_layernorm", "rmsnorm", {x, w.post_norm},
                               json{{"epsilon", kRmsEpsilon}}, mlp_group);
  const TensorId gate = b.compute(p + ".mlp.gate_proj", "linear", {h, w.gate},
                                  json{{"activation", "gelu"}}, mlp_group);
  const TensorId up = b.compute(p + ".mlp.up_proj", "linear", {h, w.up}, json::object(), mlp_group);
  const TensorId product = b.binary("mul", p + ".mlp.gate_up", gate, up, mlp_group);
  const TensorId down =
      b.compute(p + ".mlp.down_proj", "linear", {product, w.down}, json::object(), mlp_group);
  return b.binary("add", p + ".mlp.residual", x, down, mlp_group);
}

}  // namespace

Graph build_pi0(const ModelOptions& options, const arch::DeviceSpec& device) {
  Graph graph("pi0", device);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : 1;
  graph.set_batch(batch);
  const std::uint32_t resolution = options.resolution ? options.resolution : kVisionResolution;
  const std::uint32_t layers = b.depth(kGemmaLayers);

  // ---- 1. vision: both cameras as one SigLIP batch ----
  std::vector<TensorId> cameras;
  for (std::uint32_t c = 0; c < kCameras; ++c) {
    cameras.push_back(b.input("observation.images." + std::to_string(c),
                              ops::Shape({batch, resolution, resolution, 4}), ops::Layout::RowMajor,
                              b.row_major_dtype("vision.embeddings")));
  }
  const TensorId images =
      b.move("vision.stack_cameras", "concat", cameras, json{{"dim", 0}}, "vision.embeddings");
  const std::uint32_t images_batch = kCameras * batch;
  const PatchEmbedding patches =
      patch_embedding(b, "vision_tower.embeddings.patch_embedding", images, images_batch,
                      resolution, kVisionPatch, kVisionHidden, "vision.embeddings");
  const std::uint32_t image_tokens = patches.grid * patches.grid;
  TensorId v =
      b.binary("add", "vision_tower.embeddings.add_position", patches.tokens,
               b.weight("vision_tower.embeddings.position_embedding.weight",
                        ops::Shape({1, 1, image_tokens, kVisionHidden}), "vision.embeddings", 0.02),
               "vision.embeddings");
  EncoderConfig siglip{kVisionHidden, kVisionHeads, kVisionMlp, 1e-6, false, "vision."};
  siglip.padded_head_dim = kVisionPaddedHeadDim;
  for (std::uint32_t i = 0; i < b.depth(kVisionLayers); ++i) {
    v = encoder_block(b, "vision_tower.encoder.layers." + std::to_string(i), v, siglip);
  }
  v = b.layernorm("vision_tower.post_layernorm", v, kVisionHidden, 1e-6, "vision.mlp");
  v = b.linear("multi_modal_projector.linear", v, kVisionHidden, kLlmWidth, "projector");
  // [cameras*B, 1, T, W] (camera-major) -> [B, 1, cameras*T, W].
  if (batch > 1) {
    v = b.move("prefix.split_cameras", "reshape", {v},
               json{{"shape", shape4(kCameras, batch, image_tokens, kLlmWidth)}}, "projector");
    v = b.move("prefix.batch_major", "permute", {v}, json{{"dims", shape4(1, 0, 2, 3)}},
               "projector");
  }
  v = b.move("prefix.image_tokens", "reshape", {v},
             json{{"shape", shape4(batch, 1, static_cast<std::int64_t>(kCameras) * image_tokens,
                                   kLlmWidth)}},
             "projector");

  // ---- 2. prompt embedding ----
  const TensorId prompt = b.input("prompt_tokens", ops::Shape({batch, 1, 1, kPromptTokens}),
                                  ops::Layout::RowMajor, ops::DataType::UInt32);
  const std::uint32_t vocab = options.vocab ? options.vocab : kVocab;
  graph.set_init(prompt, "uniform", vocab);
  const TensorId table =
      graph.add_weight("language_model.embed_tokens.weight",
                       ops::TensorSpec(ops::Shape({1, 1, vocab, kLlmWidth}),
                                       b.row_major_dtype("llm.embeddings"), ops::Layout::RowMajor),
                       "uniform", 1.0);
  const TensorId text = b.move(
      "language_model.embed_tokens", "embedding", {prompt, table},
      json{{"layout", "TILE"}, {"output_dtype", b.dtype_name("llm.embeddings")}}, "llm.embeddings");
  TensorId x = b.move("prefix.concat", "concat", {v, text}, json{{"dim", 2}}, "llm.embeddings");
  const std::uint32_t prefix_len = kCameras * image_tokens + kPromptTokens;
  const std::uint32_t suffix_len = 1 + kActionHorizon;

  // RoPE tables (host-computed cos / sin for positions 0..prefix+suffix) and the rotate-half
  // matrix, shared by every layer of both experts.
  const ops::DataType rope_type = ops::DataType::BFloat16;
  const TensorId rotate = b.constant("rope.rotate_half", ops::Shape({1, 1, kHeadDim, kHeadDim}),
                                     ops::Layout::Tile, rope_type, "rotate_half");
  // Positions 0..prefix-1 for the prefix; the suffix continues after it.
  const auto rope_table = [&](const std::string& name, const std::string& kind, std::uint32_t rows,
                              std::uint32_t first) {
    return b.constant(name, ops::Shape({1, 1, rows, kHeadDim}), ops::Layout::Tile, rope_type,
                      kind + (first ? "@" + std::to_string(first) : std::string()), kRopeTheta);
  };
  const Rope prefix_rope{rope_table("rope.prefix_cos", "rope_cos", prefix_len, 0),
                         rope_table("rope.prefix_sin", "rope_sin", prefix_len, 0), rotate};
  const Rope suffix_rope{rope_table("rope.suffix_cos", "rope_cos", suffix_len, prefix_len),
                         rope_table("rope.suffix_sin", "rope_sin", suffix_len, prefix_len), rotate};

  // ---- 3. Gemma-2B over the prefix: full bidirectional attention, KV cache per layer ----
  const GemmaDims llm{kLlmWidth, kLlmMlp};
  std::vector<KvCache> cache;
  for (std::uint32_t i = 0; i < layers; ++i) {
    const std::string p = "language_model.layers." + std::to_string(i);
    const bool last = i + 1 == layers;
    const GemmaWeights w = gemma_weights(b, p, llm, "llm.attention", "llm.mlp");
    const QkvResult qkv = gemma_qkv(b, p, x, w, prefix_rope, "llm.attention", !last);
    cache.push_back(qkv.kv);
    // The last layer's attention output and MLP feed nothing sample_actions uses: stop at its K/V.
    if (!last)
      x = gemma_rest(b, p, x, qkv.q, qkv.kv.k, qkv.kv.v, w, std::nullopt, "llm.attention",
                     "llm.mlp");
  }

  // ---- 4. flow matching: the action expert over the suffix, ten Euler steps ----
  // Suffix mask over [prefix | state | actions] keys: the state token does not see the actions;
  // action tokens see everything. Rows repeat per query head (heads are folded into the rows).
  const std::uint32_t keys = prefix_len + suffix_len;
  const TensorId state_row_zeros =
      b.constant("suffix_mask.state_visible", ops::Shape({1, 1, 1, prefix_len + 1}),
                 ops::Layout::Tile, ops::DataType::BFloat16, "zeros");
  const TensorId state_row =
      b.move("suffix_mask.state_row", "pad", {state_row_zeros},
             json{{"padding", {{0, 0}, {0, kActionHorizon}}}, {"value", kMaskedScore}},
             "expert.embeddings");
  const TensorId action_rows =
      b.constant("suffix_mask.action_rows", ops::Shape({1, 1, kActionHorizon, keys}),
                 ops::Layout::Tile, ops::DataType::BFloat16, "zeros");
  const TensorId head_mask = b.move("suffix_mask.rows", "concat", {state_row, action_rows},
                                    json{{"dim", 2}}, "expert.embeddings");
  const TensorId suffix_mask =
      b.move("suffix_mask", "concat", std::vector<TensorId>(kHeads / kKvHeads, head_mask),
             json{{"dim", 2}}, "expert.embeddings");

  const TensorId state = b.input("observation.state", ops::Shape({batch, 1, 1, kStateDim}),
                                 ops::Layout::Tile, b.dtype("expert.embeddings"));
  const TensorId state_token =
      b.linear("state_proj", state, kStateDim, kExpertWidth, "expert.embeddings");
  TensorId actions = b.input("noise", ops::Shape({batch, 1, kActionHorizon, kActionDim}),
                             ops::Layout::Tile, b.dtype("expert.embeddings"));
  // The projections' weights are shared by all steps.
  const TensorId w_action =
      b.weight("action_in_proj.weight", ops::Shape({1, 1, kActionDim, kExpertWidth}),
               "expert.embeddings", fan_in_scale(kActionDim));
  const TensorId b_action =
      b.vector("action_in_proj.bias", kExpertWidth, "expert.embeddings", "uniform");
  // action_time_mlp_in(cat(a, t)) = a @ W_a + t @ W_t + b: the time half is one row per step.
  const TensorId w_mix_action =
      b.weight("action_time_mlp_in.weight_action", ops::Shape({1, 1, kExpertWidth, kExpertWidth}),
               "expert.embeddings", fan_in_scale(2 * kExpertWidth));
  const TensorId w_mix_time =
      b.weight("action_time_mlp_in.weight_time", ops::Shape({1, 1, kExpertWidth, kExpertWidth}),
               "expert.embeddings", fan_in_scale(2 * kExpertWidth));
  const TensorId b_mix =
      b.vector("action_time_mlp_in.bias", kExpertWidth, "expert.embeddings", "uniform");
  const TensorId w_mix_out =
      b.weight("action_time_mlp_out.weight", ops::Shape({1, 1, kExpertWidth, kExpertWidth}),
               "expert.embeddings", fan_in_scale(kExpertWidth));
  const TensorId b_mix_out =
      b.vector("action_time_mlp_out.bias", kExpertWidth, "expert.embeddings", "uniform");
  const TensorId w_out =
      b.weight("action_out_proj.weight", ops::Shape({1, 1, kExpertWidth, kActionDim}),
               "action_head", fan_in_scale(kExpertWidth));
  const TensorId b_out = b.vector("action_out_proj.bias", kActionDim, "action_head", "uniform");

  const GemmaDims expert{kExpertWidth, kExpertMlp};
  std::vector<GemmaWeights> expert_weights;
  for (std::uint32_t i = 0; i < layers; ++i) {
    expert_weights.push_back(gemma_weights(b, "gemma_expert.layers." + std::to_string(i), expert,
                                           "expert.attention", "expert.mlp"));
  }
  const TensorId expert_norm =
      b.vector("gemma_expert.norm.weight", kExpertWidth, "action_head", "ones");
  for (std::uint32_t step = 0; step < kDenoiseSteps; ++step) {
    const std::string s = "denoise." + std::to_string(step);
    // Host-computed sinusoidal embedding of this step's time.
    const TensorId time = b.input(s + ".time_embedding", ops::Shape({batch, 1, 1, kExpertWidth}),
                                  ops::Layout::Tile, b.dtype("expert.embeddings"));
    const TensorId embedded =
        b.compute(s + ".action_in_proj", "linear", {actions, w_action, b_action}, json::object(),
                  "expert.embeddings");
    const TensorId from_actions =
        b.compute(s + ".action_time_mlp_in.action", "linear", {embedded, w_mix_action},
                  json::object(), "expert.embeddings");
    const TensorId from_time =
        b.compute(s + ".action_time_mlp_in.time", "linear", {time, w_mix_time, b_mix},
                  json::object(), "expert.embeddings");
    const TensorId mixed = b.compute(s + ".action_time_mlp_in", "add", {from_actions, from_time},
                                     json{{"activation", "silu"}}, "expert.embeddings");
    const TensorId action_tokens =
        b.compute(s + ".action_time_mlp_out", "linear", {mixed, w_mix_out, b_mix_out},
                  json::object(), "expert.embeddings");
    TensorId h = b.move(s + ".suffix", "concat", {state_token, action_tokens}, json{{"dim", 2}},
                        "expert.embeddings");

    for (std::uint32_t i = 0; i < layers; ++i) {
      const std::string p = s + ".gemma_expert.layers." + std::to_string(i);
      const QkvResult qkv = gemma_qkv(b, p, h, expert_weights[i], suffix_rope, "expert.attention");
      const TensorId all_k = b.move(p + ".self_attn.cat_k", "concat", {cache[i].k, qkv.kv.k},
                                    json{{"dim", 2}}, "expert.attention");
      const TensorId all_v = b.move(p + ".self_attn.cat_v", "concat", {cache[i].v, qkv.kv.v},
                                    json{{"dim", 2}}, "expert.attention");
      h = gemma_rest(b, p, h, qkv.q, all_k, all_v, expert_weights[i], suffix_mask,
                     "expert.attention", "expert.mlp");
    }
    h = b.compute(s + ".gemma_expert.norm", "rmsnorm", {h, expert_norm},
                  json{{"epsilon", kRmsEpsilon}}, "action_head");
    h = b.move(
        s + ".action_tokens", "slice", {h},
        json{{"begins", shape4(0, 0, 1, 0)}, {"ends", shape4(batch, 1, suffix_len, kExpertWidth)}},
        "action_head");
    const TensorId velocity = b.compute(s + ".action_out_proj", "linear", {h, w_out, b_out},
                                        json::object(), "action_head");
    actions = b.binary("add", s + ".euler", actions, velocity, "action_head");
  }
  graph.mark_output(actions);
  return graph;
}

}  // namespace wormsim::workloads::models
