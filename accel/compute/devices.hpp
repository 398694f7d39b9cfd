// Which accelerators this process can use, for `sovereign accel devices` and device selection.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace sovereign::accel {

// One CUDA GPU as the driver reports it.
struct GpuDevice {
  int index = 0;
  std::string name;
  std::size_t total_memory_bytes = 0;
  std::size_t free_memory_bytes = 0;
  int compute_major = 0;
  int compute_minor = 0;
};

// The GPUs found, or in `note` why there are none (not built with CUDA, no driver, no device).
struct DeviceReport {
  bool cuda_built = false;
  std::vector<GpuDevice> gpus;
  std::string note;
};

DeviceReport list_devices();

}  // namespace sovereign::accel
