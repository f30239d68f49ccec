// `wormsim run --model NAME | --graph FILE`: one inference of a model on N300 / N150 with
// device time, FPS, PCC and memory peaks (workloads/executor.hpp has the execution rules).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "analysis/text_table.hpp"
#include "ops/op_registry.hpp"
#include "sim/cli/command_registry.hpp"
#include "workloads/executor.hpp"
#include "workloads/graph_source.hpp"

namespace wormsim::cli {
namespace {

struct RunOptions {
  workloads::GraphSource source;
  std::string device;
  std::uint32_t dp = 1;
  std::string numerics = "on";
  std::uint64_t seed = 0;
  std::string weights;
  bool synthesize_missing = false;
  std::string format = "table";
  std::string dispatch = "trace";
  bool local_pcc = false;
  std::size_t top = 10;
  bool dtype_given = false;
  bool fidelity_given = false;
};

// A progress bar on stderr, drawn only when stderr is a terminal and the run has taken more
// than a second (short runs and redirected output stay clean).
class ProgressBar {
 public:
  ProgressBar() : enabled_(isatty(fileno(stderr)) != 0), start_(std::chrono::steady_clock::now()) {}
  ~ProgressBar() { finish(); }
  void update(const std::string& label, std::size_t done, std::size_t total) {
    if (!enabled_ || total == 0) return;
    if (!drawn_ && std::chrono::steady_clock::now() - start_ < std::chrono::seconds(1)) return;
    constexpr std::size_t kWidth = 30;
    const std::size_t filled = done * kWidth / total;
    std::cerr << "\r" << label << " [" << std::string(filled, '#')
              << std::string(kWidth - filled, ' ') << "] " << done << "/" << total << " ops"
              << std::flush;
    drawn_ = true;
  }
  void finish() {
    if (drawn_) std::cerr << "\n";
    drawn_ = false;
  }

