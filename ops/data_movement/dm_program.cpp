#include "ops/data_movement/dm_program.hpp"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "ops/compute_config.hpp"
#include "ops/numerics/number_formats.hpp"
#include "ops/op_registry.hpp"
#include "sim/parallel.hpp"

namespace wormsim::ops::dm {
namespace {

using noc::NocId;
using sim::Cycle;
using sim::Task;

// The NoC each data-movement RISC uses: tt-metal's ReaderDataMovementConfig (NCRISC) takes
// GetPreferredNOCForDRAMRead = NOC_0 on Wormhole and WriterDataMovementConfig (BRISC)
// GetPreferredNOCForDRAMWrite = NOC_1 (tt_metal/impl/kernels/kernel_types.cpp,
// tt_metal/api/tt-metalium/data_types.hpp). DRAM reads over NoC0 also reach far more bandwidth
// than over NoC1 (ISA DRAMTile/README.md: 190 vs 82 GB/s for randomly paired cores and banks).
constexpr NocId kReaderNoc = NocId::Noc0;
constexpr NocId kWriterNoc = NocId::Noc1;
// One entry of tt-metal's tiled-reshape segment map (SegmentMapData in reshape_view's
// hostdevcommon/common.hpp): input page, input offset, output offset, element count, 4 bytes each.
constexpr std::uint32_t kSegmentMapEntryBytes = 16;

std::uint32_t to_u32(std::uint64_t value, const char* what) {
  if (value > 0xFFFFFFFFull) throw Error(std::string("data movement: ") + what + " exceeds 4 GiB");
  return static_cast<std::uint32_t>(value);
}

// ---- kernels ----

Task reader_kernel(const CoreWork& work, sim::CircularBuffer& cb, noc::NocPort& port) {
  for (const Unit& unit : work.units) {
    co_await cb.reserve_back(1);
    for (std::size_t i = 0; i < unit.reads.size(); ++i) {
      // Reads whose addresses come from earlier reads wait for those to land.
      if (unit.dependent_after > 0 && i == unit.dependent_after) co_await port.read_barrier();
      co_await port.read(unit.reads[i].where, unit.reads[i].bytes);
      if (unit.serial_reads) co_await port.read_barrier();
    }
    if (!unit.reads.empty()) co_await port.read_barrier();
    cb.push_back(1);
  }
}

Task compute_kernel(Program& program, const CoreWork& work, sim::CircularBuffer& in,
                    sim::CircularBuffer& out) {
  for (const Unit& unit : work.units) {
    co_await in.wait_front(1);
    co_await out.reserve_back(1);
    if (unit.compute > 0) co_await program.compute(work.core, unit.compute);
    out.push_back(1);
    in.pop_front(1);
  }
}

Task writer_kernel(const CoreWork& work, sim::CircularBuffer& cb, noc::NocPort& port) {
  for (const Unit& unit : work.units) {
    co_await cb.wait_front(1);
    for (const Transfer& t : unit.writes) co_await port.write(t.where, t.bytes);
    // The CB slot can be reused once the data has left L1; a serial unit (the tiled reshape)
    // waits for the acknowledgements first, as its kernel does before taking the next map page.
    if (unit.serial_reads && !unit.writes.empty())
      co_await port.write_barrier();
    else if (!unit.writes.empty())
      co_await port.writes_flushed();
    cb.pop_front(1);
  }
  co_await port.write_barrier();
}

// Reads units [begin, end) straight into the core's own output shard.
Task pull_kernel(const CoreWork& work, std::size_t begin, std::size_t end, noc::NocPort& port) {
  for (std::size_t u = begin; u < end; ++u) {
    for (const Transfer& t : work.units[u].reads) co_await port.read(t.where, t.bytes);
    co_await port.read_barrier();
  }
}

Task noop_kernel() { co_return; }

// ---- gather analysis ----

// An output page, or (ROW_MAJOR) the element columns [begin, end) of it; end == 0: all of it.
struct PageRef {
  std::uint32_t output{0};
  std::uint64_t page{0};
  std::uint32_t begin{0};
  std::uint32_t end{0};
};

// Builds units from the output pages a core handles.
class GatherPlanner {
 public:
  GatherPlanner(Program& program, const ElementMap& map, const std::vector<TensorSpec>& inputs,
                const std::vector<TensorSpec>& outputs, TileSources sources)
      : program_(program), map_(map), inputs_(inputs), outputs_(outputs), sources_(sources) {
    for (const TensorSpec& t : inputs) {
      in_maps_.emplace_back(t, program.fabric());
      sharded_input_ = sharded_input_ || in_maps_.back().in_l1_sharded();
    }
    for (const TensorSpec& t : outputs) out_maps_.emplace_back(t, program.fabric());
    for (const TensorSpec& t : outputs) {
      if (t.layout() != outputs.front().layout())
        throw std::logic_error("build_gather: outputs differ in layout");
    }
    for (const TensorSpec& t : inputs) {
      if (t.layout() != outputs.front().layout()) {
        throw std::logic_error(
            "build_gather: input and output layouts differ; layout changes need tilize/untilize");
      }
    }
  }

