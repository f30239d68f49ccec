// `wormsim run --model NAME | --graph FILE`: one inference of a model on N300 / N150 with
// device time, FPS, PCC and memory peaks (workloads/executor.hpp has the execution rules), the
// console report (op types, top ops and their bound class, op-to-op gaps, advice) and the
// profiling outputs of analysis/run_outputs.hpp: the results database (./wormsim.db unless
// --db PATH / --no-db), --csv (tt-metal ops_perf), --trace-json (Perfetto) and --ttnn-report.
// The host mode (--trace / --eager, --cq 1|2, --io-cq) sets how the device is dispatched and
// how the end-to-end period of many inferences is modelled (analysis::HostPipeline).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/run_outputs.hpp"
#include "analysis/strategy_compare.hpp"
#include "analysis/text_table.hpp"
#include "ops/op_registry.hpp"
#include "ops/op_timing_reuse.hpp"
#include "sim/cli/command_registry.hpp"
#include "sim/cli/host_mode_flags.hpp"
#include "workloads/depth_demo.hpp"
#include "workloads/executor.hpp"
#include "workloads/graph_source.hpp"
#include "workloads/strategy.hpp"

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
  // Host mode: --dispatch / --trace / --eager, command queues, I/O queue.
  HostModeFlags host;
  // Sharding strategy (docs/strategies.md): "" = the model's own placement.
  std::string strategy;
  bool strict = false;
  std::string save_strategy;
  std::uint32_t beam = 4;
  bool local_pcc = false;
  bool no_op_reuse = false;
  bool verify_op_reuse = false;
  std::size_t top = 10;
  bool dtype_given = false;
  bool fidelity_given = false;
  // Depth demo (workloads/depth_demo.hpp): image fed as pixel_values, depth map file.
  std::string input;
  std::string dump_depth;
  // Profiling outputs ("" = not written).
  std::string csv;
  std::string db = analysis::kDefaultResultsDb;
  bool no_db = false;
  std::string trace_json;
  std::string ttnn_report;
};

// What the run was asked to do, stored with it in the results database (runs.config_json).
nlohmann::json config_json(const RunOptions& o, const std::string& device_name) {
  const auto& m = o.source.model_options;
  nlohmann::json config = {{"model", o.source.model},
                           {"graph_file", o.source.graph_file},
                           {"device", device_name},
                           {"dp", o.dp},
                           {"numerics", o.numerics},
                           {"seed", o.seed},
                           {"weights", o.weights},
                           {"synthesize_missing", o.synthesize_missing},
                           {"dispatch", o.host.dispatch},
                           {"local_pcc", o.local_pcc},
                           {"cq", o.host.cq},
                           {"io_cq", o.host.io_cq},
                           {"strategy", o.strategy},
                           {"strict", o.strict}};
  // Model options shape a zoo model only; a graph file carries its own.
  if (!o.source.model.empty()) {
    config["batch"] = m.batch;  // 0 = the model's default
    config["resolution"] = m.resolution;
    config["layers"] = m.layers;
    config["dtype"] = m.dtype;
    config["fidelity"] = m.fidelity;
  }
  return config;
}

nlohmann::json path_or_null(const std::filesystem::path& path) {
  return path.empty() ? nlohmann::json(nullptr) : nlohmann::json(path.string());
}

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

std::string ms_text(double ns) { return analysis::format_fixed(ns / 1e6, 3); }

