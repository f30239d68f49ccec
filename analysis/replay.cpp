// `wormsim replay`: reading an ops_perf_results CSV, simulating its ops, comparing and reporting.
#include "analysis/replay.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "analysis/calibration.hpp"
#include "analysis/run_profile.hpp"
#include "analysis/text_table.hpp"
#include "ops/isolated_run.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::analysis {
namespace {

constexpr const char* kDeviceOpType = "tt_dnn_device";
constexpr const char* kKernelColumn = "DEVICE KERNEL DURATION [ns]";

const char* const kWhereFrom =
    "; `wormsim replay` reads tt-metal's ops_perf_results_<timestamp>.csv, written by "
    "tools/tracy/process_ops_logs.py for a run with the device profiler on "
    "(TT_METAL_DEVICE_PROFILER=1)";

std::string trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return std::string(text);
}

std::string shape_suffix(OpsPerfHeaderVersion version, char dim) {
  return std::string(1, dim) + (version == OpsPerfHeaderVersion::V1 ? "" : "_PAD[LOGICAL]");
}

// The INPUT_<i> / OUTPUT_<i> groups present in full, in order.
std::vector<OpsPerfTensorColumns> tensor_groups(const CsvTable& table, OpsPerfHeaderVersion version,
                                                const std::string& kind) {
  std::vector<OpsPerfTensorColumns> groups;
  for (std::size_t i = 0;; ++i) {
    const std::string prefix = kind + "_" + std::to_string(i) + "_";
    OpsPerfTensorColumns g;
    bool complete = true;
    for (std::size_t d = 0; d < 4 && complete; ++d) {
      const auto c = table.find_column(prefix + shape_suffix(version, "WZYX"[d]));
      complete = c.has_value();
      if (c) g.wzyx[d] = *c;
    }
    const auto layout = table.find_column(prefix + "LAYOUT");
    const auto dtype = table.find_column(prefix + "DATATYPE");
    const auto memory = table.find_column(prefix + "MEMORY");
    if (!complete || !layout || !dtype || !memory) break;
    g.layout = *layout;
    g.data_type = *dtype;
    g.memory = *memory;
    groups.push_back(g);
  }
  return groups;
}

OpsPerfFile check_ops_perf_table(CsvTable table) {
  for (const char* column : {"OP CODE", "OP TYPE", "ATTRIBUTES", kKernelColumn}) {
    if (!table.find_column(column)) {
      throw Error("CSV file " + table.path.string() + " has no column '" + column + "'" +
                  kWhereFrom);
    }
  }
  OpsPerfFile file;
  file.version = detect_ops_perf_header(table.header);
  file.input_columns = tensor_groups(table, file.version, "INPUT");
  file.output_columns = tensor_groups(table, file.version, "OUTPUT");
  if (file.input_columns.empty()) {
    const std::string shape = "INPUT_0_" + shape_suffix(file.version, 'W');
    for (const std::string& column :
         {shape, std::string("INPUT_0_LAYOUT"), std::string("INPUT_0_DATATYPE"),
          std::string("INPUT_0_MEMORY")}) {
      if (!table.find_column(column)) {
        throw Error("CSV file " + table.path.string() + " has no column '" + column +
                    "': the per-tensor columns (INPUT_<i>_W/Z/Y/X, _LAYOUT, _DATATYPE, _MEMORY) "
                    "rebuild the ops" +
                    kWhereFrom);
      }
    }
    throw Error("CSV file " + table.path.string() + " has an incomplete INPUT_0 column group" +
                kWhereFrom);
  }
  file.table = std::move(table);
  return file;
}

const std::string& cell(const OpsPerfFile& file, std::size_t row, std::size_t column) {
  return file.table.rows[row].at(column);
}

std::string optional_cell(const OpsPerfFile& file, std::size_t row, const char* column) {
  const auto index = file.table.find_column(column);
  return index ? trim(cell(file, row, *index)) : std::string();
}

std::optional<double> number_cell(const OpsPerfFile& file, std::size_t row, const char* column) {
  const std::string text = optional_cell(file, row, column);
  if (text.empty()) return std::nullopt;
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !std::isfinite(value)) {
    throw Error(std::string(column) + " cell '" + text + "' is not a number");
  }
  return value;
}

