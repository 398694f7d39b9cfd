// Compiled for the baseline ISA; each kernel carries its own target attribute, so nothing here
// runs on a CPU without AVX2 (avx2_row_dot_kernels checks first).
#include "accel/compute/cpu_dot.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define SOVEREIGN_HAVE_AVX2_KERNELS 1
#endif

namespace sovereign::accel::compute {

#if defined(SOVEREIGN_HAVE_AVX2_KERNELS)
namespace {

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET inline float horizontal_sum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  __m128 shuf = _mm_movehdup_ps(lo);
  __m128 sums = _mm_add_ps(lo, shuf);
  shuf = _mm_movehl_ps(shuf, sums);
  sums = _mm_add_ss(sums, shuf);
  return _mm_cvtss_f32(sums);
}

AVX2_TARGET inline float scalar_half(std::uint16_t h) { return _cvtsh_ss(h); }

AVX2_TARGET float dot_f32(const float* w, const float* x, std::size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  float sum = horizontal_sum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) sum += w[i] * x[i];
  return sum;
}

AVX2_TARGET float dot_f16(const std::uint16_t* w, const float* x, std::size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8)));
    a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
  }
  float sum = horizontal_sum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) sum += scalar_half(w[i]) * x[i];
  return sum;
}

AVX2_TARGET inline __m256 load_bf16x8(const std::uint16_t* p) {
  __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

AVX2_TARGET float dot_bf16(const std::uint16_t* w, const float* x, std::size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  float sum = horizontal_sum(_mm256_add_ps(a0, a1));
  for (; i < n; ++i) sum += bf16_to_float(w[i]) * x[i];
  return sum;
}

// Eight signed bytes widened to eight floats.
AVX2_TARGET inline __m256 int8x8_to_float(__m128i bytes) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
}

AVX2_TARGET float dot_q8_0(const BlockQ8_0* w, const float* x, std::size_t n) {
  __m256 total = _mm256_setzero_ps();
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b, x += kQuantBlockElems) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs + 16));
    __m256 block = _mm256_mul_ps(int8x8_to_float(lo), _mm256_loadu_ps(x));
    block = _mm256_fmadd_ps(int8x8_to_float(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8), block);
    block = _mm256_fmadd_ps(int8x8_to_float(hi), _mm256_loadu_ps(x + 16), block);
    block = _mm256_fmadd_ps(int8x8_to_float(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), block);
    total = _mm256_fmadd_ps(_mm256_set1_ps(scalar_half(w[b].d)), block, total);
  }
  return horizontal_sum(total);
}

AVX2_TARGET float dot_q4_0(const BlockQ4_0* w, const float* x, std::size_t n) {
  const __m128i low_mask = _mm_set1_epi8(0x0f);
  const __m128i offset = _mm_set1_epi8(8);
  __m256 total = _mm256_setzero_ps();
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b, x += kQuantBlockElems) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(packed, low_mask), offset);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask), offset);
    __m256 block = _mm256_mul_ps(int8x8_to_float(lo), _mm256_loadu_ps(x));
    block = _mm256_fmadd_ps(int8x8_to_float(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8), block);
    block = _mm256_fmadd_ps(int8x8_to_float(hi), _mm256_loadu_ps(x + 16), block);
    block = _mm256_fmadd_ps(int8x8_to_float(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24), block);
    total = _mm256_fmadd_ps(_mm256_set1_ps(scalar_half(w[b].d)), block, total);
  }
  return horizontal_sum(total);
}

AVX2_TARGET void f16_to_f32(const std::uint16_t* w, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i))));
  for (; i < n; ++i) out[i] = scalar_half(w[i]);
}

AVX2_TARGET void bf16_to_f32(const std::uint16_t* w, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, load_bf16x8(w + i));
  for (; i < n; ++i) out[i] = bf16_to_float(w[i]);
}

AVX2_TARGET inline void store_scaled(float* out, __m128i lo, __m128i hi, __m256 d) {
  _mm256_storeu_ps(out, _mm256_mul_ps(int8x8_to_float(lo), d));
  _mm256_storeu_ps(out + 8, _mm256_mul_ps(int8x8_to_float(_mm_srli_si128(lo, 8)), d));
  _mm256_storeu_ps(out + 16, _mm256_mul_ps(int8x8_to_float(hi), d));
  _mm256_storeu_ps(out + 24, _mm256_mul_ps(int8x8_to_float(_mm_srli_si128(hi, 8)), d));
}

AVX2_TARGET void q8_0_to_f32(const BlockQ8_0* w, float* out, std::size_t n) {
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b, out += kQuantBlockElems) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs + 16));
    store_scaled(out, lo, hi, _mm256_set1_ps(scalar_half(w[b].d)));
  }
}

AVX2_TARGET void q4_0_to_f32(const BlockQ4_0* w, float* out, std::size_t n) {
  const __m128i low_mask = _mm_set1_epi8(0x0f);
  const __m128i offset = _mm_set1_epi8(8);
  for (std::size_t b = 0; b < n / kQuantBlockElems; ++b, out += kQuantBlockElems) {
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].qs));
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(packed, low_mask), offset);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask), offset);
    store_scaled(out, lo, hi, _mm256_set1_ps(scalar_half(w[b].d)));
  }
}

constexpr RowDotKernels kAvx2{"avx2-fma", dot_f32,    dot_f16,     dot_bf16,    dot_q8_0,
                              dot_q4_0,   f16_to_f32, bf16_to_f32, q8_0_to_f32, q4_0_to_f32};

}  // namespace

const RowDotKernels* avx2_row_dot_kernels() {
  __builtin_cpu_init();
  const bool usable = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("f16c");
  return usable ? &kAvx2 : nullptr;
}

#else

const RowDotKernels* avx2_row_dot_kernels() { return nullptr; }

#endif

}  // namespace sovereign::accel::compute
