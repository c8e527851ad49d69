// CudaModel from an open .qlm file: the reader has already verified regions and shapes.
#include "qlite/cuda/model.h"
#include "qlite/format/model_file.h"

namespace qlite {
namespace cuda {

Status CudaModel::Load(const ModelFile& file, std::unique_ptr<CudaModel>* out) {
  if (!file.meta()) return StatusError(StatusCode::kInvalidArgument, "model file not open");
  const TensorLookup lookup = [&file](const std::string& name, QuantizedView* view, bool* found) {
    const TensorRef* t = file.FindTensor(name);
    *found = t != nullptr;
    if (t) *view = t->view;
    return Status::Ok();
  };
  return Load(file.config(), lookup, out);
}

}  // namespace cuda
}  // namespace qlite
