#include "gateway/runtime/model_routes.hpp"

#include <unordered_map>

namespace sovereign::gateway {

ModelRoutes::ModelRoutes(const GatewayConfig& config, const std::vector<std::unique_ptr<BackendState>>& network) {
  std::unordered_map<const BackendConfig*, BackendState*> state_of;
  for (const auto& state : network) state_of.emplace(state->config, state.get());
  for (const BackendConfig& backend : config.backends) {
    const auto state = state_of.find(&backend);
    for (const std::string& model : backend.models) {
      ModelRoute& route = by_model_[model];
      // A backend that lists a model twice serves it once.
      if (!route.backends.empty() && route.backends.back() == &backend) continue;
      route.backends.push_back(&backend);
      if (backend.type == BackendType::local) route.local = true;
      if (state != state_of.end()) route.network.push_back(state->second);
    }
  }
}

const ModelRoute* ModelRoutes::find(std::string_view model) const {
  const auto found = by_model_.find(model);
  return found == by_model_.end() ? nullptr : &found->second;
}

}  // namespace sovereign::gateway
