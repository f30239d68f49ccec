// DataMovementOp, tilize / tilize_with_val_padding and untilize / untilize_with_unpadding.
#include <algorithm>

#include "ops/compute_config.hpp"
#include "ops/data_movement/data_movement.hpp"

namespace wormsim::ops {
namespace {

using dm::Coord4;
using dm::Source;

std::string dtype_attribute(DataType type) { return "DataType::" + std::string(to_string(type)); }

// Same coordinates in input 0 for every element inside `extent`, else `fill`.
class CopyMap : public dm::ElementMap {
 public:
  CopyMap(Shape extent, float fill) : extent_(std::move(extent)), fill_(fill) {}
  Source source(std::size_t, const Coord4& at) const override {
    return dm::inside(extent_, at) ? Source::from(0, at) : Source::filled(fill_);
  }

  const Shape* filled_outside(std::size_t) const override { return &extent_; }

  std::string cache_key() const override {
    return "copy " + to_string(extent_) + std::to_string(fill_);
  }

 private:
  Shape extent_;
  float fill_;
};

// The logical shape with as many dims as `padded` (leading ones added).
Shape with_rank_of(const Shape& logical, const Shape& padded) {
  std::vector<std::uint32_t> dims = logical.dims();
  while (dims.size() < padded.rank()) dims.insert(dims.begin(), 1);
  return Shape(dims);
}

bool rows_inside(const Shape& extent, const Coord4& at) {
  const Coord4 d = extent.wzyx();
  return at[0] < d[0] && at[1] < d[1] && at[2] < d[2];
}

}  // namespace

// ---- DataMovementOp ----

std::vector<Tensor> DataMovementOp::compute(const std::vector<Tensor>& inputs,
                                            const std::vector<TensorSpec>& outputs) const {
  std::vector<TensorSpec> in_specs;
  for (const Tensor& t : inputs) in_specs.push_back(t.spec());
  return dm::gather_values(*element_map(in_specs, outputs), inputs, outputs);
}

void DataMovementOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                           const std::vector<TensorSpec>& outputs) const {
  const auto map = element_map(inputs, outputs);
  dm::build_gather(program, *map, inputs, outputs);
}

MemoryConfig DataMovementOp::output_memory(const TensorSpec& output, const MemoryConfig& fallback,
                                           const arch::DeviceSpec& device) const {
  MemoryConfig config = dm::resolve_memory(memory_, output, fallback, device, op_code());
  resolved_ = config;
  return config;
}

// ---- tilize ----

std::string TilizeOp::attributes() const {
  std::string s =
      "{'output_mem_config': '" + memory_attribute() + "'; 'output_dtype': '" +
      (options_.output_dtype ? dtype_attribute(*options_.output_dtype) : std::string("input")) +
      "'";
  if (options_.with_padding) {
    s += "; 'output_padded_shape': '" +
         (options_.output_padded_shape ? to_string(*options_.output_padded_shape)
                                       : std::string("tile")) +
         "'; 'pad_value': '" + std::to_string(options_.pad_value) + "'";
  }
  return s + "; 'use_multicore': 'true'}";
}

std::vector<TensorSpec> TilizeOp::output_specs(const std::vector<TensorSpec>& inputs,
                                               const arch::DeviceSpec& device) const {
  const std::string op = options_.with_padding ? "tilize_with_val_padding" : "tilize";
  if (inputs.size() != 1)
    throw Error(op + " takes one input, got " + std::to_string(inputs.size()));
  const TensorSpec& in = inputs[0];
  if (in.layout() != Layout::RowMajor) {
    throw Error(op + ": the input " + to_string(in.logical_shape()) +
                " is already TILE; it needs a ROW_MAJOR input (from the CLI: `wormsim op " + op +
                " --json FILE` with \"layout\": \"ROW_MAJOR\" in the input)");
  }
  const DataType out_type = options_.output_dtype.value_or(in.data_type());
  const bool int_in = in.data_type() == DataType::UInt32 || in.data_type() == DataType::Int32;
  const bool int_out = out_type == DataType::UInt32 || out_type == DataType::Int32;
  if (int_in != int_out) {
    throw Error(op + ": cannot convert " + std::string(to_string(in.data_type())) + " to " +
                std::string(to_string(out_type)) + " while tilizing; keep integer data integer");
  }
  Shape padded = in.padded_shape().padded_to_tile();
  if (options_.with_padding) {
    if (options_.output_padded_shape) {
      padded = *options_.output_padded_shape;
      if (padded.rank() != in.logical_shape().rank() &&
          !(in.logical_shape().rank() == 1 && padded.rank() == 2)) {
        throw Error(op + ": output_padded_shape " + to_string(padded) +
                    " must have the input's rank " + std::to_string(in.logical_shape().rank()));
      }
    } else {
      padded = in.logical_shape().padded_to_tile();
    }
  } else {
    const Coord4 d = in.padded_shape().wzyx();
    if (d[2] % kTileHeight != 0 || d[3] % kTileWidth != 0) {
      throw Error(op + ": " + to_string(in.logical_shape()) +
                  " does not end in whole 32x32 tiles (last two dims must be multiples of 32); use "
                  "tilize_with_val_padding to pad it");
    }
    padded = in.padded_shape();
  }
  TensorSpec out = [&] {
    try {
      return TensorSpec(with_rank_of(in.logical_shape(), padded), padded, out_type, Layout::Tile,
                        MemoryConfig::dram_interleaved());
    } catch (const Error& e) {
      throw Error(op + ": output_padded_shape " + to_string(padded) + " does not fit the input " +
                  to_string(in.logical_shape()) + ": " + e.what());
    }
  }();
  return {out.with_memory_config(output_memory(out, dm::like_input(in, out, device), device))};
}

