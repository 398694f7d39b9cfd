// CUDA kernels of the forward pass. Each op: a templated __global__ kernel, then its launcher.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cfloat>
#include <type_traits>

#include "accel/compute/block_formats.hpp"
#include "accel/compute/cuda/kernels.cuh"

namespace sovereign::accel::cuda {
namespace {

constexpr int kWarp = 32;

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float half_bits(std::uint16_t bits) { return __half2float(__ushort_as_half(bits)); }

// Element i of a row in its stored encoding. Consecutive lanes read consecutive elements, so
// every encoding is read coalesced (quantized lanes of one block share its scale).
template <WeightKind K>
__device__ __forceinline__ float weight_at(const unsigned char* row, int i) {
  if constexpr (K == WeightKind::f32) {
    return reinterpret_cast<const float*>(row)[i];
  } else if constexpr (K == WeightKind::f16) {
    return half_bits(reinterpret_cast<const std::uint16_t*>(row)[i]);
  } else if constexpr (K == WeightKind::bf16) {
    return __uint_as_float(static_cast<unsigned>(reinterpret_cast<const std::uint16_t*>(row)[i]) << 16);
  } else if constexpr (K == WeightKind::q8_0) {
    const compute::BlockQ8_0& b = reinterpret_cast<const compute::BlockQ8_0*>(row)[i / 32];
    return half_bits(b.d) * static_cast<float>(b.qs[i % 32]);
  } else {
    const compute::BlockQ4_0& b = reinterpret_cast<const compute::BlockQ4_0*>(row)[i / 32];
    const int j = i % 32;
    const int nibble = j < 16 ? (b.qs[j] & 0x0f) : (b.qs[j - 16] >> 4);
    return half_bits(b.d) * static_cast<float>(nibble - 8);
  }
}

template <WeightKind K>
using KindTag = std::integral_constant<WeightKind, K>;

// Calls f(KindTag<K>{}) for the runtime kind, so launchers instantiate one kernel per encoding.
template <typename F>
void dispatch_kind(WeightKind kind, F&& f) {
  switch (kind) {
    case WeightKind::f32: f(KindTag<WeightKind::f32>{}); break;
    case WeightKind::f16: f(KindTag<WeightKind::f16>{}); break;
    case WeightKind::bf16: f(KindTag<WeightKind::bf16>{}); break;
    case WeightKind::q8_0: f(KindTag<WeightKind::q8_0>{}); break;
    case WeightKind::q4_0: f(KindTag<WeightKind::q4_0>{}); break;
  }
}

unsigned blocks_for(std::size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

template <WeightKind K>
__global__ void embed_kernel(float* out, const unsigned char* table, std::size_t row_bytes, int cols,
                             const std::int32_t* tokens) {
  const int t = blockIdx.x;
  const unsigned char* row = table + static_cast<std::size_t>(tokens[t]) * row_bytes;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) out[static_cast<std::size_t>(t) * cols + i] = weight_at<K>(row, i);
}

__global__ void rmsnorm_kernel(float* out, const float* x, const float* weight, int n, float eps) {
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

// One warp per output row; the row is decoded once per 8 tokens and stays in L1 across chunks.
template <WeightKind K>
__global__ void matvec_kernel(float* out, const unsigned char* w, std::size_t row_bytes, int rows, int cols,
                              const float* x, int n_tokens) {
  constexpr int kChunk = 8;
  const int row = static_cast<int>((static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp);
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const unsigned char* r = w + static_cast<std::size_t>(row) * row_bytes;
  for (int first = 0; first < n_tokens; first += kChunk) {
    float acc[kChunk] = {};
    const int count = min(kChunk, n_tokens - first);
    for (int i = lane; i < cols; i += kWarp) {
      const float wv = weight_at<K>(r, i);
#pragma unroll
      for (int b = 0; b < kChunk; ++b)
        if (b < count) acc[b] += wv * x[static_cast<std::size_t>(first + b) * cols + i];
    }
#pragma unroll
    for (int b = 0; b < kChunk; ++b) {
      const float total = warp_sum(acc[b]);
      if (lane == 0 && b < count) out[static_cast<std::size_t>(first + b) * rows + row] = total;
    }
  }
}

template <WeightKind K, typename Out>
__global__ void expand_kernel(Out* out, const unsigned char* w, std::size_t row_bytes, int rows, int cols) {
  const std::size_t idx = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<std::size_t>(rows) * cols) return;
  const int r = static_cast<int>(idx / cols);
  const int c = static_cast<int>(idx % cols);
  const float v = weight_at<K>(w + static_cast<std::size_t>(r) * row_bytes, c);
  if constexpr (std::is_same_v<Out, __half>) {
    out[idx] = __float2half(v);
  } else {
    out[idx] = __float2bfloat16(v);
  }
}

template <typename Out>
__global__ void to_16bit_kernel(Out* out, const float* x, std::size_t n) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if constexpr (std::is_same_v<Out, __half>) {
    out[i] = __float2half(x[i]);
  } else {
    out[i] = __float2bfloat16(x[i]);
  }
}

__global__ void add_bias_kernel(float* x, const float* bias, int rows, int n) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < static_cast<std::size_t>(rows) * n) x[i] += bias[i % n];
}

