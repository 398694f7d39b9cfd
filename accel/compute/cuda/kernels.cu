// CUDA kernels of the forward pass. Each op: a templated __global__ kernel, then its launcher.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cfloat>
#include <cstdint>
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

__device__ __forceinline__ float half_bits(std::uint16_t bits) { return __half2float(__ushort_as_half(bits)); }

template <WeightKind K>
constexpr bool kQuantized = K >= WeightKind::q8_0;

// The 2-bit high part of element j (0..31) of a Q6_K sub-block from its 8 high-plane bytes.
__device__ __forceinline__ unsigned q6_k_high(const unsigned char* high, int j) {
  return (reinterpret_cast<const unsigned*>(high)[j / 16] >> (2 * (j % 16))) & 3u;
}

// Element i of row `row` in its device encoding (see DeviceMatrix). Consecutive lanes read
// consecutive elements, so every encoding is read coalesced.
template <WeightKind K>
__device__ __forceinline__ float weight_at(const DeviceMatrix& w, int row, int i) {
  const unsigned char* r = w.data + static_cast<std::size_t>(row) * w.row_bytes;
  if constexpr (K == WeightKind::f32) {
    return reinterpret_cast<const float*>(r)[i];
  } else if constexpr (K == WeightKind::f16) {
    return half_bits(reinterpret_cast<const std::uint16_t*>(r)[i]);
  } else if constexpr (K == WeightKind::bf16) {
    return __uint_as_float(static_cast<unsigned>(reinterpret_cast<const std::uint16_t*>(r)[i]) << 16);
  } else {
    const int sub = i / 32;
    const int j = i % 32;
    const std::size_t sub_index = static_cast<std::size_t>(row) * (w.cols / 32) + sub;
    const unsigned packed_scale = w.scales[sub_index];
    if constexpr (K == WeightKind::q8_0) {
      return half_bits(static_cast<std::uint16_t>(packed_scale)) * static_cast<float>(reinterpret_cast<const std::int8_t*>(r)[i]);
    } else {
      const unsigned char byte = r[sub * 16 + (j & 15)];
      const int nibble = j < 16 ? (byte & 0x0f) : (byte >> 4);
      if constexpr (K == WeightKind::q4_0) return half_bits(static_cast<std::uint16_t>(packed_scale)) * static_cast<float>(nibble - 8);
      const unsigned super = w.supers[static_cast<std::size_t>(row) * (w.cols / 256) + i / 256];
      const float d = half_bits(static_cast<std::uint16_t>(super & 0xffffu));
      if constexpr (K == WeightKind::q4_k) {
        const float dmin = half_bits(static_cast<std::uint16_t>(super >> 16));
        return d * static_cast<float>(packed_scale & 0xffu) * static_cast<float>(nibble) -
               dmin * static_cast<float>(packed_scale >> 8);
      } else {
        const int code = nibble | static_cast<int>(q6_k_high(w.high + sub_index * 8, j) << 4);
        const auto sc = static_cast<signed char>(j < 16 ? packed_scale & 0xffu : packed_scale >> 8);
        return d * static_cast<float>(sc) * static_cast<float>(code - 32);
      }
    }
  }
}

// The scale terms of one 16-byte load (one 32-element sub-block of a quantized row; `c` counts
// loads along the row): q8_0/q4_0 (d, 0); q4_k (d*sc, dmin*m); q6_k (d*sc of elements 0-15, of 16-31).
template <WeightKind K>
__device__ __forceinline__ float2 load_scale(const DeviceMatrix& w, int row, int c) {
  constexpr int per_load = K == WeightKind::q8_0 ? 16 : 32;
  const std::size_t sub_index = static_cast<std::size_t>(row) * (w.cols / 32) + c * per_load / 32;
  const unsigned packed = w.scales[sub_index];
  if constexpr (K == WeightKind::q8_0 || K == WeightKind::q4_0) {
    return make_float2(half_bits(static_cast<std::uint16_t>(packed)), 0.0f);
  } else {
    const unsigned super = w.supers[static_cast<std::size_t>(row) * (w.cols / 256) + c / 8];
    const float d = half_bits(static_cast<std::uint16_t>(super & 0xffffu));
    if constexpr (K == WeightKind::q4_k) {
      return make_float2(d * static_cast<float>(packed & 0xffu),
                         half_bits(static_cast<std::uint16_t>(super >> 16)) * static_cast<float>(packed >> 8));
    } else {
      return make_float2(d * static_cast<float>(static_cast<signed char>(packed & 0xffu)),
                         d * static_cast<float>(static_cast<signed char>(packed >> 8)));
    }
  }
}

