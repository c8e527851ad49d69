// The KV cache of one layer: a ring of `slots` positions per KV head, `sinks` of them pinned,
// in the mapping every backend shares (qlite/base/kv_ring.h).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "qlite/arch/ops.h"
#include "qlite/base/kv_ring.h"

namespace qlite {

// A kQ4 cache keeps f16 copies of the pinned sinks and of the kKvExactRecent most recent
// positions, and attends to those instead of their 4-bit rows: most of 4 bits' error comes
// from the newest keys and the sinks, where attention is sharp and heavy (SmolLM2-135M:
// +5.4 % perplexity from q4 keys alone; +0.8 % for K and V with these exact; README "KV
// cache and long generations").
constexpr uint32_t kKvExactRecent = 64;
// A prefill chunk stores and attends this many tokens at a time when a layer keeps exact
// recent rows: the exact ring holds kKvExactRecent + kKvExactPiece - 1 positions, so each
// token of a piece still finds all of its own recent positions (as if decoded one by one).
constexpr uint32_t kKvExactPiece = 32;

struct KvLayer {
  arch::KvType type = arch::KvType::kF32;
  uint32_t slots = 0, sinks = 0, head_dim = 0, n_kv_heads = 0;
  uint8_t* k = nullptr;  // [n_kv_heads][slots][head_dim]
  uint8_t* v = nullptr;
  float* k_scales = nullptr;  // kQ8: [n_kv_heads][slots]; kQ4: [n_kv_heads][slots][head_dim / 32]
  float* v_scales = nullptr;
  // Exact (f16) rows, kQ4 only: [n_kv_heads][sinks + exact_ring][head_dim], the sinks first,
  // then position p >= sinks at row sinks + (p - sinks) % exact_ring.
  uint32_t exact_recent = 0, exact_ring = 0;
  uint16_t* k_exact = nullptr;
  uint16_t* v_exact = nullptr;

  // Slot that position `pos` is written to; slots live once `pos` is written (kv_ring.h).
  uint32_t SlotOf(uint64_t pos) const { return KvRingSlot(pos, slots, sinks); }
  uint32_t ValidAfter(uint64_t pos) const { return KvRingLive(pos, slots); }

  // Exact recent positions and the ring holding them for a layer of `slots` / `sinks`.
  static uint32_t ExactRecent(arch::KvType t, uint32_t slots, uint32_t sinks) {
    return t == arch::KvType::kQ4 ? std::min(kKvExactRecent, slots - sinks) : 0;
  }
  static uint32_t ExactRing(uint32_t recent) { return recent ? recent + kKvExactPiece - 1 : 0; }
  uint32_t ExactRows() const { return exact_recent ? sinks + exact_ring : 0; }

  size_t head_bytes() const { return (size_t)slots * arch::KvRowBytes(type, head_dim); }
  size_t head_scales() const { return (size_t)slots * arch::KvRowScales(type, head_dim); }
  arch::KvHeadView K(uint32_t h) const { return {type, k + h * head_bytes(), k_scales ? k_scales + h * head_scales() : nullptr}; }
  arch::KvHeadView V(uint32_t h) const { return {type, v + h * head_bytes(), v_scales ? v_scales + h * head_scales() : nullptr}; }
  arch::KvHeadView KExact(uint32_t h) const { return {arch::KvType::kF16, k_exact + (size_t)h * ExactRows() * head_dim, nullptr}; }
  arch::KvHeadView VExact(uint32_t h) const { return {arch::KvType::kF16, v_exact + (size_t)h * ExactRows() * head_dim, nullptr}; }

  // Writes position `pos` of head h: its ring slot and, when kept, its exact row.
  void Store(uint32_t h, uint64_t pos, const float* key, const float* value) {
    const uint32_t slot = SlotOf(pos);
    arch::KvStore(key, head_dim, type, k + h * head_bytes(), k_scales ? k_scales + h * head_scales() : nullptr, slot);
    arch::KvStore(value, head_dim, type, v + h * head_bytes(), v_scales ? v_scales + h * head_scales() : nullptr, slot);
    if (!exact_recent) return;
    const size_t row = pos < sinks ? pos : sinks + (pos - sinks) % exact_ring;
    arch::KvStore(key, head_dim, arch::KvType::kF16, k_exact + (size_t)h * ExactRows() * head_dim, nullptr, row);
    arch::KvStore(value, head_dim, arch::KvType::kF16, v_exact + (size_t)h * ExactRows() * head_dim, nullptr, row);
  }

  // The rows head h attends at position `pos` (all of positions <= pos still live), as
  // segments for arch::AttentionSegments: the sinks (scored with sink_q when given), then the
  // ring, whose exact-kept positions come from the exact rows instead. Returns the count (<= 5).
  size_t Segments(uint32_t h, uint64_t pos, const float* sink_q, arch::KvSegment* out) const {
    const uint32_t live = ValidAfter(pos);
    const uint32_t n_sinks = std::min(sinks, live);
    const arch::KvHeadView kq = K(h), vq = V(h);
    size_t n = 0;
    if (!exact_recent) {
      out[n++] = {kq, vq, 0, n_sinks, sink_q};
      out[n++] = {kq, vq, n_sinks, live - n_sinks, nullptr};
      return n;
    }
    const arch::KvHeadView ke = KExact(h), ve = VExact(h);
    out[n++] = {ke, ve, 0, n_sinks, sink_q};
    // Live positions past the sinks: (pos - windowed, pos], the newest `recent` of them exact.
    const uint64_t windowed = live - n_sinks;
    const uint64_t recent = std::min<uint64_t>(exact_recent, windowed);
    // Positions [first, first + count) >= sinks as up to two row ranges of a ring of `ring`
    // rows after `sinks` (the main ring: ring = slots - sinks; the exact one: exact_ring).
    auto ranges = [&](arch::KvHeadView kv_k, arch::KvHeadView kv_v, uint64_t first, uint64_t count, uint64_t ring) {
      if (count == 0) return;
      const uint64_t start = (first - sinks) % ring, head = std::min(count, ring - start);
      out[n++] = {kv_k, kv_v, static_cast<size_t>(sinks + start), static_cast<size_t>(head), nullptr};
      if (count > head) out[n++] = {kv_k, kv_v, static_cast<size_t>(sinks), static_cast<size_t>(count - head), nullptr};
    };
    ranges(kq, vq, pos + 1 - windowed, windowed - recent, slots - sinks);
    ranges(ke, ve, pos + 1 - recent, recent, exact_ring);
    return n;
  }
};

}  // namespace qlite
