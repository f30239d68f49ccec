#include "analysis/run_profile.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>

#include "analysis/text_table.hpp"
#include "sim/error.hpp"

namespace wormsim::analysis {
namespace {

// sscanf with a trailing %n: true only when the whole name matched.
template <typename... Args>
bool scan_all(const std::string& text, const char* format, Args*... args) {
  int consumed = -1;
  std::string with_end = std::string(format) + "%n";
  const int fields = std::sscanf(text.c_str(), with_end.c_str(), args..., &consumed);
  return fields == static_cast<int>(sizeof...(Args)) && consumed == static_cast<int>(text.size());
}

double cycles_to_ns(sim::Cycle cycles, double ns_per_cycle) {
  return static_cast<double>(cycles) * ns_per_cycle;
}

bool is_dram_interleaved(const ops::TensorSpec& spec) {
  return spec.memory_config().is_dram() && !spec.is_sharded();
}

std::string pct_text(double value) { return format_fixed(value, 0) + "%"; }

}  // namespace

std::string_view to_string(ElementKind kind) {
  switch (kind) {
    case ElementKind::NocLink:
      return "noc";
    case ElementKind::NiuPort:
      return "niu";
    case ElementKind::DramBank:
      return "dram_bank";
    case ElementKind::DramController:
      return "dram_controller";
    case ElementKind::Ethernet:
      return "ethernet";
    case ElementKind::Pcie:
      return "pcie";
    case ElementKind::Other:
      return "other";
  }
  return "other";
}

ElementInfo parse_element_name(const std::string& name) {
  ElementInfo info;
  info.name = name;
  unsigned chip = 0, index = 0, chip_b = 0;
  int noc = 0, x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  char dir[8] = {};
  if (scan_all(name, "chip%u noc%d (%d,%d)->(%d,%d)", &chip, &noc, &x0, &y0, &x1, &y1)) {
    info.kind = ElementKind::NocLink;
    info.chip = chip;
    info.noc = noc;
    info.src = {x0, y0};
    info.dst = {x1, y1};
  } else if (scan_all(name, "chip%u noc%d %7[a-z] (%d,%d)", &chip, &noc, dir, &x0, &y0) &&
             (std::strcmp(dir, "inject") == 0 || std::strcmp(dir, "absorb") == 0)) {
    info.kind = ElementKind::NiuPort;
    info.chip = chip;
    info.noc = noc;
    info.src = {x0, y0};
  } else if (scan_all(name, "chip%u dram bank %u", &chip, &index)) {
    info.kind = ElementKind::DramBank;
    info.chip = chip;
    info.index = index;
  } else if (scan_all(name, "chip%u dram controller %u", &chip, &index)) {
    info.kind = ElementKind::DramController;
    info.chip = chip;
    info.index = index;
  } else if (scan_all(name, "ethernet link %u chip%u<->chip%u %4s", &index, &chip, &chip_b, dir)) {
    info.kind = ElementKind::Ethernet;
    info.chip = std::strcmp(dir, "b->a") == 0 ? chip_b : chip;  // the sending chip
    info.index = index;
  } else if (name.rfind("pcie ", 0) == 0) {
    info.kind = ElementKind::Pcie;
  }
  return info;
}

// ---- TrafficRecorder ----

TrafficRecorder::TrafficRecorder(const sim::Engine& engine) : engine_(engine) { begin_run(); }

void TrafficRecorder::snapshot(std::vector<Counters>& into) const {
  const auto& stats = engine_.all_stats();
  into.resize(stats.size());
  for (std::size_t i = 0; i < stats.size(); ++i) {
    into[i] = Counters{stats[i].busy_cycles, stats[i].wait_cycles, stats[i].units, stats[i].uses};
  }
}

void TrafficRecorder::begin_run() {
  current_ = RunTraffic{};
  snapshot(previous_);
}

void TrafficRecorder::node_done() {
  std::vector<Counters> now;
  snapshot(now);
  const auto& stats = engine_.all_stats();
  for (std::size_t i = current_.element_names.size(); i < stats.size(); ++i) {
    current_.element_names.push_back(stats[i].name);
  }
  std::vector<ElementUse> uses;
  for (std::size_t i = 0; i < now.size(); ++i) {
    const Counters before = i < previous_.size() ? previous_[i] : Counters{};
    if (now[i].uses == before.uses && now[i].busy == before.busy) continue;
    uses.push_back(ElementUse{static_cast<std::uint32_t>(i), now[i].busy - before.busy,
                              now[i].wait - before.wait, now[i].units - before.units,
                              now[i].uses - before.uses});
  }
  current_.nodes.push_back(std::move(uses));
  previous_ = std::move(now);
}

ProgressCallback TrafficRecorder::wrap(ProgressCallback inner) {
  return [this, inner = std::move(inner)](std::size_t done, std::size_t total) {
    node_done();
    if (inner) inner(done, total);
  };
}

RunTraffic TrafficRecorder::finish_run() {
  RunTraffic done = std::move(current_);
  const auto& stats = engine_.all_stats();
  for (std::size_t i = done.element_names.size(); i < stats.size(); ++i) {
    done.element_names.push_back(stats[i].name);
  }
  current_ = RunTraffic{};
  snapshot(previous_);
  return done;
}

// ---- bound classes and summaries ----

std::string_view to_string(BoundClass bound) {
  switch (bound) {
    case BoundClass::Dram:
      return "DRAM";
    case BoundClass::Flop:
      return "FLOP";
    case BoundClass::Both:
      return "BOTH";
    case BoundClass::Noc:
      return "NoC";
    case BoundClass::Slow:
      return "SLOW";
    case BoundClass::Host:
      return "HOST";
  }
  return "SLOW";
}

double tpr_datum_bytes(ops::DataType type) {
  // tt-perf-report get_datatype_size: the first number in the name / 8, 4 bytes without one.
  const std::string_view name = ops::to_string(type);
  std::size_t i = 0;
  while (i < name.size() && !std::isdigit(static_cast<unsigned char>(name[i]))) ++i;
  if (i == name.size()) return 4.0;
  double bits = 0;
  while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i]))) {
    bits = bits * 10 + (name[i] - '0');
    ++i;
  }
  return bits / 8.0;
}

