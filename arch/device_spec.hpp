#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "sim/error.hpp"

namespace wormsim::arch {

// A NoC0 coordinate on the 10x12 grid (NoC1 routes on the same physical grid, mirrored).
struct Coord {
  int x{0};
  int y{0};
  friend bool operator==(const Coord&, const Coord&) = default;
  friend auto operator<=>(const Coord&, const Coord&) = default;
};

enum class MathFidelity { LoFi = 0, HiFi2 = 1, HiFi3 = 2, HiFi4 = 3 };
constexpr std::array<const char*, 4> kMathFidelityNames = {"LoFi", "HiFi2", "HiFi3", "HiFi4"};

// Thrown when a spec file is missing, malformed or inconsistent; names the JSON path.
class SpecError : public Error {
 public:
  using Error::Error;
};

struct L1Spec {
  std::uint64_t size_bytes{0};         // whole L1 per Tensix
  std::uint64_t usable_bytes{0};       // for CBs and buffers (tt-metal l1_bank_size)
  std::uint64_t first_usable_address{0};
  std::uint32_t num_banks{0};          // SRAM banks inside one L1
  double bank_bytes_per_cycle{0};      // per SRAM bank
  std::uint32_t alignment_bytes{0};
  std::uint32_t max_circular_buffers{0};
};

struct DramBankSpec {
  std::uint32_t id{0};
  std::uint32_t controller{0};
  Coord noc_endpoint;                  // preferred worker endpoint (NoC0)
  std::uint64_t offset_bytes{0};       // bank's offset inside its controller
};

struct DramSpec {
  std::uint32_t num_controllers{0};
  std::vector<std::vector<Coord>> controller_endpoints;  // per controller, its NoC tiles
  std::vector<DramBankSpec> banks;
  std::uint64_t bank_size_bytes{0};
  double bank_peak_bytes_per_cycle{0};      // per 1 GiB channel, read+write combined
  double bank_achievable_bytes_per_cycle{0};
  double controller_bytes_per_cycle{0};     // cap shared by a controller's banks
  std::uint32_t read_latency_cycles{0};
  std::uint32_t write_latency_cycles{0};
  std::uint32_t read_alignment_bytes{0};
  std::uint32_t write_alignment_bytes{0};
};

struct NocSpec {
  std::uint32_t num_nocs{0};
  double link_bytes_per_cycle{0};
  std::uint32_t hop_latency_cycles{0};
  std::uint32_t inject_latency_cycles{0};   // NIU -> router
  std::uint32_t eject_latency_cycles{0};    // router -> NIU
  std::uint32_t max_packet_bytes{0};
  std::uint32_t flit_bytes{0};
  std::uint32_t header_flits{0};
  double niu_inject_tensix_bytes_per_cycle{0};
  double niu_inject_dram_bytes_per_cycle{0};
  double niu_absorb_tensix_bytes_per_cycle{0};
  double niu_absorb_dram_bytes_per_cycle{0};
  std::uint32_t request_issue_cycles{0};     // RISC cost to issue one NoC command
  std::uint32_t max_outstanding_transactions{0};
  // Tree traversals a multicast packet spends reserving its path before its data flows.
  double multicast_path_setup_traversals{0};
};

struct ComputeSpec {
  std::array<std::uint32_t, 4> matmul_tile_cycles{};  // per 32x32x32 tile product, by fidelity
  std::uint32_t matmul_min_rows{0};                   // fewer in0 rows still cost a full pass
  std::array<std::uint32_t, 4> eltwise_mul_tile_cycles{};
  std::uint32_t eltwise_add_tile_cycles{0};
  std::uint32_t reduce_tile_cycles{0};
  std::uint32_t dst_tiles_bf16{0};                    // half-sync Dst capacity
  std::uint32_t dst_tiles_fp32{0};
  std::map<std::string, std::uint32_t> unpack_tile_cycles;  // by data format name
  std::map<std::string, std::uint32_t> pack_tile_cycles;    // by data format name
  std::uint32_t block_overhead_cycles{0};             // per compute block (sync, init)
  std::uint32_t matmul_inner_step_overhead_cycles{0}; // per subblock per K tile (matmul_block call)
  std::uint32_t dst_reload_overhead_cycles{0};        // per tile reloaded into Dst, beyond unpacking it
  std::uint32_t kernel_launch_cycles{0};              // firmware start -> kernel start
  std::map<std::string, std::uint32_t> sfpu_tile_cycles;    // by unary op name
  // Measured cycles to tilize one tile, by input then output format: {16-bit Dst, fp32 Dst}.
  std::map<std::string, std::map<std::string, std::array<std::uint32_t, 2>>> tilize_tile_cycles;
};

struct EthernetLinkSpec {
  std::uint32_t chip_a{0};
  std::uint32_t channel_a{0};
  Coord core_a;
  std::uint32_t chip_b{0};
  std::uint32_t channel_b{0};
  Coord core_b;
};

struct EthernetSpec {
  std::vector<EthernetLinkSpec> links;
  double bytes_per_cycle_per_direction{0};
  std::uint32_t one_way_latency_cycles{0};
  std::uint32_t packet_overhead_bytes{0};
  std::uint32_t max_packet_bytes{0};
  std::uint32_t links_reserved_for_dispatch{0};
  std::vector<Coord> channel_cores;        // NoC0 tile of each Ethernet channel (index = channel)
};

struct PcieSpec {
  Coord noc_endpoint;
  std::uint32_t mmio_chip{0};
  double host_to_device_bytes_per_cycle{0};
  double device_to_host_bytes_per_cycle{0};
  std::uint32_t latency_cycles{0};
};

struct HostSpec {
  std::uint32_t eager_dispatch_ns{0};      // per-op host + dispatch cost without trace
  std::uint32_t trace_op_gap_ns{0};        // op-to-op gap when replaying a trace
  std::uint32_t trace_replay_launch_ns{0}; // one execute_trace call
  std::uint32_t queue_sync_ns{0};          // one event between the two command queues
  std::uint32_t postprocess_ns{0};         // host post-processing per inference and chip
  double postprocess_ns_per_output_element{0};  // ... plus this per output element read back
};

struct ChipSpec {
  Coord noc_grid;                          // 10 x 12
  std::vector<int> worker_columns;         // NoC0 x of logical worker columns
  std::vector<int> worker_rows;            // NoC0 y of logical worker rows
  std::vector<Coord> router_only;
  Coord arc;
};

struct DeviceSpec {
  std::string name;         // "n300"
  std::string arch;         // "wormhole_b0"
  std::string description;
  double clock_mhz{0};
  std::uint32_t num_chips{0};
  ChipSpec chip;            // every chip of the board has the same layout
  L1Spec l1;
  DramSpec dram;
  NocSpec noc;
  ComputeSpec compute;
  EthernetSpec ethernet;
  PcieSpec pcie;
  HostSpec host;
  std::map<std::string, std::string> sources;  // JSON path of each value -> its source

  std::uint32_t worker_grid_x() const { return static_cast<std::uint32_t>(chip.worker_columns.size()); }
  std::uint32_t worker_grid_y() const { return static_cast<std::uint32_t>(chip.worker_rows.size()); }
  std::uint32_t worker_count() const { return worker_grid_x() * worker_grid_y(); }
  // NoC0 coordinate of logical worker core (col, row).
  Coord worker_coord(std::uint32_t col, std::uint32_t row) const {
    return Coord{chip.worker_columns.at(col), chip.worker_rows.at(row)};
  }
  // Peak dense matmul FLOP/s of one chip at a fidelity (2 * 32^3 FLOP per tile product).
  double peak_tflops_per_chip(MathFidelity fidelity) const;
};

// Loads and validates a spec file; any problem throws SpecError naming the JSON path.
DeviceSpec load_device_spec(const std::filesystem::path& file);
// Loads a spec by short name ("n300", "n150") from the spec directory.
DeviceSpec load_device_spec_by_name(const std::string& name);
// Names of the specs available in the spec directory.
std::vector<std::string> available_device_specs();
// The directory searched for specs: $WORMSIM_SPEC_DIR if set, else the build-time path.
std::filesystem::path spec_directory();

}  // namespace wormsim::arch
