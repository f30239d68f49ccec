// MatmulOp::build: the per-core programs of TT-NN's matmul factories, as coroutines.
//
// Multicast family (2D, 1D, DRAM-sharded): every core owns one output block of
// per_core_M x per_core_N tiles and walks K in blocks of in0_block_w tiles. For each block,
// each operand reaches a core in one of three ways:
//   local     - the block already sits in the core's L1 shard;
//   read      - the core reads the block's tiles itself (DRAM or L1 interleaved, DRAM shard);
//   multicast - one core of a group (a row, a column or the whole grid) obtains the block and
//               multicasts it; receivers first signal "ready" on the sender's semaphore, the
//               sender multicasts and then raises each receiver's "valid" semaphore.
// in0 moves on NCRISC over NoC1 and in1 (plus the output writer) on BRISC over NoC0, as TT-NN
// assigns them (with the 2D factory's half-grid NoC swap for interleaved in0, see below). The
// compute kernel (TRISC) waits for both blocks, spends the math, spill/reload and pack cycles, and
// hands the output to the writer subblock by subblock.
//
// Reuse family (MultiCoreReuse, batched in1): output blocks are dealt to cores round-robin;
// each core's reader fetches its own in0 and in1 blocks and its writer stores the output.
#include <algorithm>
#include <memory>

#include "ops/matmul/matmul.hpp"

namespace wormsim::ops {
namespace {

using noc::NocId;
using sim::Cycle;
using sim::Task;

constexpr std::uint32_t kIn0ReadySemaphore = 0;
constexpr std::uint32_t kIn0ValidSemaphore = 1;
constexpr std::uint32_t kIn1ReadySemaphore = 2;
constexpr std::uint32_t kIn1ValidSemaphore = 3;

enum class FeedMode { Local, Read, Multicast };

struct Feed {
  FeedMode mode{FeedMode::Read};
  CoreCoord sender;
  bool sender_reads{true};
  const std::vector<CoreCoord>* group{nullptr};  // for Multicast: every core receiving the block
};

// A rectangle of tiles of one operand.
struct TileBlock {
  std::uint64_t row0{0};
  std::uint64_t rows{0};
  std::uint64_t col0{0};
  std::uint64_t cols{0};
  std::uint64_t tiles() const { return rows * cols; }
};

Task raise_at(sim::Engine& engine, sim::Semaphore& semaphore, Cycle when) {
  co_await engine.until(when);
  semaphore.increment();
}

// Reads a block's tiles (those inside the tensor: edge blocks are padded, not fetched).
Task read_tiles(noc::NocPort& port, const TileLocator& locator, TileBlock block,
                std::uint64_t row_offset) {
  for (std::uint64_t r = 0; r < block.rows; ++r) {
    for (std::uint64_t c = 0; c < block.cols; ++c) {
      const std::uint64_t row = row_offset + block.row0 + r;
      const std::uint64_t col = block.col0 + c;
      if (locator.contains(row, col))
        co_await port.read(locator.tile(row, col), locator.page_bytes());
    }
  }
  co_await port.read_barrier();
}

// Everything the kernels of one matmul program share.
struct MatmulPlan {
  Program* program{nullptr};
  MatmulProgramConfig config;
  MatmulShape shape;
  ComputeKernelConfig compute;
  std::unique_ptr<TileLocator> in0;
  std::unique_ptr<TileLocator> in1;
  std::unique_ptr<TileLocator> out;
  std::unique_ptr<TileLocator> bias;
  bool in0_local_shard{false};  // in0 is sharded so that each core holds the rows it needs
  bool out_in_l1_shard{false};  // the output block is the core's L1 shard: no writes
  DataType in0_type{}, in1_type{}, out_type{};
  std::uint32_t num_blocks{1};   // K blocks per output block
  std::uint32_t num_steps{1};    // (output block, K block) steps every core walks, in lockstep
  std::vector<CoreCoord> cores;  // cores with work
  std::map<std::pair<std::uint32_t, std::uint32_t>, TileBlock> out_block;  // per core
  std::vector<std::vector<CoreCoord>> in0_groups;  // per group of in0 receivers
  std::vector<std::vector<CoreCoord>> in1_groups;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::size_t> in0_group_of, in1_group_of;
  std::string activation;

