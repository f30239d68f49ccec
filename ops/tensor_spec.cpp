#include "ops/tensor_spec.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include "sim/error.hpp"

namespace wormsim::ops {
namespace {

constexpr std::uint64_t div_up(std::uint64_t value, std::uint64_t divisor) {
  return (value + divisor - 1) / divisor;
}
constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t multiple) {
  return div_up(value, multiple) * multiple;
}

std::uint32_t checked_u32(std::uint64_t value, const std::string& what) {
  if (value > 0xFFFFFFFFull) {
    throw Error(what + " of " + std::to_string(value) +
                " elements does not fit TT-NN's 32-bit shard shape; use more cores");
  }
  return static_cast<std::uint32_t>(value);
}

std::string pair_text(std::uint64_t a, std::uint64_t b) {
  return "{" + std::to_string(a) + ", " + std::to_string(b) + "}";
}

std::string_view trim(std::string_view text) {
  const auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// Cores along the tensor's height and width for a block grid: ROW_MAJOR puts shard rows on grid
// rows (y), COL_MAJOR on grid columns (x).
std::pair<std::uint32_t, std::uint32_t> block_cores(const CoreRange& box,
                                                    ShardOrientation orientation) {
  return orientation == ShardOrientation::RowMajor ? std::make_pair(box.height(), box.width())
                                                   : std::make_pair(box.width(), box.height());
}

MemoryConfig make_sharded(TensorMemoryLayout layout, BufferType buffer_type, CoreRangeSet grid,
                          std::uint32_t shard_height, std::uint32_t shard_width,
                          ShardOrientation orientation) {
  ShardSpec shard;
  shard.grid = std::move(grid);
  shard.shape = {shard_height, shard_width};
  shard.orientation = orientation;
  return MemoryConfig(layout, buffer_type, std::move(shard));
}

// One shard dimension: the extent split over `cores`, rounded up to whole tiles in TILE layout.
std::uint32_t shard_extent(std::uint64_t extent, std::uint32_t cores, std::uint32_t tile,
                           Layout layout, const std::string& what) {
  if (cores == 0) throw Error(what + ": a shard grid needs at least one core");
  std::uint64_t per_core = div_up(extent, cores);
  if (layout == Layout::Tile) per_core = round_up(per_core, tile);
  return checked_u32(per_core, what);
}

}  // namespace

// ---- Shape ----

Shape::Shape(std::initializer_list<std::uint32_t> dims) : Shape(std::vector<std::uint32_t>(dims)) {}

Shape::Shape(std::vector<std::uint32_t> dims) : dims_(std::move(dims)) {
  if (dims_.empty() || dims_.size() > kMaxRank) {
    throw Error("shape of rank " + std::to_string(dims_.size()) +
                " is not supported; wormsim tensors have rank 1 to 4 (W Z Y X)");
  }
  for (std::size_t i = 0; i < dims_.size(); ++i) {
    if (dims_[i] == 0) {
      throw Error("shape " + to_string(*this) + " has a zero in dim " + std::to_string(i) +
                  "; every dimension must be at least 1");
    }
  }
  std::copy(dims_.begin(), dims_.end(), wzyx_.end() - static_cast<std::ptrdiff_t>(dims_.size()));
}

std::uint64_t Shape::volume() const {
  std::uint64_t total = 1;
  for (std::uint32_t dim : dims_) total *= dim;
  return total;
}

Shape Shape::padded_to_tile() const {
  std::vector<std::uint32_t> dims = dims_;
  if (dims.size() == 1) dims.insert(dims.begin(), 1);  // a vector is one row of tiles
  const std::size_t r = dims.size();
  dims[r - 2] = static_cast<std::uint32_t>(round_up(dims[r - 2], kTileHeight));
  dims[r - 1] = static_cast<std::uint32_t>(round_up(dims[r - 1], kTileWidth));
  return Shape(std::move(dims));
}

std::string to_string(const Shape& shape) {
  std::string out = "Shape([";
  for (std::size_t i = 0; i < shape.dims().size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape.dims()[i]);
  }
  return out + "])";
}

