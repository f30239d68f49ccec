#pragma once
// The profile of a model run that every profiling output (ops_perf CSV, results DB, Perfetto
// trace, console report, ttnn-visualizer report) is written from: one OpProfile per executed op
// with the op's record, its place on the simulated host and device timelines, the
// tt-perf-report view of it (DRAM %, FLOPs %, bound class) and, when recorded, the NoC link /
// DRAM bank / Ethernet traffic it caused.
//
// Per-op traffic comes from snapshots of sim::Engine::all_stats() taken after every node
// (TrafficRecorder, hooked into the executor's progress callback). Without it only whole-run
// statistics exist and the per-op NoC columns stay empty.
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arch/device_spec.hpp"
#include "ops/operation.hpp"
#include "sim/engine.hpp"
#include "workloads/executor.hpp"

namespace wormsim::analysis {

// ---- engine statistics by element ----

enum class ElementKind { NocLink, NiuPort, DramBank, DramController, Ethernet, Pcie, Other };
std::string_view to_string(ElementKind kind);  // "noc", "niu", "dram_bank", ...

// A named sim::BusyStats element, its name decoded (see noc/fabric.cpp, noc/board.cpp).
struct ElementInfo {
  std::string name;
  ElementKind kind{ElementKind::Other};
  std::optional<std::uint32_t> chip;  // none for PCIe (the host side) and unknown names
  int noc{-1};                        // NoC links and NIU ports
  arch::Coord src;                    // link source / port coordinate (NoC0 coordinates)
  arch::Coord dst;                    // link target
  std::uint32_t index{0};             // DRAM bank / controller id, Ethernet link index
};
// "chip0 noc1 (3,4)->(3,3)", "chip1 dram bank 7", "ethernet link 0 chip0<->chip1 a->b", ...
ElementInfo parse_element_name(const std::string& name);

// What one element did during one op (difference of two snapshots).
struct ElementUse {
  std::uint32_t element{0};  // index into RunTraffic::element_names
  sim::Cycle busy_cycles{0};
  sim::Cycle wait_cycles{0};
  std::uint64_t units{0};  // bytes for links, banks, Ethernet and PCIe
  std::uint64_t uses{0};
};

struct RunTraffic {
  std::vector<std::string> element_names;      // Engine::all_stats() order
  std::vector<std::vector<ElementUse>> nodes;  // per executed node, elements that changed
};

using ProgressCallback = std::function<void(std::size_t, std::size_t)>;

// Records per-node traffic of workloads::run_graph through its progress callback:
//   TrafficRecorder traffic(device.engine());
//   traffic.begin_run();
//   options.progress = traffic.wrap(options.progress);
//   GraphRun run = run_graph(device, graph, options);
//   RunTraffic per_node = traffic.finish_run();
// The executor writes the graph inputs over PCIe before its first node and calls the callback
// only after each node, so the first node's traffic also holds that input write.
class TrafficRecorder {
 public:
  explicit TrafficRecorder(const sim::Engine& engine);
  // Forgets earlier segments and takes the baseline snapshot.
  void begin_run();
  // Closes one node's segment: everything since the previous snapshot.
  void node_done();
  // A progress callback that calls node_done() and then `inner` (if any).
  ProgressCallback wrap(ProgressCallback inner = {});
  RunTraffic finish_run();

 private:
  struct Counters {
    sim::Cycle busy{0};
    sim::Cycle wait{0};
    std::uint64_t units{0};
    std::uint64_t uses{0};
  };
  void snapshot(std::vector<Counters>& into) const;

  const sim::Engine& engine_;
  std::vector<Counters> previous_;
  RunTraffic current_;
};

// ---- per-op profile ----

// tt-perf-report's bound classes (DRAM / FLOP / BOTH / SLOW at 65 % of peak) plus NoC: a
// link at >= 65 % busy while neither DRAM nor FLOPs reach the threshold. HOST = no device time.
enum class BoundClass { Dram, Flop, Both, Noc, Slow, Host };
std::string_view to_string(BoundClass bound);  // "DRAM", "FLOP", "BOTH", "NoC", "SLOW", "HOST"

// tt-perf-report's threshold (perf_report.py add_derived_columns: >= 65 % of peak).
inline constexpr double kBoundThresholdPct = 65.0;
// tt-perf-report flags an op-to-op gap above 6.5 us as host / dispatch overhead.
inline constexpr double kHighOpToOpGapNs = 6500.0;

struct OpProfile {
  std::uint32_t chip{0};
  std::size_t index{0};  // position in its chip's run
  std::uint64_t global_call_count{0};
  const workloads::NodeRun* node{nullptr};  // the executor's record (kept alive by the caller)
  bool traced{false};                       // replayed from a captured trace (else eager)
  const ops::OpRecord& record() const { return node->record; }

