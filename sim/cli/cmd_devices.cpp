// `wormsim devices` lists the device specs; `wormsim spec show NAME` prints one of them.
#include <CLI/CLI.hpp>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "arch/spec_json.hpp"
#include "sim/cli/command_registry.hpp"

namespace wormsim::cli {
namespace {

using arch::Coord;
using arch::DeviceSpec;

constexpr int kLabelWidth = 28;
constexpr double kBytesPerKiB = 1024.0;
constexpr double kBytesPerMiB = 1024.0 * 1024.0;

std::string number(double value) {
  std::ostringstream out;
  out << std::setprecision(6) << value;
  return out.str();
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

std::string coord(const Coord& c) {
  return "(" + std::to_string(c.x) + "," + std::to_string(c.y) + ")";
}

template <typename Range, typename Format>
std::string joined(const Range& items, Format format, const std::string& separator = " ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += format(item);
  }
  return out;
}

// Prints "label  value" rows; with sources, each row is followed by the sources it rests on.
class TablePrinter {
 public:
  TablePrinter(const DeviceSpec& spec, bool with_sources, std::ostream& out)
      : spec_(spec), with_sources_(with_sources), out_(out) {}

  void section(const std::string& title) { out_ << "\n" << title << "\n"; }

  void row(const std::string& label, const std::string& value,
           const std::vector<std::string>& source_paths = {}) {
    out_ << "  " << std::left << std::setw(kLabelWidth) << label << value << "\n";
    if (!with_sources_) return;
    for (const std::string& path : source_paths) {
      const auto it = spec_.sources.find(path);
      if (it != spec_.sources.end()) out_ << "      source " << path << ": " << it->second << "\n";
    }
  }

  void text(const std::string& line) { out_ << "    " << line << "\n"; }

