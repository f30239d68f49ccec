#pragma once
// TensorSpec: what TT-NN knows about a device tensor without its values: logical and padded
// shape, page layout (TILE / ROW_MAJOR), data type and memory config. From it follow the page
// size, the page count, the bytes in every bank and, for sharded tensors, which core holds
// which shard. Device limits (worker grid, DRAM banks, L1 size) come from arch::DeviceSpec.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/data_type.hpp"
#include "ops/memory_config.hpp"

namespace wormsim::ops {

// Tile geometry is a format fact: a tile is 32x32 values stored as four 16x16 faces.
constexpr std::uint32_t kTileHeight = 32;
constexpr std::uint32_t kTileWidth = 32;
constexpr std::uint32_t kFaceHeight = 16;
constexpr std::uint32_t kFaceWidth = 16;

// A tensor shape of rank 1..4. tt-metal names the four dims W Z Y X (W outermost, X the
// innermost, contiguous one); a lower-rank shape reads as if padded with leading 1s.
class Shape {
 public:
  static constexpr std::size_t kMaxRank = 4;

  // Throws wormsim::Error for rank 0, rank > 4 or a zero dimension.
  Shape(std::initializer_list<std::uint32_t> dims);
  explicit Shape(std::vector<std::uint32_t> dims);

  std::size_t rank() const { return dims_.size(); }
  const std::vector<std::uint32_t>& dims() const { return dims_; }
  std::uint32_t operator[](std::size_t index) const { return dims_.at(index); }

  std::uint32_t w() const { return wzyx()[0]; }
  std::uint32_t z() const { return wzyx()[1]; }
  std::uint32_t y() const { return wzyx()[2]; }
  std::uint32_t x() const { return wzyx()[3]; }
  // The dims as W Z Y X (leading 1s for lower ranks). Kept precomputed: data-movement planning
  // asks for it per element.
  const std::array<std::uint32_t, 4>& wzyx() const { return wzyx_; }
  std::uint64_t volume() const;

  // TILE padding: rank max(rank, 2) (a vector becomes one row), last two dims rounded up to
  // whole tiles.
  Shape padded_to_tile() const;

  friend bool operator==(const Shape&, const Shape&) = default;

 private:
  std::vector<std::uint32_t> dims_;
  std::array<std::uint32_t, 4> wzyx_{1, 1, 1, 1};
};

// TT-NN's printed form: "Shape([1, 1, 32, 64])".
std::string to_string(const Shape& shape);

enum class Layout { Tile, RowMajor };
// "TILE", "ROW_MAJOR" (the CSV LAYOUT column spelling).
std::string_view to_string(Layout layout);
// Accepts TILE / ROW_MAJOR with or without "Layout." / "Layout::" and in any case.
std::optional<Layout> parse_layout(std::string_view text);

class TensorSpec {
 public:
  // Padded shape derived from the layout: TILE rounds the last two dims up to 32, ROW_MAJOR
  // keeps the logical shape.
  TensorSpec(Shape logical_shape, DataType data_type, Layout layout,
             MemoryConfig memory_config = MemoryConfig::dram_interleaved());
  // Explicit padded shape, for tensors padded beyond the tile (tilize with padding, ROW_MAJOR
  // halo buffers whose rows are padded to 8 values) or shapes replayed from a profile CSV.
  TensorSpec(Shape logical_shape, Shape padded_shape, DataType data_type, Layout layout,
             MemoryConfig memory_config);
  // Both constructors throw wormsim::Error for every inconsistency that needs no device:
  // block-float in ROW_MAJOR, padded < logical, TILE padding not a tile multiple, shard shape
  // not tile-aligned in TILE layout, HEIGHT/WIDTH shards that do not span the tensor's width /
  // height, more shards than grid cores, BLOCK shards exceeding the grid's rows or columns.

  const Shape& logical_shape() const { return logical_; }
  const Shape& padded_shape() const { return padded_; }
  DataType data_type() const { return data_type_; }
  Layout layout() const { return layout_; }
  const MemoryConfig& memory_config() const { return memory_config_; }
  bool is_sharded() const { return memory_config_.is_sharded(); }

