#include "accel/gguf/quantize.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "accel/gguf/block_formats.hpp"

namespace sovereign::accel::gguf {

float half_to_float(std::uint16_t bits) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  std::uint32_t mantissa = bits & 0x3ffu;
  std::uint32_t out = 0;
  if (exponent == 0) {
    if (mantissa == 0) {
      out = sign;
    } else {  // subnormal: normalise into a float exponent
      int shift = 0;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3ffu;
      out = sign | static_cast<std::uint32_t>(127 - 15 + 1 - shift) << 23 | mantissa << 13;
    }
  } else if (exponent == 0x1f) {
    out = sign | 0x7f800000u | mantissa << 13;
  } else {
    out = sign | (exponent + (127 - 15)) << 23 | mantissa << 13;
  }
  return std::bit_cast<float>(out);
}

std::uint16_t float_to_half(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const std::uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits >= 0x7f800000u) {  // inf or nan
    return static_cast<std::uint16_t>(sign | 0x7c00u | (abs_bits > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs_bits >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (abs_bits < 0x38800000u) {  // below the smallest normal half: produce a subnormal
    const float magnitude = std::bit_cast<float>(abs_bits);
    // 2^-24 is the subnormal step; nearbyint rounds half to even in the default rounding mode.
    const auto steps = static_cast<std::uint32_t>(std::nearbyint(magnitude * 16777216.0f));
    return static_cast<std::uint16_t>(sign | steps);
  }
  const std::uint32_t exponent = ((abs_bits >> 23) - 127 + 15) << 10;
  const std::uint32_t mantissa = abs_bits & 0x7fffffu;
  std::uint32_t half = exponent | (mantissa >> 13);
  const std::uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // carries into the exponent correctly
  return static_cast<std::uint16_t>(sign | half);
}

float bf16_to_float(std::uint16_t bits) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

std::uint16_t float_to_bf16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);  // quiet nan
  const std::uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

namespace {

template <typename Block>
void store_block(std::vector<std::byte>& out, std::size_t index, const Block& block) {
  std::memcpy(out.data() + index * sizeof(Block), &block, sizeof(Block));
}

template <typename Block>
Block load_block(const std::byte* src, std::size_t index) {
  Block block;
  std::memcpy(&block, src + index * sizeof(Block), sizeof(Block));
  return block;
}

std::uint16_t load_u16(const std::byte* src, std::size_t index) {
  std::uint16_t v;
  std::memcpy(&v, src + index * 2, 2);
  return v;
}

BlockQ8_0 quantize_q8_0(const float* x) {
  float amax = 0.0f;
  for (std::uint32_t i = 0; i < kQ8_0BlockElems; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127.0f;
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  BlockQ8_0 block{};
  block.d = float_to_half(d);
  for (std::uint32_t i = 0; i < kQ8_0BlockElems; ++i) {
    block.qs[i] = static_cast<std::int8_t>(std::lround(x[i] * inv));
  }
  return block;
}

BlockQ4_0 quantize_q4_0(const float* x) {
  // As ggml: the value of largest magnitude maps to -8 exactly, so its sign is kept.
  float amax = 0.0f;
  float max = 0.0f;
  for (std::uint32_t i = 0; i < kQ4_0BlockElems; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  const float d = max / -8.0f;
  const float inv = d != 0.0f ? 1.0f / d : 0.0f;
  BlockQ4_0 block{};
  block.d = float_to_half(d);
  constexpr std::uint32_t half = kQ4_0BlockElems / 2;
  for (std::uint32_t j = 0; j < half; ++j) {
    const auto lo = static_cast<std::uint8_t>(std::min(15, static_cast<int>(x[j] * inv + 8.5f)));
    const auto hi = static_cast<std::uint8_t>(std::min(15, static_cast<int>(x[j + half] * inv + 8.5f)));
    block.qs[j] = static_cast<std::uint8_t>(lo | (hi << 4));
  }
  return block;
}

// ggml's packing of eight 6-bit (scale, min) pairs into 12 bytes.
void scale_min_k4(int j, const std::uint8_t* q, std::uint8_t& scale, std::uint8_t& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = static_cast<std::uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    min = static_cast<std::uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

void dequantize_q4_k(const BlockQ4_K& block, float* y) {
  const float d = half_to_float(block.d);
  const float dmin = half_to_float(block.dmin);
  const std::uint8_t* q = block.qs;
  int is = 0;
  for (std::uint32_t j = 0; j < kKBlockElems; j += 64) {
    std::uint8_t sc = 0;
    std::uint8_t m = 0;
    scale_min_k4(is, block.scales, sc, m);
    const float d1 = d * sc;
    const float m1 = dmin * m;
    scale_min_k4(is + 1, block.scales, sc, m);
    const float d2 = d * sc;
    const float m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

void dequantize_q6_k(const BlockQ6_K& block, float* y) {
  const float d = half_to_float(block.d);
  const std::uint8_t* ql = block.ql;
  const std::uint8_t* qh = block.qh;
  const std::int8_t* sc = block.scales;
  for (std::uint32_t n = 0; n < kKBlockElems; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * static_cast<float>(q1);
      y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
      y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
      y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

std::vector<std::byte> quantize(TensorType type, std::span<const float> values) {
  const TypeTraits* traits = type_traits(type);
  if (traits == nullptr || values.size() % traits->block_elems != 0) return {};
  const std::size_t blocks = values.size() / traits->block_elems;
  std::vector<std::byte> out(blocks * traits->block_bytes);
  switch (type) {
    case TensorType::f32:
      if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
      return out;
    case TensorType::f16:
      for (std::size_t i = 0; i < values.size(); ++i) store_block(out, i, float_to_half(values[i]));
      return out;
    case TensorType::bf16:
      for (std::size_t i = 0; i < values.size(); ++i) store_block(out, i, float_to_bf16(values[i]));
      return out;
    case TensorType::q8_0:
      for (std::size_t b = 0; b < blocks; ++b) store_block(out, b, quantize_q8_0(values.data() + b * kQ8_0BlockElems));
      return out;
    case TensorType::q4_0:
      for (std::size_t b = 0; b < blocks; ++b) store_block(out, b, quantize_q4_0(values.data() + b * kQ4_0BlockElems));
      return out;
    case TensorType::q4_k:
    case TensorType::q6_k:
      return {};
  }
  return {};
}

void dequantize_row(TensorType type, const std::byte* src, float* dst, std::size_t n) {
  switch (type) {
    case TensorType::f32:
      if (n != 0) std::memcpy(dst, src, n * sizeof(float));
      return;
    case TensorType::f16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = half_to_float(load_u16(src, i));
      return;
    case TensorType::bf16:
      for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(load_u16(src, i));
      return;
    case TensorType::q8_0:
      for (std::size_t b = 0; b < n / kQ8_0BlockElems; ++b) {
        const auto block = load_block<BlockQ8_0>(src, b);
        const float d = half_to_float(block.d);
        for (std::uint32_t i = 0; i < kQ8_0BlockElems; ++i) dst[b * kQ8_0BlockElems + i] = d * block.qs[i];
      }
      return;
    case TensorType::q4_0:
      for (std::size_t b = 0; b < n / kQ4_0BlockElems; ++b) {
        const auto block = load_block<BlockQ4_0>(src, b);
        const float d = half_to_float(block.d);
        float* y = dst + b * kQ4_0BlockElems;
        constexpr std::uint32_t half = kQ4_0BlockElems / 2;
        for (std::uint32_t j = 0; j < half; ++j) {
          y[j] = static_cast<float>((block.qs[j] & 0xF) - 8) * d;
          y[j + half] = static_cast<float>((block.qs[j] >> 4) - 8) * d;
        }
      }
      return;
    case TensorType::q4_k:
      for (std::size_t b = 0; b < n / kKBlockElems; ++b) {
        dequantize_q4_k(load_block<BlockQ4_K>(src, b), dst + b * kKBlockElems);
      }
      return;
    case TensorType::q6_k:
      for (std::size_t b = 0; b < n / kKBlockElems; ++b) {
        dequantize_q6_k(load_block<BlockQ6_K>(src, b), dst + b * kKBlockElems);
      }
      return;
  }
}

}  // namespace sovereign::accel::gguf