// Weights one 16-byte load of each encoding carries (4-bit codes: q4_0, q4_k, and q6_k's low bits).
template <WeightKind K>
constexpr int kPerLoad = K == WeightKind::f32 ? 4 : (K == WeightKind::f16 || K == WeightKind::bf16) ? 8
                       : K == WeightKind::q8_0 ? 16 : 32;

// A byte of `word` as a float without the conversion unit (a quarter-rate path): the byte placed in
// the low mantissa of 2^23 reads as 2^23 + byte exactly; callers subtract 2^23 and the code's bias.
__device__ __forceinline__ float biased_byte(unsigned word, int k) {
  return __uint_as_float(__byte_perm(word, 0x4B000000u, 0x7440u | static_cast<unsigned>(k)));
}
constexpr float kTwo23 = 8388608.0f;

// The kPerLoad<K> values of one 16-byte load, in element order. Quantized kinds give the codes
// (q8_0: -128..127, q4_0: -8..7, q4_k: 0..15, q6_k: -32..31, its high bits from `high`) unscaled:
// the caller applies the load's scale terms once per load.
template <WeightKind K>
__device__ __forceinline__ void decode_load(const uint4& raw, const uint2& high, float (&v)[kPerLoad<K>]) {
  const unsigned words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const unsigned u = words[k];
    if constexpr (K == WeightKind::f32) {
      v[k] = __uint_as_float(u);
    } else if constexpr (K == WeightKind::f16) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&u));
      v[2 * k] = f.x;
      v[2 * k + 1] = f.y;
    } else if constexpr (K == WeightKind::bf16) {
      v[2 * k] = __uint_as_float(u << 16);
      v[2 * k + 1] = __uint_as_float(u & 0xffff0000u);
    } else if constexpr (K == WeightKind::q8_0) {
      const unsigned offset = u ^ 0x80808080u;  // each byte: code + 128
#pragma unroll
      for (int b = 0; b < 4; ++b) v[4 * k + b] = biased_byte(offset, b) - (kTwo23 + 128.0f);
    } else {
      unsigned low = u & 0x0f0f0f0fu, upper = (u >> 4) & 0x0f0f0f0fu;
      float bias = K == WeightKind::q4_0 ? 8.0f : 0.0f;
      if constexpr (K == WeightKind::q6_k) {
        // Two high bits per element: elements 4k..4k+3 in byte k of high.x, 16+4k.. of high.y.
        const auto spread = [](unsigned bits) {
          return (bits & 3u) | ((bits & 0xcu) << 6) | ((bits & 0x30u) << 12) | ((bits & 0xc0u) << 18);
        };
        low |= spread((high.x >> (8 * k)) & 0xffu) << 4;
        upper |= spread((high.y >> (8 * k)) & 0xffu) << 4;
        bias = 32.0f;
      }
#pragma unroll
      for (int b = 0; b < 4; ++b) {
        v[4 * k + b] = biased_byte(low, b) - (kTwo23 + bias);
        v[16 + 4 * k + b] = biased_byte(upper, b) - (kTwo23 + bias);
      }
    }
  }
}

// A load's values with its scale terms applied (see load_scale).
template <WeightKind K>
__device__ __forceinline__ void dequantize_load(const uint4& raw, const uint2& high, float2 scale,
                                                float (&v)[kPerLoad<K>]) {
  constexpr int P = kPerLoad<K>;
  decode_load<K>(raw, high, v);
#pragma unroll
  for (int j = 0; j < P; ++j) {
    if constexpr (K == WeightKind::q4_k) {
      v[j] = scale.x * v[j] - scale.y;
    } else if constexpr (K == WeightKind::q6_k) {
      v[j] *= j < P / 2 ? scale.x : scale.y;
    } else if constexpr (kQuantized<K>) {
      v[j] *= scale.x;
    }
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
    case WeightKind::q4_k: f(KindTag<WeightKind::q4_k>{}); break;
    case WeightKind::q6_k: f(KindTag<WeightKind::q6_k>{}); break;
  }
}

