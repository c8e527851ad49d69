// Read-only memory bandwidth, measured with the same pool the kernels use.
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/arch/threads.h"

namespace qlite_bench {
// Sums `bytes` bytes at `data` (64-aligned) with Highway, split over the pool's threads;
// returns the checksum (so the reads cannot be optimized away).
uint64_t ReadAll(const uint8_t* data, size_t bytes, qlite::arch::ThreadPool* pool);
}  // namespace qlite_bench