std::string_view to_string(Layout layout) {
  switch (layout) {
    case Layout::Tile:
      return "TILE";
    case Layout::RowMajor:
      return "ROW_MAJOR";
  }
  return "UNKNOWN";
}

std::optional<Layout> parse_layout(std::string_view text) {
  text = trim(text);
  if (const auto pos = text.rfind("::"); pos != std::string_view::npos) {
    text = text.substr(pos + 2);
  } else if (const auto dot = text.rfind('.'); dot != std::string_view::npos) {
    text = text.substr(dot + 1);
  }
  std::string upper(trim(text));
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (upper == "TILE" || upper == "TILE_LAYOUT") return Layout::Tile;
  if (upper == "ROW_MAJOR" || upper == "ROW_MAJOR_LAYOUT") return Layout::RowMajor;
  return std::nullopt;
}

// ---- TensorSpec ----

TensorSpec::TensorSpec(Shape logical_shape, DataType data_type, Layout layout,
                       MemoryConfig memory_config)
    : logical_(logical_shape),
      padded_(layout == Layout::Tile ? logical_shape.padded_to_tile() : logical_shape),
      data_type_(data_type),
      layout_(layout),
      memory_config_(std::move(memory_config)) {
  validate();
}

TensorSpec::TensorSpec(Shape logical_shape, Shape padded_shape, DataType data_type, Layout layout,
                       MemoryConfig memory_config)
    : logical_(std::move(logical_shape)),
      padded_(std::move(padded_shape)),
      data_type_(data_type),
      layout_(layout),
      memory_config_(std::move(memory_config)) {
  validate();
}

std::string TensorSpec::describe() const {
  return "tensor " + to_string(logical_) + " " + std::string(to_string(data_type_)) + " " +
         std::string(to_string(layout_)) + " " +
         std::string(to_string(memory_config_.buffer_type())) + " " +
         std::string(to_string(memory_config_.layout()));
}

