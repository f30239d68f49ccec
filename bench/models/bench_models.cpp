// wormsim_bench_models: the whole-run benchmark (docs/performance.md, "Whole-model benchmark").
//
// For each model it runs the real CLI as a child process,
//   wormsim run --model M --numerics off --no-db --format json   (timing only)
//   wormsim run --model M --numerics on  --no-db --format json   (values and PCC too)
// and measures the child's wall time (fork to reap) and peak resident set (wait4's ru_maxrss).
// Events/s divides the run's "engine_events" (sim::Engine::events_processed) by the timing-only
// wall time; ops replayed from an identical earlier op (ops/op_timing_reuse.hpp) process no
// events, so "programs replayed" says how much of the run that covers (--no-op-reuse: none). The
// sgemm floor is what the run's GEMMs take in plain OpenBLAS cblas_sgemm on this machine: the GEMM
// shapes numerics performs (matmul / linear per batch of in1, conv2d im2col in the device's padded
// K and in the 2048-row chunks ops/conv/conv2d.cpp uses) are derived from the graph, each distinct
// shape is timed (best of --sgemm-reps calls, same OpenBLAS library and thread setting as the
// runs), and the times are summed over the run's calls. The ratio is numerics-on wall time / sgemm
// floor; --floor-only prints the census and floor by shape.
//
// The harness prints figures and marks the targets met or not; it never fails on a
// target (exit status 1 only when a run fails). --quick runs reduced sizes for CI smoke use.
#include <cblas.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "analysis/text_table.hpp"
#include "arch/device_spec.hpp"
#include "ops/conv/conv2d.hpp"
#include "ops/matmul/matmul.hpp"
#include "ops/op_registry.hpp"
#include "workloads/graph_source.hpp"

namespace {

using wormsim::analysis::format_fixed;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kDefaultModels = {"dpt-large", "vit-base", "bert-large",
                                                 "resnet-50"};
// Models whose numerics ratio the issue sets a target for (at full size).
const std::vector<std::string> kRatioTargetModels = {"dpt-large", "vit-base"};
constexpr double kTimingTargetS = 1.0;           // dpt-large timing-only wall time
constexpr double kRatioTarget = 2.0;             // numerics wall / sgemm floor
constexpr double kMemoryTargetMiB = 2048.0;      // dpt-large with numerics: 2 GiB
constexpr std::size_t kConvChunkRows = 64 * 32;  // ops/conv/conv2d.cpp kChunkRows
constexpr std::size_t kTile = 32;

bool contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

// ---- child processes ----

struct ChildRun {
  bool ok{false};
  std::string error;  // why it failed (exit status and the end of its stderr)
  double wall_s{0.0};
  double peak_rss_mib{0.0};
  nlohmann::json result;  // the run's JSON document
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Runs argv[0] with its arguments, stdout and stderr captured; wall time from fork to reap,
// peak RSS from the child's own rusage (wait4), so earlier children do not count.
ChildRun run_child(const std::vector<std::string>& args) {
  ChildRun run;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::runtime_error("pipe2 failed");
  }
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  const Clock::time_point start = Clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    ::execv(argv[0], argv.data());
    // No allocation after fork (OpenBLAS has threads): plain writes only.
    const char* parts[] = {"exec ", argv[0], ": ", std::strerror(errno)};
    for (const char* part : parts) {
      if (::write(STDERR_FILENO, part, std::strlen(part)) < 0) break;
    }
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  std::string out;
  std::string err;
  int fds[2] = {out_pipe[0], err_pipe[0]};
  std::string* sinks[2] = {&out, &err};
  char buffer[65536];
  while (fds[0] >= 0 || fds[1] >= 0) {
    pollfd polls[2];
    nfds_t count = 0;
    int which[2];
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0) continue;
      polls[count] = pollfd{fds[i], POLLIN, 0};
      which[count++] = i;
    }
    if (::poll(polls, count, -1) < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("poll failed");
    }
    for (nfds_t p = 0; p < count; ++p) {
      if (polls[p].revents == 0) continue;
      const int i = which[p];
      const ssize_t got = ::read(fds[i], buffer, sizeof buffer);
      if (got > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close_fd(fds[i]);
      }
    }
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) throw std::runtime_error("wait4 failed");
  }
  run.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  run.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    run.error = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                  : "killed by signal " + std::to_string(WTERMSIG(status));
    const std::size_t keep = 2000;
    run.error += ": " + (err.size() > keep ? err.substr(err.size() - keep) : err);
    return run;
  }
  try {
    run.result = nlohmann::json::parse(out);
  } catch (const std::exception& e) {
    run.error = std::string("stdout is not JSON: ") + e.what();
    return run;
  }
  run.ok = true;
  return run;
}

