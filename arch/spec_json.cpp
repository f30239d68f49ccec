#include "arch/spec_json.hpp"

namespace wormsim::arch {
namespace {

using nlohmann::json;

// 1 MHz x 1 B/cycle = 1 MB/s; GB/s needs a further /1000.
constexpr double kMBPerGB = 1000.0;

json coord_json(const Coord& c) { return json{{"x", c.x}, {"y", c.y}}; }

json coord_list_json(const std::vector<Coord>& coords) {
  json out = json::array();
  for (const Coord& c : coords) out.push_back(coord_json(c));
  return out;
}

json fidelity_json(const std::array<std::uint32_t, 4>& cycles) {
  json out = json::object();
  for (std::size_t i = 0; i < cycles.size(); ++i) out[kMathFidelityNames[i]] = cycles[i];
  return out;
}

json chip_json(const DeviceSpec& spec) {
  const ChipSpec& c = spec.chip;
  return json{
      {"noc_grid", coord_json(c.noc_grid)},
      {"worker_grid", {{"x", spec.worker_grid_x()}, {"y", spec.worker_grid_y()}}},
      {"workers_per_chip", spec.worker_count()},
      {"workers_per_board", spec.worker_count() * spec.num_chips},
      {"worker_columns", c.worker_columns},
      {"worker_rows", c.worker_rows},
      {"router_only", coord_list_json(c.router_only)},
      {"arc", coord_json(c.arc)},
  };
}

json l1_json(const L1Spec& l1) {
  return json{
      {"size_bytes", l1.size_bytes},
      {"usable_bytes", l1.usable_bytes},
      {"first_usable_address", l1.first_usable_address},
      {"num_banks", l1.num_banks},
      {"bank_bytes_per_cycle", l1.bank_bytes_per_cycle},
      {"alignment_bytes", l1.alignment_bytes},
      {"max_circular_buffers", l1.max_circular_buffers},
  };
}

json dram_json(const DeviceSpec& spec) {
  const DramSpec& d = spec.dram;
  json endpoints = json::array();
  for (const auto& tiles : d.controller_endpoints) endpoints.push_back(coord_list_json(tiles));
  json banks = json::array();
  for (const DramBankSpec& b : d.banks) {
    banks.push_back(json{{"id", b.id},
                         {"controller", b.controller},
                         {"noc_endpoint", coord_json(b.noc_endpoint)},
                         {"offset_bytes", b.offset_bytes}});
  }
  const double bank_count = static_cast<double>(d.banks.size());
  const double chip_peak = bank_count * d.bank_peak_bytes_per_cycle;
  const double chip_achievable = bank_count * d.bank_achievable_bytes_per_cycle;
  return json{
      {"num_controllers", d.num_controllers},
      {"controller_endpoints", endpoints},
      {"banks", banks},
      {"bank_size_bytes", d.bank_size_bytes},
      {"bank_peak_bytes_per_cycle", d.bank_peak_bytes_per_cycle},
      {"bank_achievable_bytes_per_cycle", d.bank_achievable_bytes_per_cycle},
      {"controller_bytes_per_cycle", d.controller_bytes_per_cycle},
      {"chip_peak_bytes_per_cycle", chip_peak},
      {"chip_achievable_bytes_per_cycle", chip_achievable},
      {"chip_peak_gb_per_s", gigabytes_per_second(spec, chip_peak)},
      {"board_peak_gb_per_s", gigabytes_per_second(spec, chip_peak) * spec.num_chips},
      {"read_latency_cycles", d.read_latency_cycles},
      {"write_latency_cycles", d.write_latency_cycles},
      {"read_alignment_bytes", d.read_alignment_bytes},
      {"write_alignment_bytes", d.write_alignment_bytes},
  };
}

json noc_json(const NocSpec& n) {
  return json{
      {"num_nocs", n.num_nocs},
      {"link_bytes_per_cycle", n.link_bytes_per_cycle},
      {"hop_latency_cycles", n.hop_latency_cycles},
      {"inject_latency_cycles", n.inject_latency_cycles},
      {"eject_latency_cycles", n.eject_latency_cycles},
      {"max_packet_bytes", n.max_packet_bytes},
      {"flit_bytes", n.flit_bytes},
      {"header_flits", n.header_flits},
      {"niu_inject_tensix_bytes_per_cycle", n.niu_inject_tensix_bytes_per_cycle},
      {"niu_inject_dram_bytes_per_cycle", n.niu_inject_dram_bytes_per_cycle},
      {"niu_absorb_tensix_bytes_per_cycle", n.niu_absorb_tensix_bytes_per_cycle},
      {"niu_absorb_dram_bytes_per_cycle", n.niu_absorb_dram_bytes_per_cycle},
      {"request_issue_cycles", n.request_issue_cycles},
      {"max_outstanding_transactions", n.max_outstanding_transactions},
  };
}

json compute_json(const ComputeSpec& c) {
  return json{
      {"matmul_tile_cycles", fidelity_json(c.matmul_tile_cycles)},
      {"matmul_min_rows", c.matmul_min_rows},
      {"eltwise_mul_tile_cycles", fidelity_json(c.eltwise_mul_tile_cycles)},
      {"eltwise_add_tile_cycles", c.eltwise_add_tile_cycles},
      {"reduce_tile_cycles", c.reduce_tile_cycles},
      {"dst_tiles_bf16", c.dst_tiles_bf16},
      {"dst_tiles_fp32", c.dst_tiles_fp32},
      {"unpack_tile_cycles", c.unpack_tile_cycles},
      {"pack_tile_cycles", c.pack_tile_cycles},
      {"block_overhead_cycles", c.block_overhead_cycles},
      {"kernel_launch_cycles", c.kernel_launch_cycles},
      {"sfpu_tile_cycles", c.sfpu_tile_cycles},
      {"tilize_tile_cycles", c.tilize_tile_cycles},
  };
}

json ethernet_json(const EthernetSpec& e) {
  json links = json::array();
  for (const EthernetLinkSpec& l : e.links) {
    links.push_back(json{{"chip_a", l.chip_a},
                         {"channel_a", l.channel_a},
                         {"core_a", coord_json(l.core_a)},
                         {"chip_b", l.chip_b},
                         {"channel_b", l.channel_b},
                         {"core_b", coord_json(l.core_b)}});
  }
  return json{
      {"channel_cores", coord_list_json(e.channel_cores)},
      {"links", links},
      {"bytes_per_cycle_per_direction", e.bytes_per_cycle_per_direction},
      {"one_way_latency_cycles", e.one_way_latency_cycles},
      {"packet_overhead_bytes", e.packet_overhead_bytes},
      {"max_packet_bytes", e.max_packet_bytes},
      {"links_reserved_for_dispatch", e.links_reserved_for_dispatch},
  };
}

json pcie_json(const PcieSpec& p) {
  return json{
      {"noc_endpoint", coord_json(p.noc_endpoint)},
      {"mmio_chip", p.mmio_chip},
      {"host_to_device_bytes_per_cycle", p.host_to_device_bytes_per_cycle},
      {"device_to_host_bytes_per_cycle", p.device_to_host_bytes_per_cycle},
      {"latency_cycles", p.latency_cycles},
  };
}

json host_json(const HostSpec& h) {
  return json{
      {"eager_dispatch_ns", h.eager_dispatch_ns},
      {"trace_op_gap_ns", h.trace_op_gap_ns},
      {"trace_replay_launch_ns", h.trace_replay_launch_ns},
      {"queue_sync_ns", h.queue_sync_ns},
      {"postprocess_ns", h.postprocess_ns},
      {"postprocess_ns_per_output_element", h.postprocess_ns_per_output_element},
  };
}

json peak_json(const DeviceSpec& spec) {
  json out = json::object();
  for (std::size_t i = 0; i < kMathFidelityNames.size(); ++i) {
    const double per_chip = spec.peak_tflops_per_chip(static_cast<MathFidelity>(i));
    out[kMathFidelityNames[i]] =
        json{{"per_chip", per_chip}, {"per_board", per_chip * spec.num_chips}};
  }
  return out;
}

}  // namespace

double gigabytes_per_second(const DeviceSpec& spec, double bytes_per_cycle) {
  return bytes_per_cycle * spec.clock_mhz / kMBPerGB;
}

nlohmann::json device_spec_summary_json(const DeviceSpec& spec, bool with_sources) {
  json out{
      {"name", spec.name},
      {"arch", spec.arch},
      {"description", spec.description},
      {"clock_mhz", spec.clock_mhz},
      {"num_chips", spec.num_chips},
      {"chip", chip_json(spec)},
      {"l1", l1_json(spec.l1)},
      {"dram", dram_json(spec)},
      {"noc", noc_json(spec.noc)},
      {"compute", compute_json(spec.compute)},
      {"ethernet", ethernet_json(spec.ethernet)},
      {"pcie", pcie_json(spec.pcie)},
      {"host", host_json(spec.host)},
      {"peak_matmul_tflops", peak_json(spec)},
  };
  if (with_sources) out["sources"] = spec.sources;
  return out;
}

}  // namespace wormsim::arch
