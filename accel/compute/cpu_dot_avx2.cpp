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

// Four independent accumulators: an FMA's latency is four cycles, so one chain would idle the unit.
AVX2_TARGET float dot_f32(const float* w, const float* x, std::size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), a0);
  float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) sum += w[i] * x[i];
  return sum;
}

AVX2_TARGET inline __m256 load_f16x8(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

AVX2_TARGET float dot_f16(const std::uint16_t* w, const float* x, std::size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load_f16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(load_f16x8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(load_f16x8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_f16x8(w + i), _mm256_loadu_ps(x + i), a0);
  float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) sum += scalar_half(w[i]) * x[i];
  return sum;
}

AVX2_TARGET inline __m256 load_bf16x8(const std::uint16_t* p) {
  __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

AVX2_TARGET float dot_bf16(const std::uint16_t* w, const float* x, std::size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load_bf16x8(w + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(load_bf16x8(w + i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(load_bf16x8(w + i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(x + i), a0);
  float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < n; ++i) sum += bf16_to_float(w[i]) * x[i];
  return sum;
}

// Eight signed bytes widened to eight floats.
AVX2_TARGET inline __m256 int8x8_to_float(__m128i bytes) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
}

// Sum of one block's 32 products from its two 16-byte halves of signed weights; the four
// products are independent so they overlap in the pipeline.
AVX2_TARGET inline __m256 block_products(__m128i lo, __m128i hi, const float* x) {
  const __m256 p0 = _mm256_mul_ps(int8x8_to_float(lo), _mm256_loadu_ps(x));
  const __m256 p1 = _mm256_mul_ps(int8x8_to_float(_mm_srli_si128(lo, 8)), _mm256_loadu_ps(x + 8));
  const __m256 p2 = _mm256_mul_ps(int8x8_to_float(hi), _mm256_loadu_ps(x + 16));
  const __m256 p3 = _mm256_mul_ps(int8x8_to_float(_mm_srli_si128(hi, 8)), _mm256_loadu_ps(x + 24));
  return _mm256_add_ps(_mm256_add_ps(p0, p1), _mm256_add_ps(p2, p3));
}

AVX2_TARGET inline __m256 q8_0_block(const BlockQ8_0& b, const float* x) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs + 16));
  return block_products(lo, hi, x);
}

// Two running totals (even and odd blocks) so consecutive blocks do not wait on each other.
AVX2_TARGET float dot_q8_0(const BlockQ8_0* w, const float* x, std::size_t n) {
  __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
  const std::size_t blocks = n / kQuantBlockElems;
  std::size_t b = 0;
  for (; b + 2 <= blocks; b += 2, x += 2 * kQuantBlockElems) {
    even = _mm256_fmadd_ps(_mm256_set1_ps(scalar_half(w[b].d)), q8_0_block(w[b], x), even);
    odd = _mm256_fmadd_ps(_mm256_set1_ps(scalar_half(w[b + 1].d)), q8_0_block(w[b + 1], x + kQuantBlockElems), odd);
  }
  if (b < blocks) even = _mm256_fmadd_ps(_mm256_set1_ps(scalar_half(w[b].d)), q8_0_block(w[b], x), even);
  return horizontal_sum(_mm256_add_ps(even, odd));
}

AVX2_TARGET inline __m256 q4_0_block(const BlockQ4_0& b, const float* x) {
  const __m128i low_mask = _mm_set1_epi8(0x0f);
  const __m128i offset = _mm_set1_epi8(8);
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
  const __m128i lo = _mm_sub_epi8(_mm_and_si128(packed, low_mask), offset);
  const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask), offset);
  return block_products(lo, hi, x);
}

AVX2_TARGET float dot_q4_0(const BlockQ4_0* w, const float* x, std::size_t n) {
  __m256 even = _mm256_setzero_ps(), odd = _mm256_setzero_ps();
  const std::size_t blocks = n / kQuantBlockElems;
  std::size_t b = 0;
  for (; b + 2 <= blocks; b += 2, x += 2 * kQuantBlockElems) {
    even = _mm256_fmadd_ps(_mm256_set1_ps(scalar_half(w[b].d)), q4_0_block(w[b], x), even);
    odd = _mm256_fmadd_ps(_mm256_set1_ps(scalar_half(w[b + 1].d)), q4_0_block(w[b + 1], x + kQuantBlockElems), odd);
  }
  if (b < blocks) even = _mm256_fmadd_ps(_mm256_set1_ps(scalar_half(w[b].d)), q4_0_block(w[b], x), even);
  return horizontal_sum(_mm256_add_ps(even, odd));
}

// Eight unsigned bytes widened to eight floats.
AVX2_TARGET inline __m256 uint8x8_to_float(__m128i bytes) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
}

// The 32 codes of one Q4_K sub-block as four vectors of eight floats. Sub-blocks come in pairs: the
// low nibbles of 32 bytes of qs (`high` false), then their high nibbles.
struct Q4KCodes {
  __m256 eighth[4];
};

