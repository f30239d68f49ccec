#include "noc/topology.hpp"

#include <algorithm>
#include <stdexcept>

namespace wormsim::noc {

Topology::Topology(int size_x, int size_y) : size_x_(size_x), size_y_(size_y) {
  if (size_x <= 0 || size_y <= 0) throw std::invalid_argument("Topology: empty NoC grid");
}

void Topology::check(Coord c, const char* what) const {
  if (c.x < 0 || c.y < 0 || c.x >= size_x_ || c.y >= size_y_) {
    throw Error(std::string(what) + " (" + std::to_string(c.x) + "," + std::to_string(c.y) +
                ") is outside the " + std::to_string(size_x_) + "x" + std::to_string(size_y_) +
                " NoC grid");
  }
}

Coord Topology::step(NocId noc, Coord c, int axis) const {
  const int dir = noc == NocId::Noc0 ? 1 : -1;
  if (axis == 0) c.x = (c.x + dir + size_x_) % size_x_;
  else c.y = (c.y + dir + size_y_) % size_y_;
  return c;
}

int Topology::hops(NocId noc, Coord src, Coord dst) const {
  if (noc == NocId::Noc0) {
    return (dst.x - src.x + size_x_) % size_x_ + (dst.y - src.y + size_y_) % size_y_;
  }
  return (src.x - dst.x + size_x_) % size_x_ + (src.y - dst.y + size_y_) % size_y_;
}

LinkId Topology::link(NocId noc, Coord from, int axis) const {
  const auto node = static_cast<LinkId>(from.y * size_x_ + from.x);
  const auto per_noc = static_cast<LinkId>(size_x_ * size_y_ * 2);
  return static_cast<LinkId>(noc) * per_noc + node * 2 + static_cast<LinkId>(axis);
}

NocId Topology::link_noc(LinkId link) const {
  return static_cast<NocId>(link / static_cast<LinkId>(size_x_ * size_y_ * 2));
}

Coord Topology::link_source(LinkId link) const {
  const LinkId node = (link % static_cast<LinkId>(size_x_ * size_y_ * 2)) / 2;
  return Coord{static_cast<int>(node) % size_x_, static_cast<int>(node) / size_x_};
}

Coord Topology::link_target(LinkId link) const {
  return step(link_noc(link), link_source(link), static_cast<int>(link % 2));
}

std::string Topology::link_name(LinkId link) const {
  const Coord a = link_source(link);
  const Coord b = link_target(link);
  std::string name = "noc";
  name += std::to_string(static_cast<int>(link_noc(link)));
  name += " (" + std::to_string(a.x) + "," + std::to_string(a.y) + ")->(";
  name += std::to_string(b.x) + "," + std::to_string(b.y) + ")";
  return name;
}

void Topology::unicast_route(NocId noc, Coord src, Coord dst, std::vector<LinkId>& links) const {
  // NoC0 resolves x then y; NoC1 resolves y then x (each turns at most once).
  const int first_axis = noc == NocId::Noc0 ? 0 : 1;
  Coord at = src;
  for (int pass = 0; pass < 2; ++pass) {
    const int axis = pass == 0 ? first_axis : 1 - first_axis;
    while ((axis == 0 ? at.x != dst.x : at.y != dst.y)) {
      links.push_back(link(noc, at, axis));
      at = step(noc, at, axis);
    }
  }
}

int Topology::multicast_tree(NocId noc, Coord src, const Rect& rect, std::vector<LinkId>& links) const {
  // The packet first travels to the rectangle's entry corner (where routing in this NoC's
  // direction enters it), then fans out: NoC0 along the entry row, then down every column;
  // NoC1 along the entry column, then left along every row.
  const bool noc0 = noc == NocId::Noc0;
  const Coord entry = noc0 ? rect.start : rect.end;
  unicast_route(noc, src, entry, links);
  const int to_entry = hops(noc, src, entry);
  const int width = rect.end.x - rect.start.x;
  const int height = rect.end.y - rect.start.y;
  if (noc0) {
    Coord at = entry;
    for (int i = 0; i <= width; ++i) {
      Coord down = at;
      for (int j = 0; j < height; ++j) {
        links.push_back(link(noc, down, 1));
        down = step(noc, down, 1);
      }
      if (i < width) {
        links.push_back(link(noc, at, 0));
        at = step(noc, at, 0);
      }
    }
  } else {
    Coord at = entry;
    for (int j = 0; j <= height; ++j) {
      Coord left = at;
      for (int i = 0; i < width; ++i) {
        links.push_back(link(noc, left, 0));
        left = step(noc, left, 0);
      }
      if (j < height) {
        links.push_back(link(noc, at, 1));
        at = step(noc, at, 1);
      }
    }
  }
  return to_entry + width + height;
}

}  // namespace wormsim::noc
