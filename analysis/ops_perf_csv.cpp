#include "analysis/ops_perf_csv.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>

#include "analysis/csv_table.hpp"
#include "sim/error.hpp"

namespace wormsim::analysis {
namespace {

// tt-metal OPS_CSV_HEADER (tools/tracy/process_ops_logs.py), "INPUTS" / "OUTPUTS" expanded below.
const std::vector<std::string>& base_header() {
  static const std::vector<std::string> header = {
      "OP CODE",
      "OP TYPE",
      "GLOBAL CALL COUNT",
      "DEVICE ID",
      "DEVICE ARCH",
      "ATTRIBUTES",
      "MATH FIDELITY",
      "CORE COUNT",
      "AVAILABLE WORKER CORE COUNT",
      "PARALLELIZATION STRATEGY",
      "HOST START TS",
      "HOST END TS",
      "HOST DURATION [ns]",
      "DEVICE FW START CYCLE",
      "DEVICE FW END CYCLE",
      "OP TO OP LATENCY [ns]",
      "OP TO OP LATENCY BR/NRISC START [ns]",
      "DEVICE FW DURATION [ns]",
      "DEVICE KERNEL DURATION [ns]",
      "DEVICE KERNEL DURATION DM START [ns]",
      "DEVICE KERNEL DURATION PER CORE MIN [ns]",
      "DEVICE KERNEL DURATION PER CORE MAX [ns]",
      "DEVICE KERNEL DURATION PER CORE AVG [ns]",
      "DEVICE KERNEL FIRST TO LAST START [ns]",
      "DEVICE BRISC KERNEL DURATION [ns]",
      "DEVICE NCRISC KERNEL DURATION [ns]",
      "DEVICE TRISC0 KERNEL DURATION [ns]",
      "DEVICE TRISC1 KERNEL DURATION [ns]",
      "DEVICE TRISC2 KERNEL DURATION [ns]",
      "DEVICE ERISC KERNEL DURATION [ns]",
      "DEVICE COMPUTE CB WAIT FRONT [ns]",
      "DEVICE COMPUTE CB RESERVE BACK [ns]",
      "DISPATCH TOTAL CQ CMD OP TIME [ns]",
      "DISPATCH GO SEND WAIT TIME [ns]",
      "INPUTS",
      "OUTPUTS",
      "METAL TRACE ID",
      "METAL TRACE REPLAY SESSION ID",
      "COMPUTE KERNEL SOURCE",
      "COMPUTE KERNEL HASH",
      "DATA MOVEMENT KERNEL SOURCE",
      "DATA MOVEMENT KERNEL HASH",
      "PROGRAM HASH",
      "PROGRAM CACHE HIT",
      "TENSIX DM 0 MAX KERNEL SIZE [B]",
      "TENSIX DM 1 MAX KERNEL SIZE [B]",
      "TENSIX COMPUTE 0 MAX KERNEL SIZE [B]",
      "TENSIX COMPUTE 1 MAX KERNEL SIZE [B]",
      "TENSIX COMPUTE 2 MAX KERNEL SIZE [B]",
      "ACTIVE ETH DM 0 MAX KERNEL SIZE [B]",
      "ACTIVE ETH DM 1 MAX KERNEL SIZE [B]",
      "IDLE ETH DM 0 MAX KERNEL SIZE [B]",
      "IDLE ETH DM 1 MAX KERNEL SIZE [B]",
      "PM IDEAL [ns]",
      "PM COMPUTE [ns]",
      "PM BANDWIDTH [ns]",
      "PM REQ I BW",
      "PM REQ O BW",
      "PM FPU UTIL (%)",
      "NOC UTIL (%)",
      "MULTICAST NOC UTIL (%)",
      "DRAM BW UTIL (%)",
      "DRAM BW UTIL PER CTRL (%)",
      "ETH BW UTIL (%)",
      "NPE CONG IMPACT (%)",
  };
  return header;
}

const std::array<const char*, 7> kTensorFields = {
    "W_PAD[LOGICAL]", "Z_PAD[LOGICAL]", "Y_PAD[LOGICAL]", "X_PAD[LOGICAL]",
    "LAYOUT",         "DATATYPE",       "MEMORY"};

std::string int_cell(long long value) { return std::to_string(value); }
std::string ns_cell(double ns) { return std::to_string(std::llround(ns)); }
std::string optional_ns(const std::optional<double>& ns) {
  return ns ? ns_cell(*ns) : std::string();
}
std::string optional_pct(const std::optional<double>& pct) {
  return pct ? python_float(*pct, 1) : std::string();
}

// Shortest text that reads back as `value`, as Python's repr (with ".0" on whole numbers).
std::string python_repr(double value) {
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  std::string text = ec == std::errc() ? std::string(buffer, end) : std::to_string(value);
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

void tensor_cells(std::map<std::string, std::string>& row, const std::string& prefix,
                  const ops::TensorSpec& spec, std::uint32_t device_id) {
  const std::array<std::string, 4> shape = ops::csv_shape_cells(spec);
  for (std::size_t d = 0; d < 4; ++d) row[prefix + kTensorFields[d]] = shape[d];
  row[prefix + "LAYOUT"] = std::string(ops::to_string(spec.layout()));
  row[prefix + "DATATYPE"] = std::string(ops::to_string(spec.data_type()));
  row[prefix + "MEMORY"] = ops::csv_memory_column(spec.memory_config(), device_id);
}

std::map<std::string, std::string> op_cells(const OpProfile& op, const RunProfile& profile) {
  const ops::OpRecord& r = op.record();
  const ops::ProgramTiming& t = r.timing;
  const arch::DeviceSpec& spec = *profile.spec;
  std::map<std::string, std::string> row;
  row["OP CODE"] = r.op_code;
  row["OP TYPE"] = r.op_type;
  row["GLOBAL CALL COUNT"] = std::to_string(op.global_call_count);
  row["DEVICE ID"] = std::to_string(op.chip);
  row["DEVICE ARCH"] = spec.arch;
  row["ATTRIBUTES"] = r.attributes;
  if (r.math_fidelity)
    row["MATH FIDELITY"] = arch::kMathFidelityNames[static_cast<std::size_t>(*r.math_fidelity)];
  row["CORE COUNT"] = std::to_string(t.core_count);
  row["AVAILABLE WORKER CORE COUNT"] = std::to_string(spec.worker_count());
  row["HOST START TS"] = std::to_string(op.host_start_ns);
  row["HOST END TS"] = std::to_string(op.host_end_ns);
  row["HOST DURATION [ns]"] = std::to_string(op.host_end_ns - op.host_start_ns);
  row["DEVICE FW START CYCLE"] = std::to_string(t.fw_start);
  row["DEVICE FW END CYCLE"] = std::to_string(t.fw_end);
  row["OP TO OP LATENCY [ns]"] = ns_cell(op.op_to_op_ns);
  row["OP TO OP LATENCY BR/NRISC START [ns]"] = ns_cell(op.op_to_op_dm_ns);
  row["DEVICE FW DURATION [ns]"] = ns_cell(op.fw_ns);
  row["DEVICE KERNEL DURATION [ns]"] = ns_cell(op.kernel_ns);
  row["DEVICE KERNEL DURATION DM START [ns]"] = ns_cell(op.kernel_dm_ns);
  if (!t.cores.empty()) {
    row["DEVICE KERNEL DURATION PER CORE MIN [ns]"] =
        ns_cell(static_cast<double>(t.per_core_min) * profile.ns_per_cycle);
    row["DEVICE KERNEL DURATION PER CORE MAX [ns]"] =
        ns_cell(static_cast<double>(t.per_core_max) * profile.ns_per_cycle);
    row["DEVICE KERNEL DURATION PER CORE AVG [ns]"] =
        ns_cell(t.per_core_avg * profile.ns_per_cycle);
  }
  row["DEVICE KERNEL FIRST TO LAST START [ns]"] = ns_cell(op.first_to_last_start_ns);
  const std::array<const char*, ops::kRiscCount> risc_columns = {
      "DEVICE BRISC KERNEL DURATION [ns]", "DEVICE NCRISC KERNEL DURATION [ns]",
      "DEVICE TRISC0 KERNEL DURATION [ns]", "DEVICE TRISC1 KERNEL DURATION [ns]",
      "DEVICE TRISC2 KERNEL DURATION [ns]"};
  for (std::size_t k = 0; k < ops::kRiscCount; ++k)
    row[risc_columns[k]] = optional_ns(op.risc_ns[k]);
  row["DEVICE COMPUTE CB WAIT FRONT [ns]"] = optional_ns(op.cb_wait_front_ns);
  row["DEVICE COMPUTE CB RESERVE BACK [ns]"] = optional_ns(op.cb_reserve_back_ns);
  for (std::size_t k = 0; k < r.inputs.size(); ++k) {
    tensor_cells(row, "INPUT_" + std::to_string(k) + "_", r.inputs[k], op.chip);
  }
  for (std::size_t k = 0; k < r.outputs.size(); ++k) {
    tensor_cells(row, "OUTPUT_" + std::to_string(k) + "_", r.outputs[k], op.chip);
  }
  if (op.traced) {
    // A replayed trace: one captured trace per device (id 1), replayed once (sessions count
    // from 1). Eager ops leave both empty, as ops outside a trace do.
    row["METAL TRACE ID"] = "1";
    row["METAL TRACE REPLAY SESSION ID"] = "1";
  }
  const long long ideal = pm_ns(r.perf_model.ideal_ns());
  row["PM IDEAL [ns]"] = int_cell(ideal);
  row["PM COMPUTE [ns]"] = int_cell(pm_ns(r.perf_model.compute_ns));
  row["PM BANDWIDTH [ns]"] = int_cell(pm_ns(r.perf_model.bandwidth_ns));
  row["PM REQ I BW"] = pm_bandwidth_list(r.inputs, ideal);
  row["PM REQ O BW"] = pm_bandwidth_list(r.outputs, ideal);
  if (op.kernel_ns > 0) {
    row["PM FPU UTIL (%)"] =
        python_float(100.0 * static_cast<double>(pm_ns(r.perf_model.compute_ns)) / op.kernel_ns, 3);
  }
  row["NOC UTIL (%)"] = optional_pct(op.noc_util_pct);
  row["DRAM BW UTIL (%)"] = optional_pct(op.dram_bw_util_pct);
  // tt-npe fills it with DRAM BW UTIL from the same NoC traces (every op, matmuls included):
  // here the busiest of the chip's DRAM controllers.
  row["DRAM BW UTIL PER CTRL (%)"] = optional_pct(op.dram_bw_util_per_ctrl_pct);
  row["ETH BW UTIL (%)"] = optional_pct(op.eth_bw_util_pct);
  return row;
}

}  // namespace

std::string python_float(double value, int decimals) {
  const double scale = std::pow(10.0, decimals);
  const double rounded = std::round(value * scale) / scale;
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, rounded);
  std::string text = buffer;
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text += '0';
  }
  if (text == "-0.0") text = "0.0";
  return text;
}

