// Scalar conversions of the stored weight types, usable from host and device code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "accel/gguf/block_formats.hpp"

#if defined(__CUDACC__)
#define SOVEREIGN_HOST_DEVICE __host__ __device__
#else
#define SOVEREIGN_HOST_DEVICE
#endif

namespace sovereign::accel::compute {

// The block structs are declared once in the GGUF module; device code reads the same layouts.
using gguf::BlockQ4_0;
using gguf::BlockQ4_K;
using gguf::BlockQ6_K;
using gguf::BlockQ8_0;
inline constexpr std::size_t kKQuantBlockElems = gguf::kKBlockElems;
inline constexpr std::size_t kQuantBlockElems = gguf::kQ8_0BlockElems;
static_assert(gguf::kQ4_0BlockElems == gguf::kQ8_0BlockElems, "kernels assume one block size");

// IEEE binary16 to binary32, exact for every input (subnormals, infinities, NaN).
SOVEREIGN_HOST_DEVICE inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0x1fu) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {
    // Subnormal half: renormalise into a normal float.
    exponent = 113u;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

SOVEREIGN_HOST_DEVICE inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

}  // namespace sovereign::accel::compute