void TensorSpec::validate() const {
  if (layout_ == Layout::RowMajor && is_block_float(data_type_)) {
    throw Error(describe() + ": " + std::string(to_string(data_type_)) +
                " exists only in TILE layout (its shared exponents belong to tile face rows); "
                "use layout TILE or a non-block-float type such as BFLOAT16");
  }
  const std::size_t expected_rank =
      layout_ == Layout::Tile ? std::max<std::size_t>(logical_.rank(), 2) : logical_.rank();
  if (padded_.rank() != expected_rank) {
    throw Error(describe() + ": padded shape " + to_string(padded_) + " has rank " +
                std::to_string(padded_.rank()) + " but must have rank " +
                std::to_string(expected_rank));
  }
  const auto logical = logical_.wzyx();
  const auto padded = padded_.wzyx();
  static constexpr std::array<const char*, 4> kDimNames = {"W", "Z", "Y", "X"};
  for (std::size_t i = 0; i < 4; ++i) {
    if (padded[i] < logical[i]) {
      throw Error(describe() + ": padded shape " + to_string(padded_) +
                  " is smaller than the "
                  "logical shape in " +
                  kDimNames[i] + "; padding can only add elements");
    }
  }
  if (layout_ == Layout::Tile && (padded[2] % kTileHeight != 0 || padded[3] % kTileWidth != 0)) {
    throw Error(describe() + ": padded shape " + to_string(padded_) +
                " does not end in whole 32x32 tiles; TILE layout pads Y and X to multiples of 32");
  }
  if (!is_sharded()) return;

  const ShardSpec& shard = *memory_config_.shard_spec();
  if (shard.mode == ShardMode::Logical && shard.physical_shard_shape &&
      *shard.physical_shard_shape != shard.shape) {
    throw Error(describe() + ": ShardMode::LOGICAL with per-shard padding (logical shard " +
                pair_text(shard.height(), shard.width()) + ", physical " +
                pair_text((*shard.physical_shard_shape)[0], (*shard.physical_shard_shape)[1]) +
                ") is not modelled; use a PHYSICAL shard shape");
  }
  if (layout_ == Layout::Tile &&
      (shard.height() % kTileHeight != 0 || shard.width() % kTileWidth != 0)) {
    throw Error(
        describe() + ": shard shape " + pair_text(shard.height(), shard.width()) +
        " is not tile-aligned; in TILE layout shards hold whole 32x32 tiles, e.g. " +
        pair_text(round_up(shard.height(), kTileHeight), round_up(shard.width(), kTileWidth)));
  }
  const std::uint64_t height = physical_height();
  const std::uint64_t width = physical_width();
  const std::uint32_t cores = shard.num_cores();
  const std::string grid_text =
      "grid " + to_string(shard.grid) + " (" + std::to_string(cores) + " cores)";
  switch (memory_config_.layout()) {
    case TensorMemoryLayout::HeightSharded: {
      if (shard.width() != width) {
        throw Error(describe() +
                    ": HEIGHT_SHARDED shards must span the full width, but shard "
                    "width " +
                    std::to_string(shard.width()) + " != tensor width " + std::to_string(width) +
                    "; use shard shape " + pair_text(shard.height(), width));
      }
      const std::uint64_t shards = div_up(height, shard.height());
      if (shards > cores) {
        throw Error(describe() + ": height " + std::to_string(height) + " in shards of " +
                    std::to_string(shard.height()) + " rows needs " + std::to_string(shards) +
                    " cores but the " + grid_text + " has fewer; use taller shards or more cores");
      }
      break;
    }
    case TensorMemoryLayout::WidthSharded: {
      if (shard.height() != height) {
        throw Error(describe() +
                    ": WIDTH_SHARDED shards must span the full height, but shard "
                    "height " +
                    std::to_string(shard.height()) + " != tensor height " + std::to_string(height) +
                    "; use shard shape " + pair_text(height, shard.width()));
      }
      const std::uint64_t shards = div_up(width, shard.width());
      if (shards > cores) {
        throw Error(describe() + ": width " + std::to_string(width) + " in shards of " +
                    std::to_string(shard.width()) + " columns needs " + std::to_string(shards) +
                    " cores but the " + grid_text + " has fewer; use wider shards or more cores");
      }
      break;
    }
    case TensorMemoryLayout::BlockSharded: {
      const auto [cores_along_height, cores_along_width] =
          block_cores(shard.grid.bounding_box(), shard.orientation);
      const bool row_major = shard.orientation == ShardOrientation::RowMajor;
      const std::uint64_t along_height = div_up(height, shard.height());
      const std::uint64_t along_width = div_up(width, shard.width());
      if (along_height > cores_along_height) {
        throw Error(
            describe() + ": BLOCK_SHARDED height " + std::to_string(height) + " in shards of " +
            std::to_string(shard.height()) + " rows gives " + std::to_string(along_height) +
            " shards along the height, more than the " + std::to_string(cores_along_height) +
            " grid " + (row_major ? "rows" : "columns") + " of " + grid_text + " (" +
            std::string(to_string(shard.orientation)) + "); use taller shards or a larger grid");
      }
      if (along_width > cores_along_width) {
        throw Error(
            describe() + ": BLOCK_SHARDED width " + std::to_string(width) + " in shards of " +
            std::to_string(shard.width()) + " columns gives " + std::to_string(along_width) +
            " shards along the width, more than the " + std::to_string(cores_along_width) +
            " grid " + (row_major ? "columns" : "rows") + " of " + grid_text + " (" +
            std::string(to_string(shard.orientation)) + "); use wider shards or a larger grid");
      }
      break;
    }
    case TensorMemoryLayout::Interleaved:
      break;
  }
}

