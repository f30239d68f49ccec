#include "analysis/model_calibration.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "analysis/csv_table.hpp"
#include "analysis/run_profile.hpp"
#include "analysis/strategy_compare.hpp"
#include "ops/device.hpp"
#include "ops/op_registry.hpp"
#include "sim/error.hpp"
#include "workloads/executor.hpp"
#include "workloads/graph_source.hpp"
#include "workloads/strategy.hpp"

namespace wormsim::analysis {
namespace {

// How one models.csv row is simulated (one entry of the mapping file's "rows").
struct ModelRunMapping {
  std::string model, hardware, metric;  // the CSV row's columns, matched exactly
  std::string zoo_model, dtype, fidelity, strategy;
  std::string device;
  std::uint32_t dp{1};
  std::uint32_t batch{0};
  HostMode host;
  // What the silicon figure counts: device samples/s (batch x replicas / device time, gaps and
  // firmware included), device kernel samples/s (batch / the sum of one chip's DEVICE KERNEL
  // DURATION, tt-metal's "AVG DEVICE KERNEL SAMPLES/S") or end-to-end samples/s.
  enum class Compare { Device, DeviceKernel, EndToEnd } compare{Compare::Device};
  std::string why;
};

// Required fields, read with the op-parameter helpers (which name a field of the wrong type).
void require(const nlohmann::json& object, const std::string& key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) throw Error(where + " has no \"" + key + "\"");
}

std::string text(const nlohmann::json& object, const std::string& key, const std::string& where) {
  require(object, key, where);
  return ops::param_string(object, where, key, "");
}

// A whole number >= 1 (a negative JSON number would otherwise wrap to a huge unsigned one).
std::uint32_t positive(const nlohmann::json& object, const std::string& key,
                       const std::string& where) {
  require(object, key, where);
  const std::int64_t value = ops::param_int(object, where, key, 0);
  if (value < 1 || value > 1'000'000) {
    throw Error(where + ": \"" + key + "\" must be a whole number >= 1, not " +
                std::to_string(value));
  }
  return static_cast<std::uint32_t>(value);
}

std::vector<ModelRunMapping> load_mapping(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("cannot read the model calibration mapping " + file.string());
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(file.string() + " is not valid JSON: " + e.what());
  }
  require(json, "configurations", file.string());
  require(json, "rows", file.string());
  const nlohmann::json& configurations = json.at("configurations");
  std::vector<ModelRunMapping> out;
  for (const auto& row : json.at("rows")) {
    const std::string where = file.string() + " row";
    ModelRunMapping m;
    m.model = text(row, "model", where);
    m.hardware = text(row, "hardware", where);
    m.metric = text(row, "metric", where);
    const auto config_name = text(row, "configuration", where);
    if (!configurations.contains(config_name)) {
      throw Error(where + " names configuration '" + config_name + "', which " + file.string() +
                  " does not define");
    }
    const nlohmann::json& config = configurations.at(config_name);
    const std::string config_where = file.string() + " configuration '" + config_name + "'";
    m.zoo_model = text(config, "zoo_model", config_where);
    m.dtype = text(config, "dtype", config_where);
    m.fidelity = text(config, "fidelity", config_where);
    m.strategy = text(config, "strategy", config_where);
    m.device = text(row, "device", where);
    m.dp = positive(row, "dp", where);
    m.batch = positive(row, "batch", where);
    const auto dispatch = workloads::parse_dispatch_mode(text(row, "dispatch", where));
    if (!dispatch) throw Error(where + ": \"dispatch\" must be trace or eager");
    m.host.dispatch = *dispatch;
    m.host.command_queues = positive(row, "command_queues", where);
    check_host_mode(m.host);
    const auto compare = text(row, "compare", where);
    if (compare == "device samples/s") {
      m.compare = ModelRunMapping::Compare::Device;
    } else if (compare == "device kernel samples/s") {
      m.compare = ModelRunMapping::Compare::DeviceKernel;
    } else if (compare == "end-to-end samples/s") {
      m.compare = ModelRunMapping::Compare::EndToEnd;
    } else {
      throw Error(where +
                  ": \"compare\" must be \"device samples/s\", \"device kernel samples/s\" "
                  "or \"end-to-end samples/s\", not \"" +
                  compare + "\"");
    }
    m.why = row.value("why", std::string());
    out.push_back(std::move(m));
  }
  return out;
}

// A preset, "auto" (searched for this model and host mode) or a strategy file, which is
// resolved against the mapping file's folder when relative.
workloads::Strategy resolve_strategy(const ModelRunMapping& m, const workloads::Graph& graph,
                                     const std::filesystem::path& mapping_dir) {
  if (m.strategy == "auto") {
    StrategyRunOptions search;
    search.host_mode = m.host;
    return run_auto_strategy(graph, search, {}).strategy;
  }
  const std::filesystem::path as_file = mapping_dir / m.strategy;
  if (m.strategy.ends_with(".json") && std::filesystem::exists(as_file)) {
    return workloads::strategy_from_name_or_file(as_file.string());
  }
  return workloads::strategy_from_name_or_file(m.strategy);
}