unsigned blocks_for(std::size_t n, unsigned threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

// Whether the current GPU has programmatic dependent launch (compute capability 9.0 and later),
// looked up once per device; elsewhere kernels launch with plain stream order.
bool programmatic_launch_available() {
  constexpr int kDevices = 64;
  static std::atomic<int> known[kDevices] = {};  // 0 unknown, 1 no, 2 yes
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kDevices) return false;
  int state = known[device].load(std::memory_order_relaxed);
  if (state == 0) {
    int major = 0;
    state = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9 ? 2 : 1;
    known[device].store(state, std::memory_order_relaxed);
  }
  return state == 2;
}

// Launches `kernel` on `stream` allowing programmatic dependent launch (see wait_for_previous_kernel)
// where the GPU has it. A failed launch is left for the caller's cudaGetLastError check, like a <<<>>>
// launch.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t stream, Args... args) {
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  config.attrs = &attribute;
  config.numAttrs = programmatic_launch_available() ? 1 : 0;
  cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
}

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

// ---- The fused decode GEMV (launch_matvec) ----

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
#pragma unroll
  for (int r = 0; r < R; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const DeviceMatrix& w = m == 0 ? target.w : target.glu;
      rows[r * M + m] = reinterpret_cast<const uint4*>(w.data + static_cast<std::size_t>(row0 + r) * w.row_bytes);
    }

  constexpr bool kHigh = K == WeightKind::q6_k;  // a second, 8-byte load per position
  uint4 raw[U][RM];
  uint2 high[kHigh ? U : 1][kHigh ? RM : 1];
  float2 scale[kQuantized<K> ? U : 1][kQuantized<K> ? RM : 1];
  const auto fetch = [&](int first) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = first + u * kWarp;
      if (c < end) {
#pragma unroll
        for (int i = 0; i < RM; ++i) {
          raw[u][i] = __ldcs(rows[i] + c);
          if constexpr (kQuantized<K>) {
            const DeviceMatrix& w = i % M == 0 ? target.w : target.glu;
            const int row = row0 + i / M;
            scale[u][i] = load_scale<K>(w, row, c);
            if constexpr (kHigh)
              high[u][i] = __ldcs(reinterpret_cast<const uint2*>(w.high) + static_cast<std::size_t>(row) * (cols / 32) + c);
          }
        }
      }
    }
  };
  fetch(begin + lane);
  wait_for_previous_kernel();
  let_next_kernel_launch();

  const int n = job.n_tokens;
  float acc[RM][NT] = {}, squares[NT] = {};
  for (int first = begin + lane; first < end; first += kWarp * U) {
    if (first != begin + lane) fetch(first);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int c = first + u * kWarp;
      if (c >= end) break;
      float v[RM][P];
#pragma unroll
      for (int i = 0; i < RM; ++i) decode_load<K>(raw[u][i], kHigh ? high[kHigh ? u : 0][kHigh ? i : 0] : uint2{}, v[i]);
#pragma unroll
      for (int b = 0; b < NT; ++b) {
        if (b >= n) break;
        const float4* xs = reinterpret_cast<const float4*>(job.in.x + static_cast<std::size_t>(b) * cols + c * P);
        const float4* ns = kNorm ? reinterpret_cast<const float4*>(job.in.norm + c * P) : nullptr;
        // Sums over the load's first and second half (q6_k scales each half), and of the input (q4_k's mins).
        float first_half[RM] = {}, second_half[RM] = {}, input_sum = 0.0f;
#pragma unroll
        for (int q = 0; q < P / 4; ++q) {
          float4 xv = xs[q];
          if constexpr (kNorm) {
            squares[b] += xv.x * xv.x + xv.y * xv.y + xv.z * xv.z + xv.w * xv.w;
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
            acc[i][b] += scale[u][i].x * first_half[i] + scale[u][i].y * second_half[i];
          } else if constexpr (K == WeightKind::q4_k) {
            acc[i][b] += scale[u][i].x * (first_half[i] + second_half[i]) - scale[u][i].y * input_sum;
          } else if constexpr (kQuantized<K>) {
            acc[i][b] += scale[u][i].x * (first_half[i] + second_half[i]);
          } else {
            acc[i][b] += first_half[i] + second_half[i];
          }
        }
      }
    }
  }

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

// ---- Weights for cuBLAS ----

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

__global__ void add_bias_kernel(float* x, const float* bias, int rows, int n) {
  wait_for_previous_kernel();
  let_next_kernel_launch();
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < static_cast<std::size_t>(rows) * n) x[i] += bias[i % n];
}