double tt_metal_element_bytes(ops::DataType type) {
  switch (type) {
    case ops::DataType::Float32:
    case ops::DataType::UInt32:
    case ops::DataType::Int32:
      return 4.0;
    case ops::DataType::BFloat16:
      return 2.0;
    case ops::DataType::BFloat8_B:
    case ops::DataType::BFloat4_B:
      return 1.0;  // tt-metal counts a block-float datum as a byte
  }
  return 4.0;
}

// ---- host execution modes ----

void check_host_mode(const HostMode& mode) {
  if (mode.command_queues != 1 && mode.command_queues != 2) {
    throw Error("--cq must be 1 or 2 (TT-NN devices open one or two command queues), got " +
                std::to_string(mode.command_queues));
  }
  if (mode.io_queue && mode.command_queues != 2) {
    throw Error(
        "--io-cq moves the input writes and output reads to the second command queue; it needs "
        "--cq 2");
  }
}

std::string describe(const HostMode& mode) {
  std::string text = std::string(workloads::to_string(mode.dispatch)) + ", ";
  if (mode.command_queues == 1) return text + "1 CQ";
  return text + std::to_string(mode.command_queues) + " CQs (" +
         (mode.io_queue ? "inputs + outputs" : "inputs") + " on CQ 1)";
}

std::uint64_t output_elements(const workloads::GraphRun& run) {
  std::uint64_t elements = 0;
  for (const auto& [name, tensor] : run.outputs) elements += tensor.spec().logical_shape().volume();
  return elements;
}

