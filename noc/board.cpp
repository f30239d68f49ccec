#include "noc/board.hpp"

#include <algorithm>

namespace wormsim::noc {

Board::Board(sim::Engine& engine, const arch::DeviceSpec& spec) : engine_(engine), spec_(spec) {
  for (std::uint32_t c = 0; c < spec.num_chips; ++c) {
    chips_.push_back(std::make_unique<ChipFabric>(engine, spec, c));
  }
  const arch::EthernetSpec& eth = spec.ethernet;
  for (std::size_t i = 0; i < eth.links.size(); ++i) {
    EthernetLink link;
    link.spec = eth.links[i];
    link.reserved_for_dispatch = i < eth.links_reserved_for_dispatch;
    for (EthernetDirection* dir : {&link.a_to_b, &link.b_to_a}) {
      dir->element.bytes_per_cycle = eth.bytes_per_cycle_per_direction;
      dir->element.latency_after = eth.one_way_latency_cycles;
    }
    const std::string name = "ethernet link " + std::to_string(i) + " chip" +
                             std::to_string(link.spec.chip_a) + "<->chip" + std::to_string(link.spec.chip_b);
    link.a_to_b.element.stats = &engine.register_stats(name + " a->b");
    link.b_to_a.element.stats = &engine.register_stats(name + " b->a");
    links_.push_back(std::move(link));
  }
  pcie_to_device_.bytes_per_cycle = spec.pcie.host_to_device_bytes_per_cycle;
  pcie_to_device_.latency_after = spec.pcie.latency_cycles;
  pcie_to_device_.stats = &engine.register_stats("pcie host->device");
  pcie_to_host_.bytes_per_cycle = spec.pcie.device_to_host_bytes_per_cycle;
  pcie_to_host_.latency_after = spec.pcie.latency_cycles;
  pcie_to_host_.stats = &engine.register_stats("pcie device->host");
}

ChipFabric& Board::chip(std::uint32_t index) {
  if (index >= chips_.size()) {
    throw Error("chip " + std::to_string(index) + " does not exist; " + spec_.name + " has " +
                std::to_string(chips_.size()) + " chip(s)");
  }
  return *chips_[index];
}

std::uint32_t Board::user_link_count(std::uint32_t chip_a, std::uint32_t chip_b) const {
  std::uint32_t count = 0;
  for (const EthernetLink& link : links_) {
    const bool joins = (link.spec.chip_a == chip_a && link.spec.chip_b == chip_b) ||
                       (link.spec.chip_a == chip_b && link.spec.chip_b == chip_a);
    if (joins && !link.reserved_for_dispatch) ++count;
  }
  return count;
}

std::uint64_t Board::ethernet_wire_bytes(std::uint64_t payload) const {
  const arch::EthernetSpec& eth = spec_.ethernet;
  const std::uint64_t packets = std::max<std::uint64_t>(1, (payload + eth.max_packet_bytes - 1) / eth.max_packet_bytes);
  return payload + packets * eth.packet_overhead_bytes;
}

Cycle Board::book(Element& element, std::uint64_t bytes, Cycle at) {
  const Cycle duration = element.duration_for(bytes);
  const Cycle start = element.timeline.book(at, duration, engine_.now());
  element.stats->busy_cycles += duration;
  element.stats->units += bytes;
  ++element.stats->uses;
  return start + duration;
}

Board::EthernetLink& Board::pick_user_link(std::uint32_t chip_a, std::uint32_t chip_b, bool& a_to_b) {
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < links_.size(); ++i) {
    const EthernetLink& link = links_[i];
    const bool joins = (link.spec.chip_a == chip_a && link.spec.chip_b == chip_b) ||
                       (link.spec.chip_a == chip_b && link.spec.chip_b == chip_a);
    if (joins && !link.reserved_for_dispatch) candidates.push_back(i);
  }
  if (candidates.empty()) {
    throw Error("no Ethernet link for user traffic between chip " + std::to_string(chip_a) +
                " and chip " + std::to_string(chip_b) + " on " + spec_.name +
                " (check /ethernet/links and /ethernet/links_reserved_for_dispatch in the spec)");
  }
  EthernetLink& link = links_[candidates[round_robin_++ % candidates.size()]];
  a_to_b = link.spec.chip_a == chip_a;
  return link;
}

