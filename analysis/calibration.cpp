#include "analysis/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

#include "analysis/csv_table.hpp"
#include "analysis/microbench_report.hpp"
#include "ops/isolated_run.hpp"
#include "ops/matmul/matmul.hpp"
#include "ops/op_registry.hpp"

namespace wormsim::analysis {
namespace {

ops::DataType csv_dtype(const std::string& text) {
  const auto type = ops::parse_data_type(text);
  if (!type) throw Error("calibration row has unknown dtype '" + text + "'");
  return *type;
}

// "in0=L1 (sharded),in1=DRAM (interleaved),out=L1 (sharded)" -> placement keyword per operand.
std::string placement_of(const std::string& memory, const std::string& operand) {
  const std::regex pattern(operand + R"(=(L1|DRAM) \((sharded|interleaved)\))");
  std::smatch match;
  if (!std::regex_search(memory, match, pattern)) {
    throw Error("calibration row memory '" + memory + "' does not say where " + operand + " lives");
  }
  if (match[1] == "DRAM") return match[2] == "sharded" ? "dram-sharded" : "dram-interleaved";
  return match[2] == "sharded" ? "l1-block-sharded" : "l1-interleaved";
}

bool config_flag(const std::string& config, const std::string& name) {
  return config.find(name + "=1") != std::string::npos;
}

std::uint32_t config_number(const std::string& text, const std::string& name,
                            std::uint32_t fallback) {
  const std::regex pattern(name + R"(=(\d+))");
  std::smatch match;
  return std::regex_search(text, match, pattern) ? static_cast<std::uint32_t>(std::stoul(match[1]))
                                                 : fallback;
}

std::pair<std::uint32_t, std::uint32_t> subblock_of(const std::string& text) {
  const std::regex pattern(R"(subblock (\d+)x(\d+))");
  std::smatch match;
  if (!std::regex_search(text, match, pattern)) return {1, 1};
  return {static_cast<std::uint32_t>(std::stoul(match[1])),
          static_cast<std::uint32_t>(std::stoul(match[2]))};
}

}  // namespace

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = static_cast<std::size_t>(std::ceil(pos));
  return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

std::vector<CalibrationRow> calibrate_matmul(const arch::DeviceSpec& spec) {
  const CsvTable table = read_csv(calibration_directory() / "matmul.csv");
  const std::size_t c_m = table.column("m"), c_k = table.column("k"), c_n = table.column("n");
  const std::size_t c_in0 = table.column("in0_dtype"), c_in1 = table.column("in1_dtype"),
                    c_out = table.column("out_dtype");
  const std::size_t c_fid = table.column("math_fidelity"), c_mem = table.column("memory"),
                    c_cores = table.column("cores");
  const std::size_t c_config = table.column("config"),
                    c_cycles = table.column("device_kernel_cycles_derived");
  std::vector<CalibrationRow> rows;
  for (const auto& r : table.rows) {
    const auto m = static_cast<std::uint32_t>(std::stoul(r[c_m]));
    const auto k = static_cast<std::uint32_t>(std::stoul(r[c_k]));
    const auto n = static_cast<std::uint32_t>(std::stoul(r[c_n]));
    const ops::DataType in0_type = csv_dtype(r[c_in0]);
    const ops::DataType in1_type = csv_dtype(r[c_in1]);
    const ops::DataType out_type = csv_dtype(r[c_out]);
    ops::ComputeKernelConfig compute;
    compute.math_fidelity = ops::parse_math_fidelity(r[c_fid]);
    const std::string& config = r[c_config];
    CalibrationRow row;
    row.measured = std::stod(r[c_cycles]);
    row.unit = "cycles";
    row.name = r[c_m] + "x" + r[c_k] + "x" + r[c_n];
    const std::uint32_t cores = static_cast<std::uint32_t>(std::stoul(r[c_cores]));
    if (cores == 1) {
      // test_compute_mm --one-core: K repeated num_blocks times over resident operands.
      compute.packer_l1_acc = config_flag(config, "packer_l1_acc");
      compute.fp32_dest_acc_en = config_flag(config, "fp32_acc");
      const std::uint32_t num_blocks = config_number(config, "num_blocks", 1);
      const auto [sh, sw] = subblock_of(config);
      ops::Device device(spec);
      const ops::ProgramTiming timing = ops::run_single_core_matmul_test(
          device, m / ops::kTileHeight, k / ops::kTileWidth, n / ops::kTileWidth, num_blocks, sh,
          sw, in0_type, compute);
      row.simulated = static_cast<double>(timing.kernel_duration());
      row.group = "matmul single-core " + std::string(ops::to_string(in0_type)) + " " + r[c_fid];
      row.name += " num_blocks=" + std::to_string(num_blocks) +
                  " l1_acc=" + (compute.packer_l1_acc ? "1" : "0");
      row.note = "tt-metal single-core test program, K loop x" + std::to_string(num_blocks);
    } else {
      // The GEMM report's tuned configs are not published per row: the automatic 2D config on
      // the full grid stands in, with packer L1 accumulation as the report's tuning used.
      compute.packer_l1_acc = true;
      const std::string in0_place = placement_of(r[c_mem], "in0");
      const std::string in1_place = placement_of(r[c_mem], "in1");
      const std::string out_place = placement_of(r[c_mem], "out");
      const std::uint32_t gx = spec.worker_grid_x(), gy = spec.worker_grid_y();
      auto tensor = [&](std::uint32_t rows_, std::uint32_t cols, ops::DataType type,
                        const std::string& place) {
        const ops::TensorSpec plain(ops::Shape({1, 1, rows_, cols}), type, ops::Layout::Tile);
        return plain.with_memory_config(
            ops::memory_config_from_keyword(place, plain, gx, gy, spec));
      };
      const ops::TensorSpec in0 = tensor(m, k, in0_type, in0_place);
      const ops::TensorSpec in1 = tensor(k, n, in1_type, in1_place);
      ops::MatmulOptions options;
      options.compute = compute;
      options.output_dtype = out_type;
      options.output_memory = tensor(m, n, out_type, out_place).memory_config();
      const ops::MatmulOp op(options);
      const ops::OpResult result = ops::run_isolated(spec, op, {in0, in1}, {false, 0});
      row.simulated = static_cast<double>(result.record.timing.kernel_duration());
      const bool l1 = in0_place.rfind("l1", 0) == 0;
      row.group = "matmul " + std::string(ops::to_string(in0_type)) + " " + r[c_fid] +
                  (l1 ? " L1-sharded" : " DRAM");
      row.note = ops::to_attribute_string(op.resolved_config());
    }
    row.error_pct = (row.simulated - row.measured) / row.measured * 100.0;
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<CalibrationRow> calibrate_microbenchmarks(const arch::DeviceSpec& spec) {
  std::vector<CalibrationRow> rows;
  for (const MicrobenchRow& m : run_microbench_report(spec)) {
    if (!m.measured) continue;
    CalibrationRow row;
    row.group = "microbenchmarks";
    row.name = m.name;
    row.simulated = m.simulated;
    row.measured = *m.measured;
    row.unit = m.unit;
    row.error_pct = *m.error_pct;
    row.note = m.measured_kind;
    rows.push_back(std::move(row));
  }
  return rows;
}

CalibrationGroupSummary summarise_all(const std::string& label,
                                      const std::vector<CalibrationRow>& rows) {
  CalibrationGroupSummary s;
  s.group = label;
  std::vector<double> errors;
  for (const auto& r : rows) errors.push_back(std::fabs(r.error_pct));
  s.rows = errors.size();
  s.median_abs_pct = percentile(errors, 0.5);
  s.p90_abs_pct = percentile(errors, 0.9);
  s.max_abs_pct = errors.empty() ? 0 : *std::max_element(errors.begin(), errors.end());
  return s;
}

std::vector<CalibrationGroupSummary> summarise(const std::vector<CalibrationRow>& rows) {
  std::map<std::string, std::vector<CalibrationRow>> groups;
  std::vector<std::string> order;
  for (const auto& r : rows) {
    if (!groups.count(r.group)) order.push_back(r.group);
    groups[r.group].push_back(r);
  }
  std::vector<CalibrationGroupSummary> out;
  for (const auto& g : order) out.push_back(summarise_all(g, groups[g]));
  return out;
}

}  // namespace wormsim::analysis
