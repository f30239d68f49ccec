// The Perfetto / Chrome trace: valid JSON, the track layout, per-track monotonic timestamps and
// proper nesting (kernels inside their op's firmware window, ops inside their layer group).
#include "analysis/perfetto_trace.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/analysis/synthetic_run.hpp"

namespace wormsim::analysis {
namespace {

using testing::make_run;
using testing::make_traffic;
using testing::mlp_nodes;
using testing::n300;
using testing::TempDir;

struct Slice {
  double ts{0};
  double dur{0};
  std::string name;
  std::string cat;
};

struct ParsedTrace {
  nlohmann::json json;
  std::map<std::pair<int, int>, std::string> thread_names;
  std::map<int, std::string> process_names;
  std::map<std::pair<int, int>, std::vector<Slice>> slices;             // (pid, tid) in file order
  std::map<std::pair<int, std::string>, std::vector<double>> counters;  // (pid, name) -> ts
  std::map<std::pair<int, std::string>, std::vector<double>> counter_values;
};

ParsedTrace parse(const std::string& text) {
  ParsedTrace p;
  p.json = nlohmann::json::parse(text);  // throws on invalid JSON
  for (const auto& e : p.json.at("traceEvents")) {
    const std::string ph = e.at("ph");
    const int pid = e.at("pid");
    if (ph == "M") {
      if (e.at("name") == "process_name") p.process_names[pid] = e.at("args").at("name");
      if (e.at("name") == "thread_name")
        p.thread_names[{pid, e.at("tid").get<int>()}] = e.at("args").at("name");
    } else if (ph == "X") {
      p.slices[{pid, e.at("tid").get<int>()}].push_back(
          Slice{e.at("ts").get<double>(), e.at("dur").get<double>(), e.at("name"), e.at("cat")});
    } else if (ph == "C") {
      p.counters[{pid, e.at("name")}].push_back(e.at("ts").get<double>());
      p.counter_values[{pid, e.at("name")}].push_back(e.at("args").at("%").get<double>());
    } else {
      ADD_FAILURE() << "unexpected phase " << ph;
    }
  }
  return p;
}

int tid_named(const ParsedTrace& p, int pid, const std::string& name) {
  for (const auto& [key, n] : p.thread_names) {
    if (key.first == pid && n == name) return key.second;
  }
  return -1;
}

// Sorted by start; every slice either starts after the enclosing ones end or lies inside them.
void expect_monotonic_and_nested(const std::vector<Slice>& slices, const std::string& track) {
  std::vector<const Slice*> open;
  double previous = -1;
  constexpr double kEps = 1e-6;
  for (const Slice& s : slices) {
    EXPECT_GE(s.ts, previous) << track << " " << s.name;
    EXPECT_GE(s.dur, 0) << track;
    previous = s.ts;
    while (!open.empty() && s.ts >= open.back()->ts + open.back()->dur - kEps) open.pop_back();
    if (!open.empty()) {
      EXPECT_LE(s.ts + s.dur, open.back()->ts + open.back()->dur + kEps)
          << track << ": " << s.name << " overlaps " << open.back()->name << " without nesting";
    }
    open.push_back(&s);
  }
}

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = make_run(mlp_nodes(), 500);
    traffic_ = make_traffic(run_.nodes.size(), 600);
    profile_ = build_profile(n300(), {{&run_, &traffic_}});
    TraceOptions options;
    options.busiest_links = 2;
    write_perfetto_trace(dir_ / "trace.json", profile_, options);
    std::ifstream in(dir_ / "trace.json");
    text_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    trace_ = parse(text_);
  }
  TempDir dir_{"trace"};
  workloads::GraphRun run_;
  RunTraffic traffic_;
  RunProfile profile_;
  std::string text_;
  ParsedTrace trace_;
};

TEST_F(TraceTest, ProcessesAndTracksAreNamed) {
  EXPECT_EQ(trace_.json.at("displayTimeUnit"), "ns");
  EXPECT_EQ(trace_.process_names.at(1), "chip 0 (wormhole_b0)");
  EXPECT_EQ(trace_.process_names.at(2), "host");
  EXPECT_GE(tid_named(trace_, 1, "ops"), 0);
  for (const char* name :
       {"core (0,0) BRISC", "core (1,2) NCRISC", "core (7,7) TRISC0", "core (3,1) TRISC2"}) {
    EXPECT_GE(tid_named(trace_, 1, name), 0) << name;
  }
  // 64 cores x 5 RISCs + the ops track.
  std::size_t chip_tracks = 0;
  for (const auto& [key, name] : trace_.thread_names) chip_tracks += key.first == 1 ? 1 : 0;
  EXPECT_EQ(chip_tracks, 64u * 5u + 1u);
}

TEST_F(TraceTest, OpSlicesAreMicrosecondFirmwareWindowsInsideTheirGroups) {
  const int ops_tid = tid_named(trace_, 1, "ops");
  const std::vector<Slice>& ops = trace_.slices.at({1, ops_tid});
  std::vector<const Slice*> op_slices, groups;
  for (const Slice& s : ops) (s.cat == "op" ? op_slices : groups).push_back(&s);
  ASSERT_EQ(op_slices.size(), 3u);
  ASSERT_EQ(groups.size(), 2u);  // "mlp" (fc1, fc1.bias) and "head" (act)
  for (std::size_t i = 0; i < 3; ++i) {
    const ops::ProgramTiming& t = run_.nodes[i].record.timing;
    EXPECT_EQ(op_slices[i]->name, run_.nodes[i].name);
    EXPECT_DOUBLE_EQ(op_slices[i]->ts, static_cast<double>(t.fw_start) / 1000.0);
    EXPECT_DOUBLE_EQ(op_slices[i]->dur, static_cast<double>(t.fw_duration()) / 1000.0);
  }
  EXPECT_EQ(groups[0]->name, "mlp");
  EXPECT_DOUBLE_EQ(groups[0]->ts, op_slices[0]->ts);
  EXPECT_DOUBLE_EQ(groups[0]->ts + groups[0]->dur, op_slices[1]->ts + op_slices[1]->dur);
  expect_monotonic_and_nested(ops, "ops");
}

