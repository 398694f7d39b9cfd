// The fused decode GEMV behind launch_matvec: for steps of up to kMatvecMaxTokens tokens, every
// target's rows against the same input, the weights read once from their encoding with 16-byte
// streaming loads, the input's RMSNorm, a bias, the residual add or the gated FFN's SiLU folded in
// (matvec_kernel, each warp issuing all its loads at once; matvec_stream_kernel, one wave of warps
// streaming their rows, for single-token steps whose one-shot grid would end in a thin second wave),
// an element-by-element fallback for shapes those loads do not fit (matvec_scalar_kernel), and the
// launchers that choose between them, rows per warp and row splits. fetch_position and add_position
// are the load and multiply-add of one load position that the 16-byte-load kernels share. Over
// quantized weights a GEMV runs matvec_coded_kernel instead, which codes its input in 16-bit integers
// first (code_input) and multiplies with integer dot products (add_position_coded).
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "accel/compute/cuda/device_common.cuh"
#include "accel/compute/cuda/kernels.cuh"
#include "accel/compute/cuda/weight_decode.cuh"

namespace sovereign::accel::cuda {
namespace {

// One launch's targets, their rows laid end to end: row slot r is row r - first_row[t] of target t.
struct MatvecJob {
  MatvecTarget targets[kMaxMatvecTargets];
  int first_row[kMaxMatvecTargets + 1];
  int count;
  MatvecInput in;
  int n_tokens;
  int split;
};

// The target a row slot belongs to, chosen with constant indices so the job stays in parameter space.
__device__ __forceinline__ int target_of(const MatvecJob& job, int row_slot) {
  int t = 0;
#pragma unroll
  for (int i = 1; i < kMaxMatvecTargets; ++i)
    if (i < job.count && row_slot >= job.first_row[i]) t = i;
  return t;
}

__device__ __forceinline__ MatvecTarget pick_target(const MatvecJob& job, int t) {
  MatvecTarget target = job.targets[0];
#pragma unroll
  for (int i = 1; i < kMaxMatvecTargets; ++i)
    if (t == i) target = job.targets[i];
  return target;
}

// Writes token b's result for `row` from the reduced sums (dot with W, dot with the GLU matrix, and
// the input's sum of squares when normalising).
template <bool kNorm, bool kGlu>
__device__ __forceinline__ void finish_row(const MatvecTarget& target, const MatvecInput& in, int cols, int row, int b,
                                           float dot, float glu_dot, float squares) {
  if constexpr (kNorm) {
    const float scale = rsqrtf(squares / static_cast<float>(cols) + in.eps);
    dot *= scale;
    glu_dot *= scale;
  }
  float value = dot;
  if constexpr (kGlu) {
    value = dot / (1.0f + __expf(-dot)) * glu_dot;
  } else {
    if (target.bias != nullptr) value += target.bias[row];
  }
  float* out = target.out + static_cast<std::size_t>(b) * target.w.rows + row;
  *out = target.accumulate ? *out + value : value;
}

// The loads of one position: load position c (16 bytes per row; see kPerLoad) of RM row slots,
// `rows` their data, where slot i is matrix i % M (W, then the GLU's up projection) of row
// row0 + i / M of `target`; with the scale terms of quantized kinds and q6_k's high bits (high and
// scale point at RM entries, or at one unused entry for kinds without them).
template <WeightKind K, int M, int RM>
__device__ __forceinline__ void fetch_position(const uint4* const (&rows)[RM], const MatvecTarget& target, int row0,
                                               int c, uint4 (&raw)[RM], uint2* high, float2* scale) {
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    raw[i] = __ldcs(rows[i] + c);
    if constexpr (kQuantized<K>) {
      const DeviceMatrix& w = i % M == 0 ? target.w : target.glu;
      const int row = row0 + i / M;
      scale[i] = load_scale<K>(w, row, c);
      if constexpr (K == WeightKind::q6_k)
        high[i] = __ldcs(reinterpret_cast<const uint2*>(w.high) + static_cast<std::size_t>(row) * (w.cols / 32) + c);
    }
  }
}

// The data of row slots row0 .. row0 + RM / M - 1 of `target`, in the order fetch_position takes.
template <int M, int RM>
__device__ __forceinline__ void row_pointers(const MatvecTarget& target, int row0, const uint4* (&rows)[RM]) {
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    const DeviceMatrix& w = i % M == 0 ? target.w : target.glu;
    rows[i] = reinterpret_cast<const uint4*>(w.data + static_cast<std::size_t>(row0 + i / M) * w.row_bytes);
  }
}

