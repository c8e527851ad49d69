// Highway KV-cache ops: KvStore (f32 / f16 / per-slot int8 / Hadamard-rotated int4) and
// AttentionSegments: queries of one GQA group over rows held in several stores (the runtime's
// kQ4 ring plus f16 copies of its newest positions and sinks) under one softmax, with optional
// score soft-capping and separately rotated queries for the attention-sink rows. It
// vectorizes across head_dim and walks four cached rows at a time so the FMA chains overlap;
// K/V are widened to f32 on load (f16 via PromoteTo, int8 via PromoteTo + ConvertTo, the q8
// per-slot scale applied to the score / the weight), and each 4-bit row is decoded once for up
// to four queries. AttentionHead is one query through it.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "qlite/arch/ops.h"

#undef HWY_TARGET_INCLUDE
// Resolved against the -I arch/include directory (arch/src is not on the include path).
#define HWY_TARGET_INCLUDE "../src/attention.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "ops-inl.h"

HWY_BEFORE_NAMESPACE();
namespace qlite {
namespace arch {
namespace HWY_NAMESPACE {

// Normalized Walsh-Hadamard transform of x in place, in blocks of the largest power of two
// dividing n (>= 32 for the kQ4 head dims): orthogonal and its own inverse.
void HadamardInPlace(float* HWY_RESTRICT x, size_t n) {
  const size_t block = n & (~n + 1);
  const float norm = 1.0f / std::sqrt(static_cast<float>(block));
  for (size_t b = 0; b < n; b += block) {
    float* HWY_RESTRICT y = x + b;
    for (size_t len = 1; len < block; len <<= 1)
      for (size_t i = 0; i < block; i += 2 * len)
        for (size_t j = i; j < i + len; ++j) {
          const float u = y[j], v = y[j + len];
          y[j] = u + v;
          y[j + len] = u - v;
        }
    for (size_t i = 0; i < block; ++i) y[i] *= norm;
  }
}

// One kQ4 row: the rotated values of each group as nibbles plus one scale per group.
void StoreQ4Row(const float* HWY_RESTRICT src, size_t hd, uint8_t* HWY_RESTRICT codes, float* HWY_RESTRICT scales) {
  const size_t group = KvQ4Group(hd), half = group / 2;
  float x[kKvQ4MaxHeadDim];
  std::memcpy(x, src, hd * sizeof(float));
  HadamardInPlace(x, hd);
  for (size_t g = 0; g < hd / group; ++g) {
    const float* xg = x + g * group;
    float amax = 0.0f;
    for (size_t i = 0; i < group; ++i) amax = std::max(amax, std::fabs(xg[i]));
    const float inv = amax > 0.0f ? 7.0f / amax : 0.0f;
    scales[g] = amax / 7.0f;
    uint8_t* cg = codes + g * half;
    for (size_t j = 0; j < half; ++j) {
      const long lo = std::min(7L, std::max(-7L, std::lrint(xg[j] * inv)));
      const long hi = std::min(7L, std::max(-7L, std::lrint(xg[j + half] * inv)));
      cg[j] = static_cast<uint8_t>((lo + 8) | ((hi + 8) << 4));
    }
  }
}

// A kQ4 row back to f32 values (still rotated). Vectors of at most 16 lanes, so a group of
// 32 (16 bytes per half) is whole vectors on every target; smaller groups go value by value.
HWY_INLINE void DecodeQ4Row(const uint8_t* HWY_RESTRICT codes, const float* HWY_RESTRICT scales, size_t hd,
                            float* HWY_RESTRICT out) {
  const hn::CappedTag<float, 16> d;
  const hn::Rebind<int32_t, decltype(d)> di;
  const hn::Rebind<uint8_t, decltype(d)> d8;
  const size_t N = hn::Lanes(d), group = KvQ4Group(hd), half = group / 2;
  const auto mask = hn::Set(di, 15), eight = hn::Set(di, 8);
  for (size_t g = 0; g < hd / group; ++g) {
    const uint8_t* cg = codes + g * half;
    float* og = out + g * group;
    if (half % N != 0) {
      for (size_t j = 0; j < half; ++j) {
        og[j] = static_cast<float>((cg[j] & 15) - 8) * scales[g];
        og[j + half] = static_cast<float>((cg[j] >> 4) - 8) * scales[g];
      }
      continue;
    }
    const auto vs = hn::Set(d, scales[g]);
    for (size_t j = 0; j < half; j += N) {
      const auto bytes = hn::BitCast(di, hn::PromoteTo(hn::Rebind<uint32_t, decltype(d)>(), hn::LoadU(d8, cg + j)));
      const auto lo = hn::Sub(hn::And(bytes, mask), eight);
      const auto hi = hn::Sub(hn::ShiftRight<4>(bytes), eight);
      hn::StoreU(hn::Mul(hn::ConvertTo(d, lo), vs), d, og + j);
      hn::StoreU(hn::Mul(hn::ConvertTo(d, hi), vs), d, og + half + j);
    }
  }
}

// A kQ4 group-of-32 half: N code bytes at p widened to u32 lanes, then the low and high
// nibbles as f32 (not yet shifted by 8).
template <class D>
HWY_INLINE hn::Vec<hn::Rebind<uint32_t, D>> Q4Bytes(D, const uint8_t* HWY_RESTRICT p) {
  return hn::PromoteTo(hn::Rebind<uint32_t, D>(), hn::LoadU(hn::Rebind<uint8_t, D>(), p));
}
template <class D, class VU>
HWY_INLINE hn::Vec<D> Q4Lo(D d, VU bytes) {
  return hn::ConvertTo(d, hn::BitCast(hn::Rebind<int32_t, D>(), hn::And(bytes, hn::Set(hn::Rebind<uint32_t, D>(), 15u))));
}
template <class D, class VU>
HWY_INLINE hn::Vec<D> Q4Hi(D d, VU bytes) {
  return hn::ConvertTo(d, hn::BitCast(hn::Rebind<int32_t, D>(), hn::ShiftRight<4>(bytes)));
}

// scores[t] = scale * q·row_t over kQ4 rows with groups of 32 (q already rotated), four
// rows at a time. Per group: sum_i (c_i - 8) q_i s = s (sum_i c_i q_i - 8 sum_i q_i).
HWY_INLINE void ScoresQ4(const float* HWY_RESTRICT q, const uint8_t* HWY_RESTRICT codes,
                         const float* HWY_RESTRICT scales, size_t hd, size_t n, float scale,
                         float* HWY_RESTRICT scores) {
  const hn::CappedTag<float, 16> d;
  const size_t N = hn::Lanes(d), groups = hd / 32, row_bytes = hd / 2;
  float qsum[kKvQ4MaxHeadDim / 32];
  for (size_t g = 0; g < groups; ++g) {
    float sum = 0.0f;
    for (size_t i = 0; i < 32; ++i) sum += q[g * 32 + i];
    qsum[g] = 8.0f * sum;
  }
  // Sizeless (SVE) vectors cannot live in a struct: the shift comes back through a pointer.
  auto row_dot = [&](size_t t, float* shift) {
    const uint8_t* c = codes + t * row_bytes;
    const float* s = scales + t * groups;
    auto total = hn::Zero(d);
    *shift = 0.0f;
    for (size_t g = 0; g < groups; ++g) {
      auto acc = hn::Zero(d);
      for (size_t j = 0; j < 16; j += N) {
        const auto bytes = Q4Bytes(d, c + g * 16 + j);
        acc = hn::MulAdd(Q4Lo(d, bytes), hn::LoadU(d, q + g * 32 + j), acc);
        acc = hn::MulAdd(Q4Hi(d, bytes), hn::LoadU(d, q + g * 32 + 16 + j), acc);
      }
      total = hn::MulAdd(acc, hn::Set(d, s[g]), total);
      *shift += s[g] * qsum[g];
    }
    return total;
  };
  size_t t = 0;
  for (; t + 4 <= n; t += 4) {
    float shift[4], dots[4];
    const auto r0 = row_dot(t, shift), r1 = row_dot(t + 1, shift + 1);
    const auto r2 = row_dot(t + 2, shift + 2), r3 = row_dot(t + 3, shift + 3);
    Reduce4(d, r0, r1, r2, r3, dots);
    for (size_t i = 0; i < 4; ++i) scores[t + i] = (dots[i] - shift[i]) * scale;
  }
  for (; t < n; ++t) {
    float shift;
    const auto r = row_dot(t, &shift);
    scores[t] = (LaneSum(d, r) - shift) * scale;
  }
}

// out += sum_t p[t] row_t over kQ4 rows with groups of 32 (out stays rotated), four rows
// at a time so each slice of out is loaded and stored once per four rows.
HWY_INLINE void WeightedSumQ4(const float* HWY_RESTRICT p, const uint8_t* HWY_RESTRICT codes,
                              const float* HWY_RESTRICT scales, size_t hd, size_t n, float* HWY_RESTRICT out) {
  const hn::CappedTag<float, 16> d;
  const size_t N = hn::Lanes(d), groups = hd / 32, row_bytes = hd / 2;
  size_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const uint8_t* c = codes + t * row_bytes;
    const float* s = scales + t * groups;
    for (size_t g = 0; g < groups; ++g) {
      const float w0 = p[t] * s[g], w1 = p[t + 1] * s[groups + g], w2 = p[t + 2] * s[2 * groups + g],
                  w3 = p[t + 3] * s[3 * groups + g];
      const auto bias = hn::Set(d, -8.0f * (w0 + w1 + w2 + w3));
      const auto v0 = hn::Set(d, w0), v1 = hn::Set(d, w1), v2 = hn::Set(d, w2), v3 = hn::Set(d, w3);
      for (size_t j = 0; j < 16; j += N) {
        float* o = out + g * 32 + j;
        auto olo = hn::Add(hn::LoadU(d, o), bias), ohi = hn::Add(hn::LoadU(d, o + 16), bias);
        const auto b0 = Q4Bytes(d, c + g * 16 + j);
        olo = hn::MulAdd(v0, Q4Lo(d, b0), olo), ohi = hn::MulAdd(v0, Q4Hi(d, b0), ohi);
        const auto b1 = Q4Bytes(d, c + row_bytes + g * 16 + j);
        olo = hn::MulAdd(v1, Q4Lo(d, b1), olo), ohi = hn::MulAdd(v1, Q4Hi(d, b1), ohi);
        const auto b2 = Q4Bytes(d, c + 2 * row_bytes + g * 16 + j);
        olo = hn::MulAdd(v2, Q4Lo(d, b2), olo), ohi = hn::MulAdd(v2, Q4Hi(d, b2), ohi);
        const auto b3 = Q4Bytes(d, c + 3 * row_bytes + g * 16 + j);
        olo = hn::MulAdd(v3, Q4Lo(d, b3), olo), ohi = hn::MulAdd(v3, Q4Hi(d, b3), ohi);
        hn::StoreU(olo, d, o);
        hn::StoreU(ohi, d, o + 16);
      }
    }
  }
  for (; t < n; ++t) {
    const uint8_t* c = codes + t * row_bytes;
    const float* s = scales + t * groups;
    for (size_t g = 0; g < groups; ++g) {
      const float w = p[t] * s[g];
      const auto bias = hn::Set(d, -8.0f * w), vw = hn::Set(d, w);
      for (size_t j = 0; j < 16; j += N) {
        float* o = out + g * 32 + j;
        const auto bytes = Q4Bytes(d, c + g * 16 + j);
        hn::StoreU(hn::MulAdd(vw, Q4Lo(d, bytes), hn::Add(hn::LoadU(d, o), bias)), d, o);
        hn::StoreU(hn::MulAdd(vw, Q4Hi(d, bytes), hn::Add(hn::LoadU(d, o + 16), bias)), d, o + 16);
      }
    }
  }
}

void KvStoreT(const float* HWY_RESTRICT src, size_t head_dim, KvType type, void* data,
              float* scales, size_t slot) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  const size_t base = slot * head_dim;
  size_t i = 0;
  if (type == KvType::kQ4) {
    StoreQ4Row(src, head_dim, static_cast<uint8_t*>(data) + slot * (head_dim / 2),
               scales + slot * (head_dim / KvQ4Group(head_dim)));
  } else if (type == KvType::kF32) {
    std::memcpy(static_cast<float*>(data) + base, src, head_dim * sizeof(float));
  } else if (type == KvType::kF16) {
    const hn::Rebind<hwy::float16_t, decltype(d)> dh;
    hwy::float16_t* HWY_RESTRICT dst = static_cast<hwy::float16_t*>(data) + base;
    for (; i + N <= head_dim; i += N) hn::StoreU(hn::DemoteTo(dh, hn::LoadU(d, src + i)), dh, dst + i);
    uint16_t* HWY_RESTRICT tail = static_cast<uint16_t*>(data) + base;
    for (; i < head_dim; ++i) tail[i] = F32ToF16(src[i]);
  } else {
    auto vmax = hn::Zero(d);
    for (; i + N <= head_dim; i += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, src + i)));
    float amax = hn::GetLane(hn::MaxOfLanes(d, vmax));
    for (; i < head_dim; ++i) amax = std::max(amax, std::fabs(src[i]));
    float nonfinite = 0.0f;  // x * 0: NaN for an inf or NaN, which Max above may not keep
    for (i = 0; i < head_dim; ++i) nonfinite += src[i] * 0.0f;
    float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    if (!(inv <= std::numeric_limits<float>::max())) inv = 0.0f;  // subnormal amax: zeros
    const hn::Rebind<int8_t, decltype(d)> d8;
    int8_t* HWY_RESTRICT dst = static_cast<int8_t*>(data) + base;
    if (!(nonfinite == 0.0f)) {  // as activation quantization: zero codes, NaN scale
      std::memset(dst, 0, head_dim);
      scales[slot] = std::numeric_limits<float>::quiet_NaN();
      return;
    }
    const auto vinv = hn::Set(d, inv);
    // |x * inv| <= 127 up to rounding, so the saturating demote never clips real values.
    for (i = 0; i + N <= head_dim; i += N) {
      hn::StoreU(hn::DemoteTo(d8, hn::NearestInt(hn::Mul(hn::LoadU(d, src + i), vinv))), d8, dst + i);
    }
    for (; i < head_dim; ++i) {
      dst[i] = static_cast<int8_t>(std::min(127L, std::max(-127L, std::lrint(src[i] * inv))));
    }
    scales[slot] = amax / 127.0f;
  }
}

