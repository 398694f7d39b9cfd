// The GPU layout of quantized weights: each GGUF block split into its codes, scales and super-block
// scales, so that every row's codes are contiguous and 16-byte aligned (the file's 34-, 18-, 144-
// and 210-byte blocks are not). Plain C++ so that the layout is tested wherever the tests run; the
// CUDA backend uploads these arrays and cuda/kernels.cuh documents how the kernels read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "accel/compute/model_weights.hpp"

namespace sovereign::accel::compute {

// Per 32-element sub-block of a row (see DeviceMatrix in cuda/kernels.cuh for the value formulas):
//   codes   q8_0: 32 int8 codes; q4_0/q4_k/q6_k: 16 bytes, element j (< 16) in the low nibble of
//           byte j, element j + 16 in its high nibble (q6_k: the low 4 bits of each code)
//   scales  q8_0/q4_0: f16 d; q4_k: 6-bit scale | 6-bit min << 8; q6_k: int8 scale of elements
//           0-15 | of elements 16-31 << 8
//   high    q6_k only: 8 bytes, the 2 high bits of element j at bits 2*(j % 16) of 32-bit word j / 16
// Per 256-element super-block (q4_k, q6_k): supers = f16 d | f16 dmin << 16 (q6_k: d alone).
struct SplitBlocks {
  std::size_t code_row_bytes = 0;  // bytes of one row in `codes`
  std::vector<unsigned char> codes;
  std::vector<std::uint16_t> scales;
  std::vector<std::uint32_t> supers;
  std::vector<unsigned char> high;
};

// The split layout of a q8_0, q4_0, q4_k or q6_k matrix; other types are not split (empty result).
SplitBlocks split_blocks(const WeightMatrix& m);

}  // namespace sovereign::accel::compute
