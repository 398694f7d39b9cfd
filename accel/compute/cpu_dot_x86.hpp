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

// The eight 6-bit scales and eight 6-bit minimums of a Q4_K block, as floats, unpacked from their
// 12 bytes (the same values k_scale_min gives one at a time). As 32-bit words w0..w2 of those bytes:
// scales 0-3 are w0 & 0x3f per byte, minimums 0-3 w1 & 0x3f; scales 4-7 take their low four bits from
// w2 and their high two from the top of w0's bytes, minimums 4-7 from w2's high nibbles and w1's tops.
struct Q4KScalesMins {
  __m256 scales, mins;
};

AVX2_TARGET inline Q4KScalesMins q4_k_scales_mins(const BlockQ4_K& w) {
  // 16 bytes from the scales: the last 4 are the block's first codes, read and discarded.
  const __m128i words = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales));
  const __m128i low = _mm_srlv_epi32(_mm_shuffle_epi32(words, _MM_SHUFFLE(2, 1, 2, 0)), _mm_set_epi32(4, 0, 0, 0));
  const __m128i high = _mm_srli_epi32(_mm_shuffle_epi32(words, _MM_SHUFFLE(1, 0, 0, 0)), 6);
  const __m128i bytes = _mm_or_si128(
      _mm_and_si128(low, _mm_set_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f)),
      _mm_slli_epi32(_mm_and_si128(high, _mm_set_epi32(0x03030303, 0, 0x03030303, 0)), 4));
  return {_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)),
          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)))};
}

// The 32 codes of each quarter of a 128-element Q6_K half (one input block each), less `offset`
// (32: recentred to -32..31; 0: as stored, 0..63): the low four bits of each code are a nibble of
// ql, the high two a bit pair of qh (ggml's layout, as dequantize_q6_k reads it).
struct Q6KQuarters {
  __m256i quarter[4];
};

AVX2_TARGET inline Q6KQuarters q6_k_quarters(const std::uint8_t* ql, const std::uint8_t* qh, char offset = 32) {
  // A code from its low four and high two bits, less the offset.
  const auto q6_k_code = [offset](__m256i low, __m256i high) AVX2_TARGET {
    const __m256i code = _mm256_or_si256(low, high);
    return offset == 0 ? code : _mm256_sub_epi8(code, _mm256_set1_epi8(offset));
  };
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
  const Q4KScalesMins k = q4_k_scales_mins(w);
  const __m256 scales = _mm256_mul_ps(_mm256_set1_ps(scalar_half(w.d)), k.scales);
  const __m256 mins = _mm256_mul_ps(_mm256_set1_ps(scalar_half(w.dmin)), k.mins);
  for (int i = 0; i < Count; ++i) {
    factors[i] = _mm256_mul_ps(scales, _mm256_loadu_ps(x[i].scales + 8 * b));
    minimums[i] = _mm256_fmadd_ps(mins, _mm256_loadu_ps(x[i].sums + 8 * b), minimums[i]);
  }
}

// Per group of eight Q4_0 blocks from block b (their scales as floats): each input's eight factors
// scale*input_scale (into factors[i], one lane per block), and the bias's term scale*sum(x) added
// into zero_point[i] (times 8 when the row is done).
template <int Count>
AVX2_TARGET inline void q4_0_group_factors(__m256 scales, std::size_t b, const QuantizedInput* x, __m256* factors,
                                           __m256* zero_point) {
  for (int i = 0; i < Count; ++i) {
    factors[i] = _mm256_mul_ps(scales, _mm256_loadu_ps(x[i].scales + b));
    zero_point[i] = _mm256_fmadd_ps(scales, _mm256_loadu_ps(x[i].sums + b), zero_point[i]);
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