// ---- GEMM shapes and the sgemm floor ----

struct GemmShape {
  std::size_t m{0}, k{0}, n{0};
  auto operator<=>(const GemmShape&) const = default;
};

struct GemmCensus {
  std::map<GemmShape, std::uint64_t> calls;        // shape -> cblas_sgemm-sized calls in one run
  std::map<std::string, std::uint64_t> uncounted;  // other FPU-matmul ops (op -> nodes)
  std::uint64_t call_count() const {
    std::uint64_t total = 0;
    for (const auto& [shape, count] : calls) total += count;
    return total;
  }
  double flop() const {
    double total = 0.0;
    for (const auto& [s, count] : calls) {
      total += 2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) *
               static_cast<double>(s.n) * static_cast<double>(count);
    }
    return total;
  }
};

// The GEMMs the numerics of a run performs, one entry per fidelity_matmul call (each is one or
// more cblas_sgemm calls of that shape or of slices of it, depending on fidelity and Dst mode).
GemmCensus gemm_census(const wormsim::workloads::Graph& graph) {
  namespace ops = wormsim::ops;
  GemmCensus census;
  const wormsim::arch::DeviceSpec& device = graph.device();
  for (const wormsim::workloads::GraphNode& node : graph.nodes()) {
    std::vector<ops::TensorSpec> inputs;
    for (const auto id : node.inputs) inputs.push_back(graph.spec(id));
    if (node.op == "matmul" || node.op == "linear") {
      const ops::MatmulShape s = ops::matmul_shape(inputs[0], inputs[1]);
      census.calls[{s.Mt * kTile, s.Kt * kTile, s.Nt * kTile}] += s.batch;
    } else if (node.op == "conv2d" || node.op == "conv_transpose2d") {
      // A transposed conv is the same Conv2dOp over its zero-spread input: the same GEMMs.
      const std::unique_ptr<ops::Operation> op =
          ops::make_operation(node.op, node.params, inputs, device);
      const std::vector<ops::TensorSpec> outputs = op->output_specs(inputs, device);
      const auto* conv = dynamic_cast<const ops::Conv2dOp*>(op.get());
      if (conv == nullptr)
        throw std::runtime_error(node.op + " node " + node.name + " is no Conv2dOp");
      const ops::ConvPlan& plan = conv->plan();
      const std::size_t m = outputs[0].physical_height();
      const std::size_t n = outputs[0].physical_width();
      const std::size_t k =
          static_cast<std::size_t>(plan.in0_block_w) * kTile * plan.num_k_blocks();
      for (std::size_t first = 0; first < m; first += kConvChunkRows) {
        ++census.calls[{std::min(kConvChunkRows, m - first), k, n}];
      }
    } else if (node.op == "sdpa" || node.op == "upsample" || node.op == "global_avg_pool2d" ||
               node.op == "avg_pool2d") {
      ++census.uncounted[node.op];
    }
  }
  return census;
}

struct ShapeTime {
  GemmShape shape;
  std::uint64_t calls{0};
  double seconds_each{0.0};  // best of the timed calls
};

struct SgemmFloor {
  double seconds{0.0};
  std::uint64_t calls{0};
  std::size_t distinct_shapes{0};
  double gflop{0.0};
  double measure_s{0.0};          // time spent measuring
  std::vector<ShapeTime> shapes;  // by total time, largest first
};