__global__ void rope_kernel(float* x, const std::int32_t* positions, int n_tokens, RopeParams p) {
  const int half = p.rope_dims / 2;
  const std::size_t idx = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<std::size_t>(n_tokens) * p.heads * half) return;
  const int i = static_cast<int>(idx % half);
  const int h = static_cast<int>((idx / half) % p.heads);
  const int t = static_cast<int>(idx / (static_cast<std::size_t>(half) * p.heads));
  // Angles in double: positions up to 128K times the fastest frequency need the precision.
  double freq = pow(static_cast<double>(p.theta), -2.0 * i / p.rope_dims);
  if (p.divisors != nullptr) freq /= p.divisors[i];
  const double angle = static_cast<double>(static_cast<float>(positions[t]) * p.position_scale) * freq;
  const float c = static_cast<float>(cos(angle));
  const float s = static_cast<float>(sin(angle));
  float* head = x + (static_cast<std::size_t>(t) * p.heads + h) * p.head_dim;
  const int a = p.neox ? i : 2 * i;
  const int b = p.neox ? i + half : 2 * i + 1;
  const float x0 = head[a];
  const float x1 = head[b];
  head[a] = x0 * c - x1 * s;
  head[b] = x0 * s + x1 * c;
}

__device__ __forceinline__ std::size_t kv_index(const PagedKv& kv, int slot, int position) {
  const std::int32_t page = kv.page_table[static_cast<std::size_t>(slot) * kv.max_pages + position / kPageTokens];
  return (static_cast<std::size_t>(page) * kPageTokens + position % kPageTokens) * kv.kv_dim;
}

__global__ void kv_store_kernel(PagedKv kv, const float* k, const float* v, const std::int32_t* slots,
                                const std::int32_t* positions, int n_tokens) {
  const std::size_t idx = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<std::size_t>(n_tokens) * kv.kv_dim) return;
  const int t = static_cast<int>(idx / kv.kv_dim);
  const int i = static_cast<int>(idx % kv.kv_dim);
  const std::size_t at = kv_index(kv, slots[t], positions[t]) + i;
  kv.keys[at] = k[idx];
  kv.values[at] = v[idx];
}

// One block per (token, head): its warps split the positions and keep an online softmax each
// (running max, sum and weighted values), merged at the end; no score buffer is needed.
constexpr int kAttentionWarps = 4;
constexpr int kDimsPerLane = kMaxHeadDim / kWarp;

__global__ void attention_kernel(float* out, const float* q, PagedKv kv, const std::int32_t* slots,
                                 const std::int32_t* positions, AttentionParams p) {
  const int t = blockIdx.x;
  const int h = blockIdx.y;
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int q_dim = p.n_heads * p.head_dim;
  const int kv_head = h / (p.n_heads / p.n_kv_heads);
  const float scale = rsqrtf(static_cast<float>(p.head_dim));
  const float* query = q + static_cast<std::size_t>(t) * q_dim + static_cast<std::size_t>(h) * p.head_dim;

  float qv[kDimsPerLane];
  float acc[kDimsPerLane];
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    const int d = lane + j * kWarp;
    qv[j] = d < p.head_dim ? query[d] * scale : 0.0f;
    acc[j] = 0.0f;
  }
  float running_max = -FLT_MAX;
  float running_sum = 0.0f;
  const int last = positions[t];
  const int slot = slots[t];
  for (int pos = warp; pos <= last; pos += kAttentionWarps) {
    const std::size_t base = kv_index(kv, slot, pos) + static_cast<std::size_t>(kv_head) * p.head_dim;
    float score = 0.0f;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      const int d = lane + j * kWarp;
      if (d < p.head_dim) score += qv[j] * kv.keys[base + d];
    }
    score = warp_sum(score);
    const float new_max = fmaxf(running_max, score);
    const float correction = __expf(running_max - new_max);
    const float weight = __expf(score - new_max);
    running_sum = running_sum * correction + weight;
