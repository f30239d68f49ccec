#include "analysis/microbench_report.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "analysis/csv_table.hpp"
#include "noc/microbenchmarks.hpp"

namespace wormsim::analysis {
namespace {

// Which row of which file holds the silicon figure a benchmark mirrors. Rows are matched by
// substrings of their descriptive columns, so the numbers themselves stay in the data files.
struct ReferenceRow {
  std::string benchmark;
  std::string file;  // "calibration:<name>" or "project:<name>"
  std::string category_contains;
  std::string test_contains;
  std::string config_contains;
  std::string metric_contains;
  std::size_t value_index{0};
};

const std::vector<ReferenceRow>& reference_rows() {
  static const std::vector<ReferenceRow> rows = {
      {"dram_bw_12_readers_tuned", "calibration:microbenchmarks.csv", "1 reader per bank",
       "DRAM u-benchmark", "12 GT/s", "achieved BW", 0},
      {"dram_bw_12_readers_random_noc0", "project:reference_measurements.csv", "DRAM bandwidth",
       "12 randomly chosen", "NoC0", "achieved BW", 0},
      {"dram_bw_12_readers_random_noc1", "project:reference_measurements.csv", "DRAM bandwidth",
       "12 randomly chosen", "NoC1", "achieved BW", 0},
      {"dram_bw_48_readers_random_noc0", "project:reference_measurements.csv", "DRAM bandwidth",
       "48 randomly chosen", "NoC0", "achieved BW", 0},
      {"dram_bw_48_readers_random_noc1", "project:reference_measurements.csv", "DRAM bandwidth",
       "48 randomly chosen", "NoC1", "achieved BW", 0},
      {"dram_read_single_core", "calibration:microbenchmarks.csv", "",
       "DRAM Interleaved Packet Sizes (single core)", "", "DRAM read BW saturation", 0},
      {"dram_write_single_core", "calibration:microbenchmarks.csv", "",
       "DRAM Interleaved Packet Sizes (single core)", "", "DRAM write BW saturation", 0},
      {"one_to_one_write", "calibration:microbenchmarks.csv", "", "One to One Directed Ideal", "",
       "bandwidth lower bound", 0},
      {"one_from_one_read", "calibration:microbenchmarks.csv", "", "One from One Directed Ideal",
       "", "bandwidth lower bound", 0},
      {"one_to_all_unicast", "calibration:microbenchmarks.csv", "",
       "One to All Unicast Directed Ideal", "", "bandwidth lower bound", 0},
      {"one_to_all_multicast", "calibration:microbenchmarks.csv", "",
       "One to All Multicast Linked Directed Ideal", "", "bandwidth lower bound", 0},
      {"ethernet_one_way_latency", "calibration:microbenchmarks.csv", "",
       "single ethernet link ping-response", "", "one-way send latency", 0},
      {"pcie_host_to_device_l1", "project:reference_measurements.csv", "PCIe",
       "host DMA to device L1", "", "achieved BW", 0},
  };
  return rows;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return needle.empty() || haystack.find(needle) != std::string::npos;
}

// Units the calibration files use for the same quantity.
bool same_unit(const std::string& a, const std::string& b) {
  auto canonical = [](std::string u) {
    if (u == "bytes/cycle") return std::string("B/cycle");
    return u;
  };
  return canonical(a) == canonical(b);
}

}  // namespace

std::vector<MicrobenchRow> run_microbench_report(const arch::DeviceSpec& spec) {
  std::map<std::string, std::optional<CsvTable>> tables;
  auto table_for = [&](const std::string& file) -> const CsvTable* {
    auto it = tables.find(file);
    if (it == tables.end()) {
      const auto colon = file.find(':');
      const std::string where = file.substr(0, colon);
      const std::string name = file.substr(colon + 1);
      const std::filesystem::path path =
          (where == "calibration" ? calibration_directory() : project_data_directory()) / name;
      std::optional<CsvTable> table;
      if (std::filesystem::exists(path)) table = read_csv(path);
      it = tables.emplace(file, std::move(table)).first;
    }
    return it->second ? &*it->second : nullptr;
  };

  std::vector<MicrobenchRow> report;
  for (const noc::Microbenchmark& bench : noc::microbenchmarks()) {
    if (bench.name == "ethernet_one_way_latency" && spec.ethernet.links.empty()) continue;
    const noc::MicrobenchmarkResult result = bench.run(spec);
    MicrobenchRow row;
    row.name = bench.name;
    row.description = bench.description;
    row.simulated = result.simulated;
    row.unit = result.unit;
    const auto ref = std::find_if(reference_rows().begin(), reference_rows().end(),
                                  [&](const ReferenceRow& r) { return r.benchmark == bench.name; });
    if (ref != reference_rows().end()) {
      if (const CsvTable* table = table_for(ref->file)) {
        const std::size_t category = table->column("category");
        const std::size_t test = table->column("test");
        const std::size_t config = table->column("config");
        const std::size_t metric = table->column("metric");
        const std::size_t value = table->column("value");
        const std::size_t unit = table->column("unit");
        const std::size_t status = table->column("status");
        const std::size_t source = table->column("source");
        for (const auto& csv_row : table->rows) {
          if (!contains(csv_row[category], ref->category_contains) || !contains(csv_row[test], ref->test_contains) ||
              !contains(csv_row[config], ref->config_contains) || !contains(csv_row[metric], ref->metric_contains)) {
            continue;
          }
          const std::optional<double> measured = parse_measured_value(csv_row[value], ref->value_index);
          if (!measured || !same_unit(csv_row[unit], row.unit)) continue;
          row.measured = measured;
          row.measured_kind = csv_row[status];
          row.source = ref->file.substr(ref->file.find(':') + 1) + ": " + csv_row[source];
          row.error_pct = (row.simulated - *measured) / *measured * 100.0;
          break;
        }
      }
    }
    report.push_back(std::move(row));
  }
  return report;
}

}  // namespace wormsim::analysis
