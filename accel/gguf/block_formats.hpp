// Quantized block layouts of GGUF tensor types, declared once for host and device code (ggml's layouts).
#pragma once

#include <cstdint>

namespace sovereign::accel::gguf {

inline constexpr std::uint32_t kQ8_0BlockElems = 32;
inline constexpr std::uint32_t kQ4_0BlockElems = 32;
inline constexpr std::uint32_t kKBlockElems = 256;  // "k-quant" super-block
inline constexpr std::uint32_t kKScaleBytes = 12;

// q8_0: value = qs[i] * d.
struct BlockQ8_0 {
  std::uint16_t d;  // IEEE half bits
  std::int8_t qs[kQ8_0BlockElems];
};
static_assert(sizeof(BlockQ8_0) == 34, "q8_0 block is 34 bytes");

// q4_0: element j in the low nibble of qs[j], element j+16 in the high nibble; value = (nibble - 8) * d.
struct BlockQ4_0 {
  std::uint16_t d;  // IEEE half bits
  std::uint8_t qs[kQ4_0BlockElems / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "q4_0 block is 18 bytes");

// q4_k: 8 sub-blocks of 32; 6-bit scales and mins packed in `scales`; value = d*sc*q - dmin*m.
struct BlockQ4_K {
  std::uint16_t d;     // half: super-block scale of the quantized scales
  std::uint16_t dmin;  // half: super-block scale of the quantized mins
  std::uint8_t scales[kKScaleBytes];
  std::uint8_t qs[kKBlockElems / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "q4_k block is 144 bytes");

// The 6-bit scale and min of q4_k sub-block j (0..7), as ggml packs eight pairs into 12 bytes.
struct KScaleMin {
  std::uint8_t scale;
  std::uint8_t min;
};
inline KScaleMin k_scale_min(int j, const std::uint8_t* packed) {
  if (j < 4) return {static_cast<std::uint8_t>(packed[j] & 63), static_cast<std::uint8_t>(packed[j + 4] & 63)};
  return {static_cast<std::uint8_t>((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4)),
          static_cast<std::uint8_t>((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4))};
}

// q6_k: 16 sub-blocks of 16; low 4 bits in ql, high 2 bits in qh; value = d * scales[i] * (q - 32).
struct BlockQ6_K {
  std::uint8_t ql[kKBlockElems / 2];
  std::uint8_t qh[kKBlockElems / 4];
  std::int8_t scales[kKBlockElems / 16];
  std::uint16_t d;  // half
};
static_assert(sizeof(BlockQ6_K) == 210, "q6_k block is 210 bytes");

}  // namespace sovereign::accel::gguf