Board::EthernetLink& Board::dispatch_link(std::uint32_t chip_a, std::uint32_t chip_b, bool& a_to_b) {
  for (EthernetLink& link : links_) {
    const bool joins = (link.spec.chip_a == chip_a && link.spec.chip_b == chip_b) ||
                       (link.spec.chip_a == chip_b && link.spec.chip_b == chip_a);
    if (joins) {
      a_to_b = link.spec.chip_a == chip_a;
      return link;  // the first link between the chips carries the dispatch tunnel
    }
  }
  throw Error("chip " + std::to_string(chip_b) + " is not reachable from chip " + std::to_string(chip_a) +
              " over Ethernet on " + spec_.name);
}

TransferTimes Board::ethernet_link_send(std::uint32_t link_index, bool a_to_b, std::uint64_t bytes, Cycle at) {
  if (link_index >= links_.size()) {
    throw Error("Ethernet link " + std::to_string(link_index) + " does not exist on " + spec_.name);
  }
  Element& element = a_to_b ? links_[link_index].a_to_b.element : links_[link_index].b_to_a.element;
  const Cycle sent = book(element, ethernet_wire_bytes(bytes), at);
  return TransferTimes{sent, sent + element.latency_after, sent + element.latency_after};
}

TransferTimes Board::ethernet_send(std::uint32_t source_chip, Coord source_core, std::uint32_t dest_chip,
                                   Coord dest_core, std::uint64_t bytes, Cycle at) {
  TransferTimes total{at, at, at};
  const std::uint64_t piece = spec_.noc.max_packet_bytes;
  for (std::uint64_t offset = 0; offset < bytes; offset += piece) {
    const TransferTimes t = ethernet_send_piece(source_chip, source_core, dest_chip, dest_core,
                                                std::min(piece, bytes - offset), at);
    total.source_done = std::max(total.source_done, t.source_done);
    total.data_done = std::max(total.data_done, t.data_done);
    total.ack_done = std::max(total.ack_done, t.ack_done);
  }
  return total;
}

TransferTimes Board::ethernet_send_piece(std::uint32_t source_chip, Coord source_core, std::uint32_t dest_chip,
                                         Coord dest_core, std::uint64_t bytes, Cycle at) {
  bool a_to_b = true;
  EthernetLink& link = pick_user_link(source_chip, dest_chip, a_to_b);
  const Coord eth_out = a_to_b ? link.spec.core_a : link.spec.core_b;
  const Coord eth_in = a_to_b ? link.spec.core_b : link.spec.core_a;
  ChipFabric& src = chip(source_chip);
  ChipFabric& dst = chip(dest_chip);
  const TransferTimes to_eth = src.write(NocId::Noc0, source_core, src.node(eth_out, Endpoint::Kind::Ethernet), bytes, at);
  Element& element = a_to_b ? link.a_to_b.element : link.b_to_a.element;
  const Cycle sent = book(element, ethernet_wire_bytes(bytes), to_eth.data_done);
  const TransferTimes from_eth = dst.write(NocId::Noc0, eth_in, dst.tensix(dest_core), bytes, sent + element.latency_after);
  return TransferTimes{to_eth.source_done, from_eth.data_done, from_eth.ack_done};
}

TransferTimes Board::host_write(std::uint32_t chip_index, const Endpoint& dest, std::uint64_t bytes, Cycle at) {
  // Large host transfers stream in NoC-packet-sized pieces, so PCIe, Ethernet and the NoC
  // work on different pieces at once.
  TransferTimes total{at, at, at};
  const std::uint64_t piece = spec_.noc.max_packet_bytes;
  for (std::uint64_t offset = 0; offset < bytes; offset += piece) {
    const TransferTimes t = host_write_piece(chip_index, dest, std::min(piece, bytes - offset), at);
    total.source_done = std::max(total.source_done, t.source_done);
    total.data_done = std::max(total.data_done, t.data_done);
    total.ack_done = std::max(total.ack_done, t.ack_done);
  }
  return total;
}