#pragma unroll
    for (int j = 0; j < kDimsPerLane; ++j) {
      const int d = lane + j * kWarp;
      if (d < p.head_dim) acc[j] = acc[j] * correction + weight * kv.values[base + d];
    }
    running_max = new_max;
  }

  __shared__ float warp_max[kAttentionWarps];
  __shared__ float warp_sum_of[kAttentionWarps];
  __shared__ float warp_acc[kAttentionWarps][kMaxHeadDim];
  if (lane == 0) {
    warp_max[warp] = running_max;
    warp_sum_of[warp] = running_sum;
  }
#pragma unroll
  for (int j = 0; j < kDimsPerLane; ++j) {
    const int d = lane + j * kWarp;
    if (d < p.head_dim) warp_acc[warp][d] = acc[j];
  }
  __syncthreads();
  if (warp != 0) return;
  float overall_max = -FLT_MAX;
  for (int w = 0; w < kAttentionWarps; ++w) overall_max = fmaxf(overall_max, warp_max[w]);
  float total = 0.0f;
  float factor[kAttentionWarps];
  for (int w = 0; w < kAttentionWarps; ++w) {
    factor[w] = warp_sum_of[w] > 0.0f ? __expf(warp_max[w] - overall_max) : 0.0f;
    total += warp_sum_of[w] * factor[w];
  }
  float* dst = out + static_cast<std::size_t>(t) * q_dim + static_cast<std::size_t>(h) * p.head_dim;
  for (int d = lane; d < p.head_dim; d += kWarp) {
    float v = 0.0f;
    for (int w = 0; w < kAttentionWarps; ++w) v += warp_acc[w][d] * factor[w];
    dst[d] = v / total;
  }
}

__global__ void silu_mul_kernel(float* out, const float* gate, const float* up, std::size_t n) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = gate[i] / (1.0f + __expf(-gate[i])) * up[i];
}

__global__ void add_kernel(float* x, const float* y, std::size_t n) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void gather_rows_kernel(float* out, const float* x, const std::int32_t* rows, int n) {
  const float* src = x + static_cast<std::size_t>(rows[blockIdx.x]) * n;
  float* dst = out + static_cast<std::size_t>(blockIdx.x) * n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
}

constexpr int kSampleThreads = 1024;
constexpr int kBisectionSteps = 40;

// Block-wide reductions for kSampleThreads threads; `shared` holds one value per warp.
__device__ float block_sum(float v, float* shared) {
  v = warp_sum(v);
  __syncthreads();
  if (threadIdx.x % kWarp == 0) shared[threadIdx.x / kWarp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kSampleThreads / kWarp; ++w) total += shared[w];
  return total;
}

__device__ float block_min(float v, float* shared) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = fminf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  __syncthreads();
  if (threadIdx.x % kWarp == 0) shared[threadIdx.x / kWarp] = v;
  __syncthreads();
  float out = shared[0];
  for (int w = 1; w < kSampleThreads / kWarp; ++w) out = fminf(out, shared[w]);
  return out;
}

// Probability mass (unnormalised, relative to the row maximum) of the logits at or above tau.
__device__ float mass_at_or_above(const float* row, int vocab, float tau, float top, float inv_t, float* shared) {
  float local = 0.0f;
  for (int i = threadIdx.x; i < vocab; i += kSampleThreads)
    if (row[i] >= tau) local += __expf((row[i] - top) * inv_t);
  return block_sum(local, shared);
}

__device__ float count_at_or_above(const float* row, int vocab, float tau, float* shared) {
  float local = 0.0f;
  for (int i = threadIdx.x; i < vocab; i += kSampleThreads) local += row[i] >= tau ? 1.0f : 0.0f;
  return block_sum(local, shared);
}

