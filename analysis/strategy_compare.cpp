#include "analysis/strategy_compare.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "sim/error.hpp"
#include "workloads/strategy_search.hpp"

namespace wormsim::analysis {
namespace {

using workloads::Strategy;

StrategyMetrics measure(const workloads::AppliedStrategy& applied, const workloads::GraphRun& run,
                        const RunTraffic& traffic, const arch::DeviceSpec& spec,
                        std::uint32_t batch, const HostMode& mode) {
  StrategyMetrics m;
  const RunSummary summary = summarise_runs({&run}, batch, spec.host, mode);
  m.device_time_ns = summary.device_time_ns;
  m.fps_device = summary.fps_device;
  m.e2e_period_ns = summary.e2e_ns;
  m.fps_e2e = summary.fps_e2e;
  std::map<std::string, double> duration_of;
  for (const workloads::NodeRun& n : run.nodes) {
    m.dram_bytes += n.record.dram_bytes_read + n.record.dram_bytes_written;
    m.noc_bytes += n.record.timing.noc_bytes;
    if (!n.record.fallback_reason.empty()) ++m.program_config_fallbacks;
    duration_of[n.name] = n.duration_ns;
  }
  for (const workloads::ConversionRecord& c : applied.stats.conversions) {
    const double ns = duration_of.count(c.node) ? duration_of.at(c.node) : 0.0;
    ++m.reshard_count;
    m.conversion_time_ns += ns;
    if (c.kind == "attn_island_interleave") {
      ++m.attn_island_interleave_count;
      m.attn_island_interleave_ns += ns;
    } else if (c.kind == "attn_island_reshard") {
      ++m.attn_island_reshard_count;
      m.attn_island_reshard_ns += ns;
    }
  }
  m.placement_fallbacks = applied.stats.placement_fallbacks;
  m.l1_peak_bytes = run.l1_peak_bytes;
  m.pcc = run.pcc;
  // Busiest NoC link: its busy cycles over the run against the ops' time.
  std::vector<sim::Cycle> busy(traffic.element_names.size(), 0);
  for (const auto& node : traffic.nodes) {
    for (const ElementUse& use : node) busy[use.element] += use.busy_cycles;
  }
  const double op_cycles = run.op_time_ns * spec.clock_mhz / 1000.0;
  for (std::size_t e = 0; e < busy.size(); ++e) {
    if (busy[e] == 0) continue;
    if (parse_element_name(traffic.element_names[e]).kind != ElementKind::NocLink) continue;
    const double pct = op_cycles > 0 ? 100.0 * static_cast<double>(busy[e]) / op_cycles : 0.0;
    if (pct > m.max_link_utilisation_pct) {
      m.max_link_utilisation_pct = pct;
      m.busiest_link = traffic.element_names[e];
    }
  }
  return m;
}

StrategyRun simulate(const workloads::Graph& model, const Strategy& strategy,
                     const std::string& name, const StrategyRunOptions& options) {
  StrategyRun r;
  r.name = name;
  r.strategy = strategy;
  workloads::ApplyOptions apply;
  apply.strict = options.strict;
  r.applied = std::make_shared<const workloads::AppliedStrategy>(
      workloads::apply_strategy(model, strategy, apply));
  r.device = std::make_shared<ops::Device>(model.device());
  TrafficRecorder traffic(r.device->engine());
  workloads::ExecutorOptions exec;
  exec.numerics = options.numerics;
  exec.seed = options.seed;
  exec.dispatch = options.host_mode.dispatch;
  exec.weights = options.weights;
  exec.synthesize_missing_weights = options.synthesize_missing_weights;
  exec.inputs = options.inputs;
  exec.strict_program_configs = options.strict;
  traffic.begin_run();
  exec.progress = traffic.wrap(options.progress);
  r.run = workloads::run_graph(*r.device, r.applied->graph, exec);
  r.traffic = traffic.finish_run();
  r.metrics =
      measure(*r.applied, r.run, r.traffic, model.device(), model.batch(), options.host_mode);
  return r;
}

}  // namespace

StrategyRun run_strategy(const workloads::Graph& model, const Strategy& strategy,
                         const StrategyRunOptions& options) {
  return simulate(model, strategy, strategy.name, options);
}

StrategyRun run_auto_strategy(const workloads::Graph& model, const StrategyRunOptions& options,
                              const std::vector<const StrategyRun*>& presets) {
  workloads::SearchOptions search;
  search.beam_width = options.beam_width;
  const arch::DeviceSpec& spec = model.device();
  search.op_gap_ns = options.host_mode.dispatch == workloads::DispatchMode::Trace
                         ? static_cast<double>(spec.host.trace_op_gap_ns)
                         : static_cast<double>(spec.host.eager_dispatch_ns);
  const workloads::SearchResult found = workloads::search_strategy(model, search);
  // The searched plan is costed op by op; the whole run may still refuse it (e.g. --strict, or
  // L1 the isolated costs did not see). Then the best rival stands.
  std::optional<StrategyRun> searched_run;
  std::string search_failure;
  try {
    searched_run = simulate(model, found.strategy, "auto", options);
  } catch (const Error& e) {
    search_failure = e.what();
  }
  std::vector<StrategyRun> own_presets;
  std::vector<const StrategyRun*> rivals = presets;
  if (rivals.empty()) {
    // Timing only: the presets are rivals for speed; the winner is re-run with numerics below.
    StrategyRunOptions timing = options;
    timing.numerics = false;
    timing.progress = {};
    for (const std::string& preset : workloads::strategy_preset_names()) {
      if (preset == "auto") continue;
      try {
        own_presets.push_back(simulate(model, workloads::strategy_preset(preset), preset, timing));
      } catch (const Error&) {
        // A preset that cannot run (strict) is no rival.
      }
    }
    for (const StrategyRun& p : own_presets) rivals.push_back(&p);
  }
  const StrategyRun* best = nullptr;
  for (const StrategyRun* p : rivals) {
    if (best == nullptr || p->metrics.device_time_ns < best->metrics.device_time_ns) best = p;
  }
  const auto ms = [](double ns) { return std::to_string(std::lround(ns / 1e3)) + " us"; };
  if (!searched_run) {
    if (best == nullptr) throw Error("auto strategy: the searched plan failed: " + search_failure);
    StrategyRun chosen = *best;
    if (options.numerics && !best->run.pcc)
      chosen = simulate(model, best->strategy, "auto", options);
    chosen.name = "auto";
    chosen.strategy.name = "auto";
    chosen.strategy.description = "auto: " + best->name + " (the searched plan failed)";
    chosen.note = best->name + " (" + ms(best->metrics.device_time_ns) +
                  "); the searched plan failed: " + search_failure;
    return chosen;
  }
  StrategyRun& searched = *searched_run;
  if (best != nullptr && best->metrics.device_time_ns < searched.metrics.device_time_ns) {
    StrategyRun chosen = *best;
    if (options.numerics && !best->run.pcc)
      chosen = simulate(model, best->strategy, "auto", options);
    chosen.name = "auto";
    chosen.strategy.name = "auto";
    chosen.strategy.description = "auto: " + best->name + " (faster than the searched plan)";
    chosen.note = best->name + " (" + ms(best->metrics.device_time_ns) +
                  ") beat the searched plan (" + ms(searched.metrics.device_time_ns) +
                  "; search estimate " + ms(found.estimated_ns) + ", " +
                  std::to_string(found.timed_ops) + " ops timed)";
    return chosen;
  }
  searched.note = "searched plan (" + ms(searched.metrics.device_time_ns) + "; search estimate " +
                  ms(found.estimated_ns) + ", " + std::to_string(found.timed_ops) + " ops timed" +
                  (best ? "; best rival " + best->name + " " + ms(best->metrics.device_time_ns)
                        : std::string()) +
                  ")";
  return std::move(searched);
}

StrategyRun run_named_strategy(const workloads::Graph& model, const std::string& name,
                               const StrategyRunOptions& options) {
  if (name == "auto") return run_auto_strategy(model, options, {});
  const Strategy strategy = workloads::strategy_from_name_or_file(name);
  return simulate(model, strategy, strategy.name, options);
}

std::vector<OpDifference> differing_ops(const StrategyRun& a, const StrategyRun& b,
                                        std::size_t top) {
  std::map<std::string, OpDifference> by_name;
  for (const auto& n : a.run.nodes) {
    auto& d = by_name[n.name];
    d.node = n.name;
    d.op = n.op;
    d.a_ns += n.duration_ns;
  }
  for (const auto& n : b.run.nodes) {
    auto& d = by_name[n.name];
    d.node = n.name;
    d.op = n.op;
    d.b_ns += n.duration_ns;
  }
  std::vector<OpDifference> out;
  for (auto& [name, d] : by_name) out.push_back(d);
  std::stable_sort(out.begin(), out.end(), [](const OpDifference& x, const OpDifference& y) {
    return std::abs(x.b_ns - x.a_ns) > std::abs(y.b_ns - y.a_ns);
  });
  if (out.size() > top) out.resize(top);
  return out;
}

nlohmann::json strategy_run_json(const StrategyRun& r) {
  const StrategyMetrics& m = r.metrics;
  return {{"strategy", r.name},
          {"note", r.note},
          {"device_time_ns", m.device_time_ns},
          {"fps_device", m.fps_device},
          {"e2e_period_ns", m.e2e_period_ns},
          {"fps_e2e", m.fps_e2e},
          {"dram_bytes", m.dram_bytes},
          {"noc_bytes", m.noc_bytes},
          {"max_link_utilisation_pct", m.max_link_utilisation_pct},
          {"busiest_link", m.busiest_link},
          {"reshard_count", m.reshard_count},
          {"conversion_time_ns", m.conversion_time_ns},
          {"attn_island_interleave_count", m.attn_island_interleave_count},
          {"attn_island_interleave_ns", m.attn_island_interleave_ns},
          {"attn_island_reshard_count", m.attn_island_reshard_count},
          {"attn_island_reshard_ns", m.attn_island_reshard_ns},
          {"l1_peak_bytes", m.l1_peak_bytes},
          {"program_config_fallback_total", m.program_config_fallbacks},
          {"placement_fallbacks", m.placement_fallbacks},
          {"fallback_count", m.program_config_fallbacks + m.placement_fallbacks},
          {"op_count", r.run.nodes.size()},
          {"pcc", m.pcc ? nlohmann::json(*m.pcc) : nlohmann::json(nullptr)}};
}

}  // namespace wormsim::analysis
