#include "accel/compute/cpu_backend.hpp"

#include <cmath>

#include "accel/compute/cpu_kernels.hpp"
#include "accel/compute/kv_pages.hpp"

namespace sovereign::accel::compute {
namespace {

std::size_t kv_floats(const ModelConfig& c, std::size_t pages) {
  return static_cast<std::size_t>(c.n_layers) * pages * kKvPageTokens * static_cast<std::size_t>(c.kv_dim());
}

}  // namespace

CpuBackend::CpuBackend(const ModelConfig& config, const ModelWeights& weights,
                       const CpuBackendOptions& options)
    : config_(config),
      weights_(weights),
      options_(options),
      kernels_(row_dot_kernels()),
      pool_(options.threads) {
  const std::size_t t = options.max_step_tokens;
  x_.resize(t * config.n_embd);
  xb_.resize(t * config.n_embd);
  q_.resize(t * config.q_dim());
  k_.resize(t * config.kv_dim());
  v_.resize(t * config.kv_dim());
  attn_.resize(t * config.q_dim());
  gate_.resize(t * config.n_ff);
  up_.resize(t * config.n_ff);
  final_.resize(options.max_logit_rows * config.n_embd);
  key_cache_.resize(kv_floats(config, options.kv_pages));
  value_cache_.resize(kv_floats(config, options.kv_pages));
}

std::size_t CpuBackend::planned_bytes(const ModelConfig& c, const CpuBackendOptions& o) {
  const std::size_t t = o.max_step_tokens;
  const std::size_t activations =
      t * (2 * c.n_embd + 2 * c.q_dim() + 2 * c.kv_dim() + 2 * c.n_ff) + o.max_logit_rows * c.n_embd;
  return sizeof(float) * (activations + 2 * kv_floats(c, o.kv_pages));
}

std::string CpuBackend::device_name() const {
  return std::string("cpu (") + kernels_.name + ", " + std::to_string(pool_.size()) + " threads)";
}

float* CpuBackend::key_at(std::size_t layer, std::int32_t page, std::size_t offset) {
  const std::size_t kv_dim = static_cast<std::size_t>(config_.kv_dim());
  return key_cache_.data() +
         ((layer * options_.kv_pages + static_cast<std::size_t>(page)) * kKvPageTokens + offset) * kv_dim;
}

float* CpuBackend::value_at(std::size_t layer, std::int32_t page, std::size_t offset) {
  const std::size_t kv_dim = static_cast<std::size_t>(config_.kv_dim());
  return value_cache_.data() +
         ((layer * options_.kv_pages + static_cast<std::size_t>(page)) * kKvPageTokens + offset) * kv_dim;
}

void CpuBackend::attention(std::size_t layer, std::span<const StepToken> tokens,
                           std::span<const std::span<const std::int32_t>> page_tables) {
  const std::size_t head_dim = static_cast<std::size_t>(config_.head_dim);
  const std::size_t q_dim = static_cast<std::size_t>(config_.q_dim());
  const std::size_t group = static_cast<std::size_t>(config_.n_heads / config_.n_kv_heads);
  const std::size_t heads = static_cast<std::size_t>(config_.n_heads);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  pool_.parallel_for(tokens.size() * heads, [&](std::size_t first, std::size_t last) {
    thread_local std::vector<float> scores;
    for (std::size_t job = first; job < last; ++job) {
      const std::size_t i = job / heads;
      const std::size_t h = job % heads;
      const StepToken& tok = tokens[i];
      const std::span<const std::int32_t> pages = page_tables[static_cast<std::size_t>(tok.slot)];
      const std::size_t span = static_cast<std::size_t>(tok.position) + 1;
      const std::size_t kv_offset = (h / group) * head_dim;
      const float* query = q_.data() + i * q_dim + h * head_dim;
      scores.resize(span);
      for (std::size_t t = 0; t < span; ++t) {
        const float* key = key_at(layer, pages[t / kKvPageTokens], t % kKvPageTokens) + kv_offset;
        scores[t] = kernels_.f32(query, key, head_dim) * scale;
      }
      softmax(scores.data(), span);
      float* out = attn_.data() + i * q_dim + h * head_dim;
      std::fill(out, out + head_dim, 0.0f);
      for (std::size_t t = 0; t < span; ++t) {
        const float* value = value_at(layer, pages[t / kKvPageTokens], t % kKvPageTokens) + kv_offset;
        const float p = scores[t];
        for (std::size_t d = 0; d < head_dim; ++d) out[d] += p * value[d];
      }
    }
  });
}

void CpuBackend::forward(std::span<const StepToken> tokens,
                         std::span<const std::span<const std::int32_t>> page_tables, float* logits) {
  const ModelConfig& c = config_;
  const std::size_t n = tokens.size();
  const std::size_t embd = static_cast<std::size_t>(c.n_embd);
  const std::size_t q_dim = static_cast<std::size_t>(c.q_dim());
  const std::size_t kv_dim = static_cast<std::size_t>(c.kv_dim());
  const std::size_t ff = static_cast<std::size_t>(c.n_ff);

  for (std::size_t i = 0; i < n; ++i)
    embedding_row(x_.data() + i * embd, weights_.token_embedding, static_cast<std::size_t>(tokens[i].token));

  for (std::size_t l = 0; l < weights_.layers.size(); ++l) {
    const LayerWeights& w = weights_.layers[l];
    for (std::size_t i = 0; i < n; ++i)
      rmsnorm(xb_.data() + i * embd, x_.data() + i * embd, w.attn_norm.data(), embd, c.rms_eps);
    matmul(pool_, kernels_, q_.data(), w.wq, xb_.data(), n);
    matmul(pool_, kernels_, k_.data(), w.wk, xb_.data(), n);
    matmul(pool_, kernels_, v_.data(), w.wv, xb_.data(), n);
    if (c.has_qkv_bias) {
      add_bias(q_.data(), w.bq.data(), q_dim, n);
      add_bias(k_.data(), w.bk.data(), kv_dim, n);
      add_bias(v_.data(), w.bv.data(), kv_dim, n);
    }
    for (std::size_t i = 0; i < n; ++i) {
      const StepToken& tok = tokens[i];
      rope(q_.data() + i * q_dim, c.n_heads, c, tok.position, weights_.rope_freq_divisors);
      rope(k_.data() + i * kv_dim, c.n_kv_heads, c, tok.position, weights_.rope_freq_divisors);
      const std::int32_t page = page_tables[static_cast<std::size_t>(tok.slot)]
                                           [static_cast<std::size_t>(tok.position) / kKvPageTokens];
      const std::size_t offset = static_cast<std::size_t>(tok.position) % kKvPageTokens;
      std::copy_n(k_.data() + i * kv_dim, kv_dim, key_at(l, page, offset));
      std::copy_n(v_.data() + i * kv_dim, kv_dim, value_at(l, page, offset));
    }
    attention(l, tokens, page_tables);
    matmul(pool_, kernels_, xb_.data(), w.wo, attn_.data(), n);
    for (std::size_t i = 0; i < n * embd; ++i) x_[i] += xb_[i];

    for (std::size_t i = 0; i < n; ++i)
      rmsnorm(xb_.data() + i * embd, x_.data() + i * embd, w.ffn_norm.data(), embd, c.rms_eps);
    matmul(pool_, kernels_, gate_.data(), w.w_gate, xb_.data(), n);
    matmul(pool_, kernels_, up_.data(), w.w_up, xb_.data(), n);
    silu_mul(gate_.data(), gate_.data(), up_.data(), n * ff);
    matmul(pool_, kernels_, xb_.data(), w.w_down, gate_.data(), n);
    for (std::size_t i = 0; i < n * embd; ++i) x_[i] += xb_[i];
  }

  std::size_t rows = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!tokens[i].wants_logits) continue;
    rmsnorm(final_.data() + rows * embd, x_.data() + i * embd, weights_.output_norm.data(), embd, c.rms_eps);
    ++rows;
  }
  matmul(pool_, kernels_, logits, weights_.output, final_.data(), rows);
}

}  // namespace sovereign::accel::compute
