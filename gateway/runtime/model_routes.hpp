#pragma once
// ModelRoutes: which backends serve a model, worked out once per configuration snapshot. A request
// names its model; the gateway checks that some backend serves it and picks among those that do,
// in one lookup however many backends and models gateway.yaml declares (comparing every backend's
// every model took a few microseconds a request with a hundred backends).
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config/gateway_config.hpp"
#include "gateway/config/name_index.hpp"
#include "gateway/upstream/backend_state.hpp"

namespace sovereign::gateway {

// The backends that list one model, in gateway.yaml's order.
struct ModelRoute {
  std::vector<const BackendConfig*> backends;  // every kind, local ones too
  std::vector<BackendState*> network;          // the network backends among them, with their state
  bool local = false;                          // whether one of them is a built-in engine
};

class ModelRoutes {
 public:
  ModelRoutes() = default;
  // `network` is the snapshot's state of the network backends (each names its config).
  ModelRoutes(const GatewayConfig& config, const std::vector<std::unique_ptr<BackendState>>& network);

  // The backends serving `model`; null when none does.
  const ModelRoute* find(std::string_view model) const;
  bool serves(std::string_view model) const { return find(model) != nullptr; }
  // Whether a built-in engine is among them.
  bool serves_locally(std::string_view model) const {
    const ModelRoute* route = find(model);
    return route != nullptr && route->local;
  }

 private:
  NameIndex<ModelRoute> by_model_;
};

}  // namespace sovereign::gateway
