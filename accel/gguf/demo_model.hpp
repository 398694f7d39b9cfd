// A small llama-architecture model with a real tokenizer and random weights, for trying the engine offline.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "accel/gguf/gguf_writer.hpp"

namespace sovereign::accel::gguf {

// Shape of the demo model; the defaults give a ~1 MB file that runs instantly. Its output is gibberish.
struct DemoModelOptions {
  TensorType matrix_type = TensorType::f16;  // f32, f16, bf16, q8_0 or q4_0; norms stay f32
  std::uint32_t seed = 1;
  std::uint32_t embedding = 128;
  std::uint32_t layers = 2;
  std::uint32_t heads = 4;
  std::uint32_t kv_heads = 2;
  std::uint32_t feed_forward = 256;
  std::uint32_t context = 2048;
};

// Fills `writer` with the demo model; an error if the options are inconsistent (e.g. a width that is not a
// whole number of quantization blocks).
[[nodiscard]] std::optional<std::string> build_demo_model(const DemoModelOptions& options, Writer& writer);

// build_demo_model() then Writer::write().
[[nodiscard]] std::optional<std::string> write_demo_model(const DemoModelOptions& options,
                                                          const std::filesystem::path& path,
                                                          Writer::Replace replace = Writer::Replace::regular_file);

}  // namespace sovereign::accel::gguf