std::optional<ProfileTensor> read_tensor(const OpsPerfFile& file, std::size_t row,
                                         const OpsPerfTensorColumns& g, const std::string& name) {
  std::array<std::string, 4> dims;
  bool any = false;
  for (std::size_t d = 0; d < 4; ++d) {
    dims[d] = trim(cell(file, row, g.wzyx[d]));
    any = any || !dims[d].empty();
  }
  const std::string layout = trim(cell(file, row, g.layout));
  const std::string dtype = trim(cell(file, row, g.data_type));
  const std::string memory = trim(cell(file, row, g.memory));
  if (!any && layout.empty() && dtype.empty() && memory.empty()) return std::nullopt;
  ProfileTensor t;
  try {
    const ops::CsvShape shape = ops::parse_csv_shape({dims[0], dims[1], dims[2], dims[3]});
    t.logical = shape.logical;
    t.padded = shape.padded;
  } catch (const Error& e) {
    throw Error(name + " shape: " + e.what());
  }
  const auto parsed_layout = ops::parse_layout(layout);
  if (!parsed_layout) throw Error(name + "_LAYOUT '" + layout + "' is not TILE or ROW_MAJOR");
  t.layout = *parsed_layout;
  const auto parsed_dtype = ops::parse_data_type(dtype);
  if (!parsed_dtype)
    throw Error(name + "_DATATYPE '" + dtype + "' is not a data type wormsim models");
  t.data_type = *parsed_dtype;
  try {
    t.memory = ops::parse_memory_column(memory);
  } catch (const Error& e) {
    throw Error(name + "_MEMORY: " + e.what());
  }
  return t;
}

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : separator) + p;
  return out;
}

struct Simulated {
  double ns{0};
  std::uint32_t cores{0};
  std::string fallback;
};

Simulated simulate(const MappedOp& mapped, const arch::DeviceSpec& device) {
  const auto operation = ops::make_operation(mapped.op, mapped.params, mapped.inputs, device);
  const ops::OpResult result = ops::run_isolated(device, *operation, mapped.inputs, {false, 0});
  Simulated s;
  s.ns = static_cast<double>(result.record.timing.kernel_duration()) * 1000.0 / device.clock_mhz;
  s.cores = result.record.timing.core_count;
  s.fallback = operation->fallback_reason();
  return s;
}

std::string simulation_key(const MappedOp& mapped) {
  std::string key = mapped.op + "|" + mapped.params.dump();
  for (const auto& t : mapped.inputs) key += "|" + ops::to_string(t);
  return key;
}

std::string number_text(double value, int decimals) { return format_fixed(value, decimals); }

}  // namespace

std::string_view to_string(OpsPerfHeaderVersion version) {
  switch (version) {
    case OpsPerfHeaderVersion::V1:
      return "v1";
    case OpsPerfHeaderVersion::V2:
      return "v2";
    case OpsPerfHeaderVersion::V2_1:
      return "v2.1";
  }
  return "v2.1";
}

OpsPerfHeaderVersion detect_ops_perf_header(const std::vector<std::string>& header) {
  auto has = [&](const std::string& name) {
    return std::find(header.begin(), header.end(), name) != header.end();
  };
  // tt-perf-report's rule: DEVICE ARCH or AVAILABLE WORKER CORE COUNT make v2.1, _PAD[LOGICAL]
  // shape columns v2, neither v1.
  if (has("DEVICE ARCH") || has("AVAILABLE WORKER CORE COUNT")) return OpsPerfHeaderVersion::V2_1;
  for (const auto& column : header) {
    if (column.find("_PAD[LOGICAL]") != std::string::npos) return OpsPerfHeaderVersion::V2;
  }
  return OpsPerfHeaderVersion::V1;
}

OpsPerfFile read_ops_perf_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error("profile " + path.string() +
                " does not exist or is not a file; pass the path of an " +
                "ops_perf_results_<timestamp>.csv");
  }
  return check_ops_perf_table(read_csv(path));
}

