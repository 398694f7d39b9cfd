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

void dequantize_q4_k(const BlockQ4_K& block, float* y) {
  const float d = half_to_float(block.d);
  const float dmin = half_to_float(block.dmin);
  const std::uint8_t* q = block.qs;
  int is = 0;
  for (std::uint32_t j = 0; j < kKBlockElems; j += 64) {
    const KScaleMin first = k_scale_min(is, block.scales);
    const KScaleMin second = k_scale_min(is + 1, block.scales);
    const float d1 = d * first.scale;
    const float m1 = dmin * first.min;
    const float d2 = d * second.scale;
    const float m2 = dmin * second.min;
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

int nearest_int(float v) { return static_cast<int>(std::lround(v)); }

// A plain (not error-minimising) q4_k encoder: per 32-element sub-block, an unsigned 4-bit code over
// [min(x, 0), max(x)], with the sub-block scales and mins themselves quantized to 6 bits.
BlockQ4_K quantize_q4_k(const float* x) {
  constexpr int kSub = 8;
  constexpr int kSubElems = 32;
  float scales[kSub];
  float mins[kSub];
  float max_scale = 0.0f;
  float max_min = 0.0f;
  for (int j = 0; j < kSub; ++j) {
    float lo = 0.0f;
    float hi = x[j * kSubElems];
    for (int i = 0; i < kSubElems; ++i) {
      lo = std::min(lo, x[j * kSubElems + i]);
      hi = std::max(hi, x[j * kSubElems + i]);
    }
    scales[j] = (hi - lo) / 15.0f;
    mins[j] = -lo;
    max_scale = std::max(max_scale, scales[j]);
    max_min = std::max(max_min, mins[j]);
  }
  BlockQ4_K block{};
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  for (int j = 0; j < kSub; ++j) {
    const auto ls = static_cast<std::uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
    const auto lm = static_cast<std::uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
    if (j < 4) {
      block.scales[j] = ls;
      block.scales[j + 4] = lm;
    } else {
      block.scales[j + 4] = static_cast<std::uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      block.scales[j - 4] |= static_cast<std::uint8_t>((ls >> 4) << 6);
      block.scales[j] |= static_cast<std::uint8_t>((lm >> 4) << 6);
    }
  }
  block.d = float_to_half(max_scale / 63.0f);
  block.dmin = float_to_half(max_min / 63.0f);
  std::uint8_t codes[kKBlockElems];
  for (int j = 0; j < kSub; ++j) {
    const KScaleMin packed = k_scale_min(j, block.scales);
    const float step = half_to_float(block.d) * packed.scale;
    const float offset = half_to_float(block.dmin) * packed.min;
    for (int i = 0; i < kSubElems; ++i) {
      const int code = step != 0.0f ? nearest_int((x[j * kSubElems + i] + offset) / step) : 0;
      codes[j * kSubElems + i] = static_cast<std::uint8_t>(std::clamp(code, 0, 15));
    }
  }
  std::uint8_t* q = block.qs;
  for (std::uint32_t j = 0; j < kKBlockElems; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<std::uint8_t>(codes[j + l] | (codes[j + l + 32] << 4));
    q += 32;
  }
  return block;
}

// A plain q6_k encoder: per 16-element sub-block the largest-magnitude value maps to code -32; the sub-block
// scales are quantized to int8 against one f16 super-scale.
BlockQ6_K quantize_q6_k(const float* x) {
  constexpr int kSub = 16;
  constexpr int kSubElems = 16;
  float scales[kSub];
  float max_scale = 0.0f;
  float max_abs_scale = 0.0f;
  for (int j = 0; j < kSub; ++j) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int i = 0; i < kSubElems; ++i) {
      const float v = x[j * kSubElems + i];
      if (std::fabs(v) > amax) {
        amax = std::fabs(v);
        max = v;
      }
    }
    scales[j] = max / -32.0f;
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  BlockQ6_K block{};
  const float inv = max_scale != 0.0f ? -128.0f / max_scale : 0.0f;
  block.d = float_to_half(inv != 0.0f ? 1.0f / inv : 0.0f);
  for (int j = 0; j < kSub; ++j) {
    block.scales[j] = static_cast<std::int8_t>(std::clamp(nearest_int(inv * scales[j]), -128, 127));
  }
  std::uint8_t codes[kKBlockElems];
  for (int j = 0; j < kSub; ++j) {
    const float step = half_to_float(block.d) * block.scales[j];
    for (int i = 0; i < kSubElems; ++i) {
      const int code = step != 0.0f ? nearest_int(x[j * kSubElems + i] / step) : 0;
      codes[j * kSubElems + i] = static_cast<std::uint8_t>(std::clamp(code, -32, 31) + 32);
    }
  }
  std::uint8_t* ql = block.ql;
  std::uint8_t* qh = block.qh;
  for (std::uint32_t n = 0; n < kKBlockElems; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t q1 = codes[n + l];
      const std::uint8_t q2 = codes[n + l + 32];
      const std::uint8_t q3 = codes[n + l + 64];
      const std::uint8_t q4 = codes[n + l + 96];
      ql[l] = static_cast<std::uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
      ql[l + 32] = static_cast<std::uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
      qh[l] = static_cast<std::uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
  return block;
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
      for (std::size_t b = 0; b < blocks; ++b) store_block(out, b, quantize_q4_k(values.data() + b * kKBlockElems));
      return out;
    case TensorType::q6_k:
      for (std::size_t b = 0; b < blocks; ++b) store_block(out, b, quantize_q6_k(values.data() + b * kKBlockElems));
      return out;
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
