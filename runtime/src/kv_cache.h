// The KV cache of one layer: a ring of `slots` positions per KV head, `sinks` of them pinned,
// in the mapping every backend shares (qlite/base/kv_ring.h).
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/arch/ops.h"
#include "qlite/base/kv_ring.h"

namespace qlite {

struct KvLayer {
  arch::KvType type = arch::KvType::kF32;
  uint32_t slots = 0, sinks = 0, head_dim = 0, n_kv_heads = 0;
  uint8_t* k = nullptr;  // [n_kv_heads][slots][head_dim]
  uint8_t* v = nullptr;
  float* k_scales = nullptr;  // kQ8: [n_kv_heads][slots]; kQ4: [n_kv_heads][slots][head_dim / 32]
  float* v_scales = nullptr;

  // Slot that position `pos` is written to; slots live once `pos` is written (kv_ring.h).
  uint32_t SlotOf(uint64_t pos) const { return KvRingSlot(pos, slots, sinks); }
  uint32_t ValidAfter(uint64_t pos) const { return KvRingLive(pos, slots); }

  size_t head_bytes() const { return (size_t)slots * arch::KvRowBytes(type, head_dim); }
  size_t head_scales() const { return (size_t)slots * arch::KvRowScales(type, head_dim); }
  arch::KvHeadView K(uint32_t h) const { return {type, k + h * head_bytes(), k_scales ? k_scales + h * head_scales() : nullptr}; }
  arch::KvHeadView V(uint32_t h) const { return {type, v + h * head_bytes(), v_scales ? v_scales + h * head_scales() : nullptr}; }
  void Store(uint32_t h, uint32_t slot, const float* key, const float* value) {
    arch::KvStore(key, head_dim, type, k + h * head_bytes(), k_scales ? k_scales + h * head_scales() : nullptr, slot);
    arch::KvStore(value, head_dim, type, v + h * head_bytes(), v_scales ? v_scales + h * head_scales() : nullptr, slot);
  }
  // Bytes this layer takes (data + scales), for the memory estimate.
  static size_t Bytes(arch::KvType t, uint32_t slots, uint32_t head_dim, uint32_t n_kv_heads) {
    return 2 * (size_t)n_kv_heads * slots * (arch::KvRowBytes(t, head_dim) + arch::KvRowScales(t, head_dim) * sizeof(float));
  }
};

}  // namespace qlite
