#pragma once
// The gateway's backends as policy lint sees them (name, zone, models): for `policy lint --gateway`,
// `config check` and the lint run on every policy reload.
#include <vector>

#include "gateway/config/gateway_config.hpp"
#include "policy/types.hpp"

namespace sovereign::gateway {

inline std::vector<policy::BackendInfo> policy_backends(const GatewayConfig& config) {
  std::vector<policy::BackendInfo> out;
  out.reserve(config.backends.size());
  for (const auto& backend : config.backends) out.push_back({backend.name, backend.zone, backend.models});
  return out;
}

}  // namespace sovereign::gateway
