#include "noc/fabric.hpp"

#include <algorithm>
#include <cmath>

namespace wormsim::noc {
namespace {

std::string coord_text(Coord c) {
  // Built by appending: GCC 12 reports a false -Wrestrict on "(" + std::to_string(...).
  std::string text(1, '(');
  text += std::to_string(c.x);
  text += ',';
  text += std::to_string(c.y);
  text += ')';
  return text;
}

}  // namespace

ChipFabric::ChipFabric(sim::Engine& engine, const arch::DeviceSpec& spec, std::uint32_t chip)
    : engine_(engine),
      spec_(spec),
      chip_(chip),
      topology_(spec.chip.noc_grid.x, spec.chip.noc_grid.y) {
  if (spec.noc.num_nocs != kNocCount) {
    throw Error("device spec /noc/num_nocs is " + std::to_string(spec.noc.num_nocs) +
                "; the NoC model implements Wormhole's " + std::to_string(kNocCount) + " NoCs");
  }
  const std::string prefix = "chip" + std::to_string(chip) + " ";
  links_.resize(topology_.link_count());
  for (LinkId id = 0; id < links_.size(); ++id) {
    Element& link = links_[id];
    link.bytes_per_cycle = spec.noc.link_bytes_per_cycle;
    link.latency_after = spec.noc.hop_latency_cycles;
    link.stats = &engine.register_stats(prefix + topology_.link_name(id));
  }
  const int nodes = topology_.size_x() * topology_.size_y();
  nius_.resize(static_cast<std::size_t>(kNocCount * nodes * 2));
  for (int n = 0; n < kNocCount; ++n) {
    for (int y = 0; y < topology_.size_y(); ++y) {
      for (int x = 0; x < topology_.size_x(); ++x) {
        const Coord c{x, y};
        const bool dram = is_dram_endpoint(c);
        Element& inject = inject_port(static_cast<NocId>(n), c);
        inject.bytes_per_cycle = dram ? spec.noc.niu_inject_dram_bytes_per_cycle
                                      : spec.noc.niu_inject_tensix_bytes_per_cycle;
        inject.latency_after = spec.noc.inject_latency_cycles;
        inject.stats =
            &engine.register_stats(prefix + "noc" + std::to_string(n) + " inject " + coord_text(c));
        Element& absorb = absorb_port(static_cast<NocId>(n), c);
        absorb.bytes_per_cycle = dram ? spec.noc.niu_absorb_dram_bytes_per_cycle
                                      : spec.noc.niu_absorb_tensix_bytes_per_cycle;
        absorb.latency_after = 0;
        absorb.stats =
            &engine.register_stats(prefix + "noc" + std::to_string(n) + " absorb " + coord_text(c));
      }
    }
  }
  controllers_.resize(spec.dram.num_controllers);
  for (std::uint32_t c = 0; c < controllers_.size(); ++c) {
    controllers_[c].bytes_per_cycle = spec.dram.controller_bytes_per_cycle;
    controllers_[c].stats = &engine.register_stats(prefix + "dram controller " + std::to_string(c));
  }
  banks_.resize(spec.dram.banks.size());
  for (const arch::DramBankSpec& bank : spec.dram.banks) {
    Element& element = banks_.at(bank.id);
    element.bytes_per_cycle = spec.dram.bank_achievable_bytes_per_cycle;
    element.stats = &engine.register_stats(prefix + "dram bank " + std::to_string(bank.id));
  }
}

bool ChipFabric::is_dram_endpoint(Coord c) const {
  for (const auto& endpoints : spec_.dram.controller_endpoints) {
    if (std::find(endpoints.begin(), endpoints.end(), c) != endpoints.end()) return true;
  }
  return false;
}

std::size_t ChipFabric::niu_index(NocId noc, Coord c) const {
  const auto nodes = static_cast<std::size_t>(topology_.size_x() * topology_.size_y());
  return static_cast<std::size_t>(noc) * nodes +
         static_cast<std::size_t>(c.y * topology_.size_x() + c.x);
}

Endpoint ChipFabric::worker(std::uint32_t col, std::uint32_t row) const {
  if (col >= spec_.worker_grid_x() || row >= spec_.worker_grid_y()) {
    throw Error("worker core (" + std::to_string(col) + "," + std::to_string(row) +
                ") is outside the " + std::to_string(spec_.worker_grid_x()) + "x" +
                std::to_string(spec_.worker_grid_y()) + " worker grid of " + spec_.name);
  }
  return Endpoint{Endpoint::Kind::Tensix, spec_.worker_coord(col, row), -1};
}

Endpoint ChipFabric::tensix(Coord noc_coord) const {
  return node(noc_coord, Endpoint::Kind::Tensix);
}

Endpoint ChipFabric::node(Coord noc_coord, Endpoint::Kind kind) const {
  topology_.check(noc_coord, "NoC endpoint");
  return Endpoint{kind, noc_coord, -1};
}

Endpoint ChipFabric::dram_bank(std::uint32_t bank) const {
  if (bank >= spec_.dram.banks.size()) {
    throw Error("DRAM bank " + std::to_string(bank) + " does not exist; " + spec_.name + " has " +
                std::to_string(spec_.dram.banks.size()) + " banks (0.." +
                std::to_string(spec_.dram.banks.size() - 1) + ")");
  }
  return Endpoint{Endpoint::Kind::DramBank, spec_.dram.banks[bank].noc_endpoint,
                  static_cast<int>(bank)};
}

std::uint64_t ChipFabric::wire_bytes(std::uint64_t payload) const {
  return payload + static_cast<std::uint64_t>(spec_.noc.header_flits) * spec_.noc.flit_bytes;
}

Cycle ChipFabric::header_latency(NocId noc, Coord from, Coord to) const {
  return spec_.noc.inject_latency_cycles +
         static_cast<Cycle>(topology_.hops(noc, from, to)) * spec_.noc.hop_latency_cycles +
         spec_.noc.eject_latency_cycles;
}

void ChipFabric::append_links(NocId noc, Coord from, Coord to) {
  const auto nodes = static_cast<std::size_t>(topology_.size_x()) * topology_.size_y();
  if (route_cache_.empty()) {
    route_cache_.resize(2 * nodes * nodes);
    route_cached_.assign(2 * nodes * nodes, false);
  }
  auto node = [&](Coord c) {
    return static_cast<std::size_t>(c.y) * topology_.size_x() + static_cast<std::size_t>(c.x);
  };
  const std::size_t key =
      (static_cast<std::size_t>(noc == NocId::Noc0 ? 0 : 1) * nodes + node(from)) * nodes +
      node(to);
  if (!route_cached_[key]) {
    topology_.unicast_route(noc, from, to, route_cache_[key]);
    route_cached_[key] = true;
  }
  for (LinkId id : route_cache_[key]) path_scratch_.push_back(&links_[id]);
}

std::pair<Cycle, Cycle> ChipFabric::book_packet(const std::vector<Element*>& path,
                                                std::uint64_t bytes, Cycle head) {
  // Cut-through: the head moves on after each element's latency while the body streams.
  // Each element is booked for the time its own bandwidth needs, in pieces that fill the idle
  // gaps other packets left (their flits interleave on the link's virtual channels), and the
  // tail cannot leave an element before it left the previous.
  const Cycle now = engine_.now();
  // The path's elements, their intervals and statistics are scattered in memory: request them
  // all before the booking walk needs them (the walk was bound by one cache miss after another).
  for (const Element* element : path) {
    element->timeline.prefetch();
    __builtin_prefetch(element->stats);
  }
  Cycle tail = 0;
  Cycle first_done = 0;
  Cycle previous_latency = 0;
  for (std::size_t i = 0; i < path.size(); ++i) {
    Element& element = *path[i];
    const Cycle duration = element.duration_for(bytes);
    const Cycle min_piece = element.min_piece(spec_.noc.flit_bytes);
    const auto [start, end] = element.timeline.book_pieces(head, duration, min_piece, now);
    tail = std::max(end, tail + previous_latency);
    if (i == 0) first_done = tail;
    element.stats->busy_cycles += duration;
    element.stats->units += bytes;
    ++element.stats->uses;
    head = start + element.latency_after;
    previous_latency = element.latency_after;
  }
  return {first_done, tail + previous_latency};
}

TransferTimes ChipFabric::read(NocId noc, Coord requester, const Endpoint& source,
                               std::uint64_t bytes, Cycle inject_at) {
  topology_.check(requester, "read requester");
  TransferTimes times;
  const std::uint64_t max_packet = spec_.noc.max_packet_bytes;
  Cycle latest = inject_at;
  // Each request is a header-only packet: it adds latency, its link occupancy is one flit.
  const Cycle request_arrival = inject_at + header_latency(noc, requester, source.coord);
  // Every packet takes the same path.
  path_scratch_.clear();
  Cycle service_latency = 0;
  if (source.kind == Endpoint::Kind::DramBank) {
    const auto bank = static_cast<std::uint32_t>(source.dram_bank);
    path_scratch_.push_back(&controllers_[spec_.dram.banks[bank].controller]);
    path_scratch_.push_back(&banks_[bank]);
    service_latency = spec_.dram.read_latency_cycles;
  }
  path_scratch_.push_back(&inject_port(noc, source.coord));
  append_links(noc, source.coord, requester);
  path_scratch_.push_back(&absorb_port(noc, requester));
  for (std::uint64_t offset = 0; offset < bytes; offset += max_packet) {
    const std::uint64_t payload = std::min(max_packet, bytes - offset);
    auto [unused, done] =
        book_packet(path_scratch_, wire_bytes(payload), request_arrival + service_latency);
    (void)unused;
    done += spec_.noc.eject_latency_cycles;
    latest = std::max(latest, done);
  }
  times.source_done = latest;
  times.data_done = latest;
  times.ack_done = latest;
  return times;
}

TransferTimes ChipFabric::write(NocId noc, Coord source, const Endpoint& dest, std::uint64_t bytes,
                                Cycle inject_at) {
  topology_.check(source, "write source");
  TransferTimes times;
  const std::uint64_t max_packet = spec_.noc.max_packet_bytes;
  Cycle source_done = inject_at;
  Cycle landed = inject_at;
  // Every packet takes the same path.
  path_scratch_.clear();
  path_scratch_.push_back(&inject_port(noc, source));
  append_links(noc, source, dest.coord);
  path_scratch_.push_back(&absorb_port(noc, dest.coord));
  Cycle service_latency = spec_.noc.eject_latency_cycles;
  if (dest.kind == Endpoint::Kind::DramBank) {
    const auto bank = static_cast<std::uint32_t>(dest.dram_bank);
    path_scratch_.push_back(&controllers_[spec_.dram.banks[bank].controller]);
    path_scratch_.push_back(&banks_[bank]);
    service_latency += spec_.dram.write_latency_cycles;
  }
  for (std::uint64_t offset = 0; offset < bytes; offset += max_packet) {
    const std::uint64_t payload = std::min(max_packet, bytes - offset);
    auto [left, done] = book_packet(path_scratch_, wire_bytes(payload), inject_at);
    source_done = std::max(source_done, left);
    landed = std::max(landed, done + service_latency);
  }
  times.source_done = source_done;
  times.data_done = landed;
  times.ack_done = landed + header_latency(noc, dest.coord, source);
  return times;
}

std::uint32_t ChipFabric::multicast_receivers(const Rect& rect, Coord source,
                                              bool include_source) const {
  std::uint32_t count = 0;
  for (int x : spec_.chip.worker_columns) {
    for (int y : spec_.chip.worker_rows) {
      const Coord c{x, y};
      if (rect.contains(c) && (include_source || !(c == source))) ++count;
    }
  }
  return count;
}

TransferTimes ChipFabric::multicast(NocId noc, Coord source, const Rect& rect, std::uint64_t bytes,
                                    bool include_source, Cycle inject_at) {
  topology_.check(source, "multicast source");
  topology_.check(rect.start, "multicast rectangle start");
  topology_.check(rect.end, "multicast rectangle end");
  if (rect.start.x > rect.end.x || rect.start.y > rect.end.y) {
    throw Error("multicast rectangle " + coord_text(rect.start) + "-" + coord_text(rect.end) +
                " is empty: start must be the top-left (NoC0) corner");
  }
  if (multicast_receivers(rect, source, include_source) == 0) {
    throw Error("multicast rectangle " + coord_text(rect.start) + "-" + coord_text(rect.end) +
                " contains no Tensix worker to receive it");
  }
  TransferTimes times;
  const std::uint64_t max_packet = spec_.noc.max_packet_bytes;
  route_scratch_.clear();
  const int depth = topology_.multicast_tree(noc, source, rect, route_scratch_);
  const std::vector<LinkId> tree = route_scratch_;
  Cycle source_done = inject_at;
  Cycle landed = inject_at;
  for (std::uint64_t offset = 0; offset < bytes; offset += max_packet) {
    const std::uint64_t wire = wire_bytes(std::min(max_packet, bytes - offset));
    // The tree's links carry the packet in parallel; book each at the head's arrival, taken
    // conservatively as the injection plus one hop per tree level reached so far.
    // Each packet first reserves its tree path, holding the sender's port for one traversal
    // of the tree per setup pass before its data streams.
    Element& inject = inject_port(noc, source);
    const Cycle now = engine_.now();
    const auto path_setup =
        static_cast<Cycle>(std::llround(spec_.noc.multicast_path_setup_traversals *
                                        static_cast<double>(depth * spec_.noc.hop_latency_cycles)));
    const Cycle inject_duration = inject.duration_for(wire) + path_setup;
    const Cycle inject_start = inject.timeline.book(inject_at, inject_duration, now);
    inject.stats->busy_cycles += inject_duration;
    inject.stats->units += wire;
    ++inject.stats->uses;
    Cycle tail = inject_start + inject_duration;
    Cycle head = inject_start + inject.latency_after;
    for (LinkId id : tree) {
      Element& link = links_[id];
      const Cycle duration = link.duration_for(wire);
      const Cycle start = link.timeline.book(head, duration, now);
      link.stats->busy_cycles += duration;
      link.stats->units += wire;
      ++link.stats->uses;
      tail = std::max(tail, start + duration);
    }
    for (int x : spec_.chip.worker_columns) {
      for (int y : spec_.chip.worker_rows) {
        const Coord c{x, y};
        if (!rect.contains(c) || (!include_source && c == source)) continue;
        Element& absorb = absorb_port(noc, c);
        const Cycle duration = absorb.duration_for(wire);
        const Cycle arrival = head + static_cast<Cycle>(topology_.hops(noc, source, c)) *
                                         spec_.noc.hop_latency_cycles;
        const Cycle start = absorb.timeline.book(arrival, duration, now);
        absorb.stats->busy_cycles += duration;
        absorb.stats->units += wire;
        ++absorb.stats->uses;
        tail = std::max(tail, start + duration);
      }
    }
    source_done = std::max(source_done, inject_start + inject_duration);
    landed = std::max(landed, tail + static_cast<Cycle>(depth) * spec_.noc.hop_latency_cycles +
                                  spec_.noc.eject_latency_cycles);
  }
  times.source_done = source_done;
  times.data_done = landed;
  // Acks from every receiver are gathered; the farthest one returns last.
  times.ack_done = landed + static_cast<Cycle>(depth) * spec_.noc.hop_latency_cycles +
                   spec_.noc.inject_latency_cycles + spec_.noc.eject_latency_cycles;
  return times;
}

std::uint64_t ChipFabric::total_link_bytes() const {
  std::uint64_t total = 0;
  for (const Element& link : links_) total += link.stats->units;
  return total;
}

Cycle ChipFabric::busy_until() const {
  Cycle latest = 0;
  for (const std::vector<Element>* group : {&links_, &nius_, &banks_, &controllers_}) {
    for (const Element& element : *group) latest = std::max(latest, element.timeline.busy_until());
  }
  return latest;
}

// ---------------------------------------------------------------- NocPort

NocPort::NocPort(ChipFabric& fabric, NocId noc, Coord self)
    : fabric_(fabric), noc_(noc), self_(self) {
  fabric.topology().check(self, "NoC port core");
}

Cycle NocPort::issue(std::uint64_t bytes) {
  const arch::NocSpec& noc = fabric_.spec().noc;
  const std::uint64_t packets =
      std::max<std::uint64_t>(1, (bytes + noc.max_packet_bytes - 1) / noc.max_packet_bytes);
  Cycle t = std::max(fabric_.engine().now(), risc_free_);
  // A command needs a free transaction slot: wait for the oldest in-flight one to finish.
  while (in_flight_.size() >= noc.max_outstanding_transactions) {
    t = std::max(t, in_flight_.top());
    in_flight_.pop();
  }
  t += packets * noc.request_issue_cycles;
  risc_free_ = t;
  ++commands_;
  return t;
}

void NocPort::track(Cycle completion) { in_flight_.push(completion); }

sim::Engine::UntilAwaiter NocPort::read(const Endpoint& source, std::uint64_t bytes) {
  const Cycle issued = issue(bytes);
  const TransferTimes times = fabric_.read(noc_, self_, source, bytes, issued);
  last_ = times;
  reads_done_ = std::max(reads_done_, times.data_done);
  track(times.data_done);
  bytes_read_ += bytes;
  return fabric_.engine().until(issued);
}

sim::Engine::UntilAwaiter NocPort::write(const Endpoint& dest, std::uint64_t bytes) {
  const Cycle issued = issue(bytes);
  const TransferTimes times = fabric_.write(noc_, self_, dest, bytes, issued);
  last_ = times;
  writes_acked_ = std::max(writes_acked_, times.ack_done);
  writes_flushed_ = std::max(writes_flushed_, times.source_done);
  track(times.ack_done);
  bytes_written_ += bytes;
  return fabric_.engine().until(issued);
}

sim::Engine::UntilAwaiter NocPort::multicast(const Rect& rect, std::uint64_t bytes,
                                             bool include_self) {
  const Cycle issued = issue(bytes);
  const TransferTimes times = fabric_.multicast(noc_, self_, rect, bytes, include_self, issued);
  last_ = times;
  writes_acked_ = std::max(writes_acked_, times.ack_done);
  writes_flushed_ = std::max(writes_flushed_, times.source_done);
  track(times.ack_done);
  bytes_written_ += bytes;
  return fabric_.engine().until(issued);
}

sim::Engine::UntilAwaiter NocPort::read_barrier() {
  return fabric_.engine().until(std::max(reads_done_, risc_free_));
}
sim::Engine::UntilAwaiter NocPort::write_barrier() {
  return fabric_.engine().until(std::max(writes_acked_, risc_free_));
}
sim::Engine::UntilAwaiter NocPort::writes_flushed() {
  return fabric_.engine().until(std::max(writes_flushed_, risc_free_));
}

}  // namespace wormsim::noc
