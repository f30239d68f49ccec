#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "arch/device_spec.hpp"
#include "noc/fabric.hpp"
#include "sim/engine.hpp"

namespace wormsim::noc {

// The whole card: one ChipFabric per chip, the Ethernet links between chips (one direction =
// one Element) and the PCIe link from the host to the MMIO chip.
class Board {
 public:
  Board(sim::Engine& engine, const arch::DeviceSpec& spec);
  Board(const Board&) = delete;
  Board& operator=(const Board&) = delete;

  const arch::DeviceSpec& spec() const noexcept { return spec_; }
  sim::Engine& engine() noexcept { return engine_; }
  std::uint32_t chip_count() const noexcept { return static_cast<std::uint32_t>(chips_.size()); }
  ChipFabric& chip(std::uint32_t index);

  // Links between two chips that user traffic may use (those not reserved for dispatch).
  std::uint32_t user_link_count(std::uint32_t chip_a, std::uint32_t chip_b) const;

  // Bytes from the L1 of `source_core` on `source_chip` to the L1 of `dest_core` on another
  // chip: NoC write to the Ethernet core, the link, NoC write to the destination.
  TransferTimes ethernet_send(std::uint32_t source_chip, Coord source_core, std::uint32_t dest_chip,
                              Coord dest_core, std::uint64_t bytes, Cycle at);
  // Ethernet core to Ethernet core over one link (what a ping measures).
  TransferTimes ethernet_link_send(std::uint32_t link_index, bool a_to_b, std::uint64_t bytes, Cycle at);

  // Host memory to a device endpoint (chips other than the MMIO chip are reached through
  // the dispatch tunnel over Ethernet), and back.
  TransferTimes host_write(std::uint32_t chip, const Endpoint& dest, std::uint64_t bytes, Cycle at);
  TransferTimes host_read(std::uint32_t chip, const Endpoint& source, std::uint64_t bytes, Cycle at);

  const sim::BusyStats& ethernet_stats(std::uint32_t link_index, bool a_to_b) const;

  // The latest time any element of the card (every chip's fabric, Ethernet, PCIe) is booked
  // until: at or before now, nothing booked so far can delay new traffic.
  Cycle busy_until() const;
  // The only state besides bookings that steers later traffic: which Ethernet link user
  // traffic takes next (round robin). Saved and restored by op timing reuse.
  std::uint64_t link_rotation() const noexcept { return round_robin_; }
  void set_link_rotation(std::uint64_t value) noexcept { round_robin_ = value; }

 private:
  struct EthernetDirection {
    Element element;
  };
  struct EthernetLink {
    arch::EthernetLinkSpec spec;
    EthernetDirection a_to_b;
    EthernetDirection b_to_a;
    bool reserved_for_dispatch{false};
  };
  TransferTimes host_write_piece(std::uint32_t chip, const Endpoint& dest, std::uint64_t bytes, Cycle at);
  TransferTimes host_read_piece(std::uint32_t chip, const Endpoint& source, std::uint64_t bytes, Cycle at);
  TransferTimes ethernet_send_piece(std::uint32_t source_chip, Coord source_core, std::uint32_t dest_chip,
                                    Coord dest_core, std::uint64_t bytes, Cycle at);
  std::uint64_t ethernet_wire_bytes(std::uint64_t payload) const;
  Cycle book(Element& element, std::uint64_t bytes, Cycle at);
  EthernetLink& pick_user_link(std::uint32_t chip_a, std::uint32_t chip_b, bool& a_to_b);
  EthernetLink& dispatch_link(std::uint32_t chip_a, std::uint32_t chip_b, bool& a_to_b);

  sim::Engine& engine_;
  const arch::DeviceSpec& spec_;
  std::vector<std::unique_ptr<ChipFabric>> chips_;
  std::vector<EthernetLink> links_;
  Element pcie_to_device_;
  Element pcie_to_host_;
  std::uint64_t round_robin_{0};
};

}  // namespace wormsim::noc