// One input row's products with the decoded values v of load position c, scale terms applied, added
// to sums[i] for each of the RM rows; with kNorm, the input is multiplied by the RMSNorm weight as it
// is read and its squares are added to `squares` (the row's scale is applied when the row finishes).
template <WeightKind K, bool kNorm, int RM>
__device__ __forceinline__ void add_position(const float (&v)[RM][kPerLoad<K>], const float2* scale, const float* x,
                                             const float* norm, int c, float (&sums)[RM], float& squares) {
  constexpr int P = kPerLoad<K>;
  const float4* xs = reinterpret_cast<const float4*>(x + c * P);
  const float4* ns = kNorm ? reinterpret_cast<const float4*>(norm + c * P) : nullptr;
  // Sums over the load's first and second half (q6_k scales each half), and of the input (q4_k's mins).
  float first_half[RM] = {}, second_half[RM] = {}, input_sum = 0.0f;
#pragma unroll
  for (int q = 0; q < P / 4; ++q) {
    float4 xv = xs[q];
    if constexpr (kNorm) {
      squares += xv.x * xv.x + xv.y * xv.y + xv.z * xv.z + xv.w * xv.w;
      const float4 nv = ns[q];
      xv = make_float4(xv.x * nv.x, xv.y * nv.y, xv.z * nv.z, xv.w * nv.w);
    }
    if constexpr (K == WeightKind::q4_k) input_sum += xv.x + xv.y + xv.z + xv.w;
#pragma unroll
    for (int i = 0; i < RM; ++i) {
      const float d = v[i][4 * q] * xv.x + v[i][4 * q + 1] * xv.y + v[i][4 * q + 2] * xv.z + v[i][4 * q + 3] * xv.w;
      if (q < P / 8) first_half[i] += d; else second_half[i] += d;
    }
  }
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    if constexpr (K == WeightKind::q6_k) {
      sums[i] += scale[i].x * first_half[i] + scale[i].y * second_half[i];
    } else if constexpr (K == WeightKind::q4_k) {
      sums[i] += scale[i].x * (first_half[i] + second_half[i]) - scale[i].y * input_sum;
    } else if constexpr (kQuantized<K>) {
      sums[i] += scale[i].x * (first_half[i] + second_half[i]);
    } else {
      sums[i] += first_half[i] + second_half[i];
    }
  }
}

// One token's input of a GEMV over quantized weights as each block rebuilds it in shared memory once
// the input is ready: multiplied by the RMSNorm weight when normalising (the 1/rms factor is
// applied by finish_row, as for the float input), then quantized per 32 values to one scale and 16-bit
// codes spanning +-32767 of their largest magnitude, as the CPU's quantized_input.hpp does (each value
// off by at most 1/65534 of that magnitude; 8-bit codes, tried first, moved a small model's logits by
// 1.5%). A load position's products are then integer: __dp2a (two 16-bit codes by two weight codes,
// exact in int32) on 32 or 64 bytes of shared memory, where the float input costs a conversion and a
// multiply-add per weight and 4 bytes of L1 per weight (8 with the norm weight): at 4 to 8 bits per
// weight those reads, not HBM, bounded the float path.
struct CodedInput {
  // cols int16 codes, 8 per uint4, by load position: the q-th 8 codes of position c (values
  // c * P + 8q ..) at codes[q * positions + c], so that lanes reading consecutive positions read
  // consecutive 16 bytes (in element order, the 32 or 64 bytes between lanes put 4 lanes of each
  // 8-lane phase on the same banks)
  const uint4* codes;
  int positions;         // cols / P
  const float2* blocks;  // per 32 values: (scale d, the sum of their codes); value = d * code
  float squares;         // the float input's sum of squares, for the RMSNorm scale
};

// Shared memory the coded input of `cols` values takes: the codes, then the block terms, rounded up
// to 16 bytes so that a second token's input stays aligned.
__host__ __device__ constexpr std::size_t coded_input_bytes(int cols) {
  return (static_cast<std::size_t>(cols) * 2 + static_cast<std::size_t>(cols) / 4 + 15) / 16 * 16;
}
constexpr float kInputCodeMax = 32767.0f;
// Most tokens a coded-input GEMV takes (kMatvecMaxTokens: larger steps go to cuBLAS).
constexpr int kMaxCodedTokens = 4;

// Builds the block's CodedInput of each of the step's n tokens (n <= NT) for loads of P values (16 or
// 32) in `shared` (NT * coded_input_bytes(cols), 16-byte aligned): each thread codes 8 consecutive
// values per pass and the 4 threads of a 32-value block agree on its scale and sum by shuffles.
// Every thread of the block must call it (it ends in a barrier). Needs cols % 32 == 0.
// (Copying the whole input into shared memory first with cp.async, so that the passes read shared
// memory rather than L2, measured slower on an H100: Q8_0 1,178 against 1,268 tokens/s.)
template <bool kNorm, int P, int NT>
__device__ __forceinline__ void code_input(const MatvecInput& in, int cols, int n, unsigned char* shared,
                                           CodedInput (&coded)[NT]) {
  const auto* ns = reinterpret_cast<const float4*>(in.norm);
  __shared__ float warp_squares[NT][1024 / kWarp];
  const int groups = cols / 8;
  float squares[NT] = {};
#pragma unroll
  for (int b = 0; b < NT; ++b) {
    if (b >= n) break;
    const auto* xs = reinterpret_cast<const float4*>(in.x + static_cast<std::size_t>(b) * cols);
    unsigned char* token_shared = shared + static_cast<std::size_t>(b) * coded_input_bytes(cols);
    auto* codes = reinterpret_cast<uint4*>(token_shared);
    auto* blocks = reinterpret_cast<float2*>(token_shared + 2 * static_cast<std::size_t>(cols));
    coded[b] = {codes, cols / P, blocks, 0.0f};
    for (int first = 0; first < groups; first += static_cast<int>(blockDim.x)) {  // the same passes for every thread
      const int g = first + static_cast<int>(threadIdx.x);
      const bool valid = g < groups;  // whole 32-value blocks are in or out together
      float v[8] = {};
      if (valid) {
        const float4 x0 = xs[2 * g], x1 = xs[2 * g + 1];
        v[0] = x0.x; v[1] = x0.y; v[2] = x0.z; v[3] = x0.w; v[4] = x1.x; v[5] = x1.y; v[6] = x1.z; v[7] = x1.w;
        if constexpr (kNorm) {
          const float4 na = ns[2 * g], nb = ns[2 * g + 1];
          const float norm[8] = {na.x, na.y, na.z, na.w, nb.x, nb.y, nb.z, nb.w};
#pragma unroll
          for (int j = 0; j < 8; ++j) {
            squares[b] += v[j] * v[j];
            v[j] *= norm[j];
          }
        }
      }
      float amax = 0.0f;
#pragma unroll
      for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(v[j]));
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
      const float inverse = amax > 0.0f ? kInputCodeMax / amax : 0.0f;
      unsigned packed[4] = {0u, 0u, 0u, 0u};
      int sum = 0;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int q = __float2int_rn(v[j] * inverse);
        sum += q;
        packed[j / 2] |= (static_cast<unsigned>(q) & 0xffffu) << (16 * (j % 2));
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      if (valid) {
        codes[g % (P / 8) * (cols / P) + g / (P / 8)] = make_uint4(packed[0], packed[1], packed[2], packed[3]);
        if (threadIdx.x % 4 == 0) blocks[g / 4] = make_float2(amax / kInputCodeMax, static_cast<float>(sum));
      }
    }
    if constexpr (kNorm) {
      squares[b] = warp_sum(squares[b]);
      if (threadIdx.x % kWarp == 0) warp_squares[b][threadIdx.x / kWarp] = squares[b];
    }
  }
  __syncthreads();
  if constexpr (kNorm)