  // Deals a page to the core that handles it: the owner of its L1 shard, or with an L1-sharded
  // input the core holding its source, which pushes it (a ROW_MAJOR page whose elements sit on
  // several cores is split into one segment per core, each written by its holder). Pages with
  // neither go to `unassigned` for the even split.
  void assign(const PageRef& ref, std::map<CoreCoord, std::vector<PageRef>>& per_core,
              std::vector<PageRef>& unassigned) const {
    const PageMap& out = out_maps_[ref.output];
    if (out.in_l1_sharded()) {
      per_core[*out.l1_core(ref.page)].push_back(ref);
      return;
    }
    if (!sharded_input_) {
      unassigned.push_back(ref);
      return;
    }
    if (out.tiled()) {
      const auto holder = source_core(ref.output, first_element(ref));
      if (holder)
        per_core[*holder].push_back(ref);
      else
        unassigned.push_back(ref);
      return;
    }
    const auto [row, first_col, end_col] = row_range(ref);
    Coord4 at = coord_of_row(outputs_[ref.output].padded_shape(), row, 0);
    std::optional<CoreCoord> current;
    std::uint32_t start = first_col;
    for (std::uint32_t x = first_col; x < end_col;
         x = same_input_page_until(ref.output, x, end_col)) {
      at[3] = x;
      const auto holder = source_core(ref.output, at);
      if (!holder || (current && *holder == *current)) continue;
      if (current)
        per_core[*current].push_back(PageRef{ref.output, ref.page, start, x});
      else if (x > first_col)
        unassigned.push_back(PageRef{ref.output, ref.page, start, x});
      current = holder;
      start = x;
    }
    if (current)
      per_core[*current].push_back(PageRef{ref.output, ref.page, start, end_col});
    else
      unassigned.push_back(ref);
  }

  // The largest number of segments one output tile's map page lists (TileSources::WholeTiles).
  std::uint32_t max_segments() const { return max_segments_; }

  Unit make_unit(CoreCoord core, const std::vector<PageRef>& pages) {
    Unit unit;
    whole_tiles_.clear();
    unit_core_ = core;
    for (const PageRef& ref : pages) {
      const PageMap& out = out_maps_[ref.output];
      output_local_ = out.local_to(ref.page, core);
      if (out.tiled())
        add_tile_page(unit, ref);
      else
        add_row_page(unit, ref);
      std::uint32_t bytes = out.page_bytes();
      if (ref.end > 0)
        bytes = (ref.end - ref.begin) * element_bytes(outputs_[ref.output].data_type());
      unit.out_bytes += bytes;
      if (!output_local_) unit.writes.push_back(Transfer{out.endpoint(ref.page), bytes});
    }
    return unit;
  }

 private:
  // The L1-sharded input core holding the source of output element `at`, if any.
  std::optional<CoreCoord> source_core(std::uint32_t output, const Coord4& at) const {
    const Source src = map_.source(output, at);
    if (src.fill || !in_maps_[src.input].in_l1_sharded()) return std::nullopt;
    const PageMap& in = in_maps_[src.input];
    return in.l1_core(
        in.page_of(physical_row(inputs_[src.input].padded_shape(), src.at), src.at[3]));
  }

  // The end of the columns [x, end) of a ROW_MAJOR output row that are consecutive elements of
  // one input page: the next input page boundary for a memory move (same coordinates, same
  // padded shape), else x + 1 (the map is asked per element).
  std::uint32_t same_input_page_until(std::uint32_t output, std::uint32_t x,
                                      std::uint32_t end) const {
    if (!map_.is_identity() || inputs_[0].padded_shape() != outputs_[output].padded_shape())
      return x + 1;
    const std::uint32_t width = in_maps_[0].page_width();
    return std::min(end, (x / width + 1) * width);
  }

  // Physical row and element columns [first, end) of a ROW_MAJOR page reference.
  struct RowRange {
    std::uint64_t row;
    std::uint32_t first;
    std::uint32_t end;
  };
  RowRange row_range(const PageRef& ref) const {
    const PageMap& out = out_maps_[ref.output];
    const std::uint64_t row = ref.page / out.pages_across();
    auto first = static_cast<std::uint32_t>((ref.page % out.pages_across()) * out.page_width());
    std::uint32_t end = std::min(first + out.page_width(), outputs_[ref.output].physical_width());
    if (ref.end > 0) {
      first = ref.begin;
      end = ref.end;
    }
    return {row, first, end};
  }

  Coord4 first_element(const PageRef& ref) const {
    const PageMap& out = out_maps_[ref.output];
    const Shape& padded = outputs_[ref.output].padded_shape();
    if (out.tiled()) {
      const std::uint64_t row = (ref.page / out.pages_across()) * kTileHeight;
      return coord_of_row(padded, row,
                          static_cast<std::uint32_t>((ref.page % out.pages_across()) * kTileWidth));
    }
    return coord_of_row(
        padded, ref.page / out.pages_across(),
        static_cast<std::uint32_t>((ref.page % out.pages_across()) * out.page_width()));
  }

  void add_read(Unit& unit, std::uint32_t input, std::uint64_t page, std::uint32_t bytes) {
    const PageMap& in = in_maps_[input];
    // A run already in this core's L1 goes straight out with a remote output page's write; into
    // a local output page it still has to move to its place: a local NoC read, as tt-metal's
    // sharded data-movement kernels copy within L1.
    if (in.local_to(page, unit_core_) && !output_local_) return;
    unit.reads.push_back(Transfer{in.endpoint(page), bytes});
    unit.in_bytes += bytes;
  }

  void add_whole_tile(Unit& unit, std::uint32_t input, std::uint64_t page) {
    const std::pair<std::uint32_t, std::uint64_t> key{input, page};
    if (std::find(whole_tiles_.begin(), whole_tiles_.end(), key) != whole_tiles_.end()) return;
    whole_tiles_.push_back(key);
    add_read(unit, input, page, in_maps_[input].page_bytes());
  }

