// Helpers shared by the x86 kernel sets (cpu_dot_avx2.cpp, cpu_dot_avx512.cpp): each carries the
// AVX2 target attribute, so it inlines into kernels compiled for AVX2 or for AVX-512.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SOVEREIGN_HAVE_X86_KERNELS 1

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "accel/compute/block_formats.hpp"
#include "accel/compute/quantized_input.hpp"

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

namespace sovereign::accel::compute::x86 {

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

AVX2_TARGET inline __m256i load_codes16(const std::int16_t* x) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
}

// A 32-element block of signed bytes (two 16-byte halves) as two vectors of sixteen int16.
struct Int16Pair {
  __m256i low, high;
};
AVX2_TARGET inline Int16Pair widen_signed(__m128i lo, __m128i hi) {
  return {_mm256_cvtepi8_epi16(lo), _mm256_cvtepi8_epi16(hi)};
}

// The 32 signed codes of a Q8_0 or Q4_0 block as two 16-byte halves (a Q4_0 block's low nibbles are
// its elements 0-15, its high nibbles 16-31, both less 8).
struct SignedHalves {
  __m128i low, high;
};
AVX2_TARGET inline SignedHalves signed_codes(const BlockQ8_0& w) {
  return {_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs)),
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs + 16))};
}
AVX2_TARGET inline SignedHalves signed_codes(const BlockQ4_0& w) {
  const __m128i low_mask = _mm_set1_epi8(0x0f);
  const __m128i offset = _mm_set1_epi8(8);
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.qs));
  return {_mm_sub_epi8(_mm_and_si128(packed, low_mask), offset),
          _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(packed, 4), low_mask), offset)};
}

template <typename Block>
AVX2_TARGET inline Int16Pair block_codes(const Block& w) {
  const SignedHalves codes = signed_codes(w);
  return widen_signed(codes.low, codes.high);
}

AVX2_TARGET inline __m256i q4_k_packed(const BlockQ4_K& block, int pair) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs + 32 * pair));
}

AVX2_TARGET inline __m256i q4_k_nibbles(__m256i packed, bool high) {
  return _mm256_and_si256(high ? _mm256_srli_epi16(packed, 4) : packed, _mm256_set1_epi8(0x0f));
}

// The eight 6-bit scales (bytes 0-7) and eight 6-bit minimums (bytes 8-15) of a Q4_K block, unpacked
// from their 12 bytes with word-wide masks: the same values k_scale_min gives one at a time.
struct Q4KScalesMins {
  alignas(16) std::uint8_t bytes[16];
};

inline Q4KScalesMins q4_k_scales_mins(const std::uint8_t* packed) {
  constexpr std::uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
  std::uint32_t w[3];
  std::memcpy(w, packed, sizeof w);
  const std::uint32_t words[4] = {
      w[0] & low6,                                        // scales 0-3
      (w[2] & low4) | (((w[0] >> 6) & low2) << 4),        // scales 4-7
      w[1] & low6,                                        // minimums 0-3
      ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4)  // minimums 4-7
  };
  Q4KScalesMins out;
  std::memcpy(out.bytes, words, sizeof words);
  return out;
}

AVX2_TARGET inline __m256 uint8x8_at(const std::uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

// The 32 codes of each quarter of a 128-element Q6_K half (one input block each), recentred to
// -32..31: the low four bits of each code are a nibble of ql, the high two a bit pair of qh
// (ggml's layout, as dequantize_q6_k reads it).
struct Q6KQuarters {
  __m256i quarter[4];
};

// A code from its low four and high two bits, recentred.
AVX2_TARGET inline __m256i q6_k_code(__m256i low, __m256i high) {
  return _mm256_sub_epi8(_mm256_or_si256(low, high), _mm256_set1_epi8(32));
}

AVX2_TARGET inline Q6KQuarters q6_k_quarters(const std::uint8_t* ql, const std::uint8_t* qh) {
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
  const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
  return {{q6_k_code(_mm256_and_si256(a, nibble), _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x03)), 4)),
           q6_k_code(_mm256_and_si256(c, nibble), _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x0c)), 2)),
           q6_k_code(_mm256_and_si256(_mm256_srli_epi16(a, 4), nibble), _mm256_and_si256(h, _mm256_set1_epi8(0x30))),
           q6_k_code(_mm256_and_si256(_mm256_srli_epi16(c, 4), nibble),
                _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(static_cast<char>(0xc0))), 2))}};
}


// Per Q4_K block b: each input's eight sub-block factors d*scale*input_scale (into factors[i], one
// lane per sub-block), and the block's minimums' term dmin*min*sum(x) added into minimums[i].
template <int Count>
AVX2_TARGET inline void q4_k_block_factors(const BlockQ4_K& w, std::size_t b, const QuantizedInput* x,
                                           __m256* factors, __m256* minimums) {
  const Q4KScalesMins k = q4_k_scales_mins(w.scales);
  const __m256 scales = _mm256_mul_ps(_mm256_set1_ps(scalar_half(w.d)), uint8x8_at(k.bytes));
  const __m256 mins = _mm256_mul_ps(_mm256_set1_ps(scalar_half(w.dmin)), uint8x8_at(k.bytes + 8));
  for (int i = 0; i < Count; ++i) {
    factors[i] = _mm256_mul_ps(scales, _mm256_loadu_ps(x[i].scales + 8 * b));
    minimums[i] = _mm256_fmadd_ps(mins, _mm256_loadu_ps(x[i].sums + 8 * b), minimums[i]);
  }
}

// out[i] = w . x[i] for count (1 to kMaxRowInputs) inputs, each count its own unrolled kernel.
template <typename Block, void (*Kernel1)(const Block*, const QuantizedInput*, std::size_t, float*),
          void (*Kernel2)(const Block*, const QuantizedInput*, std::size_t, float*),
          void (*Kernel3)(const Block*, const QuantizedInput*, std::size_t, float*),
          void (*Kernel4)(const Block*, const QuantizedInput*, std::size_t, float*)>
void dot_inputs(const Block* w, const QuantizedInput* x, std::size_t count, std::size_t n, float* out) {
  switch (count) {
    case 1: return Kernel1(w, x, n, out);
    case 2: return Kernel2(w, x, n, out);
    case 3: return Kernel3(w, x, n, out);
    default: return Kernel4(w, x, n, out);
  }
}

}  // namespace sovereign::accel::compute::x86

#endif