namespace {

// The pipeline of `mode` from the simulated components; `host` == nullptr: no event-sync or
// post-processing costs (the pre-host-mode figures).
RunSummary summarise(const std::vector<const workloads::GraphRun*>& runs, std::uint32_t batch,
                     const arch::HostSpec* host, const HostMode& mode) {
  check_host_mode(mode);
  RunSummary s;
  if (runs.empty()) return s;
  HostPipeline& p = s.pipeline;
  p.mode = mode;
  double issue_ns = 0;  // host thread's dispatch work per inference (slowest replica)
  for (const workloads::GraphRun* r : runs) {
    if (r->dispatch != mode.dispatch) {
      throw Error("run summary: graph '" + r->graph + "' on chip " + std::to_string(r->chip) +
                  " was simulated with " + std::string(workloads::to_string(r->dispatch)) +
                  " dispatch, the host mode asks for " +
                  std::string(workloads::to_string(mode.dispatch)) +
                  "; run it with ExecutorOptions::dispatch = the mode's");
    }
    s.device_time_ns = std::max(s.device_time_ns, r->device_time_ns);
    p.host_write_ns += r->host_write_ns;
    p.host_read_ns += r->host_read_ns;
    s.launch_ns = std::max(s.launch_ns, r->launch_ns);
    // Eager: the host dispatches every op itself, so the op-to-op gaps are host time too.
    issue_ns = std::max(
        issue_ns,
        r->launch_ns + (r->dispatch == workloads::DispatchMode::Eager ? r->gap_time_ns : 0.0));
    if (host != nullptr) {
      p.postprocess_ns +=
          static_cast<double>(host->postprocess_ns) +
          host->postprocess_ns_per_output_element * static_cast<double>(output_elements(*r));
    }
    s.l1_peak_bytes = std::max(s.l1_peak_bytes, r->l1_peak_bytes);
    s.dram_peak_bytes = std::max(s.dram_peak_bytes, r->dram_peak_bytes);
  }
  s.host_io_ns = p.host_write_ns + p.host_read_ns;
  p.launch_ns = s.launch_ns;
  p.device_time_ns = s.device_time_ns;
  p.host_thread_ns = issue_ns + p.postprocess_ns;
  const double launch = p.launch_ns, write = p.host_write_ns, read = p.host_read_ns;
  const double device = p.device_time_ns, post = p.postprocess_ns;
  if (mode.command_queues == 1) {
    // One queue, the host waits for each inference: nothing overlaps.
    p.compute_queue_ns = launch + write + device + read;
    p.period_ns = p.compute_queue_ns + post;
    p.bottleneck = "serial";
  } else {
    p.queue_events = mode.io_queue ? kQueueEventsIoQueue : kQueueEventsTwoQueues;
    p.sync_ns = host != nullptr ? static_cast<double>(p.queue_events) * host->queue_sync_ns : 0.0;
    p.compute_queue_ns = mode.io_queue ? launch + device : launch + device + read;
    p.io_queue_ns = mode.io_queue ? write + read : write;
    const double busiest = std::max({p.compute_queue_ns, p.io_queue_ns, p.host_thread_ns});
    p.period_ns = busiest + p.sync_ns;
    p.bottleneck = busiest == p.compute_queue_ns ? "compute queue"
                   : busiest == p.io_queue_ns    ? "io queue"
                                                 : "host";
  }
  p.latency_ns = launch + write + device + read + post + p.sync_ns;

  const workloads::GraphRun& main = *runs.front();
  s.op_count = main.nodes.size();
  s.op_time_ns = main.op_time_ns;
  s.gap_time_ns = main.gap_time_ns;
  s.e2e_ns = p.period_ns;
  const double samples = static_cast<double>(batch) * static_cast<double>(runs.size());
  s.fps_device = s.device_time_ns > 0 ? samples * 1e9 / s.device_time_ns : 0;
  s.fps_e2e = s.e2e_ns > 0 ? samples * 1e9 / s.e2e_ns : 0;
  s.pcc = main.pcc;
  s.worst_op_pcc = main.worst_op_pcc;
  s.worst_op = main.worst_op;
  return s;
}

}  // namespace

