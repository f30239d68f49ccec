#include "ops/normalization/row_program.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

namespace wormsim::ops {
namespace {

using sim::Cycle;
using sim::Task;

// Semaphores of the statistics exchange after pass p: gather = kExchangeSemaphoreBase + 2p
// (partials landed on the reducer), valid = gather + 1 (combined statistics landed).
constexpr std::uint32_t kExchangeSemaphoreBase = 16;

// How one core takes part in combining statistics across cores (TT-NN's sender / receiver
// scheme): every participant sends its partial statistic tiles to the domain's reducer core,
// the reducer's compute kernel folds them together and the reducer multicasts the combined
// tiles back to the participants.
struct CoreExchange {
  bool active{false};                                      // some domain of this core spans cores
  std::vector<std::pair<CoreCoord, std::uint64_t>> sends;  // reducer core, partial tiles sent to it
  std::int64_t expected_senders{0};                        // as a reducer: cores sending to it
  std::uint64_t gathered_tiles{0};                         // as a reducer: partial tiles it folds
  std::uint64_t reduced_tiles{0};    // as a reducer: combined tiles it multicasts
  std::vector<CoreCoord> receivers;  // as a reducer: cores receiving them
  std::int64_t remote_reducers{0};   // other cores whose results it waits for
  bool reducer() const { return reduced_tiles > 0; }
};

struct CorePlan {
  CoreTileBlock block;
  bool in_local{false};
  bool out_local{false};
  bool resident{true};  // the unit stays in L1 across passes (else re-read per pass)
  std::vector<std::pair<std::uint64_t, std::uint64_t>> units;  // (first tile row, rows)
  std::vector<std::uint64_t> unit_domains;                     // reduction domains per unit
  CoreExchange exchange;
};

struct RowState {
  explicit RowState(RowProgramSpec s) : spec(std::move(s)) {}
  RowProgramSpec spec;
  std::unique_ptr<TileLocator> in;
  std::unique_ptr<TileLocator> out;
  std::unique_ptr<TileLocator> row_operand;
  std::vector<std::unique_ptr<TileLocator>> columns;
  std::vector<CorePlan> cores;
};

struct CoreCbs {
  sim::CircularBuffer* in{nullptr};
  sim::CircularBuffer* out{nullptr};
  sim::CircularBuffer* row_operand{nullptr};
  std::vector<sim::CircularBuffer*> columns;
  sim::CircularBuffer* partial{nullptr};   // compute -> reader: this core's partial statistics
  sim::CircularBuffer* gathered{nullptr};  // reader -> compute (reducer): every partial has landed
  sim::CircularBuffer* combined{nullptr};  // compute -> reader (reducer): the folded statistics
  sim::CircularBuffer* stats{nullptr};     // reader -> compute: the global statistics
};

Task raise_at(sim::Engine& engine, sim::Semaphore& semaphore, Cycle when) {
  co_await engine.until(when);
  semaphore.increment();
}

noc::Rect bounding_rect(Program& program, const std::vector<CoreCoord>& cores) {
  noc::Coord lo = program.noc_coord(cores.front());
  noc::Coord hi = lo;
  for (CoreCoord c : cores) {
    const noc::Coord n = program.noc_coord(c);
    lo.x = std::min(lo.x, n.x);
    lo.y = std::min(lo.y, n.y);
    hi.x = std::max(hi.x, n.x);
    hi.y = std::max(hi.y, n.y);
  }
  return noc::Rect{lo, hi};
}

bool owns_all(const TensorSpec& spec, const TileLocator& locator, const CoreTileBlock& b) {
  if (!is_l1_sharded(spec)) return false;
  for (std::uint64_t r = b.row0; r < b.row0 + b.rows; ++r) {
    for (std::uint64_t c = b.col0; c < b.col0 + b.cols; ++c) {
      if (!(locator.owner(r, c) == b.core)) return false;
    }
  }
  return true;
}

// Sends this core's partial statistics to the reducers of its domains; as a reducer, waits for
// every participant's partials, lets the compute kernel fold them and multicasts the result;
// finally waits until every reducer it depends on has delivered.
Task exchange_statistics(Program& program, RowState& s, std::size_t index, std::size_t pass,
                         CoreCbs cbs, noc::NocPort& port) {
  const CoreExchange& x = s.cores[index].exchange;
  const CoreCoord self = s.cores[index].block.core;
  sim::Engine& engine = program.engine();
  const std::uint32_t gather_id = kExchangeSemaphoreBase + 2 * static_cast<std::uint32_t>(pass);
  const std::uint32_t valid_id = gather_id + 1;
  const std::uint64_t tile = tile_bytes(s.spec.intermediate);
  co_await cbs.partial->wait_front(1);
  for (const auto& [reducer, tiles] : x.sends) {
    co_await port.write(program.fabric().worker(reducer.x, reducer.y), tiles * tile);
    engine.spawn(
        raise_at(engine, program.semaphore(reducer, gather_id), port.last_transfer().data_done));
  }
  if (x.reducer()) {
    co_await program.semaphore(self, gather_id).wait_at_least(x.expected_senders);
    co_await cbs.gathered->reserve_back(1);
    cbs.gathered->push_back(1);
    co_await cbs.combined->wait_front(1);
    cbs.combined->pop_front(1);
    if (!x.receivers.empty()) {
      co_await port.multicast(bounding_rect(program, x.receivers), x.reduced_tiles * tile, false);
      const Cycle landed = port.last_transfer().data_done;
      for (CoreCoord r : x.receivers)
        engine.spawn(raise_at(engine, program.semaphore(r, valid_id), landed));
    }
  }
  if (x.remote_reducers > 0)
    co_await program.semaphore(self, valid_id).wait_at_least(x.remote_reducers);
  cbs.partial->pop_front(1);
  co_await cbs.stats->reserve_back(1);
  cbs.stats->push_back(1);
}

Task read_columns(RowState& s, const CoreTileBlock& b, CoreCbs cbs, noc::NocPort& port) {
  const auto cols = static_cast<std::uint32_t>(b.cols);
  for (std::size_t k = 0; k < cbs.columns.size(); ++k) {
    co_await cbs.columns[k]->reserve_back(cols);
    for (std::uint64_t col = 0; col < b.cols; ++col) {
      co_await port.read(s.columns[k]->tile(0, b.col0 + col), s.columns[k]->page_bytes());
    }
    co_await port.read_barrier();
    cbs.columns[k]->push_back(cols);
  }
}

Task row_reader(Program& program, RowState& s, std::size_t index, CoreCbs cbs, noc::NocPort& port) {
  const CorePlan& c = s.cores[index];
  const CoreTileBlock& b = c.block;
  const std::uint32_t block = s.spec.block_tiles;
  const auto cols = static_cast<std::uint32_t>(b.cols);
  if (c.in_local) {
    const auto total = static_cast<std::uint32_t>(b.tiles());
    co_await cbs.in->reserve_back(total);
    cbs.in->push_back(total);
  }
  bool columns_read = false;
  const std::size_t column_pass = s.spec.passes.size() > 1 ? 1 : 0;
  for (const auto& [row0, rows] : c.units) {
    for (std::size_t p = 0; p < s.spec.passes.size(); ++p) {
      if (p == column_pass && !columns_read) {
        // gamma / beta: the core's columns, read once after the first input row (they are
        // needed only by the output pass) and kept for every row.
        columns_read = true;
        co_await read_columns(s, b, cbs, port);
      }
      const bool read_input = !c.in_local && (p == 0 || !c.resident);
      for (std::uint64_t r = row0; r < row0 + rows; ++r) {
        if (p == 0 && cbs.row_operand != nullptr) {
          co_await cbs.row_operand->reserve_back(cols);
          for (std::uint64_t col = 0; col < b.cols; ++col) {
            const TileRC t = s.spec.row_operand_tile(TileRC{r, b.col0 + col});
            co_await port.read(s.row_operand->tile(t.row, t.col), s.row_operand->page_bytes());
          }
          co_await port.read_barrier();
          cbs.row_operand->push_back(cols);
        }
        if (!read_input) continue;
        for (std::uint32_t done = 0; done < cols;) {
          const std::uint32_t n = std::min(block, cols - done);
          co_await cbs.in->reserve_back(n);
          for (std::uint32_t k = 0; k < n; ++k) {
            co_await port.read(s.in->tile(r, b.col0 + done + k), s.in->page_bytes());
          }
          co_await port.read_barrier();
          cbs.in->push_back(n);
          done += n;
        }
      }
      if (s.spec.passes[p].exchange && c.exchange.active)
        co_await exchange_statistics(program, s, index, p, cbs, port);
    }
  }
  if (!columns_read) co_await read_columns(s, b, cbs, port);
}

Task row_compute(Program& program, RowState& s, std::size_t index, CoreCbs cbs) {
  const CorePlan& c = s.cores[index];
  const CoreTileBlock& b = c.block;
  const arch::DeviceSpec& spec = program.spec();
  const Cycle overhead = spec.compute.block_overhead_cycles;
  const std::uint32_t block = s.spec.block_tiles;
  const auto cols = static_cast<std::uint32_t>(b.cols);
  const bool stream = !c.in_local && !c.resident;
  // Folding one gathered partial tile into the statistics: unpack it and add; the folded
  // tiles are then packed for the multicast.
  const Cycle combine_tile =
      unpack_tile_cycles(spec, s.spec.intermediate) + spec.compute.eltwise_add_tile_cycles;
  const Cycle pack_im = pack_tile_cycles(spec, s.spec.intermediate);
  bool columns_ready = false;
  for (std::size_t u = 0; u < c.units.size(); ++u) {
    const auto total = static_cast<std::uint32_t>(c.units[u].second * b.cols);
    if (cbs.row_operand != nullptr) co_await cbs.row_operand->wait_front(cols);
    for (std::size_t p = 0; p < s.spec.passes.size(); ++p) {
      const RowPass& pass = s.spec.passes[p];
      if (pass.output && !columns_ready) {
        for (sim::CircularBuffer* col : cbs.columns) co_await col->wait_front(cols);
        columns_ready = true;
      }
      for (std::uint32_t done = 0; done < total;) {
        const std::uint32_t n = std::min(block, total - done);
        if (stream) {
          co_await cbs.in->wait_front(n);
        } else if (p == 0) {
          co_await cbs.in->wait_front(done + n);  // the row arrives while the first pass runs
        }
        if (pass.output) co_await cbs.out->reserve_back(n);
        co_await program.compute(b.core, overhead + n * pass.tile_cycles);
        if (pass.output) cbs.out->push_back(n);
        if (stream) cbs.in->pop_front(n);
        done += n;
      }
      if (pass.domain_cycles > 0)
        co_await program.compute(b.core, c.unit_domains[u] * pass.domain_cycles);
      if (pass.exchange && c.exchange.active) {
        co_await cbs.partial->reserve_back(1);
        cbs.partial->push_back(1);
        if (c.exchange.reducer()) {
          co_await cbs.gathered->wait_front(1);
          co_await program.compute(b.core, overhead + c.exchange.gathered_tiles * combine_tile +
                                               c.exchange.reduced_tiles * pack_im);
          cbs.gathered->pop_front(1);
          co_await cbs.combined->reserve_back(1);
          cbs.combined->push_back(1);
        }
        co_await cbs.stats->wait_front(1);
        cbs.stats->pop_front(1);
      }
    }
    if (!stream) cbs.in->pop_front(total);
    if (cbs.row_operand != nullptr) cbs.row_operand->pop_front(cols);
  }
}

Task row_writer(RowState& s, std::size_t index, sim::CircularBuffer& out, noc::NocPort& port) {
  const CorePlan& c = s.cores[index];
  const CoreTileBlock& b = c.block;
  const std::uint32_t block = s.spec.block_tiles;
  for (const auto& [row0, rows] : c.units) {
    const auto total = static_cast<std::uint32_t>(rows * b.cols);
    for (std::uint32_t done = 0; done < total;) {
      const std::uint32_t n = std::min(block, total - done);
      co_await out.wait_front(n);
      if (!c.out_local) {
        for (std::uint32_t k = 0; k < n; ++k) {
          const std::uint64_t t = done + k;
          co_await port.write(s.out->tile(row0 + t / b.cols, b.col0 + t % b.cols),
                              s.out->page_bytes());
        }
        co_await port.writes_flushed();
      }
      out.pop_front(n);
      done += n;
    }
  }
  if (!c.out_local) co_await port.write_barrier();
}

// Who combines which domain's statistics with whom.
void plan_exchanges(RowState& s) {
  std::map<std::uint64_t, std::vector<std::size_t>> participants;
  for (std::size_t i = 0; i < s.cores.size(); ++i) {
    const CoreTileBlock& b = s.cores[i].block;
    for (std::uint64_t r = b.row0; r < b.row0 + b.rows; ++r) {
      auto& list = participants[s.spec.domain_of_row(r)];
      if (list.empty() || list.back() != i) list.push_back(i);
    }
  }
  const std::uint64_t stat = s.spec.stat_tiles_per_domain;
  for (std::size_t i = 0; i < s.cores.size(); ++i) {
    CorePlan& c = s.cores[i];
    std::set<std::uint64_t> domains;
    for (std::uint64_t r = c.block.row0; r < c.block.row0 + c.block.rows; ++r)
      domains.insert(s.spec.domain_of_row(r));
    std::map<std::size_t, std::uint64_t> sends;
    std::set<std::size_t> senders;
    for (std::uint64_t d : domains) {
      const std::vector<std::size_t>& list = participants[d];
      if (list.size() < 2) continue;
      c.exchange.active = true;
      const std::size_t reducer = list.front();
      if (reducer != i) {
        sends[reducer] += stat;
      } else {
        c.exchange.gathered_tiles += list.size() * stat;
        c.exchange.reduced_tiles += stat;
        senders.insert(list.begin() + 1, list.end());
      }
    }
    for (const auto& [reducer, tiles] : sends)
      c.exchange.sends.emplace_back(s.cores[reducer].block.core, tiles);
    c.exchange.remote_reducers = static_cast<std::int64_t>(sends.size());
    c.exchange.expected_senders = static_cast<std::int64_t>(senders.size());
    for (std::size_t j : senders) c.exchange.receivers.push_back(s.cores[j].block.core);
  }
}

}  // namespace

std::vector<CoreTileBlock> row_work(const RowProgramSpec& spec, const arch::DeviceSpec& device) {
  if (is_l1_sharded(spec.input)) return shard_tile_blocks(spec.input);
  if (is_l1_sharded(spec.output)) return shard_tile_blocks(spec.output);
  std::vector<CoreTileBlock> blocks;
  for (const CoreRangeWork& w : split_work_to_cores(
           spec.input.height_tiles(), device.worker_grid_x(), device.worker_grid_y())) {
    blocks.push_back(CoreTileBlock{w.core, w.first, w.count, 0, spec.input.width_tiles()});
  }
  return blocks;
}

void build_row_program(Program& program, const RowProgramSpec& spec) {
  auto state = std::make_shared<RowState>(spec);
  RowState& s = *state;
  program.keep_alive(state);
  s.spec.block_tiles = std::max<std::uint32_t>(1, s.spec.block_tiles);
  s.in = std::make_unique<TileLocator>(spec.input, program.fabric());
  s.out = std::make_unique<TileLocator>(spec.output, program.fabric());
  if (spec.row_operand)
    s.row_operand = std::make_unique<TileLocator>(*spec.row_operand, program.fabric());
  for (const TensorSpec& col : spec.column_operands)
    s.columns.push_back(std::make_unique<TileLocator>(col, program.fabric()));

  for (const CoreTileBlock& b : row_work(spec, program.spec())) {
    CorePlan c;
    c.block = b;
    c.in_local = owns_all(spec.input, *s.in, b);
    c.out_local = owns_all(spec.output, *s.out, b);
    s.cores.push_back(c);
  }
  plan_exchanges(s);
  const bool any_exchange = std::any_of(s.cores.begin(), s.cores.end(),
                                        [](const CorePlan& c) { return c.exchange.active; });
  if (spec.row_operand && (any_exchange || spec.whole_block_units)) {
    throw std::logic_error("row program: a per-row operand needs row-local statistics");
  }
  // Statistics combined across cores are exchanged once per block, so the block is the unit.
  const bool whole_block = spec.whole_block_units || any_exchange;

  const std::uint64_t budget = program.spec().l1.usable_bytes / 2;
  const std::uint64_t in_bytes = tile_bytes(spec.input.data_type());
  const std::uint64_t im_bytes = tile_bytes(spec.intermediate);
  const std::uint32_t block = s.spec.block_tiles;
  for (std::size_t i = 0; i < s.cores.size(); ++i) {
    CorePlan& c = s.cores[i];
    const CoreTileBlock& b = c.block;
    if (whole_block) {
      c.units.emplace_back(b.row0, b.rows);
    } else {
      for (std::uint64_t r = b.row0; r < b.row0 + b.rows; ++r) c.units.emplace_back(r, 1);
    }
    for (const auto& [row0, rows] : c.units) {
      std::set<std::uint64_t> domains;
      for (std::uint64_t r = row0; r < row0 + rows; ++r) domains.insert(spec.domain_of_row(r));
      c.unit_domains.push_back(domains.size());
    }
    const std::uint64_t unit_tiles = (whole_block ? b.rows : 1) * b.cols;
    c.resident = c.in_local || unit_tiles * (in_bytes + im_bytes) <= budget;
    // Per-row units double buffer the row so the next one arrives during the passes.
    const bool double_rows = !whole_block && unit_tiles * (2 * in_bytes + im_bytes) <= budget;
    const auto total = static_cast<std::uint32_t>(b.tiles());
    const auto unit_pages = static_cast<std::uint32_t>(unit_tiles);
    std::uint32_t in_pages = 2 * block;
    if (c.in_local) {
      in_pages = total;
    } else if (c.resident) {
      in_pages = unit_pages * (double_rows ? 2 : 1);
    }
    CoreCbs cbs;
    cbs.in = &program.create_cb(b.core, "in", in_pages, static_cast<std::uint32_t>(in_bytes),
                                c.in_local);
    // Intermediates (x - mean, exp(x - max), ...) live in L1 next to the row: L1 accounting only,
    // their flow is inside the compute kernel.
    const bool im_whole = c.resident && unit_tiles * im_bytes <= budget;
    program.create_cb(b.core, "intermediate", im_whole ? unit_pages : 2 * block,
                      static_cast<std::uint32_t>(im_bytes));
    cbs.out = &program.create_cb(b.core, "out", c.out_local ? total : 2 * block,
                                 tile_bytes(spec.output.data_type()), c.out_local);
    if (spec.row_operand) {
      cbs.row_operand =
          &program.create_cb(b.core, "row_operand", 2 * static_cast<std::uint32_t>(b.cols),
                             tile_bytes(spec.row_operand->data_type()));
    }
    for (std::size_t k = 0; k < spec.column_operands.size(); ++k) {
      cbs.columns.push_back(&program.create_cb(b.core, "column" + std::to_string(k),
                                               static_cast<std::uint32_t>(b.cols),
                                               tile_bytes(spec.column_operands[k].data_type())));
    }
    if (c.exchange.active) {
      cbs.partial =
          &program.create_cb(b.core, "partial_stats", 1, static_cast<std::uint32_t>(im_bytes));
      cbs.stats =
          &program.create_cb(b.core, "global_stats", 1, static_cast<std::uint32_t>(im_bytes));
      if (c.exchange.reducer()) {
        // Handshakes only: the gathered partials land in the reducer's own statistics buffer.
        cbs.gathered = &program.create_cb(b.core, "gathered_stats", 1,
                                          static_cast<std::uint32_t>(im_bytes), true);
        cbs.combined = &program.create_cb(b.core, "combined_stats", 1,
                                          static_cast<std::uint32_t>(im_bytes), true);
      }
    }
    program.add_kernel(
        b.core, Risc::Ncrisc,
        row_reader(program, s, i, cbs, program.noc_port(b.core, Risc::Ncrisc, kReaderNoc)));
    program.add_kernel(b.core, Risc::Trisc0, row_compute(program, s, i, cbs));
    program.add_kernel(
        b.core, Risc::Brisc,
        row_writer(s, i, *cbs.out, program.noc_port(b.core, Risc::Brisc, kWriterNoc)));
  }
}

}  // namespace wormsim::ops
