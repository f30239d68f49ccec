// nlp_create_qkv_heads, nlp_concat_heads and embedding.
#include <algorithm>
#include <cmath>

#include "ops/data_movement/data_movement.hpp"

namespace wormsim::ops {
namespace {

using dm::Coord4;
using dm::Source;

class QkvMap : public dm::ElementMap {
 public:
  QkvMap(bool separate_kv, std::uint32_t heads, std::uint32_t kv_heads, std::uint32_t head_dim,
         bool transpose_k, std::vector<Shape> outputs)
      : separate_kv_(separate_kv),
        heads_(heads),
        kv_heads_(kv_heads),
        d_(head_dim),
        transpose_k_(transpose_k),
        outputs_(std::move(outputs)) {}

  Source source(std::size_t output, const Coord4& at) const override {
    if (!dm::inside(outputs_[output], at)) return Source::filled(0.0f);
    const bool transposed = output == 1 && transpose_k_;
    const std::uint32_t s = transposed ? at[3] : at[2];
    const std::uint32_t d = transposed ? at[2] : at[3];
    const std::uint32_t h = at[1];
    std::uint32_t input = 0;
    std::uint32_t column = 0;  // first column of the head in its input
    if (output == 0) {
      column = h * d_;
    } else if (separate_kv_) {
      input = 1;
      column = (output == 1 ? h : kv_heads_ + h) * d_;
    } else {
      column = (output == 1 ? heads_ + h : heads_ + kv_heads_ + h) * d_;
    }
    return Source::from(input, Coord4{at[0], 0, s, column + d});
  }

  const Shape* filled_outside(std::size_t output) const override { return &outputs_[output]; }

  std::string cache_key() const override {
    std::string key = "qkv " + std::to_string(separate_kv_) + " " + std::to_string(heads_) + " " +
                      std::to_string(kv_heads_) + " " + std::to_string(d_) + " " +
                      std::to_string(transpose_k_);
    for (const Shape& o : outputs_) key += to_string(o);
    return key;
  }

 private:
  bool separate_kv_;
  std::uint32_t heads_;
  std::uint32_t kv_heads_;
  std::uint32_t d_;
  bool transpose_k_;
  std::vector<Shape> outputs_;
};

class ConcatHeadsMap : public dm::ElementMap {
 public:
  ConcatHeadsMap(std::uint32_t head_dim, Shape output) : d_(head_dim), out_(std::move(output)) {}
  Source source(std::size_t, const Coord4& at) const override {
    if (!dm::inside(out_, at)) return Source::filled(0.0f);
    return Source::from(0, Coord4{at[0], at[3] / d_, at[2], at[3] % d_});
  }

  const Shape* filled_outside(std::size_t) const override { return &out_; }

  std::string cache_key() const override {
    return "concat_heads " + std::to_string(d_) + to_string(out_);
  }