TensorSpec TensorSpec::with_memory_config(MemoryConfig memory_config) const {
  return TensorSpec(logical_, padded_, data_type_, layout_, std::move(memory_config));
}

TensorSpec TensorSpec::with_data_type(DataType data_type) const {
  return TensorSpec(logical_, padded_, data_type, layout_, memory_config_);
}

TensorSpec TensorSpec::with_layout(Layout layout) const {
  return TensorSpec(logical_, data_type_, layout, memory_config_);
}

std::uint64_t TensorSpec::physical_height() const {
  const auto padded = padded_.wzyx();
  return static_cast<std::uint64_t>(padded[0]) * padded[1] * padded[2];
}

std::uint32_t TensorSpec::physical_width() const { return padded_.x(); }

std::uint64_t TensorSpec::height_tiles() const { return div_up(physical_height(), kTileHeight); }
std::uint64_t TensorSpec::width_tiles() const { return div_up(physical_width(), kTileWidth); }

std::array<std::uint32_t, 2> TensorSpec::page_shape() const {
  if (layout_ == Layout::Tile) return {kTileHeight, kTileWidth};
  return {1, is_sharded() ? shard_spec().width() : physical_width()};
}

std::uint32_t TensorSpec::page_size_bytes() const {
  if (layout_ == Layout::Tile) return tile_bytes(data_type_);
  return page_shape()[1] * element_bytes(data_type_);
}

std::uint64_t TensorSpec::num_pages() const {
  if (layout_ == Layout::Tile) return num_tiles();
  // A ROW_MAJOR row split over several shards is one page per shard.
  return physical_height() * (is_sharded() ? shards_along_width() : 1);
}

const ShardSpec& TensorSpec::shard_spec() const {
  if (!is_sharded()) {
    throw Error(describe() + " is interleaved and has no shard spec; check is_sharded() first");
  }
  return *memory_config_.shard_spec();
}

std::uint64_t TensorSpec::shards_along_height() const {
  return div_up(physical_height(), shard_spec().height());
}

std::uint64_t TensorSpec::shards_along_width() const {
  return div_up(physical_width(), shard_spec().width());
}

std::uint64_t TensorSpec::pages_per_shard() const {
  const ShardSpec& shard = shard_spec();
  if (layout_ == Layout::Tile) {
    return static_cast<std::uint64_t>(shard.height() / kTileHeight) * (shard.width() / kTileWidth);
  }
  return shard.height();
}

std::string to_string(const TensorSpec& spec) {
  return "TensorSpec(logical_shape=" + to_string(spec.logical_shape()) +
         ",padded_shape=" + to_string(spec.padded_shape()) +
         ",dtype=" + std::string(to_string(spec.data_type())) +
         ",layout=" + std::string(to_string(spec.layout())) +
         ",memory_config=" + to_string(spec.memory_config()) + ")";
}

// ---- sharded memory config builders ----

MemoryConfig height_sharded(const TensorSpec& spec, const CoreRangeSet& grid,
                            ShardOrientation orientation) {
  const std::uint32_t shard_height = shard_extent(spec.physical_height(), grid.num_cores(),
                                                  kTileHeight, spec.layout(), "height shard");
  return make_sharded(TensorMemoryLayout::HeightSharded, BufferType::L1, grid, shard_height,
                      spec.physical_width(), orientation);
}

MemoryConfig height_sharded(const TensorSpec& spec, std::uint32_t num_cores,
                            const arch::DeviceSpec& device, ShardOrientation orientation) {
  return height_sharded(
      spec,
      num_cores_to_core_range_set(num_cores, device.worker_grid_x(), device.worker_grid_y(),
                                  orientation == ShardOrientation::RowMajor),
      orientation);
}

