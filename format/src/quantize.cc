// Quantize(): f32 matrix -> stored bytes of format/FORMAT.md.
//
// Two passes. Pass 1 computes each group's ideal parameters (scale, and min for U4) and
// encodes them in the scale type; pass 2 quantizes the values against the *decoded*
// parameters, so rounding of the scales themselves is compensated where it can be.
// Scale choices (error bounds are per element, relative to the group's statistics):
//   I8  scale = amax/127                       |err| <= amax/254
//   I4  scale = mx/-k, mx the signed max-abs value, k searched in {8,7.75,..,7} for the
//       least squared error (k = 8 is llama.cpp's Q4_0)        |err| <= amax/8
//   U4  min = group min, scale = (max-min)/15   |err| <= (max-min)/30
//   NF4 scale = amax (QLoRA)                    |err| <= 0.152*amax (half the widest gap)
// Double quantization (U8 scales) rounds scales away from zero and mins down, so values
// never clip against a shrunken range; that costs at most one U8 step of the block.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "qlite/format/checksum.h"
#include "qlite/format/quantize.h"
#include "quantize_fast.h"
#include "quantize_stages.h"

namespace qlite {
namespace quant {

int Nf4Code(float t) {  // binary search over the midpoints between adjacent levels
  static const auto mids = [] {
    std::array<float, 15> m{};
    for (int i = 0; i < 15; ++i) m[i] = 0.5f * (kNf4Levels[i] + kNf4Levels[i + 1]);
    return m;
  }();
  return static_cast<int>(std::upper_bound(mids.begin(), mids.end(), t) - mids.begin());
}

}  // namespace quant
namespace {

enum class Round { kAway, kDown };

int ClampInt(int v, int lo, int hi) { return std::min(std::max(v, lo), hi); }  // vectorizes

// The I4 scales of `groups` consecutive groups of len values each (p, p + len, ...): for each,
// mx is its first value of the largest magnitude and the scale is mx / -k for the k in
// {8, 7.75, 7.5, 7.25, 7} of least squared error. Several groups side by side give the loops
// independent lanes (one group is one long chain of dependent double additions); every
// group's error sums still add their terms in value order, so the choice never changes.
#if defined(__GNUC__)
#define QLITE_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define QLITE_ALWAYS_INLINE inline
#endif
template <int groups>
QLITE_ALWAYS_INLINE void I4Scales(const float* p, uint64_t len, float* scales) {
  constexpr int kCandidates = 5;
  static constexpr float kDivisors[kCandidates] = {8.0f, 7.75f, 7.5f, 7.25f, 7.0f};
  float mx[groups], d[kCandidates][groups], inv[kCandidates][groups];
  double err[kCandidates][groups] = {};
  for (int g = 0; g < groups; ++g) {
    const float* q = p + g * len;
    float amax = 0.0f;
    for (uint64_t i = 0; i < len; ++i) amax = std::max(amax, std::fabs(q[i]));
    mx[g] = 0.0f;
    for (uint64_t i = 0; i < len && mx[g] == 0.0f; ++i)
      if (std::fabs(q[i]) == amax) mx[g] = q[i];
    for (int k = 0; k < kCandidates; ++k) {
      d[k][g] = mx[g] / -kDivisors[k];
      inv[k][g] = d[k][g] != 0.0f ? 1.0f / d[k][g] : 0.0f;  // as CodeOf computes it
    }
  }
  for (uint64_t i = 0; i < len; ++i) {
    float x[groups];
    for (int g = 0; g < groups; ++g) x[g] = p[g * len + i];
    for (int k = 0; k < kCandidates; ++k)
      for (int g = 0; g < groups; ++g) {
        const int code = ClampInt(quant::RoundI(x[g] * inv[k][g]) + 8, 0, 15);
        const double e = x[g] - (code - 8) * d[k][g];
        err[k][g] += e * e;
      }
  }
  for (int g = 0; g < groups; ++g) {
    float best = d[0][g];
    double best_err = err[0][g];
    for (int k = 1; k < kCandidates; ++k)
      if (err[k][g] < best_err) best_err = err[k][g], best = d[k][g];
    scales[g] = mx[g] == 0.0f ? 0.0f : best;
  }
}

float I4Scale(const float* p, uint64_t n) {
  float scale;
  I4Scales<1>(p, n, &scale);
  return scale;
}

// x86-64 Linux: an AVX2 copy beside the baseline one, chosen when the library loads. The
// same IEEE operations (no FMA contraction), so the same scales on every machine. Not under
// TSan, which instruments the clone's resolver that the loader runs before TSan is set up.
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(QLITE_TSAN_BUILD)
#define QLITE_X86_AVX2_CLONE __attribute__((target_clones("avx2", "default")))
#else
#define QLITE_X86_AVX2_CLONE
#endif

// RtnGroupParams' I4 scales of a [rows, cols] matrix in groups of spec.group_size (which
// divides cols), eight groups of a row at a time, stored at their ScaleIndex.
QLITE_X86_AVX2_CLONE void I4GroupScales(const QuantSpec& spec, const float* src, uint64_t rows, uint64_t cols,
                                         float* scales) {
  constexpr int kLanes = 8;
  const uint64_t len = spec.group_size, gpr = cols / len;
  for (uint64_t r = 0; r < rows; ++r) {
    const float* row = src + r * cols;
    float s[kLanes];
    uint64_t k = 0;
    for (; k + kLanes <= gpr; k += kLanes) {
      I4Scales<kLanes>(row + k * len, len, s);
      for (int j = 0; j < kLanes; ++j) scales[ScaleIndex(spec, gpr, r, k + j)] = s[j];
    }
    for (; k < gpr; ++k) scales[ScaleIndex(spec, gpr, r, k)] = I4Scale(row + k * len, len);
  }
}

// The codes of one group's values against its decoded parameters (CodeOf, with the
// reciprocal taken once per group and the type resolved outside the loop).
void GroupCodes(fb::DType dt, const float* x, uint64_t n, float scale, float min, int* out) {
  const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
  switch (dt) {
    case fb::DType::I8:
      for (uint64_t i = 0; i < n; ++i) out[i] = ClampInt(quant::RoundI(x[i] * inv), -127, 127);
      break;
    case fb::DType::I4:
      for (uint64_t i = 0; i < n; ++i) out[i] = ClampInt(quant::RoundI(x[i] * inv) + 8, 0, 15);
      break;
    case fb::DType::U4:
      for (uint64_t i = 0; i < n; ++i) out[i] = ClampInt(quant::RoundI((x[i] - min) * inv), 0, 15);
      break;
    default:
      for (uint64_t i = 0; i < n; ++i) out[i] = quant::Nf4Code(x[i] * inv);
  }
}

// Encodes `v` in the scale type into `out`; writes the decoded values back into `v`.
void EncodeValues(std::vector<float>* v, const QuantSpec& spec, Round mode, std::vector<uint8_t>* out,
                  std::vector<float>* dq_scale, std::vector<float>* dq_offset) {
  const size_t n = v->size();
  float* p = v->data();
  if (spec.scale_type == fb::DType::F32) {
    out->resize(n * 4);
    std::memcpy(out->data(), p, n * 4);
  } else if (spec.scale_type == fb::DType::F16) {
    out->resize(n * 2);
    quant::F32ToF16(p, n, out->data(), p);  // SIMD, F32ToF16's halves
  } else {  // U8 with a f32 scale and offset per dq_block values
    out->resize(n);
    for (size_t b = 0; b < n; b += spec.dq_block) {
      const size_t e = std::min<size_t>(n, b + spec.dq_block);
      const float lo = *std::min_element(p + b, p + e), hi = *std::max_element(p + b, p + e);
      const float step = (hi - lo) / 255.0f;
      dq_scale->push_back(step);
      dq_offset->push_back(lo);
      for (size_t i = b; i < e; ++i) {
        int u = 0;
        if (step > 0) {
          const float t = (p[i] - lo) / step;
          const bool up = mode == Round::kAway && p[i] > 0;
          u = std::clamp(static_cast<int>(up ? std::ceil(t) : std::floor(t)), 0, 255);
        }
        (*out)[i] = static_cast<uint8_t>(u);
        p[i] = u * step + lo;
      }
    }
  }
}

void PackRow(fb::DType dtype, const int* q, uint64_t padded, uint8_t* dst) {
  if (dtype == fb::DType::I8) {
    for (uint64_t i = 0; i < padded; ++i) dst[i] = static_cast<uint8_t>(static_cast<int8_t>(q[i]));
    return;
  }
  for (uint64_t b = 0; b < padded; b += 32)
    for (int j = 0; j < 16; ++j) dst[b / 2 + j] = static_cast<uint8_t>(q[b + j] | (q[b + j + 16] << 4));
}

uint8_t PadByte(fb::DType dtype) {
  switch (dtype) {
    case fb::DType::I4: return 0x88;
    case fb::DType::NF4: return 0x77;
    default: return 0;
  }
}

// RowMajor -> Interleave4x32 (for each group of 4 rows, block b of rows 0..3 in turn) or
// Interleave16x4 (for each group of 16 rows, 4-byte word w of rows 0..15 in turn).
std::vector<uint8_t> Interleave(const std::vector<uint8_t>& rm, const QuantSpec& spec, uint64_t rows,
                                uint64_t stride) {
  const bool lanes = spec.layout == fb::Layout::Interleave16x4;
  const uint64_t group = lanes ? 16 : 4;
  const uint64_t unit = lanes ? 4 : spec.dtype == fb::DType::I8 ? 32 : 16, units = stride / unit;
  std::vector<uint8_t> out(StoredRows(spec, rows) * stride, PadByte(spec.dtype));
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t u = 0; u < units; ++u)
      std::memcpy(&out[(r / group) * group * stride + (u * group + r % group) * unit], &rm[r * stride + u * unit], unit);
  return out;
}

Status QuantizeFloat(const float* src, uint64_t n, fb::DType dtype, QuantizedTensor* out) {
  if (dtype == fb::DType::F32) {
    out->data.resize(n * 4);
    std::memcpy(out->data.data(), src, n * 4);
    return Status::Ok();
  }
  out->data.resize(n * 2);
  for (uint64_t i = 0; i < n; ++i) {
    const uint16_t h = dtype == fb::DType::F16 ? F32ToF16(src[i]) : F32ToBF16(src[i]);
    if ((h & 0x7c00u) == 0x7c00u && dtype == fb::DType::F16)
      return StatusError(StatusCode::kInvalidArgument, "value %g at %llu overflows F16", src[i],
                         static_cast<unsigned long long>(i));
    if ((h & 0x7f80u) == 0x7f80u && dtype == fb::DType::BF16)
      return StatusError(StatusCode::kInvalidArgument, "value %g at %llu overflows BF16", src[i],
                         static_cast<unsigned long long>(i));
    std::memcpy(&out->data[2 * i], &h, 2);
  }
  return Status::Ok();
}

}  // namespace