  // The same tensor with another memory config / data type / layout (validated again).
  TensorSpec with_memory_config(MemoryConfig memory_config) const;
  TensorSpec with_data_type(DataType data_type) const;
  TensorSpec with_layout(Layout layout) const;

  // 2-D view used by paging and sharding: every outer dim folds into the height.
  std::uint64_t physical_height() const;  // padded W * Z * Y
  std::uint32_t physical_width() const;   // padded X
  // Tiles along Y and X: height in tiles = W*Z*Y_padded/32 (rounded up for ROW_MAJOR).
  std::uint64_t height_tiles() const;
  std::uint64_t width_tiles() const;
  std::uint64_t num_tiles() const { return height_tiles() * width_tiles(); }

  // Page = one tile (TILE) or one row of the padded width, or of the shard width when sharded
  // (ROW_MAJOR). {height, width} in elements.
  std::array<std::uint32_t, 2> page_shape() const;
  std::uint32_t page_size_bytes() const;
  // Pages holding data (a partial last shard's padding pages excluded).
  std::uint64_t num_pages() const;
  std::uint64_t total_bytes() const { return num_pages() * page_size_bytes(); }

  // Sharding geometry (all throw wormsim::Error on an interleaved spec).
  const ShardSpec& shard_spec() const;
  std::uint64_t shards_along_height() const;
  std::uint64_t shards_along_width() const;
  std::uint64_t num_shards() const { return shards_along_height() * shards_along_width(); }
  // Pages a full shard holds: what every grid core reserves.
  std::uint64_t pages_per_shard() const;

  friend bool operator==(const TensorSpec&, const TensorSpec&) = default;

 private:
  void validate() const;
  std::string describe() const;  // prefix of error messages

