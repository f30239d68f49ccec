// CircularBuffer: back-pressure in both directions, FIFO wake order, error checks, wait-cycle
// counters, and pipelines whose end time is known in closed form.
#include "sim/circular_buffer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/engine.hpp"

namespace wormsim::sim {
namespace {

struct Mark {
  std::string what;
  Cycle at;
  bool operator==(const Mark&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Mark& m) {
  return os << "{" << m.what << "@" << m.at << "}";
}

using Log = std::vector<Mark>;

// "prefix" + std::to_string(i) trips GCC 12's -Wrestrict false positive (PR 105329).
std::string label(const char* prefix, std::uint64_t i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Blocking

Task eager_producer(Engine& engine, Log& log, CircularBuffer& cb, int pages) {
  for (int i = 0; i < pages; ++i) {
    co_await cb.reserve_back(1);
    cb.push_back(1);
    log.push_back({label("push", i), engine.now()});
  }
}

Task slow_consumer(Engine& engine, Log& log, CircularBuffer& cb, int pages, Cycle period) {
  co_await engine.delay(period);
  for (int i = 0; i < pages; ++i) {
    co_await cb.wait_front(1);
    cb.pop_front(1);
    log.push_back({label("pop", i), engine.now()});
    co_await engine.delay(period);
  }
}

TEST(CircularBuffer, ProducerBlocksWhenFull) {
  Engine engine;
  CircularBuffer cb(engine, "cb_in", 2);
  Log log;
  engine.spawn(eager_producer(engine, log, cb, 5));
  engine.spawn(slow_consumer(engine, log, cb, 5, 10));
  EXPECT_TRUE(engine.run_until(5));
  EXPECT_EQ(cb.filled(), 2u);
  EXPECT_EQ(cb.free_pages(), 0u);
  engine.run();
  const Log expected{{"push0", 0},  {"push1", 0}, {"pop0", 10},  {"push2", 10}, {"pop1", 20},
                     {"push3", 20}, {"pop2", 30}, {"push4", 30}, {"pop3", 40},  {"pop4", 50}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(engine.now(), 60u);
  // The producer waited 0->10, 10->20, 20->30 for pages 2, 3, 4; the consumer never waited.
  EXPECT_EQ(cb.reserve_back_wait_cycles(), 30u);
  EXPECT_EQ(cb.wait_front_wait_cycles(), 0u);
  EXPECT_EQ(cb.pages_pushed(), 5u);
  EXPECT_EQ(cb.peak_filled(), 2u);
  EXPECT_EQ(cb.filled(), 0u);
}

Task slow_producer(Engine& engine, Log& log, CircularBuffer& cb, int pages, Cycle period) {
  for (int i = 0; i < pages; ++i) {
    co_await engine.delay(period);
    co_await cb.reserve_back(1);
    cb.push_back(1);
    log.push_back({label("push", i), engine.now()});
  }
}

Task eager_consumer(Engine& engine, Log& log, CircularBuffer& cb, int pages) {
  for (int i = 0; i < pages; ++i) {
    co_await cb.wait_front(1);
    log.push_back({label("pop", i), engine.now()});
    cb.pop_front(1);
  }
}

TEST(CircularBuffer, ConsumerBlocksWhenEmpty) {
  Engine engine;
  CircularBuffer cb(engine, "cb_out", 4);
  Log log;
  engine.spawn(eager_consumer(engine, log, cb, 3));
  engine.spawn(slow_producer(engine, log, cb, 3, 10));
  engine.run();
  const Log expected{{"push0", 10}, {"pop0", 10},  {"push1", 20},
                     {"pop1", 20},  {"push2", 30}, {"pop2", 30}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(engine.now(), 30u);
  EXPECT_EQ(cb.wait_front_wait_cycles(), 30u);  // 0->10, 10->20, 20->30
  EXPECT_EQ(cb.reserve_back_wait_cycles(), 0u);
  EXPECT_EQ(cb.peak_filled(), 1u);
}

// ---------------------------------------------------------------------------------------------
// FIFO wake order with several blocked producers / consumers

Task front_waiter(Engine& engine, Log& log, CircularBuffer& cb, std::string name,
                  std::uint32_t pages) {
  co_await cb.wait_front(pages);
  log.push_back({name, engine.now()});
}

Task back_waiter(Engine& engine, Log& log, CircularBuffer& cb, std::string name,
                 std::uint32_t pages) {
  co_await cb.reserve_back(pages);
  log.push_back({name, engine.now()});
}

Task push_at(Engine& engine, CircularBuffer& cb, std::vector<Cycle> times) {
  for (Cycle t : times) {
    co_await engine.until(t);
    cb.push_back(1);
  }
}

Task pop_at(Engine& engine, CircularBuffer& cb, std::vector<Cycle> times) {
  for (Cycle t : times) {
    co_await engine.until(t);
    cb.pop_front(1);
  }
}

// c0 waits for 3 pages, c1 for 1, c2 for 2. After the first push c1 could run, but the head (c0)
// blocks it; when the third page lands all three resume, in arrival order.
TEST(CircularBuffer, BlockedConsumersResumeFifoBehindTheHead) {
  Engine engine;
  CircularBuffer cb(engine, "cb", 4);
  Log log;
  engine.spawn(front_waiter(engine, log, cb, "c0", 3));
  engine.spawn(front_waiter(engine, log, cb, "c1", 1));
  engine.spawn(front_waiter(engine, log, cb, "c2", 2));
  engine.spawn(push_at(engine, cb, {5, 10, 15}));
  EXPECT_TRUE(engine.run_until(12));
  EXPECT_TRUE(log.empty());
  engine.run();
  const Log expected{{"c0", 15}, {"c1", 15}, {"c2", 15}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(cb.wait_front_wait_cycles(), 45u);
}

TEST(CircularBuffer, BlockedProducersResumeFifoBehindTheHead) {
  Engine engine;
  CircularBuffer cb(engine, "cb", 2);
  cb.push_back(2);  // full
  Log log;
  engine.spawn(back_waiter(engine, log, cb, "p0", 2));
  engine.spawn(back_waiter(engine, log, cb, "p1", 1));
  engine.spawn(back_waiter(engine, log, cb, "p2", 1));
  engine.spawn(pop_at(engine, cb, {10, 20}));
  EXPECT_TRUE(engine.run_until(15));
  EXPECT_TRUE(log.empty());  // one page is free at 10, but p0 (the head) needs two
  engine.run();
  const Log expected{{"p0", 20}, {"p1", 20}, {"p2", 20}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(cb.reserve_back_wait_cycles(), 60u);
}

// As in tt-metal, reserve_back / wait_front only check: two waiters on the same page both see it.
TEST(CircularBuffer, WaitingChecksButDoesNotClaimPages) {
  Engine engine;
  CircularBuffer cb(engine, "cb", 2);
  Log log;
  engine.spawn(front_waiter(engine, log, cb, "unpack", 1));
  engine.spawn(front_waiter(engine, log, cb, "math", 1));
  engine.spawn(push_at(engine, cb, {7}));
  engine.run();
  const Log expected{{"unpack", 7}, {"math", 7}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(cb.filled(), 1u);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(CircularBuffer, ImpossibleRequestsThrow) {
  Engine engine;
  EXPECT_THROW(CircularBuffer(engine, "empty", 0), std::invalid_argument);
  CircularBuffer cb(engine, "cb", 2);
  EXPECT_THROW((void)cb.reserve_back(3), std::invalid_argument);
  EXPECT_THROW((void)cb.reserve_back(0), std::invalid_argument);
  EXPECT_THROW((void)cb.wait_front(3), std::invalid_argument);
  EXPECT_THROW((void)cb.wait_front(0), std::invalid_argument);
  EXPECT_THROW(cb.pop_front(1), std::logic_error);  // nothing filled
  EXPECT_THROW(cb.push_back(3), std::logic_error);  // more than capacity
  cb.push_back(2);
  EXPECT_THROW(cb.push_back(1), std::logic_error);  // overflow
  EXPECT_THROW(cb.pop_front(3), std::logic_error);
  EXPECT_EQ(cb.filled(), 2u);  // failed calls changed nothing
  try {
    (void)cb.reserve_back(5);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("cb"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("reserve_back(5)"), std::string::npos) << e.what();
  }
}

Task overflowing_producer(Engine& engine, CircularBuffer& cb) {
  co_await engine.delay(4);
  cb.push_back(1);
  cb.push_back(1);  // no reserve_back: overflows a 1-page buffer
}

TEST(CircularBuffer, MisuseInsideAKernelMakesRunThrow) {
  Engine engine;
  CircularBuffer cb(engine, "cb", 1);
  engine.spawn(overflowing_producer(engine, cb));
  EXPECT_THROW(engine.run(), std::logic_error);
  EXPECT_EQ(engine.now(), 4u);
}

// ---------------------------------------------------------------------------------------------
// Two-stage pipeline: producer reserves a page, works p cycles, pushes; consumer waits for a
// page, works c cycles, pops. Capacity k, N pages. Both hold their page while working.
//   k = 1:  strictly alternating:                 T = N (p + c)
//   k >= 2: the slower stage never idles after    T = N max(p, c) + min(p, c)
//           the first page (p >= c: N p + c; p < c: p + N c)
// Wait counters (k = 2): p >= c: producer never waits, consumer waits p then (p - c) per page;
//                        p <  c: consumer waits p once, producer waits (c - p) for pages 2..N-1.
// (k = 1): producer waits c for pages 1..N-1, consumer waits p for every page.

Task pipeline_producer(Engine& engine, CircularBuffer& cb, int pages, Cycle cost) {
  for (int i = 0; i < pages; ++i) {
    co_await cb.reserve_back(1);
    co_await engine.delay(cost);
    cb.push_back(1);
  }
}

Task pipeline_consumer(Engine& engine, CircularBuffer& cb, int pages, Cycle cost) {
  for (int i = 0; i < pages; ++i) {
    co_await cb.wait_front(1);
    co_await engine.delay(cost);
    cb.pop_front(1);
  }
}

struct TwoStageCase {
  Cycle p;
  Cycle c;
  std::uint32_t k;
  int n;
  Cycle expected_end;
};

std::ostream& operator<<(std::ostream& os, const TwoStageCase& t) {
  return os << "p=" << t.p << " c=" << t.c << " k=" << t.k << " N=" << t.n;
}

class TwoStagePipeline : public ::testing::TestWithParam<TwoStageCase> {};

TEST_P(TwoStagePipeline, EndTimeMatchesClosedForm) {
  const TwoStageCase& t = GetParam();
  const auto n = static_cast<Cycle>(t.n);
  const Cycle formula = t.k == 1 ? n * (t.p + t.c) : n * std::max(t.p, t.c) + std::min(t.p, t.c);
  ASSERT_EQ(formula, t.expected_end) << "hand-computed value disagrees with the formula";

  Engine engine;
  CircularBuffer cb(engine, "cb", t.k);
  engine.spawn(pipeline_producer(engine, cb, t.n, t.p));
  engine.spawn(pipeline_consumer(engine, cb, t.n, t.c));
  engine.run();
  EXPECT_EQ(engine.now(), t.expected_end);
  EXPECT_EQ(cb.pages_pushed(), n);
  // A faster producer runs ahead until the buffer is full; a faster consumer drains every page
  // before the next lands. (With p == c the two happen at the same time: not asserted.)
  if (t.p < t.c) {
    EXPECT_EQ(cb.peak_filled(), t.k);
  } else if (t.p > t.c) {
    EXPECT_EQ(cb.peak_filled(), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    HandComputed, TwoStagePipeline,
    ::testing::Values(TwoStageCase{5, 3, 2, 10, 53},    // producer-bound: 10*5 + 3
                      TwoStageCase{3, 5, 2, 10, 53},    // consumer-bound: 3 + 10*5
                      TwoStageCase{4, 4, 2, 10, 44},    // balanced: 10*4 + 4
                      TwoStageCase{5, 3, 1, 10, 80},    // single buffer: 10*(5+3)
                      TwoStageCase{3, 5, 1, 10, 80},    // single buffer: 10*(3+5)
                      TwoStageCase{1, 100, 1, 5, 505},  // 5*101
                      TwoStageCase{3, 7, 4, 20, 143},   // deeper buffer, consumer-bound: 3 + 20*7
                      TwoStageCase{7, 3, 3, 20, 143},   // deeper buffer, producer-bound: 20*7 + 3
                      TwoStageCase{9, 2, 2, 1, 11}));   // one page: p + c

struct WaitCase {
  Cycle p;
  Cycle c;
  std::uint32_t k;
  int n;
  Cycle reserve_wait;
  Cycle front_wait;
};

TEST(TwoStagePipelineWaits, CountersMatchHandComputedValues) {
  const std::vector<WaitCase> cases{
      {5, 3, 2, 10, 0, 5 + 9 * 2},   // consumer: p, then p - c for 9 pages
      {3, 5, 2, 10, 8 * 2, 3},       // producer: c - p for pages 2..9
      {5, 3, 1, 10, 9 * 3, 10 * 5},  // producer: c for 9 pages; consumer: p for 10
  };
  for (const WaitCase& w : cases) {
    Engine engine;
    CircularBuffer cb(engine, "cb", w.k);
    engine.spawn(pipeline_producer(engine, cb, w.n, w.p));
    engine.spawn(pipeline_consumer(engine, cb, w.n, w.c));
    engine.run();
    EXPECT_EQ(cb.reserve_back_wait_cycles(), w.reserve_wait) << "p=" << w.p << " c=" << w.c;
    EXPECT_EQ(cb.wait_front_wait_cycles(), w.front_wait) << "p=" << w.p << " c=" << w.c;
  }
}

// ---------------------------------------------------------------------------------------------
// Three-stage reader -> compute -> writer (the shape of every tt-metal op).
// reader: reserve in, r cycles, push.  compute: wait in, reserve out, c cycles, push out, pop in.
// writer: wait out, w cycles, pop.
//   double-buffered (both CBs hold 2):  T = r + c + w + (N - 1) max(r, c, w)
//   single-buffered (both CBs hold 1):  T = r + c + w + (N - 1) (c + max(r, w))
//     (compute holds its input page until done, so the reader and the writer each serialise
//      with it; only reader and writer overlap each other.)

Task reader(Engine& engine, CircularBuffer& in, int pages, Cycle cost) {
  for (int i = 0; i < pages; ++i) {
    co_await in.reserve_back(1);
    co_await engine.delay(cost);
    in.push_back(1);
  }
}

Task compute(Engine& engine, CircularBuffer& in, CircularBuffer& out, int pages, Cycle cost) {
  for (int i = 0; i < pages; ++i) {
    co_await in.wait_front(1);
    co_await out.reserve_back(1);
    co_await engine.delay(cost);
    out.push_back(1);
    in.pop_front(1);
  }
}

Task writer(Engine& engine, CircularBuffer& out, int pages, Cycle cost) {
  for (int i = 0; i < pages; ++i) {
    co_await out.wait_front(1);
    co_await engine.delay(cost);
    out.pop_front(1);
  }
}

Task op(Engine& engine, CircularBuffer& in, CircularBuffer& out, int pages, Cycle r, Cycle c,
        Cycle w) {
  const ProcessId kernels[] = {engine.spawn(reader(engine, in, pages, r), "reader"),
                               engine.spawn(compute(engine, in, out, pages, c), "compute"),
                               engine.spawn(writer(engine, out, pages, w), "writer")};
  for (ProcessId k : kernels) co_await engine.join(k);
}

struct ThreeStageCase {
  Cycle r;
  Cycle c;
  Cycle w;
  std::uint32_t k;
  int n;
  Cycle expected_end;
};

std::ostream& operator<<(std::ostream& os, const ThreeStageCase& t) {
  return os << "r=" << t.r << " c=" << t.c << " w=" << t.w << " k=" << t.k << " N=" << t.n;
}

class ThreeStagePipeline : public ::testing::TestWithParam<ThreeStageCase> {};

TEST_P(ThreeStagePipeline, EndTimeMatchesClosedForm) {
  const ThreeStageCase& t = GetParam();
  const auto n = static_cast<Cycle>(t.n);
  const Cycle formula = t.k == 1 ? t.r + t.c + t.w + (n - 1) * (t.c + std::max(t.r, t.w))
                                 : t.r + t.c + t.w + (n - 1) * std::max({t.r, t.c, t.w});
  ASSERT_EQ(formula, t.expected_end) << "hand-computed value disagrees with the formula";

  Engine engine;
  CircularBuffer in(engine, "cb_in", t.k);
  CircularBuffer out(engine, "cb_out", t.k);
  engine.spawn(op(engine, in, out, t.n, t.r, t.c, t.w), "op");
  engine.run();
  EXPECT_EQ(engine.now(), t.expected_end);
  EXPECT_EQ(in.pages_pushed(), n);
  EXPECT_EQ(out.pages_pushed(), n);
  EXPECT_EQ(engine.live_processes(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    HandComputed, ThreeStagePipeline,
    ::testing::Values(ThreeStageCase{2, 5, 3, 2, 16, 85},   // compute-bound: 10 + 15*5
                      ThreeStageCase{6, 2, 3, 2, 16, 101},  // reader-bound: 11 + 15*6
                      ThreeStageCase{2, 3, 7, 2, 16, 117},  // writer-bound: 12 + 15*7
                      ThreeStageCase{4, 4, 4, 2, 8, 40},    // balanced: 12 + 7*4
                      ThreeStageCase{2, 5, 3, 1, 16, 130},  // single: 10 + 15*(5+3)
                      ThreeStageCase{6, 2, 3, 1, 16, 131},  // single: 11 + 15*(2+6)
                      ThreeStageCase{5, 5, 5, 1, 4, 45}));  // single: 15 + 3*(5+5)

}  // namespace
}  // namespace wormsim::sim