Status CheckFinite(const float* values, uint64_t rows, uint64_t cols) {
  if (quant::AllFinite(values, rows * cols)) return Status::Ok();
  for (uint64_t i = 0; i < rows * cols; ++i)
    if (!std::isfinite(values[i]))
      return StatusError(StatusCode::kInvalidArgument, "non-finite value (%g) at row %llu col %llu", values[i],
                         static_cast<unsigned long long>(i / cols), static_cast<unsigned long long>(i % cols));
  return Status::Ok();
}

Status Relayout(fb::Layout layout, QuantizedTensor* t) {
  if (layout == t->spec.layout) return Status::Ok();
  if (t->spec.layout != fb::Layout::RowMajor) return Status(StatusCode::kUnsupported, "relayout from RowMajor only");
  QuantSpec spec = t->spec;
  spec.layout = layout;
  QLITE_RETURN_IF_ERROR(ValidateSpec(spec));
  if (IsFloatType(spec.dtype)) return Status(StatusCode::kUnsupported, "float tensors are stored RowMajor only");
  const bool lanes = layout == fb::Layout::Interleave16x4 && spec.granularity != fb::Granularity::PerTensor;
  if (lanes && spec.scale_type == fb::DType::U8)
    return Status(StatusCode::kUnsupported, "double-quantized scales cannot be regrouped for Interleave16x4");
  t->data = Interleave(t->data, spec, t->rows, t->row_stride);
  if (lanes) {  // scales and mins grouped by 16 rows; the padding rows' entries are 0
    const uint64_t gpr = GroupsPerRow(spec, t->cols), bytes = ScaleTypeBytes(spec.scale_type);
    for (std::vector<uint8_t>* params : {&t->scales, &t->mins}) {
      if (params->empty()) continue;
      std::vector<uint8_t> grouped(NumScales(spec, t->rows, t->cols) * bytes, 0);
      for (uint64_t r = 0; r < t->rows; ++r)
        for (uint64_t g = 0; g < gpr; ++g)
          std::memcpy(&grouped[ScaleIndex(spec, gpr, r, g) * bytes], &(*params)[(r * gpr + g) * bytes], bytes);
      *params = std::move(grouped);
    }
  }
  t->spec = spec;
  return Status::Ok();
}

