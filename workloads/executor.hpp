#pragma once
// Runs a Graph on one chip of an ops::Device the way a TT-NN program runs a model:
//
//  - weights, constants and inputs get their device buffers before the first op and keep them
//    for the whole run (weights persist on the device between inferences); with numerics their
//    host values are made at the first reader and dropped after the last (host memory only);
//  - nodes run in Graph::topological_order(); each node's output buffers are allocated just
//    before it runs (Device::allocate, so L1 / DRAM capacity applies) and every activation is
//    freed right after its last reader (Graph::last_uses), or right after its producer when
//    nothing reads it; graph outputs live until the end of the run;
//  - between two ops the device idles for the host's op-to-op gap: spec.host.trace_op_gap_ns
//    when the model runs as a captured trace, spec.host.eager_dispatch_ns when every op is
//    dispatched eagerly;
//  - with numerics on, every op computes device values (number formats, math fidelity) and
//    the fp32 golden propagated from the graph's sources, so a node's PCC compares its output
//    with the fp32 model at that point (accumulated error); local_op_pcc adds each op's own
//    error: its golden recomputed from the device values of the activations it reads and the
//    exact values of its weights / constants / inputs (so its own rounding counts, upstream
//    error does not).
//
// Source values: inputs are U(-1, 1) unless given; weights come from an HDF5 file
// (workloads/weights.hpp) or are synthesised from their init ("uniform": U(-s, s), "normal":
// N(0, s), "ones", "zeros", "arange"), seeded by a hash of the tensor's name and the run's
// seed, so a tensor's values do not depend on the order tensors were added. Integer tensors
// (UINT32 / INT32, e.g. token ids) draw whole numbers from [0, bound): bound = the row count
// of the table when an embedding node reads the tensor as its indices, else init_scale.
// Device values are rounded to the tensor's data type; the golden keeps the unrounded ones.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ops/device.hpp"
#include "ops/operation.hpp"
#include "workloads/graph.hpp"
#include "workloads/weights.hpp"

