#include "ops/program.hpp"

#include <algorithm>
#include <limits>

namespace wormsim::ops {

std::string_view to_string(Risc risc) {
  switch (risc) {
    case Risc::Brisc:
      return "BRISC";
    case Risc::Ncrisc:
      return "NCRISC";
    case Risc::Trisc0:
      return "TRISC0";
    case Risc::Trisc1:
      return "TRISC1";
    case Risc::Trisc2:
      return "TRISC2";
  }
  return "?";
}

Program::Program(Device& device, std::uint32_t chip, std::string name)
    : device_(device), chip_(chip), name_(std::move(name)) {
  device.fabric(chip);  // validates the chip index
}

Program::~Program() {
  // Circular buffers live only while the program runs.
  arch::ChipL1Map& l1 = device_.l1().chip(chip_);
  for (auto& [key, core] : cores_) {
    for (std::uint64_t handle : core.cb_handles) {
      l1.core(arch::Coord{static_cast<int>(key.first), static_cast<int>(key.second)}).free(handle);
    }
  }
}

Program::CoreState& Program::state(CoreCoord core) {
  if (core.x >= spec().worker_grid_x() || core.y >= spec().worker_grid_y()) {
    throw Error("program '" + name_ + "' uses core " + to_string(core) + " outside the " +
                std::to_string(spec().worker_grid_x()) + "x" +
                std::to_string(spec().worker_grid_y()) + " worker grid");
  }
  return cores_[{core.x, core.y}];
}

noc::Coord Program::noc_coord(CoreCoord core) const { return spec().worker_coord(core.x, core.y); }

sim::CircularBuffer& Program::create_cb(CoreCoord core, const std::string& name,
                                        std::uint32_t pages, std::uint32_t page_bytes,
                                        bool backed_by_tensor) {
  CoreState& s = state(core);
  if (backed_by_tensor) {
    s.cbs.push_back(std::make_unique<sim::CircularBuffer>(engine(), name, pages));
    return *s.cbs.back();
  }
  const std::uint64_t bytes = static_cast<std::uint64_t>(pages) * page_bytes;
  arch::CoreL1Allocator& l1 = device_.l1().chip(chip_).core(
      arch::Coord{static_cast<int>(core.x), static_cast<int>(core.y)});
  const arch::L1Allocation allocation = l1.allocate_circular_buffer(bytes, name_ + ":" + name);
  s.cb_handles.push_back(allocation.handle);
  s.cb_bytes += bytes;
  cb_requests_.push_back(CircularBufferRequest{core, name, pages, page_bytes});
  s.cbs.push_back(std::make_unique<sim::CircularBuffer>(engine(), name, pages));
  return *s.cbs.back();
}

noc::NocPort& Program::noc_port(CoreCoord core, Risc risc, noc::NocId noc) {
  CoreState& s = state(core);
  auto& port = s.ports[{static_cast<int>(risc), static_cast<int>(noc)}];
  if (!port) port = std::make_unique<noc::NocPort>(fabric(), noc, noc_coord(core));
  return *port;
}

sim::Semaphore& Program::semaphore(CoreCoord core, std::uint32_t id) {
  auto& sem = state(core).semaphores[id];
  if (!sem) sem = std::make_unique<sim::Semaphore>(engine(), 0);
  return *sem;
}

sim::Engine::DelayAwaiter Program::compute(CoreCoord core, sim::Cycle cycles) {
  state(core).compute_cycles += cycles;
  return engine().delay(cycles);
}

void Program::add_kernel(CoreCoord core, Risc risc, sim::Task kernel) {
  state(core);
  // Rejected here rather than in run(): by then earlier kernels would already be spawned and
  // left behind on the device's engine, pointing into this program.
  for (const PendingKernel& k : kernels_) {
    if (k.core == core && k.risc == risc) {
      throw std::logic_error("Program '" + name_ + "': two kernels on " + to_string(core) + " " +
                             std::string(to_string(risc)));
    }
  }
  kernels_.push_back(PendingKernel{core, risc, std::move(kernel)});
}

sim::Task Program::tracked(KernelSpan& span, sim::Cycle launch, sim::Task kernel) {
  co_await engine().until(launch);
  span.used = true;
  span.start = engine().now();
  co_await kernel;
  span.end = engine().now();
}

ProgramTiming Program::run() {
  if (ran_) throw std::logic_error("Program '" + name_ + "' ran twice");
  ran_ = true;
  if (kernels_.empty()) throw std::logic_error("Program '" + name_ + "' has no kernels");
  ProgramTiming timing;
  timing.fw_start = engine().now();
  const sim::Cycle launch = timing.fw_start + spec().compute.kernel_launch_cycles;
  for (PendingKernel& k : kernels_) {
    KernelSpan& span = cores_[{k.core.x, k.core.y}].spans[static_cast<std::size_t>(k.risc)];
    if (span.used) {
      throw std::logic_error("Program '" + name_ + "': two kernels on " + to_string(k.core) + " " +
                             std::string(to_string(k.risc)));
    }
    span.used = true;  // claimed; start/end are written when it runs
    engine().spawn(tracked(span, launch, std::move(k.task)), name_);
  }
  kernels_.clear();
  engine().run();

  timing.kernel_start = std::numeric_limits<sim::Cycle>::max();
  timing.per_core_min = std::numeric_limits<sim::Cycle>::max();
  std::array<sim::Cycle, kRiscCount> first_start;
  first_start.fill(std::numeric_limits<sim::Cycle>::max());
  std::array<sim::Cycle, kRiscCount> last_end{};
  double core_sum = 0;
  double wait_front = 0;
  double reserve_back = 0;
  for (auto& [key, core] : cores_) {
    sim::Cycle core_start = std::numeric_limits<sim::Cycle>::max();
    sim::Cycle core_end = 0;
    bool any = false;
    const auto trisc0 = static_cast<std::size_t>(Risc::Trisc0);
    if (core.spans[trisc0].used) {
      for (Risc r : {Risc::Trisc1, Risc::Trisc2}) {
        if (!core.spans[static_cast<std::size_t>(r)].used)
          core.spans[static_cast<std::size_t>(r)] = core.spans[trisc0];
      }
    }
    for (std::size_t r = 0; r < kRiscCount; ++r) {
      const KernelSpan& span = core.spans[r];
      if (!span.used) continue;
      any = true;
      first_start[r] = std::min(first_start[r], span.start);
      last_end[r] = std::max(last_end[r], span.end);
      core_start = std::min(core_start, span.start);
      core_end = std::max(core_end, span.end);
    }
    timing.l1_cb_peak_bytes = std::max(timing.l1_cb_peak_bytes, core.cb_bytes);
    timing.compute_busy_cycles += core.compute_cycles;
    std::uint64_t core_noc_bytes = 0;
    for (const auto& [pk, port] : core.ports)
      core_noc_bytes += port->bytes_read() + port->bytes_written();
    timing.noc_bytes += core_noc_bytes;
    if (!any) continue;
    CoreTiming detail;
    detail.core = CoreCoord{key.first, key.second};
    detail.spans = core.spans;
    detail.compute_busy_cycles = core.compute_cycles;
    detail.cb_bytes = core.cb_bytes;
    detail.noc_bytes = core_noc_bytes;
    for (const auto& cb : core.cbs) {
      detail.cb_wait_front_cycles += cb->wait_front_wait_cycles();
      detail.cb_reserve_back_cycles += cb->reserve_back_wait_cycles();
    }
    timing.cores.push_back(detail);
    ++timing.core_count;
    timing.kernel_start = std::min(timing.kernel_start, core_start);
    timing.kernel_end = std::max(timing.kernel_end, core_end);
    timing.per_core_min = std::min(timing.per_core_min, core_end - core_start);
    timing.per_core_max = std::max(timing.per_core_max, core_end - core_start);
    core_sum += static_cast<double>(core_end - core_start);
    for (const auto& cb : core.cbs) {
      wait_front += static_cast<double>(cb->wait_front_wait_cycles());
      reserve_back += static_cast<double>(cb->reserve_back_wait_cycles());
    }
  }
  for (std::size_t r = 0; r < kRiscCount; ++r) {
    timing.risc_duration[r] = last_end[r] > 0 ? last_end[r] - first_start[r] : 0;
  }
  if (timing.core_count > 0) {
    timing.per_core_avg = core_sum / timing.core_count;
    timing.cb_wait_front_avg = wait_front / timing.core_count;
    timing.cb_reserve_back_avg = reserve_back / timing.core_count;
  }
  // Firmware brackets the kernels: launch cost before, the same teardown after.
  timing.fw_end = timing.kernel_end + spec().compute.kernel_launch_cycles;
  engine().advance_to(timing.fw_end);
  return timing;
}

}  // namespace wormsim::ops