  // Simulated host timeline (ns since simulation start): the host (eager) or the trace replay
  // issues the op during the op-to-op gap before it; it is enqueued when the firmware starts.
  std::uint64_t host_start_ns{0};
  std::uint64_t host_end_ns{0};
  double op_to_op_ns{0};     // this FW start - previous op's FW end on the chip (0 first)
  double op_to_op_dm_ns{0};  // same, to the first BRISC / NCRISC kernel start
  double fw_ns{0};
  double kernel_ns{0};
  double kernel_dm_ns{0};            // last kernel end - first data-movement kernel start
  double first_to_last_start_ns{0};  // spread of the cores' first kernel starts
  std::array<std::optional<double>, ops::kRiscCount> risc_ns{};
  std::optional<double> cb_wait_front_ns;  // compute kernels only
  std::optional<double> cb_reserve_back_ns;

  // tt-perf-report view (its definitions: DRAM bytes = DRAM-resident inputs and outputs,
  // padded volume x dtype bits / 8; FLOPs % vs the fidelity's peak per core x CORE COUNT).
  double tpr_dram_bytes{0};
  std::optional<double> dram_gbps;
  std::optional<double> dram_pct;
  std::optional<double> tflops;
  std::optional<double> flops_pct;
  std::uint32_t effective_cores{0};  // CORE COUNT, or the DRAM bank count for DRAM-sharded matmuls

  // From per-op traffic (empty when not recorded); percentages of the kernel duration.
  std::optional<double> noc_util_pct;       // mean busy share over the chip's NoC links
  std::optional<double> max_link_util_pct;  // busiest link
  std::string busiest_link;
  std::optional<double> dram_bw_util_pct;  // bytes through the DRAM banks vs their peak
  // Busiest DRAM controller: the bytes through its banks vs the spec's per-controller bandwidth
  // (dram.controller_bytes_per_cycle), as tt-npe's DRAM BW UTIL PER CTRL.
  std::optional<double> dram_bw_util_per_ctrl_pct;
  std::optional<double> eth_bw_util_pct;   // only for ops that used Ethernet
  std::vector<ElementUse> traffic;