// Samples/s of the mapped run: device (batch x replicas / slowest replica) or end-to-end.
double simulate(const ModelRunMapping& m, const arch::DeviceSpec& spec,
                const std::filesystem::path& mapping_dir, std::string& note) {
  if (m.dp < 1 || m.dp > spec.num_chips) {
    throw Error("model calibration: dp " + std::to_string(m.dp) + " needs as many chips; " +
                spec.name + " has " + std::to_string(spec.num_chips));
  }
  workloads::GraphSource source;
  source.model = m.zoo_model;
  source.model_options.batch = m.batch;
  source.model_options.dtype = m.dtype;
  source.model_options.fidelity = m.fidelity;
  const workloads::Graph model_graph = workloads::load_graph(source, spec);
  const workloads::Strategy strategy = resolve_strategy(m, model_graph, mapping_dir);
  const workloads::AppliedStrategy applied = workloads::apply_strategy(model_graph, strategy, {});
  ops::Device device(spec);
  std::vector<workloads::GraphRun> runs;
  runs.reserve(m.dp);
  for (std::uint32_t replica = 0; replica < m.dp; ++replica) {
    workloads::ExecutorOptions options;
    options.chip = replica;
    options.numerics = false;
    options.dispatch = m.host.dispatch;
    runs.push_back(workloads::run_graph(device, applied.graph, options));
  }
  std::vector<const workloads::GraphRun*> run_ptrs;
  for (const auto& r : runs) run_ptrs.push_back(&r);
  const RunSummary s = summarise_runs(run_ptrs, applied.graph.batch(), spec.host, m.host);
  note = m.zoo_model + " " + m.dtype + " " + m.fidelity + ", strategy " +
         std::filesystem::path(m.strategy).filename().string() + ", " + spec.name +
         (m.dp > 1 ? ", dp " + std::to_string(m.dp) : "") + ", " + describe(m.host);
  switch (m.compare) {
    case ModelRunMapping::Compare::EndToEnd:
      return s.fps_e2e;
    case ModelRunMapping::Compare::DeviceKernel: {
      // The sum of the profile's DEVICE KERNEL DURATION column over chip 0's ops.
      const RunProfile profile = build_profile(spec, {ChipRun{&runs.front(), nullptr}});
      double kernel_ns = 0;
      for (const OpProfile& op : profile.ops) kernel_ns += op.kernel_ns;
      return kernel_ns > 0 ? applied.graph.batch() * 1e9 / kernel_ns : 0.0;
    }
    case ModelRunMapping::Compare::Device:
      break;
  }
  return s.fps_device;
}

}  // namespace

std::filesystem::path default_model_calibration_mapping() {
  return project_data_directory() / "model_calibration.json";
}

ModelCalibration calibrate_models(const std::filesystem::path& spec_file,
                                  const std::filesystem::path& models_csv,
                                  const std::filesystem::path& mapping_json) {
  const std::filesystem::path csv_path =
      models_csv.empty() ? calibration_directory() / "models.csv" : models_csv;
  const std::filesystem::path mapping_path =
      mapping_json.empty() ? default_model_calibration_mapping() : mapping_json;
  const CsvTable table = read_csv(csv_path);
  const std::vector<ModelRunMapping> mapping = load_mapping(mapping_path);
  const std::size_t c_model = table.column("model"), c_batch = table.column("batch"),
                    c_hw = table.column("hardware"), c_metric = table.column("metric"),
                    c_value = table.column("value"), c_unit = table.column("unit"),
                    c_status = table.column("status");
  std::map<std::string, arch::DeviceSpec> specs;
  auto spec_for = [&](const std::string& name) -> const arch::DeviceSpec& {
    auto it = specs.find(name);
    if (it == specs.end()) {
      it = specs
               .emplace(name, spec_file.empty() ? arch::load_device_spec_by_name(name)
                                                : arch::load_device_spec(spec_file))
               .first;
    }
    return it->second;
  };
  ModelCalibration out;
  for (const auto& r : table.rows) {
    // "target" rows are goals; measured and CI-threshold ("expected") rows come from silicon.
    if (r[c_status].rfind("target", 0) == 0) continue;
    const std::string name =
        r[c_model] + " batch " + r[c_batch] + ", " + r[c_hw] + ", " + r[c_metric];
    const auto found = std::find_if(mapping.begin(), mapping.end(), [&](const ModelRunMapping& m) {
      return m.model == r[c_model] && m.hardware == r[c_hw] && m.metric == r[c_metric];
    });
    if (found == mapping.end()) {
      out.skipped.push_back({name, "no mapping in " + mapping_path.filename().string() +
                                       " (rows needing more than the two chips of an N300 have "
                                       "none)"});
      continue;
    }
    const std::optional<double> measured = parse_measured_value(r[c_value]);
    if (!measured || *measured <= 0) {
      throw Error(csv_path.string() + ": row '" + name + "' has no measured value ('" + r[c_value] +
                  "')");
    }
    const arch::DeviceSpec& spec = spec_for(found->device);
    if (found->dp > spec.num_chips) {
      // A one-chip candidate spec (--spec) cannot hold a data-parallel row.
      out.skipped.push_back({name, "needs " + std::to_string(found->dp) + " chips; " + spec.name +
                                       " has " + std::to_string(spec.num_chips)});
      continue;
    }
    CalibrationRow row;
    row.group = "models";
    row.name = name;
    row.measured = *measured;
    row.unit = r[c_unit];
    row.simulated = simulate(*found, spec, mapping_path.parent_path(), row.note);
    row.error_pct = (row.simulated - row.measured) / row.measured * 100.0;
    out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace wormsim::analysis