// scores[t] = scale * row_scale[t] * q·k[t] (row_scale == nullptr: 1).
template <typename T>
HWY_INLINE void Scores(const float* HWY_RESTRICT q, const T* HWY_RESTRICT k, size_t hd, size_t n,
                       float scale, const float* HWY_RESTRICT row_scale, float* HWY_RESTRICT scores) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  size_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const T* HWY_RESTRICT k0 = k + t * hd;
    const T* HWY_RESTRICT k1 = k0 + hd;
    const T* HWY_RESTRICT k2 = k1 + hd;
    const T* HWY_RESTRICT k3 = k2 + hd;
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    size_t i = 0;
    for (; i + N <= hd; i += N) {
      const auto vq = hn::LoadU(d, q + i);
      a0 = hn::MulAdd(vq, LoadF(d, k0 + i), a0);
      a1 = hn::MulAdd(vq, LoadF(d, k1 + i), a1);
      a2 = hn::MulAdd(vq, LoadF(d, k2 + i), a2);
      a3 = hn::MulAdd(vq, LoadF(d, k3 + i), a3);
    }
    Reduce4(d, a0, a1, a2, a3, scores + t);
    for (; i < hd; ++i) {
      scores[t + 0] += q[i] * ToF(k0[i]);
      scores[t + 1] += q[i] * ToF(k1[i]);
      scores[t + 2] += q[i] * ToF(k2[i]);
      scores[t + 3] += q[i] * ToF(k3[i]);
    }
  }
  for (; t < n; ++t) {
    const T* HWY_RESTRICT kt = k + t * hd;
    auto a = hn::Zero(d);
    size_t i = 0;
    for (; i + N <= hd; i += N) a = hn::MulAdd(hn::LoadU(d, q + i), LoadF(d, kt + i), a);
    float s = LaneSum(d, a);
    for (; i < hd; ++i) s += q[i] * ToF(kt[i]);
    scores[t] = s;
  }
  for (t = 0; t < n; ++t) scores[t] *= row_scale ? scale * row_scale[t] : scale;
}

