// Device spec loading, validation (every kind of bad file names its JSON path) and the
// `wormsim devices` / `wormsim spec show` commands.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "arch/device_spec.hpp"
#include "arch/spec_json.hpp"

namespace {

using nlohmann::json;
using wormsim::arch::Coord;
using wormsim::arch::DeviceSpec;
using wormsim::arch::MathFidelity;
using wormsim::arch::SpecError;
namespace fs = std::filesystem;

// A fresh directory removed when the test ends.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("wormsim_spec_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Sets an environment variable for one scope and restores the previous value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) previous_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (previous_) {
      ::setenv(name_, previous_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> previous_;
};

fs::path real_spec_path(const std::string& name) {
  return fs::path(WORMSIM_SPEC_DIR) / ("wormhole_" + name + ".json");
}

json read_json(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
}

// Loads `doc` from a temp file; returns the SpecError message, or fails the test if none.
std::string load_error(const json& doc) {
  TempDir dir;
  const fs::path file = dir.path() / "spec.json";
  write_text(file, doc.dump(2));
  try {
    wormsim::arch::load_device_spec(file);
  } catch (const SpecError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a SpecError";
  return "";
}

// ---- the real specs ----

TEST(DeviceSpec, N300LoadsWithFactSheetValues) {
  const DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n300");
  EXPECT_EQ(spec.name, "n300");
  EXPECT_EQ(spec.arch, "wormhole_b0");
  EXPECT_DOUBLE_EQ(spec.clock_mhz, 1000.0);
  EXPECT_EQ(spec.num_chips, 2u);
  EXPECT_EQ(spec.chip.noc_grid, (Coord{10, 12}));
  EXPECT_EQ(spec.worker_grid_x(), 8u);
  EXPECT_EQ(spec.worker_grid_y(), 8u);
  EXPECT_EQ(spec.worker_count(), 64u);
  EXPECT_EQ(spec.chip.worker_columns, (std::vector<int>{1, 2, 3, 4, 6, 7, 8, 9}));
  EXPECT_EQ(spec.chip.worker_rows, (std::vector<int>{1, 2, 3, 4, 5, 7, 8, 9}));
  EXPECT_EQ(spec.worker_coord(0, 0), (Coord{1, 1}));
  EXPECT_EQ(spec.worker_coord(4, 5), (Coord{6, 7}));
  EXPECT_EQ(spec.worker_coord(7, 7), (Coord{9, 9}));
  EXPECT_EQ(spec.chip.arc, (Coord{0, 10}));
  // Host execution-mode costs (estimates, see their sources).
  EXPECT_EQ(spec.host.queue_sync_ns, 2 * spec.host.trace_op_gap_ns);
  EXPECT_GT(spec.host.postprocess_ns, 0u);
  EXPECT_GT(spec.host.postprocess_ns_per_output_element, 0.0);
  for (const char* leaf :
       {"/host/queue_sync_ns", "/host/postprocess_ns", "/host/postprocess_ns_per_output_element"}) {
    ASSERT_TRUE(spec.sources.count(leaf)) << leaf;
    EXPECT_EQ(spec.sources.at(leaf).rfind("[U] ", 0), 0u) << leaf << ": an estimate says so";
  }

  EXPECT_EQ(spec.l1.size_bytes, 1'499'136u);
  EXPECT_EQ(spec.l1.usable_bytes, 1'395'424u);
  EXPECT_EQ(spec.l1.first_usable_address, 103'712u);
  EXPECT_EQ(spec.l1.num_banks, 16u);
  EXPECT_EQ(spec.l1.max_circular_buffers, 32u);

  ASSERT_EQ(spec.dram.banks.size(), 12u);
  EXPECT_EQ(spec.dram.num_controllers, 6u);
  const std::array<Coord, 12> endpoints = {Coord{0, 11}, {0, 1}, {0, 5}, {0, 7}, {5, 1}, {5, 11},
                                           {5, 2},       {5, 9}, {5, 8}, {5, 3}, {5, 5}, {5, 7}};
  constexpr std::uint64_t kGiB = 1ull << 30;
  for (std::uint32_t b = 0; b < 12; ++b) {
    SCOPED_TRACE("bank " + std::to_string(b));
    EXPECT_EQ(spec.dram.banks[b].id, b);
    EXPECT_EQ(spec.dram.banks[b].controller, b / 2);
    EXPECT_EQ(spec.dram.banks[b].noc_endpoint, endpoints[b]);
    EXPECT_EQ(spec.dram.banks[b].offset_bytes, (b % 2) * kGiB);
  }
  EXPECT_EQ(spec.dram.controller_endpoints[3], (std::vector<Coord>{{5, 2}, {5, 9}, {5, 10}}));
  EXPECT_EQ(spec.dram.bank_size_bytes, kGiB);
  EXPECT_DOUBLE_EQ(spec.dram.bank_peak_bytes_per_cycle, 24.0);
  EXPECT_DOUBLE_EQ(spec.dram.bank_achievable_bytes_per_cycle, 22.3);

  EXPECT_EQ(spec.noc.num_nocs, 2u);
  EXPECT_DOUBLE_EQ(spec.noc.link_bytes_per_cycle, 32.0);
  EXPECT_EQ(spec.noc.hop_latency_cycles, 9u);
  EXPECT_EQ(spec.noc.max_packet_bytes, 8192u);
  EXPECT_EQ(spec.noc.max_outstanding_transactions, 16u);

  EXPECT_EQ(spec.compute.matmul_tile_cycles, (std::array<std::uint32_t, 4>{16, 32, 48, 64}));
  EXPECT_EQ(spec.compute.eltwise_mul_tile_cycles, (std::array<std::uint32_t, 4>{8, 16, 24, 32}));
  EXPECT_EQ(spec.compute.dst_tiles_bf16, 8u);
  EXPECT_EQ(spec.compute.dst_tiles_fp32, 4u);
  for (const char* op : {"gelu", "relu", "silu", "exp", "sigmoid", "tanh", "sqrt", "reciprocal",
                         "recip", "rsqrt", "typecast", "identity"}) {
    EXPECT_TRUE(spec.compute.sfpu_tile_cycles.contains(op)) << op;
  }
  EXPECT_EQ(spec.compute.unpack_tile_cycles.at("BFloat16"), 36u);

  ASSERT_EQ(spec.ethernet.links.size(), 2u);
  const auto& link0 = spec.ethernet.links[0];
  EXPECT_EQ(link0.chip_a, 0u);
  EXPECT_EQ(link0.channel_a, 8u);
  EXPECT_EQ(link0.core_a, (Coord{9, 6}));
  EXPECT_EQ(link0.chip_b, 1u);
  EXPECT_EQ(link0.channel_b, 0u);
  EXPECT_EQ(link0.core_b, (Coord{9, 0}));
  const auto& link1 = spec.ethernet.links[1];
  EXPECT_EQ(link1.channel_a, 9u);
  EXPECT_EQ(link1.core_a, (Coord{1, 6}));
  EXPECT_EQ(link1.channel_b, 1u);
  EXPECT_EQ(link1.core_b, (Coord{1, 0}));
  EXPECT_EQ(spec.ethernet.links_reserved_for_dispatch, 1u);
  EXPECT_DOUBLE_EQ(spec.ethernet.bytes_per_cycle_per_direction, 12.5);
  EXPECT_EQ(spec.ethernet.channel_cores.size(), 16u);

  EXPECT_EQ(spec.pcie.noc_endpoint, (Coord{0, 3}));
  EXPECT_EQ(spec.pcie.mmio_chip, 0u);
}

TEST(DeviceSpec, N150IsOneChipWithoutLinks) {
  const DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n150");
  EXPECT_EQ(spec.name, "n150");
  EXPECT_EQ(spec.num_chips, 1u);
  EXPECT_EQ(spec.worker_count(), 64u);
  EXPECT_TRUE(spec.ethernet.links.empty());
  EXPECT_EQ(spec.ethernet.links_reserved_for_dispatch, 0u);
  EXPECT_EQ(spec.dram.banks.size(), 12u);
}

TEST(DeviceSpec, PeakTflopsMatchFactSheet) {
  const DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n300");
  // 2 * 32^3 FLOP per tile product / cycles * 64 cores * 1 GHz.
  EXPECT_NEAR(spec.peak_tflops_per_chip(MathFidelity::HiFi4), 65.536, 1e-9);
  EXPECT_NEAR(spec.peak_tflops_per_chip(MathFidelity::HiFi3), 87.381, 1e-3);
  EXPECT_NEAR(spec.peak_tflops_per_chip(MathFidelity::HiFi2), 131.072, 1e-9);
  EXPECT_NEAR(spec.peak_tflops_per_chip(MathFidelity::LoFi), 262.144, 1e-9);
}

TEST(DeviceSpec, PeakTflopsOfAnUnloadedSpecIsAnError) {
  const DeviceSpec empty;
  EXPECT_THROW(static_cast<void>(empty.peak_tflops_per_chip(MathFidelity::LoFi)), SpecError);
}

// Walks the raw file: every {"value", "source"} leaf must appear in DeviceSpec::sources.
void collect_leaf_paths(const json& node, const std::string& path, std::vector<std::string>& out) {
  if (!node.is_object()) return;
  if (node.contains("value") && node.contains("source")) {
    out.push_back(path);
    return;
  }
  for (const auto& item : node.items())
    collect_leaf_paths(item.value(), path + "/" + item.key(), out);
}

TEST(DeviceSpec, EveryLeafSourceIsRecordedByJsonPath) {
  for (const std::string name : {"n300", "n150"}) {
    SCOPED_TRACE(name);
    const DeviceSpec spec = wormsim::arch::load_device_spec_by_name(name);
    std::vector<std::string> leaves;
    collect_leaf_paths(read_json(real_spec_path(name)), "", leaves);
    EXPECT_GT(leaves.size(), 60u);
    EXPECT_EQ(spec.sources.size(), leaves.size());
    for (const std::string& path : leaves) {
      ASSERT_TRUE(spec.sources.contains(path)) << path;
      EXPECT_FALSE(spec.sources.at(path).empty()) << path;
    }
    EXPECT_NE(spec.sources.at("/noc/link_bytes_per_cycle").find("ISA"), std::string::npos);
    EXPECT_NE(spec.sources.at("/compute/sfpu_tile_cycles/gelu").find("n300"), std::string::npos);
    // Guesses say so, so calibration knows what to fit.
    EXPECT_NE(spec.sources.at("/noc/request_issue_cycles").find("initial estimate"),
              std::string::npos);
  }
}

// ---- spec directory and names ----

TEST(DeviceSpec, AvailableSpecsListsBothBoards) {
  const std::vector<std::string> names = wormsim::arch::available_device_specs();
  EXPECT_NE(std::find(names.begin(), names.end(), "n150"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "n300"), names.end());
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(DeviceSpec, EnvironmentOverridesSpecDirectory) {
  TempDir dir;
  json mini = read_json(real_spec_path("n150"));
  mini["name"] = "mini";
  write_text(dir.path() / "wormhole_mini.json", mini.dump());
  write_text(dir.path() / "notes.txt", "not a spec");
  ScopedEnv env("WORMSIM_SPEC_DIR", dir.path().string());

  EXPECT_EQ(wormsim::arch::spec_directory(), dir.path());
  EXPECT_EQ(wormsim::arch::available_device_specs(), (std::vector<std::string>{"mini"}));
  EXPECT_EQ(wormsim::arch::load_device_spec_by_name("mini").num_chips, 1u);
  try {
    wormsim::arch::load_device_spec_by_name("n300");
    FAIL() << "n300 is not in the overridden directory";
  } catch (const SpecError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("unknown device \"n300\""), std::string::npos) << message;
    EXPECT_NE(message.find("available: mini"), std::string::npos) << message;
  }
}

TEST(DeviceSpec, UnknownNameListsAvailableSpecs) {
  try {
    wormsim::arch::load_device_spec_by_name("n999");
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("n999"), std::string::npos) << message;
    EXPECT_NE(message.find("n150, n300"), std::string::npos) << message;
  }
}

TEST(DeviceSpec, NameMustMatchFileName) {
  TempDir dir;
  write_text(dir.path() / "wormhole_other.json", read_json(real_spec_path("n300")).dump());
  ScopedEnv env("WORMSIM_SPEC_DIR", dir.path().string());
  try {
    wormsim::arch::load_device_spec_by_name("other");
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("/name"), std::string::npos) << e.what();
  }
}

TEST(DeviceSpec, MissingDirectoryIsAnError) {
  ScopedEnv env("WORMSIM_SPEC_DIR", "/nonexistent/wormsim/specs");
  try {
    wormsim::arch::available_device_specs();
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/wormsim/specs"), std::string::npos);
  }
}

// ---- bad files ----

TEST(DeviceSpecErrors, MissingFileNamesThePath) {
  const fs::path missing = fs::temp_directory_path() / "wormsim_no_such_spec.json";
  try {
    wormsim::arch::load_device_spec(missing);
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
    EXPECT_NE(message.find("not found"), std::string::npos) << message;
  }
}

TEST(DeviceSpecErrors, MalformedJsonGivesTheBytePosition) {
  TempDir dir;
  const fs::path file = dir.path() / "broken.json";
  write_text(file, "{\"format_version\": 1,\n \"name\": \"n300\" \"arch\": 3}");
  try {
    wormsim::arch::load_device_spec(file);
    FAIL() << "expected SpecError";
  } catch (const SpecError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    // The parser stops after the unexpected token "arch", which ends at byte 44.
    EXPECT_NE(message.find("malformed JSON at byte 44"), std::string::npos) << message;
    EXPECT_NE(message.find("line 2"), std::string::npos) << message;
  }
}

TEST(DeviceSpecErrors, RealSpecRoundTripsThroughTheTempFileHelper) {
  // Guards the generated-variant tests below: the unmodified document must load.
  TempDir dir;
  const fs::path file = dir.path() / "spec.json";
  write_text(file, read_json(real_spec_path("n300")).dump(2));
  EXPECT_EQ(wormsim::arch::load_device_spec(file).worker_count(), 64u);
}

struct BadSpecCase {
  std::string name;
  std::function<void(json&)> mutate;
  std::vector<std::string> expected;  // substrings of the error message
};

void PrintTo(const BadSpecCase& c, std::ostream* os) { *os << c.name; }

json& at(json& doc, const std::string& pointer) { return doc.at(json::json_pointer(pointer)); }
void erase(json& doc, const std::string& parent, const std::string& key) {
  at(doc, parent).erase(key);
}

const std::vector<BadSpecCase>& bad_spec_cases() {
  static const std::vector<BadSpecCase> cases = {
      // missing fields
      {"missing_leaf",
       [](json& d) { erase(d, "/noc", "hop_latency_cycles"); },
       {"/noc/hop_latency_cycles: missing; add {\"value\": ..., \"source\": \"...\"}"}},
      {"missing_section", [](json& d) { d.erase("host"); }, {"/host: missing"}},
      {"missing_name", [](json& d) { d.erase("name"); }, {"/name: missing"}},
      {"missing_value",
       [](json& d) { erase(d, "/l1/size_bytes", "value"); },
       {"/l1/size_bytes/value: missing"}},
      {"missing_bank_field",
       [](json& d) { erase(d, "/dram/banks/value/4", "controller"); },
       {"/dram/banks/value/4/controller: missing"}},
      {"missing_coord_axis",
       [](json& d) { erase(d, "/pcie/noc_endpoint/value", "y"); },
       {"/pcie/noc_endpoint/value/y: missing"}},
      // sources
      {"missing_source",
       [](json& d) { erase(d, "/l1/size_bytes", "source"); },
       {"/l1/size_bytes/source: missing"}},
      {"empty_source",
       [](json& d) { at(d, "/l1/size_bytes/source") = "  "; },
       {"/l1/size_bytes/source: empty"}},
      {"source_not_string",
       [](json& d) { at(d, "/dram/banks/source") = 5; },
       {"/dram/banks/source", "expected a string"}},
      // wrong types
      {"root_not_object", [](json& d) { d = json::array(); }, {"/: expected an object"}},
      {"leaf_not_object",
       [](json& d) { at(d, "/l1/num_banks") = 16; },
       {"/l1/num_banks: expected {\"value\""}},
      {"string_for_number",
       [](json& d) { at(d, "/noc/link_bytes_per_cycle/value") = "32"; },
       {"/noc/link_bytes_per_cycle/value", "expected a number"}},
      {"fraction_for_integer",
       [](json& d) { at(d, "/noc/hop_latency_cycles/value") = 9.5; },
       {"/noc/hop_latency_cycles/value", "integer"}},
      {"negative_for_unsigned",
       [](json& d) { at(d, "/dram/read_latency_cycles/value") = -1; },
       {"/dram/read_latency_cycles/value", "non-negative integer"}},
      {"u32_overflow",
       [](json& d) { at(d, "/noc/request_issue_cycles/value") = 5'000'000'000ll; },
       {"/noc/request_issue_cycles/value", "32 bits"}},
      {"array_for_coord",
       [](json& d) {
         at(d, "/chip/arc/value") = json::array({0, 10});
       },
       {"/chip/arc/value: expected an object"}},
      {"object_for_list",
       [](json& d) { at(d, "/chip/worker_rows/value") = json::object(); },
       {"/chip/worker_rows/value: expected an array"}},
      {"format_version", [](json& d) { d["format_version"] = 2; }, {"/format_version"}},
      {"unmodelled_arch", [](json& d) { d["arch"] = "blackhole"; }, {"/arch", "blackhole"}},
      // out of range
      {"zero_clock",
       [](json& d) { at(d, "/clock_mhz/value") = 0; },
       {"/clock_mhz/value: must be positive"}},
      {"zero_chips", [](json& d) { at(d, "/num_chips/value") = 0; }, {"/num_chips/value"}},
      {"zero_dram_bandwidth",
       [](json& d) { at(d, "/dram/bank_peak_bytes_per_cycle/value") = 0; },
       {"/dram/bank_peak_bytes_per_cycle/value: must be positive"}},
      {"negative_link_bandwidth",
       [](json& d) { at(d, "/noc/link_bytes_per_cycle/value") = -32; },
       {"/noc/link_bytes_per_cycle/value: must be positive"}},
      {"zero_eth_bandwidth",
       [](json& d) { at(d, "/ethernet/bytes_per_cycle_per_direction/value") = 0.0; },
       {"/ethernet/bytes_per_cycle_per_direction/value"}},
      {"zero_pcie_bandwidth",
       [](json& d) { at(d, "/pcie/device_to_host_bytes_per_cycle/value") = 0; },
       {"/pcie/device_to_host_bytes_per_cycle/value"}},
      {"achievable_above_peak",
       [](json& d) { at(d, "/dram/bank_achievable_bytes_per_cycle/value") = 25; },
       {"/dram/bank_achievable_bytes_per_cycle/value", "exceeds"}},
      {"usable_l1_above_size",
       [](json& d) { at(d, "/l1/usable_bytes/value") = 2'000'000; },
       {"/l1/usable_bytes/value", "exceeds /l1/size_bytes"}},
      {"usable_region_short_of_l1_end",
       [](json& d) { at(d, "/l1/first_usable_address/value") = 103'696; },
       {"/l1/first_usable_address/value", "!= size_bytes"}},
      {"alignment_not_power_of_two",
       [](json& d) { at(d, "/dram/read_alignment_bytes/value") = 24; },
       {"/dram/read_alignment_bytes/value", "power of two"}},
      {"packet_not_whole_flits",
       [](json& d) { at(d, "/noc/max_packet_bytes/value") = 8200; },
       {"/noc/max_packet_bytes/value", "/noc/flit_bytes"}},
      {"dst_fp32_above_bf16",
       [](json& d) { at(d, "/compute/dst_tiles_fp32/value") = 16; },
       {"/compute/dst_tiles_fp32/value"}},
      {"empty_grid",
       [](json& d) { at(d, "/chip/noc_grid/value/x") = 0; },
       {"/chip/noc_grid/value"}},
      // layout consistency
      {"worker_column_outside_grid",
       [](json& d) { at(d, "/chip/worker_columns/value/7") = 10; },
       {"/chip/worker_columns/value/7", "outside the NoC grid"}},
      {"worker_row_outside_grid",
       [](json& d) { at(d, "/chip/worker_rows/value/0") = -1; },
       {"/chip/worker_rows/value/0", "outside the NoC grid"}},
      {"duplicate_worker_column",
       [](json& d) { at(d, "/chip/worker_columns/value/1") = 1; },
       {"/chip/worker_columns/value/1", "listed twice"}},
      {"no_worker_rows",
       [](json& d) { at(d, "/chip/worker_rows/value") = json::array(); },
       {"/chip/worker_rows/value: empty"}},
      {"worker_on_dram_tile",
       [](json& d) { at(d, "/chip/worker_columns/value/3") = 5; },
       {"/chip/worker_columns/value/3", "/dram/controller_endpoints/value/", "(DRAM)"}},
      {"worker_on_eth_tile",
       [](json& d) { at(d, "/chip/worker_rows/value/4") = 6; },
       {"/chip/worker_columns/value/0", "/chip/worker_rows/value/4",
        "/ethernet/channel_cores/value/9 (Ethernet)"}},
      {"worker_on_pcie_tile",
       [](json& d) {
         at(d, "/pcie/noc_endpoint/value") = {{"x", 2}, {"y", 2}};
       },
       {"/chip/worker_columns/value/1", "/pcie/noc_endpoint/value (PCIe)"}},
      {"worker_on_arc_tile",
       [](json& d) {
         at(d, "/chip/arc/value") = {{"x", 3}, {"y", 3}};
       },
       {"worker tile (3,3)", "/chip/arc/value (ARC)"}},
      {"worker_on_router_only_tile",
       [](json& d) {
         at(d, "/chip/router_only/value/0") = {{"x", 4}, {"y", 4}};
       },
       {"worker tile (4,4)", "/chip/router_only/value/0 (router-only)"}},
      {"arc_on_pcie_tile",
       [](json& d) {
         at(d, "/chip/arc/value") = {{"x", 0}, {"y", 3}};
       },
       {"/chip/arc/value", "already used by /pcie/noc_endpoint/value"}},
      {"dram_tile_outside_grid",
       [](json& d) { at(d, "/dram/controller_endpoints/value/0/0/y") = 12; },
       {"/dram/controller_endpoints/value/0/0", "outside"}},
      // DRAM consistency
      {"controller_count_mismatch",
       [](json& d) { at(d, "/dram/num_controllers/value") = 5; },
       {"/dram/controller_endpoints/value", "/dram/num_controllers"}},
      {"controller_without_tiles",
       [](json& d) { at(d, "/dram/controller_endpoints/value/2") = json::array(); },
       {"/dram/controller_endpoints/value/2", "no NoC endpoints"}},
      {"no_banks",
       [](json& d) { at(d, "/dram/banks/value") = json::array(); },
       {"/dram/banks/value", "no DRAM banks"}},
      {"duplicate_bank_id",
       [](json& d) { at(d, "/dram/banks/value/5/id") = 4; },
       {"/dram/banks/value/5/id", "duplicate DRAM bank id 4", "/dram/banks/value/4"}},
      {"bank_id_out_of_range",
       [](json& d) { at(d, "/dram/banks/value/11/id") = 12; },
       {"/dram/banks/value/11/id", "out of range"}},
      {"bank_controller_out_of_range",
       [](json& d) { at(d, "/dram/banks/value/3/controller") = 6; },
       {"/dram/banks/value/3/controller", ">= /dram/num_controllers"}},
      {"bank_endpoint_off_its_controller",
       [](json& d) {
         at(d, "/dram/banks/value/0/noc_endpoint") = {{"x", 0}, {"y", 5}};
       },
       {"/dram/banks/value/0/noc_endpoint", "controller 0"}},
      {"banks_overlap",
       [](json& d) { at(d, "/dram/banks/value/1/offset_bytes") = 0; },
       {"/dram/banks/value/1/offset_bytes", "overlaps"}},
      {"bank_offset_unaligned",
       [](json& d) { at(d, "/dram/banks/value/1/offset_bytes") = 4096; },
       {"/dram/banks/value/1/offset_bytes", "/dram/bank_size_bytes"}},
      // Ethernet consistency
      {"eth_core_does_not_match_channel",
       [](json& d) {
         at(d, "/ethernet/links/value/0/core_a") = {{"x", 1}, {"y", 6}};
       },
       {"/ethernet/links/value/0/core_a", "channel 8", "(9,6)"}},
      {"eth_channel_without_core",
       [](json& d) { at(d, "/ethernet/links/value/1/channel_b") = 16; },
       {"/ethernet/links/value/1/channel_b", "/ethernet/channel_cores"}},
      {"eth_chip_out_of_range",
       [](json& d) { at(d, "/ethernet/links/value/0/chip_b") = 2; },
       {"/ethernet/links/value/0/chip_b", "/num_chips"}},
      {"eth_link_to_itself",
       [](json& d) { at(d, "/ethernet/links/value/0/chip_b") = 0; },
       {"/ethernet/links/value/0/chip_b", "to itself"}},
      {"eth_channel_used_twice",
       [](json& d) {
         at(d, "/ethernet/links/value/1/channel_a") = 8;
         at(d, "/ethernet/links/value/1/core_a") = {{"x", 9}, {"y", 6}};
       },
       {"/ethernet/links/value/1/channel_a", "used by two links"}},
      {"eth_too_many_reserved",
       [](json& d) { at(d, "/ethernet/links_reserved_for_dispatch/value") = 3; },
       {"/ethernet/links_reserved_for_dispatch/value", "only 2"}},
      {"pcie_chip_out_of_range",
       [](json& d) { at(d, "/pcie/mmio_chip/value") = 2; },
       {"/pcie/mmio_chip/value", "/num_chips"}},
      // compute tables
      {"matmul_fidelity_too_short",
       [](json& d) {
         at(d, "/compute/matmul_tile_cycles/value") = {16, 32, 48};
       },
       {"/compute/matmul_tile_cycles/value: has 3 entries; give 4"}},
      {"eltwise_mul_fidelity_too_long",
       [](json& d) {
         at(d, "/compute/eltwise_mul_tile_cycles/value") = {8, 16, 24, 32, 40};
       },
       {"/compute/eltwise_mul_tile_cycles/value: has 5 entries"}},
      {"fidelity_cycles_decrease",
       [](json& d) {
         at(d, "/compute/matmul_tile_cycles/value") = {16, 32, 24, 64};
       },
       {"/compute/matmul_tile_cycles/value/2", "HiFi3"}},
      {"sfpu_map_empty",
       [](json& d) { at(d, "/compute/sfpu_tile_cycles") = json::object(); },
       {"/compute/sfpu_tile_cycles: empty"}},
      {"unpack_map_empty",
       [](json& d) { at(d, "/compute/unpack_tile_cycles") = json::object(); },
       {"/compute/unpack_tile_cycles: empty"}},
      {"pack_map_empty",
       [](json& d) { at(d, "/compute/pack_tile_cycles") = json::object(); },
       {"/compute/pack_tile_cycles: empty"}},
      {"unpack_format_missing",
       [](json& d) { erase(d, "/compute/unpack_tile_cycles", "BFloat8_B"); },
       {"/compute/unpack_tile_cycles/BFloat8_B: missing"}},
      {"pack_format_misspelled",
       [](json& d) {
         at(d, "/compute/pack_tile_cycles")["Bfloat16"] =
             at(d, "/compute/pack_tile_cycles/BFloat16");
       },
       {"/compute/pack_tile_cycles/Bfloat16", "unknown data format"}},
      {"sfpu_op_name_not_snake_case",
       [](json& d) {
         at(d, "/compute/sfpu_tile_cycles")["Gelu"] = at(d, "/compute/sfpu_tile_cycles/gelu");
       },
       {"/compute/sfpu_tile_cycles/Gelu", "lower_snake_case"}},
      {"sfpu_zero_cycles",
       [](json& d) { at(d, "/compute/sfpu_tile_cycles/gelu/value") = 0; },
       {"/compute/sfpu_tile_cycles/gelu/value: must be positive"}},
      {"tilize_cycles_need_two_entries",
       [](json& d) { at(d, "/compute/tilize_tile_cycles/BFloat16/BFloat8_B/value") = {40}; },
       {"/compute/tilize_tile_cycles/BFloat16/BFloat8_B/value: has 1 entries; give 2"}},
      {"tilize_cycles_unknown_output_format",
       [](json& d) {
         at(d, "/compute/tilize_tile_cycles/BFloat16")["Bfloat8"] =
             at(d, "/compute/tilize_tile_cycles/BFloat16/BFloat8_B");
       },
       {"/compute/tilize_tile_cycles/BFloat16/Bfloat8", "unknown data format"}},
      {"tilize_cycles_zero",
       [](json& d) {
         at(d, "/compute/tilize_tile_cycles/Float32/Float32/value") = {0, 128};
       },
       {"/compute/tilize_tile_cycles/Float32/Float32/value/0: must be positive"}},
      // unknown keys
      {"misspelled_section_key",
       [](json& d) { at(d, "/noc")["hop_latncy_cycles"] = at(d, "/noc/hop_latency_cycles"); },
       {"/noc: unknown key \"hop_latncy_cycles\""}},
      {"unknown_top_level_key",
       [](json& d) { d["extra_section"] = json::object(); },
       {"/: unknown key \"extra_section\""}},
      {"unknown_key_in_leaf",
       [](json& d) { at(d, "/noc/flit_bytes")["note"] = "x"; },
       {"/noc/flit_bytes: unknown key \"note\""}},
      {"unknown_key_in_coord",
       [](json& d) { at(d, "/chip/arc/value")["z"] = 1; },
       {"/chip/arc/value: unknown key \"z\""}},
      {"unknown_key_in_bank",
       [](json& d) { at(d, "/dram/banks/value/2")["ctrl"] = 1; },
       {"/dram/banks/value/2: unknown key \"ctrl\""}},
      {"unknown_key_in_link",
       [](json& d) { at(d, "/ethernet/links/value/0")["speed"] = 1; },
       {"/ethernet/links/value/0: unknown key \"speed\""}},
      // host execution-mode costs
      {"missing_queue_sync",
       [](json& d) { erase(d, "/host", "queue_sync_ns"); },
       {"/host/queue_sync_ns: missing"}},
      {"missing_postprocess",
       [](json& d) { erase(d, "/host", "postprocess_ns"); },
       {"/host/postprocess_ns: missing"}},
      {"missing_postprocess_per_element_source",
       [](json& d) { erase(d, "/host/postprocess_ns_per_output_element", "source"); },
       {"/host/postprocess_ns_per_output_element/source: missing"}},
      {"negative_postprocess_per_element",
       [](json& d) { at(d, "/host/postprocess_ns_per_output_element/value") = -1.5; },
       {"/host/postprocess_ns_per_output_element/value", "zero or positive"}},
      {"fraction_for_queue_sync",
       [](json& d) { at(d, "/host/queue_sync_ns/value") = 1.5; },
       {"/host/queue_sync_ns/value", "integer"}},
      {"unknown_key_in_host",
       [](json& d) {
         at(d, "/host")["event_ns"] = {{"value", 1}, {"source", "typo"}};
       },
       {"/host: unknown key \"event_ns\""}},
  };
  return cases;
}

class BadSpecTest : public ::testing::TestWithParam<BadSpecCase> {};

TEST_P(BadSpecTest, ErrorNamesTheJsonPath) {
  const BadSpecCase& c = GetParam();
  json doc = read_json(real_spec_path("n300"));
  c.mutate(doc);
  const std::string message = load_error(doc);
  EXPECT_NE(message.find("spec.json: "), std::string::npos) << message;
  for (const std::string& expected : c.expected) {
    EXPECT_NE(message.find(expected), std::string::npos)
        << "expected \"" << expected << "\" in: " << message;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryKind, BadSpecTest, ::testing::ValuesIn(bad_spec_cases()),
                         [](const ::testing::TestParamInfo<BadSpecCase>& info) {
                           return info.param.name;
                         });

// ---- summary JSON ----

TEST(DeviceSpecSummary, HasDerivedFiguresAndOptionalSources) {
  const DeviceSpec spec = wormsim::arch::load_device_spec_by_name("n300");
  const json summary = wormsim::arch::device_spec_summary_json(spec, false);
  EXPECT_FALSE(summary.contains("sources"));
  EXPECT_EQ(summary["chip"]["workers_per_board"], 128);
  EXPECT_DOUBLE_EQ(summary["dram"]["chip_peak_gb_per_s"].get<double>(), 288.0);
  EXPECT_DOUBLE_EQ(summary["dram"]["board_peak_gb_per_s"].get<double>(), 576.0);
  EXPECT_NEAR(summary["peak_matmul_tflops"]["HiFi4"]["per_board"].get<double>(), 131.072, 1e-9);
  EXPECT_EQ(summary["compute"]["matmul_tile_cycles"]["HiFi2"], 32);
  const json with_sources = wormsim::arch::device_spec_summary_json(spec, true);
  EXPECT_EQ(with_sources["sources"].size(), spec.sources.size());
}

// ---- CLI ----

struct CommandResult {
  int exit_code{-1};
  std::string output;
};

// Runs the wormsim binary; `redirect` picks what the shell does with stderr.
CommandResult run_wormsim(const std::string& args, const std::string& redirect = "2>&1") {
  const std::string command = std::string("\"") + WORMSIM_BINARY + "\" " + args + " " + redirect;
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen failed for " << command;
    return result;
  }
  std::array<char, 4096> buffer{};
  std::size_t read = 0;
  while ((read = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), read);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

TEST(DevicesCli, ListsBothBoards) {
  const CommandResult r = run_wormsim("devices");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("n150"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("n300"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("8x8"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("wormhole_b0"), std::string::npos) << r.output;
}

TEST(DevicesCli, SpecShowTablePrintsTheDevice) {
  const CommandResult r = run_wormsim("spec show n300");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* expected : {"1000 MHz", "10 x 12", "8 x 8 = 64 per chip, 128 per board",
                               "1499136 B", "(0,11)", "288 B/cycle (288.0 GB/s)", "65.5", "262.1",
                               "chip 0 ch8 (9,6) <-> chip 1 ch0 (9,0)", "(0,3) on chip 0"}) {
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << " missing in\n"
                                                          << r.output;
  }
  EXPECT_EQ(r.output.find("source /"), std::string::npos) << "sources only with --sources";
}

TEST(DevicesCli, SpecShowWithSourcesPrintsThem) {
  const CommandResult r = run_wormsim("spec show n150 --sources");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("source /clock_mhz: AICLK 1 GHz"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("source /compute/sfpu_tile_cycles/gelu:"), std::string::npos);
}

TEST(DevicesCli, SpecShowJsonIsValidJson) {
  const CommandResult r = run_wormsim("spec show n300 --format json", "2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json doc = json::parse(r.output);
  EXPECT_EQ(doc["name"], "n300");
  EXPECT_EQ(doc["num_chips"], 2);
  EXPECT_EQ(doc["dram"]["banks"].size(), 12u);
  EXPECT_EQ(doc["chip"]["workers_per_chip"], 64);
  EXPECT_NEAR(doc["peak_matmul_tflops"]["LoFi"]["per_chip"].get<double>(), 262.144, 1e-6);
  EXPECT_EQ(doc["ethernet"]["links"].size(), 2u);
  EXPECT_FALSE(doc.contains("sources"));

  const CommandResult with_sources =
      run_wormsim("spec show n300 --format json --sources", "2>/dev/null");
  ASSERT_EQ(with_sources.exit_code, 0);
  const json sourced = json::parse(with_sources.output);
  EXPECT_TRUE(sourced["sources"].contains("/noc/link_bytes_per_cycle"));
}

TEST(DevicesCli, UnknownDeviceFailsWithAClearMessage) {
  const CommandResult r = run_wormsim("spec show n999");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("wormsim: error: unknown device \"n999\""), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("n150, n300"), std::string::npos) << r.output;
}

TEST(DevicesCli, BadFormatIsRejected) {
  const CommandResult r = run_wormsim("spec show n300 --format xml");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("xml"), std::string::npos) << r.output;
}

}  // namespace
