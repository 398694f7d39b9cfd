// Attention over the paged KV cache: rope_and_store_kernel (the rotary embedding of the query and
// key heads, and each token's key and value written to its cache page) and attention_kernel (causal
// attention with an online softmax, GQA by head groups; in its decode form it also applies the
// rotary embedding and stores the token's own key and value), with their launchers.
#include <cfloat>
#include <cstddef>
#include <cstdint>

#include "accel/compute/cuda/device_common.cuh"
#include "accel/compute/cuda/kernels.cuh"

namespace sovereign::accel::cuda {
namespace {

__device__ __forceinline__ std::size_t kv_index(const PagedKv& kv, int slot, int position) {
  const std::int32_t page = kv.page_table[static_cast<std::size_t>(slot) * kv.max_pages + position / kPageTokens];
  return (static_cast<std::size_t>(page) * kPageTokens + position % kPageTokens) * kv.kv_dim;
}

// The sine and cosine of rotary pair `pair` at `position`. The angle is taken in double (positions
// up to 128K times the fastest frequency need the precision) and reduced to [-pi, pi] in double, so
// the float sine and cosine see an exact small argument.
__device__ __forceinline__ void rope_sincos(int position, int pair, const RopeParams& p, float* s, float* c) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  const double angle = static_cast<double>(static_cast<float>(position) * p.position_scale) * p.frequencies[pair];
  const double reduced = angle - kTwoPi * rint(angle / kTwoPi);
  sincosf(static_cast<float>(reduced), s, c);
}

// One thread per (token, head, pair of dims) over the query heads then the key heads: a pair inside
// the rotary dims is rotated (adjacent dims, or i and i + rope_dims/2 for NEOX), a pair beyond them
// is copied as is; key heads go to the cache with the matching values.
__global__ void rope_and_store_kernel(float* q, const float* k, const float* v, int n_heads, PagedKv kv,
                                      const std::int32_t* slots, const std::int32_t* positions, int n_tokens,
                                      RopeParams p) {
  const int pairs = p.head_dim / 2;
  const int n_kv_heads = kv.kv_dim / p.head_dim;
  const int heads = n_heads + n_kv_heads;
  const std::size_t idx = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool in_range = idx < static_cast<std::size_t>(n_tokens) * heads * pairs;
  const int i = static_cast<int>(idx % pairs);
  const int h = static_cast<int>((idx / pairs) % heads);
  const int t = in_range ? static_cast<int>(idx / (static_cast<std::size_t>(pairs) * heads)) : 0;
  // Positions, slots, page tables and frequencies are uploaded before the step: no kernel of it
  // writes them, so they are read, and the rotation computed, before waiting.
  const int position = positions[t];
  const std::size_t cache_row = h >= n_heads ? kv_index(kv, slots[t], position) : 0;
  const int half_rope = p.rope_dims / 2;
  const bool rotated = i < half_rope;
  const int a = rotated ? (p.neox ? i : 2 * i) : p.rope_dims + 2 * (i - half_rope);
  const int b = rotated && p.neox ? i + half_rope : a + 1;
  float c = 1.0f, s = 0.0f;
  if (rotated) rope_sincos(position, i, p, &s, &c);
  wait_for_previous_kernel();
  let_next_kernel_launch();
  if (!in_range) return;
  if (h < n_heads) {
    float* head = q + (static_cast<std::size_t>(t) * n_heads + h) * p.head_dim;
    const float x0 = head[a], x1 = head[b];
    head[a] = x0 * c - x1 * s;
    head[b] = x0 * s + x1 * c;
    return;
  }
  const int kv_head = h - n_heads;
  const std::size_t from = static_cast<std::size_t>(t) * kv.kv_dim + static_cast<std::size_t>(kv_head) * p.head_dim;
  const std::size_t to = cache_row + static_cast<std::size_t>(kv_head) * p.head_dim;
  const float x0 = k[from + a], x1 = k[from + b];
  kv.keys[to + a] = x0 * c - x1 * s;
  kv.keys[to + b] = x0 * s + x1 * c;
  kv.values[to + a] = v[from + a];
  kv.values[to + b] = v[from + b];
}

// One block per (token, head): its warps split the positions, two at a time per warp so that the
// loads of both (page, key, value) are in flight together, and keep an online softmax each
// (running max, sum and weighted values), merged at the end; no score buffer is needed.
// kDecode (a step whose tokens are all in different sequences): the rotary embedding is applied
// here (by warp 0, shared through shared memory), to the query and to the token's own key, which
// is taken from k/v directly and written to the cache by the first query head of its group; every
// earlier position was written by an earlier step, so the first round of cached keys and values is
// loaded before the wait.
// Warps per block: 16 when few (token, head) blocks must cover the latency of a small step,
// 4 when a large step has enough blocks to fill the GPU. D: head dims per lane (2, 4 or 8), so
// registers are held for the model's head size rather than the widest one.
constexpr int kAttentionWarps = 16;
constexpr int kAttentionBlocksForFewWarps = 512;

// The rotation of dim d: out[d] = x[d] * c + x[partner] * s (s signed), identity beyond rope_dims.
struct DimRotation {
  int partner;
  float c;
  float s;
};

__device__ __forceinline__ DimRotation rotation_of(int d, int position, const RopeParams& p) {
  const int half_rope = p.rope_dims / 2;
  if (d >= p.rope_dims) return {d, 1.0f, 0.0f};
  int pair, partner;
  bool first;
  if (p.neox) {
    first = d < half_rope;
    pair = first ? d : d - half_rope;
    partner = first ? d + half_rope : d - half_rope;
  } else {
    first = d % 2 == 0;
    pair = d / 2;
    partner = first ? d + 1 : d - 1;
  }
  float s, c;
  rope_sincos(position, pair, p, &s, &c);
  return {partner, c, first ? -s : s};
}

template <bool kDecode, int D>
__global__ void attention_kernel(float* out, const float* q, const float* k, const float* v, PagedKv kv,
                                 const std::int32_t* slots, const std::int32_t* positions, AttentionParams p,
                                 RopeParams rope) {
  const int t = blockIdx.x;
  const int h = blockIdx.y;
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int warps = blockDim.x / kWarp;
  const int group = p.n_heads / p.n_kv_heads;
  const int kv_head = h / group;
  const std::size_t head_offset = static_cast<std::size_t>(kv_head) * p.head_dim;
  // Positions, slots and page tables are uploaded before the step: no kernel of it writes them.
  const int last = positions[t];
  const int slot = slots[t];
  const int cached_end = kDecode ? last : last + 1;  // positions read from the cache

  float k1[D], k2[D], v1[D], v2[D];
  const auto load_pair = [&](int pos) {
    const int pos2 = pos + warps;
    if (pos >= cached_end) return;
    const std::size_t base = kv_index(kv, slot, pos) + head_offset;
    const std::size_t base2 = pos2 < cached_end ? kv_index(kv, slot, pos2) + head_offset : base;
#pragma unroll
    for (int j = 0; j < D; ++j) {
      const int d = lane + j * kWarp;
      const bool in = d < p.head_dim;
      k1[j] = in ? kv.keys[base + d] : 0.0f;
      k2[j] = in ? kv.keys[base2 + d] : 0.0f;
      v1[j] = in ? kv.values[base + d] : 0.0f;
      v2[j] = in ? kv.values[base2 + d] : 0.0f;
    }
  };
  if constexpr (kDecode) load_pair(warp);
  // kDecode: warp 0 rotates the query and the token's own key, once for the block.
  DimRotation turn[D];
  if (kDecode && warp == 0) {
#pragma unroll
    for (int j = 0; j < D; ++j) {
      const int d = lane + j * kWarp;
      turn[j] = d < p.head_dim ? rotation_of(d, last, rope) : DimRotation{d, 1.0f, 0.0f};
    }
  }
  wait_for_previous_kernel();
  let_next_kernel_launch();

  const int q_dim = p.n_heads * p.head_dim;
  const float scale = rsqrtf(static_cast<float>(p.head_dim));
  const float* query = q + static_cast<std::size_t>(t) * q_dim + static_cast<std::size_t>(h) * p.head_dim;
  float qv[D];
  float own_k[D], own_v[D];  // kDecode, warp 0: this token's rotated key and its value
  if constexpr (kDecode) {
    __shared__ float rotated_query[kMaxHeadDim];
    if (warp == 0) {
      const float* key = k + static_cast<std::size_t>(t) * kv.kv_dim + head_offset;
      const float* value = v + static_cast<std::size_t>(t) * kv.kv_dim + head_offset;
#pragma unroll
      for (int j = 0; j < D; ++j) {
        const int d = lane + j * kWarp;
        const bool in = d < p.head_dim;
        if (in) rotated_query[d] = (query[d] * turn[j].c + query[turn[j].partner] * turn[j].s) * scale;
        own_k[j] = in ? key[d] * turn[j].c + key[turn[j].partner] * turn[j].s : 0.0f;
        own_v[j] = in ? value[d] : 0.0f;
      }
      if (h % group == 0) {
        const std::size_t at = kv_index(kv, slot, last) + head_offset;
#pragma unroll
        for (int j = 0; j < D; ++j) {
          const int d = lane + j * kWarp;
          if (d < p.head_dim) {
            kv.keys[at + d] = own_k[j];
            kv.values[at + d] = own_v[j];
          }
        }
      }
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < D; ++j) {
      const int d = lane + j * kWarp;
      qv[j] = d < p.head_dim ? rotated_query[d] : 0.0f;
    }
  } else {
#pragma unroll
    for (int j = 0; j < D; ++j) {
      const int d = lane + j * kWarp;
      qv[j] = d < p.head_dim ? query[d] * scale : 0.0f;
    }
  }

  float acc[D] = {};
  float running_max = -FLT_MAX;
  float running_sum = 0.0f;
  // Folds up to two positions (scores and values) into this warp's online softmax.
  const auto fold = [&](bool has1, bool has2, const float (&ka)[D], const float (&kb)[D],
                        const float (&va)[D], const float (&vb)[D]) {
    float score = 0.0f, score2 = 0.0f;
#pragma unroll
    for (int j = 0; j < D; ++j) {
      score += qv[j] * ka[j];
      score2 += qv[j] * kb[j];
    }
    score = has1 ? warp_sum(score) : -FLT_MAX;
    score2 = has2 ? warp_sum(score2) : -FLT_MAX;
    const float new_max = fmaxf(running_max, fmaxf(score, score2));
    const float correction = __expf(running_max - new_max);
    const float weight = has1 ? __expf(score - new_max) : 0.0f;
    const float weight2 = has2 ? __expf(score2 - new_max) : 0.0f;
    running_sum = running_sum * correction + weight + weight2;
#pragma unroll
    for (int j = 0; j < D; ++j) acc[j] = acc[j] * correction + weight * va[j] + weight2 * vb[j];
    running_max = new_max;
  };
  for (int pos = warp; pos < cached_end; pos += 2 * warps) {
    if (!kDecode || pos != warp) load_pair(pos);
    fold(true, pos + warps < cached_end, k1, k2, v1, v2);
  }
  if (kDecode && warp == 0) fold(true, false, own_k, own_k, own_v, own_v);

  __shared__ float warp_max[kAttentionWarps];
  __shared__ float warp_sum_of[kAttentionWarps];
  __shared__ float warp_acc[kAttentionWarps][kMaxHeadDim];
  if (lane == 0) {
    warp_max[warp] = running_max;
    warp_sum_of[warp] = running_sum;
  }
#pragma unroll
  for (int j = 0; j < D; ++j) {
    const int d = lane + j * kWarp;
    if (d < p.head_dim) warp_acc[warp][d] = acc[j];
  }
  __syncthreads();
  if (warp != 0) return;
  float overall_max = -FLT_MAX;
  for (int w = 0; w < warps; ++w) overall_max = fmaxf(overall_max, warp_max[w]);
  float total = 0.0f;
  float factor[kAttentionWarps];
  for (int w = 0; w < warps; ++w) {
    factor[w] = warp_sum_of[w] > 0.0f ? __expf(warp_max[w] - overall_max) : 0.0f;
    total += warp_sum_of[w] * factor[w];
  }
  float* dst = out + static_cast<std::size_t>(t) * q_dim + static_cast<std::size_t>(h) * p.head_dim;
  for (int d = lane; d < p.head_dim; d += kWarp) {
    float value = 0.0f;
    for (int w = 0; w < warps; ++w) value += warp_acc[w][d] * factor[w];
    dst[d] = value / total;
  }
}

}  // namespace

