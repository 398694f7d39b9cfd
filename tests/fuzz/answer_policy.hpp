#pragma once
// The policy the answer-side fuzz targets scan with: every detector a model's answer may be
// redacted for, so that mutated answers reach each detector's streaming hold-back logic.
#include <cstdlib>
#include <memory>

#include "policy/policy.hpp"

namespace sovereign::fuzz {

inline const std::shared_ptr<const policy::Policy>& answer_policy() {
  static const std::shared_ptr<const policy::Policy> policy = [] {
    auto loaded = policy::load_policy_text(
        "classes: [public, confidential, restricted]\nzones: [{name: site}]\n"
        "responses: {redact: [email, credit_card, iban, us_ssn, phone, ipv4, ipv6, uk_nhs, uk_nino, jwt,\n"
        "  aws_access_key, private_key, github_token, generic_secret, de_steuer_id, fr_nir, es_dni]}\n"
        "rules: [{name: all, then: {action: allow}}]\n",
        "answers.yaml");
    if (!loaded.policy) std::abort();
    return loaded.policy;
  }();
  return policy;
}

// Chunk lengths from a seed: 1 to 16 bytes, a different series for every seed.
class ChunkLengths {
 public:
  explicit ChunkLengths(std::uint32_t seed) : state_(seed * 2654435761u + 1) {}
  std::size_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return 1 + state_ % 16;
  }

 private:
  std::uint32_t state_;
};

}  // namespace sovereign::fuzz
