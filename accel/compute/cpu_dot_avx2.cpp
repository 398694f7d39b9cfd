// Compiled for the baseline ISA; each kernel carries its own target attribute, so nothing here
// runs on a CPU without AVX2 (avx2_row_dot_kernels checks first).
#include "accel/compute/cpu_dot.hpp"
#include "accel/compute/cpu_dot_x86.hpp"

#if defined(SOVEREIGN_HAVE_X86_KERNELS)
#include <cpuid.h>
#endif

namespace sovereign::accel::compute {

#if defined(SOVEREIGN_HAVE_X86_KERNELS)
namespace {

using namespace x86;

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

// Eight signed bytes widened to eight floats (the row expansions below).
AVX2_TARGET inline __m256 int8x8_to_float(__m128i bytes) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(bytes));
}

// The integer kernels. Weight codes are widened to int16 and multiplied with the inputs' int16 codes
// sixteen at a time (vpmaddwd adds neighbouring products: eight int32 lanes out); a 32-element
// unit's lanes are exact (|code| <= 32767 times |weight code| <= 4096, four products per lane) and
// are scaled once per unit by weight factor times input scale. Each row is decoded once for up to
// kMaxRowInputs inputs (batched decode), each input with two running totals (even and odd units) so
// consecutive units do not wait on each other.

// The running totals of Count inputs.
template <int Count>
struct Totals {
  // Two chains per input: units alternate between them (four, for a lone input, measured no faster).
  static constexpr int kLanes = 2;
  __m256 sum[Count][kLanes];
};

// For every input i: totals[i][lane] += factor_i * (low . x_i[32 unit ..] + high . x_i[32 unit + 16 ..]),
// low and high being the unit's 32 weight codes as two vectors of sixteen int16, factor_i the weight
// factor times input i's scale for the unit: factor(i).
template <int Count, typename Factor>
AVX2_TARGET inline void accumulate_unit(Totals<Count>& t, const QuantizedInput* x, std::size_t unit, int lane, __m256i low,
                                        __m256i high, const Factor& factor) {
  for (int i = 0; i < Count; ++i) {
    const std::int16_t* codes = x[i].codes + unit * kInputBlockElems;
    const __m256i lanes = _mm256_add_epi32(_mm256_madd_epi16(low, load_codes16(codes)),
                                           _mm256_madd_epi16(high, load_codes16(codes + 16)));
    __m256& sum = t.sum[i][lane % Totals<Count>::kLanes];
    sum = _mm256_fmadd_ps(factor(i), _mm256_cvtepi32_ps(lanes), sum);
  }
}

// The factor of a unit whose weights have one scale: that scale times each input's scale.
struct UnitScale {
  const QuantizedInput* x;
  std::size_t unit;
  float weight;
  AVX2_TARGET __m256 operator()(int i) const { return _mm256_set1_ps(weight * x[i].scales[unit]); }
};

// Lane `lane` of each input's factor vector, broadcast by one permute.
struct FactorLane {
  const __m256* factors;
  int lane;
  AVX2_TARGET __m256 operator()(int i) const { return _mm256_permutevar8x32_ps(factors[i], _mm256_set1_epi32(lane)); }
};

template <int Count>
AVX2_TARGET inline void finish(Totals<Count>& t, const __m256* minus, float* out) {
  for (int i = 0; i < Count; ++i) {
    __m256 sum = t.sum[i][0];
    for (int l = 1; l < Totals<Count>::kLanes; ++l) sum = _mm256_add_ps(sum, t.sum[i][l]);
    if (minus != nullptr) sum = _mm256_sub_ps(sum, minus[i]);
    out[i] = horizontal_sum(sum);
  }
}

template <int Count>
AVX2_TARGET inline Totals<Count> zero_totals() {
  Totals<Count> t;
  for (int i = 0; i < Count; ++i)
    for (int l = 0; l < Totals<Count>::kLanes; ++l) t.sum[i][l] = _mm256_setzero_ps();
  return t;
}