#pragma unroll
    for (int b = 0; b < NT; ++b) {
      if (b >= n) break;
      for (int w = 0; w < static_cast<int>(blockDim.x) / kWarp; ++w) coded[b].squares += warp_squares[b][w];
    }
}

// The 4-bit codes of one 32-bit word of a load as signed bytes: elements 4k..4k+3 (low nibbles) in
// `first`, 16+4k.. (high nibbles) in `second`. q4_0 and q4_k give the codes 0..15 (q4_0's bias of 8
// is taken off through the input's block sum); q6_k adds the high bits from `high` and gives
// code - 32, sign-extended: with the high pair's top bit flipped the 6-bit value is code - 32 in
// two's complement, and bit 5 copied into bits 6 and 7 (times 6) extends it.
template <WeightKind K>
__device__ __forceinline__ void nibble_codes(unsigned word, const uint2& high, int k, int& first, int& second) {
  unsigned low = word & 0x0f0f0f0fu, upper = (word >> 4) & 0x0f0f0f0fu;
  if constexpr (K == WeightKind::q6_k) {
    low |= q6_k_spread(((high.x ^ 0xaaaaaaaau) >> (8 * k)) & 0xffu) << 4;
    upper |= q6_k_spread(((high.y ^ 0xaaaaaaaau) >> (8 * k)) & 0xffu) << 4;
    low |= (low & 0x20202020u) * 6u;
    upper |= (upper & 0x20202020u) * 6u;
  }
  first = static_cast<int>(low);
  second = static_cast<int>(upper);
}

// The dot product of four signed weight bytes with four 16-bit input codes (two per word), added to dot.
__device__ __forceinline__ int dot4(int weights, int codes01, int codes23, int dot) {
  return __dp2a_hi(codes23, weights, __dp2a_lo(codes01, weights, dot));
}

// The input words (two 16-bit codes each) of load position c of a coded input: 8 for a Q8_0 load's 16
// values, 16 for the 32 of the other kinds.
template <WeightKind K>
constexpr int kCodedWords = K == WeightKind::q8_0 ? 8 : 16;
template <WeightKind K>
__device__ __forceinline__ void coded_words(const CodedInput& x, int c, int (&xw)[kCodedWords<K>]) {
#pragma unroll
  for (int q = 0; q < kCodedWords<K> / 4; ++q) {
    const uint4 v = x.codes[q * x.positions + c];
    xw[4 * q] = static_cast<int>(v.x);
    xw[4 * q + 1] = static_cast<int>(v.y);
    xw[4 * q + 2] = static_cast<int>(v.z);
    xw[4 * q + 3] = static_cast<int>(v.w);
  }
}

// The products of load position c of RM rows with each token's coded input, scale terms applied,
// added to acc[i][b] (see add_position for the float input). Each row's codes are unpacked once for
// all tokens.
template <WeightKind K, int RM, int NT>
__device__ __forceinline__ void add_position_coded(const uint4 (&raw)[RM], const uint2* high, const float2* scale,
                                                   const CodedInput (&x)[NT], int n, int c, float (&acc)[RM][NT]) {
  int xw[NT][kCodedWords<K>];
  float2 block[NT];
#pragma unroll
  for (int b = 0; b < NT; ++b) {
    if (b >= n) break;
    coded_words<K>(x[b], c, xw[b]);
    block[b] = x[b].blocks[K == WeightKind::q8_0 ? c / 2 : c];  // a Q8_0 load is half of a 32-value block
  }
#pragma unroll
  for (int i = 0; i < RM; ++i) {
    const unsigned words[4] = {raw[i].x, raw[i].y, raw[i].z, raw[i].w};
    if constexpr (K == WeightKind::q8_0) {
#pragma unroll
      for (int b = 0; b < NT; ++b) {
        if (b >= n) break;
        int dot = 0;
#pragma unroll
        for (int k = 0; k < 4; ++k) dot = dot4(static_cast<int>(words[k]), xw[b][2 * k], xw[b][2 * k + 1], dot);
        acc[i][b] += scale[i].x * block[b].x * static_cast<float>(dot);
      }
    } else {
      int codes_first[4], codes_second[4];
#pragma unroll
      for (int k = 0; k < 4; ++k)
        nibble_codes<K>(words[k], K == WeightKind::q6_k ? high[i] : uint2{}, k, codes_first[k], codes_second[k]);
#pragma unroll
      for (int b = 0; b < NT; ++b) {
        if (b >= n) break;
        int first = 0, second = 0;  // elements 0-15 and 16-31
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          first = dot4(codes_first[k], xw[b][2 * k], xw[b][2 * k + 1], first);
          second = dot4(codes_second[k], xw[b][8 + 2 * k], xw[b][9 + 2 * k], second);
        }
        if constexpr (K == WeightKind::q6_k) {
          acc[i][b] += block[b].x * (scale[i].x * static_cast<float>(first) + scale[i].y * static_cast<float>(second));
        } else if constexpr (K == WeightKind::q4_k) {
          acc[i][b] += block[b].x * (scale[i].x * static_cast<float>(first + second) - scale[i].y * block[b].y);
        } else {  // q4_0: codes 0..15 with a bias of 8, exact in integers
          acc[i][b] += scale[i].x * block[b].x * static_cast<float>(first + second - 8 * static_cast<int>(block[b].y));
        }
      }
    }
  }
}