void launch_rope_and_store(float* q, const float* k, const float* v, int n_heads, const PagedKv& kv,
                           const std::int32_t* slots, const std::int32_t* positions, int n_tokens,
                           const RopeParams& p, cudaStream_t stream) {
  if (n_tokens <= 0) return;
  const std::size_t n = static_cast<std::size_t>(n_tokens) * (n_heads + kv.kv_dim / p.head_dim) * (p.head_dim / 2);
  launch(rope_and_store_kernel, blocks_for(n, 256), 256, stream, q, k, v, n_heads, kv, slots, positions, n_tokens, p);
}

namespace {

template <bool kDecode>
void launch_attention_kind(float* out, const float* q, const float* k, const float* v, const PagedKv& kv,
                           const std::int32_t* slots, const std::int32_t* positions, int n_tokens,
                           const AttentionParams& p, const RopeParams& rope, cudaStream_t stream) {
  if (n_tokens <= 0) return;
  const dim3 grid(static_cast<unsigned>(n_tokens), static_cast<unsigned>(p.n_heads));
  const int warps = n_tokens * p.n_heads >= kAttentionBlocksForFewWarps ? 4 : kAttentionWarps;
  const unsigned threads = static_cast<unsigned>(warps * kWarp);
  if (p.head_dim <= 2 * kWarp) {
    launch(attention_kernel<kDecode, 2>, grid, threads, stream, out, q, k, v, kv, slots, positions, p, rope);
  } else if (p.head_dim <= 4 * kWarp) {
    launch(attention_kernel<kDecode, 4>, grid, threads, stream, out, q, k, v, kv, slots, positions, p, rope);
  } else {
    launch(attention_kernel<kDecode, kMaxHeadDim / kWarp>, grid, threads, stream, out, q, k, v, kv, slots, positions, p,
           rope);
  }
}

}  // namespace

void launch_attention(float* out, const float* q, const PagedKv& kv, const std::int32_t* slots,
                      const std::int32_t* positions, int n_tokens, const AttentionParams& p, cudaStream_t stream) {
  launch_attention_kind<false>(out, q, nullptr, nullptr, kv, slots, positions, n_tokens, p, RopeParams{}, stream);
}

void launch_decode_attention(float* out, const float* q, const float* k, const float* v, const PagedKv& kv,
                             const std::int32_t* slots, const std::int32_t* positions, int n_tokens,
                             const AttentionParams& p, const RopeParams& rope, cudaStream_t stream) {
  launch_attention_kind<true>(out, q, k, v, kv, slots, positions, n_tokens, p, rope, stream);
}

}  // namespace sovereign::accel::cuda