OpsPerfFile parse_ops_perf_text(const std::string& text, const std::filesystem::path& origin) {
  return check_ops_perf_table(parse_csv(text, origin));
}

ProfileOp read_profile_op(const OpsPerfFile& file, std::size_t index) {
  ProfileOp op;
  op.line = index < file.table.row_lines.size() ? file.table.row_lines[index] : index + 2;
  op.op_code = optional_cell(file, index, "OP CODE");
  op.op_type = optional_cell(file, index, "OP TYPE");
  op.global_call_count = optional_cell(file, index, "GLOBAL CALL COUNT");
  op.device_arch = optional_cell(file, index, "DEVICE ARCH");
  op.attributes = optional_cell(file, index, "ATTRIBUTES");
  op.math_fidelity = optional_cell(file, index, "MATH FIDELITY");
  if (const auto cores = number_cell(file, index, "CORE COUNT")) {
    if (*cores < 0 || *cores != std::floor(*cores))
      throw Error("CORE COUNT cell is not a whole number");
    op.core_count = static_cast<std::uint32_t>(*cores);
  }
  op.kernel_ns = number_cell(file, index, kKernelColumn);
  for (std::size_t i = 0; i < file.input_columns.size(); ++i) {
    if (auto t = read_tensor(file, index, file.input_columns[i], "INPUT_" + std::to_string(i))) {
      op.inputs.push_back(std::move(*t));
    }
  }
  for (std::size_t i = 0; i < file.output_columns.size(); ++i) {
    if (auto t = read_tensor(file, index, file.output_columns[i], "OUTPUT_" + std::to_string(i))) {
      op.outputs.push_back(std::move(*t));
    }
  }
  return op;
}

std::string_view to_string(ReplayStatus status) {
  switch (status) {
    case ReplayStatus::Mapped:
      return "mapped";
    case ReplayStatus::Unmapped:
      return "unmapped";
    case ReplayStatus::Skipped:
      return "skipped";
  }
  return "unmapped";
}

ReplayResult replay_ops_perf(const OpsPerfFile& file, const arch::DeviceSpec& device) {
  ReplayResult result;
  result.source = file.table.path;
  result.header = file.version;
  result.device = device.name;
  std::map<std::string, Simulated> cache;
  for (std::size_t i = 0; i < file.table.rows.size(); ++i) {
    ReplayRow row;
    row.line = i < file.table.row_lines.size() ? file.table.row_lines[i] : i + 2;
    row.op_code = optional_cell(file, i, "OP CODE");
    row.op_type = optional_cell(file, i, "OP TYPE");
    row.global_call_count = optional_cell(file, i, "GLOBAL CALL COUNT");
    if (row.op_type != kDeviceOpType) {
      row.status = ReplayStatus::Skipped;
      row.note = row.op_type.empty()
                     ? "OP TYPE is empty: not a device op"
                     : "OP TYPE " + row.op_type + " is not a device op (" + kDeviceOpType + ")";
      result.rows.push_back(std::move(row));
      continue;
    }
    ProfileOp op;
    try {
      op = read_profile_op(file, i);
    } catch (const Error& e) {
      row.status = ReplayStatus::Unmapped;
      row.note = std::string("cannot read the row: ") + e.what();
      result.rows.push_back(std::move(row));
      continue;
    }
    row.measured_cores = op.core_count;
    row.measured_ns = op.kernel_ns;
    try {
      const MappedOp mapped = map_profile_op(op, device);
      row.wormsim_op = mapped.op;
      std::vector<std::string> notes = mapped.notes;
      const std::string key = simulation_key(mapped);
      auto it = cache.find(key);
      if (it == cache.end()) {
        try {
          it = cache.emplace(key, simulate(mapped, device)).first;
        } catch (const UnmappableOp&) {
          throw;
        } catch (const Error& e) {
          throw UnmappableOp("wormsim cannot run the rebuilt " + mapped.op + ": " + e.what());
        }
      }
      const Simulated& sim = it->second;
      row.simulated_ns = sim.ns;
      row.simulated_cores = sim.cores;
      if (!sim.fallback.empty())
        notes.push_back("recorded program config replaced by an automatic one: " + sim.fallback);
      if (!op.kernel_ns || *op.kernel_ns <= 0) {
        row.status = ReplayStatus::Unmapped;
        notes.insert(notes.begin(),
                     std::string(kKernelColumn) + " is empty or zero: nothing to compare with");
      } else {
        row.status = ReplayStatus::Mapped;
        row.error_pct = (sim.ns - *op.kernel_ns) / *op.kernel_ns * 100.0;
      }
      row.note = join(notes, "; ");
    } catch (const Error& e) {
      row.status = ReplayStatus::Unmapped;
      row.note = e.what();
    }
    result.rows.push_back(std::move(row));
  }
  result.summary = summarise_replay(result.rows);
  return result;
}