 private:
  std::uint32_t d_;
  Shape out_;
};

void expect_tiled_4d(const TensorSpec& t, const std::string& op, const std::string& what) {
  if (t.layout() != Layout::Tile || t.logical_shape().rank() != 4) {
    throw Error(op + ": " + what + " must be a rank-4 TILE tensor, got " +
                to_string(t.logical_shape()) + " " + std::string(to_string(t.layout())));
  }
}

// Embedding geometry: B token rows of S tokens, a table of V rows of D values.
struct EmbeddingShape {
  std::uint32_t batch{1};
  std::uint32_t seq{1};
  std::uint32_t vocab{1};
  std::uint32_t dim{1};
};

EmbeddingShape embedding_shape(const TensorSpec& indices, const TensorSpec& weight) {
  const Coord4 i = indices.logical_shape().wzyx();
  const Coord4 w = weight.logical_shape().wzyx();
  return EmbeddingShape{i[0] * i[1] * i[2], i[3], w[2], w[3]};
}

}  // namespace

// ---- nlp_create_qkv_heads ----

std::string NlpCreateQkvHeadsOp::attributes() const {
  return "{'num_q_heads': '" + std::to_string(options_.num_heads) + "'; 'num_kv_heads': '" +
         std::to_string(options_.num_kv_heads.value_or(options_.num_heads)) +
         "'; 'transpose_k_heads': '" + (options_.transpose_k_heads ? "true" : "false") +
         "'; 'output_mem_config': '" + memory_attribute() + "'}";
}

std::vector<TensorSpec> NlpCreateQkvHeadsOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                          const arch::DeviceSpec& device) const {
  const std::string op = "nlp_create_qkv_heads";
  if (inputs.empty() || inputs.size() > 2) {
    throw Error(op + " takes a fused QKV input, or Q and KV inputs; got " +
                std::to_string(inputs.size()));
  }
  const TensorSpec& q = inputs[0];
  expect_tiled_4d(q, op, "the input");
  const Coord4 d = q.logical_shape().wzyx();
  if (d[1] != 1)
    throw Error(op + ": the input must be [B, 1, S, width], got " + to_string(q.logical_shape()));
  const std::uint32_t heads = options_.num_heads;
  const std::uint32_t kv_heads = options_.num_kv_heads.value_or(heads);
  if (heads == 0 || kv_heads == 0) throw Error(op + ": num_heads and num_kv_heads must be >= 1");
  std::uint32_t head_dim = 0;
  if (inputs.size() == 1) {
    const std::uint32_t total = heads + 2 * kv_heads;
    if (d[3] % total != 0) {
      throw Error(op + ": width " + std::to_string(d[3]) +
                  " is not (num_heads + 2*num_kv_heads) = " + std::to_string(total) +
                  " heads of equal size");
    }
    head_dim = d[3] / total;
  } else {
    const TensorSpec& kv = inputs[1];
    expect_tiled_4d(kv, op, "the KV input");
    const Coord4 k = kv.logical_shape().wzyx();
    if (d[3] % heads != 0) {
      throw Error(op + ": Q width " + std::to_string(d[3]) +
                  " is not num_heads=" + std::to_string(heads) + " heads");
    }
    head_dim = d[3] / heads;
    if (k[0] != d[0] || k[1] != 1 || k[2] != d[2] || k[3] != 2 * kv_heads * head_dim ||
        kv.data_type() != q.data_type()) {
      throw Error(op + ": KV input " + to_string(kv.logical_shape()) + " must be [" +
                  std::to_string(d[0]) + ", 1, " + std::to_string(d[2]) + ", " +
                  std::to_string(2 * kv_heads * head_dim) + "] with Q's dtype");
    }
  }
  if (head_dim % kTileWidth != 0) {
    throw Error(op + ": head dim " + std::to_string(head_dim) +
                " is not a multiple of 32 (heads must be whole tiles)");
  }
  const std::uint32_t batch = d[0];
  const std::uint32_t seq = d[2];
  const TensorSpec q_out(Shape{batch, heads, seq, head_dim}, q.data_type(), Layout::Tile);
  const TensorSpec k_out(options_.transpose_k_heads ? Shape{batch, kv_heads, head_dim, seq}
                                                    : Shape{batch, kv_heads, seq, head_dim},
                         q.data_type(), Layout::Tile);
  const TensorSpec v_out(Shape{batch, kv_heads, seq, head_dim}, q.data_type(), Layout::Tile);
  std::vector<TensorSpec> outs;
  for (const TensorSpec* t : {&q_out, &k_out, &v_out}) {
    outs.push_back(t->with_memory_config(output_memory(*t, dm::like_input(q, *t, device), device)));
  }
  return outs;
}

