// Device query and the owned allocations used by models and sessions.
#include <cuda_runtime.h>

#include "device.h"
#include "qlite/cuda/model.h"

namespace qlite {
namespace cuda {

DeviceBuffer::~DeviceBuffer() {
  if (!ptr) return;
  if (pinned_host) {
    cudaFreeHost(ptr);
  } else {
    cudaFree(ptr);
  }
}

Status CudaStatus(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  const StatusCode code =
      err == cudaErrorMemoryAllocation ? StatusCode::kOutOfMemory : StatusCode::kInternal;
  return StatusError(code, "CUDA %s: %s", what, cudaGetErrorString(err));
}

Status Allocate(size_t bytes, bool pinned_host, std::vector<std::unique_ptr<DeviceBuffer>>* owner,
                void** out) {
  auto buf = std::make_unique<DeviceBuffer>();
  buf->pinned_host = pinned_host;
  buf->bytes = bytes;
  const cudaError_t err = pinned_host ? cudaMallocHost(&buf->ptr, bytes ? bytes : 1)
                                      : cudaMalloc(&buf->ptr, bytes ? bytes : 1);
  if (err != cudaSuccess) {
    buf->ptr = nullptr;
    return CudaStatus(err, pinned_host ? "cudaMallocHost" : "cudaMalloc");
  }
  if (!pinned_host) QLITE_RETURN_IF_ERROR(CudaStatus(cudaMemset(buf->ptr, 0, bytes), "memset"));
  *out = buf->ptr;
  owner->push_back(std::move(buf));
  return Status::Ok();
}

Status SelectDevice(int device) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == device) return Status::Ok();
  cudaGetLastError();
  const DeviceInfo info = QueryDevice(device);
  if (!info.available) {
    return StatusError(StatusCode::kUnsupported, "no usable CUDA device %d: %s", device, info.message.c_str());
  }
  return CudaStatus(cudaSetDevice(device), "cudaSetDevice");
}

DeviceInfo QueryDevice(int device) {
  DeviceInfo info;
  info.device = device;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess || device < 0 || count <= device) {
    info.message = err != cudaSuccess ? cudaGetErrorString(err) : "no CUDA device";
    cudaGetLastError();
    return info;
  }
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) {
    info.message = "cudaGetDeviceProperties failed";
    cudaGetLastError();
    return info;
  }
  int clock_khz = 0, bus_bits = 0;
  cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device);
  info.available = true;
  info.name = prop.name;
  info.sm_major = prop.major;
  info.sm_minor = prop.minor;
  info.sm_count = prop.multiProcessorCount;
  info.total_memory = prop.totalGlobalMem;
  // Double data rate: two transfers per memory clock.
  info.peak_bandwidth_gbs = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  return info;
}

}  // namespace cuda
}  // namespace qlite
