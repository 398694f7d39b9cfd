// An input vector in the form quantized weight rows read it: 32-element blocks, each one scale and
// 32 int16 codes, plus the block's sum. Prepared once per input and shared by every row of a matrix,
// it lets the row kernels multiply weight codes by input codes in integer lanes (sixteen products
// per instruction) instead of widening every weight to a float, which is what bound 4-bit decode.
//
// Precision: x[i] ~ scale * code[i], with the codes spanning +-32767 of the block's largest
// magnitude, so each value is off by at most half a step, 1/65534 of that magnitude (a relative
// error near 2e-5 for normally distributed activations, far below the weights' own quantization).
// The sums are of the exact values: Q4_K's per-block minimums multiply them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "accel/gguf/gguf_file.hpp"

namespace sovereign::accel::compute {

inline constexpr std::size_t kInputBlockElems = 32;
inline constexpr float kInputCodeMax = 32767.0f;

// A view of one quantized input of n elements (n a multiple of kInputBlockElems).
struct QuantizedInput {
  const std::int16_t* codes = nullptr;  // n
  const float* scales = nullptr;        // n / 32
  const float* sums = nullptr;          // n / 32
  // The codes split into bytes, code = 256 * high + low, for byte dot-product instructions (VNNI):
  // low bytes unsigned, high bytes signed. n each; null unless asked for (QuantizedInputs::quantize).
  const std::uint8_t* low_bytes = nullptr;
  const std::int8_t* high_bytes = nullptr;
  // The exact sums of each 16 elements (Q6_K's sub-blocks), n / 16; built with the byte planes.
  const float* half_sums = nullptr;
};

// Whether rows of this stored type are multiplied with a QuantizedInput (the block-quantized
// types) rather than with the f32 input itself.
bool reads_quantized_input(gguf::TensorType type);

// Quantizes one block of 32 values: codes, and returns {scale, sum}.
struct InputBlock {
  float scale;
  float sum;
};
InputBlock quantize_input_block(const float* x, std::int16_t* codes);

// Storage for a batch of quantized inputs, reused across calls (it only grows).
class QuantizedInputs {
 public:
  // Quantizes `count` inputs of n elements, stored one after another in x; n a multiple of 32.
  // byte_planes: also split the codes into bytes and sum each 16 values, for kernels that read them
  // (n more work).
  void quantize(const float* x, std::size_t n, std::size_t count, bool byte_planes = true);
  QuantizedInput input(std::size_t i) const;

 private:
  std::size_t n_ = 0;
  bool byte_planes_ = false;
  std::vector<std::int16_t> codes_;
  std::vector<float> scales_;
  std::vector<float> sums_;
  std::vector<std::uint8_t> low_bytes_;
  std::vector<std::int8_t> high_bytes_;
  std::vector<float> half_sums_;
};

}  // namespace sovereign::accel::compute
