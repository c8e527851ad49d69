// Builds random weight matrices in the FORMAT.md layouts for the matmul tests and bench;
// runs a check on every compiled Highway target.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "hwy/targets.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/reference.h"

namespace qlite_test {

using qlite::arch::ScaleType;
using qlite::arch::WeightLayout;
using qlite::arch::WeightMatrix;
using qlite::arch::WeightType;
namespace ref = qlite::arch::ref;

inline const char* TypeName(WeightType t) {
  static const char* const kNames[] = {"F32", "F16", "BF16", "I8", "I4", "U4", "NF4"};
  return kNames[static_cast<int>(t)];
}

struct MatrixSpec {
  WeightType type = WeightType::kI4;
  size_t rows = 0, cols = 0;
  size_t group_size = 32;  // 0: per tensor
  ScaleType scale_type = ScaleType::kF16;
  WeightLayout layout = WeightLayout::kRowMajor;
};

inline size_t RowStride(WeightType t, size_t cols) {
  const size_t padded = (cols + 31) / 32 * 32;
  switch (t) {
    case WeightType::kF32: return cols * 4;
    case WeightType::kF16:
    case WeightType::kBF16: return cols * 2;
    case WeightType::kI8: return padded;
    default: return padded / 2;
  }
}

// Owns the bytes a WeightMatrix points at.
struct OwnedMatrix {
  WeightMatrix w;
  std::vector<uint8_t> data;
  std::vector<uint8_t> scales, mins;
  std::vector<float> dq_scales, dq_offsets;
  std::string Name() const {
    return std::string(TypeName(w.type)) + " " + std::to_string(w.rows) + "x" +
           std::to_string(w.cols) + " g" + (w.per_tensor ? std::string("T") : std::to_string(w.group_size)) +
           " s" + std::to_string(static_cast<int>(w.scale_type)) +
           (w.layout == WeightLayout::kInterleave4x32   ? " interleave4x32"
            : w.layout == WeightLayout::kInterleave16x4 ? " interleave16x4"
                                                        : "");
  }
};

// Reorders RowMajor bytes into Interleave4x32 per FORMAT.md: rows in groups of 4 (the last
// group padded with zero rows); block b of the four rows stored one after another.
inline std::vector<uint8_t> Interleave(const std::vector<uint8_t>& rm, WeightType t, size_t rows,
                                       size_t cols, size_t stride) {
  const size_t groups = (rows + 3) / 4;
  std::vector<uint8_t> out(groups * 4 * stride, 0);
  const size_t nb = (cols + 31) / 32;
  const size_t bb = qlite::arch::BlockBytes(t);
  for (size_t g = 0; g < groups; ++g) {
    size_t off = g * 4 * stride;
    for (size_t b = 0; b < nb; ++b) {
      const size_t this_bb = std::min(bb, stride - b * bb);  // float rows: partial last block
      for (size_t k = 0; k < 4; ++k) {
        const size_t r = g * 4 + k;
        if (r < rows) std::memcpy(&out[off], &rm[r * stride + b * bb], this_bb);
        off += this_bb;
      }
    }
  }
  return out;
}

// Reorders RowMajor bytes into Interleave16x4 per FORMAT.md: rows in groups of 16 (the last
// group padded with zero rows); 4-byte word w of the 16 rows stored one after another.
inline std::vector<uint8_t> Interleave16(const std::vector<uint8_t>& rm, size_t rows, size_t stride) {
  std::vector<uint8_t> out((rows + 15) / 16 * 16 * stride, 0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t k = 0; k < stride / 4; ++k) {
      std::memcpy(&out[(r / 16) * 16 * stride + k * 64 + (r % 16) * 4], &rm[r * stride + 4 * k], 4);
    }
  }
  return out;
}

