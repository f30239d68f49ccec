// Spec file format (format_version 1), one file per board: arch/specs/wormhole_<name>.json
//   {"format_version": 1, "name": "n300", "arch": "wormhole_b0", "description": "...",
//    "clock_mhz": LEAF, "num_chips": LEAF,
//    "chip": {...}, "l1": {...}, "dram": {...}, "noc": {...}, "compute": {...},
//    "ethernet": {...}, "pcie": {...}, "host": {...}}
// Section keys mirror the struct fields in device_spec.hpp. Every LEAF is
//   {"value": <number | array | object>, "source": "<public source; says when it is a guess>"}
// Coordinates are {"x": .., "y": ..} (NoC0). DRAM banks and Ethernet links are arrays of objects
// inside one leaf. compute.{unpack,pack,sfpu}_tile_cycles are objects of named LEAFs.
// Sources are recorded by JSON pointer ("/noc/link_bytes_per_cycle"); every error names the
// pointer of the culprit and how to fix it. Unknown keys are rejected to catch typos.
#include "arch/device_spec.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

namespace wormsim::arch {
namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr const char* kModelledArch = "wormhole_b0";
constexpr const char* kSpecFilePrefix = "wormhole_";
constexpr const char* kSpecFileSuffix = ".json";
constexpr const char* kLeafHint = R"(add {"value": ..., "source": "..."})";

// Tile geometry is a data-format property (32x32 values), not a tunable hardware constant.
constexpr double kTileDim = 32.0;
constexpr double kHzPerMHz = 1e6;
constexpr double kFlopsPerTFlop = 1e12;

// Formats whose unpack and pack costs every spec must give (the ops layer's DataType names).
const std::vector<std::string>& tile_format_names() {
  static const std::vector<std::string> names = {"Float32",   "BFloat16", "BFloat8_B",
                                                 "BFloat4_B", "UInt32",   "Int32"};
  return names;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

std::string in_quotes(const std::string& text) { return "\"" + text + "\""; }

// Escapes a key for use as a JSON pointer token (RFC 6901: ~ -> ~0, / -> ~1).
std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string show(const json& value) {
  std::string text = value.dump();
  constexpr std::size_t kMaxShown = 60;
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown) + "...";
  return std::string(value.type_name()) + " " + text;
}

std::string show(const Coord& c) {
  return "(" + std::to_string(c.x) + "," + std::to_string(c.y) + ")";
}

// Every error names the file and the JSON pointer of the culprit.
class ErrorSink {
 public:
  explicit ErrorSink(std::string file) : file_(std::move(file)) {}
  [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
    throw SpecError(file_ + ": " + (path.empty() ? "/" : path) + ": " + problem);
  }

 private:
  std::string file_;
};

// ---- typed conversions of one JSON value (path names it in errors) ----

std::uint64_t to_u64(const json& v, const std::string& path, const ErrorSink& err) {
  if (!v.is_number_integer()) err.fail(path, "expected a non-negative integer, got " + show(v));
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  const auto signed_value = v.get<std::int64_t>();
  if (signed_value < 0) err.fail(path, "expected a non-negative integer, got " + show(v));
  return static_cast<std::uint64_t>(signed_value);
}

std::uint32_t to_u32(const json& v, const std::string& path, const ErrorSink& err) {
  const std::uint64_t value = to_u64(v, path, err);
  if (value > std::numeric_limits<std::uint32_t>::max()) {
    err.fail(path, "value " + std::to_string(value) + " does not fit in 32 bits");
  }
  return static_cast<std::uint32_t>(value);
}

std::uint32_t to_positive_u32(const json& v, const std::string& path, const ErrorSink& err) {
  const std::uint32_t value = to_u32(v, path, err);
  if (value == 0) err.fail(path, "must be positive, got 0");
  return value;
}

int to_int(const json& v, const std::string& path, const ErrorSink& err) {
  if (!v.is_number_integer()) err.fail(path, "expected an integer, got " + show(v));
  const auto value = v.get<std::int64_t>();
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) {
    err.fail(path, "integer out of range: " + v.dump());
  }
  return static_cast<int>(value);
}

double to_positive_double(const json& v, const std::string& path, const ErrorSink& err) {
  if (!v.is_number()) err.fail(path, "expected a number, got " + show(v));
  const double value = v.get<double>();
  if (!std::isfinite(value) || value <= 0.0) {
    err.fail(path, "must be positive, got " + v.dump());
  }
  return value;
}

double to_non_negative_double(const json& v, const std::string& path, const ErrorSink& err) {
  if (!v.is_number()) err.fail(path, "expected a number, got " + show(v));
  const double value = v.get<double>();
  if (!std::isfinite(value) || value < 0.0) {
    err.fail(path, "must be zero or positive, got " + v.dump());
  }
  return value;
}

std::string to_string_value(const json& v, const std::string& path, const ErrorSink& err) {
  if (!v.is_string()) err.fail(path, "expected a string, got " + show(v));
  return v.get<std::string>();
}

bool is_blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(),
                     [](unsigned char c) { return std::isspace(c) != 0; });
}