// Times each distinct shape with plain cblas_sgemm (beta 0, row-major, operands warm in cache
// after one untimed call): the best of up to `reps` calls (a floor; the machine may be busy),
// times its call count.
SgemmFloor sgemm_floor(const GemmCensus& census, int reps) {
  SgemmFloor floor;
  std::size_t a_size = 0, b_size = 0, c_size = 0;
  for (const auto& [s, count] : census.calls) {
    a_size = std::max(a_size, s.m * s.k);
    b_size = std::max(b_size, s.k * s.n);
    c_size = std::max(c_size, s.m * s.n);
  }
  std::vector<float> a(a_size), b(b_size), c(c_size);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (float& v : a) v = dist(rng);
  for (float& v : b) v = dist(rng);
  const Clock::time_point start = Clock::now();
  for (const auto& [s, count] : census.calls) {
    if (s.m == 0 || s.k == 0 || s.n == 0) continue;
    const auto gemm = [&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(s.m),
                  static_cast<blasint>(s.n), static_cast<blasint>(s.k), 1.0f, a.data(),
                  static_cast<blasint>(s.k), b.data(), static_cast<blasint>(s.n), 0.0f, c.data(),
                  static_cast<blasint>(s.n));
    };
    gemm();  // warm-up: BLAS buffers, page faults of the operands
    std::vector<double> times;
    const int n_reps =
        static_cast<int>(std::min<std::uint64_t>(count, static_cast<std::uint64_t>(reps)));
    for (int r = 0; r < std::max(n_reps, 1); ++r) {
      const Clock::time_point t0 = Clock::now();
      gemm();
      times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    const double best = *std::min_element(times.begin(), times.end());
    floor.seconds += best * static_cast<double>(count);
    floor.shapes.push_back({s, count, best});
  }
  std::sort(floor.shapes.begin(), floor.shapes.end(), [](const ShapeTime& a, const ShapeTime& b) {
    return a.seconds_each * static_cast<double>(a.calls) >
           b.seconds_each * static_cast<double>(b.calls);
  });
  floor.measure_s = std::chrono::duration<double>(Clock::now() - start).count();
  floor.calls = census.call_count();
  floor.distinct_shapes = census.calls.size();
  floor.gflop = census.flop() / 1e9;
  return floor;
}

// ---- the benchmark ----

struct Options {
  std::vector<std::string> models = kDefaultModels;
  std::string numerics = "all";  // all | none | comma list
  bool quick = false;
  bool floor = true;
  bool floor_only = false;  // no runs: only the GEMM census and its sgemm floor
  bool no_op_reuse = false;  // pass --no-op-reuse: simulate every op (the cost before reuse)
  int repeat = 1;
  int sgemm_reps = 5;
  std::string format = "table";
  std::string json_out;  // also write the JSON document here
  std::string wormsim = WORMSIM_BINARY;
};

// Reduced sizes of --quick (the zoo tests' reduced configurations).
wormsim::workloads::ModelOptions model_options(const std::string& model, bool quick) {
  wormsim::workloads::ModelOptions o;
  if (!quick) return o;
  o.layers = 1;
  o.batch = 1;
  if (model == "dpt-large" || model == "vit-base" || model == "bert-large") o.resolution = 64;
  if (model == "depth-anything-v2-large" || model == "pi0") o.resolution = 56;
  if (model == "yolov8s") o.resolution = 320;
  if (model == "pi0") o.vocab = 4096;
  return o;
}

std::vector<std::string> model_args(const std::string& model,
                                    const wormsim::workloads::ModelOptions& o) {
  std::vector<std::string> args = {"--model", model};
  if (o.layers) args.insert(args.end(), {"--layers", std::to_string(o.layers)});
  if (o.batch) args.insert(args.end(), {"--batch", std::to_string(o.batch)});
  if (o.resolution) args.insert(args.end(), {"--resolution", std::to_string(o.resolution)});
  return args;
}

struct ModelResult {
  std::string model;
  std::vector<std::string> args;
  std::string error;
  double load_1m{0.0};  // load average when its first run started
  // timing only
  std::vector<double> timing_walls;
  double timing_wall_s{0.0};
  double timing_rss_mib{0.0};
  std::optional<std::uint64_t> events;
  std::uint64_t op_count{0};
  // Programs replayed from an identical earlier op / simulated (ops/op_timing_reuse.hpp).
  std::uint64_t programs_reused{0};
  std::uint64_t programs_simulated{0};
  double device_time_ns{0.0};
  // numerics on
  bool numerics_ran{false};
  double numerics_wall_s{0.0};
  double numerics_rss_mib{0.0};
  std::optional<double> pcc;
  // sgemm floor
  std::optional<SgemmFloor> floor;
  std::map<std::string, std::uint64_t> uncounted;

