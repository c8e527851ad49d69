// main() for the GPU suites: without a usable CUDA device the binary exits with 77, which
// ctest reports as skipped (SKIP_RETURN_CODE), instead of failing or silently passing.
#include <gtest/gtest.h>

#include <cstdio>

#include "qlite/cuda/model.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const qlite::cuda::DeviceInfo info = qlite::cuda::QueryDevice();
  if (!info.available) {
    std::printf("SKIPPED: no CUDA device (%s)\n", info.message.c_str());
    return 77;
  }
  std::printf("CUDA device: %s (sm_%d%d, %d SMs, %.0f GB/s peak)\n", info.name.c_str(),
              info.sm_major, info.sm_minor, info.sm_count, info.peak_bandwidth_gbs);
  return RUN_ALL_TESTS();
}