// out += sum_t p[t] * row_scale[t] * v[t] (row_scale == nullptr: 1).
template <typename T>
HWY_INLINE void WeightedSum(const float* HWY_RESTRICT p, const T* HWY_RESTRICT v, size_t hd,
                            size_t n, const float* HWY_RESTRICT row_scale, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d);
  auto w = [&](size_t t) { return row_scale ? p[t] * row_scale[t] : p[t]; };
  size_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const float w0 = w(t), w1 = w(t + 1), w2 = w(t + 2), w3 = w(t + 3);
    const T* HWY_RESTRICT v0 = v + t * hd;
    const T* HWY_RESTRICT v1 = v0 + hd;
    const T* HWY_RESTRICT v2 = v1 + hd;
    const T* HWY_RESTRICT v3 = v2 + hd;
    const auto p0 = hn::Set(d, w0), p1 = hn::Set(d, w1), p2 = hn::Set(d, w2), p3 = hn::Set(d, w3);
    size_t i = 0;
    for (; i + N <= hd; i += N) {
      auto o = hn::LoadU(d, out + i);
      o = hn::MulAdd(p0, LoadF(d, v0 + i), o);
      o = hn::MulAdd(p1, LoadF(d, v1 + i), o);
      o = hn::MulAdd(p2, LoadF(d, v2 + i), o);
      o = hn::MulAdd(p3, LoadF(d, v3 + i), o);
      hn::StoreU(o, d, out + i);
    }
    for (; i < hd; ++i) {
      out[i] += w0 * ToF(v0[i]) + w1 * ToF(v1[i]) + w2 * ToF(v2[i]) + w3 * ToF(v3[i]);
    }
  }
  for (; t < n; ++t) {
    const float wt = w(t);
    const T* HWY_RESTRICT vt = v + t * hd;
    const auto pt = hn::Set(d, wt);
    size_t i = 0;
    for (; i + N <= hd; i += N) hn::StoreU(hn::MulAdd(pt, LoadF(d, vt + i), hn::LoadU(d, out + i)), d, out + i);
    for (; i < hd; ++i) out[i] += wt * ToF(vt[i]);
  }
}