std::unique_ptr<dm::ElementMap> TilizeOp::element_map(const std::vector<TensorSpec>& inputs,
                                                      const std::vector<TensorSpec>&) const {
  const TensorSpec& in = inputs[0];
  const Shape extent = options_.with_padding ? with_rank_of(in.logical_shape(), in.padded_shape())
                                             : in.padded_shape();
  return std::make_unique<CopyMap>(extent, options_.pad_value);
}

void TilizeOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                     const std::vector<TensorSpec>& outputs) const {
  const arch::DeviceSpec& device = program.spec();
  const TensorSpec& in = inputs[0];
  const TensorSpec& out = outputs[0];
  const dm::PageMap in_map(in, program.fabric());
  const dm::PageMap out_map(out, program.fabric());
  // Rows and columns holding input data; the rest of each tile is padding the reader fills.
  const Shape extent = options_.with_padding ? in.logical_shape() : in.padded_shape();
  const Coord4 ext = extent.wzyx();
  const std::uint32_t element = element_bytes(in.data_type());
  const auto width_tiles = static_cast<std::uint32_t>(out.width_tiles());
  std::vector<std::uint32_t> cuts = dm::shard_column_cuts(out);
  if (in_map.in_l1_sharded()) {
    const std::vector<std::uint32_t> in_cuts = dm::shard_column_cuts(in);
    cuts.insert(cuts.end(), in_cuts.begin(), in_cuts.end());
  }
  const std::uint32_t block_columns =
      dm::row_block_columns(out.height_tiles(), width_tiles, device);
  const bool blocks_2d = block_columns < width_tiles;
  const auto chunks = dm::column_chunks(
      width_tiles,
      std::min(block_columns,
               dm::block_cap(device, static_cast<std::uint64_t>(kTileHeight) * kTileWidth * element,
                             tile_bytes(out.data_type()))),
      cuts);

  // The input row of each of the 32 rows of tile row tr (nullopt: a padding row).
  auto source_row = [&](std::uint64_t tile_row, std::uint32_t r) -> std::optional<std::uint64_t> {
    const Coord4 at = dm::coord_of_row(out.padded_shape(), tile_row * kTileHeight + r, 0);
    if (!(at[0] < ext[0] && at[1] < ext[1] && at[2] < ext[2])) return std::nullopt;
    return dm::physical_row(in.padded_shape(), at);
  };

  std::vector<dm::Block> blocks;
  for (std::uint64_t tr = 0; tr < out.height_tiles(); ++tr) {
    for (const auto& [c0, c1] : chunks) {
      dm::Block block{tr, c0, c1, std::nullopt, blocks_2d ? blocks.size() : tr};
      if (out_map.in_l1_sharded()) {
        block.core = out_map.l1_core(tr * width_tiles + c0);
      } else if (in_map.in_l1_sharded()) {
        for (std::uint32_t r = 0; r < kTileHeight && !block.core; ++r) {
          if (const auto row = source_row(tr, r)) {
            block.core =
                in_map.l1_core(in_map.page_of(*row, std::min(c0 * kTileWidth, ext[3] - 1)));
          }
        }
      }
      blocks.push_back(block);
    }
  }
  dm::assign_unowned_rows(blocks, device);

  const sim::Cycle per_tile = dm::tile_pass_cycles(device, in.data_type(), out.data_type());
  std::vector<std::pair<CoreCoord, dm::Unit>> units;
  for (const dm::Block& block : blocks) {
    const CoreCoord core = *block.core;
    dm::Unit unit;
    const std::uint32_t x0 = block.col_begin * kTileWidth;
    const std::uint32_t x1 = std::min(block.col_end * kTileWidth, ext[3]);
    for (std::uint32_t r = 0; r < kTileHeight; ++r) {
      const auto row = source_row(block.row, r);
      if (row && x0 < x1)
        dm::append_row_transfers(unit.reads, unit.in_bytes, in_map, *row, x0, x1, core);
    }
    const std::uint32_t tiles = block.col_end - block.col_begin;
    unit.compute = device.compute.block_overhead_cycles + tiles * per_tile;
    for (std::uint32_t c = block.col_begin; c < block.col_end; ++c) {
      const std::uint64_t page = block.row * width_tiles + c;
      unit.out_bytes += out_map.page_bytes();
      if (!out_map.local_to(page, core))
        unit.writes.push_back(dm::Transfer{out_map.endpoint(page), out_map.page_bytes()});
    }
    units.emplace_back(core, std::move(unit));
  }
  dm::launch(program, dm::group_by_core(std::move(units)), true);
}

