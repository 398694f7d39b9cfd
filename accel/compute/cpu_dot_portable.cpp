#include <cstdio>
#include <cstdlib>
#include <string_view>
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

// The integer kernels: each block's sum of weight code times input code is exact in 32 bits
// (|code| <= 32767 times |weight code| <= 128, 32 products), then scaled once.
std::int32_t block_dot(const std::int8_t* w, const std::int16_t* x, std::size_t n) {
  std::int32_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += static_cast<std::int32_t>(w[i]) * x[i];
  return sum;
}

float dot_q8_0(const BlockQ8_0* w, const QuantizedInput& x, std::size_t n) {
  float sum = 0;
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b)
    sum += half_to_float(w[b].d) * x.scales[b] *
           static_cast<float>(block_dot(w[b].qs, x.codes + b * kQuantBlockElems, kQuantBlockElems));
  return sum;
}

float dot_q4_0(const BlockQ4_0* w, const QuantizedInput& x, std::size_t n) {
  constexpr std::size_t half = kQuantBlockElems / 2;
  float sum = 0;
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b) {
    std::int8_t codes[kQuantBlockElems];
    for (std::size_t j = 0; j < half; ++j) {
      codes[j] = static_cast<std::int8_t>((w[b].qs[j] & 0x0f) - 8);
      codes[j + half] = static_cast<std::int8_t>((w[b].qs[j] >> 4) - 8);
    }
    sum += half_to_float(w[b].d) * x.scales[b] *
           static_cast<float>(block_dot(codes, x.codes + b * kQuantBlockElems, kQuantBlockElems));
  }
  return sum;
}

// Q4_K: per 32-element sub-block, value = d*scale*q - dmin*min, so the sub-block contributes
// d*scale * sum(q*x) - dmin*min * sum(x); the input blocks are the sub-blocks.
float dot_q4_k(const BlockQ4_K* w, const QuantizedInput& x, std::size_t n) {
  float sum = 0;
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const float d = half_to_float(w[b].d);
    const float dmin = half_to_float(w[b].dmin);
    for (int sub = 0; sub < 8; ++sub) {
      const std::size_t block = b * 8 + static_cast<std::size_t>(sub);
      const std::uint8_t* q = w[b].qs + 32 * (sub / 2);
      std::int8_t codes[32];
      for (int l = 0; l < 32; ++l) codes[l] = static_cast<std::int8_t>(sub % 2 == 0 ? q[l] & 0xF : q[l] >> 4);
      const gguf::KScaleMin k = gguf::k_scale_min(sub, w[b].scales);
      sum += d * k.scale * x.scales[block] * static_cast<float>(block_dot(codes, x.codes + block * 32, 32)) -
             dmin * k.min * x.sums[block];
    }
  }
  return sum;
}

// Q6_K: per 16-element sub-block, value = d*scale*(q - 32).
float dot_q6_k(const BlockQ6_K* w, const QuantizedInput& x, std::size_t n) {
  float sum = 0;
  const std::int16_t* xc = x.codes;
  const float* xs = x.scales;
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const std::uint8_t* ql = w[b].ql;
    const std::uint8_t* qh = w[b].qh;
    const std::int8_t* sc = w[b].scales;
    float block = 0;
    for (int half = 0; half < 2; ++half, xc += 128, xs += 4, ql += 64, qh += 32, sc += 8) {
      // The four 32-element input blocks of this half, codes recentred to -32..31.
      std::int8_t codes[4][32];
      for (int l = 0; l < 32; ++l) {
        codes[0][l] = static_cast<std::int8_t>(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
        codes[1][l] = static_cast<std::int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        codes[2][l] = static_cast<std::int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        codes[3][l] = static_cast<std::int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
      for (int quarter = 0; quarter < 4; ++quarter)
        for (int is = 0; is < 2; ++is)
          block += static_cast<float>(sc[is + 2 * quarter]) * xs[quarter] *
                   static_cast<float>(block_dot(codes[quarter] + 16 * is, xc + 32 * quarter + 16 * is, 16));
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

// The portable kernels take one input at a time.
template <typename Block, float (*Kernel)(const Block*, const QuantizedInput&, std::size_t)>
void dot_inputs(const Block* w, const QuantizedInput* x, std::size_t count, std::size_t n, float* out) {
  for (std::size_t i = 0; i < count; ++i) out[i] = Kernel(w, x[i], n);
}

constexpr RowDotKernels kPortable{"portable",
                                  dot_f32,
                                  dot_f16,
                                  dot_bf16,
                                  dot_inputs<BlockQ8_0, dot_q8_0>,
                                  dot_inputs<BlockQ4_0, dot_q4_0>,
                                  dot_inputs<BlockQ4_K, dot_q4_k>,
                                  dot_inputs<BlockQ6_K, dot_q6_k>,
                                  f16_to_f32,  bf16_to_f32,
                                  q8_0_to_f32, q4_0_to_f32, q4_k_to_f32, q6_k_to_f32, dot_f32_x4,
                                  dot_f32_4x3};

}  // namespace

const RowDotKernels& portable_row_dot_kernels() { return kPortable; }

const RowDotKernels& row_dot_kernels() {
  static const RowDotKernels& chosen = [] () -> const RowDotKernels& {
    const char* asked = std::getenv("SOVEREIGN_ACCEL_KERNELS");
    const std::string_view limit = asked != nullptr ? asked : "";
    if (!limit.empty() && limit != "portable" && limit != "avx2" && limit != "avx512")
      std::fprintf(stderr, "SOVEREIGN_ACCEL_KERNELS=%s is not one of portable, avx2, avx512: using the fastest set\n",
                   asked);
    if (limit == "portable") return kPortable;
    const RowDotKernels* avx512 = limit == "avx2" ? nullptr : avx512_row_dot_kernels();
    if (avx512 != nullptr) return *avx512;
    const RowDotKernels* avx2 = avx2_row_dot_kernels();
    return avx2 != nullptr ? *avx2 : kPortable;
  }();
  return chosen;
}

}  // namespace sovereign::accel::compute