// scores[t] = scale * q·row_t over rows of any kQ4 group size (q already rotated): groups of
// 32 straight from the codes, smaller groups through a decoded row.
HWY_INLINE void ScoresQ4Any(const float* HWY_RESTRICT q, const uint8_t* HWY_RESTRICT codes,
                            const float* HWY_RESTRICT scales, size_t hd, size_t n, float scale,
                            float* HWY_RESTRICT scores) {
  if (KvQ4Group(hd) == 32 && 16 % hn::Lanes(hn::CappedTag<float, 16>()) == 0) {
    ScoresQ4(q, codes, scales, hd, n, scale, scores);
    return;
  }
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), row_bytes = hd / 2, groups = hd / KvQ4Group(hd);
  float row[kKvQ4MaxHeadDim];
  for (size_t t = 0; t < n; ++t) {
    DecodeQ4Row(codes + t * row_bytes, scales + t * groups, hd, row);
    auto a = hn::Zero(d);
    size_t i = 0;
    for (; i + N <= hd; i += N) a = hn::MulAdd(hn::LoadU(d, q + i), hn::LoadU(d, row + i), a);
    float dot = LaneSum(d, a);
    for (; i < hd; ++i) dot += q[i] * row[i];
    scores[t] = dot * scale;
  }
}