  // One output tile: a copy or transpose of one input tile, or a set of face-row runs.
  void add_tile_page(Unit& unit, const PageRef& ref) {
    const PageMap& out = out_maps_[ref.output];
    const Shape& padded = outputs_[ref.output].padded_shape();
    const std::uint64_t tile_row = ref.page / out.pages_across();
    const auto tile_col = static_cast<std::uint32_t>(ref.page % out.pages_across());
    if (map_.is_identity() && inputs_[0].padded_shape() == padded) {
      // A memory move: the same tile of input 0, whole.
      add_whole_tile(unit, 0, in_maps_[0].page_of(tile_row * kTileHeight, tile_col * kTileWidth));
      return;
    }
    // The source of every element of the tile. Maps are affine piece by piece, so a face row
    // whose first, middle and last elements come from one input tile in a straight line (along
    // its row, or down its column for a transpose) is filled without asking the map for the
    // others; any other face row is mapped element by element.
    auto element_at = [&](Coord4 at, std::uint32_t c) {
      at[3] = tile_col * kTileWidth + c;
      const Source src = map_.source(ref.output, at);
      Element e;
      e.input = src.fill ? -1 : static_cast<std::int32_t>(src.input);
      if (src.fill) return e;
      const std::uint64_t in_row = physical_row(inputs_[src.input].padded_shape(), src.at);
      e.page = in_maps_[src.input].page_of(in_row, src.at[3]);
      e.row = static_cast<std::uint8_t>(in_row % kTileHeight);
      e.col = static_cast<std::uint8_t>(src.at[3] % kTileWidth);
      return e;
    };
    constexpr std::uint32_t kLast = kFaceWidth - 1;
    constexpr std::uint32_t kMiddle = kFaceWidth / 2 - 1;
    // Rows and faces in the map's fill region (tile padding) need no source lookups.
    const Shape* bound = map_.filled_outside(ref.output);
    const std::uint32_t bound_width = bound != nullptr ? bound->wzyx()[3] : 0;
    for (std::uint32_t r = 0; r < kTileHeight; ++r) {
      const Coord4 at = coord_of_row(padded, tile_row * kTileHeight + r, 0);
      const bool fill_row = bound != nullptr && !inside(*bound, at);
      // Rows of tile padding are skipped by the passes below (most of a tile whose logical
      // height is a few rows).
      row_has_source_[r] = !fill_row;
      if (fill_row) continue;
      for (std::uint32_t c0 = 0; c0 < kTileWidth; c0 += kFaceWidth) {
        Element* row = &elements_[r * kTileWidth + c0];
        if (bound != nullptr && tile_col * kTileWidth + c0 >= bound_width) {
          std::fill(row, row + kFaceWidth, Element{});
          continue;
        }
        row[0] = element_at(at, c0);
        row[kMiddle] = element_at(at, c0 + kMiddle);
        row[kLast] = element_at(at, c0 + kLast);
        const Element &first = row[0], &middle = row[kMiddle], &last = row[kLast];
        const bool one_tile = first.input >= 0 && middle.input == first.input &&
                              last.input == first.input && middle.page == first.page &&
                              last.page == first.page;
        const bool along_row = one_tile && middle.row == first.row && last.row == first.row &&
                               middle.col == first.col + kMiddle && last.col == first.col + kLast;
        const bool down_column = one_tile && middle.col == first.col && last.col == first.col &&
                                 middle.row == first.row + kMiddle && last.row == first.row + kLast;
        for (std::uint32_t k = 1; k < kLast; ++k) {
          if (k == kMiddle) continue;
          if (along_row || down_column) {
            row[k] = first;
            if (along_row) row[k].col = static_cast<std::uint8_t>(first.col + k);
            if (down_column) row[k].row = static_cast<std::uint8_t>(first.row + k);
          } else {
            row[k] = element_at(at, c0 + k);
          }
        }
      }
    }
    bool any = false;
    bool copy = true;
    bool transposed = true;
    std::uint32_t first_input = 0;
    std::uint64_t first_page = 0;
    for (std::uint32_t r = 0; r < kTileHeight; ++r) {
      if (!row_has_source_[r]) continue;
      for (std::uint32_t c = 0; c < kTileWidth; ++c) {
        const Element& e = elements_[r * kTileWidth + c];
        if (e.input < 0) continue;
        if (!any) {
          any = true;
          first_input = static_cast<std::uint32_t>(e.input);
          first_page = e.page;
        } else if (static_cast<std::uint32_t>(e.input) != first_input || e.page != first_page) {
          copy = transposed = false;
        }
        if (e.row != r || e.col != c) copy = false;
        if (e.row != c || e.col != r) transposed = false;
      }
    }
    if (!any) return;  // all padding / fill
    if (sources_ == TileSources::WholeTiles) {
      add_whole_source_tiles(unit, ref);
      return;
    }
    if (copy) {
      add_whole_tile(unit, first_input, first_page);
      return;
    }
    if (transposed) {
      // transpose_wh_tile on the Tensix: the tile passes through unpack, Dst and pack.
      add_whole_tile(unit, first_input, first_page);
      unit.compute += tile_pass_cycles(program_.spec(), inputs_[first_input].data_type(),
                                       outputs_[ref.output].data_type());
      return;
    }
    // Runs of consecutive elements inside one input face row, read straight into place.
    for_each_segment([&](const Element& first, std::uint32_t run) {
      const auto input = static_cast<std::uint32_t>(first.input);
      add_read(unit, input, first.page, share_of_tile(run, in_maps_[input].page_bytes()));
    });
  }

  // Calls on_segment(first element, length) for every run of consecutive elements of elements_
  // that lies inside one input face row (in row order).
  template <class OnSegment>
  void for_each_segment(OnSegment&& on_segment) const {
    for (std::uint32_t r = 0; r < kTileHeight; ++r) {
      if (!row_has_source_[r]) continue;
      std::uint32_t run = 0;
      const Element* start = nullptr;
      const Element* prev = nullptr;
      auto close = [&] {
        if (run > 0) on_segment(*start, run);
        run = 0;
      };
      for (std::uint32_t c = 0; c < kTileWidth; ++c) {
        const Element& e = elements_[r * kTileWidth + c];
        if (e.input < 0) {
          close();
          prev = nullptr;
          continue;
        }
        const bool extends = prev != nullptr && c % kFaceWidth != 0 && e.input == prev->input &&
                             e.page == prev->page && e.row == prev->row && e.col == prev->col + 1 &&
                             e.col % kFaceWidth != 0;
        if (!extends) {
          close();
          start = &e;
        }
        ++run;
        prev = &e;
      }
      close();
    }
  }