AVX2_TARGET inline __m256i q4_k_packed(const BlockQ4_K& block, int pair) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs + 32 * pair));
}

AVX2_TARGET inline Q4KCodes q4_k_codes(__m256i packed, bool high) {
  const __m256i codes = _mm256_and_si256(high ? _mm256_srli_epi16(packed, 4) : packed, _mm256_set1_epi8(0x0f));
  const __m128i lo = _mm256_castsi256_si128(codes);
  const __m128i hi = _mm256_extracti128_si256(codes, 1);
  return {{uint8x8_to_float(lo), uint8x8_to_float(_mm_srli_si128(lo, 8)), uint8x8_to_float(hi),
           uint8x8_to_float(_mm_srli_si128(hi, 8))}};
}

// Q4_K: a 32-element sub-block contributes d*scale * sum(q*x) - dmin*min * sum(x). Both sums stay
// vectors and are scaled into one accumulator per nibble half, so a row needs one horizontal sum.
AVX2_TARGET float dot_q4_k(const BlockQ4_K* w, const float* x, std::size_t n) {
  __m256 total[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};  // two chains: one per nibble half
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const float d = scalar_half(w[b].d);
    const float dmin = scalar_half(w[b].dmin);
    for (int pair = 0; pair < 4; ++pair) {
      const __m256i packed = q4_k_packed(w[b], pair);
      for (int sub = 0; sub < 2; ++sub, x += 32) {
        const Q4KCodes q = q4_k_codes(packed, sub == 1);
        const __m256 x0 = _mm256_loadu_ps(x), x1 = _mm256_loadu_ps(x + 8);
        const __m256 x2 = _mm256_loadu_ps(x + 16), x3 = _mm256_loadu_ps(x + 24);
        const __m256 qx = _mm256_add_ps(_mm256_fmadd_ps(q.eighth[1], x1, _mm256_mul_ps(q.eighth[0], x0)),
                                        _mm256_fmadd_ps(q.eighth[3], x3, _mm256_mul_ps(q.eighth[2], x2)));
        const __m256 xsum = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
        const gguf::KScaleMin k = gguf::k_scale_min(2 * pair + sub, w[b].scales);
        __m256& acc = total[sub];
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d * k.scale), qx, acc);
        acc = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * k.min), xsum, acc);
      }
    }
  }
  return horizontal_sum(_mm256_add_ps(total[0], total[1]));
}

// Sixteen 6-bit codes of a Q6_K sub-block for each of the four quarters of a 128-element half.
struct Q6KCodes {
  __m128i quarter[4];
};

AVX2_TARGET inline Q6KCodes q6_k_codes(const std::uint8_t* ql, const std::uint8_t* qh, int l) {
  const __m128i nibble = _mm_set1_epi8(0x0f);
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + l));
  const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(ql + l + 32));
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qh + l));
  return {{_mm_or_si128(_mm_and_si128(a, nibble), _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi8(0x03)), 4)),
           _mm_or_si128(_mm_and_si128(c, nibble), _mm_slli_epi16(_mm_and_si128(h, _mm_set1_epi8(0x0c)), 2)),
           _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), nibble), _mm_and_si128(h, _mm_set1_epi8(0x30))),
           _mm_or_si128(_mm_and_si128(_mm_srli_epi16(c, 4), nibble),
                        _mm_srli_epi16(_mm_and_si128(h, _mm_set1_epi8(static_cast<char>(0xc0))), 2))}};
}

// Sixteen 6-bit codes (a Q6_K sub-block), recentred, times sixteen inputs.
AVX2_TARGET inline __m256 q6_k_products(__m128i codes, const float* x) {
  const __m128i centred = _mm_sub_epi8(codes, _mm_set1_epi8(32));
  const __m256 p = _mm256_mul_ps(int8x8_to_float(centred), _mm256_loadu_ps(x));
  return _mm256_fmadd_ps(int8x8_to_float(_mm_srli_si128(centred, 8)), _mm256_loadu_ps(x + 8), p);
}

// Q6_K: a 16-element sub-block contributes d*scale * sum((q - 32) * x); the low four bits of each
// code are a nibble of ql, the high two a bit pair of qh (ggml's layout, as dequantize_q6_k reads it).
AVX2_TARGET float dot_q6_k(const BlockQ6_K* w, const float* x, std::size_t n) {
  __m256 total = _mm256_setzero_ps();
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const std::uint8_t* ql = w[b].ql;
    const std::uint8_t* qh = w[b].qh;
    const std::int8_t* sc = w[b].scales;
    __m256 block = _mm256_setzero_ps();
    for (int half = 0; half < 2; ++half, x += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l += 16) {
        const Q6KCodes codes = q6_k_codes(ql, qh, l);
        for (int quarter = 0; quarter < 4; ++quarter)
          block = _mm256_fmadd_ps(_mm256_set1_ps(sc[l / 16 + 2 * quarter]),
                                  q6_k_products(codes.quarter[quarter], x + l + 32 * quarter), block);
      }
    }
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