// Walks a lane's load positions begin + lane, + 32, ... (< end) in rounds of U: the first round was
// fetched before the call; each later one is fetched, then body(u, c) runs for each of its positions.
template <int U, typename Fetch, typename Body>
__device__ __forceinline__ void walk_positions(int begin, int end, int lane, Fetch&& fetch, Body&& body) {
  for (int first = begin + lane; first < end; first += kWarp * U) {
    if (first != begin + lane) fetch(first);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = first + u * kWarp;
      if (c >= end) break;
      body(u, c);
    }
  }
}

// Each warp computes R consecutive rows of one target (R = 1, 2 or 4; with a GLU pair, both matrices
// of each row), or a contiguous share of one row when rows are long (`split` warps per row, 2 or 4,
// meeting in shared memory). Each lane issues its 16-byte loads of all of them before using the
// first, kLoadsInFlight per lane, so that enough bytes are in flight to keep HBM busy; the first
// loads are issued before waiting for the previous kernel, since weights do not depend on it. The
// input is read once per load position and used for all R x M rows. Weights are streamed past the
// caches (read once per step); activations stay cached. Up to NT tokens (n_tokens <= NT).
// Needs cols % kPerLoad<K> == 0, 16-byte aligned rows and input rows, and every target's rows % R == 0.
// Its constants follow.

// 16-byte loads each lane keeps in flight: 16, or 8 for 4-bit codes, whose decoding needs the
// registers (their rows are also a quarter as long in loads). Measured on an H100 (llama-3.2-1b,
// batch 1): 8 instead of 16 took Q4_0 from 591 to 840 tokens/s, Q4_K from 556 to 732, Q6_K from 559
// to 706; capping registers instead (launch bounds of 4 blocks per SM) spilled and was slower.
template <WeightKind K>
constexpr int kLoadsInFlight = kPerLoad<K> == 32 ? 8 : 16;
// With the coded input (no float decoding) every encoding keeps 16 for one token; 8 for two, whose
// input words and sums take the registers (16 spilled a kilobyte per thread for the GLU's 4 rows),
// and for Q6_K, whose high-bit loads do (H100, llama-3.2-1b batch 1: 1,021 -> 1,220 tokens/s); 4 for
// three or four tokens.
template <WeightKind K, int NT>
constexpr int kCodedLoadsInFlight = NT == 1 && K != WeightKind::q6_k ? 16 : NT <= 2 ? 8 : 4;
constexpr unsigned kMatvecThreads = 128;
constexpr int kMatvecWarps = kMatvecThreads / kWarp;

// Most rows per warp (the decoded values of a load position are consumed as the input is read, so
// the compiler need not hold all of them at once).
constexpr int kMaxRowsPerWarp = 4;

template <WeightKind K, int NT, bool kNorm, bool kGlu, int R>
__global__ void __launch_bounds__(kMatvecThreads) matvec_kernel(MatvecJob job) {
  constexpr int P = kPerLoad<K>;
  constexpr int M = kGlu ? 2 : 1;  // matrices per row: W, and the GLU's up projection
  constexpr int RM = R * M;
  constexpr int U = kLoadsInFlight<K> / RM;  // load positions per lane in flight
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int global_warp = blockIdx.x * kMatvecWarps + warp;
  const int first_slot = global_warp / job.split * R;
  const int part = global_warp % job.split;
  const bool active = first_slot < job.first_row[job.count];
  const int t = target_of(job, first_slot);
  const MatvecTarget target = pick_target(job, t);
  const int row0 = first_slot - job.first_row[t];
  const int cols = target.w.cols;
  const int row_loads = cols / P;
  const int share = (row_loads + job.split - 1) / job.split;
  const int begin = active ? part * share : 0;
  const int end = active ? min(row_loads, begin + share) : 0;
  const uint4* rows[RM];
  row_pointers<M>(target, row0, rows);
  constexpr bool kHigh = K == WeightKind::q6_k;  // a second, 8-byte load per position
  uint4 raw[U][RM];
  uint2 high[kHigh ? U : 1][kHigh ? RM : 1];
  float2 scale[kQuantized<K> ? U : 1][kQuantized<K> ? RM : 1];
  const auto fetch = [&](int first) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = first + u * kWarp;
      if (c < end) fetch_position<K, M>(rows, target, row0, c, raw[u], high[kHigh ? u : 0], scale[kQuantized<K> ? u : 0]);
    }
  };
  fetch(begin + lane);
  wait_for_previous_kernel();
  let_next_kernel_launch();

  const int n = job.n_tokens;
  float acc[RM][NT] = {}, squares[NT] = {};
  walk_positions<U>(begin, end, lane, fetch, [&](int u, int c) {
    float v[RM][P];
#pragma unroll
    for (int i = 0; i < RM; ++i) decode_load<K>(raw[u][i], kHigh ? high[kHigh ? u : 0][kHigh ? i : 0] : uint2{}, v[i]);
#pragma unroll
    for (int b = 0; b < NT; ++b) {
      if (b >= n) break;
      float sums[RM] = {};
      add_position<K, kNorm>(v, scale[kQuantized<K> ? u : 0], job.in.x + static_cast<std::size_t>(b) * cols, job.in.norm,
                             c, sums, squares[b]);
#pragma unroll
      for (int i = 0; i < RM; ++i) acc[i][b] += sums[i];
    }
  });

  // Warp sums; with a split row, the shares meet in shared memory.
  __shared__ float partial[kMatvecWarps][RM + 1][NT];