long long pm_ns(double ns) { return static_cast<long long>(ns); }

std::string pm_bandwidth_list(const std::vector<ops::TensorSpec>& tensors, long long ideal_ns) {
  if (ideal_ns <= 0 || tensors.empty()) return "[]";
  std::string text = "[";
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const ops::TensorSpec& t = tensors[k];
    const double bytes =
        static_cast<double>(t.padded_shape().volume()) * tt_metal_element_bytes(t.data_type());
    const float per_ns = static_cast<float>(bytes) / static_cast<float>(ideal_ns);
    if (k > 0) text += "; ";
    text += python_repr(static_cast<double>(per_ns));
  }
  return text + "]";
}

std::vector<std::string> ops_perf_header(std::size_t inputs, std::size_t outputs) {
  std::vector<std::string> header;
  for (const std::string& column : base_header()) {
    if (column == "INPUTS" || column == "OUTPUTS") {
      const bool in = column == "INPUTS";
      const std::size_t count = in ? inputs : outputs;
      for (std::size_t k = 0; k < count; ++k) {
        const std::string prefix = std::string(in ? "INPUT_" : "OUTPUT_") + std::to_string(k) + "_";
        for (const char* field : kTensorFields) header.push_back(prefix + field);
      }
      continue;
    }
    header.push_back(column);
  }
  return header;
}

