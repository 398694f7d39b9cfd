// Launchers of the CUDA forward-pass kernels: each picks its grid and takes the stream; the
// caller (cuda_backend.cpp) has already checked shapes, types and contiguity. Every kernel is
// launched with programmatic dependent launch: on Hopper the next kernel of the step starts while
// the previous one drains, and the GEMV streams its first weights before it waits for its input.
// Plain C++17 so that nvcc compiles it with its default standard.
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace sovereign::accel::cuda {

enum class WeightKind : int { f32, f16, bf16, q8_0, q4_0, q4_k, q6_k };

// Most tokens the fused dequantize-GEMV kernel takes per launch; larger steps use cuBLAS GEMM.
constexpr int kMatvecMaxTokens = 4;
// Decode steps of up to this many tokens are captured as CUDA graphs and replayed.
constexpr int kGraphMaxTokens = 64;
// Tokens per KV page (matches compute::kKvPageTokens) and the widest attention head supported.
constexpr int kPageTokens = 16;
constexpr int kMaxHeadDim = 256;

// A row-major weight matrix on the device. f32, f16 and bf16 rows are stored as in the file.
// Quantized blocks are split on upload so that every row's codes are contiguous and 16-byte loads
// stay aligned (the file's 34-, 18-, 144- and 210-byte blocks are not); every value is unchanged.
// Per 32 elements (one "sub-block"):
//   q8_0: `data` 32 int8 codes; `scales` the f16 block scale.                 value = d * q
//   q4_0: `data` 16 bytes, element j in the low nibble of byte j % 16 for j < 16, else the high
//         nibble (the file's order); `scales` the f16 block scale.            value = d * (q - 8)
//   q4_k: `data` as q4_0; `scales` 6-bit scale | 6-bit min << 8; `supers` (per 256 elements)
//         f16 d | f16 dmin << 16.                                             value = d*sc*q - dmin*m
//   q6_k: `data` the low 4 bits as q4_0; `high` 8 bytes of 2-bit high parts (element j at bits
//         2*(j % 16) of 32-bit word j / 16); `scales` int8 scale of elements 0-15 | of 16-31 << 8;
//         `supers` f16 d.                                                     value = d*sc*(q - 32)
struct DeviceMatrix {
  const unsigned char* data = nullptr;
  const std::uint16_t* scales = nullptr;
  const std::uint32_t* supers = nullptr;
  const unsigned char* high = nullptr;
  WeightKind kind = WeightKind::f32;
  int rows = 0;
  int cols = 0;
  std::size_t row_bytes = 0;
};

inline bool is_quantized(WeightKind kind) { return kind >= WeightKind::q8_0; }

// Bytes of one row in `data` (the codes of quantized kinds).
inline std::size_t quant_row_bytes(WeightKind kind, int cols) {
  switch (kind) {
    case WeightKind::f32: return static_cast<std::size_t>(cols) * 4;
    case WeightKind::f16:
    case WeightKind::bf16: return static_cast<std::size_t>(cols) * 2;
    case WeightKind::q8_0: return static_cast<std::size_t>(cols);
    case WeightKind::q4_0:
    case WeightKind::q4_k:
    case WeightKind::q6_k: return static_cast<std::size_t>(cols) / 2;
  }
  return 0;
}

// out[t] = table[tokens[t]] as f32.
void launch_embed(float* out, const DeviceMatrix& table, const std::int32_t* tokens, int n_tokens, cudaStream_t stream);

// out[r] = x[r] / rms(x[r]) * weight, for `rows` rows of n.
void launch_rmsnorm(float* out, const float* x, const float* weight, int rows, int n, float eps, cudaStream_t stream);

// The fused decode GEMV: every target's rows against the same input, weights read once from their
// encoding. The input is x itself or, with `norm` set, RMSNorm(x) * norm (each warp normalises as it
// reads, so no normalised copy is written). Per target row r and token b:
//   out[b][r]  = W[r] . in[b]  (+ bias[r])  (+ out[b][r] when accumulating: the residual add)
//   with `glu` set: out[b][r] = silu(W[r] . in[b]) * (glu[r] . in[b])   (the gated FFN's gate and up)
struct MatvecTarget {
  DeviceMatrix w;
  DeviceMatrix glu;  // the up projection when `w` is a gated FFN's gate; data null otherwise
  float* out = nullptr;
  const float* bias = nullptr;
  bool accumulate = false;
};
struct MatvecInput {
  const float* x = nullptr;     // (n_tokens, cols)
  const float* norm = nullptr;  // RMSNorm weight (cols), or null
  float eps = 0.0f;
};
constexpr int kMaxMatvecTargets = 3;
// How a GEMV runs; the defaults are what measured fastest, the alternatives are for tests and
// benchmarks. Over quantized weights it takes the input coded in 16-bit integers per 32 values
// (integer dot products with the weight codes) where that fits the block's shared memory. Otherwise
// it runs as one-shot warps against the float input (matvec_kernel), or, for single-token steps
// whose one-shot grid would end in a thin second wave, as one wave of warps streaming their rows
// (matvec_stream_kernel).
struct MatvecChoice {
  bool stream_always = false;  // every single-token GEMV through matvec_stream_kernel
  bool float_input = false;    // quantized weights against the float input too
};
// Targets must share cols; n_tokens <= kMatvecMaxTokens.
void launch_matvec(const MatvecTarget* targets, int count, const MatvecInput& in, int n_tokens, cudaStream_t stream,
                   MatvecChoice choice = {});

// W expanded to a dense 16-bit matrix for cuBLAS (bf16 for bf16, f16 for the quantized kinds).
void launch_expand_weights(void* out, const DeviceMatrix& w, cudaStream_t stream);
// x converted to the 16-bit type the expanded weights use.
void launch_activations_to_16bit(void* out, const float* x, std::size_t n, bool bf16, cudaStream_t stream);

// x[r] += bias for each of `rows` rows of n.
void launch_add_bias(float* x, const float* bias, int rows, int n, cudaStream_t stream);

// Rotary embedding parameters: `frequencies` holds theta^(-2i/rope_dims) / divisor[i] for each of
// the rope_dims / 2 pairs, computed once on the host in double.
struct RopeParams {
  int head_dim = 0;
  int rope_dims = 0;
  bool neox = false;
  float position_scale = 1.0f;
  const double* frequencies = nullptr;
};

// Paged KV cache access of one layer: cache[(page * kPageTokens + offset) * kv_dim + i].
struct PagedKv {
  float* keys = nullptr;
  float* values = nullptr;
  const std::int32_t* page_table = nullptr;  // (slots, max_pages)
  int max_pages = 0;
  int kv_dim = 0;
};

// One launch for what follows the q/k/v projections: the rotary embedding of every query and key
// head at its token's position (q in place), and each token's rotated k and its v written into the
// KV cache at its (slot, position).
void launch_rope_and_store(float* q, const float* k, const float* v, int n_heads, const PagedKv& kv,
                           const std::int32_t* slots, const std::int32_t* positions, int n_tokens,
                           const RopeParams& p, cudaStream_t stream);

// Causal attention of each token over positions 0..position of its slot, GQA by head groups.
struct AttentionParams {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
};
void launch_attention(float* out, const float* q, const PagedKv& kv, const std::int32_t* slots,
                      const std::int32_t* positions, int n_tokens, const AttentionParams& p, cudaStream_t stream);
// The same for a step whose tokens all belong to different sequences (a decode step), with the
// rotary embedding of q and k and the KV store folded in: q, k and v as the projections wrote them.
void launch_decode_attention(float* out, const float* q, const float* k, const float* v, const PagedKv& kv,
                             const std::int32_t* slots, const std::int32_t* positions, int n_tokens,
                             const AttentionParams& p, const RopeParams& rope, cudaStream_t stream);

// out = silu(gate) * up
void launch_silu_mul(float* out, const float* gate, const float* up, std::size_t n, cudaStream_t stream);
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
// on the logit value, so no sort is needed); ties at a threshold are kept. -1 for a row that holds a
// NaN or an infinity.
void launch_sample(std::int32_t* out, const float* logits, const DeviceRowSampling* params, int rows, int vocab,
                   cudaStream_t stream);

}  // namespace sovereign::accel::cuda
