#include "gateway/runtime/runtime_snapshot.hpp"

namespace sovereign::gateway {

RuntimeSnapshot::RuntimeSnapshot(std::shared_ptr<const GatewayConfig> cfg, const RuntimeSnapshot* previous,
                                 unsigned workers)
    : config(std::move(cfg)),
      tenants(config->tenants),
      rate_limiter(config->tenants, previous ? &previous->rate_limiter : nullptr),
      egress_guard(config->boundary) {
  for (unsigned i = 0; i < workers; ++i) pools.push_back(std::make_unique<ConnectionPool>());
}

const BackendState* RuntimeSnapshot::backend_state(const std::string& name) const {
  for (const auto& backend : backends)
    if (backend->config->name == name) return backend.get();
  return nullptr;
}

std::variant<std::shared_ptr<RuntimeSnapshot>, std::vector<std::string>> build_snapshot(
    std::shared_ptr<const GatewayConfig> config, const RuntimeSnapshot* previous, unsigned workers,
    GatewayMetrics& metrics) {
  auto snapshot = std::make_shared<RuntimeSnapshot>(std::move(config), previous, workers);
  std::vector<std::string> errors;
  snapshot->backends = build_backend_states(*snapshot->config, snapshot->egress_guard, metrics, errors);
  if (!errors.empty()) return errors;
  return snapshot;
}

}  // namespace sovereign::gateway