 private:
  const DeviceSpec& spec_;
  bool with_sources_;
  std::ostream& out_;
};

std::string gbps(const DeviceSpec& spec, double bytes_per_cycle) {
  return number(bytes_per_cycle) + " B/cycle (" +
         fixed(arch::gigabytes_per_second(spec, bytes_per_cycle), 1) + " GB/s)";
}

void print_layout(const DeviceSpec& s, TablePrinter& t) {
  t.section("Board");
  t.row("Clock", number(s.clock_mhz) + " MHz", {"/clock_mhz"});
  t.row("Chips",
        std::to_string(s.num_chips) + " (PCIe on chip " + std::to_string(s.pcie.mmio_chip) + ")",
        {"/num_chips", "/pcie/mmio_chip"});

  t.section("Chip layout (NoC0 coordinates)");
  t.row("NoC grid", std::to_string(s.chip.noc_grid.x) + " x " + std::to_string(s.chip.noc_grid.y),
        {"/chip/noc_grid"});
  t.row("Worker grid", std::to_string(s.worker_grid_x()) + " x " +
                           std::to_string(s.worker_grid_y()) + " = " +
                           std::to_string(s.worker_count()) + " per chip, " +
                           std::to_string(s.worker_count() * s.num_chips) + " per board");
  const auto as_int = [](int v) { return std::to_string(v); };
  t.row("Worker columns (x)", joined(s.chip.worker_columns, as_int), {"/chip/worker_columns"});
  t.row("Worker rows (y)", joined(s.chip.worker_rows, as_int), {"/chip/worker_rows"});
  t.row("ARC", coord(s.chip.arc), {"/chip/arc"});
  t.row("Router-only tiles", joined(s.chip.router_only, coord), {"/chip/router_only"});

  t.section("L1 (per worker)");
  t.row("Size",
        std::to_string(s.l1.size_bytes) + " B (" +
            fixed(static_cast<double>(s.l1.size_bytes) / kBytesPerKiB, 1) + " KiB)",
        {"/l1/size_bytes"});
  t.row("Usable",
        std::to_string(s.l1.usable_bytes) + " B from address " +
            std::to_string(s.l1.first_usable_address),
        {"/l1/usable_bytes", "/l1/first_usable_address"});
  t.row("Banks",
        std::to_string(s.l1.num_banks) + " x " + number(s.l1.bank_bytes_per_cycle) + " B/cycle",
        {"/l1/num_banks", "/l1/bank_bytes_per_cycle"});
  t.row("Alignment", std::to_string(s.l1.alignment_bytes) + " B", {"/l1/alignment_bytes"});
  t.row("Circular buffers", std::to_string(s.l1.max_circular_buffers),
        {"/l1/max_circular_buffers"});
}

void print_dram(const DeviceSpec& s, TablePrinter& t) {
  const arch::DramSpec& d = s.dram;
  t.section("DRAM (per chip)");
  t.row("Controllers", std::to_string(d.num_controllers),
        {"/dram/num_controllers", "/dram/controller_endpoints"});
  for (std::size_t c = 0; c < d.controller_endpoints.size(); ++c) {
    t.text("controller " + std::to_string(c) + ": " + joined(d.controller_endpoints[c], coord));
  }
  t.row("Banks",
        std::to_string(d.banks.size()) + " x " +
            number(static_cast<double>(d.bank_size_bytes) / kBytesPerMiB) + " MiB",
        {"/dram/banks", "/dram/bank_size_bytes"});
  t.text("bank  controller  endpoint  offset");
  for (const arch::DramBankSpec& b : d.banks) {
    std::ostringstream line;
    line << std::left << std::setw(6) << b.id << std::setw(12) << b.controller << std::setw(10)
         << coord(b.noc_endpoint) << number(static_cast<double>(b.offset_bytes) / kBytesPerMiB)
         << " MiB";
    t.text(line.str());
  }
  const double banks = static_cast<double>(d.banks.size());
  t.row("Bandwidth per bank",
        "peak " + gbps(s, d.bank_peak_bytes_per_cycle) + ", achievable " +
            gbps(s, d.bank_achievable_bytes_per_cycle),
        {"/dram/bank_peak_bytes_per_cycle", "/dram/bank_achievable_bytes_per_cycle"});
  t.row("Bandwidth per controller", gbps(s, d.controller_bytes_per_cycle),
        {"/dram/controller_bytes_per_cycle"});
  t.row("Bandwidth per chip", "peak " + gbps(s, banks * d.bank_peak_bytes_per_cycle) +
                                  ", achievable " +
                                  gbps(s, banks * d.bank_achievable_bytes_per_cycle));
  t.row("Bandwidth per board",
        "peak " + gbps(s, banks * d.bank_peak_bytes_per_cycle * s.num_chips));
  t.row("Latency",
        "read " + std::to_string(d.read_latency_cycles) + ", write " +
            std::to_string(d.write_latency_cycles) + " cycles",
        {"/dram/read_latency_cycles", "/dram/write_latency_cycles"});
  t.row("Alignment",
        "read " + std::to_string(d.read_alignment_bytes) + " B, write " +
            std::to_string(d.write_alignment_bytes) + " B",
        {"/dram/read_alignment_bytes", "/dram/write_alignment_bytes"});
}

void print_noc(const DeviceSpec& s, TablePrinter& t) {
  const arch::NocSpec& n = s.noc;
  t.section("NoC");
  t.row("NoCs", std::to_string(n.num_nocs), {"/noc/num_nocs"});
  t.row("Link bandwidth", gbps(s, n.link_bytes_per_cycle), {"/noc/link_bytes_per_cycle"});
  t.row("Latency",
        std::to_string(n.hop_latency_cycles) + " cycles/hop, inject " +
            std::to_string(n.inject_latency_cycles) + ", eject " +
            std::to_string(n.eject_latency_cycles),
        {"/noc/hop_latency_cycles", "/noc/inject_latency_cycles", "/noc/eject_latency_cycles"});
  t.row("Packet",
        "max " + std::to_string(n.max_packet_bytes) + " B, flit " + std::to_string(n.flit_bytes) +
            " B, header " + std::to_string(n.header_flits) + " flit(s)",
        {"/noc/max_packet_bytes", "/noc/flit_bytes", "/noc/header_flits"});
  t.row("NIU inject (B/cycle)",
        "tensix " + number(n.niu_inject_tensix_bytes_per_cycle) + ", dram " +
            number(n.niu_inject_dram_bytes_per_cycle),
        {"/noc/niu_inject_tensix_bytes_per_cycle", "/noc/niu_inject_dram_bytes_per_cycle"});
  t.row("NIU absorb (B/cycle)",
        "tensix " + number(n.niu_absorb_tensix_bytes_per_cycle) + ", dram " +
            number(n.niu_absorb_dram_bytes_per_cycle),
        {"/noc/niu_absorb_tensix_bytes_per_cycle", "/noc/niu_absorb_dram_bytes_per_cycle"});
  t.row("Request issue", std::to_string(n.request_issue_cycles) + " cycles",
        {"/noc/request_issue_cycles"});
  t.row("Outstanding transactions", std::to_string(n.max_outstanding_transactions),
        {"/noc/max_outstanding_transactions"});
}

std::string fidelity_cycles(const std::array<std::uint32_t, 4>& cycles) {
  std::string out;
  for (std::size_t i = 0; i < cycles.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::string(arch::kMathFidelityNames[i]) + " " + std::to_string(cycles[i]);
  }
  return out;
}

template <typename Map>
std::string named_cycles(const Map& cycles) {
  return joined(
      cycles, [](const auto& item) { return item.first + " " + std::to_string(item.second); },
      ", ");
}

template <typename Map>
std::vector<std::string> member_paths(const std::string& base, const Map& cycles) {
  std::vector<std::string> paths;
  for (const auto& item : cycles) paths.push_back(base + "/" + item.first);
  return paths;
}

void print_compute(const DeviceSpec& s, TablePrinter& t) {
  const arch::ComputeSpec& c = s.compute;
  t.section("Compute (per worker, cycles per 32x32 tile)");
  t.row("Matmul",
        fidelity_cycles(c.matmul_tile_cycles) + " (min " + std::to_string(c.matmul_min_rows) +
            " rows)",
        {"/compute/matmul_tile_cycles", "/compute/matmul_min_rows"});
  t.row("Eltwise mul", fidelity_cycles(c.eltwise_mul_tile_cycles),
        {"/compute/eltwise_mul_tile_cycles"});
  t.row("Eltwise add / reduce",
        std::to_string(c.eltwise_add_tile_cycles) + " / " + std::to_string(c.reduce_tile_cycles),
        {"/compute/eltwise_add_tile_cycles", "/compute/reduce_tile_cycles"});
  t.row("Dst tiles",
        std::to_string(c.dst_tiles_bf16) + " bf16, " + std::to_string(c.dst_tiles_fp32) + " fp32",
        {"/compute/dst_tiles_bf16", "/compute/dst_tiles_fp32"});
  t.row("Unpack", named_cycles(c.unpack_tile_cycles),
        member_paths("/compute/unpack_tile_cycles", c.unpack_tile_cycles));
  t.row("Pack", named_cycles(c.pack_tile_cycles),
        member_paths("/compute/pack_tile_cycles", c.pack_tile_cycles));
  t.row("Block overhead", std::to_string(c.block_overhead_cycles) + " cycles",
        {"/compute/block_overhead_cycles"});
  t.row("Kernel launch", std::to_string(c.kernel_launch_cycles) + " cycles",
        {"/compute/kernel_launch_cycles"});
  t.row("SFPU", named_cycles(c.sfpu_tile_cycles),
        member_paths("/compute/sfpu_tile_cycles", c.sfpu_tile_cycles));

  t.section("Peak matmul TFLOP/s");
  t.text("fidelity  per chip  per board");
  for (std::size_t i = 0; i < arch::kMathFidelityNames.size(); ++i) {
    const double per_chip = s.peak_tflops_per_chip(static_cast<arch::MathFidelity>(i));
    std::ostringstream line;
    line << std::left << std::setw(10) << arch::kMathFidelityNames[i] << std::setw(10)
         << fixed(per_chip, 1) << fixed(per_chip * s.num_chips, 1);
    t.text(line.str());
  }
}

void print_links(const DeviceSpec& s, TablePrinter& t) {
  const arch::EthernetSpec& e = s.ethernet;
  t.section("Ethernet");
  t.row("Links",
        std::to_string(e.links.size()) + " (" + std::to_string(e.links_reserved_for_dispatch) +
            " reserved for dispatch)",
        {"/ethernet/links", "/ethernet/links_reserved_for_dispatch"});
  for (const arch::EthernetLinkSpec& l : e.links) {
    t.text("chip " + std::to_string(l.chip_a) + " ch" + std::to_string(l.channel_a) + " " +
           coord(l.core_a) + " <-> chip " + std::to_string(l.chip_b) + " ch" +
           std::to_string(l.channel_b) + " " + coord(l.core_b));
  }
  t.row("Channel cores", joined(e.channel_cores, coord), {"/ethernet/channel_cores"});
  t.row("Bandwidth per direction", gbps(s, e.bytes_per_cycle_per_direction) + " per link",
        {"/ethernet/bytes_per_cycle_per_direction"});
  t.row("Latency", std::to_string(e.one_way_latency_cycles) + " cycles one way",
        {"/ethernet/one_way_latency_cycles"});
  t.row("Packet",
        "max " + std::to_string(e.max_packet_bytes) + " B, overhead " +
            std::to_string(e.packet_overhead_bytes) + " B",
        {"/ethernet/max_packet_bytes", "/ethernet/packet_overhead_bytes"});

  t.section("PCIe");
  t.row("Endpoint", coord(s.pcie.noc_endpoint) + " on chip " + std::to_string(s.pcie.mmio_chip),
        {"/pcie/noc_endpoint", "/pcie/mmio_chip"});
  t.row("Host -> device", gbps(s, s.pcie.host_to_device_bytes_per_cycle),
        {"/pcie/host_to_device_bytes_per_cycle"});
  t.row("Device -> host", gbps(s, s.pcie.device_to_host_bytes_per_cycle),
        {"/pcie/device_to_host_bytes_per_cycle"});
  t.row("Latency", std::to_string(s.pcie.latency_cycles) + " cycles", {"/pcie/latency_cycles"});

  t.section("Host");
  t.row("Eager dispatch per op", std::to_string(s.host.eager_dispatch_ns) + " ns",
        {"/host/eager_dispatch_ns"});
  t.row("Trace op gap", std::to_string(s.host.trace_op_gap_ns) + " ns", {"/host/trace_op_gap_ns"});
  t.row("Trace replay launch", std::to_string(s.host.trace_replay_launch_ns) + " ns",
        {"/host/trace_replay_launch_ns"});
  t.row("Command-queue event sync", std::to_string(s.host.queue_sync_ns) + " ns",
        {"/host/queue_sync_ns"});
  t.row("Host post-processing",
        std::to_string(s.host.postprocess_ns) + " ns + " +
            number(s.host.postprocess_ns_per_output_element) + " ns per output element",
        {"/host/postprocess_ns", "/host/postprocess_ns_per_output_element"});
}

void print_table(const DeviceSpec& spec, bool with_sources, std::ostream& out) {
  out << spec.name << " (" << spec.arch << "): " << spec.description << "\n";
  TablePrinter table(spec, with_sources, out);
  print_layout(spec, table);
  print_dram(spec, table);
  print_noc(spec, table);
  print_compute(spec, table);
  print_links(spec, table);
}

void list_devices(std::ostream& out) {
  const std::vector<std::string> names = arch::available_device_specs();
  if (names.empty()) {
    out << "no device specs in " << arch::spec_directory().string() << "\n";
    return;
  }
  out << std::left << std::setw(8) << "NAME" << std::setw(14) << "ARCH" << std::setw(7) << "CHIPS"
      << std::setw(14) << "WORKER GRID"
      << "DESCRIPTION\n";
  for (const std::string& name : names) {
    const DeviceSpec spec = arch::load_device_spec_by_name(name);
    const std::string grid = std::to_string(spec.worker_grid_x()) + "x" +
                             std::to_string(spec.worker_grid_y()) + " per chip";
    out << std::left << std::setw(8) << spec.name << std::setw(14) << spec.arch << std::setw(7)
        << spec.num_chips << std::setw(14) << grid << spec.description << "\n";
  }
}

struct SpecShowOptions {
  std::string name;
  std::string format = "table";
  bool with_sources = false;
};

void register_device_commands(CLI::App& app) {
  CLI::App* devices = app.add_subcommand("devices", "List the device specs wormsim can simulate");
  devices->callback([] { list_devices(std::cout); });

  CLI::App* spec = app.add_subcommand("spec", "Inspect device specs (arch/specs/*.json)");
  spec->require_subcommand(1);
  auto options = std::make_shared<SpecShowOptions>();
  CLI::App* show = spec->add_subcommand("show", "Print one device spec with derived figures");
  show->add_option("name", options->name, "Device name, e.g. n300 (see `wormsim devices`)")
      ->required();
  show->add_option("--format", options->format, "Output format: table or json")
      ->check(CLI::IsMember({"table", "json"}));
  show->add_flag("--sources", options->with_sources, "Show the public source of every value");
  show->callback([options] {
    const DeviceSpec device = arch::load_device_spec_by_name(options->name);
    if (options->format == "json") {
      std::cout << arch::device_spec_summary_json(device, options->with_sources).dump(2) << "\n";
    } else {
      print_table(device, options->with_sources, std::cout);
    }
  });
}

static CommandRegistration registration(20, register_device_commands);

}  // namespace
}  // namespace wormsim::cli