// Rows of 32-element blocks with one half-precision scale each (Q8_0).
template <int Count, typename Block>
AVX2_TARGET void dot_scaled_blocks(const Block* w, const QuantizedInput* x, std::size_t n, float* out) {
  Totals<Count> t = zero_totals<Count>();
  const std::size_t blocks = n / kQuantBlockElems;
  const auto unit = [&](std::size_t block, int lane) AVX2_TARGET {
    const Int16Pair codes = block_codes(w[block]);
    accumulate_unit<Count>(t, x, block, lane, codes.low, codes.high, UnitScale{x, block, scalar_half(w[block].d)});
  };
  std::size_t b = 0;
  for (; b + 4 <= blocks; b += 4)
    for (int lane = 0; lane < 4; ++lane) unit(b + lane, lane);
  for (; b < blocks; ++b) unit(b, 0);
  finish<Count>(t, nullptr, out);
}

// The eight half-precision scales of Q4_0 blocks w[0..7] as floats.
AVX2_TARGET inline __m256 q4_0_scales(const BlockQ4_0* w) {
  const auto d = [w](int i) { return static_cast<short>(w[i].d); };
  return _mm256_cvtph_ps(_mm_set_epi16(d(7), d(6), d(5), d(4), d(3), d(2), d(1), d(0)));
}

// Q4_0: d * sum((q - 8) * x) per 32-element block, as d * sum(q * x) - 8 * d * sum(x), eight blocks at
// a time: their scales converted together, each input's eight factors (scale times input scale) one
// vector and a block's factor one permute of it, the codes widened as stored (0..15), the bias taken
// through the input's exact block sums. A tail of fewer than eight blocks takes Q8_0's units.
template <int Count>
AVX2_TARGET void dot_q4_0(const BlockQ4_0* w, const QuantizedInput* x, std::size_t n, float* out) {
  Totals<Count> t = zero_totals<Count>();
  __m256 zero_point[Count];
  for (int i = 0; i < Count; ++i) zero_point[i] = _mm256_setzero_ps();
  const __m128i nibble = _mm_set1_epi8(0x0f);
  const std::size_t blocks = n / kQuantBlockElems;
  std::size_t b = 0;
  for (; b + 8 <= blocks; b += 8) {
    const __m256 scales = q4_0_scales(w + b);
    __m256 factors[Count];
    q4_0_group_factors<Count>(scales, b, x, factors, zero_point);
    for (int j = 0; j < 8; ++j) {
      const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b + j].qs));
      const __m256i low = _mm256_cvtepu8_epi16(_mm_and_si128(packed, nibble));
      const __m256i high = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), nibble));
      accumulate_unit<Count>(t, x, b + j, j, low, high, FactorLane{factors, j});
    }
  }
  for (; b < blocks; ++b) {
    const Int16Pair codes = block_codes(w[b]);
    accumulate_unit<Count>(t, x, b, 0, codes.low, codes.high, UnitScale{x, b, scalar_half(w[b].d)});
  }
  for (int i = 0; i < Count; ++i) zero_point[i] = _mm256_mul_ps(zero_point[i], _mm256_set1_ps(8.0f));
  finish<Count>(t, zero_point, out);
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

AVX2_TARGET inline Q4KCodes q4_k_codes(__m256i packed, bool high) {
  const __m256i codes = q4_k_nibbles(packed, high);
  const __m128i lo = _mm256_castsi256_si128(codes);
  const __m128i hi = _mm256_extracti128_si256(codes, 1);
  return {{uint8x8_to_float(lo), uint8x8_to_float(_mm_srli_si128(lo, 8)), uint8x8_to_float(hi),
           uint8x8_to_float(_mm_srli_si128(hi, 8))}};
}

// Q4_K: a 32-element sub-block (one input block) contributes d*scale * sum(q*x) - dmin*min * sum(x).
// Per block and input, the eight sub-blocks' factors d*scale*input_scale and the minimums' terms are
// computed as vectors.
template <int Count>
AVX2_TARGET void dot_q4_k(const BlockQ4_K* w, const QuantizedInput* x, std::size_t n, float* out) {
  Totals<Count> t = zero_totals<Count>();
  __m256 minimums[Count];
  for (int i = 0; i < Count; ++i) minimums[i] = _mm256_setzero_ps();
  __m256 factors[Count];
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    q4_k_block_factors<Count>(w[b], b, x, factors, minimums);
    for (int pair = 0; pair < 4; ++pair) {
      const __m256i packed = q4_k_packed(w[b], pair);
      for (int sub = 0; sub < 2; ++sub) {
        const __m256i codes = q4_k_nibbles(packed, sub == 1);
        accumulate_unit<Count>(t, x, 8 * b + 2 * pair + sub, 2 * pair + sub, _mm256_cvtepu8_epi16(_mm256_castsi256_si128(codes)),
                               _mm256_cvtepu8_epi16(_mm256_extracti128_si256(codes, 1)),
                               FactorLane{factors, 2 * pair + sub});
      }
    }
  }
  finish<Count>(t, minimums, out);
}

