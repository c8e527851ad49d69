// ggml blocks -> qlite's stored encodings without a second rounding (lossless import of
// quantized GGUF files): codes and scales are copied into the qlite scheme that holds them.
#include <cstring>

#include "gguf.h"

namespace qlite {
namespace gguf {
namespace {

constexpr uint64_t kSubBlock = 32;  // qlite's group and ggml's legacy block (and Q4_K's sub-block)

// One qlite group as read from a legacy block: 32 codes (0..15 for the 4-bit types, int8
// for I8) and the f16 scale (and min) bytes.
struct Group {
  int codes[kSubBlock];
  uint8_t scale[2], min[2];
};

void PackGroup(fb::DType dtype, const int* q, uint8_t* dst) {  // FORMAT.md's block bytes
  if (dtype == fb::DType::I8) {
    for (uint64_t j = 0; j < kSubBlock; ++j) dst[j] = static_cast<uint8_t>(static_cast<int8_t>(q[j]));
    return;
  }
  for (int j = 0; j < 16; ++j) dst[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
}

// Q4_0, Q4_1, Q5_0, Q8_0: one ggml block is one qlite group with an f16 scale (and min).
void LegacyBlock(uint32_t type, const uint8_t* b, Group* g) {
  std::memcpy(g->scale, b, 2);
  switch (type) {
    case kQ4_0:
      for (int j = 0; j < 16; ++j) g->codes[j] = b[2 + j] & 0xF, g->codes[j + 16] = b[2 + j] >> 4;
      return;
    case kQ4_1:
      std::memcpy(g->min, b + 2, 2);
      for (int j = 0; j < 16; ++j) g->codes[j] = b[4 + j] & 0xF, g->codes[j + 16] = b[4 + j] >> 4;
      return;
    case kQ5_0: {
      uint8_t q[kSubBlock];
      Q5Codes(b + 2, q);
      for (uint64_t j = 0; j < kSubBlock; ++j) g->codes[j] = q[j] - 16;
      return;
    }
    default:  // Q8_0
      for (uint64_t j = 0; j < kSubBlock; ++j) g->codes[j] = static_cast<int8_t>(b[2 + j]);
      return;
  }
}

}  // namespace

bool NearestScheme(uint32_t type, QuantSpec* spec, bool* exact) {
  QuantSpec s;  // group 32, F16 scales, RowMajor
  *exact = true;
  switch (type) {
    case kF32: s.dtype = fb::DType::F32; break;
    case kF16: s.dtype = fb::DType::F16; break;
    case kBF16: s.dtype = fb::DType::BF16; break;
    case kQ4_0: s.dtype = fb::DType::I4; break;
    case kQ4_1: s.dtype = fb::DType::U4; break;
    case kQ5_0: case kQ8_0: s.dtype = fb::DType::I8; break;
    case kQ4_K:
      // A sub-block's scale d·sc (f16 d, 6-bit sc) needs up to 17 significant bits, more
      // than f16 holds; f32 holds it and the min dmin·m exactly. (U8 double quantization,
      // one second-level block of dq_scale d per super-block, would hold them at 5 bits per
      // weight instead of 6, but its scales decode at two thirds of the speed.)
      s.dtype = fb::DType::U4;
      s.scale_type = fb::DType::F32;
      break;
    case kQ5_1: case kQ2_K: case kQ3_K: case kQ5_K: case kQ6_K:
      // 5- and 6-bit codes, mins beside 5-bit codes or 16-element sub-blocks: no 4-bit
      // scheme holds them and I8 has no min, so I8 re-rounds (error <= group amax / 254).
      s.dtype = fb::DType::I8;
      *exact = false;
      break;
    default: return false;
  }
  *spec = s;
  return true;
}

Status Transcode(uint32_t type, const uint8_t* src, uint64_t rows, uint64_t cols, QuantizedTensor* out) {
  QuantSpec spec;
  bool exact = false;
  uint64_t block_elems = 0, block_bytes = 0;
  if (!NearestScheme(type, &spec, &exact) || !exact || IsFloatType(spec.dtype) ||
      !BlockLayout(type, &block_elems, &block_bytes))
    return StatusError(StatusCode::kUnsupported, "no exact qlite encoding of %s blocks", TypeName(type));
  if (rows == 0 || cols == 0 || cols % block_elems != 0)
    return StatusError(StatusCode::kInvalidArgument, "%s: rows of %llu are not whole blocks", TypeName(type),
                       static_cast<unsigned long long>(cols));
  const bool k_quant = type == kQ4_K;
  const uint64_t groups = rows * (cols / kSubBlock), group_bytes = spec.dtype == fb::DType::I8 ? 32 : 16;
  *out = QuantizedTensor();
  out->spec = spec;
  out->rows = rows;
  out->cols = cols;
  out->row_stride = RowStrideBytes(spec.dtype, cols);
  out->data.resize(groups * group_bytes);
  const uint64_t param_bytes = ScaleTypeBytes(spec.scale_type);
  out->scales.resize(groups * param_bytes);
  if (spec.dtype == fb::DType::U4) out->mins.resize(groups * param_bytes);
  Group g;
  uint64_t gi = 0;  // group index over the whole tensor (row-major)
  for (uint64_t blk = 0; blk < rows * cols / block_elems; ++blk, src += block_bytes) {
    if (!k_quant) {
      LegacyBlock(type, src, &g);
      PackGroup(spec.dtype, g.codes, &out->data[gi * group_bytes]);
      std::memcpy(&out->scales[2 * gi], g.scale, 2);
      if (!out->mins.empty()) std::memcpy(&out->mins[2 * gi], g.min, 2);
      ++gi;
      continue;
    }
    // Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit (sc, m) pairs, 128 bytes: each 32 bytes hold
    // sub-block 2i in their low nibbles and 2i + 1 in their high ones; w = d·sc·q − dmin·m,
    // and both products are exact in f32 (11 + 6 significant bits).
    uint16_t d16, dmin16;
    std::memcpy(&d16, src, 2);
    std::memcpy(&dmin16, src + 2, 2);
    const float d = F16ToF32(d16), dmin = F16ToF32(dmin16);
    const uint8_t* q = src + 16;
    for (int sub = 0; sub < 8; ++sub, ++gi) {
      const uint8_t* bytes = q + 32 * (sub / 2);
      const int shift = 4 * (sub % 2);
      for (uint64_t j = 0; j < kSubBlock; ++j) g.codes[j] = (bytes[j] >> shift) & 0xF;
      PackGroup(spec.dtype, g.codes, &out->data[gi * group_bytes]);
      uint8_t sc, m;
      ScaleMinK4(sub, src + 4, &sc, &m);
      const float scale = d * sc, min = -(dmin * m);
      std::memcpy(&out->scales[4 * gi], &scale, 4);
      std::memcpy(&out->mins[4 * gi], &min, 4);
    }
  }
  return Status::Ok();
}

}  // namespace gguf
}  // namespace qlite