// Reads members of one JSON object, remembers which keys were used, and rejects the rest.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path, const ErrorSink& err, DeviceSpec* spec)
      : object_(object), path_(std::move(path)), err_(err), spec_(spec) {
    if (!object_.is_object()) err_.fail(path_, "expected an object, got " + show(object_));
  }

  std::string child_path(const std::string& key) const { return path_ + "/" + pointer_token(key); }
  const std::string& path() const { return path_; }
  const json& object() const { return object_; }
  const ErrorSink& errors() const { return err_; }

  // A plain member (not a {"value","source"} leaf).
  const json& member(const std::string& key, const std::string& hint) {
    used_.insert(key);
    const auto it = object_.find(key);
    if (it == object_.end()) err_.fail(child_path(key), "missing; " + hint);
    return *it;
  }

  // A {"value": ..., "source": "..."} leaf: records the source and returns the value.
  const json& leaf(const std::string& key) {
    const json& node = member(key, kLeafHint);
    const std::string path = child_path(key);
    if (!node.is_object()) {
      err_.fail(path, "expected {\"value\": ..., \"source\": \"...\"}, got " + show(node));
    }
    ObjectReader leaf_reader(node, path, err_, nullptr);
    const json& source = leaf_reader.member("source", "give the public source of this value");
    const std::string source_text = to_string_value(source, path + "/source", err_);
    if (is_blank(source_text)) {
      err_.fail(path + "/source", "empty; name the public source of this value");
    }
    const json& value = leaf_reader.member("value", "add the value next to its source");
    leaf_reader.reject_unknown_keys();
    if (spec_ != nullptr) spec_->sources[path] = source_text;
    return value;
  }

  ObjectReader section(const std::string& key) {
    const json& node = member(key, "add the \"" + key + "\" section");
    return ObjectReader(node, child_path(key), err_, spec_);
  }

  std::vector<std::string> keys() const {
    std::vector<std::string> out;
    for (const auto& item : object_.items()) out.push_back(item.key());
    return out;
  }

  void mark_used(const std::string& key) { used_.insert(key); }

  void reject_unknown_keys() const {
    std::vector<std::string> unknown;
    for (const auto& item : object_.items()) {
      if (!used_.contains(item.key())) unknown.push_back(in_quotes(item.key()));
    }
    if (unknown.empty()) return;
    std::vector<std::string> known;
    for (const auto& key : used_) known.push_back(key);
    err_.fail(path_, "unknown key" + std::string(unknown.size() > 1 ? "s " : " ") +
                         join(unknown, ", ") +
                         "; remove or fix the spelling (known keys: " + join(known, ", ") + ")");
  }

 private:
  const json& object_;
  std::string path_;
  const ErrorSink& err_;
  DeviceSpec* spec_;
  std::set<std::string> used_;
};

// ---- structured values ----

Coord to_coord(const json& v, const std::string& path, const ErrorSink& err) {
  ObjectReader reader(v, path, err, nullptr);
  Coord c;
  c.x = to_int(reader.member("x", "give the NoC0 x coordinate"), path + "/x", err);
  c.y = to_int(reader.member("y", "give the NoC0 y coordinate"), path + "/y", err);
  reader.reject_unknown_keys();
  return c;
}

const json& expect_array(const json& v, const std::string& path, const ErrorSink& err) {
  if (!v.is_array()) err.fail(path, "expected an array, got " + show(v));
  return v;
}

std::vector<Coord> to_coord_list(const json& v, const std::string& path, const ErrorSink& err) {
  std::vector<Coord> out;
  expect_array(v, path, err);
  for (std::size_t i = 0; i < v.size(); ++i) {
    out.push_back(to_coord(v[i], path + "/" + std::to_string(i), err));
  }
  return out;
}

std::vector<int> to_int_list(const json& v, const std::string& path, const ErrorSink& err) {
  std::vector<int> out;
  expect_array(v, path, err);
  for (std::size_t i = 0; i < v.size(); ++i) {
    out.push_back(to_int(v[i], path + "/" + std::to_string(i), err));
  }
  return out;
}

std::array<std::uint32_t, 4> to_fidelity_array(const json& v, const std::string& path,
                                               const ErrorSink& err) {
  expect_array(v, path, err);
  if (v.size() != kMathFidelityNames.size()) {
    err.fail(path,
             "has " + std::to_string(v.size()) +
                 " entries; give 4, one per math fidelity in order LoFi, HiFi2, HiFi3, HiFi4");
  }
  std::array<std::uint32_t, 4> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = to_positive_u32(v[i], path + "/" + std::to_string(i), err);
    if (i > 0 && out[i] < out[i - 1]) {
      err.fail(path + "/" + std::to_string(i),
               std::string(kMathFidelityNames[i]) + " is cheaper than " +
                   kMathFidelityNames[i - 1] + "; higher fidelity adds phases, so cycles must " +
                   "not decrease");
    }
  }
  return out;
}

// A section whose keys are names (format or op) and whose members are cycle leaves.
std::map<std::string, std::uint32_t> read_cycle_map(ObjectReader& parent, const std::string& key,
                                                    const std::string& what) {
  ObjectReader reader = parent.section(key);
  const ErrorSink& err = reader.errors();
  const std::vector<std::string> names = reader.keys();
  if (names.empty()) {
    err.fail(reader.path(),
             "empty; add one {\"value\": cycles, \"source\": ...} entry per " + what);
  }
  std::map<std::string, std::uint32_t> out;
  for (const std::string& name : names) {
    out[name] = to_positive_u32(reader.leaf(name), reader.child_path(name) + "/value", err);
  }
  return out;
}