ReplaySummary summarise_replay(const std::vector<ReplayRow>& rows) {
  ReplaySummary s;
  s.rows = rows.size();
  std::vector<double> all;
  std::map<std::string, std::vector<double>> errors;
  std::map<std::string, std::size_t> unmapped;
  for (const ReplayRow& r : rows) {
    switch (r.status) {
      case ReplayStatus::Skipped:
        ++s.skipped;
        ++s.skipped_by_op_type[r.op_type.empty() ? "(empty)" : r.op_type];
        break;
      case ReplayStatus::Unmapped:
        ++s.unmapped;
        ++unmapped[r.op_code];
        errors[r.op_code];
        break;
      case ReplayStatus::Mapped:
        ++s.mapped;
        all.push_back(std::fabs(r.error_pct.value_or(0)));
        errors[r.op_code].push_back(all.back());
        break;
    }
  }
  s.median_abs_pct = percentile(all, 0.5);
  s.p90_abs_pct = percentile(all, 0.9);
  s.max_abs_pct = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  for (const auto& [code, values] : errors) {
    ReplayOpSummary op;
    op.op_code = code;
    op.count = values.size();
    op.unmapped = unmapped.count(code) ? unmapped.at(code) : 0;
    op.median_abs_pct = percentile(values, 0.5);
    op.p90_abs_pct = percentile(values, 0.9);
    op.max_abs_pct = values.empty() ? 0 : *std::max_element(values.begin(), values.end());
    s.by_op.push_back(op);
  }
  return s;
}

std::string format_replay_csv(const ReplayResult& result) {
  const std::vector<std::string> header = {"LINE",
                                           "GLOBAL CALL COUNT",
                                           "OP CODE",
                                           "OP TYPE",
                                           "STATUS",
                                           "WORMSIM OP",
                                           "CORE COUNT",
                                           "SIMULATED CORE COUNT",
                                           "MEASURED DEVICE KERNEL DURATION [ns]",
                                           "SIMULATED DEVICE KERNEL DURATION [ns]",
                                           "ERROR (%)",
                                           "NOTE"};
  std::string text;
  auto line = [&text](const std::vector<std::string>& cells) {
    for (std::size_t k = 0; k < cells.size(); ++k)
      text += (k > 0 ? "," : "") + csv_escape(cells[k]);
    text += '\n';
  };
  line(header);
  auto count = [](const std::optional<std::uint32_t>& v) {
    return v ? std::to_string(*v) : std::string();
  };
  auto value = [](const std::optional<double>& v, int decimals) {
    return v ? number_text(*v, decimals) : std::string();
  };
  for (const ReplayRow& r : result.rows) {
    line({std::to_string(r.line), r.global_call_count, r.op_code, r.op_type,
          std::string(to_string(r.status)), r.wormsim_op, count(r.measured_cores),
          count(r.simulated_cores), value(r.measured_ns, 0), value(r.simulated_ns, 0),
          value(r.error_pct, 2), r.note});
  }
  return text;
}

void write_replay_csv(const std::filesystem::path& path, const ReplayResult& result) {
  write_file_atomically(path, format_replay_csv(result));
}

