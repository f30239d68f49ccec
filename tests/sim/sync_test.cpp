// Resource, Semaphore and Trigger: blocking, strict FIFO wake order and exact statistics on
// small hand-computed scenarios.
#include "sim/sync.hpp"

#include <gtest/gtest.h>

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

// ---------------------------------------------------------------------------------------------
// Resource

Task resource_user(Engine& engine, Log& log, Resource& resource, std::string name, Cycle start,
                   std::uint64_t units, Cycle hold) {
  co_await engine.delay(start);
  co_await resource.acquire(units);
  log.push_back({name, engine.now()});
  co_await engine.delay(hold);
  resource.release(units);
}

TEST(Resource, CapacityBoundsConcurrentHolders) {
  Engine engine;
  Resource port(engine, "port", 2);
  Log log;
  for (const char* name : {"a", "b", "c", "d"}) {
    engine.spawn(resource_user(engine, log, port, name, 0, 1, 10));
  }
  engine.run();
  const Log expected{{"a", 0}, {"b", 0}, {"c", 10}, {"d", 10}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(engine.now(), 20u);
  EXPECT_EQ(port.in_use(), 0u);
  EXPECT_EQ(port.stats().busy_cycles, 20u);
  EXPECT_EQ(port.stats().wait_cycles, 20u);  // c and d each waited 10
  EXPECT_EQ(port.stats().uses, 4u);
  EXPECT_EQ(port.stats().units, 4u);
  EXPECT_EQ(port.stats().max_queue, 2u);
}

// Capacity 3. Grants are strictly first come, first served: b (1 unit) arrives while a (2 units)
// waits; b would fit beside h but must not overtake a, and d must not overtake c.
//   t=0  h takes 2 (until 10)        t=1 a wants 2   t=2 b wants 1   t=3 c wants 3   t=4 d wants 1
//   t=10 h releases -> a (2) and b (1) granted; c (3) does not fit, d waits behind c
//   t=11 b releases; t=15 a releases -> c granted; t=17 c releases -> d granted; t=18 d releases
//   t=30 e takes 1 on an idle resource (until 35)
// busy = [0,18) + [30,35) = 23; wait = a 9 + b 8 + c 12 + d 13 = 42; queue peaks at 4 (a,b,c,d).
TEST(Resource, StrictFifoWakeOrderAndExactStatistics) {
  Engine engine;
  Resource dma(engine, "dma", 3);
  Log log;
  engine.spawn(resource_user(engine, log, dma, "h", 0, 2, 10));
  engine.spawn(resource_user(engine, log, dma, "a", 1, 2, 5));
  engine.spawn(resource_user(engine, log, dma, "b", 2, 1, 1));
  engine.spawn(resource_user(engine, log, dma, "c", 3, 3, 2));
  engine.spawn(resource_user(engine, log, dma, "d", 4, 1, 1));
  engine.spawn(resource_user(engine, log, dma, "e", 30, 1, 5));
  engine.run();
  const Log expected{{"h", 0}, {"a", 10}, {"b", 10}, {"c", 15}, {"d", 17}, {"e", 30}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(engine.now(), 35u);
  const BusyStats& s = dma.stats();
  EXPECT_EQ(s.name, "dma");
  EXPECT_EQ(s.busy_cycles, 23u);
  EXPECT_EQ(s.wait_cycles, 42u);
  EXPECT_EQ(s.uses, 6u);
  EXPECT_EQ(s.units, 10u);
  EXPECT_EQ(s.max_queue, 4u);
  EXPECT_DOUBLE_EQ(s.utilisation(engine.now()), 23.0 / 35.0);
}

TEST(Resource, StatsAreRegisteredWithTheEngine) {
  Engine engine;
  Resource a(engine, "link-a", 1);
  Resource b(engine, "link-b", 4);
  ASSERT_EQ(engine.all_stats().size(), 2u);
  EXPECT_EQ(engine.all_stats()[0].name, "link-a");
  EXPECT_EQ(engine.all_stats()[1].name, "link-b");
  EXPECT_EQ(&engine.all_stats()[1], &b.stats());
}

TEST(Resource, InvalidRequestsThrow) {
  Engine engine;
  EXPECT_THROW(Resource(engine, "zero", 0), std::invalid_argument);
  Resource r(engine, "r", 2);
  EXPECT_THROW((void)r.acquire(0), std::invalid_argument);
  EXPECT_THROW((void)r.acquire(3), std::invalid_argument);
  EXPECT_THROW(r.release(1), std::logic_error);
  EXPECT_THROW(r.release(0), std::logic_error);  // would otherwise count idle time as busy
  EXPECT_EQ(r.stats().busy_cycles, 0u);
}

// ---------------------------------------------------------------------------------------------
// Semaphore

Task watcher(Engine& engine, Log& log, Semaphore& sem, std::string name, std::int64_t target,
             Cycle start = 0) {
  co_await engine.delay(start);
  co_await sem.wait_at_least(target);
  log.push_back({name, engine.now()});
}

Task taker(Engine& engine, Log& log, Semaphore& sem, std::string name, std::int64_t units,
           Cycle start = 0) {
  co_await engine.delay(start);
  co_await sem.take(units);
  log.push_back({name, engine.now()});
}

struct SemOp {
  Cycle at;
  bool is_set;
  std::int64_t value;
};

Task semaphore_driver(Engine& engine, Semaphore& sem, std::vector<SemOp> ops) {
  for (const SemOp& op : ops) {
    co_await engine.until(op.at);
    if (op.is_set) {
      sem.set(op.value);
    } else {
      sem.increment(op.value);
    }
  }
}

TEST(Semaphore, WaitAtLeastWakesAtTargetAndLeavesValue) {
  Engine engine;
  Semaphore sem(engine);
  Log log;
  engine.spawn(watcher(engine, log, sem, "needs3", 3));
  engine.spawn(watcher(engine, log, sem, "needs1", 1));
  engine.spawn(semaphore_driver(engine, sem, {{5, false, 1}, {10, false, 1}, {15, false, 1}}));
  engine.run();
  const Log expected{{"needs1", 5}, {"needs3", 15}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(sem.value(), 3);
}

TEST(Semaphore, TakeIsImmediateWhenUnitsAreAvailable) {
  Engine engine;
  Semaphore sem(engine, 5);
  Log log;
  engine.spawn(taker(engine, log, sem, "t", 2));
  engine.run();
  EXPECT_EQ(log, (Log{{"t", 0}}));
  EXPECT_EQ(sem.value(), 3);
  EXPECT_EQ(engine.events_processed(), 2u);  // start + delay(0): the take did not suspend
}

// t1 wants 2, t2 wants 1. At 5 the value is 1: t2 could take it but must wait behind t1.
TEST(Semaphore, TakersAreServedFifo) {
  Engine engine;
  Semaphore sem(engine);
  Log log;
  engine.spawn(taker(engine, log, sem, "t1", 2));
  engine.spawn(taker(engine, log, sem, "t2", 1, 1));
  engine.spawn(semaphore_driver(engine, sem, {{5, false, 1}, {10, false, 1}, {15, false, 1}}));
  engine.run();
  const Log expected{{"t1", 10}, {"t2", 15}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(sem.value(), 0);
}

TEST(Semaphore, SetWakesSatisfiedWaitersInQueueOrder) {
  Engine engine;
  Semaphore sem(engine);
  Log log;
  engine.spawn(watcher(engine, log, sem, "w2", 2));
  engine.spawn(watcher(engine, log, sem, "w7", 7));
  engine.spawn(taker(engine, log, sem, "t4", 4));
  // set(1) at 3 wakes nobody; set(5) at 10 wakes w2 and lets t4 take 4 (value 1);
  // set(7) at 20 wakes w7.
  engine.spawn(semaphore_driver(engine, sem, {{3, true, 1}, {10, true, 5}, {20, true, 7}}));
  EXPECT_TRUE(engine.run_until(15));
  EXPECT_EQ(sem.value(), 1);
  engine.run();
  const Log expected{{"w2", 10}, {"t4", 10}, {"w7", 20}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(sem.value(), 7);
}

TEST(Semaphore, BlockedTakerDoesNotBlockWatchers) {
  Engine engine;
  Semaphore sem(engine);
  Log log;
  engine.spawn(taker(engine, log, sem, "t5", 5));
  engine.spawn(watcher(engine, log, sem, "w1", 1));
  engine.spawn(semaphore_driver(engine, sem, {{5, true, 2}, {9, false, 3}}));
  engine.run();
  const Log expected{{"w1", 5}, {"t5", 9}};
  EXPECT_EQ(log, expected);
  EXPECT_EQ(sem.value(), 0);
}

// A watcher waiting for 5 must not make a later taker queue while the value already covers it
// (the taker would otherwise sleep until some unrelated set/increment).
TEST(Semaphore, QueuedWatcherDoesNotBlockATaker) {
  Engine engine;
  Semaphore sem(engine);
  Log log;
  engine.spawn(watcher(engine, log, sem, "w5", 5));
  engine.spawn(taker(engine, log, sem, "t1", 1, 2));
  engine.spawn(semaphore_driver(engine, sem, {{1, true, 2}, {30, true, 5}}));
  EXPECT_TRUE(engine.run_until(10));
  EXPECT_EQ(log, (Log{{"t1", 2}}));
  EXPECT_EQ(sem.value(), 1);
  engine.run();
  EXPECT_EQ(log, (Log{{"t1", 2}, {"w5", 30}}));
  EXPECT_EQ(sem.value(), 5);
}

// ---------------------------------------------------------------------------------------------
// Trigger

Task trigger_waiter(Engine& engine, Log& log, Trigger& trigger, std::string name, Cycle start) {
  co_await engine.delay(start);
  co_await trigger.wait();
  log.push_back({name, engine.now()});
}

Task trigger_driver(Engine& engine, Trigger& trigger, Log& log) {
  co_await engine.until(10);
  trigger.set();
  log.push_back({"set", engine.now()});
  co_await engine.until(12);
  trigger.reset();
  co_await engine.until(20);
  trigger.set();
}

TEST(Trigger, WaitersBlockUntilSetThenLevelTriggeredUntilReset) {
  Engine engine;
  Trigger trigger(engine);
  Log log;
  EXPECT_FALSE(trigger.is_set());
  engine.spawn(trigger_waiter(engine, log, trigger, "w1", 0));
  engine.spawn(trigger_waiter(engine, log, trigger, "w2", 0));
  engine.spawn(trigger_driver(engine, trigger, log));
  engine.spawn(trigger_waiter(engine, log, trigger, "while-set", 11));
  engine.spawn(trigger_waiter(engine, log, trigger, "after-reset", 13));
  EXPECT_TRUE(engine.run_until(15));
  EXPECT_FALSE(trigger.is_set());
  engine.run();
  EXPECT_TRUE(trigger.is_set());
  // set() resumes the woken waiters after the setter continues (FIFO among them).
  const Log expected{{"set", 10}, {"w1", 10}, {"w2", 10}, {"while-set", 11}, {"after-reset", 20}};
  EXPECT_EQ(log, expected);
}

}  // namespace
}  // namespace wormsim::sim