// Tilize cycles by input format, then output format: [16-bit Dst, fp32 Dst].
std::map<std::string, std::map<std::string, std::array<std::uint32_t, 2>>> read_tilize_cycles(
    ObjectReader& parent) {
  ObjectReader by_input = parent.section("tilize_tile_cycles");
  const ErrorSink& err = by_input.errors();
  const auto& formats = tile_format_names();
  auto check_format = [&](const std::string& name, const std::string& path) {
    if (std::find(formats.begin(), formats.end(), name) == formats.end()) {
      err.fail(path,
               "unknown data format " + in_quotes(name) + "; use one of " + join(formats, ", "));
    }
  };
  std::map<std::string, std::map<std::string, std::array<std::uint32_t, 2>>> out;
  for (const std::string& in : by_input.keys()) {
    check_format(in, by_input.child_path(in));
    ObjectReader by_output = by_input.section(in);
    for (const std::string& to : by_output.keys()) {
      const std::string path = by_output.child_path(to) + "/value";
      check_format(to, by_output.child_path(to));
      const json& v = by_output.leaf(to);
      expect_array(v, path, err);
      if (v.size() != 2) {
        err.fail(path, "has " + std::to_string(v.size()) +
                           " entries; give 2: cycles with a 16-bit Dst, then with an fp32 Dst");
      }
      out[in][to] = {to_positive_u32(v[0], path + "/0", err),
                     to_positive_u32(v[1], path + "/1", err)};
    }
    by_output.reject_unknown_keys();
  }
  return out;
}

void require_formats(const std::map<std::string, std::uint32_t>& cycles, const std::string& path,
                     const ErrorSink& err) {
  const auto& formats = tile_format_names();
  for (const auto& [name, value] : cycles) {
    if (std::find(formats.begin(), formats.end(), name) == formats.end()) {
      err.fail(path + "/" + pointer_token(name),
               "unknown data format " + in_quotes(name) + "; use one of " + join(formats, ", "));
    }
  }
  for (const std::string& format : formats) {
    if (!cycles.contains(format))
      err.fail(path + "/" + format, std::string("missing; ") + kLeafHint);
  }
}

void require_op_names(const std::map<std::string, std::uint32_t>& cycles, const std::string& path,
                      const ErrorSink& err) {
  for (const auto& [name, value] : cycles) {
    const bool valid = std::all_of(name.begin(), name.end(), [](unsigned char c) {
      return std::islower(c) != 0 || std::isdigit(c) != 0 || c == '_';
    });
    if (!valid) {
      err.fail(path + "/" + pointer_token(name),
               "op name " + in_quotes(name) + " must be lower_snake_case like the ttnn op name");
    }
  }
}

bool is_power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

std::uint32_t to_alignment(const json& v, const std::string& path, const ErrorSink& err) {
  const std::uint32_t value = to_u32(v, path, err);
  if (!is_power_of_two(value)) {
    err.fail(path, "alignment must be a power of two, got " + std::to_string(value));
  }
  return value;
}

// ---- sections ----

void read_chip(ObjectReader& top, DeviceSpec& spec) {
  ObjectReader chip = top.section("chip");
  const ErrorSink& err = chip.errors();
  spec.chip.noc_grid = to_coord(chip.leaf("noc_grid"), "/chip/noc_grid/value", err);
  if (spec.chip.noc_grid.x <= 0 || spec.chip.noc_grid.y <= 0) {
    err.fail("/chip/noc_grid/value",
             "grid must be at least 1 x 1, got " + show(spec.chip.noc_grid));
  }
  spec.chip.worker_columns =
      to_int_list(chip.leaf("worker_columns"), "/chip/worker_columns/value", err);
  spec.chip.worker_rows = to_int_list(chip.leaf("worker_rows"), "/chip/worker_rows/value", err);
  spec.chip.router_only = to_coord_list(chip.leaf("router_only"), "/chip/router_only/value", err);
  spec.chip.arc = to_coord(chip.leaf("arc"), "/chip/arc/value", err);
  chip.reject_unknown_keys();
}

void read_l1(ObjectReader& top, DeviceSpec& spec) {
  ObjectReader l1 = top.section("l1");
  const ErrorSink& err = l1.errors();
  L1Spec& s = spec.l1;
  s.size_bytes = to_u64(l1.leaf("size_bytes"), "/l1/size_bytes/value", err);
  if (s.size_bytes == 0) err.fail("/l1/size_bytes/value", "must be positive, got 0");
  s.usable_bytes = to_u64(l1.leaf("usable_bytes"), "/l1/usable_bytes/value", err);
  if (s.usable_bytes == 0) err.fail("/l1/usable_bytes/value", "must be positive, got 0");
  s.first_usable_address =
      to_u64(l1.leaf("first_usable_address"), "/l1/first_usable_address/value", err);
  s.num_banks = to_positive_u32(l1.leaf("num_banks"), "/l1/num_banks/value", err);
  s.bank_bytes_per_cycle =
      to_positive_double(l1.leaf("bank_bytes_per_cycle"), "/l1/bank_bytes_per_cycle/value", err);
  s.alignment_bytes = to_alignment(l1.leaf("alignment_bytes"), "/l1/alignment_bytes/value", err);
  s.max_circular_buffers =
      to_positive_u32(l1.leaf("max_circular_buffers"), "/l1/max_circular_buffers/value", err);
  l1.reject_unknown_keys();

  if (s.usable_bytes > s.size_bytes) {
    err.fail("/l1/usable_bytes/value", "usable L1 " + std::to_string(s.usable_bytes) +
                                           " B exceeds /l1/size_bytes " +
                                           std::to_string(s.size_bytes) + " B");
  }
  if (s.first_usable_address + s.usable_bytes != s.size_bytes) {
    err.fail("/l1/first_usable_address/value",
             "first_usable_address " + std::to_string(s.first_usable_address) + " + usable_bytes " +
                 std::to_string(s.usable_bytes) + " != size_bytes " + std::to_string(s.size_bytes) +
                 "; the usable region must run to the end of L1");
  }
  if (s.first_usable_address % s.alignment_bytes != 0) {
    err.fail("/l1/first_usable_address/value",
             "not a multiple of /l1/alignment_bytes (" + std::to_string(s.alignment_bytes) + ")");
  }
}