nlohmann::json replay_summary_json(const ReplayResult& result) {
  const ReplaySummary& s = result.summary;
  nlohmann::json by_op = nlohmann::json::object();
  // Statistics of no rows are null, not 0.
  auto stat = [](std::size_t count, double value) {
    return count > 0 ? nlohmann::json(value) : nlohmann::json(nullptr);
  };
  for (const ReplayOpSummary& op : s.by_op) {
    by_op[op.op_code] = {{"count", op.count},
                         {"unmapped", op.unmapped},
                         {"median_abs_pct_err", stat(op.count, op.median_abs_pct)},
                         {"p90_abs_pct_err", stat(op.count, op.p90_abs_pct)},
                         {"max_abs_pct_err", stat(op.count, op.max_abs_pct)}};
  }
  nlohmann::json unmapped = nlohmann::json::array();
  for (const ReplayRow& r : result.rows) {
    if (r.status == ReplayStatus::Unmapped) {
      unmapped.push_back({{"line", r.line}, {"op_code", r.op_code}, {"reason", r.note}});
    }
  }
  nlohmann::json skipped = nlohmann::json::object();
  for (const auto& [type, n] : s.skipped_by_op_type) skipped[type] = n;
  return {{"source", result.source.string()},
          {"header_version", std::string(to_string(result.header))},
          {"device", result.device},
          {"rows", s.rows},
          {"mapped", s.mapped},
          {"unmapped", s.unmapped},
          {"skipped", s.skipped},
          {"skipped_by_op_type", skipped},
          {"median_abs_pct_err", stat(s.mapped, s.median_abs_pct)},
          {"p90_abs_pct_err", stat(s.mapped, s.p90_abs_pct)},
          {"max_abs_pct_err", stat(s.mapped, s.max_abs_pct)},
          {"by_op", by_op},
          {"unmapped_ops", unmapped}};
}

void print_replay_report(std::ostream& out, const ReplayResult& result) {
  const ReplaySummary& s = result.summary;
  out << "profile " << result.source.string() << " (header " << to_string(result.header)
      << "), simulated on " << result.device << ": " << s.rows << " rows, " << s.mapped
      << " mapped, " << s.unmapped << " unmapped, " << s.skipped << " skipped\n\n";
  TextTable rows({"line", "op code", "wormsim op", "cores", "sim cores", "measured ns",
                  "simulated ns", "error %"});
  for (const ReplayRow& r : result.rows) {
    if (r.status != ReplayStatus::Mapped) continue;
    rows.add_row({std::to_string(r.line), r.op_code, r.wormsim_op,
                  r.measured_cores ? std::to_string(*r.measured_cores) : "",
                  r.simulated_cores ? std::to_string(*r.simulated_cores) : "",
                  number_text(r.measured_ns.value_or(0), 0),
                  number_text(r.simulated_ns.value_or(0), 0),
                  number_text(r.error_pct.value_or(0), 1)});
  }
  rows.print(out);
  out << "\n";
  TextTable ops({"op code", "mapped", "unmapped", "median |err| %", "p90 |err| %", "max |err| %"});
  for (const ReplayOpSummary& op : s.by_op) {
    const bool any = op.count > 0;
    ops.add_row({op.op_code, std::to_string(op.count), std::to_string(op.unmapped),
                 any ? number_text(op.median_abs_pct, 1) : "",
                 any ? number_text(op.p90_abs_pct, 1) : "",
                 any ? number_text(op.max_abs_pct, 1) : ""});
  }
  ops.add_row({"all mapped ops", std::to_string(s.mapped), std::to_string(s.unmapped),
               s.mapped ? number_text(s.median_abs_pct, 1) : "",
               s.mapped ? number_text(s.p90_abs_pct, 1) : "",
               s.mapped ? number_text(s.max_abs_pct, 1) : ""});
  ops.print(out);
  if (s.unmapped > 0) {
    out << "\nnot mapped:\n";
    for (const ReplayRow& r : result.rows) {
      if (r.status == ReplayStatus::Unmapped)
        out << "  line " << r.line << " " << r.op_code << ": " << r.note << "\n";
    }
  }
  if (s.skipped > 0) {
    out << "\nskipped (not device ops):";
    for (const auto& [type, n] : s.skipped_by_op_type) out << " " << type << " x" << n;
    out << "\n";
  }
}

}  // namespace wormsim::analysis
