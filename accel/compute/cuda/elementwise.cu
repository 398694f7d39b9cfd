// The small memory-bound ops of the forward pass, each a kernel and its launcher: the embedding
// lookup (a row of the token table decoded from its encoding), RMSNorm, the bias add after a cuBLAS
// GEMM, the SiLU gate of a gated FFN (out = silu(gate) * up) and the row gather that picks the rows
// whose logits are computed.
#include <cstddef>
#include <cstdint>

#include "accel/compute/cuda/device_common.cuh"
#include "accel/compute/cuda/kernels.cuh"
#include "accel/compute/cuda/weight_decode.cuh"

namespace sovereign::accel::cuda {
namespace {

template <WeightKind K>
__global__ void embed_kernel(float* out, DeviceMatrix table, const std::int32_t* tokens) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  const int t = blockIdx.x;
  const int token = tokens[t];
  for (int i = threadIdx.x; i < table.cols; i += blockDim.x)
    out[static_cast<std::size_t>(t) * table.cols + i] = weight_at<K>(table, token, i);
}

__global__ void rmsnorm_kernel(float* out, const float* x, const float* weight, int n, float eps) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  __shared__ float partial[32];
  const float* row = x + static_cast<std::size_t>(blockIdx.x) * n;
  float sum = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) sum += row[i] * row[i];
  sum = warp_sum(sum);
  if (threadIdx.x % kWarp == 0) partial[threadIdx.x / kWarp] = sum;
  __syncthreads();
  if (threadIdx.x < kWarp) {
    float v = threadIdx.x < blockDim.x / kWarp ? partial[threadIdx.x] : 0.0f;
    v = warp_sum(v);
    if (threadIdx.x == 0) partial[0] = rsqrtf(v / n + eps);
  }
  __syncthreads();
  const float scale = partial[0];
  float* dst = out + static_cast<std::size_t>(blockIdx.x) * n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) dst[i] = row[i] * scale * weight[i];
}

__global__ void add_bias_kernel(float* x, const float* bias, int rows, int n) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < static_cast<std::size_t>(rows) * n) x[i] += bias[i % n];
}

__global__ void silu_mul_kernel(float* out, const float* gate, const float* up, std::size_t n) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = gate[i] / (1.0f + __expf(-gate[i])) * up[i];
}

__global__ void gather_rows_kernel(float* out, const float* x, const std::int32_t* rows, int n) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  const float* src = x + static_cast<std::size_t>(rows[blockIdx.x]) * n;
  float* dst = out + static_cast<std::size_t>(blockIdx.x) * n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

void launch_embed(float* out, const DeviceMatrix& table, const std::int32_t* tokens, int n_tokens, cudaStream_t stream) {
  if (n_tokens <= 0) return;
  dispatch_kind(table.kind, [&](auto tag) {
    launch(embed_kernel<decltype(tag)::value>, n_tokens, 256, stream, out, table, tokens);
  });
}

void launch_rmsnorm(float* out, const float* x, const float* weight, int rows, int n, float eps, cudaStream_t stream) {
  if (rows > 0) launch(rmsnorm_kernel, rows, 256, stream, out, x, weight, n, eps);
}

void launch_add_bias(float* x, const float* bias, int rows, int n, cudaStream_t stream) {
  launch(add_bias_kernel, blocks_for(static_cast<std::size_t>(rows) * n, 256), 256, stream, x, bias, rows, n);
}

void launch_silu_mul(float* out, const float* gate, const float* up, std::size_t n, cudaStream_t stream) {
  launch(silu_mul_kernel, blocks_for(n, 256), 256, stream, out, gate, up, n);
}

void launch_gather_rows(float* out, const float* x, const std::int32_t* rows, int n_rows, int n, cudaStream_t stream) {
  if (n_rows > 0) launch(gather_rows_kernel, n_rows, 256, stream, out, x, rows, n);
}

}  // namespace sovereign::accel::cuda
