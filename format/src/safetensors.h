// safetensors reader: u64 header length, a JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}}, then the data. Offsets are checked against the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qlite/base/status.h"

namespace qlite {
namespace safetensors {

struct Tensor {
  std::string name;
  std::string dtype;            // "F32", "F16", "BF16", ...
  std::vector<uint64_t> shape;
  uint64_t offset = 0;          // absolute file offset of the first byte
  uint64_t n_bytes = 0;
};

Status ReadHeader(const std::string& path, std::vector<Tensor>* out);

// Bytes per element for dtypes the importer converts (F32/F16/BF16), else 0.
uint64_t ElementSize(const std::string& dtype);

// n elements of `dtype` -> f32.
Status ToFloat(const std::string& dtype, const uint8_t* src, uint64_t n, float* dst);

}  // namespace safetensors
}  // namespace qlite
