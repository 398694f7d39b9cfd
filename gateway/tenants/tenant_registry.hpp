#pragma once
// Maps credentials (API key, or verified client-certificate CN) to the tenant they belong to.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/digest.hpp"
#include "gateway/config/gateway_config.hpp"
#include "gateway/config/name_index.hpp"

namespace sovereign::gateway {

class TenantRegistry {
 public:
  // Keeps pointers into `tenants`, which must outlive the registry.
  explicit TenantRegistry(const std::vector<TenantConfig>& tenants);

  // The key is hashed (SHA-256) and its digest looked up among the configured ones: a binary search
  // on the digests' first eight bytes, then a constant-time comparison of the whole digest with each
  // candidate. The time it takes says nothing about the keys: at most how the presented key's digest
  // orders among digests that gateway.yaml already shows. One request costs the same with one
  // tenant or thousands. nullptr when nothing matches.
  const TenantConfig* by_api_key(std::string_view api_key) const;
  // The tenant a verified client certificate's subject CN is mapped to (one lookup); nullptr for none.
  const TenantConfig* by_client_certificate(std::string_view subject_cn) const;

 private:
  struct KeyEntry {
    std::uint64_t prefix;  // the digest's first eight bytes, for the search
    crypto::Sha256 digest;
    const TenantConfig* tenant;
  };
  std::vector<KeyEntry> keys_;  // sorted by prefix
  NameIndex<const TenantConfig*> by_certificate_name_;
};

// Extracts the key from "Bearer KEY"; empty when the header has another shape.
std::string_view bearer_token(std::string_view authorization);

}  // namespace sovereign::gateway
