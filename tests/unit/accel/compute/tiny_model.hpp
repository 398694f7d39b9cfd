// Test helper: writes small GGUF models with random weights of a chosen architecture and type.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
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
  // Non-empty: weights under which greedy decoding follows a script, the token after `from` always
  // being `to` (each `from` once, at most n_embd pairs; not with tied_embeddings), so a test can make
  // the model write exactly the tokens it needs: a word with SentencePiece's space, a character cut
  // across byte tokens, an end of text.
  std::vector<std::pair<std::int32_t, std::int32_t>> script;
  // For error tests: tensors left out, and a hook that changes metadata or adds tensors last.
  std::vector<std::string> omit_tensors;
  std::function<void(gguf::Writer&)> tamper;
};

// Vocabulary: <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then kExtraWords word pieces
// ("▁hello", ...), as a SentencePiece ("llama") tokenizer with a chatml template.
inline constexpr int kTinyVocab = 3 + 256 + 8;
inline constexpr std::int32_t kTinyEos = 2;
inline constexpr std::int32_t kTinyHello = 3 + 256;  // "▁hello"
inline constexpr std::int32_t kTinyWorld = kTinyHello + 1;  // "▁world"
constexpr std::int32_t tiny_byte_token(unsigned char byte) { return 3 + byte; }

// The smallest model of a weight type: one layer, 32 wide (a block-quantized row needs 32 elements),
// two heads sharing one KV head, a context of 32 (the model-file mutation test and fuzzing seeds).
TinyModelSpec smallest_tiny_model(gguf::TensorType type);

// Writes the model; returns an error text or empty.
std::string write_tiny_model(const std::filesystem::path& path, const TinyModelSpec& spec);

// A fresh path under the system temporary directory, unique per call.
std::filesystem::path temporary_model_path(const std::string& stem);

}  // namespace sovereign::accel::test