// out += sum_t p[t] row_t over kQ4 rows of any group size (out stays rotated).
HWY_INLINE void WeightedSumQ4Any(const float* HWY_RESTRICT p, const uint8_t* HWY_RESTRICT codes,
                                 const float* HWY_RESTRICT scales, size_t hd, size_t n, float* HWY_RESTRICT out) {
  if (KvQ4Group(hd) == 32 && 16 % hn::Lanes(hn::CappedTag<float, 16>()) == 0) {
    WeightedSumQ4(p, codes, scales, hd, n, out);
    return;
  }
  const hn::ScalableTag<float> d;
  const size_t N = hn::Lanes(d), row_bytes = hd / 2, groups = hd / KvQ4Group(hd);
  float row[kKvQ4MaxHeadDim];
  for (size_t t = 0; t < n; ++t) {
    DecodeQ4Row(codes + t * row_bytes, scales + t * groups, hd, row);
    const auto vp = hn::Set(d, p[t]);
    size_t i = 0;
    for (; i + N <= hd; i += N) hn::StoreU(hn::MulAdd(vp, hn::LoadU(d, row + i), hn::LoadU(d, out + i)), d, out + i);
    for (; i < hd; ++i) out[i] += p[t] * row[i];
  }
}

// scores of rows [first, first + n) of one head's K, whatever its type.
HWY_INLINE void SegmentScores(const float* HWY_RESTRICT q, size_t hd, const KvHeadView& k, size_t first, size_t n,
                              float scale, float* HWY_RESTRICT scores) {
  switch (k.type) {
    case KvType::kF32:
      Scores(q, static_cast<const float*>(k.data) + first * hd, hd, n, scale, nullptr, scores);
      break;
    case KvType::kF16:
      Scores(q, static_cast<const hwy::float16_t*>(k.data) + first * hd, hd, n, scale, nullptr, scores);
      break;
    case KvType::kQ8:
      Scores(q, static_cast<const int8_t*>(k.data) + first * hd, hd, n, scale, k.scales + first, scores);
      break;
    case KvType::kQ4: {  // the keys are rotated: so is the query (q·k = Hq·Hk)
      float qr[kKvQ4MaxHeadDim];
      std::memcpy(qr, q, hd * sizeof(float));
      HadamardInPlace(qr, hd);
      ScoresQ4Any(qr, static_cast<const uint8_t*>(k.data) + first * (hd / 2),
                  k.scales + first * KvRowScales(KvType::kQ4, hd), hd, n, scale, scores);
      break;
    }
  }
}

