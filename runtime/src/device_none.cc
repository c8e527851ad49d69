// OpenDeviceModel in a build without GPU backends (QLITE_CUDA=OFF).
#include "device.h"

namespace qlite {

int32_t DeviceCount(int) { return 0; }

Status OpenDeviceModel(const Model&, int device, int32_t, std::unique_ptr<DeviceModel>*) {
  if (device == QLITE_DEVICE_CUDA)
    return Status(StatusCode::kUnsupported, "this build of qlite has no CUDA backend (configure with -DQLITE_CUDA=ON)");
  return StatusError(StatusCode::kInvalidArgument, "unknown device %d", device);
}

}  // namespace qlite
