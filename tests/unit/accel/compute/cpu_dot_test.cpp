// The CPU dot-product kernels, portable and AVX2 alike, against a double-precision dot of the row as
// the GGUF module decodes it: every stored type, rows of several lengths, random weights and inputs.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "accel/compute/cpu_dot.hpp"

using namespace sovereign::accel;
using namespace sovereign::accel::compute;

namespace {

std::vector<const RowDotKernels*> kernel_sets() {
  std::vector<const RowDotKernels*> sets{&portable_row_dot_kernels()};
  if (const RowDotKernels* avx2 = avx2_row_dot_kernels()) sets.push_back(avx2);
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
      for (std::size_t n : {256u, 512u, 2048u}) {
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
          const float got = dot_row(*kernels, type, row.data(), x.data(), n);
          // f32 accumulation over n terms: the error is bounded relative to the sum of magnitudes.
          CHECK(std::fabs(got - expected) <= 1e-5 * magnitude + 1e-7);
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
