#include "gateway/runtime/config_check.hpp"

#include "accel/compute/engine.hpp"
#include "gateway/config/policy_backends.hpp"
#include "gateway/metrics/gateway_metrics.hpp"
#include "gateway/runtime/listener_tls.hpp"
#include "gateway/runtime/runtime_snapshot.hpp"
#include "gateway/upstream/backend_state.hpp"
#include "gateway/upstream/egress_guard.hpp"
#include "policy/diagnostic.hpp"
#include "policy/lint.hpp"

namespace sovereign::gateway {

std::vector<std::string> check_deployment(const GatewayConfig& config) {
  std::vector<std::string> problems;
  const std::string file = config.source_file.string();

  ListenerTlsContexts listener_tls;
  if (std::string error; !make_listener_tls(config, listener_tls, error)) problems.push_back(file + ": " + error);

  GatewayMetrics scratch_metrics;  // build_backend_states counts into one; nothing serves it here
  const EgressGuard guard(config.boundary);
  std::vector<std::string> backend_errors;
  auto backends = build_backend_states(config, guard, scratch_metrics, backend_errors);
  for (const auto& error : backend_errors) problems.push_back(file + ": " + error);
  for (const auto& backend : backends)
    for (const auto& replica : backend->replicas)
      if (!replica->refusal.empty())
        problems.push_back(file + ": backend '" + backend->config->name + "' replica " + replica->config().url +
                           " would never be used: " + replica->refusal);

  for (const auto& backend : config.backends) {
    if (backend.type != BackendType::local) continue;
    // The checks `serve` makes before it allocates the KV cache, worded as `serve` words them.
    if (std::string error = accel::Engine::check(engine_options(backend)); !error.empty())
      problems.push_back(file + ": backend '" + backend.name + "': " + error);
  }

  if (config.policy_file) {
    const std::vector<policy::BackendInfo> declared = policy_backends(config);
    for (const auto& finding : policy::lint_policy_file(*config.policy_file, &declared))
      problems.push_back(policy::format_diagnostic(finding));
  }
  return problems;
}

}  // namespace sovereign::gateway
