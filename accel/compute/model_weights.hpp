// Read-only views of a model's weight matrices inside the mapped GGUF file, checked against the config.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "accel/compute/model_config.hpp"
#include "accel/gguf/gguf_file.hpp"

namespace sovereign::accel::compute {

// A row-major matrix stored in one of the supported tensor types; rows are the output dimension,
// as in ggml (dims[0] == cols is contiguous).
struct WeightMatrix {
  const std::byte* data = nullptr;
  gguf::TensorType type = gguf::TensorType::f32;
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::size_t row_bytes = 0;

  const std::byte* row(std::size_t r) const { return data + r * row_bytes; }
  std::size_t total_bytes() const { return rows * row_bytes; }
};

// One transformer block's weights; vectors (norms, biases) are converted to f32 at load.
struct LayerWeights {
  std::vector<float> attn_norm;  // (n_embd)
  WeightMatrix wq;               // (q_dim, n_embd)
  WeightMatrix wk;               // (kv_dim, n_embd)
  WeightMatrix wv;               // (kv_dim, n_embd)
  std::vector<float> bq;         // (q_dim), qwen2 only
  std::vector<float> bk;         // (kv_dim), qwen2 only
  std::vector<float> bv;         // (kv_dim), qwen2 only
  WeightMatrix wo;               // (n_embd, q_dim)
  std::vector<float> ffn_norm;   // (n_embd)
  WeightMatrix w_gate;           // (n_ff, n_embd)
  WeightMatrix w_up;             // (n_ff, n_embd)
  WeightMatrix w_down;           // (n_embd, n_ff)
};

struct ModelWeights {
  WeightMatrix token_embedding;  // (n_vocab, n_embd)
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;  // (n_embd)
  WeightMatrix output;             // (n_vocab, n_embd); token_embedding when tied
  std::vector<float> rope_freq_divisors;  // (rope_dims / 2), empty unless the model has rope_freqs

  // Bytes of weights read to produce one token (every matrix once), the roofline's numerator.
  std::size_t bytes_per_token() const;
  // Every matrix a forward pass multiplies by (the output once, even when tied to the embedding).
  std::vector<const WeightMatrix*> matrices() const;
};

using TensorLookup = std::function<const gguf::TensorInfo*(std::string_view name)>;

// Binds every tensor the config calls for; the error names the tensor and what is wrong with it.
[[nodiscard]] std::variant<ModelWeights, std::string> bind_model_weights(const ModelConfig& config,
                                                                         const TensorLookup& lookup);

// True for the tensor types the engine's matrix kernels accept.
bool is_supported_matrix_type(gguf::TensorType type);

}  // namespace sovereign::accel::compute
