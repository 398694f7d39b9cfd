// The CPU dot-product kernels, portable, AVX2 and AVX-512 alike (each where the CPU has it), against a double-precision dot of the row as
// the GGUF module decodes it: every stored type, rows of several lengths, random weights and inputs;
// and the quantized form of the inputs that block-quantized rows read.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "accel/compute/cpu_dot.hpp"

using namespace sovereign::accel;
using namespace sovereign::accel::compute;

namespace {

std::vector<const RowDotKernels*> kernel_sets() {
  std::vector<const RowDotKernels*> sets{&portable_row_dot_kernels()};
  if (const RowDotKernels* avx2 = avx2_row_dot_kernels()) sets.push_back(avx2);
  if (const RowDotKernels* avx512 = avx512_row_dot_kernels()) sets.push_back(avx512);
  return sets;
}

std::vector<float> random_values(std::mt19937& random, std::size_t n, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> out(n);
  for (float& v : out) v = normal(random);
  return out;
}

}  // namespace

TEST_CASE("every kernel set computes each stored type's row dot product as the decoded row's") {
  std::mt19937 random(7);
  const gguf::TensorType types[] = {gguf::TensorType::f32,  gguf::TensorType::f16,  gguf::TensorType::bf16,
                                    gguf::TensorType::q8_0, gguf::TensorType::q4_0, gguf::TensorType::q4_k,
                                    gguf::TensorType::q6_k};
  for (const RowDotKernels* kernels : kernel_sets()) {
    for (gguf::TensorType type : types) {
      // Rows of an odd number of 32-element blocks too (kernels that unroll by blocks have tails;
      // AVX-512 Q4_0 takes eight blocks at a time, so 352 is a group and a tail of three).
      const bool k_quant = type == gguf::TensorType::q4_k || type == gguf::TensorType::q6_k;
      for (std::size_t n : {32u, 96u, 256u, 352u, 512u, 2048u}) {
        if (k_quant && n % 256 != 0) continue;
        for (int trial = 0; trial < 8; ++trial) {
          CAPTURE(kernels->name);
          CAPTURE(static_cast<int>(type));
          CAPTURE(n);
          const std::vector<std::byte> row = gguf::quantize(type, random_values(random, n, 0.05f));
          const std::vector<float> x = random_values(random, n, 1.0f);
          std::vector<float> decoded(n);
          gguf::dequantize_row(type, row.data(), decoded.data(), n);
          double expected = 0;
          double magnitude = 0;
          for (std::size_t i = 0; i < n; ++i) {
            expected += static_cast<double>(decoded[i]) * x[i];
            magnitude += std::fabs(static_cast<double>(decoded[i]) * x[i]);
          }
          QuantizedInputs quantized;
          quantized.quantize(x.data(), n, 1);
          const float got = dot_row(*kernels, type, row.data(), RowInput{x.data(), quantized.input(0)}, n);
          // f32 accumulation over n terms: the error is bounded relative to the sum of magnitudes.
          // Types that read the input quantized may also be off by half an input step per element.
          double input_steps = 0;
          if (reads_quantized_input(type))
            for (std::size_t i = 0; i < n; ++i) input_steps += std::fabs(decoded[i]) * quantized.input(0).scales[i / 32] / 2;
          CHECK(std::fabs(got - expected) <= 1e-5 * magnitude + input_steps + 1e-7);
          // Half a step is 1/65534 of a block's largest magnitude: far below 1e-4 of the sum here.
          CHECK(input_steps <= 1e-4 * magnitude);
        }
      }
    }
  }
}

