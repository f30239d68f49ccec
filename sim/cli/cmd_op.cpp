// `wormsim op NAME ...`: one op in isolation on a fresh device.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analysis/text_table.hpp"
#include "ops/isolated_run.hpp"
#include "ops/op_registry.hpp"
#include "sim/cli/command_registry.hpp"

namespace wormsim::cli {
namespace {

struct OpOptions {
  std::string name;
  std::string json_file;
  std::string device = "n300";
  std::string format = "table";
  std::string numerics = "on";
  std::uint64_t seed = 0;
  // matmul shorthand
  std::uint32_t m = 0, k = 0, n = 0, batch = 1;
  std::string dtype = "bfloat16";
  std::string in1_dtype;
  std::string out_dtype;
  std::string fidelity;
  std::string in0 = "dram-interleaved", in1 = "dram-interleaved", out = "dram-interleaved";
  std::string grid;    // empty: the device's full worker grid
  std::string config;  // 2d | 1d | reuse | dram-sharded
  std::uint32_t in0_block_w = 0, per_core_m = 0, per_core_n = 0;
  std::string subblock;  // HxW
  bool packer_l1_acc = false, fp32_acc = false, strict = false;
  std::vector<std::string> shapes;  // generic ops: one per input, "1,1,32,1024"
  std::string params = "{}";
};

std::pair<std::int64_t, std::int64_t> parse_pair(const std::string& text, const std::string& what) {
  const auto x = text.find('x');
  try {
    if (x == std::string::npos) throw std::invalid_argument(text);
    return {std::stoll(text.substr(0, x)), std::stoll(text.substr(x + 1))};
  } catch (const std::exception&) {
    throw Error(what + " must look like 8x8, got '" + text + "'");
  }
}

bool is_sharded_placement(const std::string& placement) {
  return placement.find("sharded") != std::string::npos;
}

// The core grid of --grid (default the device's worker grid). A grid larger than the device, or
// one matmul's automatic config chooser would silently ignore, is an error.
std::pair<std::int64_t, std::int64_t> grid_from_flags(const OpOptions& o,
                                                      const arch::DeviceSpec& spec) {
  const std::int64_t dev_x = spec.worker_grid_x(), dev_y = spec.worker_grid_y();
  if (o.grid.empty()) return {dev_x, dev_y};
  const auto [gx, gy] = parse_pair(o.grid, "--grid");
  const std::string device_grid = std::to_string(dev_x) + "x" + std::to_string(dev_y);
  if (gx <= 0 || gy <= 0) throw Error("--grid " + o.grid + ": both sides must be positive");
  if (gx > dev_x || gy > dev_y) {
    throw Error("--grid " + o.grid + " does not fit the " + o.device + "'s " + device_grid +
                " worker grid; use a grid of at most " + device_grid);
  }
  const bool matmul = o.name == "matmul" || o.name == "linear";
  const bool full_grid = gx == dev_x && gy == dev_y;
  const bool any_sharded =
      is_sharded_placement(o.in0) || is_sharded_placement(o.in1) || is_sharded_placement(o.out);
  if (matmul && !full_grid && o.config.empty() && o.in0_block_w == 0 && !any_sharded) {
    // MatmulOptions has no grid for the automatic chooser: with interleaved placements it always
    // spreads the work over the full worker grid.
    throw Error(
        "--grid " + o.grid + " has no effect on " + o.name +
        " without --config: the automatic program config chooser uses the full " + device_grid +
        " grid for interleaved placements; add --config 2d (or 1d, reuse, dram-sharded) to "
        "run on " +
        o.grid + ", or place an operand sharded (e.g. --in0 l1-block-sharded) on that grid");
  }
  return {gx, gy};
}

nlohmann::json description_from_flags(const OpOptions& o, const arch::DeviceSpec& spec) {
  nlohmann::json desc = {{"op", o.name},
                         {"inputs", nlohmann::json::array()},
                         {"params", nlohmann::json::parse(o.params)}};
  const auto [gx, gy] = grid_from_flags(o, spec);
  nlohmann::json& params = desc["params"];
  if (!o.fidelity.empty()) params["math_fidelity"] = o.fidelity;
  if (o.packer_l1_acc) params["packer_l1_acc"] = true;
  if (o.fp32_acc) params["fp32_dest_acc_en"] = true;
  if (o.name == "matmul" || o.name == "linear") {
    if (o.m == 0 || o.k == 0 || o.n == 0) throw Error("matmul needs --m, --k and --n (or --json FILE)");
    auto tensor = [&](std::uint32_t rows, std::uint32_t cols, const std::string& dtype, const std::string& memory) {
      return nlohmann::json{{"shape", {1, o.batch, rows, cols}}, {"dtype", dtype}, {"memory", memory}, {"grid", {gx, gy}}};
    };
    desc["inputs"].push_back(tensor(o.m, o.k, o.dtype, o.in0));
    nlohmann::json in1 = tensor(o.k, o.n, o.in1_dtype.empty() ? o.dtype : o.in1_dtype, o.in1);
    in1["shape"] = {1, 1, o.k, o.n};
    desc["inputs"].push_back(in1);
    params["output_memory"] = o.out;
    params["grid"] = {gx, gy};
    params["output_dtype"] = o.out_dtype.empty() ? o.dtype : o.out_dtype;
    if (o.strict) params["strict"] = true;
    if (!o.config.empty() || o.in0_block_w > 0) {
      nlohmann::json pc = {{"kind", o.config.empty() ? "2d" : o.config}, {"grid", {gx, gy}}};
      const std::uint32_t mt = (o.m * o.batch + 31) / 32, nt = (o.n + 31) / 32;
      pc["in0_block_w"] = o.in0_block_w > 0 ? o.in0_block_w : 1;
      pc["per_core_M"] = o.per_core_m > 0 ? o.per_core_m : (mt + gy - 1) / gy;
      pc["per_core_N"] = o.per_core_n > 0 ? o.per_core_n : (nt + gx - 1) / gx;
      if (!o.subblock.empty()) {
        const auto [h, w] = parse_pair(o.subblock, "--subblock");
        pc["out_subblock_h"] = h;
        pc["out_subblock_w"] = w;
      }
      params["program_config"] = pc;
    }
    return desc;
  }
  if (o.shapes.empty()) throw Error("op '" + o.name + "' needs --shape for each input (e.g. --shape 1,1,1024,1024)");
  for (const std::string& shape_text : o.shapes) {
    nlohmann::json shape = nlohmann::json::array();
    std::stringstream ss(shape_text);
    std::string item;
    while (std::getline(ss, item, ',')) {
      try {
        shape.push_back(std::stoll(item));
      } catch (const std::exception&) {
        throw Error("--shape must be comma-separated integers, got '" + shape_text + "'");
      }
    }
    desc["inputs"].push_back({{"shape", shape}, {"dtype", o.dtype}, {"memory", o.in0}, {"grid", {gx, gy}}});
  }
  return desc;
}

nlohmann::json record_json(const ops::OpRecord& r, const arch::DeviceSpec& spec) {
  const double ns_per_cycle = 1000.0 / spec.clock_mhz;
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& t : r.inputs) inputs.push_back(ops::tensor_spec_to_json(t));
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& t : r.outputs) outputs.push_back(ops::tensor_spec_to_json(t));
  nlohmann::json out = {
      {"op_code", r.op_code},
      {"attributes", r.attributes},
      {"math_fidelity", r.math_fidelity ? std::string(ops::to_string(*r.math_fidelity)) : ""},
      {"core_count", r.timing.core_count},
      {"device_kernel_duration_ns", static_cast<double>(r.timing.kernel_duration()) * ns_per_cycle},
      {"device_fw_duration_ns", static_cast<double>(r.timing.fw_duration()) * ns_per_cycle},
      {"brisc_kernel_duration_ns", r.timing.risc_duration[0] * ns_per_cycle},
      {"ncrisc_kernel_duration_ns", r.timing.risc_duration[1] * ns_per_cycle},
      {"trisc_kernel_duration_ns", r.timing.risc_duration[3] * ns_per_cycle},
      {"cb_wait_front_ns", r.timing.cb_wait_front_avg * ns_per_cycle},
      {"cb_reserve_back_ns", r.timing.cb_reserve_back_avg * ns_per_cycle},
      {"pm_ideal_ns", r.perf_model.ideal_ns()},
      {"pm_compute_ns", r.perf_model.compute_ns},
      {"pm_bandwidth_ns", r.perf_model.bandwidth_ns},
      {"flops", r.flops},
      {"dram_bytes_read", r.dram_bytes_read},
      {"dram_bytes_written", r.dram_bytes_written},
      {"noc_bytes", r.timing.noc_bytes},
      {"l1_cb_peak_bytes", r.timing.l1_cb_peak_bytes},
      {"pcc", r.pcc ? nlohmann::json(*r.pcc) : nlohmann::json(nullptr)},
      {"fallback", r.fallback_reason},
      {"inputs", inputs},
      {"outputs", outputs}};
  return out;
}

