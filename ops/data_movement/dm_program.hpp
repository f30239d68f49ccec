#pragma once
// Shared machinery of the data-movement ops.
//
// - ElementMap: where every output element comes from (an input element, or a fill value). One
//   map drives both the values (gather_values: bit-exact moves, the golden moved the same way)
//   and the timing (build_gather: which input pages each output page needs).
// - PageMap: where the pages of a tensor live (TILE: tiles, ROW_MAJOR: rows or shard-width row
//   segments) as NoC endpoints, and which core's L1 holds them.
// - Unit / CoreWork / launch: the per-core program every data-movement op runs, as TT-NN's
//   reader / (compute) / writer kernels do: the reader (NCRISC, NoC1) fetches a unit of pages
//   into a double-buffered CB, an optional compute kernel (tilize, untilize, tile transpose)
//   spends Tensix cycles on it, the writer (BRISC, NoC0) stores the unit's output pages.
//   Pages already in the core's own L1 move without NoC traffic.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ops/operation.hpp"

namespace wormsim::ops::dm {

// A padded (W, Z, Y, X) coordinate of a tensor; lower ranks read with leading ones.
using Coord4 = std::array<std::uint32_t, 4>;

// Where one output element comes from.
struct Source {
  bool fill{false};  // no input element: the output holds fill_value
  float fill_value{0.0f};
  std::uint32_t input{0};  // which input tensor
  Coord4 at{};             // padded coordinate in that input

  static Source from(std::uint32_t input, const Coord4& at) {
    return Source{false, 0.0f, input, at};
  }
  static Source filled(float value) { return Source{true, value, 0, {}}; }
};

class ElementMap {
 public:
  virtual ~ElementMap() = default;
  // Source of element `at` (padded coordinate) of output `output`.
  virtual Source source(std::size_t output, const Coord4& at) const = 0;
  // Everything source() depends on besides the tensors' specs, as text; build_gather reuses
  // the plan of an earlier op with the same key and specs (a transformer's repeated blocks).
  // Empty: never reused.
  virtual std::string cache_key() const { return {}; }
  // True when every element comes from the same coordinate of input 0 (a memory move): tiles
  // then copy whole without asking source() per element.
  virtual bool is_identity() const { return false; }
  // The shape outside which every element of output `output` is a fill (tile padding), or
  // nullptr when the map has no such bound. build_gather then skips padding rows and faces
  // without asking source() per element.
  virtual const Shape* filled_outside(std::size_t /*output*/) const { return nullptr; }
};

// "[w,z,y,x]" (for cache keys).
std::string coord_text(const Coord4& c);

// The physical row of a padded coordinate: (w * Z + z) * Y + y over the padded shape.
std::uint64_t physical_row(const Shape& padded, const Coord4& at);
// Inverse of physical_row for column x.
Coord4 coord_of_row(const Shape& padded, std::uint64_t row, std::uint32_t x);
// at < shape in every dim (shape read as W Z Y X).
bool inside(const Shape& shape, const Coord4& at);

// Output values from an element map: device values moved from the inputs' values (then
// rounded to the output format, which is exact when the format does not change), golden values
// moved from the inputs' golden values the same way.
std::vector<Tensor> gather_values(const ElementMap& map, const std::vector<Tensor>& inputs,
                                  const std::vector<TensorSpec>& outputs);
// Rounds device values to the tensor's number format (no-op for integer types); block-float
// formats are rounded as the packer writes them.
void round_to_format(std::vector<float>& values, const TensorSpec& spec);

// Where the pages of a tensor live.
class PageMap {
 public:
  PageMap(const TensorSpec& spec, const noc::ChipFabric& fabric);

  const TensorSpec& spec() const noexcept { return spec_; }
  bool tiled() const noexcept { return tiled_; }
  std::uint32_t page_bytes() const noexcept { return page_bytes_; }
  // Elements along a page row: 32 (TILE) or the page width (ROW_MAJOR: padded width, or the
  // shard width when sharded).
  std::uint32_t page_width() const noexcept { return page_width_; }
  std::uint64_t num_pages() const noexcept { return num_pages_; }
  // Pages per physical row band: tiles per tile row (TILE), shards along the width (ROW_MAJOR).
  std::uint64_t pages_across() const noexcept { return pages_across_; }

  // Page holding element (row, col) of the 2-D physical view [physical_height, physical_width].
  std::uint64_t page_of(std::uint64_t row, std::uint32_t col) const;
  noc::Endpoint endpoint(std::uint64_t page) const;
  // The worker core whose L1 holds the page (nullopt for DRAM tensors).
  std::optional<CoreCoord> l1_core(std::uint64_t page) const;
  bool local_to(std::uint64_t page, CoreCoord core) const;
  bool in_l1_sharded() const noexcept {
    return spec_.memory_config().is_l1() && spec_.is_sharded();
  }

