// "bert-large": BERT-Large (uncased) question answering on SQuAD as TT-NN's BERT-Large demo runs
// it: embeddings by ttnn.embedding, 24 post-norm encoder layers with fused QKV, the 2-way span
// classifier (qa_outputs).
#include <cmath>

#include "workloads/models/model_builder.hpp"

namespace wormsim::workloads::models {
namespace {

using nlohmann::json;

constexpr std::uint32_t kDefaultBatch = 8;
constexpr std::uint32_t kDefaultSequence = 384;
constexpr std::uint32_t kVocab = 30522;
constexpr std::uint32_t kMaxPositions = 512;
constexpr std::uint32_t kTypeVocab = 2;
constexpr std::uint32_t kHidden = 1024;
constexpr std::uint32_t kHeads = 16;
constexpr std::uint32_t kMlp = 4096;
constexpr std::uint32_t kLayers = 24;
constexpr double kEpsilon = 1e-12;

TensorId bert_layer(ModelBuilder& b, const std::string& p, TensorId x, TensorId mask) {
  const std::uint32_t head_dim = kHidden / kHeads;
  const TensorId qkv =
      b.linear(p + ".attention.self.query_key_value", x, kHidden, 3 * kHidden, "attention");
  const auto heads =
      b.move_n(p + ".attention.self.create_heads", "nlp_create_qkv_heads", {qkv},
               json{{"num_heads", kHeads}, {"transpose_k_heads", true}}, "attention");
  TensorId context =
      b.attention(p + ".attention.self", heads.at(0), heads.at(1), heads.at(2), kHeads, kHeads,
                  1.0 / std::sqrt(static_cast<double>(head_dim)), "attention", mask);
  context = b.move(p + ".attention.self.concat_heads", "nlp_concat_heads", {context},
                   json::object(), "attention");
  TensorId h = b.linear(p + ".attention.output.dense", context, kHidden, kHidden, "attention");
  h = b.binary("add", p + ".attention.output.residual", h, x, "attention");
  x = b.layernorm(p + ".attention.output.LayerNorm", h, kHidden, kEpsilon, "attention");

  h = b.linear(p + ".intermediate.dense", x, kHidden, kMlp, "mlp", LinearOptions{true, "gelu"});
  h = b.linear(p + ".output.dense", h, kMlp, kHidden, "mlp");
  h = b.binary("add", p + ".output.residual", h, x, "mlp");
  return b.layernorm(p + ".output.LayerNorm", h, kHidden, kEpsilon, "mlp");
}

}  // namespace

Graph build_bert_large(const ModelOptions& options, const arch::DeviceSpec& device) {
  Graph graph("bert-large", device);
  ModelBuilder b(graph, options);
  const std::uint32_t batch = options.batch ? options.batch : kDefaultBatch;
  graph.set_batch(batch);
  const std::uint32_t sequence = options.resolution ? options.resolution : kDefaultSequence;
  if (sequence > kMaxPositions) {
    throw Error("bert-large: sequence length (resolution) " + std::to_string(sequence) +
                " exceeds the " + std::to_string(kMaxPositions) + " position embeddings");
  }
  const ops::DataType table_type = b.row_major_dtype("embeddings");
  const TensorId input_ids = b.input("input_ids", ops::Shape({batch, 1, 1, sequence}),
                                     ops::Layout::RowMajor, ops::DataType::UInt32);
  const TensorId token_type_ids = b.input("token_type_ids", ops::Shape({batch, 1, 1, sequence}),
                                          ops::Layout::RowMajor, ops::DataType::UInt32);
  const std::uint32_t vocab = options.vocab ? options.vocab : kVocab;
  graph.set_init(input_ids, "uniform", vocab);
  graph.set_init(token_type_ids, "uniform", kTypeVocab);
  // Additive mask over keys (0 for tokens, a large negative value for padding), as TT-NN's BERT
  // takes it from the host.
  const TensorId attention_mask = b.input("attention_mask", ops::Shape({batch, 1, 1, sequence}),
                                          ops::Layout::Tile, ops::DataType::BFloat16);

  const TensorId word_table = graph.add_weight(
      "bert.embeddings.word_embeddings.weight",
      ops::TensorSpec(ops::Shape({1, 1, vocab, kHidden}), table_type, ops::Layout::RowMajor),
      "uniform", 1.0);
  const TensorId type_table = graph.add_weight(
      "bert.embeddings.token_type_embeddings.weight",
      ops::TensorSpec(ops::Shape({1, 1, kTypeVocab, kHidden}), table_type, ops::Layout::RowMajor),
      "uniform", 1.0);
  const json embedding_params{{"layout", "TILE"}, {"output_dtype", b.dtype_name("embeddings")}};
  const TensorId words = b.move("bert.embeddings.word_embeddings", "embedding",
                                {input_ids, word_table}, embedding_params, "embeddings");
  const TensorId types = b.move("bert.embeddings.token_type_embeddings", "embedding",
                                {token_type_ids, type_table}, embedding_params, "embeddings");
  // Position ids are 0..S-1 for every sequence: the first S rows of the table, broadcast over
  // the batch.
  const TensorId position_table =
      b.weight("bert.embeddings.position_embeddings.weight",
               ops::Shape({1, 1, kMaxPositions, kHidden}), "embeddings", 1.0);
  const TensorId positions =
      b.move("bert.embeddings.position_embeddings", "slice", {position_table},
             json{{"begins", {0, 0, 0, 0}}, {"ends", {1, 1, sequence, kHidden}}}, "embeddings");
  TensorId x = b.binary("add", "bert.embeddings.add_token_type", words, types, "embeddings");
  x = b.binary("add", "bert.embeddings.add_position", x, positions, "embeddings");
  x = b.layernorm("bert.embeddings.LayerNorm", x, kHidden, kEpsilon, "embeddings");

  for (std::uint32_t i = 0; i < b.depth(kLayers); ++i) {
    x = bert_layer(b, "bert.encoder.layer." + std::to_string(i), x, attention_mask);
  }
  const TensorId logits = b.linear("qa_outputs", x, kHidden, 2, "head");
  graph.mark_output(logits);
  return graph;
}

}  // namespace wormsim::workloads::models
