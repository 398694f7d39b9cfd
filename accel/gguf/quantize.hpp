// Host-side conversion between float rows and GGUF tensor encodings (tests, the writer, CPU fallback).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "accel/gguf/tensor_type.hpp"

namespace sovereign::accel::gguf {

float half_to_float(std::uint16_t bits) noexcept;
std::uint16_t float_to_half(float value) noexcept;  // round to nearest even
float bf16_to_float(std::uint16_t bits) noexcept;
std::uint16_t float_to_bf16(float value) noexcept;  // round to nearest even

// Encodes `values` as `type` (values.size() a multiple of the block size; otherwise an empty vector).
// q8_0 and q4_0 round as ggml does; q4_k and q6_k use plain min/max scales rather than ggml's error-minimising
// search, so they decode with ggml's layouts but are a little less accurate than llama.cpp's quantizer.
std::vector<std::byte> quantize(TensorType type, std::span<const float> values);

// Decodes n elements (a whole number of blocks) of `type` starting at src into dst; all supported types.
void dequantize_row(TensorType type, const std::byte* src, float* dst, std::size_t n);

}  // namespace sovereign::accel::gguf