__global__ void sample_kernel(std::int32_t* out, const float* logits, const DeviceRowSampling* params, int vocab) {
  __shared__ float shared[kSampleThreads / kWarp];
  __shared__ int shared_index[kSampleThreads / kWarp];
  __shared__ float prefix[kSampleThreads];
  const float* row = logits + static_cast<std::size_t>(blockIdx.x) * vocab;
  const DeviceRowSampling p = params[blockIdx.x];

  // Argmax, lowest index on ties.
  float best = -FLT_MAX;
  int best_index = vocab;
  for (int i = threadIdx.x; i < vocab; i += kSampleThreads)
    if (row[i] > best) {
      best = row[i];
      best_index = i;
    }
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(0xffffffffu, best, offset);
    const int other_index = __shfl_xor_sync(0xffffffffu, best_index, offset);
    if (other > best || (other == best && other_index < best_index)) {
      best = other;
      best_index = other_index;
    }
  }
  if (threadIdx.x % kWarp == 0) {
    shared[threadIdx.x / kWarp] = best;
    shared_index[threadIdx.x / kWarp] = best_index;
  }
  __syncthreads();
  best = shared[0];
  best_index = shared_index[0];
  for (int w = 1; w < kSampleThreads / kWarp; ++w)
    if (shared[w] > best || (shared[w] == best && shared_index[w] < best_index)) {
      best = shared[w];
      best_index = shared_index[w];
    }
  if (threadIdx.x == 0) out[blockIdx.x] = best_index;  // also the fallback of the draw below
  if (p.temperature <= 0.0f || p.top_k == 1) return;

  float local_min = FLT_MAX;
  for (int i = threadIdx.x; i < vocab; i += kSampleThreads) local_min = fminf(local_min, row[i]);
  float threshold = block_min(local_min, shared);
  const float inv_t = 1.0f / p.temperature;
  if (p.top_k > 0 && p.top_k < vocab) {
    // Largest tau that keeps at least top_k logits.
    float lo = threshold, hi = best;
    for (int step = 0; step < kBisectionSteps; ++step) {
      const float mid = 0.5f * (lo + hi);
      if (count_at_or_above(row, vocab, mid, shared) >= static_cast<float>(p.top_k)) lo = mid; else hi = mid;
    }
    threshold = lo;
  }
  if (p.top_p < 1.0f) {
    // Largest tau whose kept mass still reaches top_p of the top-k mass.
    const float target = p.top_p * mass_at_or_above(row, vocab, threshold, best, inv_t, shared);
    float lo = threshold, hi = best;
    for (int step = 0; step < kBisectionSteps; ++step) {
      const float mid = 0.5f * (lo + hi);
      if (mass_at_or_above(row, vocab, mid, best, inv_t, shared) >= target) lo = mid; else hi = mid;
    }
    threshold = lo;
  }

  // Draw: walk the kept tokens in index order; each thread owns one contiguous segment.
  const int segment = (vocab + kSampleThreads - 1) / kSampleThreads;
  const int begin = min(vocab, static_cast<int>(threadIdx.x) * segment);
  const int end = min(vocab, begin + segment);
  float local = 0.0f;
  for (int i = begin; i < end; ++i)
    if (row[i] >= threshold) local += __expf((row[i] - best) * inv_t);
  prefix[threadIdx.x] = local;
  __syncthreads();
  if (threadIdx.x == 0) {
    float running = 0.0f;
    for (int t = 0; t < kSampleThreads; ++t) {
      const float v = prefix[t];
      prefix[t] = running;
      running += v;
    }
    shared[0] = running;
  }
  __syncthreads();
  const float target = p.uniform * shared[0];
  float running = prefix[threadIdx.x];
  if (target < running || target >= running + local) return;
  for (int i = begin; i < end; ++i) {
    if (row[i] < threshold) continue;
    running += __expf((row[i] - best) * inv_t);
    if (target < running) {
      out[blockIdx.x] = i;
      return;
    }
  }
}

}  // namespace

void launch_sample(std::int32_t* out, const float* logits, const DeviceRowSampling* params, int rows, int vocab,
                   cudaStream_t stream) {
  if (rows > 0) sample_kernel<<<rows, kSampleThreads, 0, stream>>>(out, logits, params, vocab);
}