// out += sum_t p[t] v[first + t] over one head's V (kQ4: into `rotated`, still rotated).
HWY_INLINE void SegmentWeightedSum(const float* HWY_RESTRICT p, size_t hd, const KvHeadView& v, size_t first,
                                   size_t n, float* HWY_RESTRICT out, float* HWY_RESTRICT rotated) {
  switch (v.type) {
    case KvType::kF32:
      WeightedSum(p, static_cast<const float*>(v.data) + first * hd, hd, n, nullptr, out);
      break;
    case KvType::kF16:
      WeightedSum(p, static_cast<const hwy::float16_t*>(v.data) + first * hd, hd, n, nullptr, out);
      break;
    case KvType::kQ8:
      WeightedSum(p, static_cast<const int8_t*>(v.data) + first * hd, hd, n, v.scales + first, out);
      break;
    case KvType::kQ4:
      WeightedSumQ4Any(p, static_cast<const uint8_t*>(v.data) + first * (hd / 2),
                       v.scales + first * KvRowScales(KvType::kQ4, hd), hd, n, rotated);
      break;
  }
}

// M queries (rows of q, rotated, M <= 4) against kQ4 rows with groups of 32, each row's
// codes decoded once for all: scores[j * stride + t] = scale * q_j·row_t.
template <size_t M>
HWY_INLINE void ScoresQ4M(const float* HWY_RESTRICT q, const uint8_t* HWY_RESTRICT codes,
                          const float* HWY_RESTRICT scales, size_t hd, size_t n, float scale, size_t stride,
                          float* HWY_RESTRICT scores) {
  static_assert(M >= 2 && M <= 4, "2 to 4 queries at a time");
  const hn::CappedTag<float, 16> d;
  const size_t N = hn::Lanes(d), groups = hd / 32, row_bytes = hd / 2;
  float qsum[4][kKvQ4MaxHeadDim / 32] = {};
  for (size_t m = 0; m < M; ++m)
    for (size_t g = 0; g < groups; ++g) {
      float sum = 0.0f;
      for (size_t i = 0; i < 32; ++i) sum += q[m * hd + g * 32 + i];
      qsum[m][g] = 8.0f * sum;
    }
  const float* HWY_RESTRICT q0 = q;
  const float* HWY_RESTRICT q1 = q + hd;
  const float* HWY_RESTRICT q2 = q + (M > 2 ? 2 * hd : hd);
  const float* HWY_RESTRICT q3 = q + (M > 3 ? 3 * hd : hd);
  for (size_t t = 0; t < n; ++t) {
    const uint8_t* c = codes + t * row_bytes;
    const float* s = scales + t * groups;
    auto t0 = hn::Zero(d), t1 = hn::Zero(d), t2 = hn::Zero(d), t3 = hn::Zero(d);
    float shift[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t g = 0; g < groups; ++g) {
      auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
      for (size_t j = 0; j < 16; j += N) {
        const auto bytes = Q4Bytes(d, c + g * 16 + j);
        const auto lo = Q4Lo(d, bytes), hi = Q4Hi(d, bytes);
        const size_t i = g * 32 + j;
        a0 = hn::MulAdd(hi, hn::LoadU(d, q0 + i + 16), hn::MulAdd(lo, hn::LoadU(d, q0 + i), a0));
        a1 = hn::MulAdd(hi, hn::LoadU(d, q1 + i + 16), hn::MulAdd(lo, hn::LoadU(d, q1 + i), a1));
        if (M > 2) a2 = hn::MulAdd(hi, hn::LoadU(d, q2 + i + 16), hn::MulAdd(lo, hn::LoadU(d, q2 + i), a2));
        if (M > 3) a3 = hn::MulAdd(hi, hn::LoadU(d, q3 + i + 16), hn::MulAdd(lo, hn::LoadU(d, q3 + i), a3));
      }
      const auto vs = hn::Set(d, s[g]);
      t0 = hn::MulAdd(a0, vs, t0);
      t1 = hn::MulAdd(a1, vs, t1);
      if (M > 2) t2 = hn::MulAdd(a2, vs, t2);
      if (M > 3) t3 = hn::MulAdd(a3, vs, t3);
      for (size_t m = 0; m < M; ++m) shift[m] += s[g] * qsum[m][g];
    }
    float dots[4];
    Reduce4(d, t0, t1, t2, t3, dots);
    for (size_t m = 0; m < M; ++m) scores[m * stride + t] = (dots[m] - shift[m]) * scale;
  }
}