#pragma unroll
  for (int b = 0; b < NT; ++b) {
    if (b >= n) break;
#pragma unroll
    for (int i = 0; i < RM; ++i) acc[i][b] = warp_sum(acc[i][b]);
    if constexpr (kNorm) squares[b] = warp_sum(squares[b]);
    if (job.split > 1 && lane == 0) {
#pragma unroll
      for (int i = 0; i < RM; ++i) partial[warp][i][b] = acc[i][b];
      partial[warp][RM][b] = squares[b];
    }
  }
  if (job.split > 1) {
    __syncthreads();
    if (part != 0) return;
#pragma unroll
    for (int b = 0; b < NT; ++b) {
      if (b >= n) break;
      for (int other = 1; other < job.split; ++other) {
#pragma unroll
        for (int i = 0; i < RM; ++i) acc[i][b] += partial[warp + other][i][b];
        squares[b] += partial[warp + other][RM][b];
      }
    }
  }
  if (!active || lane != 0) return;
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int b = 0; b < NT; ++b) {
      if (b >= n) break;
      finish_row<kNorm, kGlu>(target, job.in, cols, row0 + r, b, acc[r * M][b], kGlu ? acc[r * M + M - 1][b] : 0.0f,
                              squares[b]);
    }
}

// The GEMV of quantized weights for steps of up to kMaxCodedTokens tokens (n_tokens <= NT): as
// matvec_kernel, but the block first codes each token's input in 16-bit integers (code_input, dynamic
// shared memory of NT * coded_input_bytes(cols)) and each position's products are integer; and since
// coding costs each block a pass over the input, the grid may be smaller than the rows need: each
// block then takes row groups base, base + grid, ... (the same count for all of its warps), coding once.
template <WeightKind K, int NT, bool kNorm, bool kGlu, int R>
__global__ void __launch_bounds__(kMatvecThreads) matvec_coded_kernel(MatvecJob job) {
  static_assert(kQuantized<K> && NT <= kMaxCodedTokens);
  constexpr int P = kPerLoad<K>;
  constexpr int M = kGlu ? 2 : 1;  // matrices per row: W, and the GLU's up projection
  constexpr int RM = R * M;
  constexpr int U = kCodedLoadsInFlight<K, NT> / RM;  // load positions per lane in flight
  constexpr bool kHigh = K == WeightKind::q6_k;  // a second, 8-byte load per position
  const int warp = threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int cols = job.targets[0].w.cols;
  const int row_loads = cols / P;
  const int share = (row_loads + job.split - 1) / job.split;
  const int warp_jobs = job.first_row[job.count] / R * job.split;  // row groups times their parts
  const int grid_warps = static_cast<int>(gridDim.x) * kMatvecWarps;
  extern __shared__ uint4 matvec_shared[];
  unsigned char* shared = reinterpret_cast<unsigned char*>(matvec_shared);
  const int n = NT == 1 ? 1 : job.n_tokens;  // a constant where it can be, so single-token steps test nothing
  CodedInput coded[NT] = {};
  __shared__ float partial[kMatvecWarps][RM][NT];

  for (int base = static_cast<int>(blockIdx.x) * kMatvecWarps; base < warp_jobs; base += grid_warps) {
    const int global_warp = base + warp;
    const int first_slot = global_warp / job.split * R;
    const int part = global_warp % job.split;
    const bool active = global_warp < warp_jobs;
    const int t = target_of(job, first_slot);
    const MatvecTarget target = pick_target(job, t);
    const int row0 = first_slot - job.first_row[t];
    const int begin = active ? part * share : 0;
    const int end = active ? min(row_loads, begin + share) : 0;
    const uint4* rows[RM];
    row_pointers<M>(target, row0, rows);
    uint4 raw[U][RM];
    uint2 high[kHigh ? U : 1][kHigh ? RM : 1];
    float2 scale[U][RM];
    const auto fetch = [&](int first) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int c = first + u * kWarp;
        if (c < end) fetch_position<K, M>(rows, target, row0, c, raw[u], high[kHigh ? u : 0], scale[u]);
      }
    };
    fetch(begin + lane);
    if (base == static_cast<int>(blockIdx.x) * kMatvecWarps) {  // the block's first row groups
      wait_for_previous_kernel();
      let_next_kernel_launch();
      code_input<kNorm, P>(job.in, cols, n, shared, coded);
    }
    float acc[RM][NT] = {};
    walk_positions<U>(begin, end, lane, fetch,
                      [&](int u, int c) { add_position_coded<K>(raw[u], high[kHigh ? u : 0], scale[u], coded, n, c, acc); });

    // Warp sums; with a split row, the shares meet in shared memory.
#pragma unroll
    for (int i = 0; i < RM; ++i)
