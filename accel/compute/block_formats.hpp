// Quantized block layouts and scalar conversions shared by host and device code (ggml's layouts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SOVEREIGN_HOST_DEVICE __host__ __device__
#else
#define SOVEREIGN_HOST_DEVICE
#endif

namespace sovereign::accel::compute {

inline constexpr std::size_t kQuantBlockElems = 32;

// Q8_0: 32 weights = f16 scale + 32 signed bytes; value = q * d.
struct BlockQ8_0 {
  std::uint16_t d_bits;
  std::int8_t qs[kQuantBlockElems];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block must match ggml's 34-byte layout");

// Q4_0: 32 weights = f16 scale + 16 bytes; element j in the low nibble of byte j, element j+16 in
// the high nibble; value = (nibble - 8) * d.
struct BlockQ4_0 {
  std::uint16_t d_bits;
  std::uint8_t qs[kQuantBlockElems / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block must match ggml's 18-byte layout");

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