void read_dram(ObjectReader& top, DeviceSpec& spec) {
  ObjectReader dram = top.section("dram");
  const ErrorSink& err = dram.errors();
  DramSpec& d = spec.dram;
  d.num_controllers =
      to_positive_u32(dram.leaf("num_controllers"), "/dram/num_controllers/value", err);

  const std::string endpoints_path = "/dram/controller_endpoints/value";
  const json& endpoints = expect_array(dram.leaf("controller_endpoints"), endpoints_path, err);
  if (endpoints.size() != d.num_controllers) {
    err.fail(endpoints_path, "lists " + std::to_string(endpoints.size()) +
                                 " controllers but /dram/num_controllers is " +
                                 std::to_string(d.num_controllers) +
                                 "; give one list per controller");
  }
  for (std::size_t c = 0; c < endpoints.size(); ++c) {
    const std::string path = endpoints_path + "/" + std::to_string(c);
    d.controller_endpoints.push_back(to_coord_list(endpoints[c], path, err));
    if (d.controller_endpoints.back().empty()) {
      err.fail(path, "controller has no NoC endpoints; list its DRAM tiles");
    }
  }

  const std::string banks_path = "/dram/banks/value";
  const json& banks = expect_array(dram.leaf("banks"), banks_path, err);
  if (banks.empty()) err.fail(banks_path, "no DRAM banks; list at least one bank");
  for (std::size_t i = 0; i < banks.size(); ++i) {
    const std::string path = banks_path + "/" + std::to_string(i);
    ObjectReader bank(banks[i], path, err, nullptr);
    DramBankSpec b;
    b.id = to_u32(bank.member("id", "give the bank id"), path + "/id", err);
    b.controller =
        to_u32(bank.member("controller", "give the controller index"), path + "/controller", err);
    b.noc_endpoint = to_coord(bank.member("noc_endpoint", "give the preferred worker endpoint"),
                              path + "/noc_endpoint", err);
    b.offset_bytes = to_u64(bank.member("offset_bytes", "give the offset inside the controller"),
                            path + "/offset_bytes", err);
    bank.reject_unknown_keys();
    d.banks.push_back(b);
  }

  d.bank_size_bytes = to_u64(dram.leaf("bank_size_bytes"), "/dram/bank_size_bytes/value", err);
  if (d.bank_size_bytes == 0) err.fail("/dram/bank_size_bytes/value", "must be positive, got 0");
  d.bank_peak_bytes_per_cycle = to_positive_double(dram.leaf("bank_peak_bytes_per_cycle"),
                                                   "/dram/bank_peak_bytes_per_cycle/value", err);
  d.bank_achievable_bytes_per_cycle =
      to_positive_double(dram.leaf("bank_achievable_bytes_per_cycle"),
                         "/dram/bank_achievable_bytes_per_cycle/value", err);
  d.controller_bytes_per_cycle = to_positive_double(dram.leaf("controller_bytes_per_cycle"),
                                                    "/dram/controller_bytes_per_cycle/value", err);
  d.read_latency_cycles =
      to_u32(dram.leaf("read_latency_cycles"), "/dram/read_latency_cycles/value", err);
  d.write_latency_cycles =
      to_u32(dram.leaf("write_latency_cycles"), "/dram/write_latency_cycles/value", err);
  d.read_alignment_bytes =
      to_alignment(dram.leaf("read_alignment_bytes"), "/dram/read_alignment_bytes/value", err);
  d.write_alignment_bytes =
      to_alignment(dram.leaf("write_alignment_bytes"), "/dram/write_alignment_bytes/value", err);
  dram.reject_unknown_keys();

  if (d.bank_achievable_bytes_per_cycle > d.bank_peak_bytes_per_cycle) {
    err.fail("/dram/bank_achievable_bytes_per_cycle/value",
             "achievable bandwidth exceeds /dram/bank_peak_bytes_per_cycle");
  }
}

void read_noc(ObjectReader& top, DeviceSpec& spec) {
  ObjectReader noc = top.section("noc");
  const ErrorSink& err = noc.errors();
  NocSpec& n = spec.noc;
  n.num_nocs = to_positive_u32(noc.leaf("num_nocs"), "/noc/num_nocs/value", err);
  n.link_bytes_per_cycle =
      to_positive_double(noc.leaf("link_bytes_per_cycle"), "/noc/link_bytes_per_cycle/value", err);
  n.hop_latency_cycles =
      to_u32(noc.leaf("hop_latency_cycles"), "/noc/hop_latency_cycles/value", err);
  n.inject_latency_cycles =
      to_u32(noc.leaf("inject_latency_cycles"), "/noc/inject_latency_cycles/value", err);
  n.eject_latency_cycles =
      to_u32(noc.leaf("eject_latency_cycles"), "/noc/eject_latency_cycles/value", err);
  n.max_packet_bytes =
      to_positive_u32(noc.leaf("max_packet_bytes"), "/noc/max_packet_bytes/value", err);
  n.flit_bytes = to_positive_u32(noc.leaf("flit_bytes"), "/noc/flit_bytes/value", err);
  n.header_flits = to_u32(noc.leaf("header_flits"), "/noc/header_flits/value", err);
  n.niu_inject_tensix_bytes_per_cycle =
      to_positive_double(noc.leaf("niu_inject_tensix_bytes_per_cycle"),
                         "/noc/niu_inject_tensix_bytes_per_cycle/value", err);
  n.niu_inject_dram_bytes_per_cycle =
      to_positive_double(noc.leaf("niu_inject_dram_bytes_per_cycle"),
                         "/noc/niu_inject_dram_bytes_per_cycle/value", err);
  n.niu_absorb_tensix_bytes_per_cycle =
      to_positive_double(noc.leaf("niu_absorb_tensix_bytes_per_cycle"),
                         "/noc/niu_absorb_tensix_bytes_per_cycle/value", err);
  n.niu_absorb_dram_bytes_per_cycle =
      to_positive_double(noc.leaf("niu_absorb_dram_bytes_per_cycle"),
                         "/noc/niu_absorb_dram_bytes_per_cycle/value", err);
  n.request_issue_cycles =
      to_u32(noc.leaf("request_issue_cycles"), "/noc/request_issue_cycles/value", err);
  n.max_outstanding_transactions = to_positive_u32(noc.leaf("max_outstanding_transactions"),
                                                   "/noc/max_outstanding_transactions/value", err);
  n.multicast_path_setup_traversals = to_non_negative_double(
      noc.leaf("multicast_path_setup_traversals"), "/noc/multicast_path_setup_traversals/value", err);
  noc.reject_unknown_keys();

  if (n.max_packet_bytes % n.flit_bytes != 0) {
    err.fail("/noc/max_packet_bytes/value", "max packet " + std::to_string(n.max_packet_bytes) +
                                                " B is not a whole number of /noc/flit_bytes (" +
                                                std::to_string(n.flit_bytes) + " B)");
  }
}