// Logical [rows][gpr] values in the layout's stored order (Interleave16x4: grouped by 16
// rows, the padding rows' entries set to `pad`, which no output may depend on).
inline std::vector<float> StoredOrder(const std::vector<float>& v, const WeightMatrix& w, float pad) {
  if (w.layout != WeightLayout::kInterleave16x4 || w.per_tensor) return v;
  const size_t gpr = (w.cols + w.group_size - 1) / w.group_size;
  std::vector<float> out((w.rows + 15) / 16 * 16 * gpr, pad);
  for (size_t r = 0; r < w.rows; ++r) {
    for (size_t g = 0; g < gpr; ++g) out[qlite::arch::ScaleIndex(w, r, g)] = v[r * gpr + g];
  }
  return out;
}

inline void PutScales(std::vector<uint8_t>* dst, const std::vector<float>& v, ScaleType st) {
  dst->resize(v.size() * (st == ScaleType::kF32 ? 4 : st == ScaleType::kF16 ? 2 : 1));
  for (size_t i = 0; i < v.size(); ++i) {
    if (st == ScaleType::kF32) std::memcpy(dst->data() + 4 * i, &v[i], 4);
    if (st == ScaleType::kF16) {
      const uint16_t h = qlite::F32ToF16(v[i]);
      std::memcpy(dst->data() + 2 * i, &h, 2);
    }
  }
}

inline OwnedMatrix MakeMatrix(const MatrixSpec& s, std::mt19937* rng) {
  OwnedMatrix m;
  WeightMatrix& w = m.w;
  w.type = s.type;
  w.rows = s.rows;
  w.cols = s.cols;
  w.row_stride = RowStride(s.type, s.cols);
  w.per_tensor = s.group_size == 0;
  w.group_size = w.per_tensor ? s.cols : s.group_size;
  w.scale_type = s.scale_type;
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> rm(s.rows * w.row_stride, 0);
  const size_t padded = (s.cols + 31) / 32 * 32;
  for (size_t r = 0; r < s.rows; ++r) {
    uint8_t* row = &rm[r * w.row_stride];
    for (size_t c = 0; c < padded; ++c) {
      const bool pad = c >= s.cols;
      switch (s.type) {
        case WeightType::kF32:
          if (!pad) { const float f = unit(*rng); std::memcpy(row + 4 * c, &f, 4); }
          break;
        case WeightType::kF16:
        case WeightType::kBF16:
          if (!pad) {
            const float f = unit(*rng);
            const uint16_t h = s.type == WeightType::kF16 ? qlite::F32ToF16(f) : qlite::F32ToBF16(f);
            std::memcpy(row + 2 * c, &h, 2);
          }
          break;
        case WeightType::kI8:
          row[c] = pad ? 0 : static_cast<uint8_t>(byte(*rng));  // includes -128
          break;
        default: {
          const int q = pad ? (s.type == WeightType::kI4 ? 8 : s.type == WeightType::kNF4 ? 7 : 0)
                            : byte(*rng) & 15;
          uint8_t& dst = row[(c / 32) * 16 + (c % 16)];
          dst = static_cast<uint8_t>((c % 32) < 16 ? (dst & 0xF0) | q : (dst & 0x0F) | (q << 4));
        }
      }
    }
  }
  m.data = s.layout == WeightLayout::kInterleave4x32   ? Interleave(rm, s.type, s.rows, s.cols, w.row_stride)
           : s.layout == WeightLayout::kInterleave16x4 ? Interleave16(rm, s.rows, w.row_stride)
                                                       : rm;
  w.layout = s.layout;
  w.data = m.data.data();
  const bool quantized = s.type == WeightType::kI8 || s.type == WeightType::kI4 ||
                         s.type == WeightType::kU4 || s.type == WeightType::kNF4;
  if (quantized) {
    const size_t gpr = (s.cols + w.group_size - 1) / w.group_size;
    const size_t n = w.per_tensor ? 1 : s.rows * gpr;
    // Entries stored (Interleave16x4 also has the padding rows'); U8 codes are drawn in
    // stored order, so they differ between layouts.
    const size_t stored = w.per_tensor ? 1 : (s.layout == WeightLayout::kInterleave16x4 ? (s.rows + 15) / 16 * 16 : s.rows) * gpr;
    std::uniform_real_distribution<float> sd(0.01f, 0.05f), md(-0.3f, 0.0f);
    std::vector<float> sc(n), mn(n);
    for (auto& v : sc) v = sd(*rng);
    for (auto& v : mn) v = md(*rng);
    if (s.scale_type == ScaleType::kU8) {
      w.dq_block = 16;
      const size_t nd = (stored + 15) / 16;
      for (size_t d = 0; d < nd; ++d) {
        m.dq_scales.push_back(0.0002f * (1 + d % 3));
        m.dq_offsets.push_back(0.005f);
      }
      if (s.type == WeightType::kU4) {  // the mins' blocks follow the scales' (FORMAT.md)
        for (size_t d = 0; d < nd; ++d) {
          m.dq_scales.push_back(0.001f * (1 + d % 2));
          m.dq_offsets.push_back(-0.3f);
        }
      }
      w.dq_scales = m.dq_scales.data();
      w.dq_offsets = m.dq_offsets.data();
      m.scales.resize(stored);
      m.mins.resize(stored);
      for (size_t i = 0; i < stored; ++i) {
        m.scales[i] = static_cast<uint8_t>(byte(*rng));
        m.mins[i] = static_cast<uint8_t>(byte(*rng));
      }
    } else {
      PutScales(&m.scales, StoredOrder(sc, w, 5.0f), s.scale_type);
      PutScales(&m.mins, StoredOrder(mn, w, -5.0f), s.scale_type);
    }
    w.scales = m.scales.data();
    if (s.type == WeightType::kU4) w.mins = m.mins.data();
  }
  return m;
}

