// Launchers of the CUDA forward-pass kernels: each picks its grid and takes the stream; the
// caller (cuda_backend.cpp) has already checked shapes, types and contiguity.
// Plain C++17 so that nvcc compiles it with its default standard.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace sovereign::accel::cuda {

enum class WeightKind : int { f32, f16, bf16, q8_0, q4_0 };

// Most tokens the fused dequantize-GEMV kernel takes per launch; larger steps use cuBLAS.
constexpr int kMatvecMaxTokens = 64;
// Tokens per KV page (matches compute::kKvPageTokens) and the widest attention head supported.
constexpr int kPageTokens = 16;
constexpr int kMaxHeadDim = 256;

// A row-major weight matrix on the device, in its stored encoding.
struct DeviceMatrix {
  const unsigned char* data = nullptr;
  WeightKind kind = WeightKind::f32;
  int rows = 0;
  int cols = 0;
  std::size_t row_bytes = 0;
};

// out[t] = table[tokens[t]] as f32.
void launch_embed(float* out, const DeviceMatrix& table, const std::int32_t* tokens, int n_tokens, cudaStream_t stream);

// out[r] = x[r] / rms(x[r]) * weight, for `rows` rows of n.
void launch_rmsnorm(float* out, const float* x, const float* weight, int rows, int n, float eps, cudaStream_t stream);

// out[b][r] = W[r] . x[b] for b < n_tokens <= kMatvecMaxTokens, reading W once from its encoding.
void launch_matvec(float* out, const DeviceMatrix& w, const float* x, int n_tokens, cudaStream_t stream);

// W expanded to a dense 16-bit matrix for cuBLAS (f16 for f16/q8_0/q4_0, bf16 for bf16).
void launch_expand_weights(void* out, const DeviceMatrix& w, cudaStream_t stream);
// x converted to the 16-bit type the expanded weights use.
void launch_activations_to_16bit(void* out, const float* x, std::size_t n, bool bf16, cudaStream_t stream);

// x[r] += bias for each of `rows` rows of n.
void launch_add_bias(float* x, const float* bias, int rows, int n, cudaStream_t stream);

// Rotary embedding of each token's heads at its position; divisors may be null.
struct RopeParams {
  int heads = 0;
  int head_dim = 0;
  int rope_dims = 0;
  bool neox = false;
  float theta = 10000.0f;
  float position_scale = 1.0f;
  const float* divisors = nullptr;
};
void launch_rope(float* x, const std::int32_t* positions, int n_tokens, const RopeParams& p, cudaStream_t stream);

// Paged KV cache access of one layer: cache[(page * kPageTokens + offset) * kv_dim + i].
struct PagedKv {
  float* keys = nullptr;
  float* values = nullptr;
  const std::int32_t* page_table = nullptr;  // (slots, max_pages)
  int max_pages = 0;
  int kv_dim = 0;
};

// Writes each token's k and v at its (slot, position).
void launch_kv_store(const PagedKv& kv, const float* k, const float* v, const std::int32_t* slots,
                     const std::int32_t* positions, int n_tokens, cudaStream_t stream);

// Causal attention of each token over positions 0..position of its slot, GQA by head groups.
struct AttentionParams {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
};
void launch_attention(float* out, const float* q, const PagedKv& kv, const std::int32_t* slots,
                      const std::int32_t* positions, int n_tokens, const AttentionParams& p, cudaStream_t stream);

// out = silu(gate) * up
void launch_silu_mul(float* out, const float* gate, const float* up, std::size_t n, cudaStream_t stream);
// x += y
void launch_add(float* x, const float* y, std::size_t n, cudaStream_t stream);
// out[i] = x[rows[i]] for rows of width n.
void launch_gather_rows(float* out, const float* x, const std::int32_t* rows, int n_rows, int n, cudaStream_t stream);

// Per-row sampling request (mirrors compute::RowSampling, kept C++17 for nvcc).
struct DeviceRowSampling {
  float temperature;  // <= 0: greedy
  int top_k;          // 0: off
  float top_p;        // 1: off
  float uniform;      // draw in [0, 1)
};

// out[r] = the token row r of logits picks: argmax when greedy, else a draw from the softmax at the
// temperature restricted to the top_k best and then the top_p mass (thresholds found by bisection
// on the logit value, so no sort is needed); ties at a threshold are kept.
void launch_sample(std::int32_t* out, const float* logits, const DeviceRowSampling* params, int rows, int vocab,
                   cudaStream_t stream);

}  // namespace sovereign::accel::cuda