TransferTimes Board::host_write_piece(std::uint32_t chip_index, const Endpoint& dest, std::uint64_t bytes, Cycle at) {
  const std::uint32_t mmio = spec_.pcie.mmio_chip;
  const Cycle over_pcie = book(pcie_to_device_, bytes, at) + pcie_to_device_.latency_after;
  ChipFabric& mmio_chip = chip(mmio);
  if (chip_index == mmio) {
    return mmio_chip.write(NocId::Noc0, spec_.pcie.noc_endpoint, dest, bytes, over_pcie);
  }
  bool a_to_b = true;
  EthernetLink& link = dispatch_link(mmio, chip_index, a_to_b);
  const Coord eth_out = a_to_b ? link.spec.core_a : link.spec.core_b;
  const Coord eth_in = a_to_b ? link.spec.core_b : link.spec.core_a;
  const TransferTimes to_eth = mmio_chip.write(NocId::Noc0, spec_.pcie.noc_endpoint,
                                               mmio_chip.node(eth_out, Endpoint::Kind::Ethernet), bytes, over_pcie);
  Element& element = a_to_b ? link.a_to_b.element : link.b_to_a.element;
  const Cycle sent = book(element, ethernet_wire_bytes(bytes), to_eth.data_done) + element.latency_after;
  ChipFabric& remote = chip(chip_index);
  return remote.write(NocId::Noc0, eth_in, dest, bytes, sent);
}

TransferTimes Board::host_read(std::uint32_t chip_index, const Endpoint& source, std::uint64_t bytes, Cycle at) {
  TransferTimes total{at, at, at};
  const std::uint64_t piece = spec_.noc.max_packet_bytes;
  for (std::uint64_t offset = 0; offset < bytes; offset += piece) {
    const TransferTimes t = host_read_piece(chip_index, source, std::min(piece, bytes - offset), at);
    total.data_done = std::max(total.data_done, t.data_done);
  }
  total.source_done = total.ack_done = total.data_done;
  return total;
}

TransferTimes Board::host_read_piece(std::uint32_t chip_index, const Endpoint& source, std::uint64_t bytes, Cycle at) {
  const std::uint32_t mmio = spec_.pcie.mmio_chip;
  ChipFabric& mmio_chip = chip(mmio);
  Cycle on_mmio_chip = at;
  Coord reader = spec_.pcie.noc_endpoint;
  if (chip_index == mmio) {
    on_mmio_chip = mmio_chip.read(NocId::Noc0, reader, source, bytes, at).data_done;
  } else {
    bool a_to_b = true;
    EthernetLink& link = dispatch_link(chip_index, mmio, a_to_b);
    const Coord eth_out = a_to_b ? link.spec.core_a : link.spec.core_b;
    const Coord eth_in = a_to_b ? link.spec.core_b : link.spec.core_a;
    ChipFabric& remote = chip(chip_index);
    const Cycle at_eth = remote.read(NocId::Noc0, eth_out, source, bytes, at).data_done;
    Element& element = a_to_b ? link.a_to_b.element : link.b_to_a.element;
    const Cycle sent = book(element, ethernet_wire_bytes(bytes), at_eth) + element.latency_after;
    on_mmio_chip = mmio_chip.write(NocId::Noc0, eth_in, mmio_chip.node(reader, Endpoint::Kind::Pcie), bytes, sent).data_done;
  }
  const Cycle done = book(pcie_to_host_, bytes, on_mmio_chip) + pcie_to_host_.latency_after;
  return TransferTimes{done, done, done};
}

const sim::BusyStats& Board::ethernet_stats(std::uint32_t link_index, bool a_to_b) const {
  const EthernetLink& link = links_.at(link_index);
  return *(a_to_b ? link.a_to_b.element.stats : link.b_to_a.element.stats);
}

Cycle Board::busy_until() const {
  Cycle latest =
      std::max(pcie_to_device_.timeline.busy_until(), pcie_to_host_.timeline.busy_until());
  for (const auto& chip : chips_) latest = std::max(latest, chip->busy_until());
  for (const EthernetLink& link : links_) {
    latest = std::max({latest, link.a_to_b.element.timeline.busy_until(),
                       link.b_to_a.element.timeline.busy_until()});
  }
  return latest;
}

}  // namespace wormsim::noc