#pragma unroll
      for (int b = 0; b < NT; ++b) acc[i][b] = warp_sum(acc[i][b]);
    bool owner = true;  // the warp that finishes the rows
    if (job.split > 1) {
      if (lane == 0)
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
          for (int b = 0; b < NT; ++b) partial[warp][i][b] = acc[i][b];
      __syncthreads();
      owner = part == 0;
      for (int other = 1; owner && other < job.split; ++other)
#pragma unroll
        for (int i = 0; i < RM; ++i)
#pragma unroll
          for (int b = 0; b < NT; ++b) acc[i][b] += partial[warp + other][i][b];
      if (base + grid_warps < warp_jobs) __syncthreads();  // the next row groups rewrite partial
    }
    if (!owner || !active || lane != 0) continue;
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int b = 0; b < NT; ++b) {
        if (b >= n) break;
        finish_row<kNorm, kGlu>(target, job.in, cols, row0 + r, b, acc[r * M][b], acc[r * M + M - 1][b], coded[b].squares);
      }
  }
}

// The single-token GEMV as a stream, for matrices whose one-shot grid (matvec_kernel: each warp
// issues all of its loads, waits for them, computes and leaves) would end in a thin second wave that
// leaves most SMs idle. Here the grid is one wave; each warp takes a contiguous range of row slots
// and walks it in stages of kStreamStageLoads 16-byte loads per lane, two stages in registers, so the
// next stage's loads are in flight while the current one is multiplied. The first stage is fetched
// before waiting for the previous kernel. On an H100 (llama-3.2-1b, Q8_0, batch 1) the down
// projection, 512 one-shot blocks of which 396 fit at once, went from 19.4 to 13.2 us on the step's
// critical path; where the one-shot grid fits one wave or fills its last, streaming measured no gain.
constexpr int kStreamStageLoads = 8;  // per lane, over all M matrices of a row

template <WeightKind K, int M>
struct StreamStage {
  static constexpr int U = kStreamStageLoads / M;  // load positions per lane
  static constexpr bool kHigh = K == WeightKind::q6_k;
  uint4 raw[U][M];
  uint2 high[kHigh ? U : 1][kHigh ? M : 1];
  float2 scale[kQuantized<K> ? U : 1][kQuantized<K> ? M : 1];
  int slot;   // row slot; -1 past the warp's range
  int first;  // the stage's first load position, before the lane offset
  bool last;  // the stage ends its row
};

template <WeightKind K, bool kNorm, bool kGlu>
__global__ void __launch_bounds__(kMatvecThreads) matvec_stream_kernel(MatvecJob job) {
  constexpr int P = kPerLoad<K>;
  constexpr int M = kGlu ? 2 : 1;
  using Stage = StreamStage<K, M>;
  constexpr int U = Stage::U;
  constexpr bool kHigh = Stage::kHigh;
  const int lane = threadIdx.x % kWarp;
  const int warps = static_cast<int>(gridDim.x) * kMatvecWarps;
  const int warp = static_cast<int>(blockIdx.x) * kMatvecWarps + static_cast<int>(threadIdx.x) / kWarp;
  const int total_rows = job.first_row[job.count];
  const int slot_end = static_cast<int>(static_cast<long long>(total_rows) * (warp + 1) / warps);
  const int cols = job.targets[0].w.cols;
  const int row_loads = cols / P;
  int next_slot = static_cast<int>(static_cast<long long>(total_rows) * warp / warps);
  int next_first = 0;

  const auto fetch = [&](Stage& stage) {
    stage.slot = next_slot < slot_end ? next_slot : -1;
    if (stage.slot < 0) return;
    stage.first = next_first;
    next_first += U * kWarp;
    stage.last = next_first >= row_loads;
    if (stage.last) {
      next_first = 0;
      ++next_slot;
    }
    const int t = target_of(job, stage.slot);
    const MatvecTarget target = pick_target(job, t);
    const int row = stage.slot - job.first_row[t];
    const uint4* rows[M];
    row_pointers<M>(target, row, rows);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = stage.first + lane + u * kWarp;
      if (c < row_loads)
        fetch_position<K, M>(rows, target, row, c, stage.raw[u], stage.high[kHigh ? u : 0], stage.scale[kQuantized<K> ? u : 0]);
    }
  };

  float acc[M] = {}, squares = 0.0f;
  const auto consume = [&](const Stage& stage) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = stage.first + lane + u * kWarp;
      if (c >= row_loads) break;
      float v[M][P];
#pragma unroll
      for (int m = 0; m < M; ++m)
        decode_load<K>(stage.raw[u][m], kHigh ? stage.high[kHigh ? u : 0][kHigh ? m : 0] : uint2{}, v[m]);
      add_position<K, kNorm>(v, stage.scale[kQuantized<K> ? u : 0], job.in.x, job.in.norm, c, acc, squares);
    }
    if (!stage.last) return;
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] = warp_sum(acc[m]);
    if constexpr (kNorm) squares = warp_sum(squares);
    if (lane == 0) {
      const int t = target_of(job, stage.slot);
      finish_row<kNorm, kGlu>(pick_target(job, t), job.in, cols, stage.slot - job.first_row[t], 0, acc[0], acc[M - 1],
                              squares);
    }
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] = 0.0f;
    squares = 0.0f;
  };

  Stage a, b;
  fetch(a);
  wait_for_previous_kernel();
  let_next_kernel_launch();
  while (a.slot >= 0) {
    fetch(b);
    consume(a);
    if (b.slot < 0) break;
    fetch(a);
    consume(b);
  }
}

