// Sampling: greedy, top-k, top-p, temperature and seeded reproducibility.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <vector>

#include "accel/compute/sampler.hpp"

using sovereign::accel::compute::Sampler;
using sovereign::accel::compute::SamplerSettings;

namespace {
const std::vector<float> kLogits{0.5f, 3.0f, 1.0f, 2.9f, -1.0f, 0.0f};
}

TEST_CASE("temperature 0 and top_k 1 both pick the largest logit") {
  Sampler greedy({0.0f, 1.0f, 0, 7});
  Sampler top1({1.0f, 1.0f, 1, 7});
  for (int i = 0; i < 20; ++i) {
    CHECK(greedy.sample(kLogits) == 1);
    CHECK(top1.sample(kLogits) == 1);
  }
}

TEST_CASE("the same seed gives the same draws and top_k 2 draws only the two best tokens") {
  Sampler a({1.0f, 1.0f, 2, 42});
  Sampler b({1.0f, 1.0f, 2, 42});
  std::map<int, int> seen;
  for (int i = 0; i < 200; ++i) {
    const int x = a.sample(kLogits);
    CHECK(x == b.sample(kLogits));
    ++seen[x];
  }
  CHECK(seen.size() == 2);
  CHECK(seen.count(1) == 1);
  CHECK(seen.count(3) == 1);
}

TEST_CASE("top_p keeps the smallest set of tokens reaching the probability mass") {
  // Token 1 alone has ~46% of the mass; 1 and 3 together ~87%.
  Sampler narrow({1.0f, 0.4f, 0, 3});
  for (int i = 0; i < 50; ++i) CHECK(narrow.sample(kLogits) == 1);
  Sampler wider({1.0f, 0.7f, 0, 3});
  for (int i = 0; i < 100; ++i) {
    const int x = wider.sample(kLogits);
    CHECK((x == 1 || x == 3));
  }
}

TEST_CASE("plain temperature sampling follows the softmax distribution") {
  Sampler s({1.0f, 1.0f, 0, 11});
  constexpr int kDraws = 20000;
  std::vector<int> counts(kLogits.size(), 0);
  for (int i = 0; i < kDraws; ++i) ++counts[static_cast<std::size_t>(s.sample(kLogits))];
  double total = 0;
  for (float l : kLogits) total += std::exp(l);
  for (std::size_t i = 0; i < kLogits.size(); ++i) {
    const double expected = std::exp(kLogits[i]) / total;
    CHECK(counts[i] / double(kDraws) == doctest::Approx(expected).epsilon(0.1).scale(0.01));
  }
}

TEST_CASE("a row holding a NaN or an infinity gives no token, whatever the settings") {
  using sovereign::accel::compute::kNonFiniteLogits;
  for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    std::vector<float> logits = kLogits;
    logits[4] = bad;
    for (const SamplerSettings settings : {SamplerSettings{0.0f, 1.0f, 0, 7}, SamplerSettings{1.0f, 1.0f, 0, 7},
                                           SamplerSettings{1.0f, 0.9f, 3, 7}, SamplerSettings{0.7f, 1.0f, 1, 7}}) {
      Sampler sampler(settings);
      CHECK(sampler.sample(logits) == kNonFiniteLogits);
    }
  }
  CHECK(sovereign::accel::compute::all_finite(kLogits));
  CHECK_FALSE(sovereign::accel::compute::all_finite(std::vector<float>(1000, std::nanf(""))));
}