void read_compute(ObjectReader& top, DeviceSpec& spec) {
  ObjectReader compute = top.section("compute");
  const ErrorSink& err = compute.errors();
  ComputeSpec& c = spec.compute;
  c.matmul_tile_cycles = to_fidelity_array(compute.leaf("matmul_tile_cycles"),
                                           "/compute/matmul_tile_cycles/value", err);
  c.matmul_min_rows =
      to_positive_u32(compute.leaf("matmul_min_rows"), "/compute/matmul_min_rows/value", err);
  c.eltwise_mul_tile_cycles = to_fidelity_array(compute.leaf("eltwise_mul_tile_cycles"),
                                                "/compute/eltwise_mul_tile_cycles/value", err);
  c.eltwise_add_tile_cycles = to_positive_u32(compute.leaf("eltwise_add_tile_cycles"),
                                              "/compute/eltwise_add_tile_cycles/value", err);
  c.reduce_tile_cycles =
      to_positive_u32(compute.leaf("reduce_tile_cycles"), "/compute/reduce_tile_cycles/value", err);
  c.dst_tiles_bf16 =
      to_positive_u32(compute.leaf("dst_tiles_bf16"), "/compute/dst_tiles_bf16/value", err);
  c.dst_tiles_fp32 =
      to_positive_u32(compute.leaf("dst_tiles_fp32"), "/compute/dst_tiles_fp32/value", err);
  c.unpack_tile_cycles = read_cycle_map(compute, "unpack_tile_cycles", "data format");
  require_formats(c.unpack_tile_cycles, "/compute/unpack_tile_cycles", err);
  c.pack_tile_cycles = read_cycle_map(compute, "pack_tile_cycles", "data format");
  require_formats(c.pack_tile_cycles, "/compute/pack_tile_cycles", err);
  c.block_overhead_cycles =
      to_u32(compute.leaf("block_overhead_cycles"), "/compute/block_overhead_cycles/value", err);
  c.matmul_inner_step_overhead_cycles = to_u32(compute.leaf("matmul_inner_step_overhead_cycles"),
                                             "/compute/matmul_inner_step_overhead_cycles/value", err);
  c.dst_reload_overhead_cycles = to_u32(compute.leaf("dst_reload_overhead_cycles"),
                                      "/compute/dst_reload_overhead_cycles/value", err);
  c.kernel_launch_cycles =
      to_u32(compute.leaf("kernel_launch_cycles"), "/compute/kernel_launch_cycles/value", err);
  c.sfpu_tile_cycles = read_cycle_map(compute, "sfpu_tile_cycles", "SFPU op");
  require_op_names(c.sfpu_tile_cycles, "/compute/sfpu_tile_cycles", err);
  c.tilize_tile_cycles = read_tilize_cycles(compute);
  compute.reject_unknown_keys();

  if (c.dst_tiles_fp32 > c.dst_tiles_bf16) {
    err.fail("/compute/dst_tiles_fp32/value",
             "fp32 Dst capacity exceeds /compute/dst_tiles_bf16; 32-bit tiles take twice the room");
  }
}

void read_ethernet(ObjectReader& top, DeviceSpec& spec) {
  ObjectReader eth = top.section("ethernet");
  const ErrorSink& err = eth.errors();
  EthernetSpec& e = spec.ethernet;
  e.channel_cores = to_coord_list(eth.leaf("channel_cores"), "/ethernet/channel_cores/value", err);

  const std::string links_path = "/ethernet/links/value";
  const json& links = expect_array(eth.leaf("links"), links_path, err);
  for (std::size_t i = 0; i < links.size(); ++i) {
    const std::string path = links_path + "/" + std::to_string(i);
    ObjectReader link(links[i], path, err, nullptr);
    EthernetLinkSpec l;
    l.chip_a = to_u32(link.member("chip_a", "give the first chip"), path + "/chip_a", err);
    l.channel_a =
        to_u32(link.member("channel_a", "give its Ethernet channel"), path + "/channel_a", err);
    l.core_a = to_coord(link.member("core_a", "give its Ethernet core"), path + "/core_a", err);
    l.chip_b = to_u32(link.member("chip_b", "give the second chip"), path + "/chip_b", err);
    l.channel_b =
        to_u32(link.member("channel_b", "give its Ethernet channel"), path + "/channel_b", err);
    l.core_b = to_coord(link.member("core_b", "give its Ethernet core"), path + "/core_b", err);
    link.reject_unknown_keys();
    e.links.push_back(l);
  }

  e.bytes_per_cycle_per_direction =
      to_positive_double(eth.leaf("bytes_per_cycle_per_direction"),
                         "/ethernet/bytes_per_cycle_per_direction/value", err);
  e.one_way_latency_cycles =
      to_u32(eth.leaf("one_way_latency_cycles"), "/ethernet/one_way_latency_cycles/value", err);
  e.packet_overhead_bytes =
      to_u32(eth.leaf("packet_overhead_bytes"), "/ethernet/packet_overhead_bytes/value", err);
  e.max_packet_bytes =
      to_positive_u32(eth.leaf("max_packet_bytes"), "/ethernet/max_packet_bytes/value", err);
  e.links_reserved_for_dispatch = to_u32(eth.leaf("links_reserved_for_dispatch"),
                                         "/ethernet/links_reserved_for_dispatch/value", err);
  eth.reject_unknown_keys();
}

