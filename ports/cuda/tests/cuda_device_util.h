// Device-memory helpers for the GPU test suites.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <vector>

#include "qlite/cuda/weights.h"

namespace qlite_cuda_test {

template <typename T>
class DevVec {
 public:
  explicit DevVec(size_t n) : n_(n) {
    EXPECT_EQ(cudaMalloc(&p_, n ? n * sizeof(T) : 1), cudaSuccess);
    cudaMemset(p_, 0, n * sizeof(T));
  }
  explicit DevVec(const std::vector<T>& v) : DevVec(v.size()) { Upload(v); }
  ~DevVec() { cudaFree(p_); }
  DevVec(const DevVec&) = delete;
  DevVec& operator=(const DevVec&) = delete;
  void Upload(const std::vector<T>& v) {
    EXPECT_EQ(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> Download() const {
    std::vector<T> v(n_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return v;
  }
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// A prepared matrix copied to the device; desc() has device pointers.
class DevMatrix {
 public:
  explicit DevMatrix(const qlite::cuda::HostMatrix& h)
      : data_(h.data), scales_(h.scales), mins_(h.mins), desc_(h.desc) {
    desc_.data = data_.get();
    desc_.scales = h.scales.empty() ? nullptr : scales_.get();
    desc_.mins = h.mins.empty() ? nullptr : mins_.get();
  }
  const qlite::cuda::MatrixDesc& desc() const { return desc_; }

 private:
  DevVec<uint8_t> data_;
  DevVec<uint16_t> scales_, mins_;
  qlite::cuda::MatrixDesc desc_;
};

}  // namespace qlite_cuda_test
