// Host: the CUDA backend as the C API offers it, on any machine. Without a usable GPU (no
// device, no driver) qlite_device_count says 0 and opening a model with QLITE_DEVICE_CUDA
// fails with QLITE_ERR_UNSUPPORTED and the reason, leaving nothing behind; with one, a GPU
// index past the last is refused the same way. test_cuda_runtime covers the GPU itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/qlite.h"
#include "test_data.h"

namespace {

TEST(CudaBackendHost, UnusableDeviceIsUnsupported) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  QLITE_REQUIRE_DATA(tok, "stories260K/tok512.bin");
  qlite::SourceModel src;
  ASSERT_TRUE(qlite::ImportLlama2c(bin, tok, &src).ok());
  const std::string path =
      (std::filesystem::temp_directory_path() / ("qlite_cuda_host_" + std::to_string(getpid()) + ".qlm")).string();
  ASSERT_TRUE(qlite::ConvertModel(src, qlite::ConvertOptions(), path, nullptr, nullptr).ok());

  EXPECT_EQ(qlite_device_count(QLITE_DEVICE_CPU), 1);
  const int32_t gpus = qlite_device_count(QLITE_DEVICE_CUDA);
  EXPECT_GE(gpus, 0);
  qlite_model_params mp = qlite_model_default_params();
  mp.device = QLITE_DEVICE_CUDA;
  mp.device_index = gpus;  // no GPU at all, or one past the last
  qlite_model* m = nullptr;
  EXPECT_EQ(qlite_model_open(path.c_str(), &mp, &m), QLITE_ERR_UNSUPPORTED);
  EXPECT_EQ(m, nullptr);
  const std::string why = qlite_last_error();
  EXPECT_NE(why.find("CUDA device"), std::string::npos) << why;
  std::printf("%d GPU(s); QLITE_DEVICE_CUDA index %d: %s\n", gpus, gpus, why.c_str());

  mp.device = static_cast<qlite_device>(7);
  EXPECT_EQ(qlite_model_open(path.c_str(), &mp, &m), QLITE_ERR_INVALID_ARGUMENT);
  mp.device = QLITE_DEVICE_CPU;  // the CPU ignores device_index
  ASSERT_EQ(qlite_model_open(path.c_str(), &mp, &m), QLITE_OK) << qlite_last_error();
  qlite_model_info info;
  ASSERT_EQ(qlite_model_get_info(m, &info), QLITE_OK);
  EXPECT_EQ(info.device, QLITE_DEVICE_CPU);
  EXPECT_EQ(info.device_bytes, 0u);
  qlite_model_free(m);
  std::remove(path.c_str());
}

}  // namespace