void read_pcie(ObjectReader& top, DeviceSpec& spec) {
  ObjectReader pcie = top.section("pcie");
  const ErrorSink& err = pcie.errors();
  PcieSpec& p = spec.pcie;
  p.noc_endpoint = to_coord(pcie.leaf("noc_endpoint"), "/pcie/noc_endpoint/value", err);
  p.mmio_chip = to_u32(pcie.leaf("mmio_chip"), "/pcie/mmio_chip/value", err);
  p.host_to_device_bytes_per_cycle =
      to_positive_double(pcie.leaf("host_to_device_bytes_per_cycle"),
                         "/pcie/host_to_device_bytes_per_cycle/value", err);
  p.device_to_host_bytes_per_cycle =
      to_positive_double(pcie.leaf("device_to_host_bytes_per_cycle"),
                         "/pcie/device_to_host_bytes_per_cycle/value", err);
  p.latency_cycles = to_u32(pcie.leaf("latency_cycles"), "/pcie/latency_cycles/value", err);
  pcie.reject_unknown_keys();
}

void read_host(ObjectReader& top, DeviceSpec& spec) {
  ObjectReader host = top.section("host");
  const ErrorSink& err = host.errors();
  HostSpec& h = spec.host;
  h.eager_dispatch_ns =
      to_u32(host.leaf("eager_dispatch_ns"), "/host/eager_dispatch_ns/value", err);
  h.trace_op_gap_ns = to_u32(host.leaf("trace_op_gap_ns"), "/host/trace_op_gap_ns/value", err);
  h.trace_replay_launch_ns =
      to_u32(host.leaf("trace_replay_launch_ns"), "/host/trace_replay_launch_ns/value", err);
  h.queue_sync_ns = to_u32(host.leaf("queue_sync_ns"), "/host/queue_sync_ns/value", err);
  h.postprocess_ns = to_u32(host.leaf("postprocess_ns"), "/host/postprocess_ns/value", err);
  h.postprocess_ns_per_output_element =
      to_non_negative_double(host.leaf("postprocess_ns_per_output_element"),
                             "/host/postprocess_ns_per_output_element/value", err);
  host.reject_unknown_keys();
}

// ---- cross-section consistency ----

bool in_grid(const Coord& c, const Coord& grid) {
  return c.x >= 0 && c.y >= 0 && c.x < grid.x && c.y < grid.y;
}

void check_in_grid(const Coord& c, const Coord& grid, const std::string& path,
                   const ErrorSink& err) {
  if (!in_grid(c, grid)) {
    err.fail(path, "tile " + show(c) + " lies outside the " + std::to_string(grid.x) + " x " +
                       std::to_string(grid.y) + " NoC grid (/chip/noc_grid)");
  }
}

void check_axis(const std::vector<int>& values, int limit, const std::string& path,
                const std::string& axis, const ErrorSink& err) {
  if (values.empty())
    err.fail(path, "empty; list the NoC0 " + axis + " of every worker " +
                       (axis == "x" ? "column" : "row"));
  std::set<int> seen;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string item = path + "/" + std::to_string(i);
    if (values[i] < 0 || values[i] >= limit) {
      err.fail(item, axis + "=" + std::to_string(values[i]) + " lies outside the NoC grid (0.." +
                         std::to_string(limit - 1) + ", /chip/noc_grid)");
    }
    if (!seen.insert(values[i]).second) {
      err.fail(item, axis + "=" + std::to_string(values[i]) + " is listed twice");
    }
  }
}

void validate_layout(const DeviceSpec& spec, const ErrorSink& err) {
  const Coord grid = spec.chip.noc_grid;
  check_axis(spec.chip.worker_columns, grid.x, "/chip/worker_columns/value", "x", err);
  check_axis(spec.chip.worker_rows, grid.y, "/chip/worker_rows/value", "y", err);

  // Every non-worker tile, with the path that places it; two of them may not share a tile.
  std::map<Coord, std::string> owners;
  auto claim = [&](const Coord& c, const std::string& path, const std::string& what) {
    check_in_grid(c, grid, path, err);
    const auto [it, inserted] = owners.emplace(c, path + " (" + what + ")");
    if (!inserted) {
      err.fail(path, what + " tile " + show(c) + " is already used by " + it->second);
    }
  };
  for (std::size_t c = 0; c < spec.dram.controller_endpoints.size(); ++c) {
    const auto& tiles = spec.dram.controller_endpoints[c];
    for (std::size_t t = 0; t < tiles.size(); ++t) {
      claim(tiles[t],
            "/dram/controller_endpoints/value/" + std::to_string(c) + "/" + std::to_string(t),
            "DRAM");
    }
  }
  for (std::size_t ch = 0; ch < spec.ethernet.channel_cores.size(); ++ch) {
    claim(spec.ethernet.channel_cores[ch], "/ethernet/channel_cores/value/" + std::to_string(ch),
          "Ethernet");
  }
  claim(spec.pcie.noc_endpoint, "/pcie/noc_endpoint/value", "PCIe");
  claim(spec.chip.arc, "/chip/arc/value", "ARC");
  for (std::size_t i = 0; i < spec.chip.router_only.size(); ++i) {
    claim(spec.chip.router_only[i], "/chip/router_only/value/" + std::to_string(i), "router-only");
  }

  for (std::size_t col = 0; col < spec.chip.worker_columns.size(); ++col) {
    for (std::size_t row = 0; row < spec.chip.worker_rows.size(); ++row) {
      const Coord worker{spec.chip.worker_columns[col], spec.chip.worker_rows[row]};
      const auto it = owners.find(worker);
      if (it != owners.end()) {
        err.fail("/chip/worker_columns/value/" + std::to_string(col),
                 "worker tile " + show(worker) + " (this column x /chip/worker_rows/value/" +
                     std::to_string(row) + ") collides with " + it->second +
                     "; workers must sit on Tensix tiles");
      }
    }
  }
}