std::unique_ptr<dm::ElementMap> NlpCreateQkvHeadsOp::element_map(
    const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const {
  const std::uint32_t head_dim = outputs[2].logical_shape().x();
  std::vector<Shape> shapes;
  for (const TensorSpec& t : outputs) shapes.push_back(t.logical_shape());
  return std::make_unique<QkvMap>(inputs.size() == 2, options_.num_heads,
                                  options_.num_kv_heads.value_or(options_.num_heads), head_dim,
                                  options_.transpose_k_heads, shapes);
}

// ---- nlp_concat_heads ----

std::string NlpConcatHeadsOp::attributes() const {
  return "{'output_mem_config': '" + memory_attribute() + "'}";
}

std::vector<TensorSpec> NlpConcatHeadsOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                       const arch::DeviceSpec& device) const {
  const std::string op = "nlp_concat_heads";
  if (inputs.size() != 1)
    throw Error(op + " takes one input, got " + std::to_string(inputs.size()));
  const TensorSpec& in = inputs[0];
  expect_tiled_4d(in, op, "the input");
  const Coord4 d = in.logical_shape().wzyx();
  if (d[3] % kTileWidth != 0) {
    throw Error(op + ": head dim " + std::to_string(d[3]) + " of " + to_string(in.logical_shape()) +
                " is not a multiple of 32 (heads must be whole tiles)");
  }
  const TensorSpec base(Shape{d[0], 1, d[2], d[1] * d[3]}, in.data_type(), Layout::Tile);
  return {base.with_memory_config(output_memory(base, dm::like_input(in, base, device), device))};
}

std::unique_ptr<dm::ElementMap> NlpConcatHeadsOp::element_map(
    const std::vector<TensorSpec>& inputs, const std::vector<TensorSpec>& outputs) const {
  return std::make_unique<ConcatHeadsMap>(inputs[0].logical_shape().x(),
                                          outputs[0].logical_shape());
}

// ---- embedding ----

std::string EmbeddingOp::attributes() const {
  return "{'output_mem_config': '" + dm::attribute_memory(resolved_, options_.memory) +
         "'; 'tilized': '" + (options_.output_layout == Layout::Tile ? "true" : "false") +
         "'; 'embeddings_type': 'GENERIC'; 'output_dtype': '" +
         (options_.output_dtype ? "DataType::" + std::string(to_string(*options_.output_dtype))
                                : std::string("weight")) +
         "'}";
}

std::vector<TensorSpec> EmbeddingOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                  const arch::DeviceSpec& device) const {
  const std::string op = "embedding";
  if (inputs.size() != 2)
    throw Error(op + " takes indices and a weight table; got " + std::to_string(inputs.size()) +
                " inputs");
  const TensorSpec& indices = inputs[0];
  const TensorSpec& weight = inputs[1];
  if ((indices.data_type() != DataType::UInt32 && indices.data_type() != DataType::Int32) ||
      indices.layout() != Layout::RowMajor) {
    throw Error(op + ": indices must be UINT32 ROW_MAJOR [B, 1, 1, S], got " +
                to_string(indices.logical_shape()) + " " +
                std::string(to_string(indices.data_type())) + " " +
                std::string(to_string(indices.layout())));
  }
  const Coord4 w = weight.logical_shape().wzyx();
  if (weight.layout() != Layout::RowMajor || w[0] != 1 || w[1] != 1 ||
      (weight.data_type() != DataType::BFloat16 && weight.data_type() != DataType::Float32)) {
    throw Error(op + ": the weight table must be BFLOAT16 or FLOAT32 ROW_MAJOR [1, 1, V, D], got " +
                to_string(weight.logical_shape()) + " " +
                std::string(to_string(weight.data_type())) + " " +
                std::string(to_string(weight.layout())));
  }
  const DataType out_type = options_.output_dtype.value_or(weight.data_type());
  if (options_.output_layout == Layout::RowMajor && is_block_float(out_type)) {
    throw Error(op + ": a ROW_MAJOR output cannot be " + std::string(to_string(out_type)) +
                "; use layout TILE");
  }
  const EmbeddingShape s = embedding_shape(indices, weight);
  const TensorSpec out(Shape{s.batch, 1, s.seq, s.dim}, out_type, options_.output_layout);
  const MemoryConfig memory = dm::resolve_memory(
      options_.memory, out, dm::like_input(indices, out, device), device, op_code());
  resolved_ = memory;
  return {out.with_memory_config(memory)};
}

