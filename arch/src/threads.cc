// Persistent pool: workers spin briefly on an epoch counter (decode issues ops back to back,
// so waking through the kernel would cost more than the op), then sleep on a condvar so an
// idle pool burns no CPU. Tasks are claimed with one atomic counter (dynamic balancing).
#include "qlite/arch/threads.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define QLITE_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define QLITE_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define QLITE_CPU_RELAX() ((void)0)
#endif

namespace qlite {
namespace arch {
namespace {
constexpr int kSpinIterations = 4000;  // ~tens of microseconds before sleeping
}  // namespace

struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv;
  // The current job; written by Run before the epoch is bumped (release), read after.
  TaskFn fn = nullptr;
  void* ctx = nullptr;
  size_t n_tasks = 0;
  std::atomic<bool> stop{false};
  // Own cache lines: idle workers poll `epoch` while running ones claim tasks from `next`
  // and finish on `busy`; sharing a line would make every claim invalidate the pollers.
  alignas(64) std::atomic<uint64_t> epoch{0};
  alignas(64) std::atomic<size_t> next{0};
  alignas(64) std::atomic<size_t> busy{0};  // workers still inside the current job

  void Work(size_t thread) {
    for (;;) {
      const size_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= n_tasks) return;
      fn(ctx, t, thread);
    }
  }

  void WorkerLoop(size_t thread) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t e = epoch.load(std::memory_order_acquire);
      for (int i = 0; e == seen && i < kSpinIterations; ++i) {
        QLITE_CPU_RELAX();
        e = epoch.load(std::memory_order_acquire);
      }
      if (e == seen) {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return epoch.load(std::memory_order_acquire) != seen; });
        e = epoch.load(std::memory_order_acquire);
      }
      seen = e;
      if (stop.load(std::memory_order_acquire)) return;
      Work(thread);
      busy.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
};

ThreadPool::ThreadPool(size_t n_threads) : impl_(new Impl) {
  if (n_threads == 0) n_threads = 1;
  impl_->workers.reserve(n_threads - 1);
  for (size_t i = 1; i < n_threads; ++i) {
    impl_->workers.emplace_back([this, i] { impl_->WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true, std::memory_order_release);
    impl_->epoch.fetch_add(1, std::memory_order_acq_rel);
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

size_t ThreadPool::size() const { return impl_->workers.size() + 1; }

void ThreadPool::Run(size_t n_tasks, TaskFn fn, void* ctx) {
  Impl& p = *impl_;
  if (n_tasks == 0) return;
  if (p.workers.empty() || n_tasks == 1) {
    for (size_t t = 0; t < n_tasks; ++t) fn(ctx, t, 0);
    return;
  }
  p.fn = fn;
  p.ctx = ctx;
  p.n_tasks = n_tasks;
  p.next.store(0, std::memory_order_relaxed);
  p.busy.store(p.workers.size(), std::memory_order_relaxed);
  {
    // The mutex orders the epoch bump against a worker about to sleep (no lost wake-up).
    std::lock_guard<std::mutex> lock(p.mu);
    p.epoch.fetch_add(1, std::memory_order_acq_rel);
  }
  p.cv.notify_all();
  p.Work(0);
  for (int i = 0; p.busy.load(std::memory_order_acquire) != 0; ++i) {
    if (i < kSpinIterations) {
      QLITE_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace arch
}  // namespace qlite