RunSummary summarise_runs(const std::vector<const workloads::GraphRun*>& runs, std::uint32_t batch,
                          const arch::HostSpec& host, const HostMode& mode) {
  return summarise(runs, batch, &host, mode);
}

RunSummary summarise_runs(const std::vector<const workloads::GraphRun*>& runs,
                          std::uint32_t batch) {
  HostMode mode;
  if (!runs.empty()) mode.dispatch = runs.front()->dispatch;
  return summarise(runs, batch, nullptr, mode);
}

// ---- building the profile ----

namespace {

struct ChipContext {
  std::size_t noc_links{0};
  std::size_t dram_banks{0};
};

void fill_device_timing(OpProfile& op, const ops::ProgramTiming& t, double ns,
                        std::optional<sim::Cycle> previous_fw_end) {
  op.fw_ns = cycles_to_ns(t.fw_duration(), ns);
  op.kernel_ns = cycles_to_ns(t.kernel_duration(), ns);
  std::optional<sim::Cycle> dm_start;
  std::optional<sim::Cycle> first_start, last_start;
  std::array<bool, ops::kRiscCount> used{};
  for (const ops::CoreTiming& core : t.cores) {
    std::optional<sim::Cycle> core_start;
    for (std::size_t r = 0; r < ops::kRiscCount; ++r) {
      const ops::KernelSpan& span = core.spans[r];
      if (!span.used) continue;
      used[r] = true;
      core_start = core_start ? std::min(*core_start, span.start) : span.start;
      const bool data_movement = r == static_cast<std::size_t>(ops::Risc::Brisc) ||
                                 r == static_cast<std::size_t>(ops::Risc::Ncrisc);
      if (data_movement) dm_start = dm_start ? std::min(*dm_start, span.start) : span.start;
    }
    if (!core_start) continue;
    first_start = first_start ? std::min(*first_start, *core_start) : *core_start;
    last_start = last_start ? std::max(*last_start, *core_start) : *core_start;
  }
  op.kernel_dm_ns =
      dm_start ? cycles_to_ns(t.kernel_end - std::min(*dm_start, t.kernel_end), ns) : op.kernel_ns;
  op.first_to_last_start_ns = first_start ? cycles_to_ns(*last_start - *first_start, ns) : 0.0;
  bool compute = false;
  for (std::size_t r = 0; r < ops::kRiscCount; ++r) {
    if (used[r]) op.risc_ns[r] = cycles_to_ns(t.risc_duration[r], ns);
    if (used[r] && r >= static_cast<std::size_t>(ops::Risc::Trisc0)) compute = true;
  }
  if (compute) {
    op.cb_wait_front_ns = t.cb_wait_front_avg * ns;
    op.cb_reserve_back_ns = t.cb_reserve_back_avg * ns;
  }
  if (previous_fw_end) {
    const auto gap = [&](sim::Cycle start) {
      return start >= *previous_fw_end ? cycles_to_ns(start - *previous_fw_end, ns) : 0.0;
    };
    op.op_to_op_ns = gap(t.fw_start);
    op.op_to_op_dm_ns = gap(dm_start.value_or(t.kernel_start));
  }
}

void fill_tpr_view(OpProfile& op, const arch::DeviceSpec& spec, double dram_peak_gbps) {
  const ops::OpRecord& r = op.record();
  for (const auto* list : {&r.inputs, &r.outputs}) {
    for (const ops::TensorSpec& t : *list) {
      if (!t.memory_config().is_dram()) continue;
      op.tpr_dram_bytes +=
          static_cast<double>(t.padded_shape().volume()) * tpr_datum_bytes(t.data_type());
    }
  }
  // tt-perf-report charges a DRAM-sharded matmul to the cores next to the DRAM banks.
  const bool dram_sharded = r.attributes.find("DRAMSharded") != std::string::npos;
  op.effective_cores =
      dram_sharded ? static_cast<std::uint32_t>(spec.dram.banks.size()) : r.timing.core_count;
  if (op.kernel_ns <= 0) return;
  if (op.tpr_dram_bytes > 0) {
    op.dram_gbps = op.tpr_dram_bytes / op.kernel_ns;  // bytes per ns = GB/s
    op.dram_pct = 100.0 * *op.dram_gbps / dram_peak_gbps;
  }
  if (r.flops > 0) {
    const double flops_per_s = static_cast<double>(r.flops) / (op.kernel_ns * 1e-9);
    op.tflops = flops_per_s / 1e12;
    if (r.math_fidelity && op.effective_cores > 0) {
      const double per_core_tflops =
          spec.peak_tflops_per_chip(*r.math_fidelity) / spec.worker_count();
      op.flops_pct = 100.0 * *op.tflops / (per_core_tflops * op.effective_cores);
    }
  }
}

void fill_traffic(OpProfile& op, const std::vector<ElementUse>& uses,
                  const std::vector<ElementInfo>& elements, const ChipContext& chip,
                  const arch::DeviceSpec& spec) {
  op.traffic = uses;
  const sim::Cycle window = op.record().timing.kernel_duration() > 0
                                ? op.record().timing.kernel_duration()
                                : op.record().timing.fw_duration();
  if (window == 0) return;
  const double w = static_cast<double>(window);
  double link_busy = 0, max_busy = 0, dram_units = 0, eth_units = 0;
  std::size_t eth_directions = 0;
  std::vector<double> controller_units(spec.dram.num_controllers, 0.0);
  for (const ElementUse& use : uses) {
    const ElementInfo& e = elements.at(use.element);
    if (e.chip != op.chip && e.kind != ElementKind::Ethernet) continue;
    switch (e.kind) {
      case ElementKind::NocLink:
        link_busy += static_cast<double>(use.busy_cycles);
        if (static_cast<double>(use.busy_cycles) > max_busy) {
          max_busy = static_cast<double>(use.busy_cycles);
          op.busiest_link = e.name;
        }
        break;
      case ElementKind::DramBank:
        dram_units += static_cast<double>(use.units);
        if (e.index < spec.dram.banks.size()) {
          const std::uint32_t c = spec.dram.banks[e.index].controller;
          if (c < controller_units.size()) controller_units[c] += static_cast<double>(use.units);
        }
        break;
      case ElementKind::Ethernet:
        if (use.units > 0) {
          eth_units += static_cast<double>(use.units);
          ++eth_directions;
        }
        break;
      default:
        break;
    }
  }
  if (chip.noc_links > 0) {
    op.noc_util_pct = 100.0 * link_busy / (static_cast<double>(chip.noc_links) * w);
    op.max_link_util_pct = 100.0 * max_busy / w;
  }
  if (chip.dram_banks > 0) {
    // Against the whole chip's DRAM peak, as DRAM BW UTIL is.
    const double peak =
        spec.dram.bank_peak_bytes_per_cycle * static_cast<double>(spec.dram.banks.size());
    op.dram_bw_util_pct = 100.0 * dram_units / (peak * w);
    // The busiest controller against what one controller moves (its banks share that cap).
    if (!controller_units.empty() && spec.dram.controller_bytes_per_cycle > 0) {
      const double busiest = *std::max_element(controller_units.begin(), controller_units.end());
      op.dram_bw_util_per_ctrl_pct = 100.0 * busiest / (spec.dram.controller_bytes_per_cycle * w);
    }
  }
  if (eth_directions > 0) {
    const double peak =
        spec.ethernet.bytes_per_cycle_per_direction * static_cast<double>(eth_directions);
    op.eth_bw_util_pct = 100.0 * eth_units / (peak * w);
  }
}

BoundClass classify(const OpProfile& op) {
  if (op.kernel_ns <= 0) return BoundClass::Host;
  const bool dram = op.dram_pct.value_or(0) >= kBoundThresholdPct;
  const bool flop = op.flops_pct.value_or(0) >= kBoundThresholdPct;
  if (dram && flop) return BoundClass::Both;
  if (dram) return BoundClass::Dram;
  if (flop) return BoundClass::Flop;
  if (op.max_link_util_pct.value_or(0) >= kBoundThresholdPct) return BoundClass::Noc;
  return BoundClass::Slow;
}

}  // namespace

