// The stages of Quantize() (quantize.cc), shared with the calibration-aware quantizer
// (quantize_calibrated.cc): group parameters -> parameters encoded in the scale type ->
// one code per value against the decoded parameters -> codes packed in the layout.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "qlite/format/quantize.h"

namespace qlite::quant {

// One entry per stored scale (ScaleIndex order); min is used by U4 only.
struct GroupParams {
  std::vector<float> scale, min;
};

// Calls fn(scale index, row, first column, length) for every group of a [rows, cols]
// matrix; PerTensor is one group of rows*cols values starting at row 0, column 0.
template <class Fn>
void ForEachGroup(const QuantSpec& spec, uint64_t rows, uint64_t cols, Fn fn) {
  if (spec.granularity == fb::Granularity::PerTensor) {
    fn(uint64_t{0}, uint64_t{0}, uint64_t{0}, rows * cols);
    return;
  }
  const uint64_t gpr = GroupsPerRow(spec, cols);
  const uint64_t len = spec.granularity == fb::Granularity::PerRow ? cols : spec.group_size;
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t k = 0; k < gpr; ++k)
      fn(ScaleIndex(spec, gpr, r, k), r, k * len, std::min<uint64_t>(cols, (k + 1) * len) - k * len);
}

// The scale index of (row, col).
inline uint64_t GroupIndex(const QuantSpec& spec, uint64_t gpr, uint64_t row, uint64_t col) {
  return ScaleIndex(spec, gpr, row, spec.granularity == fb::Granularity::Group ? col / spec.group_size : 0);
}

// Round half away from zero without the library call; huge values saturate first.
// min/max rather than std::clamp: the same values, and loops over it vectorize.
inline int RoundI(float x) {
  x = std::min(std::max(x, -1e6f), 1e6f);
  return static_cast<int>(x + (x >= 0.0f ? 0.5f : -0.5f));
}

// Nearest NF4 level of t (a value divided by its scale).
int Nf4Code(float t);

// The nearest code of x in a group with decoded parameters, and the value a code stands for.
inline int CodeOf(fb::DType dt, float x, float scale, float min) {
  const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
  switch (dt) {
    case fb::DType::I8: return std::clamp(RoundI(x * inv), -127, 127);
    case fb::DType::I4: return std::clamp(RoundI(x * inv) + 8, 0, 15);
    case fb::DType::U4: return std::clamp(RoundI((x - min) * inv), 0, 15);
    default: return Nf4Code(x * inv);
  }
}
inline float ValueOf(fb::DType dt, int code, float scale, float min) {
  switch (dt) {
    case fb::DType::I8: return code * scale;
    case fb::DType::I4: return (code - 8) * scale;
    case fb::DType::U4: return code * scale + min;
    default: return kNf4Levels[code] * scale;
  }
}

// Round-to-nearest parameters of one group of values (what Quantize stores).
void RtnGroupParams(fb::DType dt, const float* p, uint64_t len, float* scale, float* min);

// Encodes the parameters in spec.scale_type into out->scales / mins / dq_*, replaces them
// with their decoded values, and refuses ones that overflow the scale type.
Status EncodeParams(const QuantSpec& spec, GroupParams* params, QuantizedTensor* out);

// Packs out->rows x out->cols codes (row-major) into out->data in spec's layout, with the
// padding codes of the scheme; out->spec, rows, cols and row_stride are set.
void PackCodes(const std::vector<int>& codes, QuantizedTensor* out);

// An unsupported spec, an empty or huge tensor.
Status CheckShape(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec);
// What every quantizer refuses: CheckShape's, and NaN/Inf.
Status CheckInput(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec);

// Each value's nearest code against its group's decoded parameters (round to nearest).
void RoundCodes(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec, const GroupParams& params,
                std::vector<int>* codes);

// Quantize(), and where the SIMD stages cover the scheme (I4 and I8 groups), the stored
// values' error against src on the way: *measured then tells that max_abs (largest |error|)
// and sum_sq (squared errors, each row's summed in SIMD lanes, rows in order) were added to.
// row_hashes (optional, rows entries): each row's XXH64 over its f32 values, taken while
// the row is in cache.
Status QuantizeMeasured(const float* src, uint64_t rows, uint64_t cols, const QuantSpec& spec, QuantizedTensor* out,
                        double* max_abs, double* sum_sq, uint64_t* row_hashes, bool* measured);

// Resets out for a [rows, cols] tensor in spec (shape and row stride set, no data).
void StartTensor(const QuantSpec& spec, uint64_t rows, uint64_t cols, QuantizedTensor* out);

}  // namespace qlite::quant
