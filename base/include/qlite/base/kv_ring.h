// The KV cache plan every backend follows (CPU runtime, CUDA port): how many positions each
// layer's ring holds, how many of them are pinned attention sinks, and where a position lives.
// The first `sinks` positions stay pinned (StreamingLLM); later positions cycle through the
// other slots - sinks slots, so a ring never grows. Keys are stored after RoPE, so attention
// over the live slots is order-free. Plain inline functions: host and device code share them.
#pragma once
#include <cstdint>

#include "qlite/base/host_device.h"

namespace qlite {

// One layer's ring: `slots` positions, the first `sinks` (< slots) of them pinned.
struct KvRingShape {
  uint32_t slots = 0, sinks = 0;
};

// Slot that position `pos` is written to.
QLITE_HOST_DEVICE uint32_t KvRingSlot(uint64_t pos, uint32_t slots, uint32_t sinks) {
  if (pos < sinks) return static_cast<uint32_t>(pos);
  return sinks + static_cast<uint32_t>((pos - sinks) % (slots - sinks));
}

// Slots holding live positions once `pos` has been written: slots [0, KvRingLive) are attended.
QLITE_HOST_DEVICE uint32_t KvRingLive(uint64_t pos, uint32_t slots) {
  return pos + 1 < slots ? static_cast<uint32_t>(pos + 1) : slots;
}

// Whether the n tokens at pos0.. may all be written before any of them attends. Only while
// the chunk does not wrap the ring: after that, writing position p evicts one that token
// p - 1 still attends, so such a chunk stores and attends one token at a time.
QLITE_HOST_DEVICE bool KvRingChunkInPlace(uint64_t pos0, uint64_t n, uint32_t slots) {
  return n <= 1 || pos0 + n <= slots;
}

}  // namespace qlite