std::vector<Tensor> EmbeddingOp::compute(const std::vector<Tensor>& inputs,
                                         const std::vector<TensorSpec>& outputs) const {
  const TensorSpec& out = outputs[0];
  const EmbeddingShape s = embedding_shape(inputs[0].spec(), inputs[1].spec());
  const std::vector<float>& ids = inputs[0].values();
  const std::vector<float>& table = inputs[1].values();
  const std::vector<float>& table_golden = inputs[1].has_golden() ? inputs[1].golden() : table;
  const std::uint32_t id_row = inputs[0].spec().physical_width();
  const std::uint32_t table_row = inputs[1].spec().physical_width();
  const Coord4 p = out.padded_shape().wzyx();
  auto values = std::make_shared<std::vector<float>>(out.padded_shape().volume(), 0.0f);
  auto golden = std::make_shared<std::vector<float>>(out.padded_shape().volume(), 0.0f);
  for (std::uint32_t b = 0; b < s.batch; ++b) {
    for (std::uint32_t t = 0; t < s.seq; ++t) {
      const float id = ids[static_cast<std::size_t>(b) * id_row + t];
      if (!(id >= 0.0f && id < static_cast<float>(s.vocab)) || std::floor(id) != id) {
        throw Error("embedding: index " + std::to_string(id) + " of token (" + std::to_string(b) +
                    ", " + std::to_string(t) + ") is outside the weight table's rows 0.." +
                    std::to_string(s.vocab - 1));
      }
      const std::size_t src = static_cast<std::size_t>(id) * table_row;
      const std::size_t dst = (static_cast<std::size_t>(b) * p[2] + t) * p[3];
      std::copy_n(table.begin() + static_cast<std::ptrdiff_t>(src), s.dim,
                  values->begin() + static_cast<std::ptrdiff_t>(dst));
      std::copy_n(table_golden.begin() + static_cast<std::ptrdiff_t>(src), s.dim,
                  golden->begin() + static_cast<std::ptrdiff_t>(dst));
    }
  }
  dm::round_to_format(*values, out);
  return {Tensor(out, values, golden)};
}

PerfModel EmbeddingOp::perf_model(const std::vector<TensorSpec>& inputs,
                                  const std::vector<TensorSpec>& outputs,
                                  const arch::DeviceSpec& device) const {
  const EmbeddingShape s = embedding_shape(inputs[0], inputs[1]);
  const double rows_read =
      static_cast<double>(s.batch) * s.seq * s.dim * element_bytes(inputs[1].data_type());
  const double chip_bytes_per_ns = device.dram.bank_achievable_bytes_per_cycle *
                                   static_cast<double>(device.dram.banks.size()) *
                                   device.clock_mhz / 1000.0;
  PerfModel model;
  model.compute_ns = 1.0;
  // TT-NN charges the largest DRAM tensor; the table is replaced by the rows really read.
  double largest = inputs[1].memory_config().is_dram() ? rows_read : 0.0;
  for (const TensorSpec* t : {&inputs[0], &outputs[0]}) {
    if (t->memory_config().is_dram())
      largest = std::max(largest, static_cast<double>(t->total_bytes()));
  }
  model.bandwidth_ns = std::max(1.0, largest / chip_bytes_per_ns);
  return model;
}

void EmbeddingOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                        const std::vector<TensorSpec>& outputs) const {
  const arch::DeviceSpec& device = program.spec();
  const TensorSpec& out = outputs[0];
  const dm::PageMap ids(inputs[0], program.fabric());
  const dm::PageMap table(inputs[1], program.fabric());
  const dm::PageMap out_map(out, program.fabric());
  const EmbeddingShape s = embedding_shape(inputs[0], inputs[1]);
  const bool tiled = out.layout() == Layout::Tile;
  // Tokens per block: one tile row (TILE output, tilized on the Tensix) or a unit of rows.
  const std::uint32_t tokens = tiled ? kTileHeight : dm::pages_per_unit(device, out);
  const auto blocks_per_batch = static_cast<std::uint32_t>((s.seq + tokens - 1) / tokens);
  const auto width_tiles = static_cast<std::uint32_t>(out.width_tiles());
  const std::uint32_t element = element_bytes(inputs[1].data_type());
  const auto chunks =
      tiled ? dm::column_chunks(
                  width_tiles,
                  dm::block_cap(device,
                                static_cast<std::uint64_t>(kTileHeight) * kTileWidth * element,
                                tile_bytes(out.data_type())),
                  dm::shard_column_cuts(out))
            : std::vector<std::pair<std::uint32_t, std::uint32_t>>{{0, 1}};

  std::vector<dm::Block> blocks;
  for (std::uint64_t row = 0; row < static_cast<std::uint64_t>(s.batch) * blocks_per_batch; ++row) {
    const std::uint64_t first_token_row =
        (row / blocks_per_batch) * (tiled ? out.padded_shape()[2] : s.seq) +
        (row % blocks_per_batch) * tokens;
    for (const auto& [c0, c1] : chunks) {
      dm::Block block{row, c0, c1, std::nullopt, row};
      if (out_map.in_l1_sharded())
        block.core = out_map.l1_core(out_map.page_of(first_token_row, c0 * kTileWidth));
      blocks.push_back(block);
    }
  }
  dm::assign_unowned_rows(blocks, device);

  const sim::Cycle per_tile = dm::tile_pass_cycles(device, inputs[1].data_type(), out.data_type());
  std::vector<std::pair<CoreCoord, dm::Unit>> units;
  for (const dm::Block& block : blocks) {
    const CoreCoord core = *block.core;
    const auto b = static_cast<std::uint32_t>(block.row / blocks_per_batch);
    const std::uint32_t t0 = static_cast<std::uint32_t>(block.row % blocks_per_batch) * tokens;
    const std::uint32_t t1 = std::min(s.seq, t0 + tokens);
    const std::uint32_t x0 = tiled ? block.col_begin * kTileWidth : 0;
    const std::uint32_t x1 = tiled ? std::min(block.col_end * kTileWidth, s.dim) : s.dim;
    dm::Unit unit;
    // The block's indices first: the weight rows to read depend on them.
    dm::append_row_transfers(unit.reads, unit.in_bytes, ids, b, t0, t1, core);
    unit.dependent_after = static_cast<std::uint32_t>(unit.reads.size());
    for (std::uint32_t t = t0; t < t1; ++t) {
      const std::uint64_t weight_row = (static_cast<std::uint64_t>(b) * s.seq + t) % s.vocab;
      dm::append_row_transfers(unit.reads, unit.in_bytes, table, weight_row, x0, x1, core);
    }
    if (tiled) {
      const std::uint32_t tiles = block.col_end - block.col_begin;
      unit.compute = device.compute.block_overhead_cycles + tiles * per_tile;
      const std::uint64_t tile_row =
          static_cast<std::uint64_t>(b) * (out.padded_shape()[2] / kTileHeight) + t0 / kTileHeight;
      for (std::uint32_t c = block.col_begin; c < block.col_end; ++c) {
        const std::uint64_t page = tile_row * width_tiles + c;
        unit.out_bytes += out_map.page_bytes();
        if (!out_map.local_to(page, core))
          unit.writes.push_back(dm::Transfer{out_map.endpoint(page), out_map.page_bytes()});
      }
    } else {
      for (std::uint32_t t = t0; t < t1; ++t) {
        dm::append_row_transfers(unit.writes, unit.out_bytes, out_map,
                                 static_cast<std::uint64_t>(b) * s.seq + t, 0, s.dim, core);
      }
    }
    units.emplace_back(core, std::move(unit));
  }
  dm::launch(program, dm::group_by_core(std::move(units)), tiled);
}

}  // namespace wormsim::ops
