// A model opened for inference: the mapped GGUF file, its configuration and views of its weights.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <variant>

#include "accel/compute/model_config.hpp"
#include "accel/compute/model_weights.hpp"
#include "accel/gguf/gguf_file.hpp"

namespace sovereign::accel::compute {

// Immutable once loaded; `weights` point into `file`'s mapping, so the three live and die together.
struct LoadedModel {
  gguf::File file;
  ModelConfig config;
  ModelWeights weights;
};

// Opens, validates and binds a GGUF model; the error names the file and the field or tensor at fault.
[[nodiscard]] std::variant<std::unique_ptr<LoadedModel>, std::string> load_model(
    const std::filesystem::path& path);
// Validates and binds a GGUF file already opened (or parsed from bytes); the error names the field
// or tensor at fault.
[[nodiscard]] std::variant<std::unique_ptr<LoadedModel>, std::string> load_model(gguf::File file);

}  // namespace sovereign::accel::compute