void validate_dram(const DeviceSpec& spec, const ErrorSink& err) {
  const DramSpec& d = spec.dram;
  std::map<std::uint32_t, std::size_t> index_of_id;
  std::set<std::pair<std::uint32_t, std::uint64_t>> placements;
  for (std::size_t i = 0; i < d.banks.size(); ++i) {
    const DramBankSpec& b = d.banks[i];
    const std::string path = "/dram/banks/value/" + std::to_string(i);
    const auto [it, inserted] = index_of_id.emplace(b.id, i);
    if (!inserted) {
      err.fail(path + "/id", "duplicate DRAM bank id " + std::to_string(b.id) +
                                 " (also /dram/banks/value/" + std::to_string(it->second) +
                                 "); give every bank a distinct id");
    }
    if (b.id >= d.banks.size()) {
      err.fail(path + "/id", "bank id " + std::to_string(b.id) + " out of range; ids must be 0.." +
                                 std::to_string(d.banks.size() - 1));
    }
    if (b.controller >= d.num_controllers) {
      err.fail(path + "/controller", "controller " + std::to_string(b.controller) +
                                         " >= /dram/num_controllers (" +
                                         std::to_string(d.num_controllers) + ")");
    }
    const auto& tiles = d.controller_endpoints[b.controller];
    if (std::find(tiles.begin(), tiles.end(), b.noc_endpoint) == tiles.end()) {
      err.fail(path + "/noc_endpoint",
               "endpoint " + show(b.noc_endpoint) + " is not one of controller " +
                   std::to_string(b.controller) + "'s tiles (/dram/controller_endpoints/value/" +
                   std::to_string(b.controller) + ")");
    }
    if (b.offset_bytes % d.bank_size_bytes != 0) {
      err.fail(path + "/offset_bytes",
               "offset is not a multiple of /dram/bank_size_bytes; banks tile the controller");
    }
    if (!placements.emplace(b.controller, b.offset_bytes).second) {
      err.fail(path + "/offset_bytes", "overlaps another bank of controller " +
                                           std::to_string(b.controller) + " at the same offset");
    }
  }
}

void validate_ethernet(const DeviceSpec& spec, const ErrorSink& err) {
  const EthernetSpec& e = spec.ethernet;
  std::set<std::pair<std::uint32_t, std::uint32_t>> used_ports;
  auto check_end = [&](std::uint32_t chip, std::uint32_t channel, const Coord& core,
                       const std::string& path, const std::string& side) {
    if (chip >= spec.num_chips) {
      err.fail(path + "/chip_" + side, "chip " + std::to_string(chip) + " >= /num_chips (" +
                                           std::to_string(spec.num_chips) + ")");
    }
    if (channel >= e.channel_cores.size()) {
      err.fail(path + "/channel_" + side,
               "channel " + std::to_string(channel) + " has no core in /ethernet/channel_cores (" +
                   std::to_string(e.channel_cores.size()) + " channels)");
    }
    if (!(e.channel_cores[channel] == core)) {
      err.fail(path + "/core_" + side,
               "core " + show(core) + " does not match channel " + std::to_string(channel) +
                   ", which is at " + show(e.channel_cores[channel]) +
                   " (/ethernet/channel_cores/value/" + std::to_string(channel) + ")");
    }
    if (!used_ports.emplace(chip, channel).second) {
      err.fail(path + "/channel_" + side, "chip " + std::to_string(chip) + " channel " +
                                              std::to_string(channel) + " is used by two links");
    }
  };
  for (std::size_t i = 0; i < e.links.size(); ++i) {
    const EthernetLinkSpec& l = e.links[i];
    const std::string path = "/ethernet/links/value/" + std::to_string(i);
    check_end(l.chip_a, l.channel_a, l.core_a, path, "a");
    check_end(l.chip_b, l.channel_b, l.core_b, path, "b");
    if (l.chip_a == l.chip_b) {
      err.fail(path + "/chip_b", "link connects chip " + std::to_string(l.chip_a) +
                                     " to itself; links join two different chips");
    }
  }
  if (e.links_reserved_for_dispatch > e.links.size()) {
    err.fail("/ethernet/links_reserved_for_dispatch/value",
             std::to_string(e.links_reserved_for_dispatch) + " links reserved but only " +
                 std::to_string(e.links.size()) + " exist in /ethernet/links");
  }
  if (e.packet_overhead_bytes >= e.max_packet_bytes) {
    err.fail("/ethernet/packet_overhead_bytes/value",
             "overhead must be smaller than /ethernet/max_packet_bytes");
  }
}

