// Highway sums over a buffer: the read-bandwidth ceiling the kernels are compared with.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench_bandwidth.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "bench_bandwidth.h"

#include <atomic>
#include <cstdio>

HWY_BEFORE_NAMESPACE();
namespace qlite_bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Eight accumulators in all (enough loads in flight to saturate memory), split over
// kStreams contiguous parts of the range read in lockstep. Separate variables, not an
// array: SVE vectors are sizeless.
template <size_t kStreams, class D>
HWY_INLINE uint64_t SumStreams(D d, const uint64_t* HWY_RESTRICT q, size_t n) {
  constexpr size_t kUnroll = 8 / kStreams;
  const size_t N = hn::Lanes(d);
  const size_t step = kUnroll * N;
  const size_t part = n / kStreams / step * step;  // whole vectors: loads stay aligned
  auto at = [&](size_t k, size_t i) { return q + (k / kUnroll) * part + i + (k % kUnroll) * N; };
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  auto a4 = hn::Zero(d), a5 = hn::Zero(d), a6 = hn::Zero(d), a7 = hn::Zero(d);
  for (size_t i = 0; i < part; i += step) {
    a0 = hn::Add(a0, hn::Load(d, at(0, i)));
    a1 = hn::Add(a1, hn::Load(d, at(1, i)));
    a2 = hn::Add(a2, hn::Load(d, at(2, i)));
    a3 = hn::Add(a3, hn::Load(d, at(3, i)));
    a4 = hn::Add(a4, hn::Load(d, at(4, i)));
    a5 = hn::Add(a5, hn::Load(d, at(5, i)));
    a6 = hn::Add(a6, hn::Load(d, at(6, i)));
    a7 = hn::Add(a7, hn::Load(d, at(7, i)));
  }
  a0 = hn::Add(hn::Add(a0, a1), hn::Add(a2, a3));
  a4 = hn::Add(hn::Add(a4, a5), hn::Add(a6, a7));
  uint64_t s = hn::GetLane(hn::SumOfLanes(d, hn::Add(a0, a4)));
  for (size_t i = part * kStreams; i < n; ++i) s += q[i];
  return s;
}

// Variants: 0-2 native width with 1, 2, 4 streams; 3-5 the same capped at 256 bits.
uint64_t SumRange(const uint8_t* HWY_RESTRICT p, size_t bytes, size_t variant) {
  const hn::ScalableTag<uint64_t> dn;
  const hn::CappedTag<uint64_t, 4> d256;
  const uint64_t* q = reinterpret_cast<const uint64_t*>(p);
  const size_t n = bytes / 8;
  switch (variant) {
    case 0: return SumStreams<1>(dn, q, n);
    case 1: return SumStreams<2>(dn, q, n);
    case 2: return SumStreams<4>(dn, q, n);
    case 3: return SumStreams<1>(d256, q, n);
    case 4: return SumStreams<2>(d256, q, n);
    default: return SumStreams<4>(d256, q, n);
  }
}

size_t NativeBits() { return hn::Lanes(hn::ScalableTag<uint64_t>()) * 64; }

}  // namespace HWY_NAMESPACE
}  // namespace qlite_bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite_bench {
HWY_EXPORT(SumRange);
HWY_EXPORT(NativeBits);

namespace {
constexpr size_t kStreamCounts[] = {1, 2, 4};

struct ReadJob {
  const uint8_t* data;
  size_t bytes, chunk, variant;
  std::atomic<uint64_t> sum{0};
};
void ReadTask(void* ctx, size_t task, size_t) {
  ReadJob& j = *static_cast<ReadJob*>(ctx);
  const size_t begin = task * j.chunk;
  const size_t len = begin + j.chunk <= j.bytes ? j.chunk : j.bytes - begin;
  j.sum.fetch_add(HWY_DYNAMIC_DISPATCH(SumRange)(j.data + begin, len, j.variant),
                  std::memory_order_relaxed);
}
}  // namespace

// Capped variants only where the native vector is wider than 256 bits (else they repeat).
size_t NumReadVariants() { return HWY_DYNAMIC_DISPATCH(NativeBits)() > 256 ? 6 : 3; }

const char* ReadVariantName(size_t variant) {
  static char names[6][16];  // filled on first use; the dispatched width does not change
  if (variant >= NumReadVariants()) return "";
  const size_t bits = variant < 3 ? HWY_DYNAMIC_DISPATCH(NativeBits)() : 256;
  std::snprintf(names[variant], sizeof(names[variant]), "r%zux%zu", bits,
                kStreamCounts[variant % 3]);
  return names[variant];
}

uint64_t ReadAll(const uint8_t* data, size_t bytes, qlite::arch::ThreadPool* pool, size_t variant) {
  ReadJob job;
  job.data = data;
  job.bytes = bytes;
  job.chunk = 1 << 20;  // 1 MiB tasks, 64-aligned
  job.variant = variant;
  pool->Run((bytes + job.chunk - 1) / job.chunk, &ReadTask, &job);
  return job.sum.load();
}
}  // namespace qlite_bench
#endif