  double ideal_ratio{0};  // PM IDEAL / DEVICE KERNEL DURATION
  BoundClass bound{BoundClass::Slow};
  std::string advice;  // one line for the worst ops ("" when nothing to say)
};

// ---- host execution modes ----
//
// How the host drives the device over many inferences (docs/outputs.md, "Host execution
// modes"): the dispatch mode the GraphRuns were simulated with, one or two command queues and,
// with two, whether the second queue also reads the outputs back (TT-CNN's pipelined-IO
// executor) or only writes the inputs.
struct HostMode {
  workloads::DispatchMode dispatch{workloads::DispatchMode::Trace};
  std::uint32_t command_queues{1};  // 1 or 2
  bool io_queue{false};             // queue 1 writes inputs and reads outputs (needs 2 queues)
};
// Throws wormsim::Error with a message naming the fix when the mode is not one of the modelled
// ones (command_queues 1 or 2; io_queue only with 2 queues).
void check_host_mode(const HostMode& mode);
// "trace, 1 CQ", "trace, 2 CQs (inputs on CQ 1)", "eager, 2 CQs (inputs + outputs on CQ 1)".
std::string describe(const HostMode& mode);

// Event record / wait pairs between the two queues per inference, as TT-CNN's executors
// (tt-metal models/tt_cnn/tt/executor.py) issue them:
//  - 2 CQs: inputs written (CQ 1 -> CQ 0), input buffer free again (CQ 0 -> CQ 1);
//  - 2 CQs + I/O queue: additionally output copied out (CQ 0 -> CQ 1) and output buffer read
//    (CQ 1 -> CQ 0), so input and output buffers are each guarded both ways.
inline constexpr std::uint32_t kQueueEventsTwoQueues = 2;
inline constexpr std::uint32_t kQueueEventsIoQueue = 4;

// Steady-state pipeline of one inference (all replicas) in a HostMode. With L = launch,
// W / R = host write / read, D = device time, P = host post-processing, S = event syncs:
//   1 CQ:          period = L + W + D + R + P                 (nothing overlaps)
//   2 CQs:         period = max(L + D + R, W, H) + S           (writes of i+1 overlap compute of i)
//   2 CQs + I/O:   period = max(L + D, W + R, H) + S           (CQ 0 computes only)
// where H = the host thread per inference: L (+ the op-to-op gaps when eager: the host
// dispatches every op) + P. The two-queue modes let the host issue inference i+1 before it
// waits for output i, so its post-processing overlaps the device.
struct HostPipeline {
  HostMode mode;
  double launch_ns{0};       // L: slowest replica
  double host_write_ns{0};   // W: replicas share PCIe, summed
  double host_read_ns{0};    // R: summed
  double device_time_ns{0};  // D: slowest replica
  double postprocess_ns{0};  // P: spec.host.postprocess_ns + per output element, summed
  double sync_ns{0};         // S: events per inference x spec.host.queue_sync_ns (0 with 1 CQ)
  std::uint32_t queue_events{0};
  double compute_queue_ns{0};  // CQ 0 busy per inference (1 CQ: L + W + D + R)
  double io_queue_ns{0};       // CQ 1 busy per inference (0 with 1 CQ)
  double host_thread_ns{0};    // H
  double period_ns{0};         // steady-state time per inference
  double latency_ns{0};        // one inference from its input write to its post-processed output
  std::string bottleneck;      // "serial" (1 CQ), "compute queue", "io queue" or "host"
};

struct RunSummary {
  std::size_t op_count{0};
  double op_time_ns{0};  // of the first replica
  double gap_time_ns{0};
  double device_time_ns{0};  // slowest replica (they run concurrently)
  double host_io_ns{0};      // replicas share PCIe: summed (host_write_ns + host_read_ns)
  double launch_ns{0};
  double e2e_ns{0};      // steady-state period per inference (pipeline.period_ns)
  double fps_device{0};  // samples / device time
  double fps_e2e{0};     // samples / e2e_ns
  HostPipeline pipeline;
  std::optional<double> pcc;
  std::optional<double> worst_op_pcc;
  std::string worst_op;
  std::uint64_t l1_peak_bytes{0};
  std::uint64_t dram_peak_bytes{0};
};
// Same rules as `wormsim run`: samples = batch x replicas. `host` gives the event-sync and
// post-processing costs; the runs must have been simulated with mode.dispatch (else Error).
RunSummary summarise_runs(const std::vector<const workloads::GraphRun*>& runs, std::uint32_t batch,
                          const arch::HostSpec& host, const HostMode& mode);
// Without host costs: one command queue, no post-processing (e2e = L + W + D + R), the runs'
// own dispatch mode: the figures of wormsim before host modes existed.
RunSummary summarise_runs(const std::vector<const workloads::GraphRun*>& runs, std::uint32_t batch);
// Logical elements of a run's graph outputs (what the host post-processes).
std::uint64_t output_elements(const workloads::GraphRun& run);

// One replica's run and, optionally, its per-node traffic (same length as run->nodes).
struct ChipRun {
  const workloads::GraphRun* run{nullptr};
  const RunTraffic* traffic{nullptr};
};

struct RunProfile {
  const arch::DeviceSpec* spec{nullptr};
  std::vector<OpProfile> ops;         // by host start (replica after replica)
  std::vector<ElementInfo> elements;  // names of RunTraffic::element_names, decoded
  bool per_op_traffic{false};
  double ns_per_cycle{1};
  double dram_peak_gbps{0};  // whole chip, spec peak (tt-perf-report uses 288 GB/s on WH)
};

// Throws wormsim::Error if a traffic record does not match its run (wrong node count).
RunProfile build_profile(const arch::DeviceSpec& spec, const std::vector<ChipRun>& runs);

// One line of advice for an op (empty when it runs near its bound).
std::string advise(const OpProfile& op, const arch::DeviceSpec& spec);

// tt-perf-report's data size of a dtype: the digits of its name / 8 (BFLOAT8_B = 1 byte).
double tpr_datum_bytes(ops::DataType type);
// tt-metal's Tensor::element_size(): 4 / 2 / 1 (both block floats) bytes.
double tt_metal_element_bytes(ops::DataType type);

// Writes `content` to `path` through a temporary file in the same directory and a rename, so
// readers never see a half-written file; errors name the file.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);

}  // namespace wormsim::analysis