std::string advise(const OpProfile& op, const arch::DeviceSpec& spec) {
  const ops::OpRecord& r = op.record();
  const bool matmul = r.op_code.find("Matmul") != std::string::npos;
  switch (op.bound) {
    case BoundClass::Host:
      return "";
    case BoundClass::Both:
      return "DRAM- and FLOP-bound: at its roofline";
    case BoundClass::Dram: {
      const std::string share = pct_text(op.dram_pct.value_or(0));
      if (matmul && r.inputs.size() >= 2 && is_dram_interleaved(r.inputs[1])) {
        return "matmul DRAM-bound (" + share +
               " of peak) with in1 interleaved: try DRAM-sharded weights";
      }
      for (const ops::TensorSpec& t : r.inputs) {
        if (t.memory_config().is_dram() && !ops::is_block_float(t.data_type()) &&
            t.data_type() != ops::DataType::UInt32 && t.data_type() != ops::DataType::Int32) {
          return "DRAM-bound (" + share +
                 " of peak): store DRAM operands as BFLOAT8_B / BFLOAT4_B or keep them in L1";
        }
      }
      return "DRAM-bound at " + share + " of peak: at its roofline";
    }
    case BoundClass::Flop:
      if (r.math_fidelity && *r.math_fidelity > arch::MathFidelity::HiFi2) {
        return std::string("FLOP-bound at ") +
               arch::kMathFidelityNames[static_cast<std::size_t>(*r.math_fidelity)] +
               ": try HiFi2 (or LoFi with BFLOAT4_B weights) if accuracy allows";
      }
      return "FLOP-bound at " + pct_text(op.flops_pct.value_or(0)) + " of peak: at its roofline";
    case BoundClass::Noc:
      return "NoC-bound (" + op.busiest_link + " busy " +
             pct_text(op.max_link_util_pct.value_or(0)) +
             "): multicast shared operands or shard so reads stay local";
    case BoundClass::Slow:
      break;
  }
  const std::uint32_t grid = spec.worker_count();
  if (op.effective_cores > 0 && op.effective_cores * 2 < grid) {
    return "SLOW: low core count " + std::to_string(op.effective_cores) + "/" +
           std::to_string(grid) + " - shard over more cores";
  }
  if (!matmul) {
    for (const ops::TensorSpec& t : r.inputs) {
      if (is_dram_interleaved(t)) {
        return "SLOW: inputs DRAM-interleaved - keep activations in L1 (sharded) between ops";
      }
    }
  }
  if (matmul) {
    return "SLOW matmul (DRAM " + pct_text(op.dram_pct.value_or(0)) + ", FLOPs " +
           pct_text(op.flops_pct.value_or(0)) +
           "): larger in0_block_w / out_subblock, or shard the activations";
  }
  if (op.ideal_ratio > 0 && op.ideal_ratio < 0.5) {
    // Below 1 % the rounded figure would read "0%".
    const std::string share = op.ideal_ratio < 0.01 ? "<1%" : pct_text(100.0 * op.ideal_ratio);
    return "SLOW: ideal (PM IDEAL) is " + share + " of the actual time - check its program config";
  }
  return "";
}

