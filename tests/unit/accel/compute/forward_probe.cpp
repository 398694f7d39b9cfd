#include "forward_probe.hpp"

#include <cstdint>
#include <span>
#include <vector>

#include "accel/compute/cpu_backend.hpp"
#include "accel/compute/kv_pages.hpp"

namespace sovereign::accel::test {

float forward_probe(const compute::LoadedModel& model) {
  const compute::ModelConfig& config = model.config;
  compute::CpuBackendOptions options;
  options.threads = 1;
  options.kv_pages = 1;
  options.max_step_tokens = 3;
  options.max_logit_rows = 3;
  compute::CpuBackend backend(config, model.weights, options);
  compute::KvPageTable pages(options.kv_pages, 1);
  if (!pages.reserve(0, 1)) return 0;
  const auto last = static_cast<std::int32_t>(config.n_vocab - 1);
  const auto vocab = static_cast<std::size_t>(config.n_vocab);
  std::vector<float> logits(3 * vocab);
  float sum = 0;
  std::int32_t position = 0;
  for (const std::vector<std::int32_t>& step : {std::vector<std::int32_t>{0, last, last / 2}, std::vector<std::int32_t>{1 % (last + 1)}}) {
    std::vector<compute::StepToken> tokens;
    for (const std::int32_t token : step) tokens.push_back({token, position++, 0, true});
    pages.grow(0, static_cast<std::size_t>(position));
    const std::vector<std::span<const std::int32_t>> tables{pages.pages(0)};
    backend.forward(tokens, tables, logits.data());
    for (std::size_t i = 0; i < tokens.size() * vocab; ++i) sum += logits[i];
  }
  return sum;
}

}  // namespace sovereign::accel::test
