#include "ops/conv/halo.hpp"

#include <algorithm>

#include "ops/compute_config.hpp"

namespace wormsim::ops {
namespace {

using noc::NocId;
using sim::Task;

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

// Rows of the input shard of core i (sharded input).
std::uint64_t shard_rows(const HaloPlan& plan, std::size_t i) {
  const std::uint64_t first = i * plan.input_shard_rows;
  const std::uint64_t height = plan.input.physical_height();
  if (first >= height) return 0;
  return std::min(plan.input_shard_rows, height - first);
}

// Tile rows an interleaved TILE input's destination reads: those covering its real sticks.
std::pair<std::uint64_t, std::uint64_t> fetched_tile_rows(const HaloPlan& plan, std::size_t g,
                                                          std::size_t i) {
  std::uint64_t lo = ~0ull;
  std::uint64_t hi = 0;
  for (const HaloPiece& piece : plan.pieces) {
    if (piece.group != g || piece.dest != i) continue;
    lo = std::min(lo, piece.first_stick / kTileHeight);
    hi = std::max(hi, (piece.first_stick + piece.count - 1) / kTileHeight + 1);
  }
  if (lo == ~0ull) return {0, 0};
  return {lo, hi - lo};
}

CoreCoord core_of(const HaloPlan& plan, std::size_t g, std::size_t i) {
  return plan.partition.groups.at(g).at(i);
}

}  // namespace

Task raise_semaphore_at(sim::Engine& engine, sim::Semaphore& semaphore, sim::Cycle when) {
  co_await engine.until(when);
  semaphore.increment();
}

Task read_local_runs(Program& program, noc::NocPort& port, CoreCoord core, std::uint64_t commands,
                     std::uint64_t bytes) {
  if (bytes == 0) co_return;
  const arch::NocSpec& noc = program.spec().noc;
  const std::uint64_t packets = div_up(bytes, noc.max_packet_bytes);
  co_await port.read(program.fabric().worker(core.x, core.y), bytes);
  // One command per run: the RISC issues the ones the single booked read did not pay for.
  if (commands > packets)
    co_await program.engine().delay((commands - packets) * noc.request_issue_cycles);
  co_await port.read_barrier();
}

Task write_local_runs(Program& program, noc::NocPort& port, CoreCoord core, std::uint64_t commands,
                      std::uint64_t bytes) {
  if (bytes == 0) co_return;
  const arch::NocSpec& noc = program.spec().noc;
  const std::uint64_t packets = div_up(bytes, noc.max_packet_bytes);
  co_await port.write(program.fabric().worker(core.x, core.y), bytes);
  if (commands > packets)
    co_await program.engine().delay((commands - packets) * noc.request_issue_cycles);
  co_await port.writes_flushed();
}

noc::Rect core_group_rect(Program& program, const std::vector<CoreCoord>& group) {
  noc::Coord lo = program.noc_coord(group.front());
  noc::Coord hi = lo;
  for (CoreCoord c : group) {
    const noc::Coord n = program.noc_coord(c);
    lo.x = std::min(lo.x, n.x);
    lo.y = std::min(lo.y, n.y);
    hi.x = std::max(hi.x, n.x);
    hi.y = std::max(hi.y, n.y);
  }
  return noc::Rect{lo, hi};
}

noc::Endpoint interleaved_page_endpoint(const TensorSpec& spec, std::uint64_t page,
                                        const noc::ChipFabric& fabric) {
  const std::uint32_t banks =
      num_interleaved_banks(spec.memory_config().buffer_type(), fabric.spec());
  const auto bank = static_cast<std::uint32_t>(page % banks);
  if (spec.memory_config().is_dram()) return fabric.dram_bank(bank);
  const CoreCoord core = l1_bank_core(bank, fabric.spec());
  return fabric.worker(core.x, core.y);
}

HaloCbs create_halo_cbs(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
                        bool buffer_is_output) {
  const CoreCoord core = core_of(plan, g, i);
  HaloCbs cbs;
  program.create_cb(core, "halo_buffer",
                    static_cast<std::uint32_t>(std::max<std::uint64_t>(plan.max_window_sticks, 1)),
                    plan.stick_bytes, buffer_is_output);
  if (plan.input.layout() != Layout::Tile) return cbs;
  const std::uint32_t row_bytes = plan.stick_bytes * kTileHeight;
  if (plan.input_sharded) {
    cbs.untilize_rows = div_up(shard_rows(plan, i), kTileHeight);
    // tt-metal's halo untilizes one tile row at a time into two double-buffered CBs (one per
    // reader, untilize_with_halo_program_factory.cpp), and the readers scatter each row's
    // sticks from there. That L1 is allocated here; the rows' progress is tracked over the
    // whole shard without L1 of its own, so the untilize may run ahead of the sends (the real
    // CBs would hold it at two rows per reader).
    program.create_cb(core, "halo_untilize_out", halo_untilize_out_tiles(plan),
                      tile_bytes(plan.stick_type));
    cbs.untilized = &program.create_cb(
        core, "halo_untilized_rows",
        static_cast<std::uint32_t>(std::max<std::uint64_t>(cbs.untilize_rows, 1)), row_bytes,
        /*backed_by_tensor=*/true);
  } else {
    const auto [first, rows] = fetched_tile_rows(plan, g, i);
    cbs.first_tile_row = first;
    cbs.untilize_rows = rows;
    // Double-buffered tile rows in; the untilized sticks land in the halo buffer itself.
    cbs.fetched = &program.create_cb(core, "halo_fetched", 2 * plan.input_slice_tiles,
                                     tile_bytes(plan.input.data_type()));
    cbs.untilized = &program.create_cb(core, "halo_untilized",
                                       static_cast<std::uint32_t>(std::max<std::uint64_t>(rows, 1)),
                                       row_bytes, /*backed_by_tensor=*/true);
  }
  return cbs;
}

std::uint32_t halo_untilize_out_tiles(const HaloPlan& plan) {
  // Two readers x double buffering x one tile row of the shard's channel tiles.
  return 2 * 2 * plan.input_slice_tiles;
}

Task halo_untilize(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
                   HaloCbs cbs) {
  if (plan.input.layout() != Layout::Tile || cbs.untilize_rows == 0) co_return;
  const arch::DeviceSpec& spec = program.spec();
  const CoreCoord core = core_of(plan, g, i);
  const sim::Cycle per_row =
      static_cast<sim::Cycle>(plan.input_slice_tiles) *
      (unpack_tile_cycles(spec, plan.input.data_type()) + pack_tile_cycles(spec, plan.stick_type));
  for (std::uint64_t r = 0; r < cbs.untilize_rows; ++r) {
    if (cbs.fetched != nullptr) co_await cbs.fetched->wait_front(plan.input_slice_tiles);
    co_await program.compute(core, per_row);
    if (cbs.fetched != nullptr) cbs.fetched->pop_front(plan.input_slice_tiles);
    co_await cbs.untilized->reserve_back(1);
    cbs.untilized->push_back(1);
  }
}

Task halo_send(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
               std::size_t share, std::size_t shares, noc::NocPort& port, HaloCbs cbs) {
  if (!plan.input_sharded) co_return;
  sim::Engine& engine = program.engine();
  const noc::ChipFabric& fabric = program.fabric();
  const std::uint64_t shard_first = i * plan.input_shard_rows;
  std::size_t mine = 0;
  for (const HaloPiece& piece : plan.pieces) {
    if (piece.group != g || piece.source != i) continue;
    if (mine++ % shares != share) continue;
    if (cbs.untilized != nullptr) {
      // The run can leave once the tile rows holding it are untilized.
      const std::uint64_t last_local = piece.first_stick + piece.count - 1 - shard_first;
      co_await cbs.untilized->wait_front(static_cast<std::uint32_t>(last_local / kTileHeight + 1));
    }
    const CoreCoord dest = core_of(plan, g, piece.dest);
    co_await port.write(fabric.worker(dest.x, dest.y), piece.count * plan.stick_bytes);
    engine.spawn(raise_semaphore_at(engine, program.semaphore(dest, kHaloArrivedSemaphore),
                                    port.last_transfer().data_done));
  }
}

Task halo_gather(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
                 noc::NocPort& port, HaloCbs cbs) {
  sim::Engine& engine = program.engine();
  const noc::ChipFabric& fabric = program.fabric();
  const CoreCoord core = core_of(plan, g, i);
  const noc::Endpoint self = fabric.worker(core.x, core.y);
  sim::Semaphore& arrived = program.semaphore(core, kHaloArrivedSemaphore);
  // Padding sticks: copies of the pad value into the buffer.
  for (const StickRun& pad : plan.pad_runs[g][i]) {
    co_await port.write(self, pad.count * plan.stick_bytes);
    engine.spawn(raise_semaphore_at(engine, arrived, port.last_transfer().data_done));
  }
  if (!plan.input_sharded) {
    const TensorSpec& input = plan.input;
    if (input.layout() == Layout::RowMajor) {
      // One page per stick; a block-sharded op reads its channel slice of the page.
      for (const HaloPiece& piece : plan.pieces) {
        if (piece.group != g || piece.dest != i) continue;
        for (std::uint64_t s = piece.first_stick; s < piece.first_stick + piece.count; ++s) {
          co_await port.read(interleaved_page_endpoint(input, s, fabric), plan.stick_bytes);
        }
      }
      co_await port.read_barrier();
    } else if (cbs.untilize_rows > 0) {
      const TileLocator locator(input, fabric);
      const std::uint64_t col0 = g * plan.input_slice_tiles;
      for (std::uint64_t r = 0; r < cbs.untilize_rows; ++r) {
        co_await cbs.fetched->reserve_back(plan.input_slice_tiles);
        for (std::uint32_t t = 0; t < plan.input_slice_tiles; ++t) {
          co_await port.read(locator.tile(cbs.first_tile_row + r, col0 + t), locator.page_bytes());
        }
        co_await port.read_barrier();
        cbs.fetched->push_back(plan.input_slice_tiles);
      }
      co_await cbs.untilized->wait_front(static_cast<std::uint32_t>(cbs.untilize_rows));
    }
  }
  co_await arrived.wait_at_least(static_cast<std::int64_t>(plan.incoming[g][i]));
}

namespace {

// The standalone op's NCRISC: its share of the sends, then the gather.
Task halo_ncrisc(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
                 noc::NocPort& port, HaloCbs cbs) {
  co_await halo_send(program, plan, g, i, 0, 2, port, cbs);
  co_await halo_gather(program, plan, g, i, port, cbs);
}

}  // namespace

void add_halo_program(Program& program, const HaloPlan& plan, bool buffer_is_output) {
  for (std::size_t g = 0; g < plan.partition.groups.size(); ++g) {
    for (std::size_t i = 0; i < plan.partition.groups[g].size(); ++i) {
      const CoreCoord core = core_of(plan, g, i);
      const HaloCbs cbs = create_halo_cbs(program, plan, g, i, buffer_is_output);
      noc::NocPort& nc = program.noc_port(core, Risc::Ncrisc, NocId::Noc1);
      noc::NocPort& br = program.noc_port(core, Risc::Brisc, NocId::Noc0);
      program.add_kernel(core, Risc::Ncrisc, halo_ncrisc(program, plan, g, i, nc, cbs));
      program.add_kernel(core, Risc::Brisc, halo_send(program, plan, g, i, 1, 2, br, cbs));
      if (plan.input.layout() == Layout::Tile)
        program.add_kernel(core, Risc::Trisc0, halo_untilize(program, plan, g, i, cbs));
    }
  }
}

std::vector<float> gather_halo_values(const HaloPlan& plan, const std::vector<float>& input_values,
                                      const StickMap& map) {
  const std::size_t groups = plan.partition.groups.size();
  const std::size_t per_group = plan.partition.cores_per_group();
  const std::uint64_t cg = plan.partition.channels_per_group;
  const std::uint64_t out_width = cg * groups;
  const std::uint64_t in_width = plan.input.physical_width();
  std::vector<float> out(per_group * plan.max_window_sticks * out_width, 0.0f);
  for (std::size_t g = 0; g < groups; ++g) {
    for (std::size_t i = 0; i < per_group; ++i) {
      for (std::uint64_t k = 0; k < plan.window_count[g][i]; ++k) {
        const std::int64_t s = map(plan.window_first[g][i] + k);
        if (s < 0) continue;
        const std::uint64_t row = i * plan.max_window_sticks + k;
        const float* src = input_values.data() + static_cast<std::uint64_t>(s) * in_width + g * cg;
        std::copy(src, src + cg,
                  out.begin() + static_cast<std::ptrdiff_t>(row * out_width + g * cg));
      }
    }
  }
  return out;
}

// ---- HaloOp ----

const HaloPlan& HaloOp::plan() const {
  if (!plan_) throw Error("halo: plan() needs output_specs() to have run");
  return *plan_;
}

std::string HaloOp::attributes() const {
  if (!plan_) return "{}";
  const HaloPlan& p = *plan_;
  const MemoryConfig& memory = p.input.memory_config();
  const bool block = memory.layout() == TensorMemoryLayout::BlockSharded;
  const auto cores_nhw = static_cast<std::uint32_t>(p.partition.cores_per_group());
  const auto cores_c = static_cast<std::uint32_t>(p.partition.groups.size());
  std::string s = "{'config': '" +
                  options_.window.attribute_string(cores_nhw, cores_c, p.input.shard_spec().grid) +
                  "'; ";
  s += "'in_nsticks_per_core': '" + std::to_string(p.input_shard_rows) + "'; ";
  s += std::string("'is_out_tiled': '") + (options_.output_tile_aligned ? "true" : "false") + "'; ";
  s += "'max_out_nsticks_per_core': '" + std::to_string(p.max_window_sticks) + "'; ";
  s += "'pad_val': '0'; ";
  s += std::string("'parallel_config': 'ParallelConfig(shard_scheme=") +
       (block ? "BLOCK_SHARDED" : "HEIGHT_SHARDED") +
       "; shard_orientation=ROW_MAJOR)'; 'remote_read': 'false'; 'transpose_mcast': 'false'}";
  return s;
}

std::vector<TensorSpec> HaloOp::output_specs(const std::vector<TensorSpec>& inputs,
                                             const arch::DeviceSpec& device) const {
  const std::string op = "halo";
  if (inputs.size() != 1)
    throw Error(op + " takes one input, got " + std::to_string(inputs.size()));
  const TensorSpec& input = inputs[0];
  const SlidingWindow& w = options_.window;
  w.validate(op);
  const MemoryConfig& memory = input.memory_config();
  if (!memory.is_l1() || !memory.is_sharded() ||
      memory.layout() == TensorMemoryLayout::WidthSharded) {
    throw Error(op +
                ": the input must be L1 HEIGHT_SHARDED or BLOCK_SHARDED (TT-NN's halo works on "
                "shards), got " +
                std::string(to_string(memory.buffer_type())) + " " +
                std::string(to_string(memory.layout())) + "; shard the input first");
  }
  if (input.logical_shape().y() != w.input_sticks() ||
      input.logical_shape().w() * input.logical_shape().z() != 1) {
    throw Error(op + ": input " + to_string(input.logical_shape()) +
                " must be [1, 1, N*H*W, C] with N*H*W = " + std::to_string(w.input_sticks()) +
                " (batch_size x input_height x input_width)");
  }
  const bool block = memory.layout() == TensorMemoryLayout::BlockSharded;
  NhwPartition partition = partition_nhw(op, input, w.output_sticks(), input.physical_width(),
                                         block, options_.output_tile_aligned,
                                         device.worker_grid_x(), device.worker_grid_y(), device);
  plan_ = plan_window_halo(op, input, w, std::move(partition));
  const HaloPlan& p = *plan_;
  const auto rows = static_cast<std::uint32_t>(p.partition.cores_per_group() * p.max_window_sticks);
  const std::uint32_t width =
      p.partition.channels_per_group * static_cast<std::uint32_t>(p.partition.groups.size());
  ShardSpec shard;
  shard.grid = input.shard_spec().grid;
  shard.shape = {static_cast<std::uint32_t>(p.max_window_sticks), p.partition.channels_per_group};
  shard.orientation = input.shard_spec().orientation;
  const MemoryConfig out_memory(memory.layout(), BufferType::L1, shard);
  return {TensorSpec(Shape({1, 1, std::max<std::uint32_t>(rows, 1), width}), p.stick_type,
                     Layout::RowMajor, out_memory)};
}

std::vector<Tensor> HaloOp::compute(const std::vector<Tensor>& inputs,
                                    const std::vector<TensorSpec>& outputs) const {
  const Tensor& input = inputs[0];
  const HaloPlan& p = plan();
  const SlidingWindow& w = options_.window;
  const StickMap map = [&w](std::uint64_t i) { return w.input_stick(i); };
  auto values = std::make_shared<std::vector<float>>(gather_halo_values(p, input.values(), map));
  auto golden = std::make_shared<std::vector<float>>(
      gather_halo_values(p, input.has_golden() ? input.golden() : input.values(), map));
  values->resize(outputs[0].padded_shape().volume(), 0.0f);
  golden->resize(outputs[0].padded_shape().volume(), 0.0f);
  return {Tensor(outputs[0], values, golden)};
}

void HaloOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                   const std::vector<TensorSpec>& outputs) const {
  (void)inputs;
  (void)outputs;
  auto kept = std::make_shared<HaloPlan>(plan());
  program.keep_alive(kept);
  add_halo_program(program, *kept, /*buffer_is_output=*/true);
}

}  // namespace wormsim::ops
