#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "noc/fabric.hpp"
#include "ops/device.hpp"
#include "ops/memory_config.hpp"
#include "sim/circular_buffer.hpp"
#include "sim/sync.hpp"

namespace wormsim::ops {

// The five RISC-Vs of a Tensix core, as tt-metal's profiler names them. A compute kernel runs
// on all three TRISCs (unpack, math, pack) at once.
enum class Risc : std::uint8_t { Brisc = 0, Ncrisc = 1, Trisc0 = 2, Trisc1 = 3, Trisc2 = 4 };
constexpr std::size_t kRiscCount = 5;
std::string_view to_string(Risc risc);

struct KernelSpan {
  sim::Cycle start{0};
  sim::Cycle end{0};
  bool used{false};
  friend bool operator==(const KernelSpan&, const KernelSpan&) = default;
};

// One core's kernels in a program run (absolute cycles), for traces and per-core statistics.
struct CoreTiming {
  CoreCoord core;
  std::array<KernelSpan, kRiscCount> spans{};
  std::uint64_t compute_busy_cycles{0};
  sim::Cycle cb_wait_front_cycles{0};
  sim::Cycle cb_reserve_back_cycles{0};
  std::uint64_t cb_bytes{0};
  std::uint64_t noc_bytes{0};
  friend bool operator==(const CoreTiming&, const CoreTiming&) = default;
};

// What one program run took, in the terms of tt-metal's ops_perf_results columns.
struct ProgramTiming {
  sim::Cycle fw_start{0};
  sim::Cycle fw_end{0};
  sim::Cycle kernel_start{0};  // earliest kernel start over all cores and RISCs
  sim::Cycle kernel_end{0};    // latest kernel end
  std::array<sim::Cycle, kRiscCount> risc_duration{};  // per RISC: last end - first start
  sim::Cycle per_core_min{0};
  sim::Cycle per_core_max{0};
  double per_core_avg{0};
  double cb_wait_front_avg{0};    // compute kernels' time blocked in cb_wait_front, per core
  double cb_reserve_back_avg{0};  // compute kernels' time blocked in cb_reserve_back, per core
  std::uint32_t core_count{0};
  std::uint64_t l1_cb_peak_bytes{0};     // largest CB footprint of one core
  std::uint64_t noc_bytes{0};            // bytes the program's kernels moved over the NoC
  std::uint64_t compute_busy_cycles{0};  // summed over cores
  std::vector<CoreTiming> cores;         // every core that ran a kernel, by logical (x, y)
  sim::Cycle kernel_duration() const { return kernel_end - kernel_start; }
  sim::Cycle fw_duration() const { return fw_end - fw_start; }
  friend bool operator==(const ProgramTiming&, const ProgramTiming&) = default;
};

// One op's device program: per-core kernels (C++20 coroutines) over circular buffers in L1,
// NoC ports and semaphores. run() launches every kernel at once, as the dispatcher does, and
// returns when the last one finishes.
class Program {
 public:
  Program(Device& device, std::uint32_t chip, std::string name);
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;
  ~Program();

  Device& device() noexcept { return device_; }
  sim::Engine& engine() noexcept { return device_.engine(); }
  noc::ChipFabric& fabric() { return device_.fabric(chip_); }
  const arch::DeviceSpec& spec() const noexcept { return device_.spec(); }
  std::uint32_t chip() const noexcept { return chip_; }
  const std::string& name() const noexcept { return name_; }

  // A circular buffer that took new L1 space, in the order it was created.
  struct CircularBufferRequest {
    CoreCoord core;
    std::string name;
    std::uint32_t pages{0};
    std::uint32_t page_bytes{0};
    friend bool operator==(const CircularBufferRequest&, const CircularBufferRequest&) = default;
  };

  // A circular buffer of `pages` pages in `core`'s L1; throws wormsim::Error if L1 is full.
  // A CB backed by a tensor's own L1 buffer (a sharded operand or output) takes no new space.
  sim::CircularBuffer& create_cb(CoreCoord core, const std::string& name, std::uint32_t pages,
                                 std::uint32_t page_bytes, bool backed_by_tensor = false);
  // The NoC port a kernel on (core, risc) uses on `noc`.
  noc::NocPort& noc_port(CoreCoord core, Risc risc, noc::NocId noc);
  // Semaphore `id` of `core` (created at 0 on first use).
  sim::Semaphore& semaphore(CoreCoord core, std::uint32_t id);
  // Busy compute time on a core (FPU/SFPU/unpack/pack work of its compute kernel).
  sim::Engine::DelayAwaiter compute(CoreCoord core, sim::Cycle cycles);

  // A compute kernel is added as Risc::Trisc0 and timed on all three TRISCs, as it runs on
  // each of them (unpack, math, pack).
  void add_kernel(CoreCoord core, Risc risc, sim::Task kernel);
  ProgramTiming run();
  // The CBs that took L1 space so far (what a replay of this program must place again).
  const std::vector<CircularBufferRequest>& circular_buffer_requests() const noexcept {
    return cb_requests_;
  }

  // Keeps state the kernels reference alive until the program is destroyed.
  void keep_alive(std::shared_ptr<void> state) { keep_alive_.push_back(std::move(state)); }

  // NoC0 coordinate of a logical worker core.
  noc::Coord noc_coord(CoreCoord core) const;

 private:
  sim::Task tracked(KernelSpan& span, sim::Cycle launch, sim::Task kernel);

  struct CoreState {
    std::array<KernelSpan, kRiscCount> spans{};
    std::vector<std::unique_ptr<sim::CircularBuffer>> cbs;
    std::vector<std::uint64_t> cb_handles;
    std::uint64_t cb_bytes{0};
    std::uint64_t compute_cycles{0};
    std::map<std::uint32_t, std::unique_ptr<sim::Semaphore>> semaphores;
    std::map<std::pair<int, int>, std::unique_ptr<noc::NocPort>> ports;  // (risc, noc)
  };
  CoreState& state(CoreCoord core);

  Device& device_;
  std::uint32_t chip_;
  std::string name_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, CoreState> cores_;
  struct PendingKernel {
    CoreCoord core;
    Risc risc;
    sim::Task task;
  };
  std::vector<PendingKernel> kernels_;
  std::vector<CircularBufferRequest> cb_requests_;
  bool ran_{false};
  std::vector<std::shared_ptr<void>> keep_alive_;
};

}  // namespace wormsim::ops
