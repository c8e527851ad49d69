// Highway sum over a buffer: the read-bandwidth ceiling the kernels are compared with.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench_bandwidth.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "bench_bandwidth.h"

#include <atomic>

HWY_BEFORE_NAMESPACE();
namespace qlite_bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

uint64_t SumRange(const uint8_t* HWY_RESTRICT p, size_t bytes) {
  const hn::ScalableTag<uint64_t> d;
  const size_t N = hn::Lanes(d);
  const uint64_t* q = reinterpret_cast<const uint64_t*>(p);
  const size_t n = bytes / 8;
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::Load(d, q + i));
    a1 = hn::Add(a1, hn::Load(d, q + i + N));
    a2 = hn::Add(a2, hn::Load(d, q + i + 2 * N));
    a3 = hn::Add(a3, hn::Load(d, q + i + 3 * N));
  }
  uint64_t s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) s += q[i];
  return s;
}

}  // namespace HWY_NAMESPACE
}  // namespace qlite_bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite_bench {
HWY_EXPORT(SumRange);

namespace {
struct ReadJob {
  const uint8_t* data;
  size_t bytes, chunk;
  std::atomic<uint64_t> sum{0};
};
void ReadTask(void* ctx, size_t task, size_t) {
  ReadJob& j = *static_cast<ReadJob*>(ctx);
  const size_t begin = task * j.chunk;
  const size_t len = begin + j.chunk <= j.bytes ? j.chunk : j.bytes - begin;
  j.sum.fetch_add(HWY_DYNAMIC_DISPATCH(SumRange)(j.data + begin, len), std::memory_order_relaxed);
}
}  // namespace

uint64_t ReadAll(const uint8_t* data, size_t bytes, qlite::arch::ThreadPool* pool) {
  ReadJob job;
  job.data = data;
  job.bytes = bytes;
  job.chunk = 1 << 20;  // 1 MiB tasks, 64-aligned
  pool->Run((bytes + job.chunk - 1) / job.chunk, &ReadTask, &job);
  return job.sum.load();
}
}  // namespace qlite_bench
#endif
