// Model hyper-parameters read from a GGUF file's metadata (or a named benchmark shape).
#pragma once

#include <cstddef>
#include <string>
#include <variant>

#include "accel/gguf/gguf_file.hpp"

namespace sovereign::accel::compute {

enum class Architecture { llama, qwen2 };

// Which element pairs RoPE rotates: GGUF llama weights are permuted so that pairs are adjacent
// (2i, 2i+1); qwen2 keeps the NEOX layout, pairing i with i + rope_dims/2.
enum class RopeStyle { adjacent_pairs, neox };

// Everything the forward pass needs to know about the network's shape; immutable after load.
struct ModelConfig {
  Architecture architecture = Architecture::llama;
  std::string name;
  int n_vocab = 0;
  int n_embd = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int n_ff = 0;
  int trained_context = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  int rope_dims = 0;             // leading dims of each head that are rotated
  float rope_position_scale = 1.0f;  // linear RoPE scaling: positions are multiplied by this
  RopeStyle rope_style = RopeStyle::adjacent_pairs;
  bool has_qkv_bias = false;
  bool tied_embeddings = false;  // no output.weight: logits use token_embd.weight
  bool has_rope_freqs = false;   // llama 3.1+ per-frequency divisors in rope_freqs.weight

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
};

// Reads and range-checks the hyper-parameters; the error names the metadata key at fault.
[[nodiscard]] std::variant<ModelConfig, std::string> read_model_config(const gguf::File& file);

const char* architecture_name(Architecture architecture);

}  // namespace sovereign::accel::compute
