// Host execution modes (analysis::HostMode / HostPipeline): the steady-state period of one, two
// and two-with-I/O command queues computed from real simulated runs of zoo models, against the
// formulas of docs/outputs.md written out here from the GraphRun's components and the spec.
#include <gtest/gtest.h>

#include <algorithm>

#include "analysis/run_profile.hpp"
#include "ops/device.hpp"
#include "sim/error.hpp"
#include "tests/analysis/synthetic_run.hpp"
#include "workloads/executor.hpp"
#include "workloads/models/model_zoo.hpp"

namespace wormsim::analysis {
namespace {

using testing::n300;
using workloads::DispatchMode;
using workloads::GraphRun;

struct ModelRun {
  workloads::Graph graph;
  GraphRun run;
};

// One timing-only inference of a zoo model on chip `chip` of a fresh N300.
ModelRun simulate(const std::string& model, DispatchMode dispatch,
                  const workloads::ModelOptions& options = {}, std::uint32_t chip = 0) {
  ModelRun r{workloads::build_model(model, options, n300()), {}};
  ops::Device device(n300());
  workloads::ExecutorOptions executor;
  executor.numerics = false;
  executor.dispatch = dispatch;
  executor.chip = chip;
  r.run = workloads::run_graph(device, r.graph, executor);
  return r;
}

const ModelRun& mnist_trace() {
  static const ModelRun r = simulate("mnist-mlp", DispatchMode::Trace);
  return r;
}

const ModelRun& mnist_eager() {
  static const ModelRun r = simulate("mnist-mlp", DispatchMode::Eager);
  return r;
}

// Host post-processing of one run's outputs, from the graph's output shapes and the spec.
double expected_postprocess_ns(const workloads::Graph& graph) {
  std::uint64_t elements = 0;
  for (const workloads::TensorId t : graph.outputs())
    elements += graph.spec(t).logical_shape().volume();
  return static_cast<double>(n300().host.postprocess_ns) +
         n300().host.postprocess_ns_per_output_element * static_cast<double>(elements);
}

RunSummary summary(const GraphRun& run, std::uint32_t batch, HostMode mode) {
  return summarise_runs({&run}, batch, n300().host, mode);
}

TEST(HostMode, TheRealRunHasEveryComponent) {
  const GraphRun& r = mnist_trace().run;
  EXPECT_GT(r.launch_ns, 0);
  EXPECT_GT(r.host_write_ns, 0);
  EXPECT_GT(r.host_read_ns, 0);
  EXPECT_GT(r.device_time_ns, 0);
  // mnist-mlp's output: batch 32 x 10 classes.
  EXPECT_EQ(output_elements(r), 32u * 10u);
  EXPECT_GT(n300().host.queue_sync_ns, 0u);
}

TEST(HostMode, OneQueueIsTheSumOfEverything) {
  const ModelRun& m = mnist_trace();
  const GraphRun& r = m.run;
  const std::uint32_t batch = m.graph.batch();
  const RunSummary s = summary(r, batch, {DispatchMode::Trace, 1, false});
  const double post = expected_postprocess_ns(m.graph);
  const double period = r.launch_ns + r.host_write_ns + r.device_time_ns + r.host_read_ns + post;
  EXPECT_DOUBLE_EQ(s.pipeline.postprocess_ns, post);
  EXPECT_DOUBLE_EQ(s.pipeline.period_ns, period);
  EXPECT_DOUBLE_EQ(s.e2e_ns, period);
  EXPECT_DOUBLE_EQ(s.pipeline.latency_ns, period);
  EXPECT_DOUBLE_EQ(s.pipeline.sync_ns, 0.0);
  EXPECT_DOUBLE_EQ(s.pipeline.io_queue_ns, 0.0);
  EXPECT_EQ(s.pipeline.bottleneck, "serial");
  EXPECT_DOUBLE_EQ(s.fps_e2e, batch * 1e9 / period);
  EXPECT_DOUBLE_EQ(s.fps_device, batch * 1e9 / r.device_time_ns);
  EXPECT_DOUBLE_EQ(s.host_io_ns, r.host_write_ns + r.host_read_ns);
}

TEST(HostMode, TwoQueuesPeriodIsTheBusiestStagePlusTwoEvents) {
  const ModelRun& m = mnist_trace();
  const GraphRun& r = m.run;
  const std::uint32_t batch = m.graph.batch();
  const RunSummary s = summary(r, batch, {DispatchMode::Trace, 2, false});
  const double post = expected_postprocess_ns(m.graph);
  const double compute = r.launch_ns + r.device_time_ns + r.host_read_ns;
  const double io = r.host_write_ns;
  const double host = r.launch_ns + post;  // trace: one execute_trace, then post-processing
  const double sync = 2.0 * n300().host.queue_sync_ns;
  EXPECT_DOUBLE_EQ(s.pipeline.compute_queue_ns, compute);
  EXPECT_DOUBLE_EQ(s.pipeline.io_queue_ns, io);
  EXPECT_DOUBLE_EQ(s.pipeline.host_thread_ns, host);
  EXPECT_DOUBLE_EQ(s.pipeline.sync_ns, sync);
  EXPECT_EQ(s.pipeline.queue_events, 2u);
  EXPECT_DOUBLE_EQ(s.pipeline.period_ns, std::max({compute, io, host}) + sync);
  EXPECT_DOUBLE_EQ(s.fps_e2e, batch * 1e9 / (std::max({compute, io, host}) + sync));
  // Device FPS does not depend on the host mode.
  EXPECT_DOUBLE_EQ(s.fps_device, batch * 1e9 / r.device_time_ns);
  EXPECT_DOUBLE_EQ(s.pipeline.latency_ns,
                   r.launch_ns + r.host_write_ns + r.device_time_ns + r.host_read_ns + post + sync);
}

TEST(HostMode, IoQueuePeriodIsComputeVersusWritesPlusReadsPlusFourEvents) {
  const ModelRun& m = mnist_trace();
  const GraphRun& r = m.run;
  const RunSummary s = summary(r, m.graph.batch(), {DispatchMode::Trace, 2, true});
  const double compute = r.launch_ns + r.device_time_ns;
  const double io = r.host_write_ns + r.host_read_ns;
  const double host = r.launch_ns + expected_postprocess_ns(m.graph);
  const double sync = 4.0 * n300().host.queue_sync_ns;
  EXPECT_DOUBLE_EQ(s.pipeline.compute_queue_ns, compute);
  EXPECT_DOUBLE_EQ(s.pipeline.io_queue_ns, io);
  EXPECT_DOUBLE_EQ(s.pipeline.period_ns, std::max({compute, io, host}) + sync);
  const double busiest = std::max({compute, io, host});
  EXPECT_EQ(s.pipeline.bottleneck, busiest == compute ? "compute queue"
                                   : busiest == io    ? "io queue"
                                                      : "host");
}

// ViT-Base cut to one layer (batch 8): 136 us of input writes and tens of us of reads against
// about 2 ms of device time, so every overlap shows.
TEST(HostMode, OverlapRaisesEndToEndFpsWhenHostIoIsNonTrivial) {
  workloads::ModelOptions options;
  options.layers = 1;
  const ModelRun m = simulate("vit-base", DispatchMode::Trace, options);
  const GraphRun& r = m.run;
  ASSERT_GT(r.host_write_ns, 10.0 * n300().host.queue_sync_ns);
  ASSERT_GT(r.host_read_ns, 2.0 * n300().host.queue_sync_ns);
  const std::uint32_t batch = m.graph.batch();
  const RunSummary cq1 = summary(r, batch, {DispatchMode::Trace, 1, false});
  const RunSummary cq2 = summary(r, batch, {DispatchMode::Trace, 2, false});
  const RunSummary io = summary(r, batch, {DispatchMode::Trace, 2, true});
  EXPECT_GT(cq2.fps_e2e, cq1.fps_e2e);
  EXPECT_GT(io.fps_e2e, cq2.fps_e2e);
  EXPECT_LE(io.fps_e2e, io.fps_device);  // the period holds the device time
  EXPECT_EQ(io.pipeline.bottleneck, "compute queue");
  // The same device time in every mode.
  EXPECT_DOUBLE_EQ(cq1.fps_device, io.fps_device);
  // What the overlap saves: cq2 hides the writes (less its events), io-cq also the reads.
  EXPECT_NEAR(cq1.e2e_ns - cq2.e2e_ns,
              r.host_write_ns + expected_postprocess_ns(m.graph) - 2.0 * n300().host.queue_sync_ns,
              1e-6);
  EXPECT_NEAR(cq2.e2e_ns - io.e2e_ns, r.host_read_ns - 2.0 * n300().host.queue_sync_ns, 1e-6);
}

TEST(HostMode, EagerDispatchCostsDeviceTimeAndHostTime) {
  const GraphRun& trace = mnist_trace().run;
  const GraphRun& eager = mnist_eager().run;
  EXPECT_GT(eager.device_time_ns, trace.device_time_ns);
  const std::uint32_t batch = mnist_trace().graph.batch();
  const RunSummary t = summary(trace, batch, {DispatchMode::Trace, 1, false});
  const RunSummary e = summary(eager, batch, {DispatchMode::Eager, 1, false});
  EXPECT_LT(e.fps_device, t.fps_device);
  EXPECT_LT(e.fps_e2e, t.fps_e2e);
  // With two queues the eager host thread dispatches every op: its gaps are host time.
  const RunSummary e2 = summary(eager, batch, {DispatchMode::Eager, 2, false});
  EXPECT_DOUBLE_EQ(e2.pipeline.host_thread_ns, eager.launch_ns + eager.gap_time_ns +
                                                   expected_postprocess_ns(mnist_eager().graph));
}

TEST(HostMode, ReplicasShareTheHostAndPcie) {
  const ModelRun chip0 = simulate("mnist-mlp", DispatchMode::Trace, {}, 0);
  const ModelRun chip1 = simulate("mnist-mlp", DispatchMode::Trace, {}, 1);
  const std::uint32_t batch = chip0.graph.batch();
  const RunSummary s =
      summarise_runs({&chip0.run, &chip1.run}, batch, n300().host, {DispatchMode::Trace, 2, true});
  EXPECT_DOUBLE_EQ(s.pipeline.host_write_ns, chip0.run.host_write_ns + chip1.run.host_write_ns);
  EXPECT_DOUBLE_EQ(s.pipeline.host_read_ns, chip0.run.host_read_ns + chip1.run.host_read_ns);
  EXPECT_DOUBLE_EQ(s.pipeline.device_time_ns,
                   std::max(chip0.run.device_time_ns, chip1.run.device_time_ns));
  EXPECT_DOUBLE_EQ(s.pipeline.postprocess_ns, 2.0 * expected_postprocess_ns(chip0.graph));
  EXPECT_DOUBLE_EQ(s.fps_e2e, 2.0 * batch * 1e9 / s.pipeline.period_ns);
}

TEST(HostMode, WithoutHostCostsTheSummaryIsTheOneQueueSumOfBefore) {
  const GraphRun& r = mnist_trace().run;
  const RunSummary s = summarise_runs({&r}, 32);
  EXPECT_DOUBLE_EQ(s.e2e_ns, r.end_to_end_ns());
  EXPECT_EQ(s.pipeline.mode.command_queues, 1u);
  EXPECT_EQ(s.pipeline.mode.dispatch, DispatchMode::Trace);
  EXPECT_DOUBLE_EQ(s.pipeline.postprocess_ns, 0.0);
  const RunSummary e = summarise_runs({&mnist_eager().run}, 32);
  EXPECT_EQ(e.pipeline.mode.dispatch, DispatchMode::Eager);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(HostMode, InvalidModesAndMismatchedRunsAreRefused) {
  const GraphRun& r = mnist_trace().run;
  EXPECT_NE(error_of([&] {
              summary(r, 32, {DispatchMode::Trace, 3, false});
            }).find("--cq must be 1 or 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              summary(r, 32, {DispatchMode::Trace, 0, false});
            }).find("got 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              summary(r, 32, {DispatchMode::Trace, 1, true});
            }).find("needs --cq 2"),
            std::string::npos);
  const std::string mismatch = error_of([&] { summary(r, 32, {DispatchMode::Eager, 1, false}); });
  EXPECT_NE(mismatch.find("simulated with trace"), std::string::npos) << mismatch;
  EXPECT_NO_THROW(check_host_mode({DispatchMode::Eager, 2, true}));
  EXPECT_EQ(describe({DispatchMode::Trace, 1, false}), "trace, 1 CQ");
  EXPECT_EQ(describe({DispatchMode::Trace, 2, false}), "trace, 2 CQs (inputs on CQ 1)");
  EXPECT_EQ(describe({DispatchMode::Eager, 2, true}), "eager, 2 CQs (inputs + outputs on CQ 1)");
}

}  // namespace
}  // namespace wormsim::analysis