void run_model(RunOptions& o) {
  const analysis::HostMode host_mode = resolve_host_mode(o.host);
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

  analysis::RunOutputRequest request;
  request.spec = &spec;
  request.csv_path = o.csv;
  if (!o.no_db) request.db_path = o.db;
  request.trace_json_path = o.trace_json;
  request.ttnn_report_dir = o.ttnn_report;
  request.report_options.top = o.top;
  // A mistyped output path fails now, not after the simulation.
  analysis::check_run_outputs(request);

  if (!o.save_strategy.empty() && o.strategy.empty())
    throw Error("--save-strategy needs --strategy (a preset, auto or a file)");
  // A named strategy or file is read before the model is built.
  std::optional<workloads::Strategy> strategy;
  if (!o.strategy.empty() && o.strategy != "auto")
    strategy = workloads::strategy_from_name_or_file(o.strategy);
  const workloads::Graph model_graph = workloads::load_graph(o.source, spec);
  std::string strategy_note;
  if (o.strategy == "auto") {
    // Searched and checked against the presets timing-only; the chosen plan runs below.
    analysis::StrategyRunOptions search;
    search.host_mode = host_mode;
    search.strict = o.strict;
    search.seed = o.seed;
    search.beam_width = o.beam;
    const analysis::StrategyRun chosen = analysis::run_auto_strategy(model_graph, search, {});
    strategy = chosen.strategy;
    strategy_note = chosen.note;
  }
  // Without a strategy the model's placement stands (--strict then only makes the program
  // configs a graph file requests errors instead of fallbacks, in the executor).
  workloads::ApplyOptions apply;
  apply.strict = o.strict;
  std::optional<workloads::AppliedStrategy> applied;
  if (strategy) {
    applied = workloads::apply_strategy(model_graph, *strategy, apply);
    if (!o.save_strategy.empty()) strategy->save(o.save_strategy);
  }
  const workloads::Graph& graph = applied ? applied->graph : model_graph;
  // --input / --dump-depth are checked (and the image read) before the run.
  const workloads::DepthDemo depth_demo =
      workloads::prepare_depth_demo(graph, o.input, o.dump_depth, o.numerics == "on");
  const std::uint32_t batch = graph.batch();
  std::unique_ptr<workloads::WeightFile> weights;
  if (!o.weights.empty()) weights = std::make_unique<workloads::WeightFile>(o.weights);

  ops::Device device(spec);
  ProgressBar bar;
  // Per-op NoC link / DRAM bank / Ethernet traffic for the CSV, the trace and the database.
  analysis::TrafficRecorder traffic(device.engine());
  std::vector<workloads::GraphRun> runs;
  std::vector<analysis::RunTraffic> traffics;
  runs.reserve(o.dp);
  traffics.reserve(o.dp);
  for (std::uint32_t replica = 0; replica < o.dp; ++replica) {
    workloads::ExecutorOptions options;
    options.chip = replica;
    // Replicas run the same program on different data; the values (and PCC) of replica 0
    // stand for all, later replicas run timing only.
    options.numerics = o.numerics == "on" && replica == 0;
    options.seed = o.seed;
    options.dispatch = host_mode.dispatch;
    options.local_op_pcc = o.local_pcc;
    options.reuse_op_timing = !o.no_op_reuse;
    options.verify_op_reuse = o.verify_op_reuse;
    options.strict_program_configs = o.strict;
    options.weights = weights.get();
    options.synthesize_missing_weights = o.synthesize_missing;
    options.inputs = depth_demo.inputs;
    const std::string label = o.dp > 1 ? "chip " + std::to_string(replica) : graph.name();
    traffic.begin_run();
    options.progress = traffic.wrap(
        [&bar, label](std::size_t done, std::size_t total) { bar.update(label, done, total); });
    runs.push_back(workloads::run_graph(device, graph, options));
    traffics.push_back(traffic.finish_run());
    bar.finish();
  }
  if (!depth_demo.dump_path.empty()) {
    // stderr: stdout may be the JSON report.
    std::cerr << "wormsim: "
              << workloads::write_depth_dump(depth_demo, workloads::depth_map(graph, runs.front()))
              << "\n";
  }

  const std::string model = o.source.model.empty() ? graph.name() : o.source.model;
  request.graph = &graph;
  request.engine = &device.engine();
  for (std::size_t k = 0; k < runs.size(); ++k) request.runs.push_back({&runs[k], &traffics[k]});
  request.info.model = model;
  request.info.graph = graph.name();
  request.info.device = spec.name;
  request.info.batch = batch;
  request.info.dp = o.dp;
  request.info.numerics = o.numerics == "on";
  request.info.seed = o.seed;
  request.info.command_queues = host_mode.command_queues;
  request.info.io_queue = host_mode.io_queue;
  request.info.wormsim_version = WORMSIM_VERSION;
  request.info.strategy = strategy ? o.strategy : "";
  if (applied) {
    for (const auto& c : applied->stats.choices) {
      request.info.strategy_choices.push_back(
          {c.node, c.op, c.memory_config, c.program_config, c.reason});
    }
  }
  // Program configs replaced by automatic ones (program_config_fallback_total) and requested
  // placements that did not fit (the strategy's fallbacks).
  std::uint32_t program_config_fallbacks = 0;
  for (const auto& n : runs.front().nodes) {
    if (!n.record.fallback_reason.empty()) ++program_config_fallbacks;
  }
  const std::uint32_t placement_fallbacks = applied ? applied->stats.placement_fallbacks : 0;
  const std::uint32_t conversions =
      applied ? static_cast<std::uint32_t>(applied->stats.conversions.size()) : 0;
  request.info.config = config_json(o, spec.name);

  std::vector<const workloads::GraphRun*> run_ptrs;
  for (const auto& r : runs) run_ptrs.push_back(&r);
  // Replicas run concurrently: device time is the slowest one; their host transfers share the
  // PCIe link, so those add up. The host mode sets what overlaps (analysis::HostPipeline).
  const analysis::RunSummary s = analysis::summarise_runs(run_ptrs, batch, spec.host, host_mode);
  const analysis::HostPipeline& pipe = s.pipeline;
  const workloads::GraphRun& main = runs.front();

  if (o.format == "json") {
    // stdout stays one JSON document: no console report, the outputs are keys.
    const analysis::RunOutputResult written = analysis::write_run_outputs(request);
    std::map<const workloads::NodeRun*, const analysis::OpProfile*> profile_of;
    for (const auto& op : written.profile.ops) profile_of[op.node] = &op;
    const auto bound_of = [&](const workloads::NodeRun& n) {
      const auto it = profile_of.find(&n);
      return it == profile_of.end() ? std::string()
                                    : std::string(analysis::to_string(it->second->bound));
    };
    const auto advice_of = [&](const workloads::NodeRun& n) {
      const auto it = profile_of.find(&n);
      return it == profile_of.end() ? std::string() : it->second->advice;
    };
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
                     {"bound", bound_of(n)},
                     {"advice", advice_of(n)},
                     {"pcc", optional_number(n.record.pcc)},
                     {"local_pcc", optional_number(n.local_pcc)}});
    }
    std::vector<const workloads::NodeRun*> top;
    for (const auto& n : main.nodes) top.push_back(&n);
    std::stable_sort(top.begin(), top.end(),
                     [](const auto* a, const auto* b) { return a->duration_ns > b->duration_ns; });
    if (top.size() > o.top) top.resize(o.top);
    nlohmann::json top_ops = nlohmann::json::array();
    for (const auto* n : top) {
      top_ops.push_back({{"name", n->name},
                         {"op_code", n->record.op_code},
                         {"duration_ns", n->duration_ns},
                         {"share", main.op_time_ns > 0 ? n->duration_ns / main.op_time_ns : 0.0},
                         {"bound", bound_of(*n)}});
    }
    const nlohmann::json out = {
        {"model", model},
        {"graph", graph.name()},
        {"device", spec.name},
        {"batch", batch},
        {"dp", o.dp},
        {"dispatch", std::string(workloads::to_string(host_mode.dispatch))},
        {"cq", host_mode.command_queues},
        {"io_cq", host_mode.io_queue},
        {"host_mode", analysis::describe(host_mode)},
        {"numerics", o.numerics == "on"},
        {"seed", o.seed},
        {"device_time_ns", s.device_time_ns},
        {"op_time_ns", s.op_time_ns},
        {"gap_time_ns", s.gap_time_ns},
        {"host_io_ns", s.host_io_ns},
        {"host_write_ns", pipe.host_write_ns},
        {"host_read_ns", pipe.host_read_ns},
        {"launch_ns", s.launch_ns},
        {"e2e_time_ns", s.e2e_ns},
        {"period",
         {{"period_ns", pipe.period_ns},
          {"latency_ns", pipe.latency_ns},
          {"compute_queue_ns", pipe.compute_queue_ns},
          {"io_queue_ns", pipe.io_queue_ns},
          {"host_thread_ns", pipe.host_thread_ns},
          {"sync_ns", pipe.sync_ns},
          {"queue_events", pipe.queue_events},
          {"postprocess_ns", pipe.postprocess_ns},
          {"bottleneck", pipe.bottleneck}}},
        {"fps_device", s.fps_device},
        {"fps_e2e", s.fps_e2e},
        {"pcc", optional_number(s.pcc)},
        {"worst_op_pcc", optional_number(s.worst_op_pcc)},
        {"worst_op", s.worst_op},
        {"l1_peak_bytes", s.l1_peak_bytes},
        {"dram_peak_bytes", s.dram_peak_bytes},
        {"op_count", s.op_count},
        {"engine_events", device.engine().events_processed()},
        {"programs_simulated", device.timing_reuse().counters().simulated},
        {"programs_reused", device.timing_reuse().counters().reused},
        {"programs_verified", device.timing_reuse().counters().verified},
        {"strategy", request.info.strategy},
        {"strategy_note", strategy_note},
        {"conversion_count", conversions},
        {"program_config_fallback_total", program_config_fallbacks},
        {"placement_fallbacks", placement_fallbacks},
        {"parameter_count", graph.parameter_count()},
        {"flops", graph.flops()},
        {"gap_advice", analysis::gap_advice(written.profile)},
        {"run_id", written.run_id ? nlohmann::json(*written.run_id) : nlohmann::json(nullptr)},
        {"db",
         request.db_path ? nlohmann::json(request.db_path->string()) : nlohmann::json(nullptr)},
        {"csv", path_or_null(request.csv_path)},
        {"trace_json", path_or_null(request.trace_json_path)},
        {"ttnn_report", path_or_null(request.ttnn_report_dir)},
        {"top_ops", top_ops},
        {"ops", ops}};
    std::cout << out.dump(2) << "\n";
    return;
  }

  analysis::TextTable summary({"metric", "value"});
  summary.add_row({"model", model});
  summary.add_row(
      {"device",
       spec.name + (o.dp > 1 ? " (data parallel over " + std::to_string(o.dp) + " chips)" : "")});
  summary.add_row({"batch", std::to_string(batch) + (o.dp > 1 ? " per chip" : "")});
  summary.add_row({"ops", std::to_string(s.op_count) + " (" +
                              std::string(workloads::to_string(host_mode.dispatch)) + ")"});
  summary.add_row({"host mode", analysis::describe(host_mode)});
  summary.add_row(
      {"strategy", strategy ? o.strategy + (strategy_note.empty() ? "" : " (" + strategy_note + ")")
                            : "model (as built)"});
  summary.add_row({"conversion ops", std::to_string(conversions)});
  summary.add_row({"program_config_fallback_total", std::to_string(program_config_fallbacks)});
  summary.add_row({"placement fallbacks", std::to_string(placement_fallbacks)});
  summary.add_row({"device time [ms]", ms_text(s.device_time_ns)});
  summary.add_row({"  ops / gaps [ms]", ms_text(s.op_time_ns) + " / " + ms_text(s.gap_time_ns)});
  summary.add_row(
      {"host write / read [ms]", ms_text(pipe.host_write_ns) + " / " + ms_text(pipe.host_read_ns)});
  summary.add_row({"launch / post-processing [ms]",
                   ms_text(pipe.launch_ns) + " / " + ms_text(pipe.postprocess_ns)});
  summary.add_row(
      {"period per inference [ms]", ms_text(pipe.period_ns) + " (" + pipe.bottleneck + ")"});
  if (host_mode.command_queues > 1) {
    summary.add_row({"  CQ 0 / CQ 1 / host / sync [ms]",
                     ms_text(pipe.compute_queue_ns) + " / " + ms_text(pipe.io_queue_ns) + " / " +
                         ms_text(pipe.host_thread_ns) + " / " + ms_text(pipe.sync_ns)});
  }
  summary.add_row({"device FPS", analysis::format_fixed(s.fps_device, 1)});
  summary.add_row({"end-to-end FPS", analysis::format_fixed(s.fps_e2e, 1)});
  summary.add_row({"PCC (end to end)", pcc_text(s.pcc)});
  summary.add_row({"worst op PCC",
                   pcc_text(s.worst_op_pcc) + (s.worst_op.empty() ? "" : " (" + s.worst_op + ")")});
  summary.add_row({"L1 peak per core [KiB]",
                   analysis::format_fixed(static_cast<double>(s.l1_peak_bytes) / 1024.0, 1)});
  summary.add_row(
      {"DRAM peak [MiB]",
       analysis::format_fixed(static_cast<double>(s.dram_peak_bytes) / (1024.0 * 1024.0), 1)});
  summary.print(std::cout);
  std::cout << "\n";

  // The console report (op types, top ops with bound class, gaps, advice) follows the files.
  request.report = &std::cout;
  const analysis::RunOutputResult written = analysis::write_run_outputs(request);

  std::cout << "\noutputs\n";
  if (written.run_id) {
    std::cout << "  results database: " << request.db_path->string() << " (run " << *written.run_id
              << "; `wormsim query top-ops --run " << *written.run_id
              << (request.db_path->string() == analysis::kDefaultResultsDb
                      ? std::string()
                      : " --db " + request.db_path->string())
              << "`)\n";
  } else {
    std::cout << "  results database: not written (--no-db)\n";
  }
  if (!request.csv_path.empty())
    std::cout << "  ops_perf CSV: " << request.csv_path.string() << "\n";
  if (!request.trace_json_path.empty()) {
    std::cout << "  trace (Perfetto / chrome://tracing): " << request.trace_json_path.string()
              << "\n";
  }
  if (!request.ttnn_report_dir.empty()) {
    std::cout << "  ttnn-visualizer report: " << request.ttnn_report_dir.string() << "\n";
  }
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
  add_host_mode_flags(cmd, o->host);
  cmd->add_option("--strategy", o->strategy,
                  "Sharding strategy: a preset (dram-interleaved, l1-interleaved, height-sharded, "
                  "block-sharded, hybrid-attention-island), auto, or a strategy JSON file");
  cmd->add_flag("--strict", o->strict,
                "A requested placement or program config that cannot be used is an error, not a "
                "fallback");
  cmd->add_option("--save-strategy", o->save_strategy,
                  "Write the strategy that ran (auto: the chosen plan) to this JSON file");
  cmd->add_option("--beam", o->beam, "Beam width of --strategy auto's search")
      ->capture_default_str();
  cmd->add_flag("--local-pcc", o->local_pcc,
                "Also compute each op's own PCC on its device inputs (slower)");
  cmd->add_flag("--no-op-reuse", o->no_op_reuse,
                "Simulate every op's program, even one identical to an earlier op (whose "
                "recorded timing is otherwise replayed; results are the same, only slower)");
  cmd->add_flag("--verify-op-reuse", o->verify_op_reuse,
                "Simulate identical ops too and check each against the recording a replay "
                "would use (an error if they differ): a self-check for new models and specs")
      ->excludes("--no-op-reuse");
  cmd->add_option("--top", o->top, "Ops listed by device time")->capture_default_str();
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  cmd->add_option("--input", o->input,
                  "Image (PNG / PPM) fed to a depth model as pixel_values (docs/models.md)");
  cmd->add_option("--dump-depth", o->dump_depth,
                  "Write the depth map of image 0 here: .npy (float32) or .png (colour-mapped)");
  cmd->add_option("--csv", o->csv, "Write tt-metal's ops_perf_results CSV (one row per op) here");
  auto* db =
      cmd->add_option("--db", o->db, "Results database the run is added to")->capture_default_str();
  cmd->add_flag("--no-db", o->no_db, "Do not write the results database")->excludes(db);
  cmd->add_option("--trace-json", o->trace_json,
                  "Write a Perfetto / Chrome trace-event JSON of the run here");
  cmd->add_option("--ttnn-report", o->ttnn_report,
                  "Write a ttnn-visualizer report folder (db.sqlite, config.json) here");
  cmd->callback([o, dtype, fidelity] {
    o->dtype_given = dtype->count() > 0;
    o->fidelity_given = fidelity->count() > 0;
    run_model(*o);
  });
});

}  // namespace
}  // namespace wormsim::cli