void run_op(const OpOptions& options) {
  const arch::DeviceSpec spec = arch::load_device_spec_by_name(options.device);
  nlohmann::json desc;
  if (!options.json_file.empty()) {
    std::ifstream in(options.json_file);
    if (!in) throw Error("cannot open op description " + options.json_file);
    try {
      desc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error("op description " + options.json_file + " is not valid JSON: " + e.what());
    }
    if (!desc.contains("op") || !desc["op"].is_string()) throw Error(options.json_file + ": needs \"op\": \"<name>\"");
    if (!desc.contains("inputs") || !desc["inputs"].is_array()) throw Error(options.json_file + ": needs \"inputs\": [...]");
  } else {
    if (options.name.empty()) throw Error("name an op (wormsim op matmul ...) or give --json FILE");
    ops::find_op(options.name);  // an unknown name fails here, listing the known ops
    desc = description_from_flags(options, spec);
  }
  std::vector<ops::TensorSpec> inputs;
  for (const auto& t : desc["inputs"]) inputs.push_back(ops::tensor_spec_from_json(t, spec));
  const nlohmann::json params = desc.value("params", nlohmann::json::object());
  const auto op = ops::make_operation(desc["op"].get<std::string>(), params, inputs, spec);
  ops::IsolatedRunOptions run;
  run.numerics = options.numerics == "on";
  run.seed = options.seed;
  const ops::OpResult result = ops::run_isolated(spec, *op, inputs, run);
  const nlohmann::json record = record_json(result.record, spec);
  if (options.format == "json") {
    std::cout << record.dump(2) << "\n";
    return;
  }
  analysis::TextTable table({"field", "value"});
  for (const char* key : {"op_code", "core_count", "device_kernel_duration_ns", "device_fw_duration_ns", "pm_ideal_ns",
                          "pm_compute_ns", "pm_bandwidth_ns", "brisc_kernel_duration_ns", "ncrisc_kernel_duration_ns",
                          "trisc_kernel_duration_ns", "cb_wait_front_ns", "dram_bytes_read", "dram_bytes_written",
                          "noc_bytes", "l1_cb_peak_bytes", "pcc"}) {
    const auto& v = record[key];
    table.add_row({key, v.is_number_float() ? analysis::format_fixed(v.get<double>(), key == std::string("pcc") ? 6 : 1)
                        : v.is_string() ? v.get<std::string>() : v.dump()});
  }
  table.print(std::cout);
  std::cout << "attributes: " << result.record.attributes << "\n";
  if (!result.record.fallback_reason.empty()) std::cout << "program config fallback: " << result.record.fallback_reason << "\n";
}