namespace quant {

void RtnGroupParams(fb::DType dt, const float* p, uint64_t len, float* scale, float* min) {
  *min = 0.0f;
  if (dt == fb::DType::I4) {
    *scale = I4Scale(p, len);
  } else if (dt == fb::DType::U4) {
    *min = *std::min_element(p, p + len);
    *scale = std::max(0.0f, (*std::max_element(p, p + len) - *min) / 15.0f);
  } else {
    float amax = 0.0f;
    for (uint64_t k = 0; k < len; ++k) amax = std::max(amax, std::fabs(p[k]));
    *scale = dt == fb::DType::I8 ? amax / 127.0f : amax;
  }
}

Status EncodeParams(const QuantSpec& spec, GroupParams* params, QuantizedTensor* out) {
  std::vector<float> dqs, dqo;
  if (spec.dtype == fb::DType::U4) {
    // The min is encoded first and rounded down; the scale then spans the group's top from
    // the decoded min, rounded away from zero, so no value clips against a shrunken range.
    std::vector<float> top(params->scale.size());
    for (size_t i = 0; i < top.size(); ++i) top[i] = params->min[i] + 15.0f * params->scale[i];
    EncodeValues(&params->min, spec, Round::kDown, &out->mins, &dqs, &dqo);
    for (size_t i = 0; i < top.size(); ++i) params->scale[i] = std::max(0.0f, (top[i] - params->min[i]) / 15.0f);
    std::vector<float> sdqs, sdqo;
    EncodeValues(&params->scale, spec, Round::kAway, &out->scales, &sdqs, &sdqo);
    // Scales' second-level blocks first, then the mins' (FORMAT.md).
    dqs.insert(dqs.begin(), sdqs.begin(), sdqs.end());
    dqo.insert(dqo.begin(), sdqo.begin(), sdqo.end());
  } else {
    EncodeValues(&params->scale, spec, Round::kAway, &out->scales, &dqs, &dqo);
  }
  out->dq_scales.resize(dqs.size() * 4);
  out->dq_offsets.resize(dqo.size() * 4);
  if (!dqs.empty()) {
    std::memcpy(out->dq_scales.data(), dqs.data(), dqs.size() * 4);
    std::memcpy(out->dq_offsets.data(), dqo.data(), dqo.size() * 4);
  }
  for (const std::vector<float>* v : {&params->scale, &params->min})
    for (float x : *v)
      if (!std::isfinite(x)) return Status(StatusCode::kInvalidArgument, "scale overflows the scale type (use F32 scales)");
  return Status::Ok();
}

Status CheckShape(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec) {
  QLITE_RETURN_IF_ERROR(ValidateSpec(spec));
  if (rows == 0 || cols == 0 || !src) return Status(StatusCode::kInvalidArgument, "empty tensor");
  if (rows > (uint64_t{1} << 40) / cols) return Status(StatusCode::kInvalidArgument, "tensor too large");
  return Status::Ok();
}

Status CheckInput(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec) {
  QLITE_RETURN_IF_ERROR(CheckShape(src, rows, cols, spec));
  return CheckFinite(src, rows, cols);
}

void RoundCodes(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec, const GroupParams& params,
                std::vector<int>* codes) {
  // Against the decoded parameters, so rounding of the scales is compensated.
  codes->resize(rows * cols);
  ForEachGroup(spec, rows, cols, [&](uint64_t i, uint64_t r, uint64_t c0, uint64_t len) {
    GroupCodes(spec.dtype, src + r * cols + c0, len, params.scale[i], params.min.empty() ? 0.0f : params.min[i],
               codes->data() + r * cols + c0);
  });
}

void StartTensor(const QuantSpec& spec, uint64_t rows, uint64_t cols, QuantizedTensor* out) {
  *out = QuantizedTensor();
  out->spec = spec;
  out->rows = rows;
  out->cols = cols;
  out->row_stride = RowStrideBytes(spec.dtype, cols);
}

void PackCodes(const std::vector<int>& codes, QuantizedTensor* out) {
  const QuantSpec& spec = out->spec;
  const fb::DType dt = spec.dtype;
  const uint64_t rows = out->rows, cols = out->cols, padded = (cols + 31) / 32 * 32;
  const int pad_q = dt == fb::DType::I4 ? 8 : dt == fb::DType::NF4 ? 7 : 0;
  std::vector<int> q(padded);
  std::vector<uint8_t> data(rows * out->row_stride);
  for (uint64_t r = 0; r < rows; ++r) {
    std::fill(q.begin() + cols, q.end(), pad_q);
    std::copy(codes.begin() + r * cols, codes.begin() + (r + 1) * cols, q.begin());
    PackRow(dt, q.data(), padded, &data[r * out->row_stride]);
  }
  out->data = spec.layout == fb::Layout::RowMajor ? std::move(data) : Interleave(data, spec, rows, out->row_stride);
}

}  // namespace quant

