// Picks the next token from a row of logits: greedy, or temperature / top-k / top-p with a seeded RNG.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

namespace sovereign::accel::compute {

struct SamplerSettings {
  float temperature = 1.0f;  // 0: greedy (argmax)
  float top_p = 1.0f;        // keep the smallest set of tokens whose probability reaches top_p
  int top_k = 0;             // 0: no limit
  std::optional<std::uint64_t> seed;  // unseeded draws from std::random_device
};

// What sample() and a device sampler return for a row whose logits are not all finite: a NaN or an
// infinity means the model's weights or activations are broken, and no token drawn from them means anything.
inline constexpr std::int32_t kNonFiniteLogits = -1;

// True when no value is NaN or infinite.
bool all_finite(std::span<const float> values);

// One per sequence: owns its RNG so that a seeded request is reproducible whatever else is batched.
class Sampler {
 public:
  explicit Sampler(const SamplerSettings& settings);
  // The next token, or kNonFiniteLogits.
  std::int32_t sample(std::span<const float> logits);
  // For device-side sampling: the settings, and the next draw in [0, 1) of this sequence's RNG.
  const SamplerSettings& settings() const { return settings_; }
  float next_uniform();

 private:
  std::int32_t sample_full(std::span<const float> logits);

  SamplerSettings settings_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, std::int32_t>> candidates_;  // reused between calls
  std::vector<double> weights_;                               // reused between calls
};

}  // namespace sovereign::accel::compute
