#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "accel/gguf/block_formats.hpp"
#include "accel/gguf/quantize.hpp"

namespace gguf = sovereign::accel::gguf;
using gguf::TensorType;

namespace {

std::vector<float> random_values(std::size_t n, unsigned seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> round_trip(TensorType type, const std::vector<float>& values) {
  const auto bytes = gguf::quantize(type, values);
  REQUIRE_FALSE(bytes.empty());
  std::vector<float> out(values.size());
  gguf::dequantize_row(type, bytes.data(), out.data(), out.size());
  return out;
}

}  // namespace

TEST_CASE("half conversion is exact for representable values and rounds to nearest even") {
  CHECK(gguf::float_to_half(1.0f) == 0x3c00);
  CHECK(gguf::float_to_half(-2.0f) == 0xc000);
  CHECK(gguf::float_to_half(65504.0f) == 0x7bff);
  CHECK(gguf::float_to_half(1e6f) == 0x7c00);
  CHECK(gguf::float_to_half(5.9604645e-8f) == 0x0001);  // smallest subnormal
  CHECK(gguf::float_to_half(1.0f + 1.0f / 2048.0f) == 0x3c00);  // tie rounds to even
  CHECK(gguf::float_to_half(1.0f + 3.0f / 2048.0f) == 0x3c02);
  for (std::uint32_t bits = 0; bits < 0x7c00; ++bits) {
    const auto half = static_cast<std::uint16_t>(bits);
    REQUIRE(gguf::float_to_half(gguf::half_to_float(half)) == half);
  }
  CHECK(std::isnan(gguf::half_to_float(gguf::float_to_half(NAN))));
}

TEST_CASE("bf16 conversion keeps the top 16 bits with round to nearest even") {
  CHECK(gguf::float_to_bf16(1.0f) == 0x3f80);
  CHECK(gguf::bf16_to_float(0x3f80) == 1.0f);
  CHECK(gguf::float_to_bf16(1.0f + 1.0f / 256.0f) == 0x3f80);  // tie to even
  CHECK(gguf::float_to_bf16(1.0f + 3.0f / 256.0f) == 0x3f82);
  CHECK(std::isnan(gguf::bf16_to_float(gguf::float_to_bf16(NAN))));
}

TEST_CASE("f16 and bf16 round trips stay within half a unit in the last place") {
  const auto values = random_values(1024, 1, 3.0f);
  const auto f16 = round_trip(TensorType::f16, values);
  const auto bf16 = round_trip(TensorType::bf16, values);
  for (std::size_t i = 0; i < values.size(); ++i) {
    CHECK(std::fabs(f16[i] - values[i]) <= std::fabs(values[i]) * 0x1p-11f + 0x1p-25f);
    CHECK(std::fabs(bf16[i] - values[i]) <= std::fabs(values[i]) * 0x1p-8f);
  }
}

TEST_CASE("q8_0 error is at most half a step of its block scale") {
  const auto values = random_values(32 * 64, 2, 1.0f);
  const auto out = round_trip(TensorType::q8_0, values);
  for (std::size_t b = 0; b < 64; ++b) {
    float amax = 0.0f;
    for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(values[b * 32 + i]));
    const float step = amax / 127.0f;
    for (std::size_t i = 0; i < 32; ++i) {
      // half a step for rounding, plus the f16 rounding of the scale applied to a code of up to 127
      CHECK(std::fabs(out[b * 32 + i] - values[b * 32 + i]) <= step * 0.5f + amax * 0x1p-11f + 1e-7f);
    }
  }
}

