// Conv2dOp::build: TT-NN's conv2d program (halo phase + sharded im2col matmul), as coroutines.
//
// Per core of the NHW x channel-slice grid (height sharding: one column):
//   NCRISC (NoC1) - its share of the halo sends, the halo gather, then the activation reader:
//                   for every act block (act_block_h tiles of output rows) and K block it reads
//                   the window entries of its output rows from its halo buffer (one NoC read per
//                   contiguous run, reader_conv_activations_padded_with_halo*) into the act CB.
//                   Block sharding: the core owning a K block's channel slice multicasts the
//                   tilized block to its grid row (act mcast sender/receiver semaphores).
//                   With a split reader (ConvPlan::split_reader) it gathers only the first
//                   half of each act block's rows.
//   BRISC  (NoC0) - its share of the halo sends, then the weights: the first core of each weight
//                   group (all cores: height; a grid column: block) reads each K block's weight
//                   tiles from DRAM and multicasts them (reader_writer_tiled_out_1d/2d_mcast_
//                   sender/receiver_conv_weights*); weights stay resident when all K blocks fit
//                   L1, else they are resent per act block. A DRAM output is written here too.
//                   With a split reader it first gathers the second half of each act block's
//                   rows (tt-metal's second act CB), before that block's weights.
//   TRISC          - untilizes a TILE input for the halo, then per act block and K block tilizes
//                   the row-major act block into the output's format (conv_bmm_tilize,
//                   /compute/tilize_tile_cycles) and runs the matmul block:
//                   in0_block_w x (subblock tiles x matmul_tile_cycles[fidelity] + inner-step
//                   overhead) per subblock, spill/reload of partials between K blocks, and the
//                   bias add, activation and pack on the last K block.
// A 1x1 stride-1 conv on a TILE input sharded as its rows (ConvPlan::act_in_place) is tt-metal's
// matmul path: no halo, no act reads (the shard is the act operand), no tilize.
#include <algorithm>
#include <memory>

#include "ops/conv/conv2d.hpp"
#include "ops/conv/halo.hpp"

namespace wormsim::ops {
namespace {

using noc::NocId;
using sim::Cycle;
using sim::Task;

constexpr std::uint32_t kActReadySemaphore = 0;
constexpr std::uint32_t kActValidSemaphore = 1;
constexpr std::uint32_t kWeightReadySemaphore = 2;
constexpr std::uint32_t kWeightValidSemaphore = 3;
// Raised on a core when NCRISC has gathered its halo: a split reader's BRISC reads the halo
// buffer only after that.
constexpr std::uint32_t kHaloReadySemaphore = 4;

// Everything the kernels of one conv program share (kept alive by the program).
struct ConvRun {
  Program* program{nullptr};
  ConvPlan plan;
  Conv2dOptions options;
  std::unique_ptr<TileLocator> weight;
  std::unique_ptr<TileLocator> bias;
  std::unique_ptr<TileLocator> out;
  bool has_bias{false};
  bool out_in_dram{false};
  DataType act_type{DataType::BFloat16};
  DataType weight_type{DataType::BFloat16};
  DataType out_type{DataType::BFloat16};
  DataType bias_type{DataType::BFloat16};
  std::uint64_t weight_tile_rows{0};
  std::uint64_t out_tile_rows{0};
  std::uint32_t nt{0};                                // output channel tiles
  std::uint32_t element_bytes{2};                     // of one gathered act value
  std::vector<std::vector<CoreCoord>> weight_groups;  // per grid column: cores with output rows
  std::vector<std::vector<CoreCoord>> act_groups;     // per NHW row: the row's cores (block)

