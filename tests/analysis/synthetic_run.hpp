#pragma once
// Hand-built GraphRuns for the profiling-output tests: op records with known timings, shapes,
// memory configs and traffic, so every output value can be checked against a figure computed
// here.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "analysis/run_profile.hpp"
#include "arch/device_spec.hpp"
#include "ops/memory_config.hpp"
#include "ops/tensor_spec.hpp"
#include "workloads/executor.hpp"

namespace wormsim::analysis::testing {

inline const arch::DeviceSpec& n300() {
  static const arch::DeviceSpec spec = arch::load_device_spec_by_name("n300");
  return spec;
}

// A fresh empty directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("wormsim_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline ops::TensorSpec tile_tensor(
    std::initializer_list<std::uint32_t> dims, ops::DataType type = ops::DataType::BFloat16,
    ops::MemoryConfig memory = ops::MemoryConfig::dram_interleaved()) {
  return ops::TensorSpec(ops::Shape(dims), type, ops::Layout::Tile, memory);
}

// Kernel spans of `cores` cores (row by row over an 8-wide grid): every core runs BRISC and
// NCRISC for the whole kernel window and, with `compute`, the three TRISCs inside it. Core k
// starts k cycles late so FIRST TO LAST START is cores - 1.
inline ops::ProgramTiming timing(sim::Cycle fw_start, sim::Cycle kernel_cycles, std::uint32_t cores,
                                 bool compute) {
  constexpr sim::Cycle kLaunch = 100;  // firmware start -> first kernel
  constexpr sim::Cycle kTail = 40;     // last kernel -> firmware end
  ops::ProgramTiming t;
  t.fw_start = fw_start;
  t.kernel_start = fw_start + kLaunch;
  t.kernel_end = t.kernel_start + kernel_cycles;
  t.fw_end = t.kernel_end + kTail;
  t.core_count = cores;
  sim::Cycle min_core = kernel_cycles, max_core = 0;
  double sum = 0;
  for (std::uint32_t k = 0; k < cores; ++k) {
    ops::CoreTiming c;
    c.core = {k % 8, k / 8};
    const sim::Cycle start = t.kernel_start + k;
    c.spans[0] = {start, t.kernel_end, true};           // BRISC (writer)
    c.spans[1] = {start + 2, t.kernel_end - 10, true};  // NCRISC (reader)
    if (compute) {
      for (std::size_t r = 2; r < ops::kRiscCount; ++r)
        c.spans[r] = {start + 5, t.kernel_end - 5, true};
      c.compute_busy_cycles = kernel_cycles / 2;
      c.cb_wait_front_cycles = 30;
      c.cb_reserve_back_cycles = 12;
    }
    c.cb_bytes = 4096;
    c.noc_bytes = 2048;
    const sim::Cycle core_time = t.kernel_end - start;
    min_core = std::min(min_core, core_time);
    max_core = std::max(max_core, core_time);
    sum += static_cast<double>(core_time);
    t.compute_busy_cycles += c.compute_busy_cycles;
    t.noc_bytes += c.noc_bytes;
    t.cores.push_back(c);
  }
  t.per_core_min = min_core;
  t.per_core_max = max_core;
  t.per_core_avg = cores > 0 ? sum / cores : 0;
  t.risc_duration[0] = kernel_cycles;
  t.risc_duration[1] = kernel_cycles - 12;
  if (compute) {
    for (std::size_t r = 2; r < ops::kRiscCount; ++r) t.risc_duration[r] = kernel_cycles - 10;
    t.cb_wait_front_avg = 30;
    t.cb_reserve_back_avg = 12;
  }
  t.l1_cb_peak_bytes = 4096;
  return t;
}

struct NodeSpec {
  std::string name;
  std::string op;
  std::string op_code;
  std::vector<ops::TensorSpec> inputs;
  std::vector<ops::TensorSpec> outputs;
  sim::Cycle kernel_cycles{1000};
  std::uint32_t cores{64};
  bool compute{true};
  std::optional<arch::MathFidelity> fidelity;
  std::uint64_t flops{0};
  std::string group;
  std::string attributes = "{'op': 'synthetic'}";
  double compute_ns{0};
  std::optional<double> pcc;
};

inline NodeSpec node_spec(std::string name, std::string op, std::string op_code,
                          std::vector<ops::TensorSpec> inputs, std::vector<ops::TensorSpec> outputs,
                          sim::Cycle kernel_cycles, std::uint32_t cores, bool compute) {
  NodeSpec s;
  s.name = std::move(name);
  s.op = std::move(op);
  s.op_code = std::move(op_code);
  s.inputs = std::move(inputs);
  s.outputs = std::move(outputs);
  s.kernel_cycles = kernel_cycles;
  s.cores = cores;
  s.compute = compute;
  return s;
}