  // Bytes of `elements` elements of a tile of `tile_bytes` (block-float formats have no
  // per-element size: their share of the tile, rounded up).
  static std::uint32_t share_of_tile(std::uint32_t elements, std::uint64_t tile_bytes) {
    return static_cast<std::uint32_t>(
        (static_cast<std::uint64_t>(elements) * tile_bytes + kTileHeight * kTileWidth - 1) /
        (kTileHeight * kTileWidth));
  }

  // tt-metal's tiled reshape for one output tile whose sources are in elements_: the map page
  // (its size is set once every tile is planned, see build_gather), the distinct input tiles in
  // ascending page order (the host map groups segments by input page), one read at a time, and a
  // local write per segment: a run of consecutive elements inside one input face row.
  void add_whole_source_tiles(Unit& unit, const PageRef& ref) {
    unit.reads.push_back(Transfer{program_.fabric().dram_bank(static_cast<std::uint32_t>(
                                      ref.page % program_.spec().dram.banks.size())),
                                  0});
    unit.dependent_after = 1;  // the tile reads' addresses come from the map page
    unit.serial_reads = true;
    std::set<std::pair<std::uint32_t, std::uint64_t>> tiles;
    std::uint32_t segments = 0;
    const noc::Endpoint self = program_.fabric().worker(unit_core_.x, unit_core_.y);
    const std::uint64_t tile = out_maps_[ref.output].page_bytes();
    for_each_segment([&](const Element& first, std::uint32_t run) {
      tiles.emplace(static_cast<std::uint32_t>(first.input), first.page);
      unit.writes.push_back(Transfer{self, share_of_tile(run, tile)});
      ++segments;
    });
    const std::uint64_t in_bytes_before = unit.in_bytes;
    std::uint64_t largest_tile = 0;
    for (const auto& [input, page] : tiles) {
      add_read(unit, input, page, in_maps_[input].page_bytes());
      largest_tile = std::max<std::uint64_t>(largest_tile, in_maps_[input].page_bytes());
    }
    // In tt-metal the tiles pass one at a time through a one-tile buffer, the writer copying each
    // out before the next is read. Here the unit's reads all land before its copies start, which
    // takes the same serial time; L1 is charged for one tile, as tt-metal allocates.
    unit.in_bytes = std::min(unit.in_bytes, in_bytes_before + largest_tile);
    max_segments_ = std::max(max_segments_, segments);
  }

  // One output ROW_MAJOR page: runs of consecutive elements of one input page.
  void add_row_page(Unit& unit, const PageRef& ref) {
    const TensorSpec& spec = outputs_[ref.output];
    const auto [row, first_col, end_col] = row_range(ref);
    Coord4 at = coord_of_row(spec.padded_shape(), row, 0);
    std::uint32_t run = 0;
    std::int64_t run_input = -1;
    std::uint64_t run_page = 0;
    std::uint64_t prev_offset = 0;
    auto close = [&] {
      if (run == 0) return;
      const auto input = static_cast<std::uint32_t>(run_input);
      add_read(unit, input, run_page, run * element_bytes(inputs_[input].data_type()));
      run = 0;
    };
    for (std::uint32_t x = first_col, next = 0; x < end_col; x = next) {
      next = same_input_page_until(ref.output, x, end_col);
      at[3] = x;
      const Source src = map_.source(ref.output, at);
      if (src.fill) {
        close();
        run_input = -1;
        continue;
      }
      const PageMap& in = in_maps_[src.input];
      const std::uint64_t in_row = physical_row(inputs_[src.input].padded_shape(), src.at);
      const std::uint64_t page = in.page_of(in_row, src.at[3]);
      const std::uint64_t offset = src.at[3] % in.page_width();
      const bool extends = run > 0 && run_input == static_cast<std::int64_t>(src.input) &&
                           page == run_page && offset == prev_offset + 1;
      if (!extends) {
        close();
        run_input = src.input;
        run_page = page;
      }
      run += next - x;  // [x, next) are consecutive elements of one input page
      prev_offset = offset + (next - x - 1);
    }
    close();
  }

  struct Element {
    std::int32_t input{-1};
    std::uint64_t page{0};
    std::uint8_t row{0};
    std::uint8_t col{0};
  };