void launch_embed(float* out, const DeviceMatrix& table, const std::int32_t* tokens, int n_tokens, cudaStream_t stream) {
  if (n_tokens <= 0) return;
  dispatch_kind(table.kind, [&](auto tag) {
    constexpr WeightKind K = decltype(tag)::value;
    embed_kernel<K><<<n_tokens, 256, 0, stream>>>(out, table.data, table.row_bytes, table.cols, tokens);
  });
}

void launch_rmsnorm(float* out, const float* x, const float* weight, int rows, int n, float eps, cudaStream_t stream) {
  if (rows > 0) rmsnorm_kernel<<<rows, 256, 0, stream>>>(out, x, weight, n, eps);
}

void launch_matvec(float* out, const DeviceMatrix& w, const float* x, int n_tokens, cudaStream_t stream) {
  constexpr unsigned kThreads = 256;
  const unsigned blocks = blocks_for(static_cast<std::size_t>(w.rows) * kWarp, kThreads);
  dispatch_kind(w.kind, [&](auto tag) {
    constexpr WeightKind K = decltype(tag)::value;
    matvec_kernel<K><<<blocks, kThreads, 0, stream>>>(out, w.data, w.row_bytes, w.rows, w.cols, x, n_tokens);
  });
}

void launch_expand_weights(void* out, const DeviceMatrix& w, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(w.rows) * w.cols;
  dispatch_kind(w.kind, [&](auto tag) {
    constexpr WeightKind K = decltype(tag)::value;
    if constexpr (K == WeightKind::bf16) {
      expand_kernel<K, __nv_bfloat16><<<blocks_for(n, 256), 256, 0, stream>>>(
          static_cast<__nv_bfloat16*>(out), w.data, w.row_bytes, w.rows, w.cols);
    } else {
      expand_kernel<K, __half><<<blocks_for(n, 256), 256, 0, stream>>>(static_cast<__half*>(out), w.data,
                                                                        w.row_bytes, w.rows, w.cols);
    }
  });
}

void launch_activations_to_16bit(void* out, const float* x, std::size_t n, bool bf16, cudaStream_t stream) {
  if (bf16) {
    to_16bit_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(static_cast<__nv_bfloat16*>(out), x, n);
  } else {
    to_16bit_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(static_cast<__half*>(out), x, n);
  }
}

void launch_add_bias(float* x, const float* bias, int rows, int n, cudaStream_t stream) {
  add_bias_kernel<<<blocks_for(static_cast<std::size_t>(rows) * n, 256), 256, 0, stream>>>(x, bias, rows, n);
}

void launch_rope(float* x, const std::int32_t* positions, int n_tokens, const RopeParams& p, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(n_tokens) * p.heads * (p.rope_dims / 2);
  rope_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(x, positions, n_tokens, p);
}

void launch_kv_store(const PagedKv& kv, const float* k, const float* v, const std::int32_t* slots,
                     const std::int32_t* positions, int n_tokens, cudaStream_t stream) {
  const std::size_t n = static_cast<std::size_t>(n_tokens) * kv.kv_dim;
  kv_store_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(kv, k, v, slots, positions, n_tokens);
}

void launch_attention(float* out, const float* q, const PagedKv& kv, const std::int32_t* slots,
                      const std::int32_t* positions, int n_tokens, const AttentionParams& p, cudaStream_t stream) {
  if (n_tokens <= 0) return;
  const dim3 grid(static_cast<unsigned>(n_tokens), static_cast<unsigned>(p.n_heads));
  attention_kernel<<<grid, kAttentionWarps * kWarp, 0, stream>>>(out, q, kv, slots, positions, p);
}

void launch_silu_mul(float* out, const float* gate, const float* up, std::size_t n, cudaStream_t stream) {
  silu_mul_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(out, gate, up, n);
}

void launch_add(float* x, const float* y, std::size_t n, cudaStream_t stream) {
  add_kernel<<<blocks_for(n, 256), 256, 0, stream>>>(x, y, n);
}

void launch_gather_rows(float* out, const float* x, const std::int32_t* rows, int n_rows, int n, cudaStream_t stream) {
  if (n_rows > 0) gather_rows_kernel<<<n_rows, 256, 0, stream>>>(out, x, rows, n);
}

}  // namespace sovereign::accel::cuda