// Ops run back to back with `gap` cycles between them (and before the first, as the launch).
inline workloads::GraphRun make_run(
    const std::vector<NodeSpec>& nodes, sim::Cycle gap = 500, std::uint32_t chip = 0,
    workloads::DispatchMode dispatch = workloads::DispatchMode::Trace, sim::Cycle start = 10000) {
  workloads::GraphRun run;
  run.graph = "synthetic";
  run.chip = chip;
  run.dispatch = dispatch;
  run.launch_ns = static_cast<double>(gap);
  sim::Cycle at = start;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const NodeSpec& s = nodes[i];
    workloads::NodeRun n;
    n.node = static_cast<workloads::NodeId>(i);
    n.name = s.name;
    n.group = s.group;
    n.op = s.op;
    ops::OpRecord& r = n.record;
    r.op_code = s.op_code;
    r.attributes = s.attributes;
    r.math_fidelity = s.fidelity;
    r.inputs = s.inputs;
    r.outputs = s.outputs;
    r.flops = s.flops;
    r.pcc = s.pcc;
    if (i > 0) {
      at += gap;
      n.gap_before_ns = static_cast<double>(gap);
    }
    r.timing = timing(at, s.kernel_cycles, s.cores, s.compute);
    at = r.timing.fw_end;
    r.perf_model.compute_ns = s.compute_ns;
    r.perf_model.bandwidth_ns = ops::ideal_bandwidth_ns(
        [&] {
          std::vector<ops::TensorSpec> all = s.inputs;
          all.insert(all.end(), s.outputs.begin(), s.outputs.end());
          return all;
        }(),
        n300());
    for (const auto& t : s.inputs) r.dram_bytes_read += ops::dram_bytes(t);
    for (const auto& t : s.outputs) r.dram_bytes_written += ops::dram_bytes(t);
    n.duration_ns = static_cast<double>(r.timing.fw_duration());
    run.op_time_ns += n.duration_ns;
    run.gap_time_ns += n.gap_before_ns;
    run.nodes.push_back(std::move(n));
  }
  run.device_time_ns = run.op_time_ns + run.gap_time_ns;
  run.host_write_ns = 2000;
  run.host_read_ns = 1000;
  run.l1_peak_bytes = 300000;
  run.dram_peak_bytes = 1 << 24;
  run.pcc = 0.9995;
  run.worst_op_pcc = 0.999;
  run.worst_op = nodes.empty() ? "" : nodes.front().name;
  return run;
}

// Three ops as a small MLP runs them: an L1 block-sharded activation times DRAM-interleaved
// weights, a bias add and a relu.
inline std::vector<NodeSpec> mlp_nodes() {
  const ops::TensorSpec act = tile_tensor({1, 1, 256, 512});
  const ops::TensorSpec act_sharded = act.with_memory_config(ops::block_sharded(act, 8, 8));
  const ops::TensorSpec weights = tile_tensor({1, 1, 512, 1024}, ops::DataType::BFloat8_B);
  const ops::TensorSpec out = tile_tensor({1, 1, 256, 1024});
  const ops::TensorSpec out_l1 = out.with_memory_config(ops::MemoryConfig::l1_interleaved());
  const ops::TensorSpec bias =
      ops::TensorSpec(ops::Shape({1, 1, 1, 1024}), ops::DataType::BFloat16, ops::Layout::Tile);
  NodeSpec mm{"fc1",
              "matmul",
              "MatmulDeviceOperation",
              {act_sharded, weights},
              {out_l1},
              4000,
              64,
              true,
              arch::MathFidelity::HiFi2,
              2ull * 256 * 512 * 1024,
              "mlp",
              "{'program_config': "
              "'MatmulMultiCoreReuseMultiCastProgramConfig(in0_block_w=2;out_subblock_h=1;"
              "out_subblock_w=4)'}",
              1024.0,
              0.9999};
  NodeSpec add{"fc1.bias",
               "add",
               "BinaryNgDeviceOperation",
               {out_l1, bias},
               {out},
               1500,
               32,
               true,
               arch::MathFidelity::HiFi4,
               0,
               "mlp",
               "{'binary_op_type': 'BinaryOpType::ADD'}",
               0,
               0.9998};
  NodeSpec relu{"act", "relu", "UnaryDeviceOperation",    {out}, {out},  800,
                64,    true,   arch::MathFidelity::HiFi4, 0,     "head", "{'op_chain': 'RELU'}",
                0,     0.9997};
  return {mm, add, relu};
}

// Per-node traffic with real element names: node k uses a few links of chip 0 NoC0 and two
// DRAM banks; `busy` scales the link occupancy.
inline RunTraffic make_traffic(std::size_t nodes, sim::Cycle busy) {
  RunTraffic t;
  t.element_names = {"chip0 noc0 (1,1)->(2,1)", "chip0 noc0 (2,1)->(3,1)",
                     "chip0 noc1 (3,1)->(2,1)", "chip0 noc0 inject (1,1)",
                     "chip0 dram bank 0",       "chip0 dram bank 1",
                     "pcie host->device",       "chip0 dram controller 0"};
  for (std::size_t n = 0; n < nodes; ++n) {
    std::vector<ElementUse> uses;
    uses.push_back({0, busy, 5, busy * 32, 4});
    uses.push_back({1, busy / 2, 0, busy * 16, 2});
    uses.push_back({2, busy / 4, 0, busy * 8, 1});
    uses.push_back({4, busy, 3, busy * 12, 8});
    uses.push_back({5, busy / 2, 0, busy * 6, 4});
    t.nodes.push_back(uses);
  }
  return t;
}

}  // namespace wormsim::analysis::testing