// ---- Attention ----

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
  const auto consider = [&](float value, int i) {
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

void launch_embed(float* out, const DeviceMatrix& table, const std::int32_t* tokens, int n_tokens, cudaStream_t stream) {
  if (n_tokens <= 0) return;
  dispatch_kind(table.kind, [&](auto tag) {
    launch(embed_kernel<decltype(tag)::value>, n_tokens, 256, stream, out, table, tokens);
  });
}

void launch_rmsnorm(float* out, const float* x, const float* weight, int rows, int n, float eps, cudaStream_t stream) {
  if (rows > 0) launch(rmsnorm_kernel, rows, 256, stream, out, x, weight, n, eps);
}

namespace {

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

// Rows per warp and row splits: as many rows per warp as fill kLoadsInFlight loads per lane with
// whole rows, else whole rows one per warp, else each row split over 2 or 4 warps.
template <WeightKind K, bool kNorm, bool kGlu>
void launch_matvec_fast(MatvecJob& job, const MatvecTarget* targets, cudaStream_t stream) {
  constexpr int M = kGlu ? 2 : 1;
  const int lane_loads = (targets[0].w.cols / kPerLoad<K> + kWarp - 1) / kWarp;
  int rows_per_warp = 1;
  const auto rows_divide = [&](int r) {
    for (int i = 0; i < job.count; ++i)
      if (targets[i].w.rows % r != 0) return false;
    return true;
  };
  while (rows_per_warp < kMaxRowsPerWarp && 2 * rows_per_warp * M * lane_loads <= kLoadsInFlight<K> &&
         rows_divide(2 * rows_per_warp))
    rows_per_warp *= 2;
  job.split = 1;
  while (job.split < kMatvecWarps && M * ((lane_loads + job.split - 1) / job.split) > kLoadsInFlight<K>) job.split *= 2;
  const int row_groups = job.first_row[job.count] / rows_per_warp;
  const unsigned blocks = blocks_for(static_cast<std::size_t>(row_groups) * job.split, kMatvecWarps);
  static_assert(kMaxRowsPerWarp == 4);
  if (rows_per_warp == 4) {
    launch_matvec_rows<K, kNorm, kGlu, 4>(job, blocks, stream);
  } else if (rows_per_warp == 2) {
    launch_matvec_rows<K, kNorm, kGlu, 2>(job, blocks, stream);
  } else {
    launch_matvec_rows<K, kNorm, kGlu, 1>(job, blocks, stream);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

void launch_matvec(const MatvecTarget* targets, int count, const MatvecInput& in, int n_tokens, cudaStream_t stream) {
  if (n_tokens <= 0 || count <= 0) return;
  // Targets of different encodings, or GLU pairs mixed with plain ones, go in separate launches.
  for (int i = 1; i < count; ++i)
    if (targets[i].w.kind != targets[0].w.kind || (targets[i].glu.data != nullptr) != (targets[0].glu.data != nullptr) ||
        (targets[i].glu.data != nullptr && targets[i].glu.kind != targets[0].glu.kind)) {
      for (int j = 0; j < count; ++j) launch_matvec(targets + j, 1, in, n_tokens, stream);
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
      if (in.norm != nullptr) launch_matvec_fast<K, true, true>(job, targets, stream);
      else launch_matvec_fast<K, false, true>(job, targets, stream);
    } else if (in.norm != nullptr) {
      launch_matvec_fast<K, true, false>(job, targets, stream);
    } else {
      launch_matvec_fast<K, false, false>(job, targets, stream);
    }
  });
}

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

void launch_add_bias(float* x, const float* bias, int rows, int n, cudaStream_t stream) {
  launch(add_bias_kernel, blocks_for(static_cast<std::size_t>(rows) * n, 256), 256, stream, x, bias, rows, n);
}

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

void launch_silu_mul(float* out, const float* gate, const float* up, std::size_t n, cudaStream_t stream) {
  launch(silu_mul_kernel, blocks_for(n, 256), 256, stream, out, gate, up, n);
}

void launch_gather_rows(float* out, const float* x, const std::int32_t* rows, int n_rows, int n, cudaStream_t stream) {
  if (n_rows > 0) launch(gather_rows_kernel, n_rows, 256, stream, out, x, rows, n);
}

}  // namespace sovereign::accel::cuda