// ggml's q4_0 maps the largest-magnitude value to code -8, so the other sign reaches only 7 steps: values there
// within one step of the maximum are clamped, which bounds the error by one step rather than half.
TEST_CASE("q4_0 error is at most one step of its block scale") {
  const auto values = random_values(32 * 64, 3, 1.0f);
  const auto out = round_trip(TensorType::q4_0, values);
  for (std::size_t b = 0; b < 64; ++b) {
    float amax = 0.0f;
    for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(values[b * 32 + i]));
    const float step = amax / 8.0f;
    for (std::size_t i = 0; i < 32; ++i) {
      CHECK(std::fabs(out[b * 32 + i] - values[b * 32 + i]) <= step + amax * 0x1p-10f + 1e-7f);
    }
  }
}

TEST_CASE("a hand-written q4_0 block decodes element j from the low nibble and j+16 from the high nibble") {
  gguf::BlockQ4_0 block{};
  block.d = gguf::float_to_half(0.5f);
  for (int j = 0; j < 16; ++j) block.qs[j] = static_cast<std::uint8_t>(j | ((15 - j) << 4));
  std::vector<float> out(32);
  gguf::dequantize_row(TensorType::q4_0, reinterpret_cast<const std::byte*>(&block), out.data(), 32);
  for (int j = 0; j < 16; ++j) {
    CHECK(out[j] == (j - 8) * 0.5f);
    CHECK(out[j + 16] == (15 - j - 8) * 0.5f);
  }
}

TEST_CASE("a hand-written q8_0 block decodes to d times each code") {
  gguf::BlockQ8_0 block{};
  block.d = gguf::float_to_half(0.25f);
  for (int i = 0; i < 32; ++i) block.qs[i] = static_cast<std::int8_t>(i * 4 - 64);
  std::vector<float> out(32);
  gguf::dequantize_row(TensorType::q8_0, reinterpret_cast<const std::byte*>(&block), out.data(), 32);
  for (int i = 0; i < 32; ++i) CHECK(out[i] == (i * 4 - 64) * 0.25f);
}

TEST_CASE("a hand-written q4_k block decodes with ggml's packed 6-bit scales and mins") {
  gguf::BlockQ4_K block{};
  block.d = gguf::float_to_half(0.5f);
  block.dmin = gguf::float_to_half(0.25f);
  // Sub-blocks 0..3: scale j+1, min j+2 in the low 6 bits of bytes j and j+4.
  // Sub-blocks 4..7: low 4 bits in byte j+4 (scale low nibble, min high nibble), high 2 bits in bytes j-4 and j.
  const int scales[8] = {1, 2, 3, 4, 17, 33, 49, 63};
  const int mins[8] = {2, 3, 4, 5, 18, 34, 50, 62};
  for (int j = 0; j < 4; ++j) {
    block.scales[j] = static_cast<std::uint8_t>(scales[j] | ((scales[j + 4] >> 4) << 6));
    block.scales[j + 4] = static_cast<std::uint8_t>(mins[j] | ((mins[j + 4] >> 4) << 6));
    block.scales[j + 8] = static_cast<std::uint8_t>((scales[j + 4] & 0xF) | ((mins[j + 4] & 0xF) << 4));
  }
  // Each 64-element chunk c: 32 low nibbles (sub-block 2c) then 32 high nibbles (sub-block 2c+1).
  for (int i = 0; i < 128; ++i) block.qs[i] = static_cast<std::uint8_t>((i % 16) | ((15 - i % 16) << 4));
  std::vector<float> out(256);
  gguf::dequantize_row(TensorType::q4_k, reinterpret_cast<const std::byte*>(&block), out.data(), 256);
  for (int chunk = 0; chunk < 4; ++chunk) {
    for (int l = 0; l < 32; ++l) {
      const int byte_index = chunk * 32 + l;
      const int lo = byte_index % 16;
      const int hi = 15 - byte_index % 16;
      const int s0 = 2 * chunk;
      const int s1 = 2 * chunk + 1;
      CHECK(out[chunk * 64 + l] == doctest::Approx(0.5 * scales[s0] * lo - 0.25 * mins[s0]));
      CHECK(out[chunk * 64 + 32 + l] == doctest::Approx(0.5 * scales[s1] * hi - 0.25 * mins[s1]));
    }
  }
}

