// SdpaOp::build: the flash-attention program (reader / compute / writer per core).
#include <algorithm>
#include <memory>

#include "ops/attention/sdpa.hpp"

namespace wormsim::ops {
namespace {

using noc::NocId;
using sim::Cycle;
using sim::Task;

std::uint64_t div_up(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

struct SdpaRun {
  Program* program{nullptr};
  const SdpaOp* op{nullptr};
  ComputeKernelConfig compute;
  bool causal{false};
  bool has_mask{false};
  std::unique_ptr<TileLocator> q, k, v, mask, out;
  std::uint32_t q_heads{1}, kv_heads{1}, mask_batches{1}, mask_heads{1};
  std::uint64_t sqt{1}, skt{1}, dht{1}, q_tile_rows{1}, k_tile_rows{1};  // per head, in tiles
  std::uint32_t q_chunk_size{32}, k_chunk_size{32};
  DataType out_type{DataType::BFloat16};
  DataType mask_type{DataType::BFloat16};

  std::uint32_t chunk_tiles_q() const { return static_cast<std::uint32_t>(sqt * dht); }
  std::uint32_t chunk_tiles_kv() const { return static_cast<std::uint32_t>(skt * dht); }
  std::uint32_t mask_tiles() const { return static_cast<std::uint32_t>(sqt * skt); }
  // Whether chunk (q_chunk, k_chunk) straddles the causal diagonal (needs mask tiles).
  bool diagonal(std::uint32_t q_chunk, std::uint32_t k_chunk) const {
    return causal && static_cast<std::uint64_t>(k_chunk + 1) * k_chunk_size >
                         static_cast<std::uint64_t>(q_chunk) * q_chunk_size + 1;
  }
};

Task read_block(noc::NocPort& port, const TileLocator& locator, std::uint64_t row0,
                std::uint64_t rows, std::uint64_t col0, std::uint64_t cols) {
  for (std::uint64_t r = 0; r < rows; ++r) {
    for (std::uint64_t c = 0; c < cols; ++c)
      co_await port.read(locator.tile(row0 + r, col0 + c), locator.page_bytes());
  }
  co_await port.read_barrier();
}

Task sdpa_reader(SdpaRun& run, noc::NocPort& port, std::vector<SdpaUnit> units,
                 sim::CircularBuffer& q_cb, sim::CircularBuffer& k_cb, sim::CircularBuffer& v_cb,
                 sim::CircularBuffer* mask_cb) {
  const std::uint32_t group = run.q_heads / run.kv_heads;
  for (const SdpaUnit& u : units) {
    co_await q_cb.reserve_back(run.chunk_tiles_q());
    const std::uint64_t q_row =
        (static_cast<std::uint64_t>(u.batch) * run.q_heads + u.head) * run.q_tile_rows +
        u.q_chunk * run.sqt;
    co_await read_block(port, *run.q, q_row, run.sqt, 0, run.dht);
    q_cb.push_back(run.chunk_tiles_q());
    const std::uint64_t kv_head_row =
        (static_cast<std::uint64_t>(u.batch) * run.kv_heads + u.head / group) * run.k_tile_rows;
    for (std::uint32_t j = 0; j < run.op->k_chunks_for(u.q_chunk); ++j) {
      co_await k_cb.reserve_back(run.chunk_tiles_kv());
      co_await read_block(port, *run.k, kv_head_row + j * run.skt, run.skt, 0, run.dht);
      k_cb.push_back(run.chunk_tiles_kv());
      if (run.has_mask) {
        co_await mask_cb->reserve_back(run.mask_tiles());
        const std::uint64_t mb = run.mask_batches == 1 ? 0 : u.batch;
        const std::uint64_t mh = run.mask_heads == 1 ? 0 : u.head;
        const std::uint64_t m_row =
            (mb * run.mask_heads + mh) * run.q_tile_rows + u.q_chunk * run.sqt;
        co_await read_block(port, *run.mask, m_row, run.sqt, j * run.skt, run.skt);
        mask_cb->push_back(run.mask_tiles());
      }
      co_await v_cb.reserve_back(run.chunk_tiles_kv());
      co_await read_block(port, *run.v, kv_head_row + j * run.skt, run.skt, 0, run.dht);
      v_cb.push_back(run.chunk_tiles_kv());
    }
  }
}

// Compute cycles of the phases of one K chunk.
struct ChunkCost {
  Cycle scores{0};  // QK^T matmul, row max, exp, row sum
  Cycle mask{0};    // mask add (provided or causal diagonal)
  Cycle values{0};  // P V matmul
  Cycle correction{
      0};           // online-softmax rescaling of the running sum and output (not the first chunk)
  Cycle finish{0};  // 1/sum and the output scaling after the last chunk
};

ChunkCost chunk_cost(const SdpaRun& run, const arch::DeviceSpec& spec) {
  const ComputeKernelConfig& cc = run.compute;
  const auto fid = static_cast<int>(cc.math_fidelity);
  const Cycle mm = spec.compute.matmul_tile_cycles[fid];
  const Cycle step = spec.compute.matmul_inner_step_overhead_cycles;
  const Cycle unpack = unpack_tile_cycles(spec, DataType::BFloat16);
  const Cycle pack = pack_tile_cycles(spec, DataType::BFloat16);
  const Cycle add = spec.compute.eltwise_add_tile_cycles;
  const Cycle mul = spec.compute.eltwise_mul_tile_cycles[fid];
  const Cycle reduce = spec.compute.reduce_tile_cycles;
  const Cycle exp = sfpu_tile_cycles(spec, cc.math_approx_mode ? "exp_approx" : "exp");
  const Cycle block = spec.compute.block_overhead_cycles;
  const Cycle sq = run.sqt, sk = run.skt, dh = run.dht;
  const std::uint32_t dst = dst_tiles(spec, cc);
  // Subblocks: as many output tiles per Dst acquire as fit (whole rows of the chunk first).
  const Cycle qk_subblocks = div_up(sq * sk, std::min<Cycle>(dst, sk));
  const Cycle pv_subblocks = div_up(sq * dh, std::min<Cycle>(dst, dh));
  ChunkCost c;
  c.scores = block + sq * sk * dh * mm + qk_subblocks * dh * step + sq * sk * pack  // QK^T
             + block + sq * sk * (unpack + reduce) + sq * pack                      // row max
             + block + sq * add                                  // max with the running max
             + block + sq * sk * (unpack + add + exp + pack)     // exp(s - max)
             + block + sq * sk * (unpack + reduce) + sq * pack;  // row sum
  c.mask = block + sq * sk * (2 * unpack + add + pack);
  c.values = block + sq * dh * sk * mm + pv_subblocks * sk * step + sq * dh * pack;
  c.correction = block + sq * (add + exp + pack)                       // exp(old max - new max)
                 + block + sq * (2 * unpack + mul + add + pack)        // running sum
                 + block + sq * dh * (2 * unpack + mul + add + pack);  // running output
  c.finish = block + sq * sfpu_tile_cycles(spec, "recip") +
             sq * dh * (2 * unpack + mul + pack_tile_cycles(spec, run.out_type));
  return c;
}

Task sdpa_compute(SdpaRun& run, CoreCoord core, std::vector<SdpaUnit> units,
                  sim::CircularBuffer& q_cb, sim::CircularBuffer& k_cb, sim::CircularBuffer& v_cb,
                  sim::CircularBuffer* mask_cb, sim::CircularBuffer& out_cb) {
  Program& program = *run.program;
  const ChunkCost cost = chunk_cost(run, program.spec());
  for (const SdpaUnit& u : units) {
    co_await q_cb.wait_front(run.chunk_tiles_q());
    const std::uint32_t chunks = run.op->k_chunks_for(u.q_chunk);
    for (std::uint32_t j = 0; j < chunks; ++j) {
      co_await k_cb.wait_front(run.chunk_tiles_kv());
      Cycle cycles = cost.scores;
      const bool masked = run.has_mask || run.diagonal(u.q_chunk, j);
      if (masked) {
        co_await mask_cb->wait_front(run.mask_tiles());
        cycles += cost.mask;
      }
      co_await program.compute(core, cycles);
      k_cb.pop_front(run.chunk_tiles_kv());
      if (masked) mask_cb->pop_front(run.mask_tiles());
      co_await v_cb.wait_front(run.chunk_tiles_kv());
      co_await program.compute(core, cost.values + (j > 0 ? cost.correction : 0));
      v_cb.pop_front(run.chunk_tiles_kv());
    }
    co_await program.compute(core, cost.finish);
    q_cb.pop_front(run.chunk_tiles_q());
    co_await out_cb.reserve_back(run.chunk_tiles_q());
    out_cb.push_back(run.chunk_tiles_q());
  }
}

Task sdpa_writer(SdpaRun& run, CoreCoord core, noc::NocPort& port, std::vector<SdpaUnit> units,
                 sim::CircularBuffer* mask_cb, sim::CircularBuffer& out_cb) {
  const noc::Endpoint self = run.program->fabric().worker(core.x, core.y);
  const std::uint64_t mask_bytes =
      static_cast<std::uint64_t>(run.mask_tiles()) * tile_bytes(run.mask_type);
  for (const SdpaUnit& u : units) {
    if (run.causal) {
      // The writer generates the causal mask tiles of the diagonal chunks in L1.
      for (std::uint32_t j = 0; j < run.op->k_chunks_for(u.q_chunk); ++j) {
        if (!run.diagonal(u.q_chunk, j)) continue;
        co_await mask_cb->reserve_back(run.mask_tiles());
        co_await port.write(self, mask_bytes);
        co_await port.writes_flushed();
        mask_cb->push_back(run.mask_tiles());
      }
    }
    co_await out_cb.wait_front(run.chunk_tiles_q());
    const std::uint64_t row0 =
        (static_cast<std::uint64_t>(u.batch) * run.q_heads + u.head) * run.q_tile_rows +
        u.q_chunk * run.sqt;
    for (std::uint64_t r = 0; r < run.sqt; ++r) {
      for (std::uint64_t c = 0; c < run.dht; ++c)
        co_await port.write(run.out->tile(row0 + r, c), run.out->page_bytes());
    }
    out_cb.pop_front(run.chunk_tiles_q());
  }
  co_await port.write_barrier();
}

}  // namespace

void SdpaOp::build(Program& program, const std::vector<TensorSpec>& inputs,
                   const std::vector<TensorSpec>& outputs) const {
  auto run = std::make_shared<SdpaRun>();
  program.keep_alive(run);
  run->program = &program;
  run->op = this;
  run->compute = options_.compute;
  run->causal = options_.is_causal;
  run->has_mask = has_mask_;
  run->q = std::make_unique<TileLocator>(inputs[0], program.fabric());
  run->k = std::make_unique<TileLocator>(inputs[1], program.fabric());
  run->v = std::make_unique<TileLocator>(inputs[2], program.fabric());
  run->out = std::make_unique<TileLocator>(outputs[0], program.fabric());
  run->q_heads = q_heads_;
  run->kv_heads = kv_heads_;
  run->sqt = options_.q_chunk_size / kTileHeight;
  run->skt = options_.k_chunk_size / kTileHeight;
  run->dht = inputs[0].width_tiles();
  run->q_tile_rows = inputs[0].padded_shape().y() / kTileHeight;
  run->k_tile_rows = inputs[1].padded_shape().y() / kTileHeight;
  run->q_chunk_size = options_.q_chunk_size;
  run->k_chunk_size = options_.k_chunk_size;
  run->out_type = outputs[0].data_type();
  if (has_mask_) {
    run->mask = std::make_unique<TileLocator>(inputs[3], program.fabric());
    run->mask_type = inputs[3].data_type();
    run->mask_batches = inputs[3].logical_shape().w();
    run->mask_heads = inputs[3].logical_shape().z();
  }
  const DataType im = DataType::BFloat16;
  const std::uint32_t sqt = static_cast<std::uint32_t>(run->sqt);
  const std::uint32_t skt = static_cast<std::uint32_t>(run->skt);
  const std::uint32_t dht = static_cast<std::uint32_t>(run->dht);
  for (std::size_t i = 0; i < work_.size(); ++i) {
    if (work_[i].empty()) continue;
    const CoreCoord core{static_cast<std::uint32_t>(i % grid_x_),
                         static_cast<std::uint32_t>(i / grid_x_)};
    sim::CircularBuffer& q_cb =
        program.create_cb(core, "q", 2 * run->chunk_tiles_q(), tile_bytes(inputs[0].data_type()));
    sim::CircularBuffer& k_cb =
        program.create_cb(core, "k", 2 * run->chunk_tiles_kv(), tile_bytes(inputs[1].data_type()));
    sim::CircularBuffer& v_cb =
        program.create_cb(core, "v", 2 * run->chunk_tiles_kv(), tile_bytes(inputs[2].data_type()));
    sim::CircularBuffer* mask_cb = nullptr;
    if (has_mask_ || options_.is_causal) {
      mask_cb = &program.create_cb(core, "mask", 2 * run->mask_tiles(), tile_bytes(run->mask_type));
    }
    // Intermediates the compute kernel keeps in L1 (scores, P, running output, statistics).
    program.create_cb(core, "qk_im", sqt * skt, tile_bytes(im));
    program.create_cb(core, "p_im", sqt * skt, tile_bytes(im));
    program.create_cb(core, "out_im", 3 * sqt * dht, tile_bytes(im));
    program.create_cb(core, "stats", 6 * sqt, tile_bytes(im));
    sim::CircularBuffer& out_cb =
        program.create_cb(core, "out", sqt * dht, tile_bytes(run->out_type));
    program.add_kernel(core, Risc::Ncrisc,
                       sdpa_reader(*run, program.noc_port(core, Risc::Ncrisc, NocId::Noc1),
                                   work_[i], q_cb, k_cb, v_cb, has_mask_ ? mask_cb : nullptr));
    program.add_kernel(core, Risc::Trisc0,
                       sdpa_compute(*run, core, work_[i], q_cb, k_cb, v_cb, mask_cb, out_cb));
    program.add_kernel(core, Risc::Brisc,
                       sdpa_writer(*run, core, program.noc_port(core, Risc::Brisc, NocId::Noc0),
                                   work_[i], mask_cb, out_cb));
  }
}

}  // namespace wormsim::ops
