// The 16-bit operands of the cuBLAS GEMM that takes steps too large for the fused GEMV: a weight
// matrix expanded from its encoding to a dense bf16 (for bf16 weights) or f16 matrix, once at load,
// and the f32 activations converted to the same type each step.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstddef>
#include <type_traits>

#include "accel/compute/cuda/device_common.cuh"
#include "accel/compute/cuda/kernels.cuh"
#include "accel/compute/cuda/weight_decode.cuh"

namespace sovereign::accel::cuda {
namespace {

// W expanded to 16 bits, one 16-byte load of the encoding per thread.
template <WeightKind K, typename Out>
__global__ void expand_kernel(Out* out, DeviceMatrix w) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  constexpr int P = kPerLoad<K>;
  const int loads = w.cols / P;
  const std::size_t idx = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<std::size_t>(w.rows) * loads) return;
  const int r = static_cast<int>(idx / loads);
  const int c = static_cast<int>(idx % loads);
  const uint4 raw = reinterpret_cast<const uint4*>(w.data + static_cast<std::size_t>(r) * w.row_bytes)[c];
  uint2 high{};
  if constexpr (K == WeightKind::q6_k) high = reinterpret_cast<const uint2*>(w.high)[static_cast<std::size_t>(r) * (w.cols / 32) + c];
  float2 scale = make_float2(1.0f, 0.0f);
  if constexpr (kQuantized<K>) scale = load_scale<K>(w, r, c);
  float v[P];
  dequantize_load<K>(raw, high, scale, v);
  Out* dst = out + static_cast<std::size_t>(r) * w.cols + static_cast<std::size_t>(c) * P;
#pragma unroll
  for (int j = 0; j < P; j += 8) {
    Out packed[8];
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      if constexpr (std::is_same_v<Out, __half>) {
        packed[k] = __float2half(v[j + k]);
      } else {
        packed[k] = __float2bfloat16(v[j + k]);
      }
    }
    *reinterpret_cast<uint4*>(dst + j) = *reinterpret_cast<const uint4*>(packed);
  }
}

template <typename Out>
__global__ void to_16bit_kernel(Out* out, const float* x, std::size_t n) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if constexpr (std::is_same_v<Out, __half>) {
    out[i] = __float2half(x[i]);
  } else {
    out[i] = __float2bfloat16(x[i]);
  }
}

}  // namespace

void launch_expand_weights(void* out, const DeviceMatrix& w, cudaStream_t stream) {
  dispatch_kind(w.kind, [&](auto tag) {
    constexpr WeightKind K = decltype(tag)::value;
    const unsigned blocks = blocks_for(static_cast<std::size_t>(w.rows) * (w.cols / kPerLoad<K>), 256);
    if constexpr (K == WeightKind::bf16) {
      launch(expand_kernel<K, __nv_bfloat16>, blocks, 256, stream, static_cast<__nv_bfloat16*>(out), w);
    } else {
      launch(expand_kernel<K, __half>, blocks, 256, stream, static_cast<__half*>(out), w);
    }
  });
}

void launch_activations_to_16bit(void* out, const float* x, std::size_t n, bool bf16, cudaStream_t stream) {
  if (bf16) {
    launch(to_16bit_kernel<__nv_bfloat16>, blocks_for(n, 256), 256, stream, static_cast<__nv_bfloat16*>(out), x, n);
  } else {
    launch(to_16bit_kernel<__half>, blocks_for(n, 256), 256, stream, static_cast<__half*>(out), x, n);
  }
}

}  // namespace sovereign::accel::cuda
