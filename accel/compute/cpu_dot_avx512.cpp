// The AVX-512 kernel set: the AVX2 set with the block-quantized row dots rewritten for 512-bit
// vectors (their per-weight work is most of a batch-1 step for the 4-bit types: one unit of 32 weights
// is one vector here, two there). The f32 register tile stays AVX2's: a 512-bit 4x3 tile measured
// slower on this machine's AMD EPYC (prefill of the 1B shape, BF16: 66-67 against 84-86 tokens/s).
// Compiled for the baseline ISA like the AVX2 set; nothing here runs unless the CPU reports AVX-512
// F, BW, VL and VNNI.
#include "accel/compute/cpu_dot.hpp"

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() values as the unused operand of their
// masked builtins, which its own flow analysis then reports as uninitialised wherever they inline.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "accel/compute/cpu_dot_x86.hpp"

namespace sovereign::accel::compute {

#if defined(SOVEREIGN_HAVE_X86_KERNELS)
namespace {

using namespace x86;

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

// Q8_0 (and a Q4_0 row's last blocks), as in the AVX2 set: a unit is 32 weights and one input
// block; here its weight codes are one vector of 32 int16, multiplied with the input's 32 codes by
// one vpmaddwd (sixteen exact int32 lanes) and scaled once. Two running totals per input (even and
// odd units).
template <int Count>
struct Totals {
  // Two chains per input: units alternate between them (four, for a lone input, measured no faster).
  static constexpr int kLanes = 2;
  __m512 sum[Count][kLanes];
};

template <int Count, typename Factor>
AVX512_TARGET inline void accumulate_unit(Totals<Count>& t, const QuantizedInput* x, std::size_t unit, int lane,
                                          __m512i codes, const Factor& factor) {
  for (int i = 0; i < Count; ++i) {
    const __m512i lanes = _mm512_madd_epi16(codes, _mm512_loadu_si512(x[i].codes + unit * kInputBlockElems));
    __m512& sum = t.sum[i][lane % Totals<Count>::kLanes];
    sum = _mm512_fmadd_ps(factor(i), _mm512_cvtepi32_ps(lanes), sum);
  }
}

// The factor of a unit whose weights have one scale: that scale times each input's scale.
struct UnitScale {
  const QuantizedInput* x;
  std::size_t unit;
  float weight;
  AVX512_TARGET __m512 operator()(int i) const { return _mm512_set1_ps(weight * x[i].scales[unit]); }
};

template <int Count>
AVX512_TARGET inline Totals<Count> zero_totals() {
  Totals<Count> t;
  for (int i = 0; i < Count; ++i)
    for (int l = 0; l < Totals<Count>::kLanes; ++l) t.sum[i][l] = _mm512_setzero_ps();
  return t;
}

template <int Count>
AVX512_TARGET inline void finish(Totals<Count>& t, const __m256* minus, float* out) {
  for (int i = 0; i < Count; ++i) {
    __m512 sum = t.sum[i][0];
    for (int l = 1; l < Totals<Count>::kLanes; ++l) sum = _mm512_add_ps(sum, t.sum[i][l]);
    out[i] = _mm512_reduce_add_ps(sum);
    if (minus != nullptr) out[i] -= horizontal_sum(minus[i]);
  }
}

// 32 signed bytes as 32 int16.
AVX512_TARGET inline __m512i widen_signed(SignedHalves codes) {
  return _mm512_cvtepi8_epi16(_mm256_set_m128i(codes.high, codes.low));
}

// Asks for the Bytes bytes 2 KiB after `at` (the rows stream through memory; the kernels below take
// a block or a group of blocks per iteration). Measured on the 1B shape, batch 1, alternating runs:
// Q4_0 32-33 -> 27-28 ms per step, Q4_K 29-30 -> 27 ms, Q6_K 41-43 -> 37-39 ms, Q8_0 47-49 -> 43-44 ms.
template <std::size_t Bytes>
AVX512_TARGET inline void prefetch_ahead(const void* at) {
  const char* ahead = static_cast<const char*>(at) + 2048;
  for (std::size_t line = 0; line < (Bytes + 63) / 64; ++line) _mm_prefetch(ahead + 64 * line, _MM_HINT_T0);
}

// Rows of 32-element blocks with one half-precision scale each (Q8_0).
template <int Count, typename Block>
AVX512_TARGET void dot_scaled_blocks(const Block* w, const QuantizedInput* x, std::size_t n, float* out) {
  Totals<Count> t = zero_totals<Count>();
  const std::size_t blocks = n / kQuantBlockElems;
  const auto unit = [&](std::size_t block, int lane) AVX512_TARGET {
    accumulate_unit<Count>(t, x, block, lane, widen_signed(signed_codes(w[block])),
                           UnitScale{x, block, scalar_half(w[block].d)});
  };
  std::size_t b = 0;
  for (; b + 4 <= blocks; b += 4) {
    prefetch_ahead<4 * sizeof(Block)>(w + b);
    for (int lane = 0; lane < 4; ++lane) unit(b + lane, lane);
  }
  for (; b < blocks; ++b) unit(b, 0);
  finish<Count>(t, nullptr, out);
}

// Sixteen lane indexes first + l / 2^shift (l = 0..15).
AVX512_TARGET inline __m512i lane_index(int first, unsigned shift) {
  return _mm512_add_epi32(_mm512_set1_epi32(first),
                          _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), shift));
}

