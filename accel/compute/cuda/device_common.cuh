// What every kernel file of the CUDA backend shares: the warp width and warp sum, the device side of
// programmatic dependent launch (wait for the previous kernel, let the next one launch), and on the
// host `launch` (and `launch_with_shared`, with dynamic shared memory), which starts a kernel with
// programmatic dependent launch where the GPU has it, and the grid-size helper blocks_for. Everything
// here is inline or a template in an anonymous namespace, so each kernel file compiles it into its own
// translation unit (no relocatable device code) exactly as when all kernels shared one file;
// programmatic_launch_available, whose per-device cache must exist once, is defined in
// device_common.cu. Internal to the backend: kernels.cuh is the public header.
#pragma once

#include <cstddef>

#include <cuda_runtime.h>

#include "accel/compute/cuda/kernels.cuh"

namespace sovereign::accel::cuda {

// Whether the current GPU has programmatic dependent launch (compute capability 9.0 and later),
// looked up once per device; elsewhere kernels launch with plain stream order.
bool programmatic_launch_available();

namespace {

constexpr int kWarp = 32;

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Programmatic dependent launch (sm_90+): every kernel waits for the previous kernel of the stream
// to complete (and its writes to be visible) before it reads activations or writes anything, and
// lets the next kernel launch as soon as all of its own blocks are running. Because every kernel
// waits, completion stays transitive along the step. Weights, constant for the whole run, may be
// read before the wait. On older GPUs both are no-ops and launches serialise as usual.
__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void let_next_kernel_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

inline unsigned blocks_for(std::size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

// Launches `kernel` on `stream` with `shared_bytes` of dynamic shared memory per block, allowing
// programmatic dependent launch (see wait_for_previous_kernel) where the GPU has it. A failed launch
// is left for the caller's cudaGetLastError check, like a <<<>>> launch.
template <typename... Params, typename... Args>
void launch_with_shared(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream,
                        Args... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = programmatic_launch_available() ? 1 : 0;
  cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
}

// The same without dynamic shared memory.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args... args) {
  launch_with_shared(kernel, grid, block, 0, stream, args...);
}

}  // namespace
}  // namespace sovereign::accel::cuda