namespace {

// I4 and I8 groups of 32, 64 or 128 values that divide cols, scales in row-major order
// (every layout but Interleave16x4): the SIMD stages of quantize_fast.cc, which store the same
// bytes as the scalar ones and measure the error on the way. F16 and F32 scales go in blocks
// of rows small enough to stay in cache from the finiteness check (and row hashes) to the
// codes; U8 scales need all scales before any is encoded. False where the SIMD stages do not
// apply (nothing done).
bool QuantizeFast(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec, QuantizedTensor* out,
                  double* max_abs, double* sum_sq, uint64_t* row_hashes, Status* status) {
  const bool i4 = spec.dtype == fb::DType::I4;
  if ((!i4 && spec.dtype != fb::DType::I8) || spec.granularity != fb::Granularity::Group ||
      spec.group_size % 32 != 0 || cols % spec.group_size != 0 || spec.layout == fb::Layout::Interleave16x4)
    return false;
  const uint64_t len = spec.group_size, gpr = cols / len, stride = out->row_stride;
  const bool dq = spec.scale_type == fb::DType::U8;
  const uint64_t block = dq ? rows : std::max<uint64_t>(1, (uint64_t{1} << 16) / cols);
  const uint64_t scale_bytes = ScaleTypeBytes(spec.scale_type);
  std::vector<uint8_t> data(rows * stride);
  quant::GroupParams params;
  if (!dq) out->scales.resize(rows * gpr * scale_bytes);
  for (uint64_t r0 = 0; r0 < rows; r0 += block) {
    const uint64_t n = std::min(block, rows - r0);
    const float* x = src + r0 * cols;
    if (!quant::AllFinite(x, n * cols)) {
      *status = CheckFinite(src, rows, cols);  // names the first non-finite value
      return true;
    }
    if (row_hashes)
      for (uint64_t r = 0; r < n; ++r) row_hashes[r0 + r] = Xxh64(x + r * cols, cols * sizeof(float));
    params.scale.resize(n * gpr);
    const bool fast = i4 ? quant::I4ScalesFast(x, n * gpr, len, I4Scale, params.scale.data())
                         : quant::I8ScalesFast(x, n * gpr, len, params.scale.data());
    if (!fast) return false;  // in the first block (a target has all SIMD stages or none): nothing kept
    QuantizedTensor encoded;
    *status = quant::EncodeParams(spec, &params, dq ? out : &encoded);
    if (!status->ok()) return true;
    if (!dq) std::memcpy(out->scales.data() + r0 * gpr * scale_bytes, encoded.scales.data(), encoded.scales.size());
    if (i4)
      quant::I4CodesFast(x, n, cols, len, params.scale.data(), data.data() + r0 * stride, max_abs, sum_sq);
    else
      quant::I8CodesFast(x, n, cols, len, params.scale.data(), data.data() + r0 * stride, max_abs, sum_sq);
  }
  out->data = spec.layout == fb::Layout::RowMajor ? std::move(data) : Interleave(data, spec, rows, out->row_stride);
  return true;
}

}  // namespace