inline std::vector<float> RandomVector(size_t n, std::mt19937* rng, float amp = 1.0f) {
  std::normal_distribution<float> nd(0.0f, amp);
  std::vector<float> v(n);
  for (auto& f : v) f = nd(*rng);
  return v;
}

// Sum over c of |W[r][c] * x[c]|: the scale for float-rounding error bounds.
inline double AbsDot(const WeightMatrix& w, size_t r, const float* x) {
  double s = 0.0;
  for (size_t c = 0; c < w.cols; ++c) s += std::fabs(double(ref::Weight(w, r, c)) * x[c]);
  return s;
}

// Runs fn() once per Highway target this CPU supports, with the dispatcher forced to it.
template <class Fn>
void ForEachTarget(const Fn& fn) {
  std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  // armhf: Debian's libhwy never reports NEON, which is the compiled (static) target there.
  if (targets.empty()) targets.push_back(HWY_STATIC_TARGET);
  // AArch64: each int8 dot level the CPU has (SMMLA, SDOT, widening multiplies), so one
  // qemu "max" run checks all three.
  const unsigned all = qlite::arch::ArmDotExtensions();
  std::vector<unsigned> levels = {all};
  if (all & qlite::arch::kArmI8mm) levels.push_back(qlite::arch::kArmDotProd);
  if (all != 0) levels.push_back(0);
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    ASSERT_STREQ(hwy::TargetName(target), qlite::arch::DispatchedTargetName());
    for (unsigned level : levels) {
      qlite::arch::LimitArmDotExtensionsForTest(level);
      SCOPED_TRACE("Arm dot extensions " + std::to_string(level));
      ASSERT_EQ(qlite::arch::ArmDotExtensions(), level);
      fn();
    }
  }
  qlite::arch::LimitArmDotExtensionsForTest(~0u);
  hwy::SetSupportedTargetsForTest(0);
}

// Int8 activations in an owned, 64-aligned buffer.
struct QBuf {
  std::vector<uint8_t> bytes;
  qlite::arch::QuantizedActivations q;
  explicit QBuf(size_t n) : bytes(qlite::arch::QuantizedActivationsBytes(n) + 64) {
    void* p = bytes.data() + (64 - reinterpret_cast<uintptr_t>(bytes.data()) % 64) % 64;
    q = qlite::arch::BindQuantizedActivations(p, n);
  }
};

}  // namespace qlite_test