  Program& program_;
  const ElementMap& map_;
  const std::vector<TensorSpec>& inputs_;
  const std::vector<TensorSpec>& outputs_;
  std::vector<PageMap> in_maps_;
  std::vector<PageMap> out_maps_;
  bool sharded_input_{false};  // some input lives in L1 shards
  TileSources sources_{TileSources::Segments};
  std::uint32_t max_segments_{0};
  std::array<Element, kTileHeight * kTileWidth> elements_{};
  std::array<bool, kTileHeight> row_has_source_{};  // false: the row is all fill (padding)
  std::vector<std::pair<std::uint32_t, std::uint64_t>> whole_tiles_;
  CoreCoord unit_core_{};     // the core make_unit plans for
  bool output_local_{false};  // the output page being planned is in unit_core_'s L1
};

}  // namespace

// ---- coordinates ----

std::uint64_t physical_row(const Shape& padded, const Coord4& at) {
  const Coord4 d = padded.wzyx();
  return (static_cast<std::uint64_t>(at[0]) * d[1] + at[1]) * d[2] + at[2];
}

Coord4 coord_of_row(const Shape& padded, std::uint64_t row, std::uint32_t x) {
  const Coord4 d = padded.wzyx();
  const auto y = static_cast<std::uint32_t>(row % d[2]);
  const std::uint64_t rest = row / d[2];
  return Coord4{static_cast<std::uint32_t>(rest / d[1]), static_cast<std::uint32_t>(rest % d[1]), y,
                x};
}

bool inside(const Shape& shape, const Coord4& at) {
  const Coord4 d = shape.wzyx();
  return at[0] < d[0] && at[1] < d[1] && at[2] < d[2] && at[3] < d[3];
}

// ---- values ----

void round_to_format(std::vector<float>& values, const TensorSpec& spec) {
  const DataType type = spec.data_type();
  if (type == DataType::UInt32 || type == DataType::Int32 || type == DataType::Float32) return;
  numerics::quantize(values, static_cast<std::size_t>(spec.physical_height()),
                     spec.physical_width(), type, numerics::BfpRounding::DevicePacker);
}

std::vector<Tensor> gather_values(const ElementMap& map, const std::vector<Tensor>& inputs,
                                  const std::vector<TensorSpec>& outputs) {
  std::vector<const std::vector<float>*> values;
  std::vector<const std::vector<float>*> goldens;
  std::vector<Coord4> dims;
  for (const Tensor& t : inputs) {
    values.push_back(&t.values());
    goldens.push_back(t.has_golden() ? &t.golden() : &t.values());
    dims.push_back(t.spec().padded_shape().wzyx());
  }
  std::vector<Tensor> result;
  for (std::size_t k = 0; k < outputs.size(); ++k) {
    const TensorSpec& spec = outputs[k];
    const Coord4 d = spec.padded_shape().wzyx();
    auto out = std::make_shared<std::vector<float>>(spec.padded_shape().volume());
    auto golden = std::make_shared<std::vector<float>>(spec.padded_shape().volume());
    // Element maps are read-only (the planner shares them between threads too), so rows are
    // gathered on all cores.
    const std::size_t rows = static_cast<std::size_t>(d[0]) * d[1] * d[2];
    sim::run_ranges(
        rows, sim::kParallelValues / d[3] + 1, [&](std::size_t first, std::size_t last) {
          for (std::size_t row = first; row < last; ++row) {
            Coord4 at{static_cast<std::uint32_t>(row / (static_cast<std::size_t>(d[1]) * d[2])),
                      static_cast<std::uint32_t>(row / d[2] % d[1]),
                      static_cast<std::uint32_t>(row % d[2]), 0};
            std::size_t index = row * d[3];
            for (; at[3] < d[3]; ++at[3], ++index) {
              const Source src = map.source(k, at);
              if (src.fill) {
                (*out)[index] = (*golden)[index] = src.fill_value;
                continue;
              }
              const Coord4& sd = dims.at(src.input);
              if (!(src.at[0] < sd[0] && src.at[1] < sd[1] && src.at[2] < sd[2] &&
                    src.at[3] < sd[3])) {
                throw std::logic_error("data movement element map points outside input " +
                                       std::to_string(src.input));
              }
              const std::uint64_t offset =
                  ((static_cast<std::uint64_t>(src.at[0]) * sd[1] + src.at[1]) * sd[2] +
                   src.at[2]) *
                      sd[3] +
                  src.at[3];
              (*out)[index] = (*values[src.input])[offset];
              (*golden)[index] = (*goldens[src.input])[offset];
            }
          }
        });
    round_to_format(*out, spec);
    result.emplace_back(spec, out, golden);
  }
  return result;
}

// ---- pages ----

PageMap::PageMap(const TensorSpec& spec, const noc::ChipFabric& fabric)
    : spec_(spec),
      fabric_(fabric),
      tiles_(spec_, fabric),
      tiled_(spec.layout() == Layout::Tile),
      page_bytes_(spec.page_size_bytes()),
      page_width_(tiled_ ? kTileWidth : spec.page_shape()[1]),
      num_pages_(spec.num_pages()),
      pages_across_(tiled_ ? spec.width_tiles()
                           : (spec.is_sharded() ? spec.shards_along_width() : 1)),
      banks_(num_interleaved_banks(spec.memory_config().buffer_type(), fabric.spec())) {
  if (!tiled_ && spec.is_sharded()) {
    shard_rows_ = spec.shard_spec().height();
    shard_cores_ = spec.shard_spec().grid.cores(spec.shard_spec().orientation);
  }
}

std::uint64_t PageMap::page_of(std::uint64_t row, std::uint32_t col) const {
  if (tiled_) return (row / kTileHeight) * pages_across_ + col / kTileWidth;
  return row * pages_across_ + col / page_width_;
}

CoreCoord PageMap::rm_shard_core(std::uint64_t page) const {
  const std::uint64_t row = page / pages_across_;
  const std::uint64_t index = (row / shard_rows_) * pages_across_ + page % pages_across_;
  return shard_cores_.at(index);
}

noc::Endpoint PageMap::endpoint(std::uint64_t page) const {
  if (tiled_) return tiles_.tile(page / pages_across_, page % pages_across_);
  const bool dram = spec_.memory_config().is_dram();
  if (spec_.is_sharded()) {
    const CoreCoord core = rm_shard_core(page);
    return dram ? fabric_.dram_bank(core.x) : fabric_.worker(core.x, core.y);
  }
  const auto bank = static_cast<std::uint32_t>(page % banks_);
  if (dram) return fabric_.dram_bank(bank);
  const CoreCoord core = l1_bank_core(bank, fabric_.spec());
  return fabric_.worker(core.x, core.y);
}

std::optional<CoreCoord> PageMap::l1_core(std::uint64_t page) const {
  if (spec_.memory_config().is_dram()) return std::nullopt;
  if (tiled_) return tiles_.owner(page / pages_across_, page % pages_across_);
  if (spec_.is_sharded()) return rm_shard_core(page);
  return l1_bank_core(static_cast<std::uint32_t>(page % banks_), fabric_.spec());
}

bool PageMap::local_to(std::uint64_t page, CoreCoord core) const {
  const std::optional<CoreCoord> holder = l1_core(page);
  return holder.has_value() && *holder == core;
}

// ---- programs ----

void launch(Program& program, std::vector<CoreWork> work, bool compute_stage, bool two_readers) {
  auto state = std::make_shared<std::vector<CoreWork>>(std::move(work));
  program.keep_alive(state);
  bool any = false;
  for (const CoreWork& core_work : *state) {
    if (core_work.units.empty()) continue;
    any = true;
    std::uint64_t max_in = 1;
    std::uint64_t max_out = 1;
    bool reads = false;
    bool writes = false;
    bool serial = false;
    for (const Unit& unit : core_work.units) {
      max_in = std::max(max_in, unit.in_bytes);
      max_out = std::max(max_out, unit.out_bytes);
      reads = reads || !unit.reads.empty();
      writes = writes || !unit.writes.empty();
      serial = serial || unit.serial_reads;
    }
    const CoreCoord core = core_work.core;
    if (two_readers && !compute_stage && !writes) {
      const std::size_t half = (core_work.units.size() + 1) / 2;
      program.add_kernel(
          core, Risc::Ncrisc,
          pull_kernel(core_work, 0, half, program.noc_port(core, Risc::Ncrisc, kReaderNoc)));
      program.add_kernel(core, Risc::Brisc,
                         pull_kernel(core_work, half, core_work.units.size(),
                                     program.noc_port(core, Risc::Brisc, kWriterNoc)));
      continue;
    }
    // Without reads the data is the core's own input shard; without a compute stage or writes
    // the reads land straight in the core's output shard.
    const bool in_backed = !reads || (!compute_stage && !writes);
    // Double-buffered, except for serial units: the tiled reshape's one-page buffers make each
    // output tile wait until the previous one has been written.
    sim::CircularBuffer& in_cb =
        program.create_cb(core, "dm_in", serial ? 1 : 2, to_u32(max_in, "a unit"), in_backed);
    sim::CircularBuffer* to_writer = &in_cb;
    program.add_kernel(
        core, Risc::Ncrisc,
        reader_kernel(core_work, in_cb, program.noc_port(core, Risc::Ncrisc, kReaderNoc)));
    if (compute_stage) {
      sim::CircularBuffer& out_cb =
          program.create_cb(core, "dm_out", 2, to_u32(max_out, "a unit"), !writes);
      program.add_kernel(core, Risc::Trisc0, compute_kernel(program, core_work, in_cb, out_cb));
      to_writer = &out_cb;
    }
    program.add_kernel(
        core, Risc::Brisc,
        writer_kernel(core_work, *to_writer, program.noc_port(core, Risc::Brisc, kWriterNoc)));
  }
  if (!any) launch_noop(program);
}

void launch_noop(Program& program) {
  program.add_kernel(CoreCoord{0, 0}, Risc::Brisc, noop_kernel());
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> split_evenly(std::uint64_t items,
                                                                  std::uint32_t max_cores) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  if (items == 0 || max_cores == 0) return ranges;
  const std::uint64_t cores = std::min<std::uint64_t>(items, max_cores);
  const std::uint64_t base = items / cores;
  const std::uint64_t extra = items % cores;
  std::uint64_t begin = 0;
  for (std::uint64_t i = 0; i < cores; ++i) {
    const std::uint64_t n = base + (i < extra ? 1 : 0);
    ranges.emplace_back(begin, begin + n);
    begin += n;
  }
  return ranges;
}

CoreCoord grid_core(std::uint32_t index, const arch::DeviceSpec& device) {
  return CoreCoord{index % device.worker_grid_x(), index / device.worker_grid_x()};
}

sim::Cycle tile_pass_cycles(const arch::DeviceSpec& spec, DataType in, DataType out) {
  return std::max(unpack_tile_cycles(spec, in), pack_tile_cycles(spec, out));
}

std::uint32_t pages_per_unit(const arch::DeviceSpec& spec, const TensorSpec& output) {
  const std::uint32_t tiles = dst_tiles(spec, ComputeKernelConfig{});
  if (output.layout() == Layout::Tile) return tiles;
  const std::uint64_t budget = static_cast<std::uint64_t>(tiles) * tile_bytes(output.data_type());
  return static_cast<std::uint32_t>(std::max<std::uint64_t>(1, budget / output.page_size_bytes()));
}

std::string coord_text(const Coord4& c) {
  return "[" + std::to_string(c[0]) + "," + std::to_string(c[1]) + "," + std::to_string(c[2]) +
         "," + std::to_string(c[3]) + "]";
}

namespace {

// Plans of earlier gathers. A plan depends only on the map, the specs and the device (pages go
// to banks and cores by index, not by address), so an op seen before reuses it exactly.
struct CachedGather {
  std::vector<CoreWork> work;
  bool compute_stage{false};
};
// Enough for the distinct data-movement ops of the largest zoo model; cleared when full.
constexpr std::size_t kGatherCacheEntries = 512;
// Plans with more transfers than this are not kept (memory).
constexpr std::size_t kGatherCacheMaxTransfers = 1u << 20;
// Gathers of at least this many page references (output pages, or pieces of ROW_MAJOR pages
// split between the cores holding their sources) are planned on several threads (starting a
// thread costs about as much as planning a few dozen pages).
constexpr std::size_t kParallelGatherPages = 256;
constexpr std::size_t kMaxGatherThreads = 8;

std::atomic<std::size_t> gather_planning_threads{0};

std::unordered_map<std::string, CachedGather>& gather_cache() {
  thread_local std::unordered_map<std::string, CachedGather> cache;
  return cache;
}

}  // namespace

void set_gather_planning_threads(std::size_t threads) {
  gather_planning_threads.store(threads, std::memory_order_relaxed);
  gather_cache().clear();
}

void build_gather(Program& program, const ElementMap& map, const std::vector<TensorSpec>& inputs,
                  const std::vector<TensorSpec>& outputs, bool two_readers, TileSources sources) {
  const arch::DeviceSpec& device = program.spec();
  const bool whole_tiles =
      sources == TileSources::WholeTiles && outputs.front().layout() == Layout::Tile;
  std::string key = map.cache_key();
  if (!key.empty()) {
    key +=
        "|" + device.name + "|" + (two_readers ? "2" : "1") + (whole_tiles ? "|whole-tiles" : "");
    for (const TensorSpec& t : inputs) key += "|" + to_string(t);
    key += "|->";
    for (const TensorSpec& t : outputs) key += "|" + to_string(t);
    const auto hit = gather_cache().find(key);
    if (hit != gather_cache().end()) {
      launch(program, hit->second.work, hit->second.compute_stage, two_readers);
      return;
    }
  }
  const TileSources plan_sources = whole_tiles ? TileSources::WholeTiles : TileSources::Segments;
  GatherPlanner planner(program, map, inputs, outputs, plan_sources);
  std::map<CoreCoord, std::vector<PageRef>> per_core;
  std::vector<PageRef> unassigned;
  for (std::uint32_t k = 0; k < outputs.size(); ++k) {
    const std::uint64_t pages = outputs[k].num_pages();
    for (std::uint64_t p = 0; p < pages; ++p) {
      planner.assign(PageRef{k, p, 0, 0}, per_core, unassigned);
    }
  }
  const auto ranges = split_evenly(unassigned.size(), device.worker_count());
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    std::vector<PageRef>& list = per_core[grid_core(static_cast<std::uint32_t>(i), device)];
    list.insert(list.end(), unassigned.begin() + static_cast<std::ptrdiff_t>(ranges[i].first),
                unassigned.begin() + static_cast<std::ptrdiff_t>(ranges[i].second));
  }
  // Units are planned core by core; large gathers (a few ops of a model, but most of its
  // planning time) are split over threads, each with its own planner. Every core's units are
  // the same whichever thread plans them, and they are collected in core order, so the
  // program does not depend on the thread count.
  const std::vector<std::pair<CoreCoord, std::vector<PageRef>>> cores(
      std::make_move_iterator(per_core.begin()), std::make_move_iterator(per_core.end()));
  std::vector<CoreWork> work(cores.size());
  std::vector<char> core_computes(cores.size(), 0);
  std::size_t total_pages = 0;
  for (const auto& entry : cores) total_pages += entry.second.size();
  const std::size_t wanted = gather_planning_threads.load(std::memory_order_relaxed);
  const std::size_t threads =
      total_pages < kParallelGatherPages
          ? 1
          : std::clamp<std::size_t>(wanted > 0 ? wanted : std::thread::hardware_concurrency(), 1,
                                    std::min(kMaxGatherThreads, cores.size()));
  // Thread t plans the cores whose pages start in the t-th share of all pages.
  std::vector<std::size_t> bounds{0};
  for (std::size_t i = 0, seen = 0; i < cores.size(); ++i) {
    if (bounds.size() < threads && seen * threads >= total_pages * bounds.size() && i > 0)
      bounds.push_back(i);
    seen += cores[i].second.size();
  }
  bounds.push_back(cores.size());
  // Each share plans with its own planner (they keep per-tile scratch state).
  std::vector<std::uint32_t> share_segments(bounds.size() - 1, 0);
  sim::run_shares(bounds.size() - 1, [&](std::size_t t) {
    GatherPlanner share_planner(program, map, inputs, outputs, plan_sources);
    for (std::size_t i = bounds[t]; i < bounds[t + 1]; ++i) {
      const auto& [core, pages] = cores[i];
      CoreWork& core_work = work[i];
      core_work.core = core;
      std::vector<PageRef> group;
      auto flush = [&] {
        if (group.empty()) return;
        core_work.units.push_back(share_planner.make_unit(core, group));
        if (core_work.units.back().compute > 0) core_computes[i] = 1;
        group.clear();
      };
      for (const PageRef& ref : pages) {
        // The tiled reshape handles one output tile at a time.
        const std::uint32_t unit_pages =
            whole_tiles ? 1 : pages_per_unit(device, outputs[ref.output]);
        if (!group.empty() && (group.front().output != ref.output || group.size() >= unit_pages)) {
          flush();
        }
        group.push_back(ref);
      }
      flush();
    }
    share_segments[t] = share_planner.max_segments();
  });
  const std::uint32_t max_segments =
      *std::max_element(share_segments.begin(), share_segments.end());
  const bool compute_stage =
      std::find(core_computes.begin(), core_computes.end(), 1) != core_computes.end();
  if (whole_tiles) {
    // Every map page has the size of the longest one. tt-metal's host map is somewhat larger: it
    // pads each input tile's segment list to the longest in that output tile and adds entries for
    // L1 alignment; it also merges runs that continue across face rows, which this count splits.
    const std::uint32_t map_bytes =
        std::max<std::uint32_t>(1, max_segments) * kSegmentMapEntryBytes;
    for (CoreWork& core_work : work) {
      for (Unit& unit : core_work.units) {
        // A serial unit is one add_whole_source_tiles made: its first read is the map page.
        if (unit.serial_reads && !unit.reads.empty()) {
          unit.reads.front().bytes = map_bytes;
          unit.in_bytes += map_bytes;
        }
      }
    }
  }
  if (!key.empty()) {
    std::size_t transfers = 0;
    for (const CoreWork& w : work) {
      for (const Unit& u : w.units) transfers += u.reads.size() + u.writes.size();
    }
    if (transfers <= kGatherCacheMaxTransfers) {
      if (gather_cache().size() >= kGatherCacheEntries) gather_cache().clear();
      gather_cache().emplace(key, CachedGather{work, compute_stage});
    }
  }
  launch(program, std::move(work), compute_stage, two_readers);
}

