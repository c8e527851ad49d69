// The KV cache of one layer: a ring of `slots` positions per KV head, `sinks` of them pinned,
// in the mapping every backend shares (qlite/base/kv_ring.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/arch/ops.h"
#include "qlite/base/kv_ring.h"

namespace qlite {

inline size_t KvElementBytes(arch::KvType t) {
  return t == arch::KvType::kF32 ? 4 : t == arch::KvType::kF16 ? 2 : 1;
}

struct KvLayer {
  arch::KvType type = arch::KvType::kF32;
  uint32_t slots = 0, sinks = 0, head_dim = 0, n_kv_heads = 0;
  uint8_t* k = nullptr;  // [n_kv_heads][slots][head_dim]
  uint8_t* v = nullptr;
  float* k_scales = nullptr;  // kQ8: [n_kv_heads][slots]
  float* v_scales = nullptr;

  // Slot that position `pos` is written to; slots live once `pos` is written (kv_ring.h).
  uint32_t SlotOf(uint64_t pos) const { return KvRingSlot(pos, slots, sinks); }
  uint32_t ValidAfter(uint64_t pos) const { return KvRingLive(pos, slots); }

  size_t head_bytes() const { return (size_t)slots * head_dim * KvElementBytes(type); }
  arch::KvHeadView K(uint32_t h) const { return {type, k + h * head_bytes(), k_scales ? k_scales + h * slots : nullptr}; }
  arch::KvHeadView V(uint32_t h) const { return {type, v + h * head_bytes(), v_scales ? v_scales + h * slots : nullptr}; }
  void Store(uint32_t h, uint32_t slot, const float* key, const float* value) {
    arch::KvStore(key, head_dim, type, k + h * head_bytes(), k_scales ? k_scales + h * slots : nullptr, slot);
    arch::KvStore(value, head_dim, type, v + h * head_bytes(), v_scales ? v_scales + h * slots : nullptr, slot);
  }
  // Bytes this layer takes (data + q8 scales), for the memory estimate.
  static size_t Bytes(arch::KvType t, uint32_t slots, uint32_t head_dim, uint32_t n_kv_heads) {
    size_t b = 2 * (size_t)n_kv_heads * slots * head_dim * KvElementBytes(t);
    if (t == arch::KvType::kQ8) b += 2 * (size_t)n_kv_heads * slots * sizeof(float);
    return b;
  }
};

}  // namespace qlite
