// MeasureReadBandwidth: what one GPU streams from its memory, read the way the GEMV reads
// weights (16-byte loads by every thread, a buffer far larger than L2), so a decode speed can
// be put against the bandwidth of the same machine in the same run.
#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "device.h"
#include "qlite/cuda/model.h"

namespace qlite {
namespace cuda {
namespace {

__global__ void ReadAll(const uint4* __restrict__ data, size_t n, uint32_t* sink) {
  uint32_t acc = 0;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n; i += size_t{gridDim.x} * blockDim.x) {
    const uint4 v = data[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) *sink = acc;  // keeps the loads; (almost) never written
}

}  // namespace

Status MeasureReadBandwidth(uint64_t bytes, int reps, double* gbs) {
  if (reps < 1 || bytes < (1u << 20)) return Status(StatusCode::kInvalidArgument, "bandwidth probe: too small");
  int device = 0;
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaGetDevice(&device), "cudaGetDevice"));
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  std::vector<std::unique_ptr<DeviceBuffer>> owner;
  uint4* data = nullptr;
  uint32_t* sink = nullptr;
  const size_t n = bytes / sizeof(uint4);
  QLITE_RETURN_IF_ERROR(AllocateArray(n, false, &owner, &data));
  QLITE_RETURN_IF_ERROR(AllocateArray(1, false, &owner, &sink));
  cudaEvent_t start = nullptr, stop = nullptr;
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaEventCreate(&start), "cudaEventCreate"));
  QLITE_RETURN_IF_ERROR(CudaStatus(cudaEventCreate(&stop), "cudaEventCreate"));
  std::vector<double> rates;
  cudaError_t err = cudaSuccess;
  for (int r = 0; r <= reps && err == cudaSuccess; ++r) {  // r == 0 warms up
    cudaEventRecord(start);
    ReadAll<<<sms * 8, 256>>>(data, n, sink);
    cudaEventRecord(stop);
    err = cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    if (r > 0 && ms > 0) rates.push_back(n * sizeof(uint4) / (ms * 1e-3) / 1e9);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  QLITE_RETURN_IF_ERROR(CudaStatus(err, "bandwidth probe"));
  std::sort(rates.begin(), rates.end());
  *gbs = rates.empty() ? 0 : rates[rates.size() / 2];
  return Status::Ok();
}

}  // namespace cuda
}  // namespace qlite