 private:
  bool enabled_;
  bool drawn_{false};
  std::chrono::steady_clock::time_point start_;
};

nlohmann::json optional_number(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string pcc_text(const std::optional<double>& v) {
  return v ? analysis::format_fixed(*v, 6) : "n/a";
}

void run_model(const RunOptions& o) {
  if (!o.source.graph_file.empty() && (o.dtype_given || o.fidelity_given)) {
    throw Error("--dtype and --fidelity shape a --model; a graph file has them in its nodes");
  }
  workloads::check_graph_source(o.source);
  const std::string device_name = o.device.empty() ? workloads::default_device(o.source) : o.device;
  const arch::DeviceSpec spec = arch::load_device_spec_by_name(device_name);
  if (o.dp != 1 && o.dp != 2) throw Error("--dp must be 1 or 2 (one replica per chip)");
  if (o.dp > spec.num_chips) {
    throw Error("--dp " + std::to_string(o.dp) + " needs " + std::to_string(o.dp) + " chips; " +
                spec.name + " has " + std::to_string(spec.num_chips) + " (use --device n300)");
  }
  const auto dispatch = workloads::parse_dispatch_mode(o.dispatch);
  if (!dispatch) throw Error("--dispatch must be trace or eager, got '" + o.dispatch + "'");

  const workloads::Graph graph = workloads::load_graph(o.source, spec);
  const std::uint32_t batch = graph.batch();
  std::unique_ptr<workloads::WeightFile> weights;
  if (!o.weights.empty()) weights = std::make_unique<workloads::WeightFile>(o.weights);

  ops::Device device(spec);
  ProgressBar bar;
  std::vector<workloads::GraphRun> runs;
  for (std::uint32_t replica = 0; replica < o.dp; ++replica) {
    workloads::ExecutorOptions options;
    options.chip = replica;
    // Replicas run the same program on different data; the values (and PCC) of replica 0
    // stand for all, later replicas run timing only.
    options.numerics = o.numerics == "on" && replica == 0;
    options.seed = o.seed;
    options.dispatch = *dispatch;
    options.local_op_pcc = o.local_pcc;
    options.weights = weights.get();
    options.synthesize_missing_weights = o.synthesize_missing;
    const std::string label = o.dp > 1 ? "chip " + std::to_string(replica) : graph.name();
    options.progress = [&bar, label](std::size_t done, std::size_t total) {
      bar.update(label, done, total);
    };
    runs.push_back(workloads::run_graph(device, graph, options));
    bar.finish();
  }

  // Replicas run concurrently: device time is the slowest one; their host transfers share the
  // PCIe link, so those add up (one command queue, nothing overlapped).
  double device_ns = 0, host_ns = 0, launch_ns = 0;
  std::uint64_t l1_peak = 0, dram_peak = 0;
  for (const auto& r : runs) {
    device_ns = std::max(device_ns, r.device_time_ns);
    host_ns += r.host_write_ns + r.host_read_ns;
    launch_ns = std::max(launch_ns, r.launch_ns);
    l1_peak = std::max(l1_peak, r.l1_peak_bytes);
    dram_peak = std::max(dram_peak, r.dram_peak_bytes);
  }
  const double samples = static_cast<double>(batch) * o.dp;
  const double e2e_ns = launch_ns + host_ns + device_ns;
  const double fps_device = device_ns > 0 ? samples * 1e9 / device_ns : 0;
  const double fps_e2e = e2e_ns > 0 ? samples * 1e9 / e2e_ns : 0;
  const workloads::GraphRun& main = runs.front();

  std::vector<const workloads::NodeRun*> top;
  for (const auto& n : main.nodes) top.push_back(&n);
  std::stable_sort(top.begin(), top.end(),
                   [](const auto* a, const auto* b) { return a->duration_ns > b->duration_ns; });
  if (top.size() > o.top) top.resize(o.top);

  if (o.format == "json") {
    nlohmann::json ops = nlohmann::json::array();
    for (const auto& n : main.nodes) {
      ops.push_back({{"name", n.name},
                     {"group", n.group},
                     {"op", n.op},
                     {"op_code", n.record.op_code},
                     {"duration_ns", n.duration_ns},
                     {"gap_before_ns", n.gap_before_ns},
                     {"core_count", n.record.timing.core_count},
                     {"flops", n.record.flops},
                     {"pcc", optional_number(n.record.pcc)},
                     {"local_pcc", optional_number(n.local_pcc)}});
    }
    nlohmann::json top_ops = nlohmann::json::array();
    for (const auto* n : top) {
      top_ops.push_back({{"name", n->name},
                         {"op_code", n->record.op_code},
                         {"duration_ns", n->duration_ns},
                         {"share", main.op_time_ns > 0 ? n->duration_ns / main.op_time_ns : 0.0}});
    }
    const nlohmann::json out = {{"model", o.source.model.empty() ? graph.name() : o.source.model},
                                {"graph", graph.name()},
                                {"device", spec.name},
                                {"batch", batch},
                                {"dp", o.dp},
                                {"dispatch", std::string(workloads::to_string(*dispatch))},
                                {"numerics", o.numerics == "on"},
                                {"seed", o.seed},
                                {"device_time_ns", device_ns},
                                {"op_time_ns", main.op_time_ns},
                                {"gap_time_ns", main.gap_time_ns},
                                {"host_io_ns", host_ns},
                                {"launch_ns", launch_ns},
                                {"e2e_time_ns", e2e_ns},
                                {"fps_device", fps_device},
                                {"fps_e2e", fps_e2e},
                                {"pcc", optional_number(main.pcc)},
                                {"worst_op_pcc", optional_number(main.worst_op_pcc)},
                                {"worst_op", main.worst_op},
                                {"l1_peak_bytes", l1_peak},
                                {"dram_peak_bytes", dram_peak},
                                {"op_count", main.nodes.size()},
                                {"parameter_count", graph.parameter_count()},
                                {"flops", graph.flops()},
                                {"top_ops", top_ops},
                                {"ops", ops}};
    std::cout << out.dump(2) << "\n";
    return;
  }

  analysis::TextTable summary({"metric", "value"});
  summary.add_row({"model", o.source.model.empty() ? graph.name() : o.source.model});
  summary.add_row(
      {"device",
       spec.name + (o.dp > 1 ? " (data parallel over " + std::to_string(o.dp) + " chips)" : "")});
  summary.add_row({"batch", std::to_string(batch) + (o.dp > 1 ? " per chip" : "")});
  summary.add_row({"ops", std::to_string(main.nodes.size()) + " (" +
                              std::string(workloads::to_string(*dispatch)) + ")"});
  summary.add_row({"device time [ms]", analysis::format_fixed(device_ns / 1e6, 3)});
  summary.add_row({"  ops / gaps [ms]", analysis::format_fixed(main.op_time_ns / 1e6, 3) + " / " +
                                            analysis::format_fixed(main.gap_time_ns / 1e6, 3)});
  summary.add_row({"host I/O [ms]", analysis::format_fixed(host_ns / 1e6, 3)});
  summary.add_row({"device FPS", analysis::format_fixed(fps_device, 1)});
  summary.add_row({"end-to-end FPS", analysis::format_fixed(fps_e2e, 1)});
  summary.add_row({"PCC (end to end)", pcc_text(main.pcc)});
  summary.add_row({"worst op PCC", pcc_text(main.worst_op_pcc) +
                                       (main.worst_op.empty() ? "" : " (" + main.worst_op + ")")});
  summary.add_row(
      {"L1 peak per core [KiB]", analysis::format_fixed(static_cast<double>(l1_peak) / 1024.0, 1)});
  summary.add_row({"DRAM peak [MiB]",
                   analysis::format_fixed(static_cast<double>(dram_peak) / (1024.0 * 1024.0), 1)});
  summary.print(std::cout);
  std::cout << "\ntop ops by device time\n";
  analysis::TextTable table({"node", "op code", "time [us]", "share [%]", "cores", "PCC"});
  for (const auto* n : top) {
    table.add_row({n->name, n->record.op_code, analysis::format_fixed(n->duration_ns / 1e3, 2),
                   analysis::format_fixed(
                       main.op_time_ns > 0 ? 100.0 * n->duration_ns / main.op_time_ns : 0.0, 1),
                   std::to_string(n->record.timing.core_count), pcc_text(n->pcc())});
  }
  table.print(std::cout);
}

const CommandRegistration registration(50, [](CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run one inference of a model graph and report time, FPS, PCC and memory");
  cmd->add_option("--model", o->source.model, "Model of the zoo (see `wormsim graph --list`)");
  cmd->add_option("--graph", o->source.graph_file, "Graph JSON file (docs/graph-format.md)");
  cmd->add_option("--batch", o->source.model_options.batch, "Batch (default: the model's)");
  cmd->add_option("--resolution", o->source.model_options.resolution,
                  "Image side / sequence length (default: the model's)");
  cmd->add_option("--layers", o->source.model_options.layers,
                  "Cut every block stack to this many blocks (0 = full)");
  auto* dtype = cmd->add_option("--dtype", o->source.model_options.dtype, "Model data type")
                    ->capture_default_str();
  auto* fidelity = cmd->add_option("--fidelity", o->source.model_options.fidelity, "Math fidelity")
                       ->capture_default_str();
  cmd->add_option("--device", o->device,
                  "Device spec: n300 or n150 (default: the graph file's, else n300)");
  cmd->add_option("--dp", o->dp, "Data-parallel replicas, one per chip (2 on n300)")
      ->capture_default_str();
  cmd->add_option("--numerics", o->numerics, "Compute values and PCC")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of inputs and synthetic weights")->capture_default_str();
  cmd->add_option("--weights", o->weights, "HDF5 weights (scripts/convert_state_dict.py)");
  cmd->add_flag("--synthesize-missing", o->synthesize_missing,
                "Synthesise weights the --weights file lacks");
  cmd->add_option("--dispatch", o->dispatch,
                  "Op-to-op gaps of a captured trace or of eager dispatch")
      ->check(CLI::IsMember({"trace", "eager"}))
      ->capture_default_str();
  cmd->add_flag("--local-pcc", o->local_pcc,
                "Also compute each op's own PCC on its device inputs (slower)");
  cmd->add_option("--top", o->top, "Ops listed by device time")->capture_default_str();
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->callback([o, dtype, fidelity] {
    o->dtype_given = dtype->count() > 0;
    o->fidelity_given = fidelity->count() > 0;
    run_model(*o);
  });
});

}  // namespace
}  // namespace wormsim::cli