// Q4_K expanded: d*scale*q - dmin*min per 32-element sub-block, eight floats per store.
AVX2_TARGET void q4_k_to_f32(const BlockQ4_K* w, float* out, std::size_t n) {
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const float d = scalar_half(w[b].d);
    const float dmin = scalar_half(w[b].dmin);
    for (int pair = 0; pair < 4; ++pair) {
      const __m256i packed = q4_k_packed(w[b], pair);
      for (int sub = 0; sub < 2; ++sub, out += 32) {
        const Q4KCodes q = q4_k_codes(packed, sub == 1);
        const gguf::KScaleMin k = gguf::k_scale_min(2 * pair + sub, w[b].scales);
        const __m256 scale = _mm256_set1_ps(d * k.scale);
        const __m256 offset = _mm256_set1_ps(-dmin * k.min);
        for (int e = 0; e < 4; ++e) _mm256_storeu_ps(out + 8 * e, _mm256_fmadd_ps(q.eighth[e], scale, offset));
      }
    }
  }
}

// Q6_K expanded: d*scale*(q - 32) per 16-element sub-block.
AVX2_TARGET void q6_k_to_f32(const BlockQ6_K* w, float* out, std::size_t n) {
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const float d = scalar_half(w[b].d);
    const std::uint8_t* ql = w[b].ql;
    const std::uint8_t* qh = w[b].qh;
    const std::int8_t* sc = w[b].scales;
    for (int half = 0; half < 2; ++half, out += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l += 16) {
        const Q6KCodes codes = q6_k_codes(ql, qh, l);
        for (int quarter = 0; quarter < 4; ++quarter) {
          const __m128i centred = _mm_sub_epi8(codes.quarter[quarter], _mm_set1_epi8(32));
          const __m256 scale = _mm256_set1_ps(d * sc[l / 16 + 2 * quarter]);
          float* o = out + l + 32 * quarter;
          _mm256_storeu_ps(o, _mm256_mul_ps(int8x8_to_float(centred), scale));
          _mm256_storeu_ps(o + 8, _mm256_mul_ps(int8x8_to_float(_mm_srli_si128(centred, 8)), scale));
        }
      }
    }
  }
}

// One f32 row against four inputs: each weight load feeds four independent FMA chains.
AVX2_TARGET void dot_f32_x4(const float* w, const float* x, std::size_t x_stride, std::size_t n, float* out) {
  const float* x0 = x;
  const float* x1 = x + x_stride;
  const float* x2 = x + 2 * x_stride;
  const float* x3 = x + 3 * x_stride;
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 wv = _mm256_loadu_ps(w + i);
    a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x0 + i), a0);
    a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x1 + i), a1);
    a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x2 + i), a2);
    a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x3 + i), a3);
  }
  out[0] = horizontal_sum(a0);
  out[1] = horizontal_sum(a1);
  out[2] = horizontal_sum(a2);
  out[3] = horizontal_sum(a3);
  for (; i < n; ++i) {
    out[0] += w[i] * x0[i];
    out[1] += w[i] * x1[i];
    out[2] += w[i] * x2[i];
    out[3] += w[i] * x3[i];
  }
}

AVX2_TARGET void dot_f32_4x3(const float* const* w, const float* x, std::size_t x_stride, std::size_t n,
                             float* out) {
  __m256 acc[4][3];
  for (int r = 0; r < 4; ++r)
    for (int b = 0; b < 3; ++b) acc[r][b] = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x0 = _mm256_loadu_ps(x + i);
    const __m256 x1 = _mm256_loadu_ps(x + x_stride + i);
    const __m256 x2 = _mm256_loadu_ps(x + 2 * x_stride + i);
    for (int r = 0; r < 4; ++r) {
      const __m256 wv = _mm256_loadu_ps(w[r] + i);
      acc[r][0] = _mm256_fmadd_ps(wv, x0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(wv, x1, acc[r][1]);
      acc[r][2] = _mm256_fmadd_ps(wv, x2, acc[r][2]);
    }
  }
  for (int r = 0; r < 4; ++r)
    for (int b = 0; b < 3; ++b) {
      float sum = horizontal_sum(acc[r][b]);
      for (std::size_t j = i; j < n; ++j) sum += w[r][j] * x[b * x_stride + j];
      out[r * 3 + b] = sum;
    }
}

constexpr RowDotKernels kAvx2{"avx2-fma",  dot_f32,     dot_f16,     dot_bf16,    dot_q8_0,
                              dot_q4_0,    dot_q4_k,    dot_q6_k,    f16_to_f32,  bf16_to_f32,
                              q8_0_to_f32, q4_0_to_f32, q4_k_to_f32, q6_k_to_f32, dot_f32_x4,
                              dot_f32_4x3};

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
