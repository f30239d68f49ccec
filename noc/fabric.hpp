#pragma once
#include <cstdint>
#include <deque>
#include <queue>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "noc/timeline.hpp"
#include "noc/topology.hpp"
#include "sim/engine.hpp"

namespace wormsim::noc {

// Something a NoC transfer reads from or writes to.
struct Endpoint {
  enum class Kind { Tensix, DramBank, Ethernet, Pcie };
  Kind kind{Kind::Tensix};
  Coord coord;
  int dram_bank{-1};
};

// When a transfer's milestones happen, computed when it is issued.
struct TransferTimes {
  Cycle source_done{0};  // last byte left the source (posted write may reuse its buffer)
  Cycle data_done{0};    // last byte landed at the destination
  Cycle ack_done{0};     // write acknowledgement back at the sender (== data_done for reads)
};

// The data-movement fabric of one chip: two torus NoCs (links and NIU ports) and the DRAM
// banks and controllers behind their NoC endpoints. Transfers are booked along their whole
// path when issued (see Timeline), so contention is modelled without per-packet events.
class ChipFabric {
 public:
  ChipFabric(sim::Engine& engine, const arch::DeviceSpec& spec, std::uint32_t chip);
  ChipFabric(const ChipFabric&) = delete;
  ChipFabric& operator=(const ChipFabric&) = delete;

  std::uint32_t chip() const noexcept { return chip_; }
  const Topology& topology() const noexcept { return topology_; }
  const arch::DeviceSpec& spec() const noexcept { return spec_; }
  sim::Engine& engine() noexcept { return engine_; }

  Endpoint worker(std::uint32_t col, std::uint32_t row) const;
  Endpoint tensix(Coord noc_coord) const;
  Endpoint dram_bank(std::uint32_t bank) const;
  Endpoint node(Coord noc_coord, Endpoint::Kind kind) const;

  // Data from `source` into the L1 of `requester`: a header-only request, the source's
  // service (DRAM bank bandwidth and latency), then response packets.
  TransferTimes read(NocId noc, Coord requester, const Endpoint& source, std::uint64_t bytes,
                     Cycle inject_at);
  // Data from the L1 of `source` to `dest` (L1 or DRAM bank), acknowledged.
  TransferTimes write(NocId noc, Coord source, const Endpoint& dest, std::uint64_t bytes,
                      Cycle inject_at);
  // One write delivered to every Tensix worker in `rect` (the sender too if include_source).
  TransferTimes multicast(NocId noc, Coord source, const Rect& rect, std::uint64_t bytes,
                          bool include_source, Cycle inject_at);
  // Number of worker cores a multicast to `rect` delivers to.
  std::uint32_t multicast_receivers(const Rect& rect, Coord source, bool include_source) const;

  // Latency-only path time of a header packet (requests, acks): NIU + hops + NIU.
  Cycle header_latency(NocId noc, Coord from, Coord to) const;

  // Per-element statistics, for reports: links, NIU ports, DRAM banks, controllers.
  const sim::BusyStats& link_stats(LinkId link) const { return *links_[link].stats; }
  const sim::BusyStats& dram_bank_stats(std::uint32_t bank) const { return *banks_.at(bank).stats; }
  std::uint64_t total_link_bytes() const;
  // The latest time any element of the chip (link, NIU port, DRAM bank or controller) is booked
  // until: at or before now, the fabric is idle from now on.
  Cycle busy_until() const;

 private:
  struct PathStep {
    Element* element;
    Cycle depth_latency;  // extra head latency for multicast tree branches
  };
  // Books one packet of `wire_bytes` along `path` with its head entering at `head`;
  // returns {time the source finished sending, time the tail left the last element}.
  std::pair<Cycle, Cycle> book_packet(const std::vector<Element*>& path, std::uint64_t wire_bytes,
                                      Cycle head);
  Element& inject_port(NocId noc, Coord c) { return nius_[niu_index(noc, c) * 2]; }
  Element& absorb_port(NocId noc, Coord c) { return nius_[niu_index(noc, c) * 2 + 1]; }
  std::size_t niu_index(NocId noc, Coord c) const;
  void append_links(NocId noc, Coord from, Coord to);
  bool is_dram_endpoint(Coord c) const;
  std::uint64_t wire_bytes(std::uint64_t payload) const;

  sim::Engine& engine_;
  const arch::DeviceSpec& spec_;
  std::uint32_t chip_;
  Topology topology_;
  std::vector<Element> links_;
  std::vector<Element> nius_;         // per NoC, per node: inject, absorb
  std::vector<Element> banks_;        // DRAM bank service
  std::vector<Element> controllers_;  // DRAM controller caps
  std::vector<LinkId> route_scratch_;
  std::vector<Element*> path_scratch_;
  // Unicast routes by (noc, from, to), computed on first use: routing showed up in profiles.
  std::vector<std::vector<LinkId>> route_cache_;
  std::vector<bool> route_cached_;
};

// One RISC's use of one NoC, as a tt-metal data-movement kernel sees it: commands cost issue
// time on the RISC, at most `max_outstanding_transactions` are in flight, and barriers wait
// for completion. All calls return awaiters: `co_await port.read(...)`.
class NocPort {
 public:
  NocPort(ChipFabric& fabric, NocId noc, Coord self);

  NocId noc() const noexcept { return noc_; }
  Coord self() const noexcept { return self_; }

  sim::Engine::UntilAwaiter read(const Endpoint& source, std::uint64_t bytes);
  sim::Engine::UntilAwaiter write(const Endpoint& dest, std::uint64_t bytes);
  sim::Engine::UntilAwaiter multicast(const Rect& rect, std::uint64_t bytes, bool include_self);
  // noc_async_read_barrier: every issued read has landed.
  sim::Engine::UntilAwaiter read_barrier();
  // noc_async_write_barrier: every issued write is acknowledged.
  sim::Engine::UntilAwaiter write_barrier();
  // noc_async_writes_flushed: every issued write has left L1.
  sim::Engine::UntilAwaiter writes_flushed();

  std::uint64_t bytes_read() const noexcept { return bytes_read_; }
  std::uint64_t bytes_written() const noexcept { return bytes_written_; }
  std::uint64_t commands() const noexcept { return commands_; }
  // Milestones of the most recent transfer this port issued (e.g. when a multicast landed).
  const TransferTimes& last_transfer() const noexcept { return last_; }

 private:
  // Time at which a command of `packets` packets has been issued; claims transaction slots.
  Cycle issue(std::uint64_t bytes);
  void track(Cycle completion);

  ChipFabric& fabric_;
  NocId noc_;
  Coord self_;
  Cycle risc_free_{0};
  Cycle reads_done_{0};
  Cycle writes_acked_{0};
  Cycle writes_flushed_{0};
  std::priority_queue<Cycle, std::vector<Cycle>, std::greater<>> in_flight_;
  std::uint64_t bytes_read_{0};
  std::uint64_t bytes_written_{0};
  std::uint64_t commands_{0};
  TransferTimes last_{};
};

}  // namespace wormsim::noc
