// Where a position lives in one layer's KV ring, shared by the store kernel, the attention
// kernel, the session and the host tests. Same mapping as the CPU runtime
// (runtime/src/kv_cache.h, KvLayer::SlotOf / ValidAfter; test_cuda_ring checks they agree):
// the first `sinks` positions stay pinned (StreamingLLM attention sinks), later positions
// cycle through the other slots - sinks slots. Keys are stored after RoPE, so attention
// over the live slots is order-free and a token attends to every live slot.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define QLITE_RING_FN __host__ __device__ __forceinline__
#else
#define QLITE_RING_FN inline
#endif

namespace qlite {
namespace cuda {

// Slot that position `pos` is written to (sinks < slots).
QLITE_RING_FN uint32_t RingSlot(uint64_t pos, uint32_t slots, uint32_t sinks) {
  if (pos < sinks) return static_cast<uint32_t>(pos);
  return sinks + static_cast<uint32_t>((pos - sinks) % (slots - sinks));
}

// Slots holding live positions once `pos` has been written: slots [0, RingLive) are attended.
QLITE_RING_FN uint32_t RingLive(uint64_t pos, uint32_t slots) {
  return pos + 1 < slots ? static_cast<uint32_t>(pos + 1) : slots;
}

// Whether the n tokens at pos0.. may all be written before any of them attends. Only while
// the chunk does not wrap the ring: after that, writing position p evicts one that token
// p - 1 still attends, so such a chunk stores and attends one token at a time.
QLITE_RING_FN bool RingChunkInPlace(uint64_t pos0, uint64_t n, uint32_t slots) {
  return n <= 1 || pos0 + n <= slots;
}

}  // namespace cuda
}  // namespace qlite