// ---- untilize ----

std::string UntilizeOp::attributes() const {
  std::string s = "{'output_mem_config': '" + memory_attribute() + "'";
  if (options_.with_unpadding) {
    std::string end = "logical";
    if (options_.output_end) {
      end = "[";
      for (std::size_t i = 0; i < options_.output_end->size(); ++i) {
        end += (i ? "; " : "") + std::to_string((*options_.output_end)[i]);
      }
      end += "]";
    }
    s += "; 'output_tensor_end': '" + end + "'";
  }
  return s + "; 'use_multicore': 'true'; 'use_pack_untilize': 'true'}";
}

std::vector<TensorSpec> UntilizeOp::output_specs(const std::vector<TensorSpec>& inputs,
                                                 const arch::DeviceSpec& device) const {
  const std::string op = options_.with_unpadding ? "untilize_with_unpadding" : "untilize";
  if (inputs.size() != 1)
    throw Error(op + " takes one input, got " + std::to_string(inputs.size()));
  const TensorSpec& in = inputs[0];
  if (in.layout() != Layout::Tile) {
    throw Error(op + ": the input " + to_string(in.logical_shape()) +
                " is already ROW_MAJOR; it needs a TILE input");
  }
  // ROW_MAJOR cannot hold block floats: their values go out as bfloat16 (exactly).
  const DataType out_type = is_block_float(in.data_type()) ? DataType::BFloat16 : in.data_type();
  const Shape logical = with_rank_of(in.logical_shape(), in.padded_shape());
  std::optional<TensorSpec> out;
  if (options_.with_unpadding) {
    std::vector<std::uint32_t> end;
    for (std::uint32_t d : logical.dims()) end.push_back(d - 1);
    if (options_.output_end) {
      if (options_.output_end->size() != end.size()) {
        throw Error(op + ": output_tensor_end has " + std::to_string(options_.output_end->size()) +
                    " entries but the input " + to_string(in.logical_shape()) + " needs " +
                    std::to_string(end.size()));
      }
      end = *options_.output_end;
    }
    std::vector<std::uint32_t> dims;
    for (std::size_t i = 0; i < end.size(); ++i) {
      if (end[i] >= in.padded_shape()[i]) {
        throw Error(op + ": output_tensor_end " + std::to_string(end[i]) + " in dim " +
                    std::to_string(i) + " is past the input's padded size " +
                    std::to_string(in.padded_shape()[i]) + " (the end is inclusive)");
      }
      dims.push_back(end[i] + 1);
    }
    out = TensorSpec(Shape(dims), out_type, Layout::RowMajor);
  } else {
    out = TensorSpec(logical, in.padded_shape(), out_type, Layout::RowMajor,
                     MemoryConfig::dram_interleaved());
  }
  return {out->with_memory_config(output_memory(*out, dm::like_input(in, *out, device), device))};
}

std::unique_ptr<dm::ElementMap> UntilizeOp::element_map(
    const std::vector<TensorSpec>&, const std::vector<TensorSpec>& outputs) const {
  // Output coordinates are input coordinates (unpadding keeps [0, end]).
  return std::make_unique<CopyMap>(outputs[0].padded_shape(), 0.0f);
}

void UntilizeOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                       const std::vector<TensorSpec>& outputs) const {
  const arch::DeviceSpec& device = program.spec();
  const TensorSpec& in = inputs[0];
  const TensorSpec& out = outputs[0];
  const dm::PageMap in_map(in, program.fabric());
  const dm::PageMap out_map(out, program.fabric());
  const Shape& extent = out.padded_shape();
  const std::uint32_t out_width = out.physical_width();
  const auto in_width_tiles = static_cast<std::uint32_t>(in.width_tiles());
  // Only the tile columns holding output data are read.
  const auto width_tiles = static_cast<std::uint32_t>((out_width + kTileWidth - 1) / kTileWidth);
  std::vector<std::uint32_t> cuts = dm::shard_column_cuts(out);
  if (in_map.in_l1_sharded()) {
    const std::vector<std::uint32_t> in_cuts = dm::shard_column_cuts(in);
    cuts.insert(cuts.end(), in_cuts.begin(), in_cuts.end());
  }
  const std::uint32_t element = element_bytes(out.data_type());
  const std::uint32_t block_columns = dm::row_block_columns(in.height_tiles(), width_tiles, device);
  const bool blocks_2d = block_columns < width_tiles;
  const auto chunks = dm::column_chunks(
      width_tiles,
      std::min(block_columns,
               dm::block_cap(device, tile_bytes(in.data_type()),
                             static_cast<std::uint64_t>(kTileHeight) * kTileWidth * element)),
      cuts);

  // The output row of each of the 32 rows of input tile row tr (nullopt: cut away).
  auto output_row = [&](std::uint64_t tile_row, std::uint32_t r) -> std::optional<std::uint64_t> {
    const Coord4 at = dm::coord_of_row(in.padded_shape(), tile_row * kTileHeight + r, 0);
    if (!rows_inside(extent, at)) return std::nullopt;
    return dm::physical_row(extent, at);
  };

  std::vector<dm::Block> blocks;
  for (std::uint64_t tr = 0; tr < in.height_tiles(); ++tr) {
    std::optional<std::uint64_t> first_row;
    for (std::uint32_t r = 0; r < kTileHeight && !first_row; ++r) first_row = output_row(tr, r);
    if (!first_row) continue;  // the whole tile row is cut away
    for (const auto& [c0, c1] : chunks) {
      dm::Block block{tr, c0, c1, std::nullopt, blocks_2d ? blocks.size() : tr};
      if (out_map.in_l1_sharded())
        block.core = out_map.l1_core(out_map.page_of(*first_row, c0 * kTileWidth));
      else if (in_map.in_l1_sharded())
        block.core = in_map.l1_core(tr * in_width_tiles + c0);
      blocks.push_back(block);
    }
  }
  dm::assign_unowned_rows(blocks, device);

  const sim::Cycle per_tile = dm::tile_pass_cycles(device, in.data_type(), out.data_type());
  std::vector<std::pair<CoreCoord, dm::Unit>> units;
  for (const dm::Block& block : blocks) {
    const CoreCoord core = *block.core;
    dm::Unit unit;
    for (std::uint32_t c = block.col_begin; c < block.col_end; ++c) {
      const std::uint64_t page = block.row * in_width_tiles + c;
      if (!in_map.local_to(page, core)) {
        unit.reads.push_back(dm::Transfer{in_map.endpoint(page), in_map.page_bytes()});
        unit.in_bytes += in_map.page_bytes();
      }
    }
    const std::uint32_t tiles = block.col_end - block.col_begin;
    unit.compute = device.compute.block_overhead_cycles + tiles * per_tile;
    const std::uint32_t x0 = block.col_begin * kTileWidth;
    const std::uint32_t x1 = std::min(block.col_end * kTileWidth, out_width);
    for (std::uint32_t r = 0; r < kTileHeight; ++r) {
      const auto row = output_row(block.row, r);
      if (!row) continue;
      unit.out_bytes += static_cast<std::uint64_t>(x1 - x0) * element;
      std::uint64_t written = 0;
      dm::append_row_transfers(unit.writes, written, out_map, *row, x0, x1, core);
    }
    units.emplace_back(core, std::move(unit));
  }
  dm::launch(program, dm::group_by_core(std::move(units)), true);
}

}  // namespace wormsim::ops
