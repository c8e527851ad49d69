// Persistent pool: workers spin briefly on an epoch counter (decode issues ops back to back,
// so waking through the kernel would cost more than the op), then sleep on it (a futex on
// Linux/Android, a condvar elsewhere) so an idle pool burns no CPU. Tasks are claimed with
// one atomic counter (dynamic balancing). A job is open only while the caller still finds
// tasks: a worker that arrives later (descheduled on a busy machine) skips it instead of
// making the caller wait for it, and the caller joins only the workers that did take part.
#include "qlite/arch/threads.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

// `state`: the job's epoch in the high half; kOpen while it takes new workers; the low bits
// count the workers inside it.
constexpr uint64_t kOpen = uint64_t{1} << 31;
constexpr uint64_t kJoinedMask = kOpen - 1;

// Sleeping until a 32-bit word changes. The waker only calls Wake when someone sleeps.
class Sleeper {
 public:
  void WaitWhileEqual(std::atomic<uint32_t>* word, uint32_t value) {
#if defined(__linux__)
    static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word");
    // Returns at once if *word != value (checked atomically by the kernel): no lost wake-up.
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
#else
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return word->load(std::memory_order_acquire) != value; });
#endif
  }
  void WakeAll(std::atomic<uint32_t>* word) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr, 0);
#else
    (void)word;
    { std::lock_guard<std::mutex> lock(mu_); }  // orders the change against a waiter's check
    cv_.notify_all();
#endif
  }

 private:
#if !defined(__linux__)
  std::mutex mu_;
  std::condition_variable cv_;
#endif
};

// Moves the calling thread to `cpu`; a no-op where threads cannot be pinned (or the CPU is
// not available to the process: the kernel refuses and the thread stays where it was).
void PinCurrentThread(int cpu) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
#else
  (void)cpu;
#endif
}

// The `index`-th CPU of `mask`, counting round-robin over its set bits.
int NthCpu(uint64_t mask, size_t index) {
  const size_t n = (size_t)__builtin_popcountll(mask);
  size_t skip = index % n;
  for (int cpu = 0; cpu < 64; ++cpu) {
    if (!(mask >> cpu & 1)) continue;
    if (skip-- == 0) return cpu;
  }
  return -1;
}

}  // namespace

struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  Sleeper sleeper;
  uint32_t last_epoch = 0;  // the caller's
  // The current job; written by Run before it opens the job, read by workers that joined.
  TaskFn fn = nullptr;
  void* ctx = nullptr;
  size_t n_tasks = 0;
  std::atomic<bool> stop{false};
  // Own cache lines: idle workers poll `epoch` while running ones claim tasks from `next`
  // and join/leave on `state`; sharing a line would make every claim invalidate the pollers.
  alignas(64) std::atomic<uint32_t> epoch{0};
  std::atomic<uint32_t> sleepers{0};
  alignas(64) std::atomic<uint64_t> state{0};
  alignas(64) std::atomic<size_t> next{0};

  void Work(size_t thread) {
    for (;;) {
      const size_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= n_tasks) return;
      fn(ctx, t, thread);
    }
  }

  // Enters job `e` unless it has closed (or a later one has started).
  bool Join(uint32_t e) {
    uint64_t s = state.load(std::memory_order_relaxed);
    do {
      if ((s >> 32) != e || !(s & kOpen)) return false;
    } while (!state.compare_exchange_weak(s, s + 1, std::memory_order_acquire, std::memory_order_relaxed));
    return true;
  }

  uint32_t WaitForEpoch(uint32_t seen) {
    for (int i = 0; i < kSpinIterations; ++i) {
      const uint32_t e = epoch.load(std::memory_order_acquire);
      if (e != seen) return e;
      QLITE_CPU_RELAX();
    }
    // seq_cst pairs with Run's epoch store / sleepers load: either Run sees this sleeper
    // and wakes it, or this load sees the new epoch.
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    uint32_t e;
    while ((e = epoch.load(std::memory_order_seq_cst)) == seen) sleeper.WaitWhileEqual(&epoch, seen);
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    return e;
  }

  void WorkerLoop(size_t thread) {
    uint32_t seen = 0;
    for (;;) {
      seen = WaitForEpoch(seen);
      if (stop.load(std::memory_order_acquire)) return;
      if (!Join(seen)) continue;
      Work(thread);
      state.fetch_sub(1, std::memory_order_release);
    }
  }

  void Publish(uint32_t e) {
    epoch.store(e, std::memory_order_seq_cst);
    if (sleepers.load(std::memory_order_seq_cst) != 0) sleeper.WakeAll(&epoch);
  }
};

// One thread needs no shared state: such a pool allocates nothing (firmware sessions).
ThreadPool::ThreadPool(size_t n_threads, uint64_t cpu_mask) : impl_(n_threads > 1 ? new Impl : nullptr) {
  if (!impl_) return;
  impl_->workers.reserve(n_threads - 1);
  for (size_t i = 1; i < n_threads; ++i) {
    const int cpu = cpu_mask ? NthCpu(cpu_mask, i - 1) : -1;
    impl_->workers.emplace_back([this, i, cpu] {
      if (cpu >= 0) PinCurrentThread(cpu);
      impl_->WorkerLoop(i);
    });
  }
}

ThreadPool::~ThreadPool() {
  if (!impl_) return;
  impl_->stop.store(true, std::memory_order_release);
  impl_->Publish(++impl_->last_epoch);
  for (auto& t : impl_->workers) t.join();
  delete impl_;
}

size_t ThreadPool::size() const { return impl_ ? impl_->workers.size() + 1 : 1; }

void ThreadPool::Run(size_t n_tasks, TaskFn fn, void* ctx) {
  if (n_tasks == 0) return;
  if (!impl_ || impl_->workers.empty() || n_tasks == 1) {
    for (size_t t = 0; t < n_tasks; ++t) fn(ctx, t, 0);
    return;
  }
  Impl& p = *impl_;
  const uint32_t e = ++p.last_epoch;
  p.fn = fn;
  p.ctx = ctx;
  p.n_tasks = n_tasks;
  p.next.store(0, std::memory_order_relaxed);
  p.state.store(uint64_t{e} << 32 | kOpen, std::memory_order_release);
  p.Publish(e);
  p.Work(0);
  // No task left to claim: close the job, then wait for the workers inside it.
  uint64_t s = p.state.fetch_and(~kOpen, std::memory_order_acq_rel);
  for (int i = 0; (s & kJoinedMask) != 0; ++i) {
    if (i < kSpinIterations) {
      QLITE_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
    s = p.state.load(std::memory_order_acquire);
  }
}

}  // namespace arch
}  // namespace qlite
