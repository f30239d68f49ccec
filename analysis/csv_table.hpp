#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace wormsim::analysis {

// A CSV file read whole (RFC 4180: quoted fields, doubled quotes, commas and newlines inside
// quotes). Header names are kept exactly as written.
struct CsvTable {
  std::filesystem::path path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::size_t> row_lines;  // line of the file where each row starts (header = 1)

  // Index of a column; throws wormsim::Error naming the file and the column if absent.
  std::size_t column(const std::string& name) const;
  std::optional<std::size_t> find_column(const std::string& name) const;
};

// Throws wormsim::Error for a missing or unreadable file and for binary content (NUL bytes).
CsvTable read_csv(const std::filesystem::path& path);
CsvTable parse_csv(const std::string& text, const std::filesystem::path& origin = "<text>");
// Quotes a field if it holds a comma, quote or newline.
std::string csv_escape(const std::string& field);

// A measured figure as the calibration files write it: "267", "~37", "22.3", "530-620"
// (a range: its midpoint), "30 / 26" (several: pick `index`), "~35 (expected 64)".
std::optional<double> parse_measured_value(const std::string& text, std::size_t index = 0);

// ../shared/calibration (or $WORMSIM_CALIBRATION_DIR).
std::filesystem::path calibration_directory();
// analysis/data in the source tree: the project's own reference rows and mappings.
std::filesystem::path project_data_directory();

}  // namespace wormsim::analysis
