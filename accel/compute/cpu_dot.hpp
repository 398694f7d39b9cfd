// Dot products of one weight row (in its stored type) with an input vector, picked once per process
// for the CPU: AVX2/FMA/F16C when the processor has them, portable C++ otherwise. Float rows meet
// the f32 input; block-quantized rows meet it quantized (quantized_input.hpp), code by code.
#pragma once

#include <cstddef>
#include <cstdint>

#include "accel/compute/block_formats.hpp"
#include "accel/compute/quantized_input.hpp"
#include "accel/gguf/gguf_file.hpp"
#include "accel/gguf/quantize.hpp"

namespace sovereign::accel::compute {

// Quantized rows are read block by block and never expanded in memory: each block's integer sum of
// weight code times input code is scaled once, so the weight stream stays at its stored size (the
// decode roofline) and the arithmetic per weight is a fraction of an instruction.
struct RowDotKernels {
  const char* name;
  float (*f32)(const float* w, const float* x, std::size_t n);
  float (*f16)(const std::uint16_t* w, const float* x, std::size_t n);
  float (*bf16)(const std::uint16_t* w, const float* x, std::size_t n);
  // Block-quantized rows against 1 to kMaxRowInputs quantized inputs, out[i] = w . x[i]: the row is
  // decoded once for all of them (batched decode). n: a multiple of 32 (Q8_0, Q4_0) or of 256 (the
  // K-quant super-blocks, whose sub-block scales, and Q4_K's minimums, multiply sums of q*x and of x).
  void (*q8_0)(const BlockQ8_0* w, const QuantizedInput* x, std::size_t count, std::size_t n, float* out);
  void (*q4_0)(const BlockQ4_0* w, const QuantizedInput* x, std::size_t count, std::size_t n, float* out);
  void (*q4_k)(const BlockQ4_K* w, const QuantizedInput* x, std::size_t count, std::size_t n, float* out);
  void (*q6_k)(const BlockQ6_K* w, const QuantizedInput* x, std::size_t count, std::size_t n, float* out);
  // Row expansion to f32, used when one row meets many inputs (batched decode, prefill).
  void (*f16_to_f32)(const std::uint16_t* w, float* out, std::size_t n);
  void (*bf16_to_f32)(const std::uint16_t* w, float* out, std::size_t n);
  void (*q8_0_to_f32)(const BlockQ8_0* w, float* out, std::size_t n);
  void (*q4_0_to_f32)(const BlockQ4_0* w, float* out, std::size_t n);
  void (*q4_k_to_f32)(const BlockQ4_K* w, float* out, std::size_t n);
  void (*q6_k_to_f32)(const BlockQ6_K* w, float* out, std::size_t n);
  // out[b] = w . x[b] for the four inputs x, x + x_stride, x + 2 x_stride, x + 3 x_stride.
  void (*f32_x4)(const float* w, const float* x, std::size_t x_stride, std::size_t n, float* out);
  // Register tile: out[r * 3 + b] = w[r] . (x + b * x_stride) for 4 rows and 3 inputs; 12
  // accumulators per 7 loads, which is what lets batched matmuls run at the FMA units' rate.
  void (*f32_4x3)(const float* const* w, const float* x, std::size_t x_stride, std::size_t n, float* out);
  // Whether the quantized-row kernels read the inputs' byte planes (QuantizedInput::low_bytes and
  // high_bytes), which are only built for sets that do.
  bool reads_byte_planes = false;
  // Up to this many inputs, a matmul with block-quantized rows multiplies each row in its stored
  // encoding with every input (kMaxRowInputs at a time); beyond, it expands rows to f32 for the
  // register tile. At most kMaxQuantizedFusedBatch. Eight measured best with the AVX2 set (2 cores,
  // 1B shape, Q4_K and Q8_0: batch 8 152 and 160 ms per step against 211 and 234 expanded, batch 16
  // 354 and 390 against 296 and 311).
  std::size_t quantized_fused_max_batch = 8;
};

inline constexpr std::size_t kMaxRowInputs = 4;
inline constexpr std::size_t kMaxQuantizedFusedBatch = 16;

const RowDotKernels& portable_row_dot_kernels();
// nullptr when this build or this CPU lacks AVX2/FMA/F16C.
const RowDotKernels* avx2_row_dot_kernels();
// nullptr when this build or this CPU lacks those and AVX-512 F, BW and VL.
const RowDotKernels* avx512_row_dot_kernels();
// The fastest set this CPU runs, unless SOVEREIGN_ACCEL_KERNELS in the environment names a slower one
// (portable, avx2) to use instead.
const RowDotKernels& row_dot_kernels();

// One input of a matrix-vector product in both forms: `quantized` is read by the block-quantized
// types (reads_quantized_input), `values` by the others.
struct RowInput {
  const float* values;
  QuantizedInput quantized;
};

// Dot products of row `row` (raw bytes of a block-quantized type, reads_quantized_input, n elements)
// with count (1 to kMaxRowInputs) quantized inputs: out[i] = row . x[i].
inline void dot_row_quantized(const RowDotKernels& k, gguf::TensorType type, const std::byte* row,
                              const QuantizedInput* x, std::size_t count, std::size_t n, float* out) {
  switch (type) {
    case gguf::TensorType::q8_0:
      return k.q8_0(reinterpret_cast<const BlockQ8_0*>(row), x, count, n, out);
    case gguf::TensorType::q4_0:
      return k.q4_0(reinterpret_cast<const BlockQ4_0*>(row), x, count, n, out);
    case gguf::TensorType::q4_k:
      return k.q4_k(reinterpret_cast<const BlockQ4_K*>(row), x, count, n, out);
    default:
      return k.q6_k(reinterpret_cast<const BlockQ6_K*>(row), x, count, n, out);
  }
}

// Dot product of row `row` (raw bytes of the given type, n elements) with x.
inline float dot_row(const RowDotKernels& k, gguf::TensorType type, const std::byte* row, const RowInput& x,
                     std::size_t n) {
  switch (type) {
    case gguf::TensorType::f16:
      return k.f16(reinterpret_cast<const std::uint16_t*>(row), x.values, n);
    case gguf::TensorType::bf16:
      return k.bf16(reinterpret_cast<const std::uint16_t*>(row), x.values, n);
    case gguf::TensorType::q8_0:
    case gguf::TensorType::q4_0:
    case gguf::TensorType::q4_k:
    case gguf::TensorType::q6_k: {
      float out = 0;
      dot_row_quantized(k, type, row, &x.quantized, 1, n, &out);
      return out;
    }
    default:
      return k.f32(reinterpret_cast<const float*>(row), x.values, n);
  }
}

// Expands row `row` (n elements of the given type) to f32; returns the row itself for f32.
inline const float* row_to_f32(const RowDotKernels& k, gguf::TensorType type, const std::byte* row, float* scratch,
                               std::size_t n) {
  switch (type) {
    case gguf::TensorType::f16:
      k.f16_to_f32(reinterpret_cast<const std::uint16_t*>(row), scratch, n);
      return scratch;
    case gguf::TensorType::bf16:
      k.bf16_to_f32(reinterpret_cast<const std::uint16_t*>(row), scratch, n);
      return scratch;
    case gguf::TensorType::q8_0:
      k.q8_0_to_f32(reinterpret_cast<const BlockQ8_0*>(row), scratch, n);
      return scratch;
    case gguf::TensorType::q4_0:
      k.q4_0_to_f32(reinterpret_cast<const BlockQ4_0*>(row), scratch, n);
      return scratch;
    case gguf::TensorType::q4_k:
      k.q4_k_to_f32(reinterpret_cast<const BlockQ4_K*>(row), scratch, n);
      return scratch;
    case gguf::TensorType::q6_k:
      k.q6_k_to_f32(reinterpret_cast<const BlockQ6_K*>(row), scratch, n);
      return scratch;
    default:
      return reinterpret_cast<const float*>(row);
  }
}

}  // namespace sovereign::accel::compute
