#pragma once
// Everything a request needs from the configuration, built off the request path and then never
// changed: a request holds the snapshot it started with; a reload swaps in a new one.
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "accel/compute/engine.hpp"
#include "gateway/admission/rate_limiter.hpp"
#include "policy/policy.hpp"
#include "gateway/config/gateway_config.hpp"
#include "gateway/tenants/tenant_registry.hpp"
#include "gateway/runtime/model_routes.hpp"
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
  // The backends serving each model (config order), built with `backends`.
  ModelRoutes routes;
  // Every backend's request series (network and local): removed from /metrics with the last
  // snapshot that has the backend.
  std::vector<std::shared_ptr<const GatewayMetrics::RequestSeries>> request_series;
  // One pool per worker thread; worker i only ever touches pools[i].
  std::vector<std::unique_ptr<ConnectionPool>> pools;
  // The compliance officer's policy; null when gateway.yaml names none (tenant -> model rules only).
  std::shared_ptr<const policy::Policy> policy;
  // Built-in engines of `type: local` backends, by backend name (kept across reloads: see EngineRegistry).
  std::map<std::string, std::shared_ptr<accel::Engine>> engines;

  RuntimeSnapshot(std::shared_ptr<const GatewayConfig> cfg, const RuntimeSnapshot* previous, unsigned workers);

};

// The engine settings of a `type: local` backend.
accel::EngineOptions engine_options(const BackendConfig& backend);

// What the engine says of the backend-th backend's model (and its fit on the device), as
// FILE:LINE:COL: backend 'NAME': error at its model_file, or at the setting of `option`, the
// EngineOptions field the engine blamed (Engine::check's option_at_fault), where the file sets it.
std::string model_file_problem(const GatewayConfig& config, std::size_t backend, const std::string& error,
                               std::string_view option = {});

// Loaded engines outlive configuration snapshots: loading a model takes seconds and gigabytes, so a
// reload that keeps a local backend's settings and model file (same device, inode, size and
// modification time) keeps its engine; a replaced file is loaded anew. Used from the control thread
// only.
class EngineRegistry {
 public:
  // The engine for these settings, loaded now if no snapshot uses one like it; error text on failure.
  // `option_at_fault` as Engine::load gives it.
  std::variant<std::shared_ptr<accel::Engine>, std::string> engine_for(const BackendConfig& backend,
                                                                      std::string* option_at_fault = nullptr);
  // Forgets engines no snapshot holds any more.
  void release_unused();

 private:
  std::map<std::string, std::shared_ptr<accel::Engine>> engines_;
};

// Builds a snapshot, or returns the reasons it cannot be used (an unreadable backend CA, a policy
// with errors, a model file the engine refuses), each as FILE:LINE:COL: message. The policy is built
// from `policy_text` where the caller has read the policy file already (the file watcher, which
// applies exactly the bytes it saw settle), else from the file read now; either way the policy's
// version is the SHA-256 of the bytes it was built from.
std::variant<std::shared_ptr<RuntimeSnapshot>, std::vector<std::string>> build_snapshot(
    std::shared_ptr<const GatewayConfig> config, const RuntimeSnapshot* previous, unsigned workers,
    GatewayMetrics& metrics, EngineRegistry& engines, const std::string* policy_text = nullptr);

}  // namespace sovereign::gateway
