#include "runtime/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <mutex>
#include <set>
#include <vector>

namespace nexus {
namespace {

TEST(ThreadPool, RunCallsEveryThreadIndexOnce) {
  for (int n : {1, 2, 3, 8}) {
    ThreadPool pool(n);
    EXPECT_EQ(pool.size(), n);
    std::vector<std::atomic<int>> hits(n);
    for (int rep = 0; rep < 50; ++rep) pool.run([&](int t) { hits[t].fetch_add(1); });
    for (int t = 0; t < n; ++t) EXPECT_EQ(hits[t].load(), 50) << "thread " << t;
  }
}

TEST(ThreadPool, ParallelForCoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 64, 1001}) {
      for (int64_t grain : {1, 3, 100}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          EXPECT_LT(b, e);
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " grain=" << grain << " i=" << i;
      }
    }
  }
}

TEST(ThreadPool, ParallelForSplitIsDeterministicAndRespectsGrain) {
  ThreadPool pool(4);
  auto chunks = [&](int64_t n, int64_t grain) {
    std::mutex mu;
    std::set<std::pair<int64_t, int64_t>> s;
    pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> lock(mu);
      s.insert({b, e});
    });
    return s;
  };
  EXPECT_EQ(chunks(1000, 10), chunks(1000, 10));
  // a few chunks per thread (claimed dynamically), never more than n / grain
  EXPECT_GE(chunks(1000, 10).size(), 4u);
  EXPECT_LE(chunks(1000, 10).size(), 100u);
  for (auto [b, e] : chunks(1000, 10)) EXPECT_GE(e - b, 10);
  // n / grain = 2 chunks at most
  const auto small = chunks(20, 10);
  EXPECT_EQ(small.size(), 2u);
  for (auto [b, e] : small) EXPECT_GE(e - b, 10);
}

TEST(ThreadPool, ManyShortJobsDoNotDeadlock) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int rep = 0; rep < 2000; ++rep)
    pool.parallel_for(30, 1, [&](int64_t b, int64_t e) { total.fetch_add(e - b); });
  EXPECT_EQ(total.load(), 2000 * 30);
}

// Jobs separated by pauses longer than the spin budget: workers go to sleep on the futex
// and must be woken for every job; a lost wake-up would hang here.
TEST(ThreadPool, WakesSleepingWorkers) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 20; ++rep) {
    std::vector<std::atomic<int>> hits(3);
    pool.run([&](int t) { hits[t].fetch_add(1); });
    for (int t = 0; t < 3; ++t) ASSERT_EQ(hits[t].load(), 1) << "rep " << rep << " thread " << t;
    std::this_thread::sleep_for(std::chrono::milliseconds(rep % 2 ? 2 : 0));
  }
}

// The same index never runs twice at once, even when indices are claimed by whichever
// thread is free, and every index's writes are visible to the caller after run().
TEST(ThreadPool, IndicesAreExclusiveAndResultsVisible) {
  ThreadPool pool(4);
  std::vector<int64_t> slots(4, 0);
  for (int rep = 0; rep < 500; ++rep) pool.run([&](int t) { slots[t] += t + 1; });
  for (int t = 0; t < 4; ++t) EXPECT_EQ(slots[t], 500 * (t + 1));
}

TEST(ThreadPool, DefaultThreadCountIsPositive) { EXPECT_GE(default_thread_count(), 1); }

}  // namespace
}  // namespace nexus