  std::optional<double> events_per_s() const {
    if (!events || timing_wall_s <= 0.0) return std::nullopt;
    return static_cast<double>(*events) / timing_wall_s;
  }
  std::optional<double> ratio() const {
    if (!numerics_ran || !floor || floor->seconds <= 0.0) return std::nullopt;
    return numerics_wall_s / floor->seconds;
  }
  // The numerics' own cost (numerics-on minus timing-only wall time) over the floor.
  std::optional<double> overhead_ratio() const {
    if (!numerics_ran || !floor || floor->seconds <= 0.0 || timing_walls.empty())
      return std::nullopt;
    return (numerics_wall_s - timing_wall_s) / floor->seconds;
  }
};

struct Target {
  std::string name;
  std::string model;
  std::optional<double> value;
  double limit{0.0};
  std::string unit;
  std::optional<bool> met() const {
    if (!value) return std::nullopt;
    return *value <= limit;
  }
};

void progress(const std::string& line) {
  std::cerr << "wormsim_bench_models: " << line << std::endl;
}

ModelResult bench_model(const std::string& model, const Options& o) {
  ModelResult r;
  r.model = model;
  const wormsim::workloads::ModelOptions mo = model_options(model, o.quick);
  r.args = model_args(model, mo);
  double load = 0.0;
  if (::getloadavg(&load, 1) == 1) r.load_1m = load;
  const auto command = [&](const std::string& numerics) {
    std::vector<std::string> cmd = {o.wormsim, "run"};
    cmd.insert(cmd.end(), r.args.begin(), r.args.end());
    cmd.insert(cmd.end(), {"--numerics", numerics, "--no-db", "--format", "json"});
    if (o.no_op_reuse) cmd.push_back("--no-op-reuse");
    return cmd;
  };
  const auto add_floor = [&] {
    progress(model + ": sgemm floor");
    wormsim::workloads::GraphSource source;
    source.model = model;
    source.model_options = mo;
    const wormsim::arch::DeviceSpec spec =
        wormsim::arch::load_device_spec_by_name(wormsim::workloads::default_device(source));
    const wormsim::workloads::Graph graph = wormsim::workloads::load_graph(source, spec);
    const GemmCensus census = gemm_census(graph);
    r.uncounted = census.uncounted;
    r.floor = sgemm_floor(census, o.sgemm_reps);
  };
  if (o.floor_only) {
    add_floor();
    return r;
  }
  for (int i = 0; i < o.repeat; ++i) {
    progress(model + ": timing only" +
             (o.repeat > 1 ? " (" + std::to_string(i + 1) + "/" + std::to_string(o.repeat) + ")"
                           : std::string()));
    const ChildRun run = run_child(command("off"));
    if (!run.ok) {
      r.error = "timing-only run failed: " + run.error;
      return r;
    }
    r.timing_walls.push_back(run.wall_s);
    r.timing_rss_mib = std::max(r.timing_rss_mib, run.peak_rss_mib);
    const auto events = run.result.find("engine_events");
    if (events != run.result.end() && events->is_number()) r.events = events->get<std::uint64_t>();
    r.op_count = run.result.value("op_count", std::uint64_t{0});
    r.programs_reused = run.result.value("programs_reused", std::uint64_t{0});
    r.programs_simulated = run.result.value("programs_simulated", std::uint64_t{0});
    r.device_time_ns = run.result.value("device_time_ns", 0.0);
  }
  r.timing_wall_s = median(r.timing_walls);

  const bool numerics = o.numerics == "all" || contains(split_list(o.numerics), model);
  if (!numerics) return r;
  progress(model + ": numerics on");
  const ChildRun run = run_child(command("on"));
  if (!run.ok) {
    r.error = "numerics-on run failed: " + run.error;
    return r;
  }
  r.numerics_ran = true;
  r.numerics_wall_s = run.wall_s;
  r.numerics_rss_mib = run.peak_rss_mib;
  const auto pcc = run.result.find("pcc");
  if (pcc != run.result.end() && pcc->is_number()) r.pcc = pcc->get<double>();

  if (o.floor) add_floor();
  return r;
}

