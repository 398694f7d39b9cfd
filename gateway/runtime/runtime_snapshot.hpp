#pragma once
// Everything a request needs from the configuration, built off the request path and then never
// changed: a request holds the snapshot it started with; a reload swaps in a new one.
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "gateway/admission/rate_limiter.hpp"
#include "gateway/config/gateway_config.hpp"
#include "gateway/tenants/tenant_registry.hpp"
#include "gateway/upstream/backend_state.hpp"
#include "gateway/upstream/connection_pool.hpp"
#include "gateway/upstream/egress_guard.hpp"

namespace sovereign::gateway {

struct RuntimeSnapshot {
  std::shared_ptr<const GatewayConfig> config;
  TenantRegistry tenants;
  RateLimiter rate_limiter;
  EgressGuard egress_guard;
  std::vector<std::unique_ptr<BackendState>> backends;
  // One pool per worker thread; worker i only ever touches pools[i].
  std::vector<std::unique_ptr<ConnectionPool>> pools;

  RuntimeSnapshot(std::shared_ptr<const GatewayConfig> cfg, const RuntimeSnapshot* previous, unsigned workers);

  const BackendState* backend_state(const std::string& name) const;
};

// Builds a snapshot, or returns the reasons it cannot be used (e.g. an unreadable backend CA).
std::variant<std::shared_ptr<RuntimeSnapshot>, std::vector<std::string>> build_snapshot(
    std::shared_ptr<const GatewayConfig> config, const RuntimeSnapshot* previous, unsigned workers,
    GatewayMetrics& metrics);

}  // namespace sovereign::gateway