// ---- blocked programs ----

void assign_unowned_rows(std::vector<Block>& blocks, const arch::DeviceSpec& device) {
  std::vector<std::uint64_t> rows;  // groups, in order
  for (const Block& b : blocks) {
    if (!b.core && (rows.empty() || rows.back() != b.group)) rows.push_back(b.group);
  }
  const auto ranges = split_evenly(rows.size(), device.worker_count());
  std::map<std::uint64_t, CoreCoord> row_core;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    for (std::uint64_t j = ranges[i].first; j < ranges[i].second; ++j) {
      row_core[rows[j]] = grid_core(static_cast<std::uint32_t>(i), device);
    }
  }
  for (Block& b : blocks) {
    if (!b.core) b.core = row_core.at(b.group);
  }
}

std::uint32_t row_block_columns(std::uint64_t rows, std::uint32_t columns,
                                const arch::DeviceSpec& device) {
  const std::uint64_t cores = device.worker_count();
  const bool wide = columns > kWideRowTiles && (rows > kWideRowTiles || columns > rows);
  if (!wide || rows >= cores) return columns;
  // Enough column blocks per row that every core gets one.
  const std::uint64_t per_row = (cores + rows - 1) / rows;
  return static_cast<std::uint32_t>((columns + per_row - 1) / per_row);
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> column_chunks(
    std::uint32_t columns, std::uint32_t cap, std::vector<std::uint32_t> cuts) {
  cuts.push_back(0);
  cuts.push_back(columns);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  std::vector<std::pair<std::uint32_t, std::uint32_t>> chunks;
  const std::uint32_t limit = std::max<std::uint32_t>(1, cap);
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    if (cuts[i] >= columns) break;
    const std::uint32_t end = std::min(cuts[i + 1], columns);
    for (std::uint32_t c = cuts[i]; c < end; c += limit)
      chunks.emplace_back(c, std::min(end, c + limit));
  }
  return chunks;
}

