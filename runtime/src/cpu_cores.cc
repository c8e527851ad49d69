// The performance cores, from Linux sysfs (Android included); one core elsewhere.
#include "cpu_cores.h"

#include <cstdio>
#include <thread>

#if defined(__linux__)
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#endif

namespace qlite {

#if defined(__linux__)
namespace {
// Read with open/read, not stdio: session creation calls no allocator (fopen mallocs).
uint64_t MaxFrequencyKhz(int cpu) {
  char path[96];
  std::snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq", cpu);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[32];
  const ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  uint64_t khz = 0;
  for (ssize_t i = 0; i < n && text[i] >= '0' && text[i] <= '9'; ++i) khz = khz * 10 + uint64_t(text[i] - '0');
  return khz;
}
}  // namespace

CpuCores DetectCpuCores() {
  CpuCores c;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return c;
  uint64_t freq[64] = {0}, best = 0, slowest = UINT64_MAX;
  uint64_t available = 0;
  for (int cpu = 0; cpu < 64; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    available |= uint64_t{1} << cpu;
    freq[cpu] = MaxFrequencyKhz(cpu);
    if (freq[cpu] > best) best = freq[cpu];
    if (freq[cpu] < slowest) slowest = freq[cpu];
  }
  if (!available) return c;
  if (best == 0 || slowest == 0) {  // no cpufreq (VMs, containers): all count as fast
    c.fast_mask = available;
  } else {
    for (int cpu = 0; cpu < 64; ++cpu)
      if ((available >> cpu & 1) && freq[cpu] == best) c.fast_mask |= uint64_t{1} << cpu;
    c.heterogeneous = slowest < best;
  }
  c.n_fast = (uint32_t)__builtin_popcountll(c.fast_mask);
  return c;
}
#else
CpuCores DetectCpuCores() {
  CpuCores c;
  const unsigned n = std::thread::hardware_concurrency();
  c.n_fast = n ? n : 1;
  return c;
}
#endif

}  // namespace qlite
