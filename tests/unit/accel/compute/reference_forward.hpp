// Test oracle: a deliberately simple double-precision forward pass that shares no code with the
// engine (its own metadata reading, dequantisation, RoPE and attention).
#pragma once

#include <cstdint>
#include <vector>

#include "accel/gguf/gguf_file.hpp"

namespace sovereign::accel::test {

// Logits (one row of n_vocab per position) for the whole token sequence, recomputed from scratch.
std::vector<std::vector<double>> reference_logits(const gguf::File& file, const std::vector<std::int32_t>& tokens);

// Relative error ||a - b|| / ||b|| (Euclidean).
double relative_error(const std::vector<float>& actual, const std::vector<double>& expected);

}  // namespace sovereign::accel::test