// out_j += sum_t p_j[t] row_t for M <= 4 queries over kQ4 rows with groups of 32 (outs stay
// rotated), each row's codes decoded once for all.
template <size_t M>
HWY_INLINE void WeightedSumQ4M(const float* HWY_RESTRICT p, size_t stride, const uint8_t* HWY_RESTRICT codes,
                               const float* HWY_RESTRICT scales, size_t hd, size_t n, float* HWY_RESTRICT out) {
  static_assert(M >= 2 && M <= 4, "2 to 4 queries at a time");
  const hn::CappedTag<float, 16> d;
  const size_t N = hn::Lanes(d), groups = hd / 32, row_bytes = hd / 2;
  const auto eight = hn::Set(d, 8.0f);
  for (size_t t = 0; t < n; ++t) {
    const uint8_t* c = codes + t * row_bytes;
    const float* s = scales + t * groups;
    for (size_t g = 0; g < groups; ++g) {
      float w[4];
      for (size_t m = 0; m < M; ++m) w[m] = p[m * stride + t] * s[g];
      for (size_t j = 0; j < 16; j += N) {
        // Centred once per row for all queries (codes are stored + 8), so no large bias
        // cancels at the end.
        const auto bytes = Q4Bytes(d, c + g * 16 + j);
        const auto lo = hn::Sub(Q4Lo(d, bytes), eight), hi = hn::Sub(Q4Hi(d, bytes), eight);
        for (size_t m = 0; m < M; ++m) {
          float* o = out + m * hd + g * 32 + j;
          const auto vw = hn::Set(d, w[m]);
          hn::StoreU(hn::MulAdd(vw, lo, hn::LoadU(d, o)), d, o);
          hn::StoreU(hn::MulAdd(vw, hi, hn::LoadU(d, o + 16)), d, o + 16);
        }
      }
    }
  }
}

// Segment i's rows for queries [j, j + M): a kQ4 segment with groups of 32 takes the M-query
// kernels, anything else goes query by query. qr: the rotated queries; q: as given.
template <size_t M>
HWY_INLINE void SegmentScoresM(const float* HWY_RESTRICT q, const float* HWY_RESTRICT qr, size_t hd,
                               const KvSegment& s, float scale, size_t stride, float* HWY_RESTRICT scores) {
  const bool fused = KvQ4Group(hd) == 32 && 16 % hn::Lanes(hn::CappedTag<float, 16>()) == 0;
  if (M > 1 && !s.q && fused && s.k.type == KvType::kQ4) {
    ScoresQ4M<(M > 1 ? M : 2)>(qr, static_cast<const uint8_t*>(s.k.data) + s.first * (hd / 2),
                               s.k.scales + s.first * (hd / 32), hd, s.n, scale, stride, scores);
    return;
  }
  for (size_t m = 0; m < M; ++m)
    SegmentScores((s.q ? s.q : q) + m * hd, hd, s.k, s.first, s.n, scale, scores + m * stride);
}
template <size_t M>
HWY_INLINE void SegmentWeightedSumM(const float* HWY_RESTRICT p, size_t stride, size_t hd, const KvSegment& s,
                                    float* HWY_RESTRICT out, float* HWY_RESTRICT rotated) {
  const bool fused = KvQ4Group(hd) == 32 && 16 % hn::Lanes(hn::CappedTag<float, 16>()) == 0;
  if (M > 1 && fused && s.v.type == KvType::kQ4) {
    WeightedSumQ4M<(M > 1 ? M : 2)>(p, stride, static_cast<const uint8_t*>(s.v.data) + s.first * (hd / 2),
                                    s.v.scales + s.first * (hd / 32), hd, s.n, rotated);
    return;
  }
  for (size_t m = 0; m < M; ++m) SegmentWeightedSum(p + m * stride, hd, s.v, s.first, s.n, out + m * hd, rotated + m * hd);
}