const CommandRegistration registration(40, [](CLI::App& app) {
  auto o = std::make_shared<OpOptions>();
  CLI::App* cmd = app.add_subcommand("op", "Simulate one op in isolation on a fresh device and print its record");
  cmd->add_option("name", o->name, "Op name (matmul, linear, ...; see --list)");
  cmd->add_flag_callback("--list", [] {
    for (const auto* info : ops::registered_ops()) std::cout << info->name << "  (" << info->op_code << ")  " << info->description << "\n";
    std::exit(0);
  }, "List the ops");
  cmd->add_option("--json", o->json_file, "Op description file {\"op\", \"inputs\", \"params\"}");
  cmd->add_option("--device", o->device, "Device spec")->capture_default_str();
  cmd->add_option("--format", o->format, "Output format")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  cmd->add_option("--numerics", o->numerics, "Compute values and PCC")->check(CLI::IsMember({"on", "off"}))->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the input values")->capture_default_str();
  cmd->add_option("--m", o->m, "matmul: rows of in0");
  cmd->add_option("--k", o->k, "matmul: inner dimension");
  cmd->add_option("--n", o->n, "matmul: columns of in1");
  cmd->add_option("--batch", o->batch, "matmul: batch of in0")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "Input data type")->capture_default_str();
  cmd->add_option("--in1-dtype", o->in1_dtype, "matmul: in1 data type (default --dtype)");
  cmd->add_option("--out-dtype", o->out_dtype, "Output data type (default --dtype)");
  cmd->add_option("--fidelity", o->fidelity, "Math fidelity: LoFi, HiFi2, HiFi3, HiFi4");
  cmd->add_option("--in0", o->in0, "Placement of in0 (or of every input)")->capture_default_str();
  cmd->add_option("--in1", o->in1, "Placement of in1")->capture_default_str();
  cmd->add_option("--out", o->out, "Placement of the output")->capture_default_str();
  cmd->add_option("--grid", o->grid,
                  "Core grid, e.g. 4x4 (default and maximum: the device's worker grid); matmul "
                  "needs --config or a sharded placement unless it is the full grid");
  cmd->add_option("--config", o->config, "matmul program config: 2d, 1d, reuse, dram-sharded");
  cmd->add_option("--in0-block-w", o->in0_block_w, "matmul: K block in tiles");
  cmd->add_option("--subblock", o->subblock, "matmul: out_subblock HxW");
  cmd->add_option("--per-core-m", o->per_core_m, "matmul: per_core_M");
  cmd->add_option("--per-core-n", o->per_core_n, "matmul: per_core_N");
  cmd->add_flag("--packer-l1-acc", o->packer_l1_acc, "Accumulate partials in L1");
  cmd->add_flag("--fp32-acc", o->fp32_acc, "fp32_dest_acc_en");
  cmd->add_flag("--strict", o->strict, "An invalid program config is an error instead of a fallback");
  cmd->add_option("--shape", o->shapes, "Input shape (repeat per input), e.g. 1,1,1024,1024");
  cmd->add_option("--params", o->params, "Extra op parameters as a JSON object")->capture_default_str();
  cmd->callback([o] { run_op(*o); });
});

}  // namespace
}  // namespace wormsim::cli