// The byte dot products of 64 weight codes (never negative, at most 127) with 64 input codes (code =
// 256 * high + low byte), four products per int32 lane, exact: the high bytes (signed) meet the
// codes as unsigned bytes, the low bytes (unsigned) meet them as signed ones.
AVX512_TARGET inline __m512i byte_products(__m512i codes, const QuantizedInput& x, std::size_t at) {
  const __m512i high = _mm512_dpbusd_epi32(_mm512_setzero_si512(), codes, _mm512_loadu_si512(x.high_bytes + at));
  return _mm512_dpbusd_epi32(_mm512_slli_epi32(high, 8), _mm512_loadu_si512(x.low_bytes + at), codes);
}

// Q4_K: d*scale * sum(q*x) - dmin*min * sum(x) per 32-element sub-block. A pair of sub-blocks is one
// vector of 64 codes (the low, then the high nibbles of the pair's 32 bytes) and is multiplied with
// the input's code bytes by two byte dot products (vpdpbusd, four products per int32 lane: code =
// 256 * high byte + low byte, exact); lanes 0-7 hold the first sub-block's sums, 8-15 the second's.
template <int Count>
AVX512_TARGET void dot_q4_k(const BlockQ4_K* w, const QuantizedInput* x, std::size_t n, float* out) {
  Totals<Count> t = zero_totals<Count>();
  __m256 minimums[Count];
  for (int i = 0; i < Count; ++i) minimums[i] = _mm256_setzero_ps();
  __m256 factors[Count];
  const __m512i nibble = _mm512_set1_epi8(0x0f);
  const __m512i high_half_by_four = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    prefetch_ahead<sizeof(BlockQ4_K)>(w + b);
    q4_k_block_factors<Count>(w[b], b, x, factors, minimums);
    for (int pair = 0; pair < 4; ++pair) {
      const __m512i both = _mm512_broadcast_i64x4(q4_k_packed(w[b], pair));
      const __m512i codes = _mm512_and_si512(_mm512_srlv_epi16(both, high_half_by_four), nibble);
      const std::size_t at = kKQuantBlockElems * b + 64 * static_cast<std::size_t>(pair);
      for (int i = 0; i < Count; ++i) {
        const __m512i lanes = byte_products(codes, x[i], at);
        // Lanes 0-7 take sub-block 2p's factor, 8-15 sub-block 2p+1's.
        const __m512 factor = _mm512_permutexvar_ps(lane_index(2 * pair, 3), _mm512_castps256_ps512(factors[i]));
        t.sum[i][pair & 1] = _mm512_fmadd_ps(factor, _mm512_cvtepi32_ps(lanes), t.sum[i][pair & 1]);
      }
    }
  }
  finish<Count>(t, minimums, out);
}

