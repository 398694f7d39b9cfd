#include "gateway/tenants/tenant_registry.hpp"

#include <algorithm>

namespace sovereign::gateway {

namespace {

std::uint64_t digest_prefix(const crypto::Sha256& digest) {
  std::uint64_t prefix = 0;
  for (std::size_t i = 0; i < sizeof prefix; ++i) prefix = (prefix << 8) | digest[i];
  return prefix;
}

}  // namespace

TenantRegistry::TenantRegistry(const std::vector<TenantConfig>& tenants) {
  for (const auto& tenant : tenants) {
    for (const auto& digest : tenant.api_key_digests) keys_.push_back({digest_prefix(digest), digest, &tenant});
    for (const auto& name : tenant.client_certificate_cns) by_certificate_name_.try_emplace(name, &tenant);
  }
  // Stable: were a digest listed twice (the config check refuses it), the first tenant would keep it.
  std::stable_sort(keys_.begin(), keys_.end(), [](const KeyEntry& a, const KeyEntry& b) { return a.prefix < b.prefix; });
}

const TenantConfig* TenantRegistry::by_api_key(std::string_view api_key) const {
  if (api_key.empty()) return nullptr;
  const auto presented = crypto::sha256(api_key);
  const std::uint64_t prefix = digest_prefix(presented);
  auto it = std::lower_bound(keys_.begin(), keys_.end(), prefix,
                             [](const KeyEntry& entry, std::uint64_t wanted) { return entry.prefix < wanted; });
  for (; it != keys_.end() && it->prefix == prefix; ++it)
    if (crypto::equal_constant_time(it->digest, presented)) return it->tenant;
  return nullptr;
}

const TenantConfig* TenantRegistry::by_client_certificate(std::string_view subject_cn) const {
  if (subject_cn.empty()) return nullptr;
  const auto found = by_certificate_name_.find(subject_cn);
  return found == by_certificate_name_.end() ? nullptr : found->second;
}

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() <= scheme.size()) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != std::tolower(static_cast<unsigned char>(scheme[i])))
      return {};
  auto token = authorization.substr(scheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

}  // namespace sovereign::gateway
