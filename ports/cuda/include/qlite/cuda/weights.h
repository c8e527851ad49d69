// Weights as the CUDA kernels read them. The loader normalizes every .qlm layout into one
// device layout so each kernel has a single code path per element type:
// - rows padded to whole 32-element blocks for every type (float types are zero padded;
//   integer types keep FORMAT.md's padding codes), Interleave4x32 and Interleave16x4 undone;
// - one f16 scale (and, for U4, one f16 min) per group of `group_size` elements of a row
//   (PerRow and PerTensor become one group per row; F32 and double-quantized U8 scales are
//   rounded to f16, the kernels' scale type).
// NF4 carries its level table (format's kNf4Levels) inside the descriptor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "qlite/format/quantize.h"
#include "qlite/base/status.h"

namespace qlite {
namespace cuda {

enum class DevType : uint8_t { kF32, kF16, kI8, kI4, kU4, kNF4 };

// Plain description; the pointers are device pointers in a DevMatrix, host pointers in a
// HostMatrix's view.
struct MatrixDesc {
  DevType type = DevType::kF32;
  uint32_t rows = 0, cols = 0;
  uint32_t blocks = 0;       // 32-element blocks per row = ceil(cols / 32)
  uint32_t row_stride = 0;   // bytes per row: blocks * 32 * bytes per element
  uint32_t group_size = 0;   // multiple of 32 (integer types only)
  uint32_t groups = 0;       // scales per row
  const uint8_t* data = nullptr;
  const uint16_t* scales = nullptr;  // f16 bits, [rows][groups]
  const uint16_t* mins = nullptr;    // U4 only
  float nf4[16] = {};                // NF4 only: the 16 levels (travel with the kernel arguments)
};

// Host-side device-layout copy of one tensor, ready to upload.
struct HostMatrix {
  MatrixDesc desc;  // pointers unset; use View()
  std::vector<uint8_t> data;
  std::vector<uint16_t> scales, mins;
  MatrixDesc View() const;
};

// Converts a .qlm tensor view into the device layout. Clear errors for schemes the CUDA
// port does not run (bad shapes, unknown dtypes, truncated metadata).
Status PrepareMatrix(const QuantizedView& view, HostMatrix* out);

// Reference decode of one element of a device-layout matrix (host; tests and embeddings).
float DecodeElement(const MatrixDesc& m, uint32_t row, uint32_t col);

}  // namespace cuda
}  // namespace qlite