// The eight half-precision scales of Q4_0 blocks w[0..7] as floats: a block is 18 bytes (its scale
// first), so the scales are the 16-bit words 0, 9, ..., 63 of the first 128 bytes.
AVX512_TARGET inline __m256 q4_0_scales(const BlockQ4_0* w) {
  const char* bytes = reinterpret_cast<const char*>(w);
  const __m512i words = _mm512_permutex2var_epi16(_mm512_loadu_si512(bytes),
                                                  _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                   0, 0, 0, 0, 0, 0, 63, 54, 45, 36, 27, 18, 9, 0),
                                                  _mm512_loadu_si512(bytes + 64));
  return _mm256_cvtph_ps(_mm512_castsi512_si128(words));
}

// The 64 codes (0..15, as stored) of Q4_0 blocks a and b in element order: a's low nibbles (its
// elements 0-15), a's high nibbles (16-31), then b's likewise.
AVX512_TARGET inline __m512i q4_0_pair_codes(const BlockQ4_0& a, const BlockQ4_0& b) {
  const __m512i packed = _mm512_mask_broadcast_i32x4(
      _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.qs))), 0xff00,
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs)));
  const __m512i shifts = _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0);  // by 128-bit lane: 0, 4, 0, 4
  return _mm512_and_si512(_mm512_srlv_epi64(packed, shifts), _mm512_set1_epi8(0x0f));
}

// Q4_0: d * sum((q - 8) * x) per 32-element block, as d * sum(q * x) - 8 * d * sum(x): eight blocks
// at a time, a pair of blocks being one vector of 64 codes multiplied with the input's code bytes by
// byte dot products (as Q4_K's pairs: lanes 0-7 hold the first block's sums, 8-15 the second's), the
// zero point's term from the input's exact block sums. A tail of fewer than eight blocks takes the
// one-block units of Q8_0.
template <int Count>
AVX512_TARGET void dot_q4_0(const BlockQ4_0* w, const QuantizedInput* x, std::size_t n, float* out) {
  Totals<Count> t = zero_totals<Count>();
  __m256 zero_point[Count];
  for (int i = 0; i < Count; ++i) zero_point[i] = _mm256_setzero_ps();
  const std::size_t blocks = n / kQuantBlockElems;
  std::size_t b = 0;
  for (; b + 8 <= blocks; b += 8) {
    prefetch_ahead<8 * sizeof(BlockQ4_0)>(w + b);
    const __m256 scales = q4_0_scales(w + b);
    __m256 factors[Count];
    q4_0_group_factors<Count>(scales, b, x, factors, zero_point);
    for (int pair = 0; pair < 4; ++pair) {
      const __m512i codes = q4_0_pair_codes(w[b + 2 * pair], w[b + 2 * pair + 1]);
      const std::size_t at = kQuantBlockElems * (b + 2 * static_cast<std::size_t>(pair));
      for (int i = 0; i < Count; ++i) {
        const __m512i lanes = byte_products(codes, x[i], at);
        const __m512 factor = _mm512_permutexvar_ps(lane_index(2 * pair, 3), _mm512_castps256_ps512(factors[i]));
        t.sum[i][pair & 1] = _mm512_fmadd_ps(factor, _mm512_cvtepi32_ps(lanes), t.sum[i][pair & 1]);
      }
    }
  }
  for (; b < blocks; ++b)
    accumulate_unit<Count>(t, x, b, 0, widen_signed(signed_codes(w[b])), UnitScale{x, b, scalar_half(w[b].d)});
  for (int i = 0; i < Count; ++i) zero_point[i] = _mm256_mul_ps(zero_point[i], _mm256_set1_ps(8.0f));
  finish<Count>(t, zero_point, out);
}