TEST_CASE("every kernel set expands each stored type's row to the values the GGUF decoder gives") {
  std::mt19937 random(11);
  const gguf::TensorType types[] = {gguf::TensorType::f16,  gguf::TensorType::bf16, gguf::TensorType::q8_0,
                                    gguf::TensorType::q4_0, gguf::TensorType::q4_k, gguf::TensorType::q6_k};
  for (const RowDotKernels* kernels : kernel_sets()) {
    for (gguf::TensorType type : types) {
      CAPTURE(kernels->name);
      CAPTURE(static_cast<int>(type));
      const std::size_t n = 1024;
      const std::vector<std::byte> row = gguf::quantize(type, random_values(random, n, 0.05f));
      std::vector<float> decoded(n);
      gguf::dequantize_row(type, row.data(), decoded.data(), n);
      std::vector<float> scratch(n);
      const float* expanded = row_to_f32(*kernels, type, row.data(), scratch.data(), n);
      std::size_t mismatches = 0;
      for (std::size_t i = 0; i < n; ++i)
        if (std::fabs(expanded[i] - decoded[i]) > 1e-6f * std::fabs(decoded[i]) + 1e-9f) ++mismatches;
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("a quantized input keeps every value within half a step of 1/32767 of its block's largest, and its sums") {
  std::mt19937 random(13);
  std::vector<float> x = random_values(random, 256, 3.0f);
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block
  x[70] = 1e30f;                                    // a block dominated by one huge value
  QuantizedInputs inputs;
  inputs.quantize(x.data(), 128, 2);  // two inputs of 128, one after the other
  for (std::size_t input = 0; input < 2; ++input) {
    const QuantizedInput q = inputs.input(input);
    for (std::size_t block = 0; block < 4; ++block) {
      const float* values = x.data() + input * 128 + block * 32;
      float largest = 0;
      double sum = 0;
      for (std::size_t i = 0; i < 32; ++i) {
        largest = std::max(largest, std::fabs(values[i]));
        sum += values[i];
      }
      CAPTURE(input);
      CAPTURE(block);
      CHECK(q.scales[block] == doctest::Approx(largest / 32767.0f));
      CHECK(q.sums[block] == doctest::Approx(sum).epsilon(1e-6));
      for (std::size_t half = 0; half < 2; ++half) {
        double half_sum = 0;
        for (std::size_t i = 16 * half; i < 16 * half + 16; ++i) half_sum += values[i];
        CHECK(q.half_sums[2 * block + half] == doctest::Approx(half_sum).epsilon(1e-6));
      }
      for (std::size_t i = 0; i < 32; ++i) {
        const std::int16_t code = q.codes[block * 32 + i];
        CHECK(std::abs(static_cast<int>(code)) <= 32767);
        CHECK(std::fabs(static_cast<double>(code) * q.scales[block] - values[i]) <= q.scales[block] * 0.5 + 1e-6 * std::fabs(values[i]));
      }
    }
  }
  CHECK(inputs.input(0).scales[1] == 0.0f);  // zeros stay zeros
  // Values too small for a scale (subnormals) quantize to zero, not to an overflowed code.
  std::vector<float> tiny(32, 1e-38f);
  QuantizedInputs tiny_inputs;
  tiny_inputs.quantize(tiny.data(), 32, 1);
  CHECK(tiny_inputs.input(0).scales[0] == 0.0f);
  for (std::size_t i = 0; i < 32; ++i) CHECK(tiny_inputs.input(0).codes[i] == 0);
  CHECK(inputs.input(0).codes[70] == 32767);
}

TEST_CASE("a quantized input with a NaN or an infinity makes the dot product NaN, as f32 would") {
  std::vector<float> x(64, 1.0f);
  x[40] = std::numeric_limits<float>::infinity();
  QuantizedInputs inputs;
  inputs.quantize(x.data(), 64, 1);
  CHECK(std::isnan(inputs.input(0).scales[1]));
  CHECK(inputs.input(0).scales[0] == doctest::Approx(1.0f / 32767.0f));
  const std::vector<std::byte> row = gguf::quantize(gguf::TensorType::q8_0, std::vector<float>(64, 0.5f));
  for (const RowDotKernels* kernels : kernel_sets())
    CHECK(std::isnan(dot_row(*kernels, gguf::TensorType::q8_0, row.data(), RowInput{x.data(), inputs.input(0)}, 64)));
}

TEST_CASE("a quantized row against up to four inputs at once gives each input's own dot product") {
  std::mt19937 random(17);
  const gguf::TensorType types[] = {gguf::TensorType::q8_0, gguf::TensorType::q4_0, gguf::TensorType::q4_k,
                                    gguf::TensorType::q6_k};
  for (const RowDotKernels* kernels : kernel_sets()) {
    for (gguf::TensorType type : types) {
      const std::size_t n = 512;
      const std::vector<std::byte> row = gguf::quantize(type, random_values(random, n, 0.05f));
      const std::vector<float> x = random_values(random, n * kMaxRowInputs, 1.0f);
      QuantizedInputs quantized;
      quantized.quantize(x.data(), n, kMaxRowInputs);
      std::vector<QuantizedInput> inputs;
      float alone[kMaxRowInputs];
      for (std::size_t i = 0; i < kMaxRowInputs; ++i) {
        inputs.push_back(quantized.input(i));
        dot_row_quantized(*kernels, type, row.data(), &inputs[i], 1, n, &alone[i]);
      }
      for (std::size_t count = 1; count <= kMaxRowInputs; ++count) {
        CAPTURE(kernels->name);
        CAPTURE(static_cast<int>(type));
        CAPTURE(count);
        float together[kMaxRowInputs] = {};
        dot_row_quantized(*kernels, type, row.data(), inputs.data(), count, n, together);
        // The same operations in the same order for each input: the very same floats.
        for (std::size_t i = 0; i < count; ++i) CHECK(together[i] == alone[i]);
      }
    }
  }
}

TEST_CASE("every kernel set's f32 register tile gives each row-input pair its dot product, any length") {
  std::mt19937 random(19);
  for (const RowDotKernels* kernels : kernel_sets()) {
    for (std::size_t n : {1u, 7u, 16u, 33u, 100u, 256u}) {
      CAPTURE(kernels->name);
      CAPTURE(n);
      std::vector<std::vector<float>> rows;
      for (int r = 0; r < 4; ++r) rows.push_back(random_values(random, n, 0.05f));
      const float* row_pointers[4] = {rows[0].data(), rows[1].data(), rows[2].data(), rows[3].data()};
      const std::vector<float> x = random_values(random, 3 * n, 1.0f);
      float tile[12];
      kernels->f32_4x3(row_pointers, x.data(), n, n, tile);
      for (int r = 0; r < 4; ++r)
        for (int b = 0; b < 3; ++b) {
          double expected = 0, magnitude = 0;
          for (std::size_t i = 0; i < n; ++i) {
            expected += static_cast<double>(rows[r][i]) * x[b * n + i];
            magnitude += std::fabs(static_cast<double>(rows[r][i]) * x[b * n + i]);
          }
          CHECK(std::fabs(tile[r * 3 + b] - expected) <= 1e-5 * magnitude + 1e-7);
        }
    }
  }
}
