#pragma once
// The halo phase of TT-NN's sliding-window ops, and the standalone "halo" op
// (HaloDeviceOperation).
//
// On silicon conv2d / max_pool2d / bilinear upsample run TT-NN's halo op first (a separate row in
// ops_perf_results, kernels ttnn/cpp/ttnn/operations/sliding_window/halo/device/kernels/
// dataflow/halo_gather.cpp on both data-movement RISCs). wormsim runs the same phase inside the
// op's own program so that the op is one Operation; the coroutines below are what its kernels
// co_await first. The phase, per core:
//   TRISC  - untilizes a TILE input (pack_untilize) tile row by tile row; ROW_MAJOR: nothing;
//   BRISC / NCRISC - write the runs of sticks this core's shard holds into the halo buffers of
//            the cores that need them (its own included: a local NoC copy), alternating runs
//            between the two RISCs; each landed run raises the destination's semaphore;
//   NCRISC - fills runs of padding sticks from the pad value (local writes), reads an
//            interleaved input's sticks (or tile rows, then untilized) itself, and waits until
//            every run of its buffer has landed.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ops/conv/sliding_window.hpp"
#include "ops/operation.hpp"

namespace wormsim::ops {

// Semaphore a core's halo buffer counts landed runs on.
inline constexpr std::uint32_t kHaloArrivedSemaphore = 16;

// The circular buffers of one core's halo phase.
struct HaloCbs {
  sim::CircularBuffer* untilized{nullptr};  // TILE input: tile rows untilized so far
  sim::CircularBuffer* fetched{
      nullptr};                     // TILE interleaved input: tile rows read, not yet untilized
  std::uint64_t untilize_rows{0};   // tile rows this core untilizes
  std::uint64_t first_tile_row{0};  // first of them (interleaved input)
};

// Allocates the core's halo buffer (unless it is the op's output tensor, `buffer_is_output`) and
// the staging buffers. Core = partition.groups[g][i].
HaloCbs create_halo_cbs(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
                        bool buffer_is_output);

// Tiles of L1 the untilize of a sharded TILE input takes (tt-metal's two double-buffered
// one-tile-row CBs); conv planning counts them.
std::uint32_t halo_untilize_out_tiles(const HaloPlan& plan);

// TRISC part (see above). No-op for a ROW_MAJOR input.
sim::Task halo_untilize(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
                        HaloCbs cbs);
// One RISC's share (runs share, share + shares, ...) of the runs this core's shard sends.
sim::Task halo_send(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
                    std::size_t share, std::size_t shares, noc::NocPort& port, HaloCbs cbs);
// NCRISC part on the receiving core; returns when its halo buffer is complete.
sim::Task halo_gather(Program& program, const HaloPlan& plan, std::size_t g, std::size_t i,
                      noc::NocPort& port, HaloCbs cbs);

// NoC endpoint of page `page` of an interleaved tensor: DRAM bank or L1 bank core (page mod banks).
noc::Endpoint interleaved_page_endpoint(const TensorSpec& spec, std::uint64_t page,
                                        const noc::ChipFabric& fabric);
// A task that raises `semaphore` at time `when` (a remote semaphore increment landing).
sim::Task raise_semaphore_at(sim::Engine& engine, sim::Semaphore& semaphore, sim::Cycle when);

// A reader gathering `commands` separate runs of `bytes` in total from its own core's L1 (the
// window sticks of im2col / pooling): the bytes are booked as one local NoC read and the RISC
// pays the issue cost of every command; returns when the data has landed.
sim::Task read_local_runs(Program& program, noc::NocPort& port, CoreCoord core,
                          std::uint64_t commands, std::uint64_t bytes);
// The same for `commands` local L1-to-L1 writes (upsample's stick copies); returns when the
// writes have left L1.
sim::Task write_local_runs(Program& program, noc::NocPort& port, CoreCoord core,
                           std::uint64_t commands, std::uint64_t bytes);
// The smallest rectangle (NoC0 coordinates) holding every core of `group`, for multicasts.
noc::Rect core_group_rect(Program& program, const std::vector<CoreCoord>& group);

// Adds the whole halo phase of every core of `plan` to `program`, for ops whose program is only
// the halo (the standalone op). Kernels: NCRISC send+gather on NoC1, BRISC send on NoC0, TRISC
// untilize.
void add_halo_program(Program& program, const HaloPlan& plan, bool buffer_is_output);

// Gathers the halo buffers' values: row i*max_window_sticks + k of group g's column slice holds
// window stick k of core i (zero for padding and past the core's window). `input_values` is the
// input's padded row-major buffer.
std::vector<float> gather_halo_values(const HaloPlan& plan, const std::vector<float>& input_values,
                                      const StickMap& map);

struct HaloOptions {
  SlidingWindow window;
  bool output_tile_aligned{true};  // consumer's output rows per core rounded to whole tiles
};

// ttnn halo: the standalone op (TT-NN runs it before conv2d and pools). Input: [1, 1, N*H*W, C]
// L1 HEIGHT_SHARDED (or BLOCK_SHARDED: one halo per channel slice), ROW_MAJOR or TILE. Output:
// ROW_MAJOR [1, 1, cores * max_out_nsticks_per_core, C], sharded like the input, each core's
// shard holding its padded window sticks.
class HaloOp : public Operation {
 public:
  explicit HaloOp(HaloOptions options) : options_(std::move(options)) {}

  std::string op_code() const override { return "HaloDeviceOperation"; }
  std::string attributes() const override;
  std::vector<TensorSpec> output_specs(const std::vector<TensorSpec>& inputs,
                                       const arch::DeviceSpec& device) const override;
  std::vector<Tensor> compute(const std::vector<Tensor>& inputs,
                              const std::vector<TensorSpec>& outputs) const override;
  void build(Program& program, const std::vector<TensorSpec>& inputs,
             const std::vector<TensorSpec>& outputs) const override;

  // The plan of the last output_specs() call (for tests and reports).
  const HaloPlan& plan() const;

 private:
  HaloOptions options_;
  mutable std::optional<HaloPlan> plan_;
};

}  // namespace wormsim::ops