MemoryConfig width_sharded(const TensorSpec& spec, const CoreRangeSet& grid,
                           ShardOrientation orientation) {
  const std::uint32_t shard_width = shard_extent(spec.physical_width(), grid.num_cores(),
                                                 kTileWidth, spec.layout(), "width shard");
  return make_sharded(TensorMemoryLayout::WidthSharded, BufferType::L1, grid,
                      checked_u32(spec.physical_height(), "width shard height"), shard_width,
                      orientation);
}

MemoryConfig width_sharded(const TensorSpec& spec, std::uint32_t num_cores,
                           const arch::DeviceSpec& device, ShardOrientation orientation) {
  return width_sharded(
      spec,
      num_cores_to_core_range_set(num_cores, device.worker_grid_x(), device.worker_grid_y(),
                                  orientation == ShardOrientation::RowMajor),
      orientation);
}

MemoryConfig block_sharded(const TensorSpec& spec, const CoreRange& grid,
                           ShardOrientation orientation) {
  const auto [cores_along_height, cores_along_width] = block_cores(grid, orientation);
  const std::uint32_t shard_height = shard_extent(spec.physical_height(), cores_along_height,
                                                  kTileHeight, spec.layout(), "block shard height");
  const std::uint32_t shard_width = shard_extent(spec.physical_width(), cores_along_width,
                                                 kTileWidth, spec.layout(), "block shard width");
  return make_sharded(TensorMemoryLayout::BlockSharded, BufferType::L1, CoreRangeSet(grid),
                      shard_height, shard_width, orientation);
}

MemoryConfig block_sharded(const TensorSpec& spec, std::uint32_t grid_x, std::uint32_t grid_y,
                           ShardOrientation orientation) {
  if (grid_x == 0 || grid_y == 0) {
    throw Error("block_sharded: grid " + std::to_string(grid_x) + "x" + std::to_string(grid_y) +
                " is empty; give at least 1x1 cores");
  }
  return block_sharded(spec, CoreRange(CoreCoord{0, 0}, CoreCoord{grid_x - 1, grid_y - 1}),
                       orientation);
}

MemoryConfig dram_width_sharded(const TensorSpec& spec, const arch::DeviceSpec& device) {
  const auto banks = static_cast<std::uint32_t>(device.dram.banks.size());
  if (banks == 0) {
    throw Error("dram_width_sharded: device spec '" + device.name +
                "' lists no DRAM banks (dram.banks)");
  }
  const std::uint32_t shard_width =
      shard_extent(spec.physical_width(), banks, kTileWidth, spec.layout(), "DRAM shard width");
  return make_sharded(TensorMemoryLayout::WidthSharded, BufferType::DRAM,
                      CoreRangeSet(CoreRange(CoreCoord{0, 0}, CoreCoord{banks - 1, 0})),
                      checked_u32(spec.physical_height(), "DRAM shard height"), shard_width,
                      ShardOrientation::RowMajor);
}

// ---- device checks and placement ----

std::uint32_t num_interleaved_banks(BufferType buffer_type, const arch::DeviceSpec& device) {
  const std::uint32_t banks = buffer_type == BufferType::DRAM
                                  ? static_cast<std::uint32_t>(device.dram.banks.size())
                                  : device.worker_count();
  if (banks == 0) {
    throw Error("device spec '" + device.name + "' has no " +
                (buffer_type == BufferType::DRAM ? std::string("DRAM banks (dram.banks)")
                                                 : std::string("worker cores (chip worker grid)")) +
                " to interleave over");
  }
  return banks;
}

CoreCoord l1_bank_core(std::uint32_t bank, const arch::DeviceSpec& device) {
  if (bank >= device.worker_count()) {
    throw Error("L1 bank " + std::to_string(bank) + " does not exist on '" + device.name +
                "', which has " + std::to_string(device.worker_count()) +
                " L1 banks (one per worker)");
  }
  return {bank % device.worker_grid_x(), bank / device.worker_grid_x()};
}

