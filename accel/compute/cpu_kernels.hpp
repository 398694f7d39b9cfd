// The CPU forward pass's small kernels, each named after its math, output argument first.
#pragma once

#include <cstddef>
#include <span>

#include "accel/compute/cpu_dot.hpp"
#include "accel/compute/model_config.hpp"
#include "accel/compute/model_weights.hpp"
#include "accel/compute/thread_pool.hpp"

namespace sovereign::accel::compute {

// out = x / rms(x) * weight
void rmsnorm(float* out, const float* x, const float* weight, std::size_t n, float eps);

// out[b][r] = W[r] . x[b] for each of `batch` input rows (x rows are W.cols long, out rows W.rows).
// Rows are split across the pool; each weight row is read once and applied to the whole batch.
void matmul(ThreadPool& pool, const RowDotKernels& kernels, float* out, const WeightMatrix& w,
            const float* x, std::size_t batch);

// out += bias, per row of a batch.
void add_bias(float* out, const float* bias, std::size_t n, std::size_t batch);

// Rotates the first rope_dims of each head of vec (heads * head_dim) for one position.
// freq_divisors is empty or rope_dims/2 long (llama 3.1 frequency factors).
void rope(float* vec, int heads, const ModelConfig& config, int position,
          std::span<const float> freq_divisors);

// In-place softmax over n values.
void softmax(float* x, std::size_t n);

// out = silu(gate) * up
void silu_mul(float* out, const float* gate, const float* up, std::size_t n);

// Copies row `row` of an embedding matrix into out as f32.
void embedding_row(float* out, const WeightMatrix& table, std::size_t row);

}  // namespace sovereign::accel::compute