// Q6_K: a 16-element sub-block contributes d*scale * sum((q - 32) * x). The two sub-blocks of a
// quarter share its input block, so their codes are multiplied by their scales in int16 (at most
// 32 * 128) and the quarter is one unit, scaled by d.
template <int Count>
AVX2_TARGET void dot_q6_k(const BlockQ6_K* w, const QuantizedInput* x, std::size_t n, float* out) {
  Totals<Count> t = zero_totals<Count>();
  alignas(32) std::int16_t scales[16];
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    const std::uint8_t* ql = w[b].ql;
    const std::uint8_t* qh = w[b].qh;
    _mm256_store_si256(reinterpret_cast<__m256i*>(scales),
                       _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales))));
    const float d = scalar_half(w[b].d);
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32) {
      const Q6KQuarters codes = q6_k_quarters(ql, qh);
      for (int quarter = 0; quarter < 4; ++quarter) {
        const std::int16_t* sc = scales + 8 * half + 2 * quarter;
        const __m256i low = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(codes.quarter[quarter])),
                                               _mm256_set1_epi16(sc[0]));
        const __m256i high = _mm256_mullo_epi16(
            _mm256_cvtepi8_epi16(_mm256_extracti128_si256(codes.quarter[quarter], 1)), _mm256_set1_epi16(sc[1]));
        accumulate_unit<Count>(t, x, 8 * b + 4 * half + quarter, quarter, low, high,
                               UnitScale{x, 8 * b + 4 * half + quarter, d});
      }
    }
  }
  finish<Count>(t, nullptr, out);
}

constexpr auto dot_q8_0_inputs =
    dot_inputs<BlockQ8_0, dot_scaled_blocks<1, BlockQ8_0>, dot_scaled_blocks<2, BlockQ8_0>,
               dot_scaled_blocks<3, BlockQ8_0>, dot_scaled_blocks<4, BlockQ8_0>>;
constexpr auto dot_q4_0_inputs =
    dot_inputs<BlockQ4_0, dot_q4_0<1>, dot_q4_0<2>, dot_q4_0<3>, dot_q4_0<4>>;
constexpr auto dot_q4_k_inputs = dot_inputs<BlockQ4_K, dot_q4_k<1>, dot_q4_k<2>, dot_q4_k<3>, dot_q4_k<4>>;
constexpr auto dot_q6_k_inputs = dot_inputs<BlockQ6_K, dot_q6_k<1>, dot_q6_k<2>, dot_q6_k<3>, dot_q6_k<4>>;

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
      const Q6KQuarters codes = q6_k_quarters(ql, qh);
      for (int quarter = 0; quarter < 4; ++quarter) {
        const __m128i halves[2] = {_mm256_castsi256_si128(codes.quarter[quarter]),
                                   _mm256_extracti128_si256(codes.quarter[quarter], 1)};
        for (int sub = 0; sub < 2; ++sub) {
          const __m256 scale = _mm256_set1_ps(d * sc[sub + 2 * quarter]);
          float* o = out + 32 * quarter + 16 * sub;
          _mm256_storeu_ps(o, _mm256_mul_ps(int8x8_to_float(halves[sub]), scale));
          _mm256_storeu_ps(o + 8, _mm256_mul_ps(int8x8_to_float(_mm_srli_si128(halves[sub], 8)), scale));
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

constexpr RowDotKernels kAvx2{"avx2-fma",      dot_f32,         dot_f16,         dot_bf16,        dot_q8_0_inputs,
                              dot_q4_0_inputs, dot_q4_k_inputs, dot_q6_k_inputs, f16_to_f32,  bf16_to_f32,
                              q8_0_to_f32, q4_0_to_f32, q4_k_to_f32, q6_k_to_f32, dot_f32_x4,
                              dot_f32_4x3};

}  // namespace

// F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports has no name for it.
static bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}

const RowDotKernels* avx2_row_dot_kernels() {
  __builtin_cpu_init();
  const bool usable = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  return usable ? &kAvx2 : nullptr;
}

#else

const RowDotKernels* avx2_row_dot_kernels() { return nullptr; }

#endif

}  // namespace sovereign::accel::compute