RunProfile build_profile(const arch::DeviceSpec& spec, const std::vector<ChipRun>& runs) {
  RunProfile profile;
  profile.spec = &spec;
  profile.ns_per_cycle = 1000.0 / spec.clock_mhz;
  profile.dram_peak_gbps = spec.dram.bank_peak_bytes_per_cycle *
                           static_cast<double>(spec.dram.banks.size()) * spec.clock_mhz / 1000.0;

  // Element names: every recorder lists the engine's statistics in registration order, so the
  // longest list holds every other one as its prefix.
  const std::vector<std::string>* names = nullptr;
  for (const ChipRun& c : runs) {
    if (c.run == nullptr) throw Error("profile: a replica has no GraphRun");
    if (c.traffic == nullptr) continue;
    if (c.traffic->nodes.size() != c.run->nodes.size()) {
      throw Error("profile: traffic of graph '" + c.run->graph + "' on chip " +
                  std::to_string(c.run->chip) + " has " + std::to_string(c.traffic->nodes.size()) +
                  " node records for " + std::to_string(c.run->nodes.size()) +
                  " nodes; start TrafficRecorder::begin_run() right before "
                  "run_graph and pass its wrap() as the progress callback");
    }
    if (names == nullptr || c.traffic->element_names.size() > names->size())
      names = &c.traffic->element_names;
  }
  profile.per_op_traffic = names != nullptr;
  if (names != nullptr) {
    for (const std::string& n : *names) profile.elements.push_back(parse_element_name(n));
  }
  std::map<std::uint32_t, ChipContext> chips;
  for (const ElementInfo& e : profile.elements) {
    if (!e.chip) continue;
    if (e.kind == ElementKind::NocLink) ++chips[*e.chip].noc_links;
    if (e.kind == ElementKind::DramBank) ++chips[*e.chip].dram_banks;
  }

  for (const ChipRun& c : runs) {
    const workloads::GraphRun& run = *c.run;
    std::optional<sim::Cycle> previous_fw_end;
    for (std::size_t i = 0; i < run.nodes.size(); ++i) {
      const workloads::NodeRun& node = run.nodes[i];
      OpProfile op;
      op.chip = run.chip;
      op.index = i;
      // tt-metal numbers ops by 1024 and adds the device id (tt-perf-report test data).
      constexpr std::uint64_t kGlobalCallCountStride = 1024;
      op.global_call_count = (i + 1) * kGlobalCallCountStride + run.chip;
      op.node = &node;
      op.traced = run.dispatch == workloads::DispatchMode::Trace;
      const ops::ProgramTiming& t = node.record.timing;
      fill_device_timing(op, t, profile.ns_per_cycle, previous_fw_end);
      previous_fw_end = t.fw_end;
      const double fw_start_ns = cycles_to_ns(t.fw_start, profile.ns_per_cycle);
      const double issue_ns = i == 0 ? run.launch_ns : node.gap_before_ns;
      op.host_end_ns = static_cast<std::uint64_t>(std::llround(fw_start_ns));
      op.host_start_ns =
          static_cast<std::uint64_t>(std::llround(std::max(0.0, fw_start_ns - issue_ns)));
      fill_tpr_view(op, spec, profile.dram_peak_gbps);
      if (c.traffic != nullptr) {
        const auto chip = chips.find(run.chip);
        fill_traffic(op, c.traffic->nodes[i], profile.elements,
                     chip != chips.end() ? chip->second : ChipContext{}, spec);
      }
      op.ideal_ratio = op.kernel_ns > 0 ? node.record.perf_model.ideal_ns() / op.kernel_ns : 0.0;
      op.bound = classify(op);
      op.advice = advise(op, spec);
      profile.ops.push_back(std::move(op));
    }
  }
  std::stable_sort(
      profile.ops.begin(), profile.ops.end(),
      [](const OpProfile& a, const OpProfile& b) { return a.host_start_ns < b.host_start_ns; });
  return profile;
}

void write_file_atomically(const std::filesystem::path& path, const std::string& content) {
  namespace fs = std::filesystem;
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error("cannot write " + path.string() + ": directory " + dir.string() +
                " does not exist; create it or choose another path");
  }
  fs::path temp = path;
  temp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) {
      throw Error("cannot write " + path.string() + ": " + std::strerror(errno) +
                  "; check that the directory is writable");
    }
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      const std::string reason = std::strerror(errno);
      out.close();
      fs::remove(temp, ec);
      throw Error("cannot write " + path.string() + ": " + reason +
                  " (disk full?); the file was left unchanged");
    }
  }
  fs::rename(temp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error("cannot write " + path.string() + ": " + ec.message() +
                "; the file was left unchanged");
  }
}

}  // namespace wormsim::analysis
