// `wormsim graph --model NAME | --graph FILE`: what a model graph holds (op census, FLOPs,
// parameters, weight names), optionally timed, and saving it as a graph JSON file.
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/text_table.hpp"
#include "ops/op_registry.hpp"
#include "sim/cli/command_registry.hpp"
#include "workloads/executor.hpp"
#include "workloads/graph_source.hpp"

namespace wormsim::cli {
namespace {

struct GraphOptions {
  workloads::GraphSource source;
  std::string device;
  std::string format = "table";
  std::string save;
  bool time = false;
  std::string dispatch = "trace";
  bool list_weights = false;
};

struct CensusRow {
  std::string op;
  std::string op_code;
  std::size_t count{0};
  std::uint64_t flops{0};
  double device_time_ns{0};
};

std::string shape_text(const ops::Shape& shape) {
  std::string out;
  for (std::size_t i = 0; i < shape.rank(); ++i) out += (i ? "x" : "") + std::to_string(shape[i]);
  return out;
}

void show_graph(const GraphOptions& o) {
  workloads::check_graph_source(o.source);
  const arch::DeviceSpec spec = arch::load_device_spec_by_name(
      o.device.empty() ? workloads::default_device(o.source) : o.device);
  const workloads::Graph graph = workloads::load_graph(o.source, spec);
  if (!o.save.empty()) graph.save(o.save);

  std::map<std::pair<std::string, std::string>, CensusRow> census;
  for (const workloads::GraphNode& n : graph.nodes()) {
    const std::string code = ops::find_op(n.op).op_code;
    CensusRow& row = census[{n.op, code}];
    row.op = n.op;
    row.op_code = code;
    ++row.count;
    row.flops += graph.node_flops(n.id);
  }
  double device_time_ns = 0;
  if (o.time) {
    const auto dispatch = workloads::parse_dispatch_mode(o.dispatch);
    if (!dispatch) throw Error("--dispatch must be trace or eager, got '" + o.dispatch + "'");
    ops::Device device(spec);
    workloads::ExecutorOptions options;
    options.numerics = false;
    options.dispatch = *dispatch;
    const workloads::GraphRun run = workloads::run_graph(device, graph, options);
    for (const workloads::NodeRun& n : run.nodes)
      census[{n.op, ops::find_op(n.op).op_code}].device_time_ns += n.duration_ns;
    device_time_ns = run.op_time_ns;
  }
  std::vector<CensusRow> rows;
  for (const auto& [key, row] : census) rows.push_back(row);
  std::stable_sort(rows.begin(), rows.end(), [&](const CensusRow& a, const CensusRow& b) {
    return o.time               ? a.device_time_ns > b.device_time_ns
           : a.flops != b.flops ? a.flops > b.flops
                                : a.count > b.count;
  });
  const std::uint64_t total_flops = graph.flops();

  if (o.format == "json") {
    nlohmann::json out = {{"graph", graph.name()},
                          {"device", spec.name},
                          {"batch", graph.batch()},
                          {"node_count", graph.nodes().size()},
                          {"tensor_count", graph.tensors().size()},
                          {"parameter_count", graph.parameter_count()},
                          {"flops", total_flops}};
    nlohmann::json rows_json = nlohmann::json::array();
    for (const CensusRow& r : rows) {
      nlohmann::json row = {
          {"op", r.op}, {"op_code", r.op_code}, {"count", r.count}, {"flops", r.flops}};
      if (o.time) {
        row["device_time_ns"] = r.device_time_ns;
        row["share"] = device_time_ns > 0 ? r.device_time_ns / device_time_ns : 0.0;
      }
      rows_json.push_back(row);
    }
    out["census"] = rows_json;
    if (o.time) out["device_time_ns"] = device_time_ns;
    if (o.list_weights) {
      nlohmann::json weights = nlohmann::json::array();
      for (const auto& t : graph.tensors()) {
        if (t.kind == workloads::TensorKind::Weight)
          weights.push_back({{"name", t.name}, {"shape", t.spec.logical_shape().dims()}});
      }
      out["weights"] = weights;
    }
    std::cout << out.dump(2) << "\n";
    return;
  }

  std::cout << "graph " << graph.name() << " on " << spec.name << ": " << graph.nodes().size()
            << " ops, " << graph.tensors().size() << " tensors, batch " << graph.batch() << ", "
            << analysis::format_fixed(static_cast<double>(graph.parameter_count()) / 1e6, 2)
            << " M parameters, "
            << analysis::format_fixed(static_cast<double>(total_flops) / 1e9, 2)
            << " GFLOP per inference\n";
  std::vector<std::string> header = {"op", "op code", "count", "GFLOP", "FLOP share [%]"};
  if (o.time) {
    header.push_back("time [us]");
    header.push_back("time share [%]");
  }
  analysis::TextTable table(header);
  for (const CensusRow& r : rows) {
    std::vector<std::string> cells = {
        r.op, r.op_code, std::to_string(r.count),
        analysis::format_fixed(static_cast<double>(r.flops) / 1e9, 3),
        analysis::format_fixed(total_flops > 0 ? 100.0 * static_cast<double>(r.flops) /
                                                     static_cast<double>(total_flops)
                                               : 0.0,
                               1)};
    if (o.time) {
      cells.push_back(analysis::format_fixed(r.device_time_ns / 1e3, 1));
      cells.push_back(analysis::format_fixed(
          device_time_ns > 0 ? 100.0 * r.device_time_ns / device_time_ns : 0.0, 1));
    }
    table.add_row(cells);
  }
  table.print(std::cout);
  if (o.time)
    std::cout << "device time of the ops (gaps excluded): "
              << analysis::format_fixed(device_time_ns / 1e6, 3) << " ms\n";
  if (o.list_weights) {
    std::cout << "\nweights (HDF5 dataset names)\n";
    analysis::TextTable weights({"name", "shape", "dtype"});
    for (const auto& t : graph.tensors()) {
      if (t.kind != workloads::TensorKind::Weight) continue;
      weights.add_row({t.name, shape_text(t.spec.logical_shape()),
                       std::string(ops::to_string(t.spec.data_type()))});
    }
    weights.print(std::cout);
  }
  if (!o.save.empty()) std::cout << "saved " << o.save << "\n";
}

const CommandRegistration registration(45, [](CLI::App& app) {
  auto o = std::make_shared<GraphOptions>();
  CLI::App* cmd = app.add_subcommand(
      "graph", "Show a model graph (op census, FLOPs, parameters) or save it as JSON");
  cmd->add_flag_callback(
      "--list",
      [] {
        for (const std::string& name : workloads::model_names())
          std::cout << name << "  " << workloads::model_description(name) << "\n";
        std::exit(0);
      },
      "List the zoo's models");
  cmd->add_option("--model", o->source.model, "Model of the zoo");
  cmd->add_option("--graph", o->source.graph_file, "Graph JSON file (docs/graph-format.md)");
  cmd->add_option("--batch", o->source.model_options.batch, "Batch (default: the model's)");
  cmd->add_option("--resolution", o->source.model_options.resolution,
                  "Image side / sequence length (default: the model's)");
  cmd->add_option("--layers", o->source.model_options.layers,
                  "Cut every block stack to this many blocks (0 = full)");
  cmd->add_option("--dtype", o->source.model_options.dtype, "Model data type")
      ->capture_default_str();
  cmd->add_option("--fidelity", o->source.model_options.fidelity, "Math fidelity")
      ->capture_default_str();
  cmd->add_option("--device", o->device,
                  "Device spec: n300 or n150 (default: the graph file's, else n300)");
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->add_option("--save", o->save, "Write the graph as JSON to FILE");
  cmd->add_flag("--time", o->time,
                "Run it (timing only) and give each op type's share of device time");
  cmd->add_option("--dispatch", o->dispatch, "With --time: trace or eager")->capture_default_str();
  cmd->add_flag("--list-weights", o->list_weights,
                "List the weight tensors (the HDF5 dataset names --weights needs)");
  cmd->callback([o] { show_graph(*o); });
});

}  // namespace
}  // namespace wormsim::cli
