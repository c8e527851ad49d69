// ggml block formats -> f32, written from the block layouts llama.cpp documents in
// ggml-common.h (each block: scales first, then packed quants).
#include <cstdio>
#include <cstring>

#include "gguf.h"
#include "import_common.h"
#include "qlite/format/quantize.h"
#include "quantize_fast.h"

namespace qlite {
namespace gguf {
namespace ii = import_internal;

namespace {
constexpr uint64_t kQK = 32;    // legacy block
constexpr uint64_t kQKK = 256;  // k-quant super-block

float F16At(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return F16ToF32(h);
}

// F16ToF32 without branches (the f16 tensors of a model convert in a vectorized loop): the
// same bits for every input, subnormals through the exact magic-number subtraction.
inline float F16ToF32Branchless(uint16_t h) {
  auto bits_of = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  auto float_of = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t o = (static_cast<uint32_t>(h & 0x7fffu) << 13) + 0x38000000u;  // exponent rebiased by 127-15
  const uint32_t exp = o - 0x38000000u;                                            // f16 exponent in f32 position
  const uint32_t subnormal = bits_of(float_of(o + 0x00800000u) - float_of(0x38800000u));
  const uint32_t e = exp & 0x0f800000u;
  const uint32_t bits = e == 0 ? subnormal : e == 0x0f800000u ? o + 0x38000000u : o;
  return float_of(bits | sign);
}

}  // namespace

void ScaleMinK4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void Q5Codes(const uint8_t* p, uint8_t* q) {
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  const uint8_t* qs = p + 4;
  for (int j = 0; j < 16; ++j) {
    q[j] = uint8_t((qs[j] & 0xF) | (((qh >> j) << 4) & 0x10));
    q[j + 16] = uint8_t((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
  }
}

namespace {

void BlockQ4_0(const uint8_t* b, float* y) {  // f16 d, 16 bytes: low nibbles = 0..15, high = 16..31
  const float d = F16At(b);
  for (int j = 0; j < 16; ++j) {
    y[j] = float((b[2 + j] & 0xF) - 8) * d;
    y[j + 16] = float((b[2 + j] >> 4) - 8) * d;
  }
}
void BlockQ4_1(const uint8_t* b, float* y) {  // f16 d, f16 m, 16 bytes
  const float d = F16At(b), m = F16At(b + 2);
  for (int j = 0; j < 16; ++j) {
    y[j] = float(b[4 + j] & 0xF) * d + m;
    y[j + 16] = float(b[4 + j] >> 4) * d + m;
  }
}
void BlockQ5(const uint8_t* b, float* y, bool has_min) {  // d, [m], u32 qh, 16 bytes
  const float d = F16At(b), m = has_min ? F16At(b + 2) : 0.0f;
  uint8_t q[32];
  Q5Codes(b + (has_min ? 4 : 2), q);
  const int offset = has_min ? 0 : 16;
  for (int j = 0; j < 32; ++j) y[j] = float(q[j] - offset) * d + m;
}
void BlockQ8_0(const uint8_t* b, float* y) {  // f16 d, 32 int8
  const float d = F16At(b);
  for (int j = 0; j < 32; ++j) y[j] = float(int8_t(b[2 + j])) * d;
}
void BlockQ2_K(const uint8_t* b, float* y) {  // scales[16] (4-bit scale | 4-bit min), qs[64], d, dmin
  const uint8_t* sc = b;
  const uint8_t* q = b + 16;
  const float d = F16At(b + 80), dmin = F16At(b + 82);
  int is = 0;
  for (int n = 0; n < 256; n += 128, q += 32) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t s = sc[is++];
        const float dl = d * (s & 0xF), ml = dmin * (s >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * float((q[l + 16 * half] >> shift) & 3) - ml;
      }
    }
  }
}
void BlockQ3_K(const uint8_t* b, float* y) {  // hmask[32], qs[64], 16 packed 6-bit scales[12], d
  const uint8_t* hm = b;
  const uint8_t* q = b + 32;
  const uint8_t* packed = b + 96;
  const float d = F16At(b + 108);
  int8_t scales[16];  // low 4 bits from bytes 0..7, high 2 bits from bytes 8..11
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? packed[i] & 0xF : packed[i - 8] >> 4;
    const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    scales[i] = int8_t(low | (high << 4));
  }
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < 256; n += 128, q += 32) {
    for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d * float(scales[is++] - 32);
        for (int l = 0; l < 16; ++l) {
          const int k = l + 16 * half;
          *y++ = dl * float(((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
        }
      }
    }
  }
}
void BlockQ4_K(const uint8_t* b, float* y) {  // d, dmin, scales[12], qs[128]
  const float d = F16At(b), dmin = F16At(b + 2);
  const uint8_t* sc = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
    uint8_t s1, m1, s2, m2;
    ScaleMinK4(is, sc, &s1, &m1);
    ScaleMinK4(is + 1, sc, &s2, &m2);
    for (int l = 0; l < 32; ++l) *y++ = d * s1 * (q[l] & 0xF) - dmin * m1;
    for (int l = 0; l < 32; ++l) *y++ = d * s2 * (q[l] >> 4) - dmin * m2;
  }
}
void BlockQ5_K(const uint8_t* b, float* y) {  // d, dmin, scales[12], qh[32], qs[128]
  const float d = F16At(b), dmin = F16At(b + 2);
  const uint8_t* sc = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
    uint8_t s1, m1, s2, m2;
    ScaleMinK4(is, sc, &s1, &m1);
    ScaleMinK4(is + 1, sc, &s2, &m2);
    for (int l = 0; l < 32; ++l) *y++ = d * s1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - dmin * m1;
    for (int l = 0; l < 32; ++l) *y++ = d * s2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - dmin * m2;
  }
}
void BlockQ6_K(const uint8_t* b, float* y) {  // ql[128], qh[64], int8 scales[16], f16 d
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = F16At(b + 208);
  for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = int((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
  }
}
}  // namespace

