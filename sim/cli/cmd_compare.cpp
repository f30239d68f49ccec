// `wormsim compare --model M --strategies a,b,c|all`: runs a model under several sharding
// strategies (numerics off unless asked), prints them side by side, names the winner and the
// ops that differ most, and stores every run plus the comparison in the results database
// (analysis/strategy_compare.hpp has the rules, docs/strategies.md the presets).
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analysis/results_db.hpp"
#include "analysis/run_outputs.hpp"
#include "analysis/strategy_compare.hpp"
#include "analysis/text_table.hpp"
#include "sim/cli/command_registry.hpp"
#include "sim/cli/host_mode_flags.hpp"
#include "workloads/graph_source.hpp"

namespace wormsim::cli {
namespace {

struct CompareOptions {
  workloads::GraphSource source;
  std::string device;
  std::string strategies = "all";
  std::string numerics = "off";
  std::uint64_t seed = 0;
  HostModeFlags host;
  bool dtype_given = false;
  bool fidelity_given = false;
  bool strict = false;
  std::uint32_t beam = 4;
  std::size_t top = 8;
  std::string format = "table";
  std::string db = analysis::kDefaultResultsDb;
  bool no_db = false;
  std::string save_auto;
};

std::vector<std::string> split_strategies(const std::string& text) {
  std::vector<std::string> names;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) continue;
    if (item == "all") {
      for (const std::string& p : workloads::strategy_preset_names()) names.push_back(p);
    } else {
      names.push_back(item);
    }
  }
  std::vector<std::string> unique;
  for (const auto& n : names) {
    if (std::find(unique.begin(), unique.end(), n) == unique.end()) unique.push_back(n);
  }
  if (unique.empty()) throw Error("--strategies is empty; give e.g. block-sharded,auto or all");
  return unique;
}

std::string mb(std::uint64_t bytes) {
  return analysis::format_fixed(static_cast<double>(bytes) / 1e6, 1);
}

