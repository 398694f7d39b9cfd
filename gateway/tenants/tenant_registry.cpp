#include "gateway/tenants/tenant_registry.hpp"

namespace sovereign::gateway {

const TenantConfig* TenantRegistry::by_api_key(std::string_view api_key) const {
  if (api_key.empty()) return nullptr;
  const auto presented = crypto::sha256(api_key);
  const TenantConfig* found = nullptr;
  for (const auto& tenant : *tenants_)
    for (const auto& digest : tenant.api_key_digests)
      if (crypto::equal_constant_time(digest, presented) && found == nullptr) found = &tenant;
  return found;
}

const TenantConfig* TenantRegistry::by_client_certificate(std::string_view subject_cn) const {
  if (subject_cn.empty()) return nullptr;
  for (const auto& tenant : *tenants_)
    for (const auto& cn : tenant.client_certificate_cns)
      if (cn == subject_cn) return &tenant;
  return nullptr;
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