BankPage interleaved_page_location(const TensorSpec& spec, std::uint64_t page,
                                   const arch::DeviceSpec& device) {
  if (spec.is_sharded()) {
    throw Error(to_string(spec.logical_shape()) +
                " is sharded; interleaved bank mapping applies only to INTERLEAVED tensors, "
                "use shard_placements()");
  }
  if (page >= spec.num_pages()) {
    throw Error("page " + std::to_string(page) + " is past the last page of " +
                to_string(spec.logical_shape()) + ", which has " +
                std::to_string(spec.num_pages()) + " pages");
  }
  const std::uint32_t banks = num_interleaved_banks(spec.memory_config().buffer_type(), device);
  return {static_cast<std::uint32_t>(page % banks), page / banks};
}

std::uint64_t aligned_page_size(const TensorSpec& spec, const arch::DeviceSpec& device) {
  std::uint64_t alignment =
      spec.memory_config().is_l1()
          ? device.l1.alignment_bytes
          : std::max(device.dram.read_alignment_bytes, device.dram.write_alignment_bytes);
  if (alignment == 0) alignment = 1;  // a spec without an alignment imposes none
  return round_up(spec.page_size_bytes(), alignment);
}

BankFootprint memory_footprint(const TensorSpec& spec, const arch::DeviceSpec& device) {
  const std::uint64_t page = aligned_page_size(spec, device);
  if (spec.is_sharded()) {
    // Every grid core reserves a full shard, even the last partial or an empty one.
    return {spec.shard_spec().num_cores(), spec.pages_per_shard() * page};
  }
  const std::uint32_t banks = num_interleaved_banks(spec.memory_config().buffer_type(), device);
  return {banks, div_up(spec.num_pages(), banks) * page};
}

std::uint64_t l1_bytes_per_core(const TensorSpec& spec, const arch::DeviceSpec& device) {
  return spec.memory_config().is_l1() ? memory_footprint(spec, device).bytes_per_bank : 0;
}

std::uint64_t dram_bytes_per_bank(const TensorSpec& spec, const arch::DeviceSpec& device) {
  return spec.memory_config().is_dram() ? memory_footprint(spec, device).bytes_per_bank : 0;
}

void validate_for_device(const TensorSpec& spec, const arch::DeviceSpec& device) {
  const std::string what = to_string(spec.logical_shape()) + " " +
                           std::string(to_string(spec.data_type())) + " " +
                           std::string(to_string(spec.memory_config().buffer_type())) + " " +
                           std::string(to_string(spec.memory_config().layout()));
  if (spec.is_sharded()) {
    const CoreRangeSet& grid = spec.shard_spec().grid;
    if (spec.memory_config().is_l1()) {
      const std::uint32_t grid_x = device.worker_grid_x();
      const std::uint32_t grid_y = device.worker_grid_y();
      for (const CoreRange& range : grid.ranges()) {
        if (range.end().x >= grid_x || range.end().y >= grid_y) {
          throw Error("tensor " + what + ": shard grid " + to_string(grid) + " reaches core " +
                      to_string(range.end()) + ", outside the " + std::to_string(grid_x) + "x" +
                      std::to_string(grid_y) + " worker grid of '" + device.name + "' (x 0.." +
                      std::to_string(grid_x - 1) + ", y 0.." + std::to_string(grid_y - 1) +
                      "); shrink the grid");
        }
      }
    } else {
      const auto banks = static_cast<std::uint32_t>(device.dram.banks.size());
      for (const CoreRange& range : grid.ranges()) {
        if (range.end().y != 0 || range.end().x >= banks) {
          throw Error("tensor " + what + ": DRAM shard grid " + to_string(grid) +
                      " must name DRAM banks as (x=bank,y=0) with bank 0.." +
                      std::to_string(banks - 1) + " on '" + device.name + "'");
        }
      }
    }
  }
  const BankFootprint footprint = memory_footprint(spec, device);
  if (spec.memory_config().is_l1() && device.l1.usable_bytes > 0 &&
      footprint.bytes_per_bank > device.l1.usable_bytes) {
    throw Error("tensor " + what + " needs " + std::to_string(footprint.bytes_per_bank) +
                " B of L1 per core but '" + device.name + "' has " +
                std::to_string(device.l1.usable_bytes) +
                " B usable per core; shard over more cores or keep it in DRAM");
  }
  if (spec.memory_config().is_dram() && device.dram.bank_size_bytes > 0 &&
      footprint.bytes_per_bank > device.dram.bank_size_bytes) {
    throw Error("tensor " + what + " needs " + std::to_string(footprint.bytes_per_bank) +
                " B per DRAM bank but a bank of '" + device.name + "' holds " +
                std::to_string(device.dram.bank_size_bytes) + " B");
  }
}