void compare(CompareOptions& o) {
  if (!o.source.graph_file.empty() && (o.dtype_given || o.fidelity_given))
    throw Error("--dtype and --fidelity shape a --model; a graph file has them in its nodes");
  if (o.beam == 0) throw Error("--beam must be at least 1");
  workloads::check_graph_source(o.source);
  const std::string device_name = o.device.empty() ? workloads::default_device(o.source) : o.device;
  const arch::DeviceSpec spec = arch::load_device_spec_by_name(device_name);
  const analysis::HostMode host_mode = resolve_host_mode(o.host);
  const std::vector<std::string> names = split_strategies(o.strategies);
  if (!o.save_auto.empty() && std::find(names.begin(), names.end(), "auto") == names.end())
    throw Error("--save-auto needs auto among --strategies");
  // Unknown names and unreadable files fail before any simulation.
  for (const std::string& n : names) {
    if (n != "auto") workloads::strategy_from_name_or_file(n);
  }
  analysis::RunOutputRequest check;
  check.spec = &spec;
  if (!o.no_db) check.db_path = o.db;
  analysis::check_run_outputs(check);

  const workloads::Graph graph = workloads::load_graph(o.source, spec);
  analysis::StrategyRunOptions options;
  options.numerics = o.numerics == "on";
  options.seed = o.seed;
  options.host_mode = host_mode;
  options.strict = o.strict;
  options.beam_width = o.beam;

  // Presets and files first (auto must beat them), then auto; reported in the order asked.
  std::vector<std::optional<analysis::StrategyRun>> runs(names.size());
  std::vector<const analysis::StrategyRun*> rivals;
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (names[k] == "auto") continue;
    std::cerr << "wormsim: running " << names[k] << "\n";
    runs[k] = analysis::run_named_strategy(graph, names[k], options);
    runs[k]->name = names[k];  // a file is listed by its path (names inside may repeat)
  }
  for (const auto& r : runs) {
    if (r) rivals.push_back(&*r);
  }
  for (std::size_t k = 0; k < names.size(); ++k) {
    if (names[k] != "auto") continue;
    std::cerr << "wormsim: searching auto\n";
    runs[k] = analysis::run_auto_strategy(graph, options, rivals);
    if (!o.save_auto.empty()) runs[k]->strategy.save(o.save_auto);
  }
  std::vector<const analysis::StrategyRun*> ordered;
  for (const auto& r : runs) ordered.push_back(&*r);
  const analysis::StrategyRun* winner = ordered.front();
  for (const auto* r : ordered) {
    if (r->metrics.device_time_ns < winner->metrics.device_time_ns) winner = r;
  }
  // The runner-up: the fastest strategy slower than the winner (auto may have adopted a preset
  // and tie with it), else any other.
  const analysis::StrategyRun* runner_up = nullptr;
  for (const bool strictly_slower : {true, false}) {
    for (const auto* r : ordered) {
      if (r == winner) continue;
      if (strictly_slower && r->metrics.device_time_ns <= winner->metrics.device_time_ns) continue;
      if (runner_up == nullptr || r->metrics.device_time_ns < runner_up->metrics.device_time_ns)
        runner_up = r;
    }
    if (runner_up) break;
  }

  // Results database: every run, then the comparison naming them.
  std::vector<std::int64_t> run_ids;
  std::optional<std::int64_t> best_run_id;
  nlohmann::json list = nlohmann::json::array();
  for (const auto* r : ordered) list.push_back(analysis::strategy_run_json(*r));
  std::optional<std::int64_t> comparison_id;
  const std::string model = o.source.model.empty() ? graph.name() : o.source.model;
  if (!o.no_db) {
    for (const auto* r : ordered) {
      analysis::RunOutputRequest request;
      request.spec = &spec;
      request.graph = &r->applied->graph;
      request.engine = &r->device->engine();
      request.db_path = o.db;
      request.runs.push_back({&r->run, &r->traffic});
      request.info.model = model;
      request.info.graph = graph.name();
      request.info.device = spec.name;
      request.info.batch = graph.batch();
      request.info.strategy = r->name;
      request.info.numerics = options.numerics;
      request.info.seed = o.seed;
      request.info.wormsim_version = WORMSIM_VERSION;
      request.info.command_queues = host_mode.command_queues;
      request.info.io_queue = host_mode.io_queue;
      request.info.config = {{"command", "compare"},
                             {"model", o.source.model},
                             {"graph_file", o.source.graph_file},
                             {"strategy", r->strategy.to_json()},
                             {"dispatch", std::string(workloads::to_string(host_mode.dispatch))},
                             {"cq", o.host.cq},
                             {"io_cq", o.host.io_cq},
                             {"strict", o.strict}};
      for (const auto& c : r->applied->stats.choices) {
        request.info.strategy_choices.push_back(
            {c.node, c.op, c.memory_config, c.program_config, c.reason});
      }
      const analysis::RunOutputResult written = analysis::write_run_outputs(request);
      run_ids.push_back(*written.run_id);
      if (r == winner) best_run_id = written.run_id;
    }
    analysis::ComparisonRecord record;
    record.model = model;
    record.label = "strategies " + o.strategies;
    record.run_ids = run_ids;
    record.best_run_id = best_run_id;
    record.summary = {{"winner", winner->name}, {"strategies", list}};
    auto db = analysis::ResultsDb::open_for_write(o.db);
    comparison_id = db.insert_comparison(record);
  }

  const auto differences = runner_up ? analysis::differing_ops(*winner, *runner_up, o.top)
                                     : std::vector<analysis::OpDifference>{};
  if (o.format == "json") {
    for (std::size_t k = 0; k < list.size() && k < run_ids.size(); ++k)
      list[k]["run_id"] = run_ids[k];
    nlohmann::json diff = nlohmann::json::array();
    for (const auto& d : differences) {
      diff.push_back({{"node", d.node},
                      {"op", d.op},
                      {winner->name + "_ns", d.a_ns},
                      {runner_up->name + "_ns", d.b_ns}});
    }
    nlohmann::json out = {
        {"model", model},
        {"device", spec.name},
        {"batch", graph.batch()},
        {"winner", winner->name},
        {"runner_up", runner_up ? nlohmann::json(runner_up->name) : nlohmann::json(nullptr)},
        {"comparison_id", comparison_id ? nlohmann::json(*comparison_id) : nlohmann::json(nullptr)},
        {"strategies", list},
        {"differing_ops", diff}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << model << " on " << spec.name << ", batch " << graph.batch() << ", "
            << analysis::describe(host_mode)
            << (options.numerics ? ", numerics on" : ", timing only") << "\n\n";
  analysis::TextTable table({"strategy", "device ms", "FPS", "e2e FPS", "DRAM MB", "NoC MB",
                             "max link %", "conversions", "L1 peak KiB", "PC fallbacks",
                             "placement fallbacks"});
  for (const auto* r : ordered) {
    const auto& m = r->metrics;
    table.add_row(
        {r->name + (r == winner ? " *" : ""), analysis::format_fixed(m.device_time_ns / 1e6, 3),
         analysis::format_fixed(m.fps_device, 1), analysis::format_fixed(m.fps_e2e, 1),
         mb(m.dram_bytes), mb(m.noc_bytes), analysis::format_fixed(m.max_link_utilisation_pct, 1),
         std::to_string(m.reshard_count),
         analysis::format_fixed(static_cast<double>(m.l1_peak_bytes) / 1024.0, 1),
         std::to_string(m.program_config_fallbacks), std::to_string(m.placement_fallbacks)});
  }
  table.print(std::cout);
  std::cout << "\nwinner: " << winner->name;
  if (runner_up) {
    std::cout << ", "
              << analysis::format_fixed(
                     runner_up->metrics.device_time_ns / winner->metrics.device_time_ns, 2)
              << "x faster than " << runner_up->name;
  }
  std::cout << "\n";
  for (const auto* r : ordered) {
    if (r->metrics.attn_island_interleave_count + r->metrics.attn_island_reshard_count > 0) {
      std::cout << r->name << ": attn_island_interleave " << r->metrics.attn_island_interleave_count
                << " ops / "
                << analysis::format_fixed(r->metrics.attn_island_interleave_ns / 1e3, 1)
                << " us, attn_island_reshard " << r->metrics.attn_island_reshard_count << " ops / "
                << analysis::format_fixed(r->metrics.attn_island_reshard_ns / 1e3, 1) << " us\n";
    }
    if (!r->note.empty()) std::cout << r->name << ": " << r->note << "\n";
  }
  if (!differences.empty()) {
    std::cout << "\nops that differ most (" << winner->name << " vs " << runner_up->name << ")\n";
    analysis::TextTable diff({"node", "op", winner->name + " us", runner_up->name + " us"});
    for (const auto& d : differences) {
      diff.add_row({d.node, d.op, analysis::format_fixed(d.a_ns / 1e3, 1),
                    analysis::format_fixed(d.b_ns / 1e3, 1)});
    }
    diff.print(std::cout);
  }
  if (comparison_id) {
    std::cout << "\nresults database: " << o.db << " (comparison " << *comparison_id << ", runs";
    for (auto id : run_ids) std::cout << " " << id;
    std::cout << ")\n";
  }
  if (!o.save_auto.empty()) std::cout << "auto strategy saved to " << o.save_auto << "\n";
}

const CommandRegistration registration(55, [](CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Run a model under several sharding strategies and compare them side by side");
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
  cmd->add_option("--device", o->device, "Device spec: n300 or n150");
  cmd->add_option("--strategies", o->strategies,
                  "Comma-separated presets, strategy JSON files and/or auto; all = every preset "
                  "and auto")
      ->capture_default_str();
  cmd->add_option("--numerics", o->numerics, "Compute values and PCC too")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of inputs and synthetic weights")->capture_default_str();
  add_host_mode_flags(cmd, o->host);
  cmd->add_flag("--strict", o->strict,
                "A requested placement or program config that cannot be used is an error");
  cmd->add_option("--beam", o->beam, "Beam width of the auto search")->capture_default_str();
  cmd->add_option("--top", o->top, "Differing ops listed")->capture_default_str();
  cmd->add_option("--format", o->format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  auto* db = cmd->add_option("--db", o->db, "Results database")->capture_default_str();
  cmd->add_flag("--no-db", o->no_db, "Do not write the results database")->excludes(db);
  cmd->add_option("--save-auto", o->save_auto, "Write auto's chosen strategy to this JSON file");
  cmd->callback([o, dtype, fidelity] {
    o->dtype_given = dtype->count() > 0;
    o->fidelity_given = fidelity->count() > 0;
    compare(*o);
  });
});

}  // namespace
}  // namespace wormsim::cli
