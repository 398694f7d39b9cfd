// How kernels read a weight matrix in its device encoding (see DeviceMatrix in kernels.cuh): one
// element at a time (weight_at), or one 16-byte load at a time (kPerLoad values, decoded by
// decode_load, with the scale terms of load_scale applied by dequantize_load), and dispatch_kind,
// which instantiates a launcher's kernel once per encoding. Used by the fused GEMV (matvec.cu), the
// embedding lookup (elementwise.cu) and the 16-bit expansion for cuBLAS (gemm_operands.cu). All inline
// device functions and templates in an anonymous namespace, compiled into each kernel file that uses them.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "accel/compute/block_formats.hpp"
#include "accel/compute/cuda/kernels.cuh"

namespace sovereign::accel::cuda {
namespace {

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

// Q6_K's 2-bit high parts of four elements (the four pairs of `bits`, lowest first) moved to bits
// 0-1 of four bytes, to be placed above the elements' low nibbles.
__device__ __forceinline__ unsigned q6_k_spread(unsigned bits) {
  return (bits & 3u) | ((bits & 0xcu) << 6) | ((bits & 0x30u) << 12) | ((bits & 0xc0u) << 18);
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
        low |= q6_k_spread((high.x >> (8 * k)) & 0xffu) << 4;
        upper |= q6_k_spread((high.y >> (8 * k)) & 0xffu) << 4;
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

}  // namespace
}  // namespace sovereign::accel::cuda