std::vector<std::uint32_t> shard_column_cuts(const TensorSpec& spec) {
  std::vector<std::uint32_t> cuts;
  if (!spec.is_sharded()) return cuts;
  const std::uint32_t shard_width = spec.shard_spec().width();
  for (std::uint64_t col = shard_width; col < spec.physical_width(); col += shard_width) {
    cuts.push_back(static_cast<std::uint32_t>(col / kTileWidth));
  }
  return cuts;
}

std::uint32_t block_cap(const arch::DeviceSpec& device, std::uint64_t in_bytes_per_tile,
                        std::uint64_t out_bytes_per_tile) {
  const std::uint64_t per_tile = 2 * (in_bytes_per_tile + out_bytes_per_tile);
  return static_cast<std::uint32_t>(
      std::max<std::uint64_t>(1, (device.l1.usable_bytes / 2) / per_tile));
}

void append_row_transfers(std::vector<Transfer>& transfers, std::uint64_t& bytes,
                          const PageMap& map, std::uint64_t row, std::uint32_t x0, std::uint32_t x1,
                          CoreCoord core) {
  const std::uint32_t element = element_bytes(map.spec().data_type());
  const std::uint32_t width = map.page_width();
  for (std::uint32_t x = x0; x < x1;) {
    const std::uint64_t page = map.page_of(row, x);
    const std::uint32_t end = std::min(x1, (x / width + 1) * width);
    if (!map.local_to(page, core)) {
      transfers.push_back(Transfer{map.endpoint(page), (end - x) * element});
      bytes += static_cast<std::uint64_t>(end - x) * element;
    }
    x = end;
  }
}