  const TileBlock& block_of(CoreCoord c) const { return out_block.at({c.x, c.y}); }
};

noc::Rect group_rect(Program& program, const std::vector<CoreCoord>& group) {
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

// One operand's data-movement kernel on one core of the multicast family.
Task operand_mover(MatmulPlan& plan, CoreCoord core, bool is_in0, sim::CircularBuffer& cb,
                   noc::NocPort& port, std::function<Feed(CoreCoord, std::uint32_t)> feed_of,
                   std::function<TileBlock(CoreCoord, std::uint32_t)> block_of) {
  Program& program = *plan.program;
  sim::Engine& engine = program.engine();
  const TileLocator& locator = is_in0 ? *plan.in0 : *plan.in1;
  const std::uint32_t ready_id = is_in0 ? kIn0ReadySemaphore : kIn1ReadySemaphore;
  const std::uint32_t valid_id = is_in0 ? kIn0ValidSemaphore : kIn1ValidSemaphore;
  std::int64_t valid_seen = 0;
  for (std::uint32_t step = 0; step < plan.num_steps; ++step) {
    const TileBlock block = block_of(core, step);
    const auto tiles = static_cast<std::uint32_t>(block.tiles());
    co_await cb.reserve_back(tiles);
    const Feed feed = feed_of(core, step);
    if (feed.mode == FeedMode::Read) {
      co_await read_tiles(port, locator, block, 0);
    } else if (feed.mode == FeedMode::Multicast) {
      const std::vector<CoreCoord>& group = *feed.group;
      if (feed.sender == core) {
        if (feed.sender_reads) co_await read_tiles(port, locator, block, 0);
        const auto receivers = static_cast<std::int64_t>(group.size()) - 1;
        if (receivers > 0) {
          co_await program.semaphore(core, ready_id).take(receivers);
          co_await port.multicast(group_rect(program, group), block.tiles() * locator.page_bytes(),
                                  false);
          const Cycle landed = port.last_transfer().data_done;
          for (CoreCoord r : group) {
            if (!(r == core))
              engine.spawn(raise_at(engine, program.semaphore(r, valid_id), landed));
          }
        }
      } else {
        // Tell the sender this core has room, then wait for the block to land.
        const Cycle arrives =
            engine.now() + program.fabric().header_latency(port.noc(), program.noc_coord(core),
                                                           program.noc_coord(feed.sender));
        engine.spawn(raise_at(engine, program.semaphore(feed.sender, ready_id), arrives));
        co_await program.semaphore(core, valid_id).wait_at_least(++valid_seen);
      }
    }
    cb.push_back(tiles);
  }
}

// Cycles the compute kernel spends on one K block of a core's output block.
struct BlockCost {
  Cycle per_subblock_math{0};
  Cycle per_subblock_reload{0};
  Cycle per_subblock_pack_partial{0};
  Cycle per_subblock_pack_final{0};
  std::uint32_t subblocks{0};
  std::uint32_t subblock_tiles{0};
};

BlockCost block_cost(const MatmulPlan& plan, const arch::DeviceSpec& spec, std::uint32_t pcM,
                     std::uint32_t pcN) {
  const MatmulProgramConfig& c = plan.config;
  BlockCost cost;
  const std::uint32_t sh = std::min(c.out_subblock_h, pcM);
  const std::uint32_t sw = std::min(c.out_subblock_w, pcN);
  cost.subblock_tiles = sh * sw;
  cost.subblocks = ((pcM + sh - 1) / sh) * ((pcN + sw - 1) / sw);
  cost.per_subblock_math =
      c.in0_block_w *
      matmul_k_step_cycles(spec, plan.compute.math_fidelity, sh, sw, plan.in0_type, plan.in1_type);
  // Partials between K blocks leave Dst in fp32 (fp32 Dst) or the output format.
  const DataType interm = plan.compute.fp32_dest_acc_en ? DataType::Float32 : plan.out_type;
  cost.per_subblock_reload = cost.subblock_tiles * (unpack_tile_cycles(spec, interm) +
                                                    spec.compute.dst_reload_overhead_cycles);
  cost.per_subblock_pack_partial = cost.subblock_tiles * pack_tile_cycles(spec, interm);
  Cycle epilogue = 0;
  if (plan.bias)
    epilogue += spec.compute.eltwise_add_tile_cycles +
                unpack_tile_cycles(spec, plan.bias ? DataType::BFloat16 : plan.out_type);
  epilogue += fused_activation_tile_cycles(spec, plan.activation);
  cost.per_subblock_pack_final =
      cost.subblock_tiles * (pack_tile_cycles(spec, plan.out_type) + epilogue);
  return cost;
}

Task compute_kernel(MatmulPlan& plan, CoreCoord core, sim::CircularBuffer& in0_cb,
                    sim::CircularBuffer& in1_cb, sim::CircularBuffer& out_cb, std::uint32_t pcM,
                    std::uint32_t pcN, std::uint32_t in0_tiles, std::uint32_t in1_tiles,
                    std::uint32_t repeats) {
  Program& program = *plan.program;
  const arch::DeviceSpec& spec = program.spec();
  const BlockCost cost = block_cost(plan, spec, pcM, pcN);
  for (std::uint32_t unit = 0; unit < repeats; ++unit) {
    for (std::uint32_t kb = 0; kb < plan.num_blocks; ++kb) {
      co_await in0_cb.wait_front(in0_tiles);
      co_await in1_cb.wait_front(in1_tiles);
      const bool last = kb + 1 == plan.num_blocks;
      const bool reload = kb > 0 && !plan.compute.packer_l1_acc;
      Cycle per_subblock = cost.per_subblock_math + (reload ? cost.per_subblock_reload : 0);
      if (!last) {
        per_subblock += cost.per_subblock_pack_partial;
        co_await program.compute(
            core, spec.compute.block_overhead_cycles + per_subblock * cost.subblocks);
      } else {
        co_await program.compute(core, spec.compute.block_overhead_cycles);
        for (std::uint32_t sb = 0; sb < cost.subblocks; ++sb) {
          co_await program.compute(core, per_subblock + cost.per_subblock_pack_final);
          co_await out_cb.reserve_back(cost.subblock_tiles);
          out_cb.push_back(cost.subblock_tiles);
        }
      }
      in0_cb.pop_front(in0_tiles);
      in1_cb.pop_front(in1_tiles);
    }
  }
}

Task writer_kernel(MatmulPlan& plan, sim::CircularBuffer& out_cb, noc::NocPort& port,
                   std::vector<TileBlock> blocks, std::uint32_t subblock_tiles) {
  for (const TileBlock& block : blocks) {
    const std::uint64_t total = block.tiles();
    std::uint64_t written = 0;
    while (written < total) {
      const auto n =
          static_cast<std::uint32_t>(std::min<std::uint64_t>(subblock_tiles, total - written));
      co_await out_cb.wait_front(n);
      if (!plan.out_in_l1_shard) {
        for (std::uint32_t i = 0; i < n; ++i) {
          const std::uint64_t t = written + i;
          const std::uint64_t row = block.row0 + t / block.cols;
          const std::uint64_t col = block.col0 + t % block.cols;
          if (plan.out->contains(row, col))
            co_await port.write(plan.out->tile(row, col), plan.out->page_bytes());
        }
      }
      out_cb.pop_front(n);
      written += n;
    }
  }
  if (!plan.out_in_l1_shard) co_await port.write_barrier();
}

// in1 mover followed by the output writer: both run on BRISC, one after the other.
Task in1_and_writer(MatmulPlan& plan, CoreCoord core, sim::CircularBuffer& in1_cb,
                    sim::CircularBuffer& out_cb, noc::NocPort& port,
                    std::function<Feed(CoreCoord, std::uint32_t)> feed,
                    std::function<TileBlock(CoreCoord, std::uint32_t)> block_of,
                    std::vector<TileBlock> out_blocks, std::uint32_t subblock_tiles) {
  sim::Engine& engine = plan.program->engine();
  // The writer must drain output while in1 keeps flowing, so it runs as its own process; the
  // BRISC kernel ends when both are done.
  const sim::ProcessId writer =
      engine.spawn(writer_kernel(plan, out_cb, port, std::move(out_blocks), subblock_tiles));
  co_await operand_mover(plan, core, false, in1_cb, port, std::move(feed), std::move(block_of));
  co_await engine.join(writer);
}

void build_multicast_family(MatmulPlan& plan) {
  Program& program = *plan.program;
  const MatmulProgramConfig& c = plan.config;
  const MatmulShape& s = plan.shape;
  const std::uint32_t w = c.in0_block_w;

  // Output blocks and multicast groups.
  const bool two_d = c.kind == MatmulProgramKind::MultiCast2D;
  if (two_d) {
    const std::uint32_t rows = c.transpose_mcast ? c.grid_x : c.grid_y;
    const std::uint32_t cols = c.transpose_mcast ? c.grid_y : c.grid_x;
    plan.in0_groups.resize(rows);
    plan.in1_groups.resize(cols);
    for (std::uint32_t r = 0; r < rows; ++r) {
      for (std::uint32_t q = 0; q < cols; ++q) {
        const std::uint64_t m0 = static_cast<std::uint64_t>(r) * c.per_core_M;
        const std::uint64_t n0 = static_cast<std::uint64_t>(q) * c.per_core_N;
        if (m0 >= s.Mt || n0 >= s.Nt) continue;
        const CoreCoord core = c.transpose_mcast ? CoreCoord{r, q} : CoreCoord{q, r};
        plan.cores.push_back(core);
        plan.out_block[{core.x, core.y}] = TileBlock{m0, c.per_core_M, n0, c.per_core_N};
        plan.in0_groups[r].push_back(core);
        plan.in1_groups[q].push_back(core);
        plan.in0_group_of[{core.x, core.y}] = r;
        plan.in1_group_of[{core.x, core.y}] = q;
      }
    }
  } else {
    // 1D and DRAM-sharded: cores in row-major order over the grid, one slice each.
    const std::uint32_t count = c.grid_x * c.grid_y;
    plan.in0_groups.resize(1);
    plan.in1_groups.resize(1);
    for (std::uint32_t i = 0; i < count; ++i) {
      const CoreCoord core{i % c.grid_x, i / c.grid_x};
      const bool width_parallel = c.mcast_in0 || c.kind == MatmulProgramKind::DramSharded;
      const std::uint64_t m0 = width_parallel ? 0 : static_cast<std::uint64_t>(i) * c.per_core_M;
      const std::uint64_t n0 = width_parallel ? static_cast<std::uint64_t>(i) * c.per_core_N : 0;
      if (m0 >= s.Mt || n0 >= s.Nt) continue;
      plan.cores.push_back(core);
      plan.out_block[{core.x, core.y}] = TileBlock{m0, c.per_core_M, n0, c.per_core_N};
      plan.in0_groups[0].push_back(core);
      plan.in1_groups[0].push_back(core);
      plan.in0_group_of[{core.x, core.y}] = 0;
      plan.in1_group_of[{core.x, core.y}] = 0;
    }
  }

  const bool in0_sharded_along_k =
      plan.in0->sharded() && !plan.in0->in_dram() &&
      (two_d || c.mcast_in0 || c.kind == MatmulProgramKind::DramSharded);
  // Each core walks its output blocks (row-major) and, for each, every K block.
  const std::uint32_t obh = c.block_h();
  const std::uint32_t obw = c.block_w();
  const std::uint32_t blocks_across = c.per_core_N / obw;
  const std::uint32_t out_blocks = (c.per_core_M / obh) * blocks_across;
  const std::uint32_t nkb = plan.num_blocks;
  plan.num_steps = out_blocks * nkb;
  auto in0_block = [&plan, w, obh, blocks_across, nkb](CoreCoord core, std::uint32_t step) {
    const TileBlock& out = plan.block_of(core);
    const std::uint32_t ob = step / nkb;
    const std::uint32_t kb = step % nkb;
    return TileBlock{out.row0 + static_cast<std::uint64_t>(ob / blocks_across) * obh, obh,
                     static_cast<std::uint64_t>(kb) * w, w};
  };
  auto in1_block = [&plan, w, obw, blocks_across, nkb](CoreCoord core, std::uint32_t step) {
    const TileBlock& out = plan.block_of(core);
    const std::uint32_t ob = step / nkb;
    const std::uint32_t kb = step % nkb;
    return TileBlock{static_cast<std::uint64_t>(kb) * w, w,
                     out.col0 + static_cast<std::uint64_t>(ob % blocks_across) * obw, obw};
  };
  auto in0_feed = [&plan, &c, in0_sharded_along_k, two_d, nkb](CoreCoord core, std::uint32_t step) {
    const std::uint32_t kb = step % nkb;
    Feed f;
    const bool height_parallel_1d =
        !two_d && !c.mcast_in0 && c.kind != MatmulProgramKind::DramSharded;
    if (height_parallel_1d) {
      // Local only when the core's own shard holds all its rows of in0 (both corners of the
      // block); otherwise it reads them, from DRAM or from the L1 of the cores holding them.
      const TileBlock& out = plan.block_of(core);
      const std::uint64_t last_row =
          std::min<std::uint64_t>(out.row0 + out.rows, plan.shape.Mt) - 1;
      const bool own_rows = plan.in0_local_shard && plan.in0->owner(out.row0, 0) == core &&
                            plan.in0->owner(last_row, plan.shape.Kt - 1) == core;
      f.mode = own_rows ? FeedMode::Local : FeedMode::Read;
      return f;
    }
    f.mode = FeedMode::Multicast;
    f.group = &plan.in0_groups[plan.in0_group_of.at({core.x, core.y})];
    if (in0_sharded_along_k) {
      // The core whose shard holds this K block sends it.
      f.sender =
          plan.in0->owner(plan.block_of(core).row0, static_cast<std::uint64_t>(kb) * c.in0_block_w);
      f.sender_reads = false;
      if (std::find(f.group->begin(), f.group->end(), f.sender) == f.group->end()) {
        f.sender = f.group->front();  // shard owner outside the group: the first core fetches it
        f.sender_reads = true;
      }
    } else {
      f.sender = f.group->front();
      f.sender_reads = true;
    }
    return f;
  };
  auto in1_feed = [&plan, &c, two_d](CoreCoord core, std::uint32_t) {
    Feed f;
    const bool each_reads_own = c.kind == MatmulProgramKind::DramSharded || (!two_d && c.mcast_in0);
    if (each_reads_own) {
      f.mode = FeedMode::Read;
      return f;
    }
    f.mode = FeedMode::Multicast;
    f.group = &plan.in1_groups[plan.in1_group_of.at({core.x, core.y})];
    f.sender = f.group->front();
    f.sender_reads = true;
    return f;
  };

  // TT-NN's 2D factory splits the interleaved-in0 receivers in half: the cores right of the
  // middle column (below the sender row) swap NoCs, so their output writes and in1 traffic use
  // NoC1 and their in0 traffic NoC0, spreading the DRAM writes over both NoCs.
  std::uint32_t cols_with_work = 0, rows_with_work = 0;
  for (CoreCoord core : plan.cores) {
    cols_with_work = std::max(cols_with_work, core.x + 1);
    rows_with_work = std::max(rows_with_work, core.y + 1);
  }
  const bool split_half = two_d && !plan.in0->sharded() && cols_with_work > 2 && rows_with_work > 1;
  const std::uint32_t half_column = cols_with_work / 2;
  auto swaps_nocs = [&](CoreCoord core) {
    return split_half && core.x > half_column && core.y >= 1;
  };

  for (CoreCoord core : plan.cores) {
    const TileBlock& out = plan.block_of(core);
    const NocId in0_noc = swaps_nocs(core) ? NocId::Noc0 : NocId::Noc1;
    const NocId in1_noc = swaps_nocs(core) ? NocId::Noc1 : NocId::Noc0;
    const std::uint32_t in0_tiles = obh * w;
    const std::uint32_t in1_tiles = w * obw;
    sim::CircularBuffer& in0_cb =
        program.create_cb(core, "in0", 2 * in0_tiles, tile_bytes(plan.in0_type));
    sim::CircularBuffer& in1_cb =
        program.create_cb(core, "in1", 2 * in1_tiles, tile_bytes(plan.in1_type));
    sim::CircularBuffer& out_cb =
        program.create_cb(core, "out", obh * obw, tile_bytes(plan.out_type), plan.out_in_l1_shard);
    const BlockCost cost = block_cost(plan, program.spec(), obh, obw);
    std::vector<TileBlock> writes;
    for (std::uint32_t ob = 0; ob < out_blocks; ++ob) {
      writes.push_back(
          TileBlock{out.row0 + static_cast<std::uint64_t>(ob / blocks_across) * obh, obh,
                    out.col0 + static_cast<std::uint64_t>(ob % blocks_across) * obw, obw});
    }
    program.add_kernel(
        core, Risc::Ncrisc,
        operand_mover(plan, core, true, in0_cb, program.noc_port(core, Risc::Ncrisc, in0_noc),
                      in0_feed, in0_block));
    program.add_kernel(
        core, Risc::Brisc,
        in1_and_writer(plan, core, in1_cb, out_cb, program.noc_port(core, Risc::Brisc, in1_noc),
                       in1_feed, in1_block, std::move(writes), cost.subblock_tiles));
    program.add_kernel(core, Risc::Trisc0,
                       compute_kernel(plan, core, in0_cb, in1_cb, out_cb, obh, obw, in0_tiles,
                                      in1_tiles, out_blocks));
  }
}

Task reuse_reader(MatmulPlan& plan, sim::CircularBuffer& in0_cb, sim::CircularBuffer& in1_cb,
                  noc::NocPort& port, std::vector<std::pair<std::uint64_t, TileBlock>> units) {
  const std::uint32_t w = plan.config.in0_block_w;
  for (const auto& [batch, out] : units) {
    for (std::uint32_t kb = 0; kb < plan.num_blocks; ++kb) {
      const TileBlock a{out.row0, out.rows, static_cast<std::uint64_t>(kb) * w, w};
      const TileBlock b{static_cast<std::uint64_t>(kb) * w, w, out.col0, out.cols};
      co_await in0_cb.reserve_back(static_cast<std::uint32_t>(a.tiles()));
      co_await in1_cb.reserve_back(static_cast<std::uint32_t>(b.tiles()));
      co_await read_tiles(port, *plan.in0, a, batch * plan.shape.Mt);
      co_await read_tiles(port, *plan.in1, b, batch * plan.shape.Kt);
      in0_cb.push_back(static_cast<std::uint32_t>(a.tiles()));
      in1_cb.push_back(static_cast<std::uint32_t>(b.tiles()));
    }
  }
}

void build_reuse_family(MatmulPlan& plan) {
  Program& program = *plan.program;
  const MatmulProgramConfig& c = plan.config;
  const MatmulShape& s = plan.shape;
  const std::uint32_t cores = c.grid_x * c.grid_y;
  std::vector<std::vector<std::pair<std::uint64_t, TileBlock>>> work(cores);
  std::uint64_t unit = 0;
  for (std::uint64_t b = 0; b < s.batch; ++b) {
    for (std::uint64_t m0 = 0; m0 < s.Mt; m0 += c.per_core_M) {
      for (std::uint64_t n0 = 0; n0 < s.Nt; n0 += c.per_core_N, ++unit) {
        work[unit % cores].push_back({b, TileBlock{m0, c.per_core_M, n0, c.per_core_N}});
      }
    }
  }
  const std::uint32_t w = c.in0_block_w;
  for (std::uint32_t i = 0; i < cores; ++i) {
    if (work[i].empty()) continue;
    const CoreCoord core{i % c.grid_x, i / c.grid_x};
    const std::uint32_t in0_tiles = c.per_core_M * w;
    const std::uint32_t in1_tiles = w * c.per_core_N;
    sim::CircularBuffer& in0_cb =
        program.create_cb(core, "in0", 2 * in0_tiles, tile_bytes(plan.in0_type));
    sim::CircularBuffer& in1_cb =
        program.create_cb(core, "in1", 2 * in1_tiles, tile_bytes(plan.in1_type));
    sim::CircularBuffer& out_cb =
        program.create_cb(core, "out", c.per_core_M * c.per_core_N, tile_bytes(plan.out_type));
    const BlockCost cost = block_cost(plan, program.spec(), c.per_core_M, c.per_core_N);
    std::vector<TileBlock> out_blocks;
    for (const auto& [batch, block] : work[i]) {
      out_blocks.push_back(
          TileBlock{batch * s.Mt + block.row0, block.rows, block.col0, block.cols});
    }
    program.add_kernel(core, Risc::Ncrisc,
                       reuse_reader(plan, in0_cb, in1_cb,
                                    program.noc_port(core, Risc::Ncrisc, NocId::Noc1), work[i]));
    program.add_kernel(
        core, Risc::Trisc0,
        compute_kernel(plan, core, in0_cb, in1_cb, out_cb, c.per_core_M, c.per_core_N, in0_tiles,
                       in1_tiles, static_cast<std::uint32_t>(work[i].size())));
    program.add_kernel(core, Risc::Brisc,
                       writer_kernel(plan, out_cb, program.noc_port(core, Risc::Brisc, NocId::Noc0),
                                     out_blocks, cost.subblock_tiles));
  }
}

}  // namespace

ProgramTiming run_single_core_matmul_test(Device& device, std::uint32_t Mt, std::uint32_t Kt,
                                          std::uint32_t Nt, std::uint32_t num_blocks,
                                          std::uint32_t subblock_h, std::uint32_t subblock_w,
                                          DataType type, const ComputeKernelConfig& compute) {
  Program program(device, 0, "single_core_matmul");
  const CoreRangeSet one_core(CoreRange(CoreCoord{0, 0}));
  auto resident = [&](std::uint32_t rows, std::uint32_t cols) {
    const TensorSpec plain(Shape({1, 1, rows * kTileHeight, cols * kTileWidth}), type,
                           Layout::Tile);
    return plain.with_memory_config(height_sharded(plain, one_core));
  };
  auto plan = std::make_shared<MatmulPlan>();
  plan->program = &program;
  plan->config.kind = MatmulProgramKind::MultiCast1D;
  plan->config.in0_block_w = Kt;
  plan->config.out_subblock_h = subblock_h;
  plan->config.out_subblock_w = subblock_w;
  plan->config.per_core_M = Mt;
  plan->config.per_core_N = Nt;
  plan->config.mcast_in0 = false;
  plan->shape = MatmulShape{1, Mt, Kt * num_blocks, Nt};
  plan->compute = compute;
  plan->in0 = std::make_unique<TileLocator>(resident(Mt, Kt), program.fabric());
  plan->in1 = std::make_unique<TileLocator>(resident(Kt, Nt), program.fabric());
  plan->out = std::make_unique<TileLocator>(resident(Mt, Nt), program.fabric());
  plan->in0_type = plan->in1_type = plan->out_type = type;
  plan->num_blocks = num_blocks;
  plan->num_steps = num_blocks;
  plan->in0_local_shard = true;
  plan->out_in_l1_shard = true;
  program.keep_alive(plan);
  const CoreCoord core{0, 0};
  plan->cores.push_back(core);
  plan->out_block[{0, 0}] = TileBlock{0, Mt, 0, Nt};
  // Every block's operands are already in L1: the movers only hand the CBs to compute.
  auto local = [](CoreCoord, std::uint32_t) {
    return Feed{FeedMode::Local, CoreCoord{0, 0}, false, nullptr};
  };
  auto in0_block = [Mt, Kt](CoreCoord, std::uint32_t) { return TileBlock{0, Mt, 0, Kt}; };
  auto in1_block = [Nt, Kt](CoreCoord, std::uint32_t) { return TileBlock{0, Kt, 0, Nt}; };
  sim::CircularBuffer& in0_cb = program.create_cb(core, "in0", Mt * Kt, tile_bytes(type), true);
  sim::CircularBuffer& in1_cb = program.create_cb(core, "in1", Kt * Nt, tile_bytes(type), true);
  sim::CircularBuffer& out_cb = program.create_cb(core, "out", Mt * Nt, tile_bytes(type), true);
  const BlockCost cost = block_cost(*plan, program.spec(), Mt, Nt);
  program.add_kernel(
      core, Risc::Ncrisc,
      operand_mover(*plan, core, true, in0_cb, program.noc_port(core, Risc::Ncrisc, NocId::Noc1),
                    local, in0_block));
  program.add_kernel(
      core, Risc::Brisc,
      in1_and_writer(*plan, core, in1_cb, out_cb, program.noc_port(core, Risc::Brisc, NocId::Noc0),
                     local, in1_block, {TileBlock{0, Mt, 0, Nt}}, cost.subblock_tiles));
  program.add_kernel(
      core, Risc::Trisc0,
      compute_kernel(*plan, core, in0_cb, in1_cb, out_cb, Mt, Nt, Mt * Kt, Kt * Nt, 1));
  return program.run();
}

void MatmulOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                     const std::vector<TensorSpec>& outputs) const {
  // The plan outlives build(): kernels reference it until the program has run.
  auto plan = std::make_shared<MatmulPlan>();
  plan->program = &program;
  plan->config = resolved_;
  plan->shape = matmul_shape(inputs[0], inputs[1]);
  plan->compute = options_.compute;
  plan->in0 = std::make_unique<TileLocator>(inputs[0], program.fabric());
  plan->in1 = std::make_unique<TileLocator>(inputs[1], program.fabric());
  plan->out = std::make_unique<TileLocator>(outputs[0], program.fabric());
  if (inputs.size() == 3) plan->bias = std::make_unique<TileLocator>(inputs[2], program.fabric());
  plan->in0_type = inputs[0].data_type();
  plan->in1_type = inputs[1].data_type();
  plan->out_type = outputs[0].data_type();
  plan->num_blocks = static_cast<std::uint32_t>(plan->shape.Kt / resolved_.in0_block_w);
  plan->activation = options_.activation;
  const MemoryConfig& in0_memory = inputs[0].memory_config();
  plan->in0_local_shard = in0_memory.is_l1() && in0_memory.is_sharded();
  plan->out_in_l1_shard =
      outputs[0].memory_config().is_l1() && outputs[0].memory_config().is_sharded();
  program.keep_alive(plan);
  if (resolved_.kind == MatmulProgramKind::MultiCoreReuse)
    build_reuse_family(*plan);
  else
    build_multicast_family(*plan);
}

}  // namespace wormsim::ops
