#pragma once
// Maps credentials (API key, or verified client-certificate CN) to the tenant they belong to.
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/gateway_config.hpp"

namespace sovereign::gateway {

class TenantRegistry {
 public:
  explicit TenantRegistry(const std::vector<TenantConfig>& tenants) : tenants_(&tenants) {}

  // The key is hashed and compared against every stored digest in constant time, so neither
  // the position of a match nor a near-miss shows in the timing. nullptr when nothing matches.
  const TenantConfig* by_api_key(std::string_view api_key) const;
  const TenantConfig* by_client_certificate(std::string_view subject_cn) const;

 private:
  const std::vector<TenantConfig>* tenants_;
};

// Extracts the key from "Bearer KEY"; empty when the header has another shape.
std::string_view bearer_token(std::string_view authorization);

}  // namespace sovereign::gateway
