// Host-only check of the GPU suites' yardstick: the CPU reference forward pass
// (cuda_reference_model.h) must itself reproduce llama2.c's published stories260K logits,
// else agreeing with it would prove nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "cuda_reference_model.h"
#include "qlite/format/convert.h"
#include "qlite/format/import.h"
#include "qlite/format/model_file.h"
#include "test_data.h"

namespace {

using namespace qlite_cuda_test;

TEST(CudaReferenceModel, ReproducesPublishedStoriesLogits) {
  QLITE_REQUIRE_DATA(bin, "stories260K/stories260K.bin");
  QLITE_REQUIRE_DATA(tok, "stories260K/tok512.bin");
  QLITE_REQUIRE_DATA(ref_logits, "stories260K/reference_logits_first8.f32");
  qlite::SourceModel src;
  ASSERT_TRUE(qlite::ImportLlama2c(bin, tok, &src).ok());
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("qlite_cuda_ref_" + std::to_string(getpid()) + ".qlm")).string();
  ASSERT_TRUE(qlite::ConvertModel(src, qlite::ConvertOptions(), path, nullptr, nullptr).ok());
  qlite::ModelFile file;
  ASSERT_TRUE(file.Open(path).ok());
  std::remove(path.c_str());  // the mapping stays valid
  RefModel ref(file.config(), [&file](const std::string& n, QuantizedView* v, bool* found) {
    const qlite::TensorRef* t = file.FindTensor(n);
    *found = t != nullptr;
    if (t) *v = t->view;
    return qlite::Status::Ok();
  }, std::vector<qlite::KvRingShape>(file.config().n_layers, {512, 0}));
  std::vector<float> want(8 * 512);
  std::ifstream(ref_logits, std::ios::binary).read(reinterpret_cast<char*>(want.data()), want.size() * 4);
  const int32_t ids[8] = {1, 403, 407, 261, 378, 432, 383, 286};
  for (int t = 0; t < 8; ++t) {
    const std::vector<float> got = ref.Step(ids[t]);
    for (int i = 0; i < 512; ++i) ASSERT_NEAR(got[i], want[t * 512 + i], 1e-4) << t << "," << i;
  }
}

}  // namespace