std::vector<Target> targets_of(const std::vector<ModelResult>& results, bool skip) {
  std::vector<Target> targets;
  if (skip) return targets;
  for (const ModelResult& r : results) {
    if (r.model == "dpt-large") {
      targets.push_back({"timing-only wall time", r.model,
                         r.timing_walls.empty() ? std::nullopt : std::optional(r.timing_wall_s),
                         kTimingTargetS, "s"});
    }
    if (contains(kRatioTargetModels, r.model)) {
      targets.push_back({"numerics wall / sgemm floor", r.model, r.ratio(), kRatioTarget, "x"});
    }
    if (r.model == "dpt-large") {
      targets.push_back({"numerics peak RSS", r.model,
                         r.numerics_ran ? std::optional(r.numerics_rss_mib) : std::nullopt,
                         kMemoryTargetMiB, "MiB"});
    }
  }
  return targets;
}

nlohmann::json number_or_null(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string cell(const std::optional<double>& v, int decimals) {
  return v ? format_fixed(*v, decimals) : "-";
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "";
}

std::vector<double> load_average() {
  double loads[3] = {0.0, 0.0, 0.0};
  if (::getloadavg(loads, 3) != 3) return {};
  return {loads[0], loads[1], loads[2]};
}

std::string load_text(const std::vector<double>& load) {
  if (load.size() != 3) return "unknown";
  return format_fixed(load[0], 2) + " " + format_fixed(load[1], 2) + " " + format_fixed(load[2], 2);
}

nlohmann::json shapes_json(const SgemmFloor& floor) {
  nlohmann::json shapes = nlohmann::json::array();
  for (const ShapeTime& t : floor.shapes) {
    shapes.push_back({{"m", t.shape.m},
                      {"k", t.shape.k},
                      {"n", t.shape.n},
                      {"calls", t.calls},
                      {"seconds_each", t.seconds_each}});
  }
  return shapes;
}

// The whole report as one JSON document (--format json, --json-out).
nlohmann::json report_json(const Options& o, const std::vector<ModelResult>& results,
                           const std::vector<Target>& targets,
                           const std::vector<double>& load_start,
                           const std::vector<double>& load_end, const char* blas_env) {
  nlohmann::json models = nlohmann::json::array();
  for (const ModelResult& r : results) {
    nlohmann::json m = {{"model", r.model}, {"args", r.args}, {"load_average_1m", r.load_1m}};
    m["error"] = r.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.error);
    m["timing_only"] = r.timing_walls.empty()
                           ? nlohmann::json(nullptr)
                           : nlohmann::json{{"wall_s", r.timing_wall_s},
                                            {"wall_s_runs", r.timing_walls},
                                            {"peak_rss_mib", r.timing_rss_mib},
                                            {"engine_events", r.events ? nlohmann::json(*r.events)
                                                                       : nlohmann::json(nullptr)},
                                            {"events_per_s", number_or_null(r.events_per_s())},
                                            {"op_count", r.op_count},
                                            {"programs_reused", r.programs_reused},
                                            {"programs_simulated", r.programs_simulated},
                                            {"device_time_ns", r.device_time_ns}};
    m["numerics_on"] = r.numerics_ran ? nlohmann::json{{"wall_s", r.numerics_wall_s},
                                                       {"peak_rss_mib", r.numerics_rss_mib},
                                                       {"pcc", number_or_null(r.pcc)}}
                                      : nlohmann::json(nullptr);
    m["sgemm_floor"] = r.floor ? nlohmann::json{{"seconds", r.floor->seconds},
                                                {"gemm_calls", r.floor->calls},
                                                {"distinct_shapes", r.floor->distinct_shapes},
                                                {"gflop", r.floor->gflop},
                                                {"measure_s", r.floor->measure_s},
                                                {"shapes", shapes_json(*r.floor)},
                                                {"uncounted_ops", r.uncounted}}
                               : nlohmann::json(nullptr);
    m["ratio"] = number_or_null(r.ratio());
    m["overhead_ratio"] = number_or_null(r.overhead_ratio());
    models.push_back(m);
  }
  nlohmann::json target_list = nlohmann::json::array();
  for (const Target& t : targets) {
    const std::optional<bool> met = t.met();
    target_list.push_back({{"target", t.name},
                           {"model", t.model},
                           {"value", number_or_null(t.value)},
                           {"limit", t.limit},
                           {"unit", t.unit},
                           {"met", met ? nlohmann::json(*met) : nlohmann::json(nullptr)}});
  }
  return {
      {"machine",
       {{"cpus", std::thread::hardware_concurrency()},
        {"cpu_model", cpu_model()},
        {"load_average_start", load_start},
        {"load_average_end", load_end},
        {"openblas_threads", openblas_get_num_threads()},
        {"openblas_config", std::string(openblas_get_config())},
        {"OPENBLAS_NUM_THREADS", blas_env ? nlohmann::json(blas_env) : nlohmann::json(nullptr)}}},
      {"wormsim", o.wormsim},
      {"quick", o.quick},
      {"repeat", o.repeat},
      {"floor_only", o.floor_only},
      {"no_op_reuse", o.no_op_reuse},
      {"models", models},
      {"targets", target_list}};
}

