// Test helper: writes small GGUF models with random weights of a chosen architecture and type.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "accel/gguf/gguf_writer.hpp"
#include "accel/gguf/tensor_type.hpp"

namespace sovereign::accel::test {

struct TinyModelSpec {
  std::string architecture = "llama";  // llama | qwen2
  gguf::TensorType type = gguf::TensorType::f32;
  int n_embd = 64;
  int n_layers = 2;
  int n_heads = 4;
  int n_kv_heads = 2;
  int n_ff = 96;
  int context_length = 256;
  bool tied_embeddings = false;
  bool rope_freqs = false;           // llama 3.1 style frequency divisors
  float rope_linear_factor = 0.0f;   // > 0 writes rope.scaling.type = linear
  std::uint64_t seed = 1;
  // For error tests: tensors left out, and a hook that changes metadata or adds tensors last.
  std::vector<std::string> omit_tensors;
  std::function<void(gguf::Writer&)> tamper;
};

// Vocabulary: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then kExtraWords word pieces
// ("▁hello", ...), as a SentencePiece ("llama") tokenizer with a chatml template.
inline constexpr int kTinyVocab = 3 + 256 + 8;

// Writes the model; returns an error text or empty.
std::string write_tiny_model(const std::filesystem::path& path, const TinyModelSpec& spec);

// A fresh path under the system temporary directory, unique per call.
std::filesystem::path temporary_model_path(const std::string& stem);

}  // namespace sovereign::accel::test
