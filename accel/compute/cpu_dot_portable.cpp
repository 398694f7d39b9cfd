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

// Q4_K: per 32-element sub-block, value = d*scale*q - dmin*min, so the sub-block contributes
// d*scale * sum(q*x) - dmin*min * sum(x).
float dot_q4_k(const BlockQ4_K* w, const float* x, std::size_t n) {
  float sum = 0;
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const float d = half_to_float(w[b].d);
    const float dmin = half_to_float(w[b].dmin);
    for (int chunk = 0; chunk < 4; ++chunk, x += 64) {
      const std::uint8_t* q = w[b].qs + 32 * chunk;
      float qx_lo = 0, x_lo = 0, qx_hi = 0, x_hi = 0;
      for (int l = 0; l < 32; ++l) {
        qx_lo += static_cast<float>(q[l] & 0xF) * x[l];
        x_lo += x[l];
        qx_hi += static_cast<float>(q[l] >> 4) * x[l + 32];
        x_hi += x[l + 32];
      }
      const gguf::KScaleMin lo = gguf::k_scale_min(2 * chunk, w[b].scales);
      const gguf::KScaleMin hi = gguf::k_scale_min(2 * chunk + 1, w[b].scales);
      sum += d * lo.scale * qx_lo - dmin * lo.min * x_lo + d * hi.scale * qx_hi - dmin * hi.min * x_hi;
    }
  }
  return sum;
}

// Q6_K: per 16-element sub-block, value = d*scale*(q - 32).
float dot_q6_k(const BlockQ6_K* w, const float* x, std::size_t n) {
  float sum = 0;
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const std::uint8_t* ql = w[b].ql;
    const std::uint8_t* qh = w[b].qh;
    const std::int8_t* sc = w[b].scales;
    float block = 0;
    for (int half = 0; half < 2; ++half, x += 128, ql += 64, qh += 32, sc += 8) {
      float part[8] = {};
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        part[is] += static_cast<float>(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32) * x[l];
        part[is + 2] += static_cast<float>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * x[l + 32];
        part[is + 4] += static_cast<float>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * x[l + 64];
        part[is + 6] += static_cast<float>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * x[l + 96];
      }
      for (int s = 0; s < 8; ++s) block += static_cast<float>(sc[s]) * part[s];
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

// The GGUF module's decoders are the portable expansion of K-quant rows.
void q4_k_to_f32(const BlockQ4_K* w, float* out, std::size_t n) {
  gguf::dequantize_row(gguf::TensorType::q4_k, reinterpret_cast<const std::byte*>(w), out, n);
}

void q6_k_to_f32(const BlockQ6_K* w, float* out, std::size_t n) {
  gguf::dequantize_row(gguf::TensorType::q6_k, reinterpret_cast<const std::byte*>(w), out, n);
}

void dot_f32_x4(const float* w, const float* x, std::size_t x_stride, std::size_t n, float* out) {
  for (std::size_t b = 0; b < 4; ++b) out[b] = dot_f32(w, x + b * x_stride, n);
}

void dot_f32_4x3(const float* const* w, const float* x, std::size_t x_stride, std::size_t n, float* out) {
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t b = 0; b < 3; ++b) out[r * 3 + b] = dot_f32(w[r], x + b * x_stride, n);
}

constexpr RowDotKernels kPortable{"portable",  dot_f32,     dot_f16,     dot_bf16,    dot_q8_0,
                                  dot_q4_0,    dot_q4_k,    dot_q6_k,    f16_to_f32,  bf16_to_f32,
                                  q8_0_to_f32, q4_0_to_f32, q4_k_to_f32, q6_k_to_f32, dot_f32_x4,
                                  dot_f32_4x3};

}  // namespace

const RowDotKernels& portable_row_dot_kernels() { return kPortable; }

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