// M <= 4 queries of AttentionSegments: scores, softmax per query, weighted sums.
template <size_t M>
HWY_INLINE void SegmentsChunk(const float* HWY_RESTRICT q, size_t hd, const KvSegment* segments, size_t n_segments,
                              size_t total, float scale, float softcap, float* HWY_RESTRICT scores,
                              float* HWY_RESTRICT out) {
  float qr[4 * kKvQ4MaxHeadDim], rotated[4 * kKvQ4MaxHeadDim];
  bool rotated_v = false;
  for (size_t i = 0; i < n_segments; ++i) rotated_v |= segments[i].n && segments[i].v.type == KvType::kQ4;
  std::memcpy(qr, q, M * hd * sizeof(float));
  for (size_t m = 0; m < M; ++m) HadamardInPlace(qr + m * hd, hd);
  size_t first = 0;
  for (size_t i = 0; i < n_segments; ++i) {
    SegmentScoresM<M>(q, qr, hd, segments[i], scale, total, scores + first);
    first += segments[i].n;
  }
  std::fill(out, out + M * hd, 0.0f);
  if (total == 0) return;
  for (size_t m = 0; m < M; ++m) {
    if (softcap > 0.0f) SoftCapInPlace(scores + m * total, total, softcap);
    SoftmaxInPlace(scores + m * total, total);
  }
  if (rotated_v) std::fill(rotated, rotated + M * hd, 0.0f);
  first = 0;
  for (size_t i = 0; i < n_segments; ++i) {
    SegmentWeightedSumM<M>(scores + first, total, hd, segments[i], out, rotated);
    first += segments[i].n;
  }
  if (!rotated_v) return;
  for (size_t m = 0; m < M; ++m) {
    HadamardInPlace(rotated + m * hd, hd);
    for (size_t i = 0; i < hd; ++i) out[m * hd + i] += rotated[m * hd + i];
  }
}

void AttentionSegmentsT(const float* HWY_RESTRICT q, size_t n_q, size_t hd, const KvSegment* segments,
                        size_t n_segments, float scale, float softcap, float* HWY_RESTRICT scores,
                        float* HWY_RESTRICT out) {
  size_t total = 0;
  for (size_t i = 0; i < n_segments; ++i) total += segments[i].n;
  KvSegment shifted[kMaxKvSegments];  // a chunk's own sink queries
  size_t j = 0;
  while (j < n_q) {
    const size_t m = std::min<size_t>(4, n_q - j);
    for (size_t i = 0; i < n_segments; ++i) {
      shifted[i] = segments[i];
      if (shifted[i].q) shifted[i].q += j * hd;
    }
    const float* qj = q + j * hd;
    float* sj = scores + j * total;
    float* oj = out + j * hd;
    switch (m) {
      case 4: SegmentsChunk<4>(qj, hd, shifted, n_segments, total, scale, softcap, sj, oj); break;
      case 3: SegmentsChunk<3>(qj, hd, shifted, n_segments, total, scale, softcap, sj, oj); break;
      case 2: SegmentsChunk<2>(qj, hd, shifted, n_segments, total, scale, softcap, sj, oj); break;
      default: SegmentsChunk<1>(qj, hd, shifted, n_segments, total, scale, softcap, sj, oj); break;
    }
    j += m;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace arch
}  // namespace qlite
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace qlite {
namespace arch {

HWY_EXPORT(KvStoreT);
HWY_EXPORT(AttentionSegmentsT);

void KvStore(const float* src, size_t head_dim, KvType type, void* data, float* scales, size_t slot) {
  HWY_DYNAMIC_DISPATCH(KvStoreT)(src, head_dim, type, data, scales, slot);
}
void AttentionSegments(const float* q, size_t n_q, size_t head_dim, const KvSegment* segments, size_t n_segments,
                       float scale, float* scores, float* out, float softcap) {
  HWY_DYNAMIC_DISPATCH(AttentionSegmentsT)(q, n_q, head_dim, segments, n_segments, scale, softcap, scores, out);
}
// One query head: the sinks (scored with sink_q) and the other rows as two segments.
void AttentionHead(const float* q, size_t head_dim, const KvHeadView& k, const KvHeadView& v,
                   size_t n_slots, float scale, float* scores, float* out, float softcap, const float* sink_q,
                   size_t n_sinks) {
  const size_t sinks = sink_q ? std::min(n_sinks, n_slots) : 0;
  const KvSegment segments[2] = {{k, v, 0, sinks, sink_q}, {k, v, sinks, n_slots - sinks, nullptr}};
  AttentionSegments(q, 1, head_dim, segments, 2, scale, scores, out, softcap);
}

}  // namespace arch
}  // namespace qlite
#endif  // HWY_ONCE
