// Which CPUs a session's threads use by default: the performance cores (the fastest by
// maximum frequency, as Linux/Android report it), so a phone's decode does not wait for a
// worker on a little core.
#pragma once
#include <cstdint>

namespace qlite {

struct CpuCores {
  uint32_t n_fast = 1;       // CPUs (available to this process) at the highest max frequency
  uint64_t fast_mask = 0;    // those CPUs (bit i = CPU i, CPUs 0-63)
  bool heterogeneous = false;  // some available CPUs are slower (big.LITTLE)
};

// Reads /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq for the CPUs in this process's
// affinity mask. Where frequencies cannot be read, every available CPU counts as fast.
CpuCores DetectCpuCores();

}  // namespace qlite
