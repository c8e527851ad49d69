// GGUF v2/v3 reader (llama.cpp's model file): metadata key/values, tensor infos, and
// dequantization of the block formats to f32. Hostile-input safe: every count and
// offset is checked against the file before use.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "qlite/base/status.h"
#include "qlite/format/quantize.h"

namespace qlite {
namespace gguf {

enum class ValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7, String = 8, Array = 9,
  U64 = 10, I64 = 11, F64 = 12,
};

struct KeyValue {
  std::string key;
  ValueType type = ValueType::U8;
  // Scalars: integers in `i` (and `u` for unsigned), floats in `f`, strings in `str`.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string str;
  // Arrays: element type, count, and the elements (numbers widened; nested arrays skipped).
  ValueType elem_type = ValueType::U8;
  uint64_t count = 0;
  std::vector<std::string> strings;
  std::vector<double> numbers;
  bool IsInteger() const;
  bool IsNumber() const;
};

// ggml tensor types this reader knows the block size of.
enum GgmlType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15, kBF16 = 30,
};
const char* TypeName(uint32_t type);  // "Q4_0", or "type 99" for unknown ones
// Elements per block and bytes per block; false for types without a known layout.
bool BlockLayout(uint32_t type, uint64_t* block_elems, uint64_t* block_bytes);
// Whether DequantizeRow handles this type.
bool CanDequantize(uint32_t type);

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] is the innermost (contiguous) dimension
  uint32_t type = 0;
  uint64_t offset = 0;       // relative to File::data_offset
  uint64_t n_elements = 0;
  uint64_t n_bytes = 0;
};

struct File {
  std::string path;
  uint32_t version = 0;
  uint32_t alignment = 32;
  uint64_t data_offset = 0;
  uint64_t file_size = 0;
  std::vector<KeyValue> kvs;
  std::vector<TensorInfo> tensors;

  const KeyValue* Find(const std::string& key) const;
  const TensorInfo* FindTensor(const std::string& name) const;
};

Status Open(const std::string& path, File* out);

// n elements (a multiple of the type's block size) of `type` at src -> f32.
Status Dequantize(uint32_t type, const uint8_t* src, uint64_t n, float* dst);
// Q5_0/Q5_1: the 32 five-bit codes of a block from its u32 high bits and 16 nibble bytes at p.
void Q5Codes(const uint8_t* p, uint8_t* q);
// Q4_K/Q5_K: sub-block j's 6-bit scale and min from the 12 packed bytes at q.
void ScaleMinK4(int j, const uint8_t* q, uint8_t* d, uint8_t* m);

// The qlite scheme (RowMajor, format/FORMAT.md) nearest a ggml type's storage. *exact: it
// holds every value of the type bit for bit (Q4_0 -> I4, Q4_1 and Q4_K -> U4, Q5_0 and
// Q8_0 -> I8, the float types); else it is the nearest larger scheme (I8 for Q5_1 and the
// other k-quants), which re-rounds. False for types without one.
bool NearestScheme(uint32_t type, QuantSpec* spec, bool* exact);
// rows x cols values of `type` (an exact integer type of NearestScheme; cols a multiple of
// its block) stored in that scheme: codes and scales copied, never re-rounded, so
// Dequantize of the result equals Dequantize of src bit for bit.
Status Transcode(uint32_t type, const uint8_t* src, uint64_t rows, uint64_t cols, QuantizedTensor* out);

}  // namespace gguf
}  // namespace qlite
