// BM_EngineEvents: the raw speed of the discrete-event kernel. Pairs of coroutines
// ping-pong pages through circular buffers with a small compute delay per page, the
// same pattern as reader -> compute -> writer kernels. items_per_second = events/s.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "sim/circular_buffer.hpp"
#include "sim/engine.hpp"

namespace {

using wormsim::sim::CircularBuffer;
using wormsim::sim::Engine;
using wormsim::sim::Task;

Task producer(Engine& engine, CircularBuffer& cb, int pages) {
  for (int i = 0; i < pages; ++i) {
    co_await cb.reserve_back(1);
    co_await engine.delay(3);
    cb.push_back(1);
  }
}

Task consumer(Engine& engine, CircularBuffer& cb, int pages) {
  for (int i = 0; i < pages; ++i) {
    co_await cb.wait_front(1);
    co_await engine.delay(4);
    cb.pop_front(1);
  }
}

void BM_EngineEvents(benchmark::State& state) {
  const int pairs = static_cast<int>(state.range(0));
  const int pages = 20000;
  std::uint64_t events = 0;
  for (auto _ : state) {
    Engine engine;
    std::vector<std::unique_ptr<CircularBuffer>> cbs;
    for (int p = 0; p < pairs; ++p) {
      cbs.push_back(std::make_unique<CircularBuffer>(engine, "cb", 2));
      engine.spawn(producer(engine, *cbs.back(), pages));
      engine.spawn(consumer(engine, *cbs.back(), pages));
    }
    engine.run();
    events += engine.events_processed();
    benchmark::DoNotOptimize(engine.now());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(events));
}
BENCHMARK(BM_EngineEvents)->Arg(1)->Arg(64)->Arg(1024)->Unit(benchmark::kMillisecond);

}  // namespace