// The same product element by element, for shapes the 16-byte loads do not fit (tiny test models).
template <WeightKind K>
__global__ void matvec_scalar_kernel(MatvecJob job) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  const int row_slot = static_cast<int>((static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp);
  const int lane = threadIdx.x % kWarp;
  if (row_slot >= job.first_row[job.count]) return;
  const int t = target_of(job, row_slot);
  const MatvecTarget target = pick_target(job, t);
  const int row = row_slot - job.first_row[t];
  const int cols = target.w.cols;
  const bool norm = job.in.norm != nullptr;
  const bool glu = target.glu.data != nullptr;
  for (int b = 0; b < job.n_tokens; ++b) {
    float dot = 0.0f, glu_dot = 0.0f, squares = 0.0f;
    for (int i = lane; i < cols; i += kWarp) {
      float xv = job.in.x[static_cast<std::size_t>(b) * cols + i];
      if (norm) {
        squares += xv * xv;
        xv *= job.in.norm[i];
      }
      dot += weight_at<K>(target.w, row, i) * xv;
      if (glu) glu_dot += weight_at<K>(target.glu, row, i) * xv;
    }
    dot = warp_sum(dot);
    glu_dot = warp_sum(glu_dot);
    squares = warp_sum(squares);
    if (lane == 0) {
      if (norm && glu) finish_row<true, true>(target, job.in, cols, row, b, dot, glu_dot, squares);
      else if (norm) finish_row<true, false>(target, job.in, cols, row, b, dot, glu_dot, squares);
      else if (glu) finish_row<false, true>(target, job.in, cols, row, b, dot, glu_dot, squares);
      else finish_row<false, false>(target, job.in, cols, row, b, dot, glu_dot, squares);
    }
  }
}

template <WeightKind K, bool kNorm, bool kGlu, int R>
void launch_matvec_rows(const MatvecJob& job, unsigned blocks, cudaStream_t stream) {
  if (job.n_tokens == 1) {
    launch(matvec_kernel<K, 1, kNorm, kGlu, R>, blocks, kMatvecThreads, stream, job);
  } else if (job.n_tokens == 2) {
    launch(matvec_kernel<K, 2, kNorm, kGlu, R>, blocks, kMatvecThreads, stream, job);
  } else {
    launch(matvec_kernel<K, kMatvecMaxTokens, kNorm, kGlu, R>, blocks, kMatvecThreads, stream, job);
  }
}

// Blocks of `kernel` resident on the whole GPU at once (at least one per SM), each with
// `shared_bytes` of dynamic shared memory.
template <typename Kernel>
unsigned blocks_per_wave(Kernel kernel, std::size_t shared_bytes = 0) {
  int device = 0, sms = 0, per_sm = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kMatvecThreads, shared_bytes);
  return static_cast<unsigned>(std::max(1, sms) * std::max(1, per_sm));
}

// Whether a grid of `blocks` runs as one full wave and a second wave less than half full.
template <typename Kernel>
bool thin_second_wave(Kernel kernel, unsigned blocks, std::size_t shared_bytes = 0) {
  const unsigned wave = blocks_per_wave(kernel, shared_bytes);
  return blocks > wave && blocks - wave < wave / 2;
}

// One wave of matvec_stream_kernel (fewer blocks when there are fewer rows than its warps).
template <WeightKind K, bool kNorm, bool kGlu>
void launch_matvec_stream(MatvecJob& job, cudaStream_t stream) {
  const unsigned wave = blocks_per_wave(matvec_stream_kernel<K, kNorm, kGlu>);
  const unsigned needed = blocks_for(static_cast<std::size_t>(job.first_row[job.count]), kMatvecWarps);
  job.split = 1;
  launch(matvec_stream_kernel<K, kNorm, kGlu>, std::min(wave, needed), kMatvecThreads, stream, job);
}

// Rows per warp and row splits of matvec_kernel: as many rows per warp as fill `loads_in_flight`
// loads per lane with whole rows, else whole rows one per warp, else each row split over 2 or 4
// warps (job.split); returns the rows per warp and sets the job's split.
int plan_rows(MatvecJob& job, const MatvecTarget* targets, int per_load, int matrices, int loads_in_flight) {
  const int lane_loads = (targets[0].w.cols / per_load + kWarp - 1) / kWarp;
  int rows_per_warp = 1;
  const auto rows_divide = [&](int r) {
    for (int i = 0; i < job.count; ++i)
      if (targets[i].w.rows % r != 0) return false;
    return true;
  };
  while (rows_per_warp < kMaxRowsPerWarp && 2 * rows_per_warp * matrices * lane_loads <= loads_in_flight &&
         rows_divide(2 * rows_per_warp))
    rows_per_warp *= 2;
  job.split = 1;
  while (job.split < kMatvecWarps && matrices * ((lane_loads + job.split - 1) / job.split) > loads_in_flight)
    job.split *= 2;
  return rows_per_warp;
}

unsigned matvec_blocks(const MatvecJob& job, int rows_per_warp) {
  return blocks_for(static_cast<std::size_t>(job.first_row[job.count] / rows_per_warp) * job.split, kMatvecWarps);
}

// Dynamic shared memory a block may have on the current GPU (raising the 48 KiB default).
std::size_t shared_memory_limit() {
  int device = 0, limit = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  return static_cast<std::size_t>(limit);
}

// One launch of the coded-input kernel with R rows per warp: a grid of as few waves as the row
// groups need, shrunk so that every block takes the same number of them (a thin last wave would
// leave most SMs idle while it runs).
template <WeightKind K, int NT, bool kNorm, bool kGlu, int R>
void launch_coded_rows(const MatvecJob& job, unsigned blocks, cudaStream_t stream) {
  const auto kernel = matvec_coded_kernel<K, NT, kNorm, kGlu, R>;
  const std::size_t shared = NT * coded_input_bytes(job.targets[0].w.cols);
  if (shared > 48 * 1024) cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
  const unsigned wave = blocks_per_wave(kernel, shared);
  const unsigned passes = (blocks + wave - 1) / wave;
  launch_with_shared(kernel, (blocks + passes - 1) / passes, kMatvecThreads, shared, stream, job);
}

