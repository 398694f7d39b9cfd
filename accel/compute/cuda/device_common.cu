// The one definition of programmatic_launch_available (declared in device_common.cuh): its cache of
// which devices have programmatic dependent launch is process-wide, so it lives in this single
// translation unit rather than in every kernel file that launches.
#include <atomic>

#include <cuda_runtime.h>

#include "accel/compute/cuda/device_common.cuh"

namespace sovereign::accel::cuda {

bool programmatic_launch_available() {
  constexpr int kDevices = 64;
  static std::atomic<int> known[kDevices] = {};  // 0 unknown, 1 no, 2 yes
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kDevices) return false;
  int state = known[device].load(std::memory_order_relaxed);
  if (state == 0) {
    int major = 0;
    state = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9 ? 2 : 1;
    known[device].store(state, std::memory_order_relaxed);
  }
  return state == 2;
}

}  // namespace sovereign::accel::cuda