int run(const Options& o) {
  const std::vector<double> load_start = load_average();
  const char* blas_env = std::getenv("OPENBLAS_NUM_THREADS");
  progress("load average " + load_text(load_start) + ", OpenBLAS threads " +
           std::to_string(openblas_get_num_threads()));
  std::vector<ModelResult> results;
  bool failed = false;
  for (const std::string& model : o.models) {
    try {
      results.push_back(bench_model(model, o));
    } catch (const std::exception& e) {
      ModelResult r;
      r.model = model;
      r.error = e.what();
      results.push_back(r);
    }
    if (!results.back().error.empty()) {
      failed = true;
      progress(model + ": " + results.back().error);
    }
  }
  const std::vector<double> load_end = load_average();
  // The targets are about full-size runs.
  const std::vector<Target> targets = targets_of(results, o.quick || o.floor_only);

  const nlohmann::json out = report_json(o, results, targets, load_start, load_end, blas_env);
  if (!o.json_out.empty()) {
    std::ofstream file(o.json_out);
    file << out.dump(2) << "\n";
    if (!file) throw std::runtime_error("cannot write " + o.json_out);
  }
  if (o.format == "json") {
    std::cout << out.dump(2) << "\n";
    return failed ? 1 : 0;
  }

  std::cout << "machine: " << std::thread::hardware_concurrency() << " CPUs (" << cpu_model()
            << "), load average " << load_text(load_start) << " at start, " << load_text(load_end)
            << " at end\n"
            << "OpenBLAS: " << openblas_get_config() << ", " << openblas_get_num_threads()
            << " threads (OPENBLAS_NUM_THREADS " << (blas_env ? blas_env : "unset")
            << "; the runs inherit the same setting)\n"
            << (o.no_op_reuse ? "--no-op-reuse: every op's program simulated\n" : "")
            << (o.quick ? "sizes: --quick (reduced: --layers 1 --batch 1, small resolution)\n"
                        : "sizes: the models' defaults\n")
            << "\n";
  wormsim::analysis::TextTable table({"model", "timing-only wall [s]", "programs replayed",
                                      "events", "events/s", "peak RSS [MiB]",
                                      "numerics-on wall [s]", "numerics peak RSS [MiB]",
                                      "sgemm floor [s]", "ratio", "overhead ratio"});
  for (const ModelResult& r : results) {
    if (r.timing_walls.empty()) {
      table.add_row({r.model, r.error.empty() ? "-" : "failed", "-", "-", "-", "-", "-", "-",
                     r.floor ? format_fixed(r.floor->seconds, 2) : "-", "-", "-"});
      continue;
    }
    const auto events_per_s = r.events_per_s();
    table.add_row(
        {r.model, format_fixed(r.timing_wall_s, 3),
         std::to_string(r.programs_reused) + " of " +
             std::to_string(r.programs_reused + r.programs_simulated),
         r.events ? std::to_string(*r.events) : "-",
         events_per_s ? format_fixed(*events_per_s / 1e6, 2) + " M" : "-",
         format_fixed(r.timing_rss_mib, 0),
         r.numerics_ran ? format_fixed(r.numerics_wall_s, 2) : (r.error.empty() ? "-" : "failed"),
         r.numerics_ran ? format_fixed(r.numerics_rss_mib, 0) : "-",
         r.floor ? format_fixed(r.floor->seconds, 2) : "-", cell(r.ratio(), 1),
         cell(r.overhead_ratio(), 1)});
  }
  table.print(std::cout);
  std::cout << "\nratio = numerics-on wall / sgemm floor; overhead ratio = (numerics-on - "
               "timing-only wall) / sgemm floor\n";
  for (const ModelResult& r : results) {
    if (r.floor) {
      std::cout << "sgemm floor " << r.model << ": " << r.floor->calls << " GEMMs, "
                << r.floor->distinct_shapes << " distinct shapes, "
                << format_fixed(r.floor->gflop, 1) << " GFLOP ("
                << format_fixed(r.floor->gflop / std::max(r.floor->seconds, 1e-9), 1)
                << " GFLOP/s)";
      if (!r.uncounted.empty()) {
        std::cout << "; not counted:";
        for (const auto& [op, count] : r.uncounted) std::cout << " " << count << " " << op;
      }
      std::cout << "\n";
      const std::size_t shown =
          std::min<std::size_t>(r.floor->shapes.size(), o.floor_only ? 20 : 3);
      for (std::size_t i = 0; i < shown; ++i) {
        const ShapeTime& t = r.floor->shapes[i];
        const double flop = 2.0 * static_cast<double>(t.shape.m) * static_cast<double>(t.shape.k) *
                            static_cast<double>(t.shape.n);
        std::cout << "  " << t.calls << " x (M " << t.shape.m << ", K " << t.shape.k << ", N "
                  << t.shape.n << "): " << format_fixed(t.seconds_each * 1e3, 3) << " ms each, "
                  << format_fixed(t.seconds_each * static_cast<double>(t.calls), 2) << " s, "
                  << format_fixed(flop / std::max(t.seconds_each, 1e-12) / 1e9, 1) << " GFLOP/s\n";
      }
    }
    if (!r.error.empty()) std::cout << r.model << ": " << r.error << "\n";
  }
  if (!targets.empty()) {
    std::cout << "\ntargets\n";
    for (const Target& t : targets) {
      const std::optional<bool> met = t.met();
      std::cout << "  " << t.model << " " << t.name << " <= " << format_fixed(t.limit, 0) << " "
                << t.unit << ": " << (t.value ? format_fixed(*t.value, 2) + " " + t.unit : "-")
                << "  " << (met ? (*met ? "met" : "NOT MET") : "not measured") << "\n";
    }
  } else if (o.quick || o.floor_only) {
    std::cout << "\ntargets: not evaluated with " << (o.quick ? "--quick" : "--floor-only") << "\n";
  }
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app(
      "Whole-model benchmark: wall time, engine events/s and peak RSS of `wormsim run` "
      "(--numerics off and on), and numerics time against a plain OpenBLAS sgemm floor");
  std::string models;
  for (const std::string& m : kDefaultModels) models += (models.empty() ? "" : ",") + m;
  app.add_option("--models", models, "Comma-separated models")->capture_default_str();
  app.add_option("--numerics", o.numerics,
                 "Models also run with numerics on: all, none, or a comma-separated list")
      ->capture_default_str();
  app.add_flag("--no-op-reuse", o.no_op_reuse,
               "Pass --no-op-reuse to the runs: simulate every op, as before timing reuse");
  app.add_flag("--quick", o.quick, "Reduced sizes (--layers 1 --batch 1, small resolution): CI");
  app.add_flag(
      "--no-floor", [&o](std::int64_t) { o.floor = false; }, "Skip the sgemm floor");
  app.add_flag("--floor-only", o.floor_only,
               "No runs: only each model's GEMM census and its sgemm floor, by shape");
  app.add_option("--repeat", o.repeat, "Timing-only runs per model (the median is reported)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--sgemm-reps", o.sgemm_reps,
                 "Timed calls per distinct GEMM shape (the best counts)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--format", o.format, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
  app.add_option("--json-out", o.json_out, "Also write the JSON document to this file");
  app.add_option("--wormsim", o.wormsim, "The wormsim binary to run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.models = split_list(models);
  if (o.models.empty()) {
    std::cerr << "wormsim_bench_models: --models names no model\n";
    return 2;
  }
  if (::access(o.wormsim.c_str(), X_OK) != 0) {
    std::cerr << "wormsim_bench_models: " << o.wormsim << " is not an executable (--wormsim)\n";
    return 2;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "wormsim_bench_models: " << e.what() << "\n";
    return 2;
  }
}
