// The fused decode GEMV behind launch_matvec: for steps of up to kMatvecMaxTokens tokens, every
// target's rows against the same input, the weights read once from their encoding with 16-byte
// streaming loads, the input's RMSNorm, a bias, the residual add or the gated FFN's SiLU folded in
// (matvec_kernel), an element-by-element fallback for shapes those loads do not fit
// (matvec_scalar_kernel), and the launchers that choose rows per warp and row splits.
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

}  // namespace sovereign::accel::cuda
