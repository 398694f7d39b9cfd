// The GPU's split layout of quantized weights (accel/compute/split_blocks.hpp), read back by a
// decoder written here from the layout's documentation, gives exactly the values the GGUF decoder
// gives for the file's blocks. Runs everywhere: the layout is what the CUDA kernels read.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <vector>

#include "accel/compute/split_blocks.hpp"
#include "accel/gguf/quantize.hpp"

namespace sovereign::accel::test {
namespace {

using compute::SplitBlocks;
using gguf::TensorType;

float half(std::uint32_t bits) { return gguf::half_to_float(static_cast<std::uint16_t>(bits & 0xffffu)); }

// Element i of row r, as cuda/kernels.cuh documents the layout.
float split_value(TensorType type, const SplitBlocks& s, std::size_t cols, std::size_t r, std::size_t i) {
  const std::size_t sub = r * (cols / 32) + i / 32;
  const std::size_t j = i % 32;
  const unsigned char* codes = s.codes.data() + r * s.code_row_bytes;
  const std::uint16_t scale = s.scales[sub];
  if (type == TensorType::q8_0) return half(scale) * static_cast<float>(static_cast<std::int8_t>(codes[i]));
  const unsigned char byte = codes[(i / 32) * 16 + j % 16];
  const int nibble = j < 16 ? (byte & 15) : (byte >> 4);
  if (type == TensorType::q4_0) return half(scale) * static_cast<float>(nibble - 8);
  const std::uint32_t super = s.supers[r * (cols / 256) + i / 256];
  if (type == TensorType::q4_k) {
    const float d = half(super) * static_cast<float>(scale & 0xff);
    const float m = half(super >> 16) * static_cast<float>(scale >> 8);
    return d * static_cast<float>(nibble) - m;
  }
  std::uint32_t words[2];
  std::memcpy(words, s.high.data() + sub * 8, 8);
  const int code = nibble | static_cast<int>(((words[j / 16] >> (2 * (j % 16))) & 3u) << 4);
  const auto sc = static_cast<std::int8_t>(j < 16 ? (scale & 0xff) : (scale >> 8));
  return half(super) * static_cast<float>(sc) * static_cast<float>(code - 32);
}

}  // namespace

TEST_CASE("the split layout of every quantized type decodes to exactly the file's values") {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  constexpr std::size_t kRows = 5, kCols = 512;
  for (TensorType type : {TensorType::q8_0, TensorType::q4_0, TensorType::q4_k, TensorType::q6_k}) {
    CAPTURE(static_cast<int>(type));
    std::vector<float> values(kRows * kCols);
    for (float& v : values) v = dist(rng) * (1.0f + 3.0f * static_cast<float>(&v - values.data()) / values.size());
    const std::vector<std::byte> encoded = gguf::quantize(type, values);
    REQUIRE(!encoded.empty());
    compute::WeightMatrix m;
    m.data = encoded.data();
    m.type = type;
    m.rows = kRows;
    m.cols = kCols;
    m.row_bytes = encoded.size() / kRows;
    const SplitBlocks split = compute::split_blocks(m);
    REQUIRE(split.codes.size() == kRows * split.code_row_bytes);
    std::vector<float> expected(kCols);
    std::size_t mismatches = 0;
    for (std::size_t r = 0; r < kRows; ++r) {
      gguf::dequantize_row(type, m.row(r), expected.data(), kCols);
      for (std::size_t i = 0; i < kCols; ++i)
        if (split_value(type, split, kCols, r, i) != expected[i]) ++mismatches;
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("unquantized types are not split") {
  std::vector<std::byte> bytes(64 * 2);
  compute::WeightMatrix m;
  m.data = bytes.data();
  m.type = TensorType::bf16;
  m.rows = 2;
  m.cols = 32;
  m.row_bytes = 64;
  CHECK(compute::split_blocks(m).codes.empty());
}

}  // namespace sovereign::accel::test
