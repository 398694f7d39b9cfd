// Device entry points of a build without CUDA: no GPU is ever listed or chosen.
#include "accel/compute/backend_factory.hpp"
#include "accel/compute/devices.hpp"

namespace sovereign::accel {

DeviceReport list_devices() {
  DeviceReport report;
  report.note = "this build has no CUDA support (configured without CUDA: nvcc was not found, or -Dcuda=disabled)";
  return report;
}

namespace compute {

std::variant<std::unique_ptr<ForwardBackend>, std::string> make_cuda_backend(int, const ModelConfig&,
                                                                             const ModelWeights&,
                                                                             const BackendPlan&) {
  return std::string("this build has no CUDA support; use device: cpu");
}

}  // namespace compute
}  // namespace sovereign::accel
