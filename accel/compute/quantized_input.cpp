#include "accel/compute/quantized_input.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sovereign::accel::compute {

bool reads_quantized_input(gguf::TensorType type) {
  switch (type) {
    case gguf::TensorType::q8_0:
    case gguf::TensorType::q4_0:
    case gguf::TensorType::q4_k:
    case gguf::TensorType::q6_k:
      return true;
    default:
      return false;
  }
}

InputBlock quantize_input_block(const float* x, std::int16_t* codes) {
  float largest = 0;
  float sum = 0;
  for (std::size_t i = 0; i < kInputBlockElems; ++i) {
    largest = std::max(largest, std::fabs(x[i]));
    sum += x[i];
  }
  if (!std::isfinite(sum)) {
    // A NaN or an infinity, which no scale represents: the codes are zero and a NaN scale carries
    // the fault into every product, as an f32 dot product would.
    std::fill(codes, codes + kInputBlockElems, std::int16_t{0});
    return {std::numeric_limits<float>::quiet_NaN(), sum};
  }
  // A block of zeros, or of magnitudes so small (below 1e-30) that 32767 / largest would overflow a
  // float: zero codes and scale. Such values are far below anything a weight can resolve.
  if (largest < 1e-30f) {
    std::fill(codes, codes + kInputBlockElems, std::int16_t{0});
    return {0.0f, sum};
  }
  const float inverse = kInputCodeMax / largest;
  // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (ties to even) for |v| < 2^22,
  // the same on every CPU and vectorisable without SSE4.1's round instruction.
  constexpr float kRound = 12582912.0f;
  for (std::size_t i = 0; i < kInputBlockElems; ++i) {
    const float v = x[i] * inverse;
    codes[i] = static_cast<std::int16_t>(static_cast<int>((v + kRound) - kRound));
  }
  return {largest / kInputCodeMax, sum};
}

void QuantizedInputs::quantize(const float* x, std::size_t n, std::size_t count, bool byte_planes) {
  n_ = n;
  byte_planes_ = byte_planes;
  const std::size_t blocks = n / kInputBlockElems;
  if (codes_.size() < n * count) {
    codes_.resize(n * count);
    low_bytes_.resize(n * count);
    high_bytes_.resize(n * count);
    half_sums_.resize(n * count / 16);
  }
  if (scales_.size() < blocks * count) {
    scales_.resize(blocks * count);
    sums_.resize(blocks * count);
  }
  for (std::size_t b = 0; b < blocks * count; ++b) {
    const InputBlock block = quantize_input_block(x + b * kInputBlockElems, codes_.data() + b * kInputBlockElems);
    scales_[b] = block.scale;
    sums_[b] = block.sum;
  }
  for (std::size_t i = 0; byte_planes && i < n * count; ++i) {
    low_bytes_[i] = static_cast<std::uint8_t>(codes_[i] & 0xFF);
    high_bytes_[i] = static_cast<std::int8_t>(codes_[i] >> 8);
  }
  for (std::size_t h = 0; byte_planes && h < n * count / 16; ++h) {
    float sum = 0;
    for (std::size_t i = 0; i < 16; ++i) sum += x[16 * h + i];
    half_sums_[h] = sum;
  }
}

QuantizedInput QuantizedInputs::input(std::size_t i) const {
  const std::size_t blocks = n_ / kInputBlockElems;
  return {codes_.data() + i * n_, scales_.data() + i * blocks, sums_.data() + i * blocks,
          byte_planes_ ? low_bytes_.data() + i * n_ : nullptr, byte_planes_ ? high_bytes_.data() + i * n_ : nullptr,
          byte_planes_ ? half_sums_.data() + i * n_ / 16 : nullptr};
}

}  // namespace sovereign::accel::compute