 private:
  CoreCoord rm_shard_core(std::uint64_t page) const;

  TensorSpec spec_;
  const noc::ChipFabric& fabric_;
  TileLocator tiles_;
  bool tiled_;
  std::uint32_t page_bytes_;
  std::uint32_t page_width_;
  std::uint64_t num_pages_;
  std::uint64_t pages_across_;
  std::uint32_t banks_;
  std::uint32_t shard_rows_{1};         // ROW_MAJOR sharded: rows per shard
  std::vector<CoreCoord> shard_cores_;  // ROW_MAJOR sharded: shard index -> core / bank
};

// One NoC transfer of a unit.
struct Transfer {
  noc::Endpoint where;
  std::uint32_t bytes{0};
};

// A block of pages one core moves in one step: the reader brings `reads` into one CB slot,
// the compute kernel (if the op has one) spends `compute` cycles, the writer issues `writes`.
struct Unit {
  std::vector<Transfer> reads;
  // When > 0, the first this many reads must land before the others are issued (they carry
  // the addresses of the rest, e.g. embedding indices).
  std::uint32_t dependent_after{0};
  // Each read waits for the previous one to land (a kernel that barriers after every read).
  bool serial_reads{false};
  std::uint64_t in_bytes{0};  // CB space the unit's input takes
  sim::Cycle compute{0};
  std::vector<Transfer> writes;
  std::uint64_t out_bytes{0};  // CB space the unit's output takes (compute stage)
};

struct CoreWork {
  CoreCoord core;
  std::vector<Unit> units;
};

// Runs `work` as per-core kernels: reader on NCRISC over NoC1, compute on the TRISCs when
// `compute_stage`, writer on BRISC over NoC0. CBs hold two units (double buffering); a CB whose
// core reads (or writes) nothing is the tensor's own L1 shard and takes no new space.
// With `two_readers`, a core that only pulls pages into its own shard (no compute, no writes)
// splits its units between two readers, NCRISC over NoC0 and BRISC over NoC1, each reading
// straight into the shard, as TT-NN's reshard does.
void launch(Program& program, std::vector<CoreWork> work, bool compute_stage,
            bool two_readers = false);

// A kernel that does nothing (a metadata-only op such as a view reshape still launches).
void launch_noop(Program& program);

// Splits `items` over at most `max_cores` cores as TT-NN's split_work_to_cores does: the first
// (items mod cores) cores get one item more. Returns [begin, end) per used core.
std::vector<std::pair<std::uint64_t, std::uint64_t>> split_evenly(std::uint64_t items,
                                                                  std::uint32_t max_cores);
// The index-th worker core, row by row over the worker grid.
CoreCoord grid_core(std::uint32_t index, const arch::DeviceSpec& device);

// Tensix cycles to move one tile through unpack -> Dst -> pack (tilize, untilize, transpose):
// the three TRISC stages pipeline, so the slower of unpack and pack sets the rate.
sim::Cycle tile_pass_cycles(const arch::DeviceSpec& spec, DataType in, DataType out);

// Output pages per unit: as many tiles as half of Dst holds (the compute block TT-NN kernels
// use), or ROW_MAJOR rows of about that many bytes.
std::uint32_t pages_per_unit(const arch::DeviceSpec& spec, const TensorSpec& output);

// How build_gather reads the sources of an output tile.
enum class TileSources {
  // A copy (or, with a compute stage, a transpose) of one input tile reads that tile; any other
  // output tile reads every run inside an input face row as its own NoC read, straight into place.
  Segments,
  // tt-metal's tiled reshape (ReshapeViewTiledProgramFactory, reader_reshape_tiled.cpp /
  // writer_reshape_tiled.cpp): per output tile the reader reads its page of a host-made segment
  // map from DRAM, then each distinct input tile whole, one at a time (a barrier after each);
  // the writer copies every segment into a scratch tile with a local NoC write (tt-metal copies
  // with the RISC instead when source and destination differ in alignment mod 16, which this
  // does not model) and writes the tile out, waiting for its acknowledgement before the next
  // output tile starts (one-page buffers).
  WholeTiles,
};

// The generic gather program: the output pages are dealt to cores (the owner of each L1 shard
// pulls its own pages; with an L1-sharded input, the core holding a page's source pushes it;
// otherwise pages are split evenly over the worker grid), grouped in units, and each unit reads
// what its pages need: whole tiles when an output tile is a copy (or, with a compute stage, a
// transpose) of one input tile, otherwise every contiguous run of elements inside an input
// face row / page as its own read, the way TT-NN's generic kernels read sub-tile segments
// (`sources` chooses how TILE pages are read, see TileSources).
void build_gather(Program& program, const ElementMap& map, const std::vector<TensorSpec>& inputs,
                  const std::vector<TensorSpec>& outputs, bool two_readers = false,
                  TileSources sources = TileSources::Segments);

// Threads build_gather plans a large gather on (0, the default: the hardware's threads). Plans do
// not depend on it; setting it also empties this thread's plan cache, so the next gathers are
// planned afresh (tests compare thread counts).
void set_gather_planning_threads(std::size_t threads);

// ---- blocked programs (tilize, untilize, embedding) ----

// A block of one tile row (or token row): columns [col_begin, col_end) in tiles, and the core
// that handles it (nullopt until assigned). Blocks of one group go to the same core.
struct Block {
  std::uint64_t row{0};
  std::uint32_t col_begin{0};
  std::uint32_t col_end{0};
  std::optional<CoreCoord> core;
  std::uint64_t group{0};
};
// Deals the groups of blocks that have no core yet evenly over the worker grid (whole groups per
// core, as TT-NN's split_blocks_for_tilize deals whole tile rows).
void assign_unowned_rows(std::vector<Block>& blocks, const arch::DeviceSpec& device);
// Column block width (tiles) for tilize / untilize of a tile grid of rows x columns. TT-NN's
// interleaved factories give each core whole tile rows; for wide tensors (more than
// kWideRowTiles tiles per row, and taller than that or wider than tall) they switch to the
// 2-D block factories when splitting rows into column blocks keeps more cores busy.
std::uint32_t row_block_columns(std::uint64_t rows, std::uint32_t columns,
                                const arch::DeviceSpec& device);
inline constexpr std::uint32_t kWideRowTiles = 32;  // TT-NN's threshold_row_block
// Splits [0, columns) at `cuts` (shard boundaries) and into pieces of at most `cap` columns.
std::vector<std::pair<std::uint32_t, std::uint32_t>> column_chunks(std::uint32_t columns,
                                                                   std::uint32_t cap,
                                                                   std::vector<std::uint32_t> cuts);
// Tile columns where the width shards of an L1/DRAM-sharded tensor start (empty if interleaved
// or height-sharded).
std::vector<std::uint32_t> shard_column_cuts(const TensorSpec& spec);
// Largest block, in tiles, whose double-buffered input and output CBs take at most half of a
// core's usable L1 (the rest stays for the tensors that live there).
std::uint32_t block_cap(const arch::DeviceSpec& device, std::uint64_t in_bytes_per_tile,
                        std::uint64_t out_bytes_per_tile);
// Transfers for elements [x0, x1) of physical row `row` of a ROW_MAJOR tensor: one per page the
// range touches, skipping pages in `core`'s own L1. Adds the bytes moved to `bytes`.
void append_row_transfers(std::vector<Transfer>& transfers, std::uint64_t& bytes,
                          const PageMap& map, std::uint64_t row, std::uint32_t x0, std::uint32_t x1,
                          CoreCoord core);
// Collects (core, unit) pairs into per-core work, units in the order given.
std::vector<CoreWork> group_by_core(std::vector<std::pair<CoreCoord, Unit>> units);

// ---- output memory configs ----

// How an op's output placement was asked for: an explicit config, a keyword
// (dram-interleaved, l1-interleaved, l1-height-sharded, l1-width-sharded, l1-block-sharded,
// dram-sharded) or TT-NN MemoryConfig string resolved for the output's shape on a grid, or
// nothing (the op's default).
struct OutputMemory {
  std::optional<MemoryConfig> config;
  std::string keyword;
  std::uint32_t grid_x{0};  // 0: the full worker grid
  std::uint32_t grid_y{0};
  bool requested() const { return config.has_value() || !keyword.empty(); }
};

// The output's memory config: the request resolved for `output` (a spec whose memory config is
// ignored), or `fallback` when nothing was asked. Throws wormsim::Error (naming `op`) if the
// result cannot hold the tensor on `device`.
MemoryConfig resolve_memory(const OutputMemory& request, const TensorSpec& output,
                            const MemoryConfig& fallback, const arch::DeviceSpec& device,
                            const std::string& op);
// TT-NN's usual default: the input's memory config, re-derived for the output's shape when the
// input is sharded (same kind of sharding on the same grid); DRAM interleaved if that is
// impossible.
MemoryConfig like_input(const TensorSpec& input, const TensorSpec& output,
                        const arch::DeviceSpec& device);

// A memory config as it appears inside ATTRIBUTES.
std::string attribute_memory(const std::optional<MemoryConfig>& resolved,
                             const OutputMemory& request);

}  // namespace wormsim::ops::dm