std::vector<CoreWork> group_by_core(std::vector<std::pair<CoreCoord, Unit>> units) {
  std::map<CoreCoord, std::vector<Unit>> per_core;
  for (auto& [core, unit] : units) per_core[core].push_back(std::move(unit));
  std::vector<CoreWork> work;
  for (auto& [core, list] : per_core) work.push_back(CoreWork{core, std::move(list)});
  return work;
}

// ---- memory configs ----

MemoryConfig resolve_memory(const OutputMemory& request, const TensorSpec& output,
                            const MemoryConfig& fallback, const arch::DeviceSpec& device,
                            const std::string& op) {
  MemoryConfig config = fallback;
  try {
    if (request.config) {
      config = *request.config;
    } else if (!request.keyword.empty()) {
      const std::uint32_t gx = request.grid_x > 0 ? request.grid_x : device.worker_grid_x();
      const std::uint32_t gy = request.grid_y > 0 ? request.grid_y : device.worker_grid_y();
      config = memory_config_from_keyword(request.keyword, output, gx, gy, device);
    }
    validate_for_device(output.with_memory_config(config), device);
  } catch (const Error& error) {
    throw Error(op + ": the output " + to_string(output.logical_shape()) + " " +
                std::string(to_string(output.layout())) +
                " cannot be placed as requested: " + error.what());
  }
  return config;
}

MemoryConfig like_input(const TensorSpec& input, const TensorSpec& output,
                        const arch::DeviceSpec& device) {
  const MemoryConfig& memory = input.memory_config();
  if (!memory.is_sharded()) return memory;
  // The input's own shard spec when it fits the output unchanged, else the same kind of
  // sharding re-derived on the same grid.
  try {
    const TensorSpec same = output.with_memory_config(memory);
    validate_for_device(same, device);
    return memory;
  } catch (const Error&) {
  }
  try {
    const ShardSpec& shard = *memory.shard_spec();
    MemoryConfig derived;
    if (memory.is_dram()) {
      derived = dram_width_sharded(output, device);
    } else if (memory.layout() == TensorMemoryLayout::HeightSharded) {
      derived = height_sharded(output, shard.grid, shard.orientation);
    } else if (memory.layout() == TensorMemoryLayout::WidthSharded) {
      derived = width_sharded(output, shard.grid, shard.orientation);
    } else {
      derived = block_sharded(output, shard.grid.bounding_box(), shard.orientation);
    }
    validate_for_device(output.with_memory_config(derived), device);
    return derived;
  } catch (const Error&) {
    return MemoryConfig::dram_interleaved();
  }
}

std::string attribute_memory(const std::optional<MemoryConfig>& resolved,
                             const OutputMemory& request) {
  if (resolved) return to_csv_attribute_string(*resolved);
  if (request.config) return to_csv_attribute_string(*request.config);
  return request.keyword.empty() ? std::string("default") : request.keyword;
}

}  // namespace wormsim::ops::dm