TEST_F(TraceTest, EveryTrackIsMonotonicAndEveryKernelLiesInsideItsOp) {
  const int ops_tid = tid_named(trace_, 1, "ops");
  std::map<std::string, const Slice*> op_by_name;
  for (const Slice& s : trace_.slices.at({1, ops_tid})) {
    if (s.cat == "op") op_by_name[s.name] = &s;
  }
  std::size_t kernels = 0;
  for (const auto& [key, slices] : trace_.slices) {
    expect_monotonic_and_nested(slices, trace_.thread_names[key]);
    if (key.first != 1 || key.second == ops_tid) continue;
    for (const Slice& k : slices) {
      ++kernels;
      const Slice* op = op_by_name.at(k.name);
      EXPECT_GE(k.ts, op->ts - 1e-9) << trace_.thread_names[key];
      EXPECT_LE(k.ts + k.dur, op->ts + op->dur + 1e-9) << trace_.thread_names[key];
    }
  }
  // fc1: 64 cores x 5, fc1.bias: 32 x 5, act: 64 x 5.
  EXPECT_EQ(kernels, (64u + 32u + 64u) * 5u);
  // The host track: one issue slice per op, ending when the op's firmware starts.
  const auto& host = trace_.slices.at({2, 1});
  ASSERT_EQ(host.size(), 3u);
  EXPECT_DOUBLE_EQ(host[1].ts + host[1].dur,
                   static_cast<double>(run_.nodes[1].record.timing.fw_start) / 1000.0);
}

TEST_F(TraceTest, CountersFollowTheOpsTraffic) {
  // Per NoC mean utilisation, the 2 busiest links and both DRAM banks.
  std::set<std::string> names;
  for (const auto& [key, ts] : trace_.counters) {
    names.insert(key.second);
    for (std::size_t i = 1; i < ts.size(); ++i) EXPECT_GE(ts[i], ts[i - 1]) << key.second;
    EXPECT_EQ(ts.size(), 6u) << key.second;  // value at each op's kernel start, 0 at its end
  }
  EXPECT_TRUE(names.count("noc0 mean link util"));
  EXPECT_TRUE(names.count("noc1 mean link util"));
  EXPECT_TRUE(names.count("link noc0 (1,1)->(2,1) util"));
  EXPECT_TRUE(names.count("link noc0 (2,1)->(3,1) util"));
  EXPECT_FALSE(names.count("link noc1 (3,1)->(2,1) util"));  // third busiest: no own track
  EXPECT_TRUE(names.count("dram bank 0 util"));
  // fc1: link (1,1)->(2,1) busy 600 of 4000 cycles.
  const auto& values = trace_.counter_values.at({1, "link noc0 (1,1)->(2,1) util"});
  EXPECT_NEAR(values[0], 15.0, 1e-3);
  EXPECT_EQ(values[1], 0.0);
}

TEST(Trace, WholeRunCountersWithoutPerOpTraffic) {
  const workloads::GraphRun run = make_run(mlp_nodes());
  const RunProfile profile = build_profile(n300(), {{&run, nullptr}});
  std::vector<sim::BusyStats> stats(2);
  stats[0].name = "chip0 noc0 (4,4)->(5,4)";
  stats[0].busy_cycles = 1000;
  stats[1].name = "chip0 dram bank 5";
  stats[1].busy_cycles = 500;
  TraceOptions options;
  options.whole_run_stats = &stats;
  const ParsedTrace trace = parse(format_perfetto_trace(profile, options));
  EXPECT_TRUE(trace.counters.count({1, "link noc0 (4,4)->(5,4) util (whole run)"}));
  EXPECT_TRUE(trace.counters.count({1, "dram bank 5 util (whole run)"}));
  const double span = static_cast<double>(run.nodes.back().record.timing.fw_end -
                                          run.nodes.front().record.timing.fw_start);
  EXPECT_NEAR(trace.counter_values.at({1, "dram bank 5 util (whole run)"})[0], 100.0 * 500 / span,
              1e-3);
  EXPECT_EQ(trace.json.at("otherData").at("traffic"), "whole-run");
}

TEST(Trace, ReplicasOnTwoChipsGetTwoProcesses) {
  const workloads::GraphRun a = make_run(mlp_nodes(), 500, 0);
  const workloads::GraphRun b = make_run(mlp_nodes(), 500, 1, workloads::DispatchMode::Trace,
                                         a.nodes.back().record.timing.fw_end + 1000);
  const ParsedTrace trace =
      parse(format_perfetto_trace(build_profile(n300(), {{&a, nullptr}, {&b, nullptr}})));
  EXPECT_EQ(trace.process_names.at(1), "chip 0 (wormhole_b0)");
  EXPECT_EQ(trace.process_names.at(2), "chip 1 (wormhole_b0)");
  EXPECT_EQ(trace.process_names.at(3), "host");
  for (const auto& [key, slices] : trace.slices)
    expect_monotonic_and_nested(slices, trace.thread_names.at(key));
}

}  // namespace
}  // namespace wormsim::analysis
