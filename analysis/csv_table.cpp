#include "analysis/csv_table.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sim/error.hpp"

namespace wormsim::analysis {

std::optional<std::size_t> CsvTable::find_column(const std::string& name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  return std::nullopt;
}

std::size_t CsvTable::column(const std::string& name) const {
  if (auto index = find_column(name)) return *index;
  throw Error("CSV file " + path.string() + " has no column '" + name + "'");
}

CsvTable parse_csv(const std::string& text, const std::filesystem::path& origin) {
  CsvTable table;
  table.path = origin;
  std::vector<std::vector<std::string>> records;
  std::vector<std::size_t> record_lines;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false;
  bool field_started = false;
  std::size_t line = 1;
  std::size_t record_line = 1;
  // A UTF-8 byte order mark (spreadsheet exports) is not part of the first column's name.
  const std::size_t start = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    switch (c) {
      case '"':
        if (field_started && !field.empty()) {
          throw Error("CSV file " + origin.string() + " line " + std::to_string(line) +
                      ": a quote inside an unquoted field; quote the whole field");
        }
        quoted = true;
        field_started = true;
        break;
      case ',':
        record.push_back(std::move(field));
        field.clear();
        field_started = false;
        break;
      case '\r':
        break;
      case '\n':
        record.push_back(std::move(field));
        field.clear();
        field_started = false;
        records.push_back(std::move(record));
        record_lines.push_back(record_line);
        record.clear();
        ++line;
        record_line = line;
        break;
      default:
        field += c;
        field_started = true;
    }
  }
  if (quoted)
    throw Error("CSV file " + origin.string() + ": unterminated quoted field at end of file");
  if (field_started || !field.empty() || !record.empty()) {
    record.push_back(std::move(field));
    records.push_back(std::move(record));
    record_lines.push_back(record_line);
  }
  if (records.empty())
    throw Error("CSV file " + origin.string() + " is empty; it needs a header row");
  table.header = std::move(records.front());
  for (std::size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() == 1 && records[r][0].empty()) continue;  // blank line
    table.rows.push_back(std::move(records[r]));
    table.rows.back().resize(std::max(table.rows.back().size(), table.header.size()));
    table.row_lines.push_back(record_lines[r]);
  }
  return table;
}

CsvTable read_csv(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open CSV file " + path.string() + "; check the path");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string content = text.str();
  if (content.find('\0') != std::string::npos) {
    throw Error("file " + path.string() +
                " is binary (it holds NUL bytes), not a CSV file; pass the CSV itself");
  }
  return parse_csv(content, path);
}

std::string csv_escape(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char c : field) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

std::optional<double> parse_measured_value(const std::string& text, std::size_t index) {
  // Split on '/' into alternatives, take `index`, then read "a" or "a-b" ignoring '~' and
  // any trailing note.
  std::vector<std::string> parts;
  std::string current;
  for (char c : text) {
    if (c == '/') {
      parts.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(current);
  if (index >= parts.size()) return std::nullopt;
  const std::string& part = parts[index];
  std::size_t pos = 0;
  while (pos < part.size() &&
         (std::isspace(static_cast<unsigned char>(part[pos])) || part[pos] == '~'))
    ++pos;
  const char* begin = part.c_str() + pos;
  char* end = nullptr;
  const double first = std::strtod(begin, &end);
  if (end == begin) return std::nullopt;
  if (*end == '-') {
    const char* second_begin = end + 1;
    char* second_end = nullptr;
    const double second = std::strtod(second_begin, &second_end);
    if (second_end != second_begin) return (first + second) / 2.0;
  }
  return first;
}

std::filesystem::path calibration_directory() {
  if (const char* env = std::getenv("WORMSIM_CALIBRATION_DIR"); env != nullptr && *env != '\0')
    return env;
  return WORMSIM_CALIBRATION_DIR;
}

std::filesystem::path project_data_directory() {
  return std::filesystem::path(WORMSIM_SOURCE_DIR) / "analysis" / "data";
}

}  // namespace wormsim::analysis
