// Token sampling on the GPU (launch_sample): one block per row of logits takes the argmax (or -1 for a
// row holding a NaN or an infinity), and for a sampled row finds the top_k and top_p cut-offs by radix
// selection over order-preserving keys, then draws from the softmax at the row's temperature over the
// kept tokens.
#include <cfloat>
#include <cstddef>
#include <cstdint>

#include "accel/compute/cuda/device_common.cuh"
#include "accel/compute/cuda/kernels.cuh"

namespace sovereign::accel::cuda {
namespace {

constexpr int kSampleThreads = 1024;
// Sampling cut-offs by radix selection over order-preserving keys of the logits (4 passes of 8 bits
// each, instead of bisecting on the value): the exact key of the top_k-th largest logit, and the
// largest key whose kept mass reaches top_p of the mass. Bins count with shared-memory atomics,
// aggregated per warp; masses are added in fixed point, so the result does not depend on the order
// the atomics land in (a seeded request stays reproducible).

// Larger floats give larger keys (negative floats have all bits flipped, positive ones the sign).
__device__ __forceinline__ unsigned order_key(float f) {
  const unsigned u = __float_as_uint(f);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

constexpr float kMassScale = 16777216.0f;  // 2^24: a logit's weight exp((x - max) / T) <= 1 in fixed point

struct RadixShared {
  unsigned long long bins[256];
  unsigned prefix;
  unsigned mask;
  unsigned long long remaining;
};

// The largest key tau (>= floor) with sum over keys >= tau of weight >= wanted: weight 1 per logit
// (kMass false: wanted = top_k) or its fixed-point softmax weight (kMass true: wanted = top_p times
// the total weight at or above floor, found in the first pass).
template <bool kMass>
__device__ unsigned radix_select(const float* row, int vocab, unsigned floor, unsigned long long wanted, float top_p,
                                 float best, float inv_t, RadixShared& rs) {
  if (threadIdx.x == 0) {
    rs.prefix = 0;
    rs.mask = 0;
    rs.remaining = wanted;
  }
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += kSampleThreads) rs.bins[b] = 0;
    __syncthreads();
    const unsigned prefix = rs.prefix, mask = rs.mask;
    for (int base = 0; base < vocab; base += kSampleThreads) {
      const int i = base + static_cast<int>(threadIdx.x);
      const unsigned key = i < vocab ? order_key(row[i]) : 0u;
      const bool counted = i < vocab && key >= floor && (key & mask) == prefix;
      const unsigned active = __ballot_sync(0xffffffffu, counted);
      if (!counted) continue;
      const unsigned digit = (key >> shift) & 0xffu;
      const unsigned group = __match_any_sync(active, digit);
      unsigned amount = 1;
      if constexpr (kMass) amount = __float2uint_rn(__expf((row[i] - best) * inv_t) * kMassScale);
      const unsigned total = kMass ? __reduce_add_sync(group, amount) : static_cast<unsigned>(__popc(group));
      if (static_cast<int>(threadIdx.x % kWarp) == __ffs(group) - 1) atomicAdd(&rs.bins[digit], static_cast<unsigned long long>(total));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long remaining = rs.remaining;
      if (kMass && shift == 24) {
        unsigned long long all = 0;
        for (int d = 0; d < 256; ++d) all += rs.bins[d];
        remaining = static_cast<unsigned long long>(static_cast<double>(all) * top_p);
        if (remaining == 0) remaining = 1;
      }
      unsigned long long above = 0;
      int chosen = 0;
      for (int d = 255; d >= 0; --d) {
        if (above + rs.bins[d] >= remaining) {
          chosen = d;
          break;
        }
        above += rs.bins[d];
      }
      rs.remaining = remaining - above;
      rs.prefix |= static_cast<unsigned>(chosen) << shift;
      rs.mask |= 0xffu << shift;
    }
    __syncthreads();
  }
  const unsigned tau = rs.prefix;
  __syncthreads();
  return tau;
}

__global__ void sample_kernel(std::int32_t* out, const float* logits, const DeviceRowSampling* params, int vocab) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  __shared__ float shared[kSampleThreads / kWarp];
  __shared__ int shared_index[kSampleThreads / kWarp];
  __shared__ float prefix[kSampleThreads];
  const float* row = logits + static_cast<std::size_t>(blockIdx.x) * vocab;
  const DeviceRowSampling p = params[blockIdx.x];

  // Argmax, lowest index on ties; 16-byte loads (four independent candidates each) where rows allow.
  float best = -FLT_MAX;
  int best_index = vocab;
  bool non_finite = false;
  const auto consider = [&](float value, int i) {
    non_finite |= !isfinite(value);
    if (value > best || (value == best && i < best_index)) {
      best = value;
      best_index = i;
    }
  };
  if (vocab % 4 == 0) {
    const float4* row4 = reinterpret_cast<const float4*>(row);
    for (int i = threadIdx.x; i < vocab / 4; i += kSampleThreads) {
      const float4 f = row4[i];
      consider(f.x, 4 * i);
      consider(f.y, 4 * i + 1);
      consider(f.z, 4 * i + 2);
      consider(f.w, 4 * i + 3);
    }
  } else {
    for (int i = threadIdx.x; i < vocab; i += kSampleThreads) consider(row[i], i);
  }
  // A NaN or infinity anywhere in the row: the model is broken and no draw means anything (the host
  // ends the request; kNonFiniteLogits in sampler.hpp).
  if (__syncthreads_or(non_finite)) {
    if (threadIdx.x == 0) out[blockIdx.x] = -1;
    return;
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

  // Every logit is kept unless a cut-off applies: tokens whose key is at least tau.
  __shared__ RadixShared radix;
  const float inv_t = 1.0f / p.temperature;
  unsigned tau = 0;
  if (p.top_k > 0 && p.top_k < vocab)
    tau = radix_select<false>(row, vocab, 0u, static_cast<unsigned long long>(p.top_k), 1.0f, best, inv_t, radix);
  if (p.top_p < 1.0f) tau = radix_select<true>(row, vocab, tau, 0, p.top_p, best, inv_t, radix);

  // Draw: walk the kept tokens in index order; each thread owns one contiguous segment.
  const int segment = (vocab + kSampleThreads - 1) / kSampleThreads;
  const int begin = min(vocab, static_cast<int>(threadIdx.x) * segment);
  const int end = min(vocab, begin + segment);
  float local = 0.0f;
  for (int i = begin; i < end; ++i)
    if (order_key(row[i]) >= tau) local += __expf((row[i] - best) * inv_t);
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
    if (order_key(row[i]) < tau) continue;
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
  if (rows > 0) launch(sample_kernel, rows, kSampleThreads, stream, out, logits, params, vocab);
}

}  // namespace sovereign::accel::cuda