// Q6_K: d*scale * sum((q - 32) * x) per 16-element sub-block, as d*scale * sum(q * x) less 32 *
// d*scale * sum(x), the latter from the input's exact sums of each 16 values. Two quarters of a half
// (64 codes as stored, 0..63, two input blocks) are one vector, multiplied with the input's code
// bytes by byte dot products (exact int32 lanes). Each lane holds four products of one sub-block:
// it is scaled by that sub-block's d*scale times its input block's scale, a vector of sixteen factors
// permuted from the block's scales.
template <int Count>
AVX512_TARGET void dot_q6_k(const BlockQ6_K* w, const QuantizedInput* x, std::size_t n, float* out) {
  Totals<Count> t = zero_totals<Count>();
  __m512 zero_point[Count];
  for (int i = 0; i < Count; ++i) zero_point[i] = _mm512_setzero_ps();
  for (std::size_t b = 0; b < n / kKQuantBlockElems; ++b) {
    prefetch_ahead<sizeof(BlockQ6_K)>(w + b);
    const __m512 scales = _mm512_mul_ps(
        _mm512_set1_ps(scalar_half(w[b].d)),
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[b].scales)))));
    __m512 input_scales[Count];
    for (int i = 0; i < Count; ++i) {
      input_scales[i] = _mm512_castps256_ps512(_mm256_loadu_ps(x[i].scales + 8 * b));
      zero_point[i] = _mm512_fmadd_ps(scales, _mm512_loadu_ps(x[i].half_sums + 16 * b), zero_point[i]);
    }
    const std::uint8_t* ql = w[b].ql;
    const std::uint8_t* qh = w[b].qh;
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32) {
      const Q6KQuarters quarters = q6_k_quarters(ql, qh, 0);
      for (int pair = 0; pair < 2; ++pair) {
        const __m512i codes =
            _mm512_inserti64x4(_mm512_castsi256_si512(quarters.quarter[2 * pair]), quarters.quarter[2 * pair + 1], 1);
        // Lane l of quarters 2p, 2p+1 of half h: scale 8h + 4p + l/4, input block 4h + 2p + l/8.
        const __m512 weight_factor = _mm512_permutexvar_ps(lane_index(8 * half + 4 * pair, 2), scales);
        const __m512i input_block = lane_index(4 * half + 2 * pair, 3);
        const std::size_t at = kKQuantBlockElems * b + 128 * static_cast<std::size_t>(half) + 64 * static_cast<std::size_t>(pair);
        for (int i = 0; i < Count; ++i) {
          const __m512i lanes = byte_products(codes, x[i], at);
          const __m512 factor = _mm512_mul_ps(weight_factor, _mm512_permutexvar_ps(input_block, input_scales[i]));
          t.sum[i][pair] = _mm512_fmadd_ps(factor, _mm512_cvtepi32_ps(lanes), t.sum[i][pair]);
        }
      }
    }
  }
  finish<Count>(t, nullptr, out);
  for (int i = 0; i < Count; ++i) out[i] -= 32.0f * _mm512_reduce_add_ps(zero_point[i]);
}

}  // namespace

const RowDotKernels* avx512_row_dot_kernels() {
  const RowDotKernels* avx2 = avx2_row_dot_kernels();
  __builtin_cpu_init();
  if (avx2 == nullptr || !__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512vnni"))
    return nullptr;
  static const RowDotKernels set = [avx2] {
    RowDotKernels k = *avx2;
    k.name = "avx512";
    k.reads_byte_planes = true;  // Q4_0, Q4_K and Q6_K: VNNI byte dot products
    // Batch 16, 1B shape, alternating runs against expanded rows: Q4_0 304-341 against 387-390 ms
    // per step, Q4_K 319-338 against 369-411, Q8_0 351-371 against 376-393; at 32 even or slower.
    k.quantized_fused_max_batch = 16;
    k.q8_0 = dot_inputs<BlockQ8_0, dot_scaled_blocks<1, BlockQ8_0>, dot_scaled_blocks<2, BlockQ8_0>,
                        dot_scaled_blocks<3, BlockQ8_0>, dot_scaled_blocks<4, BlockQ8_0>>;
    k.q4_0 = dot_inputs<BlockQ4_0, dot_q4_0<1>, dot_q4_0<2>, dot_q4_0<3>, dot_q4_0<4>>;
    k.q4_k = dot_inputs<BlockQ4_K, dot_q4_k<1>, dot_q4_k<2>, dot_q4_k<3>, dot_q4_k<4>>;
    k.q6_k = dot_inputs<BlockQ6_K, dot_q6_k<1>, dot_q6_k<2>, dot_q6_k<3>, dot_q6_k<4>>;
    return k;
  }();
  return &set;
}

#else

const RowDotKernels* avx512_row_dot_kernels() { return nullptr; }

#endif

}  // namespace sovereign::accel::compute