// A GEMV of quantized weights against the coded input (matvec_coded_kernel) for up to NT tokens.
template <WeightKind K, int NT, bool kNorm, bool kGlu>
void launch_matvec_coded(MatvecJob& job, const MatvecTarget* targets, cudaStream_t stream) {
  constexpr int kLoads = kCodedLoadsInFlight<K, NT>;
  constexpr int M = kGlu ? 2 : 1;
  const int rows_per_warp = plan_rows(job, targets, kPerLoad<K>, M, kLoads);
  const unsigned blocks = matvec_blocks(job, rows_per_warp);
  static_assert(kMaxRowsPerWarp == 4 && M <= kLoads);
  if constexpr (4 * M <= kLoads) {  // plan_rows never asks for more rows than the loads hold
    if (rows_per_warp == 4) return launch_coded_rows<K, NT, kNorm, kGlu, 4>(job, blocks, stream);
  }
  if constexpr (2 * M <= kLoads) {
    if (rows_per_warp == 2) return launch_coded_rows<K, NT, kNorm, kGlu, 2>(job, blocks, stream);
  }
  launch_coded_rows<K, NT, kNorm, kGlu, 1>(job, blocks, stream);
}

template <WeightKind K, bool kNorm, bool kGlu>
void launch_matvec_fast(MatvecJob& job, const MatvecTarget* targets, cudaStream_t stream, MatvecChoice choice) {
  if (job.n_tokens == 1 && choice.stream_always) {
    launch_matvec_stream<K, kNorm, kGlu>(job, stream);
    return;
  }
  if constexpr (kQuantized<K>) {
    if (job.n_tokens <= kMaxCodedTokens && !choice.float_input &&
        job.n_tokens * coded_input_bytes(targets[0].w.cols) <= shared_memory_limit()) {
      static_assert(kMaxCodedTokens == 4);
      if (job.n_tokens == 1) launch_matvec_coded<K, 1, kNorm, kGlu>(job, targets, stream);
      else if (job.n_tokens == 2) launch_matvec_coded<K, 2, kNorm, kGlu>(job, targets, stream);
      else launch_matvec_coded<K, 4, kNorm, kGlu>(job, targets, stream);
      return;
    }
  }
  const int rows_per_warp = plan_rows(job, targets, kPerLoad<K>, kGlu ? 2 : 1, kLoadsInFlight<K>);
  const unsigned blocks = matvec_blocks(job, rows_per_warp);
  static_assert(kMaxRowsPerWarp == 4);
  if (rows_per_warp == 4) {
    launch_matvec_rows<K, kNorm, kGlu, 4>(job, blocks, stream);
  } else if (rows_per_warp == 2) {
    launch_matvec_rows<K, kNorm, kGlu, 2>(job, blocks, stream);
  } else if (job.n_tokens == 1 && thin_second_wave(matvec_kernel<K, 1, kNorm, kGlu, 1>, blocks)) {
    launch_matvec_stream<K, kNorm, kGlu>(job, stream);
  } else {
    launch_matvec_rows<K, kNorm, kGlu, 1>(job, blocks, stream);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

void launch_matvec(const MatvecTarget* targets, int count, const MatvecInput& in, int n_tokens, cudaStream_t stream,
                   MatvecChoice choice) {
  if (n_tokens <= 0 || count <= 0) return;
  // Targets of different encodings, or GLU pairs mixed with plain ones, go in separate launches.
  for (int i = 1; i < count; ++i)
    if (targets[i].w.kind != targets[0].w.kind || (targets[i].glu.data != nullptr) != (targets[0].glu.data != nullptr) ||
        (targets[i].glu.data != nullptr && targets[i].glu.kind != targets[0].glu.kind)) {
      for (int j = 0; j < count; ++j) launch_matvec(targets + j, 1, in, n_tokens, stream, choice);
      return;
    }
  MatvecJob job{};
  job.count = count;
  job.in = in;
  job.n_tokens = n_tokens;
  bool aligned = aligned16(in.x) && (in.norm == nullptr || aligned16(in.norm));
  for (int i = 0; i < count; ++i) {
    job.targets[i] = targets[i];
    job.first_row[i + 1] = job.first_row[i] + targets[i].w.rows;
    const DeviceMatrix& w = targets[i].w;
    aligned = aligned && w.row_bytes % 16 == 0 && aligned16(w.data) && w.cols % 4 == 0 &&
              (targets[i].glu.data == nullptr || (targets[i].glu.row_bytes % 16 == 0 && aligned16(targets[i].glu.data)));
  }
  const bool glu = targets[0].glu.data != nullptr;
  const int rows = job.first_row[count];
  dispatch_kind(targets[0].w.kind, [&](auto tag) {
    constexpr WeightKind K = decltype(tag)::value;
    if (!aligned || targets[0].w.cols % kPerLoad<K> != 0 || n_tokens > kMatvecMaxTokens) {
      job.split = 1;
      launch(matvec_scalar_kernel<K>, blocks_for(static_cast<std::size_t>(rows) * kWarp, kMatvecThreads),
             kMatvecThreads, stream, job);
      return;
    }
    if (glu) {
      if (in.norm != nullptr) launch_matvec_fast<K, true, true>(job, targets, stream, choice);
      else launch_matvec_fast<K, false, true>(job, targets, stream, choice);
    } else if (in.norm != nullptr) {
      launch_matvec_fast<K, true, false>(job, targets, stream, choice);
    } else {
      launch_matvec_fast<K, false, false>(job, targets, stream, choice);
    }
  });
}

}  // namespace sovereign::accel::cuda
