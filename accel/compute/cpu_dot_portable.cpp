#include <cstdlib>
#include <cstring>
#include <vector>

#include "accel/compute/cpu_dot.hpp"

namespace sovereign::accel::compute {
namespace {

// Four partial sums give the compiler independent chains to vectorise.
template <typename Load>
float dot_elements(const Load& load, const float* x, std::size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += load(i) * x[i];
    s1 += load(i + 1) * x[i + 1];
    s2 += load(i + 2) * x[i + 2];
    s3 += load(i + 3) * x[i + 3];
  }
  for (; i < n; ++i) s0 += load(i) * x[i];
  return (s0 + s1) + (s2 + s3);
}

float dot_f32(const float* w, const float* x, std::size_t n) {
  return dot_elements([w](std::size_t i) { return w[i]; }, x, n);
}

float dot_f16(const std::uint16_t* w, const float* x, std::size_t n) {
  return dot_elements([w](std::size_t i) { return half_to_float(w[i]); }, x, n);
}

float dot_bf16(const std::uint16_t* w, const float* x, std::size_t n) {
  return dot_elements([w](std::size_t i) { return bf16_to_float(w[i]); }, x, n);
}

float dot_q8_0(const BlockQ8_0* w, const float* x, std::size_t n) {
  float sum = 0;
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b, x += kQuantBlockElems) {
    const std::int8_t* q = w[b].qs;
    float block = dot_elements([q](std::size_t i) { return static_cast<float>(q[i]); }, x,
                               kQuantBlockElems);
    sum += half_to_float(w[b].d) * block;
  }
  return sum;
}

float dot_q4_0(const BlockQ4_0* w, const float* x, std::size_t n) {
  constexpr std::size_t half = kQuantBlockElems / 2;
  float sum = 0;
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b, x += kQuantBlockElems) {
    float block = 0;
    for (std::size_t j = 0; j < half; ++j) {
      const std::uint8_t byte = w[b].qs[j];
      block += static_cast<float>(static_cast<int>(byte & 0x0f) - 8) * x[j];
      block += static_cast<float>(static_cast<int>(byte >> 4) - 8) * x[j + half];
    }
    sum += half_to_float(w[b].d) * block;
  }
  return sum;
}

void f16_to_f32(const std::uint16_t* w, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float(w[i]);
}

void bf16_to_f32(const std::uint16_t* w, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_float(w[i]);
}

void q8_0_to_f32(const BlockQ8_0* w, float* out, std::size_t n) {
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b, out += kQuantBlockElems) {
    const float d = half_to_float(w[b].d);
    for (std::size_t j = 0; j < kQuantBlockElems; ++j) out[j] = static_cast<float>(w[b].qs[j]) * d;
  }
}

void q4_0_to_f32(const BlockQ4_0* w, float* out, std::size_t n) {
  constexpr std::size_t half = kQuantBlockElems / 2;
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b, out += kQuantBlockElems) {
    const float d = half_to_float(w[b].d);
    for (std::size_t j = 0; j < half; ++j) {
      out[j] = static_cast<float>(static_cast<int>(w[b].qs[j] & 0x0f) - 8) * d;
      out[j + half] = static_cast<float>(static_cast<int>(w[b].qs[j] >> 4) - 8) * d;
    }
  }
}

void dot_f32_x4(const float* w, const float* x, std::size_t x_stride, std::size_t n, float* out) {
  for (std::size_t b = 0; b < 4; ++b) out[b] = dot_f32(w, x + b * x_stride, n);
}

void dot_f32_4x3(const float* const* w, const float* x, std::size_t x_stride, std::size_t n, float* out) {
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t b = 0; b < 3; ++b) out[r * 3 + b] = dot_f32(w[r], x + b * x_stride, n);
}

constexpr RowDotKernels kPortable{"portable", dot_f32,    dot_f16,     dot_bf16,    dot_q8_0,   dot_q4_0,
                                  f16_to_f32, bf16_to_f32, q8_0_to_f32, q4_0_to_f32, dot_f32_x4,
                                  dot_f32_4x3};

}  // namespace

const RowDotKernels& portable_row_dot_kernels() { return kPortable; }

float dot_k_quant_row(const RowDotKernels& k, gguf::TensorType type, const std::byte* row, const float* x,
                      std::size_t n) {
  thread_local std::vector<float> expanded;
  expanded.resize(n);
  gguf::dequantize_row(type, row, expanded.data(), n);
  return k.f32(expanded.data(), x, n);
}

const RowDotKernels& row_dot_kernels() {
  static const RowDotKernels& chosen = [] () -> const RowDotKernels& {
    const char* force = std::getenv("SOVEREIGN_ACCEL_PORTABLE");
    if (force != nullptr && std::strcmp(force, "1") == 0) return kPortable;
    const RowDotKernels* fast = avx2_row_dot_kernels();
    return fast != nullptr ? *fast : kPortable;
  }();
  return chosen;
}

}  // namespace sovereign::accel::compute
