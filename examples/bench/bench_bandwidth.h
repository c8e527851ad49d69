// Read-only memory bandwidth, measured with the same pool the kernels use.
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/arch/threads.h"

namespace qlite_bench {
// Ways to read a buffer: vector width x independent streams. No one variant is fastest
// everywhere (on Zen 4, 256-bit loads out-read 512-bit ones; several streams can keep more
// prefetchers busy), so the probe measures all and keeps the best as the ceiling.
size_t NumReadVariants();
// Short name, e.g. "r512x1" (512-bit vectors, one stream); "" for an out-of-range variant.
const char* ReadVariantName(size_t variant);

// Sums `bytes` bytes at `data` (64-aligned) with Highway using `variant`, split over the
// pool's threads in 1 MiB tasks; returns the checksum (so the reads cannot be optimized away).
uint64_t ReadAll(const uint8_t* data, size_t bytes, qlite::arch::ThreadPool* pool,
                 size_t variant = 0);
}  // namespace qlite_bench