  Shape logical_;
  Shape padded_;
  DataType data_type_;
  Layout layout_;
  MemoryConfig memory_config_;
};

// "TensorSpec(logical_shape=Shape([1, 1, 19, 19]),padded_shape=Shape([1, 1, 32, 32]),
// dtype=BFLOAT16,layout=TILE,memory_config=MemoryConfig(...))"
std::string to_string(const TensorSpec& spec);

// ---- building sharded memory configs the way TT-NN does ----
// The tensor is seen as [physical_height, physical_width]. A shard covers
// ceil(height / cores along the height) rows and ceil(width / cores along the width) columns,
// both rounded up to whole tiles in TILE layout; the last shard may be partial and trailing
// cores may stay empty.

// HEIGHT_SHARDED over `grid`, or over the first num_cores worker cores row by row.
MemoryConfig height_sharded(const TensorSpec& spec, const CoreRangeSet& grid,
                            ShardOrientation orientation = ShardOrientation::RowMajor);
MemoryConfig height_sharded(const TensorSpec& spec, std::uint32_t num_cores,
                            const arch::DeviceSpec& device,
                            ShardOrientation orientation = ShardOrientation::RowMajor);
// WIDTH_SHARDED over `grid`, or over the first num_cores worker cores row by row.
MemoryConfig width_sharded(const TensorSpec& spec, const CoreRangeSet& grid,
                           ShardOrientation orientation = ShardOrientation::RowMajor);
MemoryConfig width_sharded(const TensorSpec& spec, std::uint32_t num_cores,
                           const arch::DeviceSpec& device,
                           ShardOrientation orientation = ShardOrientation::RowMajor);
// BLOCK_SHARDED: ROW_MAJOR splits the height over the grid's rows and the width over its
// columns; COL_MAJOR the other way round (TT-NN's rule).
MemoryConfig block_sharded(const TensorSpec& spec, const CoreRange& grid,
                           ShardOrientation orientation = ShardOrientation::RowMajor);
MemoryConfig block_sharded(const TensorSpec& spec, std::uint32_t grid_x, std::uint32_t grid_y,
                           ShardOrientation orientation = ShardOrientation::RowMajor);
// DRAM WIDTH_SHARDED over every DRAM bank (grid {[(x=0,y=0) - (x=banks-1,y=0)]}), the layout
// of TT-NN's DRAM-sharded matmul weights.
MemoryConfig dram_width_sharded(const TensorSpec& spec, const arch::DeviceSpec& device);

// ---- device checks and placement ----

// Throws wormsim::Error if the spec cannot live on `device`: an L1 shard grid reaching past the
// worker grid, a DRAM shard grid not on banks (x=0..banks-1, y=0), or a footprint larger than a
// core's usable L1 / a DRAM bank.
void validate_for_device(const TensorSpec& spec, const arch::DeviceSpec& device);

struct ShardPlacement {
  CoreCoord core;                // logical worker core (L1) or DRAM bank {bank, 0}
  std::uint32_t shard_index{0};  // position in orientation order (index into grid.cores())
  std::uint64_t shard_row{0};    // which shard along the height
  std::uint64_t shard_col{0};    // which shard along the width
  std::uint64_t row_start{0};    // first physical row / column the shard holds
  std::uint64_t col_start{0};
  std::uint64_t rows{0};  // rows / columns holding tensor data (short in the last shard)
  std::uint64_t cols{0};
  std::uint64_t pages{0};  // pages holding data
  friend bool operator==(const ShardPlacement&, const ShardPlacement&) = default;
};
// Shards in assignment order: shard k (row-major over the shard grid) goes to the k-th core of
// grid.cores(orientation), as tt-metal's buffer page mapping does. Cores past the last shard
// hold nothing and are not listed. Throws wormsim::Error on an interleaved spec.
std::vector<ShardPlacement> shard_placements(const TensorSpec& spec);

// Interleaved banks: DRAM has dram.banks.size(), L1 one bank per worker core.
std::uint32_t num_interleaved_banks(BufferType buffer_type, const arch::DeviceSpec& device);
// Logical worker core of L1 bank `bank`: the worker grid enumerated row by row.
CoreCoord l1_bank_core(std::uint32_t bank, const arch::DeviceSpec& device);

struct BankPage {
  std::uint32_t bank{0};
  std::uint64_t index_in_bank{0};  // the page's slot inside its bank
  friend bool operator==(const BankPage&, const BankPage&) = default;
};
// Page i of an interleaved tensor lives in bank (i mod banks), slot (i div banks).
BankPage interleaved_page_location(const TensorSpec& spec, std::uint64_t page,
                                   const arch::DeviceSpec& device);

// Page size rounded up to the buffer alignment (L1: l1.alignment_bytes; DRAM: the stricter of
// the NoC read and write alignments).
std::uint64_t aligned_page_size(const TensorSpec& spec, const arch::DeviceSpec& device);

// What the tensor reserves: every bank (interleaved) or every grid core / DRAM bank of the shard
// grid (sharded) reserves the same number of bytes at the same address.
struct BankFootprint {
  std::uint32_t num_banks{0};
  std::uint64_t bytes_per_bank{0};
  friend bool operator==(const BankFootprint&, const BankFootprint&) = default;
};
BankFootprint memory_footprint(const TensorSpec& spec, const arch::DeviceSpec& device);
// Bytes the tensor takes in the L1 of each core it uses (0 for DRAM tensors).
std::uint64_t l1_bytes_per_core(const TensorSpec& spec, const arch::DeviceSpec& device);
// Bytes the tensor takes in each DRAM bank it uses (0 for L1 tensors).
std::uint64_t dram_bytes_per_bank(const TensorSpec& spec, const arch::DeviceSpec& device);

// ---- ops_perf_results CSV cells ----

// "PAD[LOGICAL]", e.g. "32[19]"; tt-metal writes the bracket even when both are equal ("1[1]").
std::string csv_shape_cell(std::uint32_t padded, std::uint32_t logical);
// The W, Z, Y, X cells of a tensor (INPUT_<i>_W_PAD[LOGICAL] ... X).
std::array<std::string, 4> csv_shape_cells(const TensorSpec& spec);

struct ShapeCell {
  std::uint32_t padded{0};
  std::uint32_t logical{0};
  friend bool operator==(const ShapeCell&, const ShapeCell&) = default;
};
// "32[19]" -> {32, 19}; a bare "32" (V1 CSVs without _PAD[LOGICAL]) -> {32, 32}.
// Throws wormsim::Error on anything else.
ShapeCell parse_shape_cell(std::string_view text);

struct CsvShape {
  Shape logical;
  Shape padded;
};
// The four W Z Y X cells of one tensor -> 4-D logical and padded shapes.
CsvShape parse_csv_shape(const std::array<std::string_view, 4>& wzyx_cells);

}  // namespace wormsim::ops