OpsPerfTable ops_perf_table(const RunProfile& profile) {
  if (profile.spec == nullptr) throw Error("ops_perf CSV: the run profile has no device spec");
  std::size_t inputs = 0, outputs = 1;
  for (const OpProfile& op : profile.ops) {
    inputs = std::max(inputs, op.record().inputs.size());
    outputs = std::max(outputs, op.record().outputs.size());
  }
  OpsPerfTable table;
  table.header = ops_perf_header(inputs, outputs);
  for (const OpProfile& op : profile.ops) {
    std::map<std::string, std::string> cells = op_cells(op, profile);
    std::vector<std::string> row;
    row.reserve(table.header.size());
    for (const std::string& column : table.header) {
      const auto it = cells.find(column);
      row.push_back(it != cells.end() ? it->second : std::string());
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

std::string format_ops_perf_csv(const OpsPerfTable& table) {
  std::string text;
  auto line = [&text](const std::vector<std::string>& cells) {
    for (std::size_t k = 0; k < cells.size(); ++k) {
      if (k > 0) text += ',';
      text += csv_escape(cells[k]);
    }
    text += '\n';
  };
  line(table.header);
  for (const auto& row : table.rows) line(row);
  return text;
}

void write_ops_perf_csv(const std::filesystem::path& path, const RunProfile& profile) {
  write_file_atomically(path, format_ops_perf_csv(ops_perf_table(profile)));
}

}  // namespace wormsim::analysis