std::vector<ShardPlacement> shard_placements(const TensorSpec& spec) {
  const ShardSpec& shard = spec.shard_spec();
  const std::vector<CoreCoord> cores = shard.grid.cores(shard.orientation);
  const std::uint64_t height = spec.physical_height();
  const std::uint64_t width = spec.physical_width();
  const std::uint64_t along_width = spec.shards_along_width();
  const std::uint64_t count = spec.num_shards();
  std::vector<ShardPlacement> placements;
  placements.reserve(count);
  for (std::uint64_t k = 0; k < count; ++k) {
    ShardPlacement p;
    p.core = cores.at(k);
    p.shard_index = static_cast<std::uint32_t>(k);
    p.shard_row = k / along_width;
    p.shard_col = k % along_width;
    p.row_start = p.shard_row * shard.height();
    p.col_start = p.shard_col * shard.width();
    p.rows = std::min<std::uint64_t>(shard.height(), height - p.row_start);
    p.cols = std::min<std::uint64_t>(shard.width(), width - p.col_start);
    p.pages = spec.layout() == Layout::Tile
                  ? div_up(p.rows, kTileHeight) * div_up(p.cols, kTileWidth)
                  : p.rows;
    placements.push_back(p);
  }
  return placements;
}

// ---- CSV cells ----

std::string csv_shape_cell(std::uint32_t padded, std::uint32_t logical) {
  return std::to_string(padded) + "[" + std::to_string(logical) + "]";
}

std::array<std::string, 4> csv_shape_cells(const TensorSpec& spec) {
  const auto padded = spec.padded_shape().wzyx();
  const auto logical = spec.logical_shape().wzyx();
  std::array<std::string, 4> cells;
  for (std::size_t i = 0; i < 4; ++i) cells[i] = csv_shape_cell(padded[i], logical[i]);
  return cells;
}

ShapeCell parse_shape_cell(std::string_view text) {
  const std::string_view cell = trim(text);
  const auto fail = [&] {
    return Error("shape cell '" + std::string(text) +
                 "' is not PAD[LOGICAL] (e.g. 32[19]) or a plain number");
  };
  const char* const begin = cell.data();
  const char* const end = cell.data() + cell.size();
  ShapeCell out;
  auto [after_padded, ec] = std::from_chars(begin, end, out.padded);
  if (ec != std::errc() || cell.empty()) throw fail();
  if (after_padded == end) {
    out.logical = out.padded;
    return out;
  }
  if (*after_padded != '[') throw fail();
  const auto [after_logical, ec2] = std::from_chars(after_padded + 1, end, out.logical);
  if (ec2 != std::errc() || after_logical + 1 != end || *after_logical != ']') throw fail();
  return out;
}

CsvShape parse_csv_shape(const std::array<std::string_view, 4>& wzyx_cells) {
  std::vector<std::uint32_t> logical;
  std::vector<std::uint32_t> padded;
  for (std::string_view cell : wzyx_cells) {
    const ShapeCell parsed = parse_shape_cell(cell);
    logical.push_back(parsed.logical);
    padded.push_back(parsed.padded);
  }
  return {Shape(std::move(logical)), Shape(std::move(padded))};
}

}  // namespace wormsim::ops
