// A persistent worker pool: threads are created once; Run() neither allocates nor creates
// threads. With one thread everything runs on the caller (firmware).
#pragma once
#include <cstddef>
#include <cstdint>

namespace qlite {
namespace arch {

class ThreadPool {
 public:
  using TaskFn = void (*)(void* ctx, size_t task, size_t thread);
  // cpu_mask: workers are pinned round-robin to these CPUs (bit i = CPU i; Linux/Android),
  // or not pinned when 0. The caller's thread is never pinned.
  explicit ThreadPool(size_t n_threads, uint64_t cpu_mask = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  size_t size() const;
  // Calls fn(ctx, task, thread) for task in [0, n_tasks), spread over the threads (the
  // caller is thread 0); returns when all are done. One caller at a time (not reentrant).
  // Idle workers spin briefly for the next Run, then sleep. A worker that has not started by
  // the time no task is left sits the job out: the caller waits only for workers that joined.
  void Run(size_t n_tasks, TaskFn fn, void* ctx);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace arch
}  // namespace qlite
