// Where a quantized weight's codes and scales sit (format/FORMAT.md, "Tensor data"): the
// arithmetic the quantizer, the dequantizer, the scalar reference, the kernels' scale
// lookups and the CUDA port (host and device) share, so each question has one answer.
// Header-only, standard library only; callable from CUDA device code.
#pragma once
#include <cstddef>
#include <cstdint>

#include "qlite/base/host_device.h"

namespace qlite {

// A 4-bit block stores its 32 codes in 16 bytes: code j in byte j % 16, the low nibble for
// j < 16 and the high nibble for j >= 16. Code j from that byte:
QLITE_HOST_DEVICE int Code4(uint8_t byte, uint32_t j) { return j < 16 ? (byte & 15) : (byte >> 4); }

// Byte `o` of row `r` (counted as in RowMajor) in Interleave16x4 data: 16-row groups, each
// row's 4-byte word w stored beside the same word of the group's other rows (64 bytes).
QLITE_HOST_DEVICE size_t Interleave16x4ByteOffset(size_t r, size_t o, size_t row_stride) {
  return (r / 16) * 16 * row_stride + (o / 4) * 64 + (r % 16) * 4 + o % 4;
}
// The same in Interleave4x32 data: 4-row groups, block b of the group's rows in turn.
QLITE_HOST_DEVICE size_t Interleave4x32ByteOffset(size_t r, size_t o, size_t row_stride, size_t block_bytes) {
  return (r / 4) * 4 * row_stride + (o / block_bytes) * 4 * block_bytes + (r % 4) * block_bytes + o % block_bytes;
}

// Index of the scale (or min) of row r, group g in a scale array: [rows][groups_per_row],
// in Interleave16x4 [rows / 16][groups_per_row][16]; 0 for a per-tensor scale.
QLITE_HOST_DEVICE size_t ScaleIndexOf(bool per_tensor, bool interleave16x4, size_t groups_per_row, size_t r,
                                             size_t g) {
  if (per_tensor) return 0;
  if (!interleave16x4) return r * groups_per_row + g;
  return ((r / 16) * groups_per_row + g) * 16 + r % 16;
}

}  // namespace qlite
