// Models of real published shapes with filler weights, for benchmarks (weight values do not
// change speed, so no download is needed to measure a 1B or 8B model).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "accel/compute/model_config.hpp"
#include "accel/compute/model_weights.hpp"

namespace sovereign::accel::compute {

// Owns the weight bytes that `weights` views.
struct SyntheticModel {
  ModelConfig config;
  ModelWeights weights;
  std::vector<gguf::TensorInfo> tensors;
  std::vector<std::vector<std::byte>> storage;
};

// Known shape names, e.g. "llama-3.2-1b", for --help text.
std::vector<std::string_view> synthetic_shape_names();

// A shape by name with every matrix stored as `type`; the error lists the known shapes.
[[nodiscard]] std::variant<std::unique_ptr<SyntheticModel>, std::string> make_synthetic_model(
    std::string_view shape, gguf::TensorType type);

}  // namespace sovereign::accel::compute