  const HaloPlan& halo() const { return *plan.halo; }
  CoreCoord core(std::size_t g, std::size_t i) const { return halo().partition.groups[g][i]; }
  std::uint64_t rows_of(std::size_t i) const { return halo().partition.rows_of(i); }
  std::uint32_t act_tiles() const { return plan.act_block_h * plan.in0_block_w; }
  std::uint32_t weight_tiles() const { return plan.in0_block_w * plan.per_core_N; }
  // Output channel tiles of grid column g.
  std::pair<std::uint32_t, std::uint32_t> n_slice(std::size_t g) const {
    const auto first = static_cast<std::uint32_t>(g * plan.per_core_N);
    return {first, std::min(plan.per_core_N, nt - std::min(nt, first))};
  }
};

struct CoreCbs {
  HaloCbs halo;
  sim::CircularBuffer* in0{nullptr};
  sim::CircularBuffer* act_own{nullptr};    // block: own slice gathered, row-major
  sim::CircularBuffer* act_second{nullptr};      // split reader, height: BRISC's rows
  sim::CircularBuffer* act_own_second{nullptr};  // split reader, block: BRISC's rows
  sim::CircularBuffer* act_tiled{nullptr};  // block: own slice tilized, to multicast
  sim::CircularBuffer* weights{nullptr};
  sim::CircularBuffer* bias{nullptr};
  sim::CircularBuffer* out{nullptr};
};

// Compute cycles of one K block of an act block.
struct BlockCost {
  Cycle tilize{0};
  Cycle per_subblock_math{0};
  Cycle per_subblock_reload{0};
  Cycle per_subblock_pack_partial{0};
  Cycle per_subblock_pack_final{0};
  std::uint32_t subblocks{0};
  std::uint32_t subblock_tiles{0};
};

BlockCost block_cost(const ConvRun& run, const arch::DeviceSpec& spec) {
  const ConvPlan& p = run.plan;
  const ComputeKernelConfig& cc = run.options.compute;
  BlockCost cost;
  cost.subblock_tiles = p.subblock_h * p.subblock_w;
  cost.subblocks = (p.act_block_h / p.subblock_h) * (p.per_core_N / p.subblock_w);
  cost.tilize = p.act_in_place ? 0
                               : static_cast<Cycle>(run.act_tiles()) *
                                     tilize_tile_cycles(spec, run.plan.halo->stick_type,
                                                        run.act_type, cc.fp32_dest_acc_en);
  cost.per_subblock_math = static_cast<Cycle>(p.in0_block_w) *
                           matmul_k_step_cycles(spec, cc.math_fidelity, p.subblock_h, p.subblock_w,
                                                run.act_type, run.weight_type);
  const DataType interm = cc.fp32_dest_acc_en ? DataType::Float32 : run.out_type;
  cost.per_subblock_reload = cost.subblock_tiles * (unpack_tile_cycles(spec, interm) +
                                                    spec.compute.dst_reload_overhead_cycles);
  cost.per_subblock_pack_partial = cost.subblock_tiles * pack_tile_cycles(spec, interm);
  Cycle epilogue = 0;
  if (run.has_bias)
    epilogue += spec.compute.eltwise_add_tile_cycles + unpack_tile_cycles(spec, run.bias_type);
  epilogue += fused_activation_tile_cycles(spec, run.options.activation);
  cost.per_subblock_pack_final =
      cost.subblock_tiles * (pack_tile_cycles(spec, run.out_type) + epilogue);
  return cost;
}

// Rows of output act block `a` of core i holding real output sticks.
std::uint64_t real_rows(const ConvRun& run, std::size_t i, std::uint32_t a) {
  const std::uint64_t block_rows = static_cast<std::uint64_t>(run.plan.act_block_h) * kTileHeight;
  const std::uint64_t first = a * block_rows;
  const std::uint64_t rows = run.rows_of(i);
  return first >= rows ? 0 : std::min(block_rows, rows - first);
}

// Rows of act block `a` of core i that reader 0 (NCRISC) or 1 (BRISC, split reader) gathers.
std::uint64_t reader_rows(const ConvRun& run, std::size_t i, std::uint32_t a, int reader) {
  const std::uint64_t rows = real_rows(run, i, a);
  const std::uint64_t first = std::min<std::uint64_t>(
      rows, static_cast<std::uint64_t>(run.plan.first_reader_tile_rows()) * kTileHeight);
  return reader == 0 ? first : rows - first;
}

// Tiles of one K block of an act block that reader 0 or 1 fills.
std::uint32_t reader_tiles(const ConvRun& run, int reader) {
  const std::uint32_t first = run.plan.first_reader_tile_rows() * run.plan.in0_block_w;
  return reader == 0 ? first : run.act_tiles() - first;
}

// Block sharding: one reader's rows of this core's own channel slice of act block `a`, gathered
// row-major into `cb` for the compute kernel to tilize.
Task gather_own_slice(ConvRun& run, std::size_t g, std::size_t i, std::uint32_t a, int reader,
                      noc::NocPort& port, sim::CircularBuffer& cb) {
  const ConvPlan& p = run.plan;
  const std::uint64_t rows = reader_rows(run, i, a, reader);
  std::uint64_t commands = 0;
  std::uint64_t bytes = 0;
  for (const ConvKBlock& kb : p.k_blocks) {
    if (kb.sequence != g) continue;
    commands += rows * kb.gather_segments;
    bytes += rows * kb.count * run.element_bytes;
  }
  const std::uint32_t pages = p.chunks_per_sequence * reader_tiles(run, reader);
  co_await cb.reserve_back(pages);
  co_await read_local_runs(*run.program, port, run.core(g, i), commands, bytes);
  cb.push_back(pages);
}

// Height sharding: one reader's rows of K block `kb` of act block `a`.
Task gather_kernel_row(ConvRun& run, std::size_t g, std::size_t i, std::uint32_t a,
                       const ConvKBlock& kb, int reader, noc::NocPort& port,
                       sim::CircularBuffer& cb) {
  const std::uint32_t pages = reader_tiles(run, reader);
  co_await cb.reserve_back(pages);
  if (!run.plan.act_in_place) {
    const std::uint64_t rows = reader_rows(run, i, a, reader);
    co_await read_local_runs(*run.program, port, run.core(g, i), rows * kb.gather_segments,
                             rows * kb.count * run.element_bytes);
  }
  cb.push_back(pages);
}

// A multicast step of a sender/receiver group: the sender takes `ready` from every receiver,
// multicasts and raises each receiver's `valid` when the data has landed.
Task multicast_to_group(Program& program, CoreCoord self, const std::vector<CoreCoord>& group,
                        noc::NocPort& port, std::uint64_t bytes, std::uint32_t ready_id,
                        std::uint32_t valid_id) {
  const auto receivers = static_cast<std::int64_t>(group.size()) - 1;
  if (receivers <= 0) co_return;
  sim::Engine& engine = program.engine();
  co_await program.semaphore(self, ready_id).take(receivers);
  co_await port.multicast(core_group_rect(program, group), bytes, false);
  const Cycle landed = port.last_transfer().data_done;
  for (CoreCoord r : group) {
    if (!(r == self))
      engine.spawn(raise_semaphore_at(engine, program.semaphore(r, valid_id), landed));
  }
}

// A receiver's side: tell the sender there is room, then wait for the block to land.
Task receive_from(Program& program, CoreCoord self, CoreCoord sender, noc::NocPort& port,
                  std::uint32_t ready_id, std::uint32_t valid_id, std::int64_t& seen) {
  sim::Engine& engine = program.engine();
  const Cycle arrives =
      engine.now() + program.fabric().header_latency(port.noc(), program.noc_coord(self),
                                                     program.noc_coord(sender));
  engine.spawn(raise_semaphore_at(engine, program.semaphore(sender, ready_id), arrives));
  co_await program.semaphore(self, valid_id).wait_at_least(++seen);
}

Task act_reader(ConvRun& run, std::size_t g, std::size_t i, noc::NocPort& port, CoreCbs cbs) {
  Program& program = *run.program;
  const CoreCoord self = run.core(g, i);
  const ConvPlan& p = run.plan;
  if (!p.act_in_place) {
    co_await halo_send(program, run.halo(), g, i, 0, 2, port, cbs.halo);
    co_await halo_gather(program, run.halo(), g, i, port, cbs.halo);
    program.semaphore(self, kHaloReadySemaphore).increment();
  }
  if (run.rows_of(i) == 0) co_return;
  const std::uint32_t tiles = run.act_tiles();
  const std::uint64_t block_bytes = static_cast<std::uint64_t>(tiles) * tile_bytes(run.act_type);
  std::int64_t valid_seen = 0;
  for (std::uint32_t a = 0; a < p.num_act_blocks(); ++a) {
    // Block sharding: every core gathers its own channel slice of the act block first, so the
    // slices of a grid row are gathered in parallel before they are multicast in K order.
    if (p.block && !p.act_in_place) co_await gather_own_slice(run, g, i, a, 0, port, *cbs.act_own);
    for (const ConvKBlock& kb : p.k_blocks) {
      if (!p.block) {
        co_await gather_kernel_row(run, g, i, a, kb, 0, port, *cbs.in0);
        continue;
      }
      co_await cbs.in0->reserve_back(tiles);
      if (kb.sequence == g) {
        // On the matmul path the block is already tilized in this core's input shard.
        if (!p.act_in_place) co_await cbs.act_tiled->wait_front(tiles);
        co_await multicast_to_group(program, self, run.act_groups[i], port, block_bytes,
                                    kActReadySemaphore, kActValidSemaphore);
        if (!p.act_in_place) cbs.act_tiled->pop_front(tiles);
      } else {
        co_await receive_from(program, self, run.act_groups[i][kb.sequence], port,
                              kActReadySemaphore, kActValidSemaphore, valid_seen);
      }
      cbs.in0->push_back(tiles);
    }
  }
}

Task output_writer(ConvRun& run, std::size_t g, std::size_t i, noc::NocPort& port,
                   sim::CircularBuffer& out, std::uint32_t subblock_tiles) {
  const ConvPlan& p = run.plan;
  const auto [col0, cols] = run.n_slice(g);
  const std::uint64_t row_base = i * static_cast<std::uint64_t>(p.per_core_M);
  for (std::uint32_t a = 0; a < p.num_act_blocks(); ++a) {
    for (std::uint32_t sr = 0; sr < p.act_block_h / p.subblock_h; ++sr) {
      for (std::uint32_t sc = 0; sc < p.per_core_N / p.subblock_w; ++sc) {
        co_await out.wait_front(subblock_tiles);
        for (std::uint32_t r = 0; r < p.subblock_h; ++r) {
          for (std::uint32_t c = 0; c < p.subblock_w; ++c) {
            const std::uint64_t row =
                row_base + static_cast<std::uint64_t>(a) * p.act_block_h + sr * p.subblock_h + r;
            const std::uint32_t col = sc * p.subblock_w + c;
            if (row >= run.out_tile_rows || col >= cols) continue;  // padding tiles are not stored
            co_await port.write(run.out->tile(row, col0 + col), run.out->page_bytes());
          }
        }
        out.pop_front(subblock_tiles);
      }
    }
  }
  co_await port.write_barrier();
}

Task weight_reader(ConvRun& run, std::size_t g, std::size_t i, noc::NocPort& port, CoreCbs cbs) {
  Program& program = *run.program;
  sim::Engine& engine = program.engine();
  const CoreCoord self = run.core(g, i);
  const ConvPlan& p = run.plan;
  if (!p.act_in_place) co_await halo_send(program, run.halo(), g, i, 1, 2, port, cbs.halo);
  if (run.rows_of(i) == 0) co_return;
  const BlockCost cost = block_cost(run, program.spec());
  std::optional<sim::ProcessId> writer;
  if (run.out_in_dram)
    writer = engine.spawn(output_writer(run, g, i, port, *cbs.out, cost.subblock_tiles));
  const auto [col0, cols] = run.n_slice(g);
  if (run.has_bias) {
    co_await cbs.bias->reserve_back(p.per_core_N);
    for (std::uint32_t c = 0; c < cols; ++c)
      co_await port.read(run.bias->tile(0, col0 + c), run.bias->page_bytes());
    co_await port.read_barrier();
    cbs.bias->push_back(p.per_core_N);
  }
  const std::vector<CoreCoord>& group = run.weight_groups[g];
  const bool sender = group.front() == self;
  const std::uint32_t tiles = run.weight_tiles();
  const std::uint64_t block_bytes = static_cast<std::uint64_t>(tiles) * tile_bytes(run.weight_type);
  const auto nb = static_cast<std::uint64_t>(p.num_k_blocks());
  std::int64_t valid_seen = 0;
  const std::uint32_t passes = p.weights_resident ? 1 : p.num_act_blocks();
  if (p.split_reader) co_await program.semaphore(self, kHaloReadySemaphore).wait_at_least(1);
  for (std::uint32_t a = 0; a < p.num_act_blocks(); ++a) {
    // With a split reader this RISC gathers its part of the act block before the weights.
    if (p.split_reader && p.block)
      co_await gather_own_slice(run, g, i, a, 1, port, *cbs.act_own_second);
    for (std::uint64_t kb = 0; kb < nb; ++kb) {
      if (p.split_reader && !p.block)
        co_await gather_kernel_row(run, g, i, a, p.k_blocks[kb], 1, port, *cbs.act_second);
      if (a >= passes) continue;
      co_await cbs.weights->reserve_back(tiles);
      if (sender) {
        // This K block's share of the weight tensor's tile rows, this column's output tiles.
        const std::uint64_t r0 = kb * run.weight_tile_rows / nb;
        const std::uint64_t r1 = (kb + 1) * run.weight_tile_rows / nb;
        for (std::uint64_t r = r0; r < r1; ++r) {
          for (std::uint32_t c = 0; c < cols; ++c)
            co_await port.read(run.weight->tile(r, col0 + c), run.weight->page_bytes());
        }
        co_await port.read_barrier();
        co_await multicast_to_group(program, self, group, port, block_bytes, kWeightReadySemaphore,
                                    kWeightValidSemaphore);
      } else {
        co_await receive_from(program, self, group.front(), port, kWeightReadySemaphore,
                              kWeightValidSemaphore, valid_seen);
      }
      cbs.weights->push_back(tiles);
    }
  }
  if (writer) co_await engine.join(*writer);
}

Task compute_kernel(ConvRun& run, std::size_t g, std::size_t i, CoreCbs cbs) {
  Program& program = *run.program;
  const arch::DeviceSpec& spec = program.spec();
  const CoreCoord self = run.core(g, i);
  const ConvPlan& p = run.plan;
  if (!p.act_in_place) co_await halo_untilize(program, run.halo(), g, i, cbs.halo);
  if (run.rows_of(i) == 0) co_return;
  const BlockCost cost = block_cost(run, spec);
  const std::uint32_t tiles = run.act_tiles();
  const std::uint32_t w_tiles = run.weight_tiles();
  const std::uint32_t nb = p.num_k_blocks();
  bool bias_ready = false;
  // Height sharding tilizes here, per K block; block sharding tilizes the own slice above.
  const bool tilizes_here = !p.block && !p.act_in_place;
  for (std::uint32_t a = 0; a < p.num_act_blocks(); ++a) {
    if (p.block && !p.act_in_place) {
      // Tilize this core's channel slice (all its K blocks) before the grid row multicasts it.
      const std::uint32_t own = p.chunks_per_sequence * tiles;
      const std::uint32_t first = p.chunks_per_sequence * reader_tiles(run, 0);
      co_await cbs.act_own->wait_front(first);
      if (p.split_reader) co_await cbs.act_own_second->wait_front(own - first);
      co_await program.compute(self, p.chunks_per_sequence * cost.tilize);
      cbs.act_own->pop_front(first);
      if (p.split_reader) cbs.act_own_second->pop_front(own - first);
      co_await cbs.act_tiled->reserve_back(own);
      cbs.act_tiled->push_back(own);
    }
    for (std::uint32_t kb = 0; kb < nb; ++kb) {
      // Height sharding fills in0 with the act RISC's rows only; a split reader's go to act_second.
      const std::uint32_t in0_tiles = p.block ? tiles : reader_tiles(run, 0);
      co_await cbs.in0->wait_front(in0_tiles);
      if (p.split_reader && !p.block) co_await cbs.act_second->wait_front(tiles - in0_tiles);
      if (tilizes_here) {
        // Height sharding tilizes the row-major act into its own CB (act_tilized) before it
        // waits for the weights, then frees the act CB, so the readers gather the next block
        // during this block's matmul.
        co_await program.compute(self, cost.tilize);
        cbs.in0->pop_front(in0_tiles);
        if (p.split_reader) cbs.act_second->pop_front(tiles - in0_tiles);
      }
      if (p.weights_resident) {
        if (a == 0) co_await cbs.weights->wait_front((kb + 1) * w_tiles);
      } else {
        co_await cbs.weights->wait_front(w_tiles);
      }
      const bool last = kb + 1 == nb;
      const bool reload = kb > 0 && !run.options.compute.packer_l1_acc;
      Cycle per_subblock = cost.per_subblock_math + (reload ? cost.per_subblock_reload : 0);
      const Cycle block_start = spec.compute.block_overhead_cycles;
      if (!last) {
        per_subblock += cost.per_subblock_pack_partial;
        co_await program.compute(self, block_start + per_subblock * cost.subblocks);
      } else {
        if (run.has_bias && !bias_ready) {
          co_await cbs.bias->wait_front(p.per_core_N);
          bias_ready = true;
        }
        co_await program.compute(self, block_start);
        for (std::uint32_t sb = 0; sb < cost.subblocks; ++sb) {
          co_await program.compute(self, per_subblock + cost.per_subblock_pack_final);
          co_await cbs.out->reserve_back(cost.subblock_tiles);
          cbs.out->push_back(cost.subblock_tiles);
        }
      }
      if (!tilizes_here) cbs.in0->pop_front(in0_tiles);
      if (!p.weights_resident) cbs.weights->pop_front(w_tiles);
    }
  }
  if (p.weights_resident) cbs.weights->pop_front(nb * w_tiles);
}

}  // namespace

void Conv2dOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                     const std::vector<TensorSpec>& outputs) const {
  auto run = std::make_shared<ConvRun>();
  program.keep_alive(run);
  run->program = &program;
  run->plan = plan();
  run->options = options_;
  run->weight = std::make_unique<TileLocator>(inputs[1], program.fabric());
  run->has_bias = inputs.size() == 3;
  if (run->has_bias) {
    run->bias = std::make_unique<TileLocator>(inputs[2], program.fabric());
    run->bias_type = inputs[2].data_type();
  }
  run->out = std::make_unique<TileLocator>(outputs[0], program.fabric());
  run->out_in_dram = !outputs[0].memory_config().is_l1() || !outputs[0].is_sharded();
  run->act_type = run->plan.act_type;
  run->element_bytes = element_bytes(run->plan.halo->stick_type);  // of a gathered stick value
  run->weight_type = inputs[1].data_type();
  run->out_type = outputs[0].data_type();
  run->weight_tile_rows = inputs[1].height_tiles();
  run->out_tile_rows = outputs[0].height_tiles();
  run->nt = static_cast<std::uint32_t>(outputs[0].width_tiles());
  const ConvPlan& p = run->plan;
  const NhwPartition& part = p.halo->partition;
  run->weight_groups.resize(part.groups.size());
  run->act_groups.resize(part.cores_per_group());
  for (std::size_t g = 0; g < part.groups.size(); ++g) {
    for (std::size_t i = 0; i < part.cores_per_group(); ++i) {
      if (part.rows_of(i) == 0) continue;
      run->weight_groups[g].push_back(part.groups[g][i]);
      run->act_groups[i].push_back(part.groups[g][i]);
    }
  }
  const std::uint32_t act_tile = tile_bytes(run->act_type);
  const DataType interm = options_.compute.fp32_dest_acc_en ? DataType::Float32 : run->out_type;
  for (std::size_t g = 0; g < part.groups.size(); ++g) {
    for (std::size_t i = 0; i < part.cores_per_group(); ++i) {
      const CoreCoord core = part.groups[g][i];
      CoreCbs cbs;
      if (!p.act_in_place)
        cbs.halo = create_halo_cbs(program, *p.halo, g, i, /*buffer_is_output=*/false);
      if (part.rows_of(i) > 0) {
        const std::uint32_t tiles = run->act_tiles();
        const std::uint32_t first = reader_tiles(*run, 0);
        const std::uint32_t stick_tile = tile_bytes(p.halo->stick_type);
        const std::uint32_t blocks = p.act_cb_blocks;
        if (p.block || p.act_in_place) {
          cbs.in0 = &program.create_cb(core, "act", blocks * tiles, act_tile);
        } else {
          // Height sharding: the readers fill row-major act CBs (a split reader's second one
          // takes BRISC's rows), which the compute kernel tilizes into one act block.
          cbs.in0 = &program.create_cb(core, "act", blocks * first, stick_tile);
          if (p.split_reader) {
            cbs.act_second =
                &program.create_cb(core, "act_second_reader", blocks * (tiles - first), stick_tile);
          }
          program.create_cb(core, "act_tilized", tiles, act_tile);
        }
        if (p.block && !p.act_in_place) {
          cbs.act_own =
              &program.create_cb(core, "act_row_major", p.chunks_per_sequence * first, stick_tile);
          if (p.split_reader) {
            cbs.act_own_second =
                &program.create_cb(core, "act_row_major_second_reader",
                                   p.chunks_per_sequence * (tiles - first), stick_tile);
          }
          cbs.act_tiled =
              &program.create_cb(core, "act_tilized", p.chunks_per_sequence * tiles, act_tile);
        }
        const std::uint32_t w_pages =
            (p.weights_resident ? p.num_k_blocks() : 2) * run->weight_tiles();
        cbs.weights = &program.create_cb(core, "weights", w_pages, tile_bytes(run->weight_type));
        if (run->has_bias)
          cbs.bias = &program.create_cb(core, "bias", p.per_core_N, tile_bytes(run->bias_type));
        if (p.num_k_blocks() > 1) {
          program.create_cb(core, "matmul_partials", p.act_block_h * p.per_core_N,
                            tile_bytes(interm));
        }
        const std::uint32_t sb_tiles = p.subblock_h * p.subblock_w;
        if (run->out_in_dram) {
          cbs.out = &program.create_cb(core, "out", 2 * p.subblock_h * p.per_core_N,
                                       tile_bytes(run->out_type));
        } else {
          // The output shard itself: nobody drains it.
          cbs.out = &program.create_cb(core, "out", std::max(p.per_core_M * p.per_core_N, sb_tiles),
                                       tile_bytes(run->out_type), /*backed_by_tensor=*/true);
        }
      }
      program.add_kernel(
          core, Risc::Ncrisc,
          act_reader(*run, g, i, program.noc_port(core, Risc::Ncrisc, NocId::Noc1), cbs));
      program.add_kernel(
          core, Risc::Brisc,
          weight_reader(*run, g, i, program.noc_port(core, Risc::Brisc, NocId::Noc0), cbs));
      if (part.rows_of(i) > 0 || inputs[0].layout() == Layout::Tile) {
        program.add_kernel(core, Risc::Trisc0, compute_kernel(*run, g, i, cbs));
      }
    }
  }
}

}  // namespace wormsim::ops
