// The CPU forward pass: multi-threaded, SIMD dot products chosen at run time, f32 activations and
// an f32 paged KV cache allocated once at load.
#pragma once

#include <memory>

#include "accel/compute/cpu_dot.hpp"
#include "accel/compute/forward_backend.hpp"
#include "accel/compute/model_config.hpp"
#include "accel/compute/model_weights.hpp"
#include "accel/compute/thread_pool.hpp"

namespace sovereign::accel::compute {

struct CpuBackendOptions {
  int threads = 0;                 // 0: one per hardware thread
  std::size_t kv_pages = 0;        // pages of kKvPageTokens positions, shared by all slots
  std::size_t max_step_tokens = 512;
  std::size_t max_logit_rows = 16;
};

class CpuBackend final : public ForwardBackend {
 public:
  // config and weights must outlive the backend (they live in the loaded model).
  CpuBackend(const ModelConfig& config, const ModelWeights& weights, const CpuBackendOptions& options);

  void forward(std::span<const StepToken> tokens,
               std::span<const std::span<const std::int32_t>> page_tables, float* logits) override;
  std::size_t max_step_tokens() const override { return options_.max_step_tokens; }
  std::size_t max_logit_rows() const override { return options_.max_logit_rows; }
  std::string device_name() const override;
  std::size_t device_memory_used_bytes() const override { return 0; }

  // Bytes the backend allocates for a model with these options (activations and KV cache).
  static std::size_t planned_bytes(const ModelConfig& config, const CpuBackendOptions& options);

 private:
  void attention(std::size_t layer, std::span<const StepToken> tokens,
                 std::span<const std::span<const std::int32_t>> page_tables);
  float* key_at(std::size_t layer, std::int32_t page, std::size_t offset);
  float* value_at(std::size_t layer, std::int32_t page, std::size_t offset);

  const ModelConfig& config_;
  const ModelWeights& weights_;
  CpuBackendOptions options_;
  const RowDotKernels& kernels_;
  ThreadPool pool_;

  // Run state, sized for max_step_tokens at construction.
  std::vector<float> x_;        // (step_tokens, n_embd) residual stream
  std::vector<float> xb_;       // (step_tokens, n_embd) normalised input / projection output
  std::vector<float> q_;        // (step_tokens, q_dim)
  std::vector<float> k_;        // (step_tokens, kv_dim)
  std::vector<float> v_;        // (step_tokens, kv_dim)
  std::vector<float> attn_;     // (step_tokens, q_dim) attention output per head
  std::vector<float> gate_;     // (step_tokens, n_ff)
  std::vector<float> up_;       // (step_tokens, n_ff)
  std::vector<float> final_;    // (max_logit_rows, n_embd) normalised rows that get logits
  std::vector<float> key_cache_;    // (layer, page, kKvPageTokens, kv_dim)
  std::vector<float> value_cache_;  // (layer, page, kKvPageTokens, kv_dim)
};

}  // namespace sovereign::accel::compute
