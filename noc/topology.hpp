#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"

namespace wormsim::noc {

using arch::Coord;

enum class NocId : std::uint8_t { Noc0 = 0, Noc1 = 1 };
constexpr int kNocCount = 2;  // Wormhole has two independent NoCs (checked against the spec)

// A rectangle of NoC0 coordinates, inclusive (a multicast destination).
struct Rect {
  Coord start;
  Coord end;
  bool contains(Coord c) const {
    return c.x >= start.x && c.x <= end.x && c.y >= start.y && c.y <= end.y;
  }
};

using LinkId = std::uint32_t;

// The geometry of one chip's two torus NoCs. Every router has one outgoing link per axis and
// NoC: NoC0 links point +x (east) and +y (south), NoC1 links point -x (west) and -y (north).
// Unicast routes are dimension-ordered and turn at most once: NoC0 x first, NoC1 y first.
class Topology {
 public:
  Topology(int size_x, int size_y);

  int size_x() const noexcept { return size_x_; }
  int size_y() const noexcept { return size_y_; }
  std::size_t link_count() const noexcept { return static_cast<std::size_t>(kNocCount) * size_x_ * size_y_ * 2; }

  int hops(NocId noc, Coord src, Coord dst) const;
  // Appends the links a unicast packet crosses from src to dst, in order.
  void unicast_route(NocId noc, Coord src, Coord dst, std::vector<LinkId>& links) const;
  // Appends the links of a multicast tree from src covering `rect` (x-major on NoC0,
  // y-major on NoC1) and returns the largest hop count to any node of the rectangle.
  int multicast_tree(NocId noc, Coord src, const Rect& rect, std::vector<LinkId>& links) const;

  // The link leaving `from` along x (axis 0) or y (axis 1) on `noc`.
  LinkId link(NocId noc, Coord from, int axis) const;
  Coord link_source(LinkId link) const;
  Coord link_target(LinkId link) const;
  NocId link_noc(LinkId link) const;
  // "noc0 (1,1)->(2,1)"
  std::string link_name(LinkId link) const;

  void check(Coord c, const char* what) const;

 private:
  Coord step(NocId noc, Coord c, int axis) const;
  int size_x_;
  int size_y_;
};

}  // namespace wormsim::noc