Status quant::QuantizeMeasured(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec,
                               QuantizedTensor* out, double* max_abs, double* sum_sq, uint64_t* row_hashes,
                               bool* measured) {
  *measured = false;
  QLITE_RETURN_IF_ERROR(quant::CheckShape(src, rows, cols, spec));
  quant::StartTensor(spec, rows, cols, out);
  Status status;
  if (!IsFloatType(spec.dtype) && QuantizeFast(src, rows, cols, spec, out, max_abs, sum_sq, row_hashes, &status)) {
    *measured = status.ok() && max_abs;
    return status;
  }
  QLITE_RETURN_IF_ERROR(CheckFinite(src, rows, cols));
  if (row_hashes)
    for (uint64_t r = 0; r < rows; ++r) row_hashes[r] = Xxh64(src + r * cols, cols * sizeof(float));
  if (IsFloatType(spec.dtype)) return QuantizeFloat(src, rows * cols, spec.dtype, out);

  const uint64_t ns = NumScales(spec, rows, cols);
  quant::GroupParams params;
  params.scale.assign(ns, 0.0f);
  params.min.assign(spec.dtype == fb::DType::U4 ? ns : 0, 0.0f);
  if (spec.dtype == fb::DType::I4 && spec.granularity == fb::Granularity::Group && cols % spec.group_size == 0) {
    I4GroupScales(spec, src, rows, cols, params.scale.data());
  } else {
    quant::ForEachGroup(spec, rows, cols, [&](uint64_t i, uint64_t r, uint64_t c0, uint64_t len) {
      float min = 0.0f;
      quant::RtnGroupParams(spec.dtype, src + r * cols + c0, len, &params.scale[i], &min);
      if (!params.min.empty()) params.min[i] = min;
    });
  }
  QLITE_RETURN_IF_ERROR(quant::EncodeParams(spec, &params, out));
  std::vector<int> codes;
  quant::RoundCodes(src, rows, cols, spec, params, &codes);
  quant::PackCodes(codes, out);
  return Status::Ok();
}

Status Quantize(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec, QuantizedTensor* out) {
  bool measured;
  return quant::QuantizeMeasured(src, rows, cols, spec, out, nullptr, nullptr, nullptr, &measured);
}

}  // namespace qlite