TEST_CASE("a hand-written q6_k block decodes 4 low bits from ql, 2 high bits from qh, minus 32") {
  gguf::BlockQ6_K block{};
  block.d = gguf::float_to_half(0.125f);
  for (int i = 0; i < 16; ++i) block.scales[i] = static_cast<std::int8_t>(i - 8);
  // Element e of half h (128 each), l = e % 32, group g = e / 32: low nibble from ql[64h + l + 32*(g%2)]
  // (low nibble for g < 2, high nibble otherwise), high bits from qh[32h + l] >> 2g.
  for (int i = 0; i < 128; ++i) block.ql[i] = static_cast<std::uint8_t>(i * 7);
  for (int i = 0; i < 64; ++i) block.qh[i] = static_cast<std::uint8_t>(i * 13);
  std::vector<float> out(256);
  gguf::dequantize_row(TensorType::q6_k, reinterpret_cast<const std::byte*>(&block), out.data(), 256);
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128;
    const int g = (e % 128) / 32;
    const int l = e % 32;
    const std::uint8_t ql = block.ql[64 * h + l + 32 * (g % 2)];
    const int low = g < 2 ? (ql & 0xF) : (ql >> 4);
    const int high = (block.qh[32 * h + l] >> (2 * g)) & 3;
    const int scale = block.scales[8 * h + 2 * g + l / 16];
    CHECK(out[e] == doctest::Approx(0.125 * scale * ((low | (high << 4)) - 32)));
  }
}

namespace {

// Root-mean-square error of a round trip relative to the root-mean-square of the values.
double relative_rms_error(TensorType type, const std::vector<float>& values) {
  const auto out = round_trip(type, values);
  double err = 0.0;
  double ref = 0.0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    err += (out[i] - values[i]) * (out[i] - values[i]);
    ref += values[i] * values[i];
  }
  return std::sqrt(err / ref);
}

}  // namespace

// A 4-bit code over a sub-block's range has a uniform rounding error of step/sqrt(12), about 8% of the standard
// deviation for normal data; 6 bits, about 2%; 8 bits, about 0.5%. The bounds leave room for the quantized scales.
TEST_CASE("q4_k and q6_k round trips stay within the error of their bit widths") {
  const auto values = random_values(256 * 16, 4, 2.0f);
  CHECK(relative_rms_error(TensorType::q4_k, values) < 0.09);
  CHECK(relative_rms_error(TensorType::q6_k, values) < 0.025);
  CHECK(relative_rms_error(TensorType::q8_0, values) < 0.007);
  CHECK(relative_rms_error(TensorType::q4_0, values) < 0.10);
}

TEST_CASE("q4_k and q6_k keep an all-zero block at zero and shifted data within range") {
  std::vector<float> zeros(256, 0.0f);
  for (const auto type : {TensorType::q4_k, TensorType::q6_k}) {
    for (const float v : round_trip(type, zeros)) CHECK(v == 0.0f);
  }
  auto shifted = random_values(256, 5, 0.1f);
  for (auto& v : shifted) v += 3.0f;  // all positive: q4_k's minimum is then 0
  CHECK(relative_rms_error(TensorType::q4_k, shifted) < 0.12);
  CHECK(relative_rms_error(TensorType::q6_k, shifted) < 0.03);
}

TEST_CASE("quantize refuses sizes that are not whole blocks") {
  const std::vector<float> values(48, 1.0f);
  CHECK(gguf::quantize(TensorType::q8_0, values).empty());
  CHECK(gguf::quantize(TensorType::q4_k, std::vector<float>(128, 1.0f)).empty());
  CHECK(gguf::quantize(TensorType::q4_k, std::vector<float>(256, 1.0f)).size() == 144);
  CHECK(gguf::quantize(TensorType::q6_k, std::vector<float>(512, 1.0f)).size() == 420);
  CHECK(gguf::quantize(TensorType::f32, values).size() == 192);
}
