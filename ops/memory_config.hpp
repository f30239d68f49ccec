#pragma once
// TT-NN memory configurations: where a tensor's pages live (DRAM or L1) and how they are spread
// (interleaved round-robin over banks, or sharded over a grid of cores / DRAM banks).
//
// Also the exact strings the tt-metal ecosystem prints for them, and parsers for those strings,
// so that profiles written by real silicon runs (ops_perf_results CSVs, ttnn-visualizer SQLite
// reports) can be read back. See to_string(const MemoryConfig&) for the formats and sources.
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wormsim::ops {

enum class BufferType { DRAM, L1 };
enum class TensorMemoryLayout { Interleaved, HeightSharded, WidthSharded, BlockSharded };
// Order in which shards are handed to the cores of a grid: row by row or column by column.
enum class ShardOrientation { RowMajor, ColMajor };
// PHYSICAL: the shard shape is in padded (physical) elements, TT-NN's default.
// LOGICAL: TT-NN's newer mode where the shape is in logical elements; wormsim accepts it only
// when it coincides with the physical shard (no per-shard padding).
enum class ShardMode { Physical, Logical };

// Bare names as tt-metal spells them: "DRAM", "L1", "HEIGHT_SHARDED", "ROW_MAJOR", "PHYSICAL".
std::string_view to_string(BufferType type);
std::string_view to_string(TensorMemoryLayout layout);
std::string_view to_string(ShardOrientation orientation);
std::string_view to_string(ShardMode mode);

// Accept the bare name, any "Enum::NAME" / "Enum.NAME" qualification, and lower case.
std::optional<BufferType> parse_buffer_type(std::string_view text);
std::optional<TensorMemoryLayout> parse_tensor_memory_layout(std::string_view text);
std::optional<ShardOrientation> parse_shard_orientation(std::string_view text);
std::optional<ShardMode> parse_shard_mode(std::string_view text);

constexpr bool is_sharded(TensorMemoryLayout layout) {
  return layout != TensorMemoryLayout::Interleaved;
}

// A logical core coordinate: a worker core for L1 buffers, a DRAM bank (x = bank, y = 0) for
// DRAM-sharded buffers. Not a NoC coordinate.
struct CoreCoord {
  std::uint32_t x{0};
  std::uint32_t y{0};
  friend bool operator==(const CoreCoord&, const CoreCoord&) = default;
  friend auto operator<=>(const CoreCoord&, const CoreCoord&) = default;
};

// An inclusive rectangle of cores [start, end].
class CoreRange {
 public:
  explicit CoreRange(CoreCoord single) : CoreRange(single, single) {}
  // Throws wormsim::Error unless start <= end in both x and y.
  CoreRange(CoreCoord start, CoreCoord end);

  CoreCoord start() const { return start_; }
  CoreCoord end() const { return end_; }
  std::uint32_t width() const { return end_.x - start_.x + 1; }   // cores along x
  std::uint32_t height() const { return end_.y - start_.y + 1; }  // cores along y
  std::uint32_t num_cores() const { return width() * height(); }
  bool contains(CoreCoord core) const;
  bool overlaps(const CoreRange& other) const;
  friend bool operator==(const CoreRange&, const CoreRange&) = default;

 private:
  CoreCoord start_;
  CoreCoord end_;
};

// A set of non-overlapping core rectangles, kept in the order given (tt-metal hands out shards
// range by range in that order).
class CoreRangeSet {
 public:
  CoreRangeSet() = default;
  CoreRangeSet(CoreRange range);  // NOLINT(google-explicit-constructor): a range is a set
  // Throws wormsim::Error if two ranges overlap.
  explicit CoreRangeSet(std::vector<CoreRange> ranges);

  const std::vector<CoreRange>& ranges() const { return ranges_; }
  bool empty() const { return ranges_.empty(); }
  std::uint32_t num_cores() const;
  bool contains(CoreCoord core) const;
  // Smallest rectangle holding every range; throws wormsim::Error on an empty set.
  CoreRange bounding_box() const;
  // Every core, range by range; inside a range row by row (ROW_MAJOR: y outer, x inner) or
  // column by column (COL_MAJOR). This is the order shards are assigned in.
  std::vector<CoreCoord> cores(ShardOrientation orientation) const;
  friend bool operator==(const CoreRangeSet&, const CoreRangeSet&) = default;

 private:
  std::vector<CoreRange> ranges_;
};

// The first num_cores cores of a grid_x * grid_y grid: whole rows (row_wise) or columns, then a
// partial one, as TT-NN's num_cores_to_corerangeset builds them. Throws wormsim::Error if
// num_cores is 0 or exceeds the grid.
CoreRangeSet num_cores_to_core_range_set(std::uint32_t num_cores, std::uint32_t grid_x,
                                         std::uint32_t grid_y, bool row_wise = true);

// "(x=0,y=0)", "[(x=0,y=0) - (x=4,y=3)]", "{[(x=0,y=0) - (x=4,y=3)], [(x=0,y=4) - (x=1,y=4)]}".
std::string to_string(CoreCoord core);
std::string to_string(const CoreRange& range);
std::string to_string(const CoreRangeSet& set);

struct ShardSpec {
  CoreRangeSet grid;
  std::array<std::uint32_t, 2> shape{0, 0};  // [height, width] in elements
  ShardOrientation orientation{ShardOrientation::RowMajor};
  ShardMode mode{ShardMode::Physical};
  // tt-metal prints it next to mode; kept so a parsed string prints back unchanged.
  std::optional<std::array<std::uint32_t, 2>> physical_shard_shape;

  std::uint32_t height() const { return shape[0]; }
  std::uint32_t width() const { return shape[1]; }
  std::uint32_t num_cores() const { return grid.num_cores(); }
  friend bool operator==(const ShardSpec&, const ShardSpec&) = default;
};

class MemoryConfig {
 public:
  // DRAM interleaved, TT-NN's default.
  MemoryConfig() = default;
  // Throws wormsim::Error for a sharded layout without a ShardSpec, INTERLEAVED with one, an
  // empty grid or zero shard dimension, a BLOCK_SHARDED grid that is not one rectangle, or DRAM
  // sharding other than WIDTH_SHARDED.
  MemoryConfig(TensorMemoryLayout layout, BufferType buffer_type,
               std::optional<ShardSpec> shard_spec = std::nullopt);

  static MemoryConfig dram_interleaved() { return {}; }
  static MemoryConfig l1_interleaved() {
    return MemoryConfig(TensorMemoryLayout::Interleaved, BufferType::L1);
  }

  TensorMemoryLayout layout() const { return layout_; }
  BufferType buffer_type() const { return buffer_type_; }
  const std::optional<ShardSpec>& shard_spec() const { return shard_spec_; }
  bool is_sharded() const { return ops::is_sharded(layout_); }
  bool is_dram() const { return buffer_type_ == BufferType::DRAM; }
  bool is_l1() const { return buffer_type_ == BufferType::L1; }
  friend bool operator==(const MemoryConfig&, const MemoryConfig&) = default;

 private:
  TensorMemoryLayout layout_{TensorMemoryLayout::Interleaved};
  BufferType buffer_type_{BufferType::DRAM};
  std::optional<ShardSpec> shard_spec_;
};

// "ShardSpec(grid={[(x=0,y=0) - (x=4,y=3)]},shape={24576, 8},orientation=ShardOrientation::
// ROW_MAJOR,mode=ShardMode::PHYSICAL,physical_shard_shape=std::nullopt)"
std::string to_string(const ShardSpec& spec);

// TT-NN's printed MemoryConfig (C++ reflection output, also what Python str() and the
// ttnn-visualizer SQLite `tensors.memory_config` column hold), e.g.
//   MemoryConfig(memory_layout=TensorMemoryLayout::HEIGHT_SHARDED,buffer_type=BufferType::L1,
//   shard_spec=ShardSpec(grid={[(x=0,y=0) - (x=4,y=3)]},shape={24576, 8},
//   orientation=ShardOrientation::ROW_MAJOR,mode=ShardMode::PHYSICAL,physical_shard_shape=
//   std::nullopt),nd_shard_spec=std::nullopt,created_with_nd_shard_spec=0)
// (one line). Field order and spelling follow the 2025 tt-metal output seen in
// tenstorrent/tt-perf-report tests/test_validate_csv_output.py and tt-metal test ids.
std::string to_string(const MemoryConfig& config);
// The same with ',' replaced by ';', as tt-metal writes it inside the ops_perf_results
// ATTRIBUTES column (the CSV writer swaps commas so the cell needs no quoting).
std::string to_csv_attribute_string(const MemoryConfig& config);

// Reads any of the MemoryConfig strings seen in tt-metal output back:
//  - ',' or ';' separators, with or without spaces ("{24576, 8}", "{24576; 8}");
//  - qualified or bare enum names (TensorMemoryLayout::HEIGHT_SHARDED, HEIGHT_SHARDED);
//  - optional tt::tt_metal:: prefixes, surrounding quotes or text before "MemoryConfig(";
//  - old field names (shard_grid, shard_shape, shard_orientation, halo=...) and the " _ "
//    range separator of 2023 logs; mode=ShardMode::LOGICAL with physical_shard_shape;
//  - trailing nd_shard_spec / created_with_nd_shard_spec fields, including a JSON nd_shard_spec
//    (used to recover the 2-D shard spec when the legacy shard_spec is std::nullopt).
// Throws wormsim::Error naming the field that could not be read, or for ND_SHARDED,
// L1_SMALL and other layouts wormsim does not model.
MemoryConfig parse_memory_config_string(std::string_view text);

// The ops_perf_results CSV memory cell: "DEV_<device>_<DRAM|L1>_<layout>", e.g.
// "DEV_1_L1_HEIGHT_SHARDED" (tt-perf-report test data).
std::string csv_memory_column(const MemoryConfig& config, std::uint32_t device_id);
struct MemoryColumn {
  std::uint32_t device_id{0};
  BufferType buffer_type{BufferType::DRAM};
  TensorMemoryLayout layout{TensorMemoryLayout::Interleaved};
  friend bool operator==(const MemoryColumn&, const MemoryColumn&) = default;
};
// Throws wormsim::Error if the cell is not of that form.
MemoryColumn parse_memory_column(std::string_view text);

}  // namespace wormsim::ops