void validate_pcie(const DeviceSpec& spec, const ErrorSink& err) {
  if (spec.pcie.mmio_chip >= spec.num_chips) {
    err.fail("/pcie/mmio_chip/value", "chip " + std::to_string(spec.pcie.mmio_chip) +
                                          " >= /num_chips (" + std::to_string(spec.num_chips) +
                                          ")");
  }
}

DeviceSpec parse_spec(const json& root, const ErrorSink& err) {
  DeviceSpec spec;
  ObjectReader top(root, "", err, &spec);

  const json& version = top.member("format_version", "add \"format_version\": 1");
  if (!version.is_number_integer() || version.get<std::int64_t>() != kFormatVersion) {
    err.fail("/format_version", "unsupported format version " + version.dump() +
                                    "; this wormsim reads format_version " +
                                    std::to_string(kFormatVersion));
  }
  spec.name = to_string_value(top.member("name", "add \"name\": \"<short name>\""), "/name", err);
  if (spec.name.empty()) err.fail("/name", "empty; give the short device name, e.g. \"n300\"");
  spec.arch = to_string_value(top.member("arch", "add \"arch\": \"wormhole_b0\""), "/arch", err);
  if (spec.arch != kModelledArch) {
    err.fail("/arch", "arch " + in_quotes(spec.arch) + " is not modelled; wormsim models " +
                          in_quotes(kModelledArch));
  }
  spec.description = to_string_value(top.member("description", "add \"description\": \"...\""),
                                     "/description", err);

  spec.clock_mhz = to_positive_double(top.leaf("clock_mhz"), "/clock_mhz/value", err);
  spec.num_chips = to_positive_u32(top.leaf("num_chips"), "/num_chips/value", err);
  read_chip(top, spec);
  read_l1(top, spec);
  read_dram(top, spec);
  read_noc(top, spec);
  read_compute(top, spec);
  read_ethernet(top, spec);
  read_pcie(top, spec);
  read_host(top, spec);
  top.reject_unknown_keys();

  validate_layout(spec, err);
  validate_dram(spec, err);
  validate_ethernet(spec, err);
  validate_pcie(spec, err);
  return spec;
}

std::filesystem::path spec_file_for(const std::string& name) {
  return spec_directory() / (std::string(kSpecFilePrefix) + name + kSpecFileSuffix);
}

}  // namespace

double DeviceSpec::peak_tflops_per_chip(MathFidelity fidelity) const {
  const std::uint32_t cycles = compute.matmul_tile_cycles.at(static_cast<std::size_t>(fidelity));
  if (cycles == 0 || clock_mhz <= 0.0) {
    throw SpecError("peak_tflops_per_chip: device spec \"" + name +
                    "\" has no matmul cycles or clock; load it with load_device_spec()");
  }
  const double flops_per_tile_product = 2.0 * kTileDim * kTileDim * kTileDim;
  const double flops_per_cycle = flops_per_tile_product / cycles * worker_count();
  return flops_per_cycle * clock_mhz * kHzPerMHz / kFlopsPerTFlop;
}

DeviceSpec load_device_spec(const std::filesystem::path& file) {
  const std::string file_name = file.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw SpecError(file_name + ": spec file not found; pass an existing file (specs live in " +
                    spec_directory().string() + ", override with WORMSIM_SPEC_DIR)");
  }
  std::ifstream in(file);
  if (!in) throw SpecError(file_name + ": cannot open spec file for reading; check permissions");
  json root;
  try {
    root = json::parse(in);
  } catch (const json::parse_error& e) {
    throw SpecError(file_name + ": malformed JSON at byte " + std::to_string(e.byte) + ": " +
                    e.what() + "; fix the syntax");
  }
  return parse_spec(root, ErrorSink(file_name));
}

DeviceSpec load_device_spec_by_name(const std::string& name) {
  const std::filesystem::path file = spec_file_for(name);
  std::error_code ec;
  if (name.empty() || !std::filesystem::is_regular_file(file, ec)) {
    const std::vector<std::string> names = available_device_specs();
    throw SpecError("unknown device " + in_quotes(name) +
                    "; available: " + (names.empty() ? std::string("none") : join(names, ", ")) +
                    " (files " + kSpecFilePrefix + "<name>" + kSpecFileSuffix + " in " +
                    spec_directory().string() + ")");
  }
  DeviceSpec spec = load_device_spec(file);
  if (spec.name != name) {
    throw SpecError(file.string() + ": /name: " + in_quotes(spec.name) +
                    " does not match the file name; set \"name\": " + in_quotes(name) +
                    " or rename the file");
  }
  return spec;
}

std::vector<std::string> available_device_specs() {
  const std::filesystem::path dir = spec_directory();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw SpecError("spec directory " + dir.string() +
                    " does not exist; set WORMSIM_SPEC_DIR to the folder holding " +
                    kSpecFilePrefix + "<name>" + kSpecFileSuffix + " files");
  }
  const std::string prefix = kSpecFilePrefix;
  const std::string suffix = kSpecFileSuffix;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const std::string file = entry.path().filename().string();
    if (file.size() <= prefix.size() + suffix.size()) continue;
    if (file.compare(0, prefix.size(), prefix) != 0) continue;
    if (file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    names.push_back(file.substr(prefix.size(), file.size() - prefix.size() - suffix.size()));
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::filesystem::path spec_directory() {
  if (const char* env = std::getenv("WORMSIM_SPEC_DIR"); env != nullptr && *env != '\0') {
    return std::filesystem::path(env);
  }
  return std::filesystem::path(WORMSIM_SPEC_DIR);
}

}  // namespace wormsim::arch