namespace wormsim::workloads {

// How the host issues the ops: replaying a captured trace (small device-side gap) or
// dispatching each op eagerly (host + dispatch cost per op).
enum class DispatchMode { Trace, Eager };
std::string_view to_string(DispatchMode mode);
std::optional<DispatchMode> parse_dispatch_mode(std::string_view text);  // "trace" / "eager"

struct ExecutorOptions {
  std::uint32_t chip{0};
  bool numerics{true};
  std::uint64_t seed{0};
  DispatchMode dispatch{DispatchMode::Trace};
  // An op identical to an earlier one (same op, parameters, specs, chip) replays its timing
  // instead of simulating its program again; results are bit-identical either way
  // (ops/op_timing_reuse.hpp). false simulates every op (`--no-op-reuse`).
  bool reuse_op_timing{true};
  // With reuse_op_timing: simulate identical ops anyway and check each against its recording
  // (OpTimingReuse::set_verify); a mismatch is an error. For checking new models or specs.
  bool verify_op_reuse{false};
  // Free each activation after its last use (TT-NN's deallocate); false keeps all of them to
  // the end of the run (for comparing peaks).
  bool free_after_last_use{true};
  // When an op's circular buffers do not fit because freed tensors left holes in L1, reallocate
  // the live L1 tensors (ttnn.reallocate: each copied up to the top of L1, timed with the move
  // op) and retry once. false: the out-of-memory error stands, as on a model without
  // ttnn.reallocate calls.
  bool reallocate_l1{true};
  // A node's requested program_config that is invalid for its shapes is an error naming the
  // node instead of a fallback to an automatic config (`--strict`).
  bool strict_program_configs{false};
  // Also compute each op's own PCC (see above; one more compute per op).
  bool local_op_pcc{false};
  // Time writing the inputs to the device over PCIe before the first op and reading the graph
  // outputs back after the last one (noc::Board host_write / host_read).
  bool host_io{true};
  // Weights and constants found here are loaded; others are synthesised only when
  // synthesize_missing_weights is set (else the run stops naming the missing dataset).
  const WeightFile* weights{nullptr};
  bool synthesize_missing_weights{false};
  // Input values by tensor name (spec must equal the graph's); missing inputs are random.
  std::map<std::string, ops::Tensor> inputs;
  // Called after each node with (nodes done, nodes total).
  std::function<void(std::size_t, std::size_t)> progress;
};

// One node's run.
struct NodeRun {
  NodeId node{0};
  std::string name;
  std::string group;
  std::string op;           // registered op name ("matmul")
  ops::OpRecord record;     // op_code, timing, perf model, bytes, PCC (accumulated)
  double duration_ns{0};    // device FW duration
  double gap_before_ns{0};  // op-to-op gap before it (0 for the first op)
  // L1 tensors reallocated (copied up to close L1 holes) before the op could place its
  // circular buffers, and the device time those copies took (see ExecutorOptions).
  std::uint32_t reallocated_tensors{0};
  double reallocate_ns{0};
  std::optional<double> local_pcc;
  // local_pcc when computed, else the accumulated PCC.
  std::optional<double> pcc() const { return local_pcc ? local_pcc : record.pcc; }
};

struct GraphRun {
  std::string graph;
  std::uint32_t chip{0};
  DispatchMode dispatch{DispatchMode::Trace};
  std::vector<NodeRun> nodes;      // in execution order
  double op_time_ns{0};            // sum of the ops' FW durations
  double gap_time_ns{0};           // sum of the op-to-op gaps
  double reallocate_time_ns{0};    // L1 reallocation copies (see NodeRun::reallocate_ns)
  std::uint32_t reallocations{0};  // tensors reallocated in L1 during the run
  double device_time_ns{0};        // op_time_ns + gap_time_ns + reallocate_time_ns
  double host_write_ns{0};         // inputs host -> device (0 without host_io)
  double host_read_ns{0};          // outputs device -> host
  double launch_ns{0};             // trace: one execute_trace call; eager: 0 (already in the gaps)
  // One inference seen from the host: launch, input write, device time, output read (one
  // command queue: nothing overlaps).
  double end_to_end_ns() const { return launch_ns + host_write_ns + device_time_ns + host_read_ns; }
  std::uint64_t l1_peak_bytes{0};  // highest per-core L1 use (CBs + buffers) during the run
  std::uint32_t l1_peak_core_x{0};
  std::uint32_t l1_peak_core_y{0};
  std::uint64_t dram_peak_bytes{0};  // peak DRAM use of the chip (per-bank peak x banks)
  std::optional<double> pcc;         // lowest PCC over the graph outputs vs the fp32 golden
  std::optional<double> worst_op_pcc;
  std::string worst_op;  // node with worst_op_pcc
  std::map<std::string, ops::Tensor>
      outputs;  // graph outputs by tensor name (values when numerics)
};

GraphRun run_graph(ops::Device& device, const Graph& graph, const ExecutorOptions& options = {});

// The values the executor gives a source tensor that has no file data (see the header note).
// `index_bound`: for integer tensors, values lie in [0, index_bound).
ops::Tensor synthetic_tensor(const GraphTensor& tensor, std::uint64_t seed,
                             std::uint64_t index_bound = 0);

// Deterministic 64-bit name hash (FNV-1a), stable across platforms and runs.
std::uint64_t name_hash(std::string_view name);

// Host <-> device transfer of a whole tensor over PCIe (and Ethernet for a chip without PCIe),
// starting at `at`; returns the cycle the last byte arrived. Pages go to / come from the DRAM
// banks or L1 cores holding them.
sim::Cycle host_write_tensor(ops::Device& device, std::uint32_t chip, const ops::TensorSpec& spec,
                             sim::Cycle at);
sim::Cycle host_read_tensor(ops::Device& device, std::uint32_t chip, const ops::TensorSpec& spec,
                            sim::Cycle at);

}  // namespace wormsim::workloads
