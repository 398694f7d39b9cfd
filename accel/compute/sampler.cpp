#include "accel/compute/sampler.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sovereign::accel::compute {

Sampler::Sampler(const SamplerSettings& settings)
    : settings_(settings), rng_(settings.seed ? *settings.seed : std::random_device{}()) {}

bool all_finite(std::span<const float> values) {
  // On the bits (exponent all ones: NaN or infinity), so the loop vectorises without -ffast-math.
  std::uint32_t non_finite = 0;
  for (const float v : values) non_finite |= (std::bit_cast<std::uint32_t>(v) & 0x7F800000u) == 0x7F800000u;
  return non_finite == 0;
}

std::int32_t Sampler::sample(std::span<const float> logits) {
  if (!all_finite(logits)) return kNonFiniteLogits;
  const auto argmax = [&] {
    return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  };
  if (settings_.temperature <= 0.0f || settings_.top_k == 1) return argmax();

  if (settings_.top_k <= 0 && settings_.top_p >= 1.0f) return sample_full(logits);

  candidates_.clear();
  for (std::size_t i = 0; i < logits.size(); ++i)
    candidates_.emplace_back(logits[i], static_cast<std::int32_t>(i));
  const auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  std::size_t keep = candidates_.size();
  if (settings_.top_k > 0 && static_cast<std::size_t>(settings_.top_k) < keep) {
    keep = static_cast<std::size_t>(settings_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(), by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  candidates_.resize(keep);

  // Softmax at the requested temperature, in double so that top_p sums are exact enough.
  const double max = candidates_.front().first;
  std::vector<double>& weights = weights_;
  weights.resize(keep);
  double total = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    weights[i] = std::exp((candidates_[i].first - max) / settings_.temperature);
    total += weights[i];
  }
  if (settings_.top_p < 1.0f) {
    double cumulative = 0;
    std::size_t cut = keep;
    for (std::size_t i = 0; i < keep; ++i) {
      cumulative += weights[i] / total;
      if (cumulative >= settings_.top_p) {
        cut = i + 1;
        break;
      }
    }
    weights.resize(cut);
    total = 0;
    for (double w : weights) total += w;
  }
  const double draw = std::uniform_real_distribution<double>(0.0, total)(rng_);
  double cumulative = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    cumulative += weights[i];
    if (draw < cumulative) return candidates_[i].second;
  }
  return candidates_[weights.size() - 1].second;
}

float Sampler::next_uniform() {
  // 24 random bits: every value is exact in a float and strictly below 1.
  return static_cast<float>(rng_() >> 40) * (1.0f / 16777216.0f);
}

// Plain temperature sampling needs no ordering: one pass for the maximum, one for the draw.
std::int32_t Sampler::sample_full(std::span<const float> logits) {
  const double max = *std::max_element(logits.begin(), logits.end());
  weights_.resize(logits.size());
  double total = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    weights_[i] = std::exp((logits[i] - max) / settings_.temperature);
    total += weights_[i];
  }
  const double draw = std::uniform_real_distribution<double>(0.0, total)(rng_);
  double cumulative = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    cumulative += weights_[i];
    if (draw < cumulative) return static_cast<std::int32_t>(i);
  }
  return static_cast<std::int32_t>(logits.size() - 1);
}

}  // namespace sovereign::accel::compute
