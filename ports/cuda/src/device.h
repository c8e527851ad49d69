// Internal: CUDA error -> Status, owned allocations.
#pragma once
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "qlite/cuda/model.h"
#include "qlite/base/status.h"

namespace qlite {
namespace cuda {

Status CudaStatus(cudaError_t err, const char* what);
// Zero-filled device memory (or uninitialized pinned host memory) owned by *owner.
Status Allocate(size_t bytes, bool pinned_host, std::vector<std::unique_ptr<DeviceBuffer>>* owner,
                void** out);
template <typename T>
Status AllocateArray(size_t count, bool pinned_host,
                     std::vector<std::unique_ptr<DeviceBuffer>>* owner, T** out) {
  void* p = nullptr;
  QLITE_RETURN_IF_ERROR(Allocate(count * sizeof(T), pinned_host, owner, &p));
  *out = static_cast<T*>(p);
  return Status::Ok();
}

// Converts one tensor to the device layout (weights.h) and uploads it into memory owned by
// *owner; *out describes it.
Status UploadMatrixView(const QuantizedView& view, std::vector<std::unique_ptr<DeviceBuffer>>* owner,
                        MatrixDesc* out);

}  // namespace cuda
}  // namespace qlite