const char* TypeName(uint32_t type) {
  switch (type) {
    case kF32: return "F32";
    case kF16: return "F16";
    case kBF16: return "BF16";
    case kQ4_0: return "Q4_0";
    case kQ4_1: return "Q4_1";
    case kQ5_0: return "Q5_0";
    case kQ5_1: return "Q5_1";
    case kQ8_0: return "Q8_0";
    case kQ8_1: return "Q8_1";
    case kQ2_K: return "Q2_K";
    case kQ3_K: return "Q3_K";
    case kQ4_K: return "Q4_K";
    case kQ5_K: return "Q5_K";
    case kQ6_K: return "Q6_K";
    case kQ8_K: return "Q8_K";
    default: {
      static thread_local char buf[32];
      std::snprintf(buf, sizeof(buf), "type %u", type);
      return buf;
    }
  }
}

bool BlockLayout(uint32_t type, uint64_t* elems, uint64_t* bytes) {
  switch (type) {
    case kF32: *elems = 1; *bytes = 4; return true;
    case kF16: case kBF16: *elems = 1; *bytes = 2; return true;
    case kQ4_0: *elems = kQK; *bytes = 18; return true;
    case kQ4_1: *elems = kQK; *bytes = 20; return true;
    case kQ5_0: *elems = kQK; *bytes = 22; return true;
    case kQ5_1: *elems = kQK; *bytes = 24; return true;
    case kQ8_0: *elems = kQK; *bytes = 34; return true;
    case kQ8_1: *elems = kQK; *bytes = 36; return true;
    case kQ2_K: *elems = kQKK; *bytes = 84; return true;
    case kQ3_K: *elems = kQKK; *bytes = 110; return true;
    case kQ4_K: *elems = kQKK; *bytes = 144; return true;
    case kQ5_K: *elems = kQKK; *bytes = 176; return true;
    case kQ6_K: *elems = kQKK; *bytes = 210; return true;
    case kQ8_K: *elems = kQKK; *bytes = 292; return true;
    default: return false;
  }
}

bool CanDequantize(uint32_t type) {
  switch (type) {
    case kF32: case kF16: case kBF16: case kQ4_0: case kQ4_1: case kQ5_0: case kQ5_1: case kQ8_0:
    case kQ2_K: case kQ3_K: case kQ4_K: case kQ5_K: case kQ6_K: return true;
    default: return false;
  }
}

Status Dequantize(uint32_t type, const uint8_t* src, uint64_t n, float* dst) {
  uint64_t be = 0, bb = 0;
  if (!CanDequantize(type) || !BlockLayout(type, &be, &bb))
    return StatusError(StatusCode::kUnsupported, "unsupported dtype %s", TypeName(type));
  if (n % be != 0) return StatusError(StatusCode::kFormat, "%llu elements is not a whole number of %s blocks",
                                      (unsigned long long)n, TypeName(type));
  if (type == kF32) {
    std::memcpy(dst, src, n * 4);
    return Status::Ok();
  }
  if (type == kF16) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    quant::F16ToF32(src, n, dst);  // SIMD, the same values
#else
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = F16ToF32Branchless(h);
    }
#endif
    return Status::Ok();
  }
  const uint64_t blocks = n / be;
  for (uint64_t i = 0; i < blocks; ++i, src += bb, dst += be) {
    switch (type) {
      case kF32: std::memcpy(dst, src, 4); break;
      case kF16: *dst = F16At(src); break;
      case kBF16: {
        uint16_t h;
        std::memcpy(&h, src, 2);
        *dst = BF16ToF32(h);
        break;
      }
      case kQ4_0: BlockQ4_0(src, dst); break;
      case kQ4_1: BlockQ4_1(src, dst); break;
      case kQ5_0: BlockQ5(src, dst, false); break;
      case kQ5_1: BlockQ5(src, dst, true); break;
      case kQ8_0: BlockQ8_0(src, dst); break;
      case kQ2_K: BlockQ2_K(src, dst); break;
      case kQ3_K: BlockQ3_K(src, dst); break;
      case kQ4_K: BlockQ4_K(src, dst); break;
      case kQ5_K: BlockQ5_K(src, dst); break;
      case kQ6_K: BlockQ6_K(src, dst); break;
      default: break;
    }
  }
  return Status::Ok();
}

}  // namespace gguf
}  // namespace qlite
