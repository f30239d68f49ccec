#include "analysis/perfetto_trace.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "sim/error.hpp"

namespace wormsim::analysis {
namespace {

constexpr long long kOpsTid = 1;
constexpr long long kFirstCoreTid = 10;

struct Event {
  int pid{0};
  long long tid{0};  // slices; counters are keyed by name
  char ph{'X'};
  double ts_ns{0};
  double dur_ns{0};
  std::string name;
  std::string cat;
  std::string args;  // JSON object text, or empty
};

std::string quoted(const std::string& text) { return nlohmann::json(text).dump(); }

std::string micros(double ns) {
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "%.3f", ns / 1000.0);
  return buffer;
}

int chip_pid(std::uint32_t chip) { return static_cast<int>(chip) + 1; }

long long core_tid(const ops::CoreCoord& core, std::size_t risc, std::uint32_t grid_x) {
  return kFirstCoreTid +
         static_cast<long long>((core.y * grid_x + core.x) * ops::kRiscCount + risc);
}

std::string core_track_name(const ops::CoreCoord& core, std::size_t risc) {
  return "core (" + std::to_string(core.x) + "," + std::to_string(core.y) + ") " +
         std::string(ops::to_string(static_cast<ops::Risc>(risc)));
}

std::string counter_args(double value) {
  char buffer[48];
  std::snprintf(buffer, sizeof(buffer), "{\"%%\":%.3f}", value);
  return buffer;
}

nlohmann::json op_args(const OpProfile& op) {
  const ops::OpRecord& r = op.record();
  nlohmann::json args = {{"op_code", r.op_code},
                         {"op", op.node->op},
                         {"global_call_count", op.global_call_count},
                         {"kernel_us", op.kernel_ns / 1000.0},
                         {"cores", r.timing.core_count},
                         {"bound", std::string(to_string(op.bound))}};
  if (!op.node->group.empty()) args["group"] = op.node->group;
  if (op.dram_pct) args["dram_pct"] = *op.dram_pct;
  if (op.flops_pct) args["flops_pct"] = *op.flops_pct;
  if (op.noc_util_pct) args["noc_util_pct"] = *op.noc_util_pct;
  if (r.pcc) args["pcc"] = *r.pcc;
  if (!op.advice.empty()) args["advice"] = op.advice;
  return args;
}

void add_counter(std::vector<Event>& events, int pid, const std::string& name, double ts_ns,
                 double value) {
  events.push_back(Event{pid, 0, 'C', ts_ns, 0, name, "", counter_args(value)});
}

void traffic_counters(std::vector<Event>& events, const RunProfile& profile, std::uint32_t chip,
                      const std::vector<const OpProfile*>& ops, const TraceOptions& options) {
  const int pid = chip_pid(chip);
  const double ns = profile.ns_per_cycle;
  std::map<int, std::size_t> links_per_noc;
  for (const ElementInfo& e : profile.elements) {
    if (e.kind == ElementKind::NocLink && e.chip == chip) ++links_per_noc[e.noc];
  }
  std::map<std::uint32_t, double> link_totals;  // element -> busy over the run
  for (const OpProfile* op : ops) {
    for (const ElementUse& use : op->traffic) {
      const ElementInfo& e = profile.elements.at(use.element);
      if (e.kind == ElementKind::NocLink && e.chip == chip)
        link_totals[use.element] += static_cast<double>(use.busy_cycles);
    }
  }
  std::vector<std::pair<double, std::uint32_t>> ranked;
  for (const auto& [element, busy] : link_totals) ranked.emplace_back(busy, element);
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  if (ranked.size() > options.busiest_links) ranked.resize(options.busiest_links);
  std::set<std::uint32_t> busiest;
  for (const auto& r : ranked) busiest.insert(r.second);
  std::set<std::uint32_t> banks;
  for (std::size_t i = 0; i < profile.elements.size(); ++i) {
    const ElementInfo& e = profile.elements[i];
    if (options.dram_banks && e.kind == ElementKind::DramBank && e.chip == chip)
      banks.insert(static_cast<std::uint32_t>(i));
  }

  for (const OpProfile* op : ops) {
    const ops::ProgramTiming& t = op->record().timing;
    const sim::Cycle window = t.kernel_duration();
    if (window == 0) continue;
    const double start = static_cast<double>(t.kernel_start) * ns;
    const double end = static_cast<double>(t.kernel_end) * ns;
    const double w = static_cast<double>(window);
    std::map<int, double> noc_busy;
    std::map<std::uint32_t, double> value;
    for (const ElementUse& use : op->traffic) {
      const ElementInfo& e = profile.elements.at(use.element);
      if (e.chip != chip) continue;
      if (e.kind == ElementKind::NocLink) noc_busy[e.noc] += static_cast<double>(use.busy_cycles);
      value[use.element] = 100.0 * static_cast<double>(use.busy_cycles) / w;
    }
    for (const auto& [noc, count] : links_per_noc) {
      const std::string name = "noc" + std::to_string(noc) + " mean link util";
      const double busy = noc_busy.count(noc) ? noc_busy[noc] : 0.0;
      add_counter(events, pid, name, start, 100.0 * busy / (static_cast<double>(count) * w));
      add_counter(events, pid, name, end, 0.0);
    }
    for (std::uint32_t element : busiest) {
      const std::string name =
          "link " +
          profile.elements[element].name.substr(profile.elements[element].name.find(' ') + 1) +
          " util";
      add_counter(events, pid, name, start, value.count(element) ? value[element] : 0.0);
      add_counter(events, pid, name, end, 0.0);
    }
    for (std::uint32_t element : banks) {
      const std::string name =
          "dram bank " + std::to_string(profile.elements[element].index) + " util";
      add_counter(events, pid, name, start, value.count(element) ? value[element] : 0.0);
      add_counter(events, pid, name, end, 0.0);
    }
  }
}

void whole_run_counters(std::vector<Event>& events, const RunProfile& profile, std::uint32_t chip,
                        const std::vector<const OpProfile*>& ops, const TraceOptions& options) {
  if (options.whole_run_stats == nullptr || ops.empty()) return;
  const int pid = chip_pid(chip);
  const double ns = profile.ns_per_cycle;
  const sim::Cycle first = ops.front()->record().timing.fw_start;
  const sim::Cycle last = ops.back()->record().timing.fw_end;
  if (last <= first) return;
  const double w = static_cast<double>(last - first);
  std::map<int, std::pair<double, std::size_t>> per_noc;  // busy, links
  std::vector<std::pair<double, std::string>> links;
  std::vector<std::pair<std::uint32_t, double>> banks;
  for (const sim::BusyStats& stats : *options.whole_run_stats) {
    const ElementInfo e = parse_element_name(stats.name);
    if (e.chip != chip) continue;
    if (e.kind == ElementKind::NocLink) {
      per_noc[e.noc].first += static_cast<double>(stats.busy_cycles);
      ++per_noc[e.noc].second;
      if (stats.busy_cycles > 0)
        links.emplace_back(static_cast<double>(stats.busy_cycles), stats.name);
    } else if (e.kind == ElementKind::DramBank && options.dram_banks) {
      banks.emplace_back(e.index, static_cast<double>(stats.busy_cycles));
    }
  }
  std::stable_sort(links.begin(), links.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  if (links.size() > options.busiest_links) links.resize(options.busiest_links);
  const double start = static_cast<double>(first) * ns;
  const double end = static_cast<double>(last) * ns;
  auto emit = [&](const std::string& name, double busy_share) {
    add_counter(events, pid, name + " (whole run)", start, std::min(100.0, 100.0 * busy_share));
    add_counter(events, pid, name + " (whole run)", end, 0.0);
  };
  for (const auto& [noc, totals] : per_noc) {
    emit("noc" + std::to_string(noc) + " mean link util",
         totals.first / (static_cast<double>(totals.second) * w));
  }
  for (const auto& [busy, name] : links)
    emit("link " + name.substr(name.find(' ') + 1) + " util", busy / w);
  for (const auto& [bank, busy] : banks)
    emit("dram bank " + std::to_string(bank) + " util", busy / w);
}

}  // namespace

std::string format_perfetto_trace(const RunProfile& profile, const TraceOptions& options) {
  if (profile.spec == nullptr) throw Error("Perfetto trace: the run profile has no device spec");
  const std::uint32_t grid_x = profile.spec->worker_grid_x();
  const double ns = profile.ns_per_cycle;
  std::map<std::uint32_t, std::vector<const OpProfile*>> by_chip;
  for (const OpProfile& op : profile.ops) by_chip[op.chip].push_back(&op);

  std::vector<Event> events;
  std::map<int, std::map<long long, std::string>> thread_names;
  std::map<int, std::string> process_names;
  const std::string& arch = profile.spec->arch;
  int host_pid = 1;
  for (const auto& [chip, ops] : by_chip) {
    const int pid = chip_pid(chip);
    host_pid = std::max(host_pid, pid + 1);
    process_names[pid] = "chip " + std::to_string(chip) + " (" + arch + ")";
    thread_names[pid][kOpsTid] = "ops";
    // Layer groups: consecutive ops of one group form a parent slice around their op slices.
    for (std::size_t i = 0; i < ops.size();) {
      const std::string& group = ops[i]->node->group;
      std::size_t j = i;
      while (j + 1 < ops.size() && ops[j + 1]->node->group == group) ++j;
      if (!group.empty()) {
        const double start = static_cast<double>(ops[i]->record().timing.fw_start) * ns;
        const double end = static_cast<double>(ops[j]->record().timing.fw_end) * ns;
        events.push_back(Event{pid, kOpsTid, 'X', start, end - start, group, "group",
                               nlohmann::json{{"ops", j - i + 1}}.dump()});
      }
      i = j + 1;
    }
    for (const OpProfile* op : ops) {
      const ops::ProgramTiming& t = op->record().timing;
      events.push_back(Event{pid, kOpsTid, 'X', static_cast<double>(t.fw_start) * ns,
                             static_cast<double>(t.fw_duration()) * ns, op->node->name, "op",
                             op_args(*op).dump()});
      const std::string kernel_args = nlohmann::json{{"op_code", op->record().op_code}}.dump();
      for (const ops::CoreTiming& core : t.cores) {
        for (std::size_t r = 0; r < ops::kRiscCount; ++r) {
          const ops::KernelSpan& span = core.spans[r];
          if (!span.used) continue;
          const long long tid = core_tid(core.core, r, grid_x);
          thread_names[pid].try_emplace(tid, core_track_name(core.core, r));
          events.push_back(Event{pid, tid, 'X', static_cast<double>(span.start) * ns,
                                 static_cast<double>(span.end - span.start) * ns, op->node->name,
                                 "kernel", kernel_args});
        }
      }
    }
    if (profile.per_op_traffic) {
      traffic_counters(events, profile, chip, ops, options);
    } else {
      whole_run_counters(events, profile, chip, ops, options);
    }
  }
  process_names[host_pid] = "host";
  for (const auto& [chip, ops] : by_chip) {
    const long long tid = static_cast<long long>(chip) + 1;
    thread_names[host_pid][tid] = "issue to chip " + std::to_string(chip);
    for (const OpProfile* op : ops) {
      if (op->host_end_ns <= op->host_start_ns) continue;
      events.push_back(Event{host_pid, tid, 'X', static_cast<double>(op->host_start_ns),
                             static_cast<double>(op->host_end_ns - op->host_start_ns),
                             op->node->name, op->traced ? "trace replay" : "dispatch", ""});
    }
  }

  // Per track by time; at equal times the longer (parent) slice first, then insertion order.
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.pid != b.pid) return a.pid < b.pid;
    if ((a.ph == 'C') != (b.ph == 'C')) return a.ph != 'C';
    if (a.ph == 'C') {
      if (a.name != b.name) return a.name < b.name;
    } else if (a.tid != b.tid) {
      return a.tid < b.tid;
    }
    if (a.ts_ns != b.ts_ns) return a.ts_ns < b.ts_ns;
    return a.dur_ns > b.dur_ns;
  });

  std::string out = "{\"displayTimeUnit\":\"ns\",\"otherData\":";
  out += nlohmann::json{{"producer", "wormsim"},
                        {"device", profile.spec->name},
                        {"traffic", profile.per_op_traffic ? "per-op" : "whole-run"}}
             .dump();
  out += ",\"traceEvents\":[\n";
  bool first = true;
  auto begin_event = [&] {
    if (!first) out += ",\n";
    first = false;
  };
  for (const auto& [pid, name] : process_names) {
    begin_event();
    out += "{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":" + std::to_string(pid) +
           ",\"tid\":0,\"args\":{\"name\":" + quoted(name) + "}}";
    begin_event();
    out += "{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":" + std::to_string(pid) +
           ",\"tid\":0,\"args\":{\"sort_index\":" + std::to_string(pid) + "}}";
  }
  for (const auto& [pid, threads] : thread_names) {
    for (const auto& [tid, name] : threads) {
      begin_event();
      out += "{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":" + std::to_string(pid) +
             ",\"tid\":" + std::to_string(tid) + ",\"args\":{\"name\":" + quoted(name) + "}}";
      begin_event();
      out += "{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":" + std::to_string(pid) +
             ",\"tid\":" + std::to_string(tid) +
             ",\"args\":{\"sort_index\":" + std::to_string(tid) + "}}";
    }
  }
  for (const Event& e : events) {
    begin_event();
    out += "{\"ph\":\"";
    out += e.ph;
    out += "\",\"name\":" + quoted(e.name) + ",\"pid\":" + std::to_string(e.pid);
    out += ",\"tid\":" + std::to_string(e.tid);
    if (e.ph == 'X') out += ",\"cat\":" + quoted(e.cat);
    out += ",\"ts\":" + micros(e.ts_ns);
    if (e.ph == 'X') out += ",\"dur\":" + micros(e.dur_ns);
    if (!e.args.empty()) out += ",\"args\":" + e.args;
    out += "}";
  }
  out += "\n]}\n";
  return out;
}

void write_perfetto_trace(const std::filesystem::path& path, const RunProfile& profile,
                          const TraceOptions& options) {
  write_file_atomically(path, format_perfetto_trace(profile, options));
}

}  // namespace wormsim::analysis
