// ThreadPool: every task runs exactly once, on any pool size, over many back-to-back Runs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "qlite/arch/threads.h"

#if defined(__linux__)
#include <sched.h>
#endif

namespace {

using qlite::arch::ThreadPool;

struct Counts {
  std::vector<std::atomic<int>> hits;
  std::atomic<size_t> max_thread{0};
  explicit Counts(size_t n) : hits(n) {}
};

void Count(void* ctx, size_t task, size_t thread) {
  auto* c = static_cast<Counts*>(ctx);
  c->hits[task].fetch_add(1);
  size_t m = c->max_thread.load();
  while (thread > m && !c->max_thread.compare_exchange_weak(m, thread)) {
  }
}

TEST(ThreadPool, EveryTaskRunsOnce) {
  for (size_t threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (size_t n : {0, 1, 2, 7, 100, 1000}) {
      Counts c(n);
      pool.Run(n, &Count, &c);
      for (size_t t = 0; t < n; ++t) ASSERT_EQ(c.hits[t].load(), 1) << threads << " " << n;
      EXPECT_LT(c.max_thread.load(), threads);
    }
  }
}

TEST(ThreadPool, ZeroMeansOneThread) {
  ThreadPool pool(0);
  EXPECT_EQ(pool.size(), 1u);
  Counts c(3);
  pool.Run(3, &Count, &c);
  EXPECT_EQ(c.hits[2].load(), 1);
}

TEST(ThreadPool, ManyBackToBackRuns) {
  ThreadPool pool(3);
  Counts c(16);
  for (int i = 0; i < 500; ++i) pool.Run(16, &Count, &c);
  for (auto& h : c.hits) EXPECT_EQ(h.load(), 500);
}

TEST(ThreadPool, WakesAfterSleeping) {
  ThreadPool pool(2);
  Counts c(8);
  pool.Run(8, &Count, &c);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // workers go to sleep
  pool.Run(8, &Count, &c);
  for (auto& h : c.hits) EXPECT_EQ(h.load(), 2);
}

// Short jobs right after the workers fell asleep: workers that wake late find the job
// closed (or a later one open) and must neither run its tasks nor lose the next one's.
TEST(ThreadPool, LateWorkersSkipClosedJobs) {
  ThreadPool pool(3);
  Counts c(2);
  for (int i = 0; i < 300; ++i) {
    if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    pool.Run(2, &Count, &c);
  }
  for (auto& h : c.hits) EXPECT_EQ(h.load(), 300);
  EXPECT_LT(c.max_thread.load(), 3u);
}

void Slow(void* ctx, size_t task, size_t thread) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Count(ctx, task, thread);
}

TEST(ThreadPool, WorkIsShared) {
  ThreadPool pool(2);
  Counts c(4);
  pool.Run(4, &Slow, &c);
  EXPECT_EQ(c.max_thread.load(), 1u);  // the worker took some of the sleeping tasks
}

#if defined(__linux__)
struct Placement {
  std::atomic<int> worker_cpu{-1};
};

void RecordWorkerCpu(void* ctx, size_t, size_t thread) {
  if (thread != 0) static_cast<Placement*>(ctx)->worker_cpu.store(sched_getcpu());
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

TEST(ThreadPool, WorkersRunOnTheirMask) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
  int last = -1;
  for (int cpu = 0; cpu < 64; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) last = cpu;
  ASSERT_GE(last, 0);
  ThreadPool pool(2, uint64_t{1} << last);
  Placement p;
  for (int rep = 0; rep < 50 && p.worker_cpu.load() < 0; ++rep) pool.Run(8, &RecordWorkerCpu, &p);
  ASSERT_GE(p.worker_cpu.load(), 0) << "the worker never took a task";
  EXPECT_EQ(p.worker_cpu.load(), last);
}
#endif

}  // namespace
