// ModelRoutes: the backends serving each model, in gateway.yaml's order, with their network state.
#include <doctest/doctest.h>

#include "gateway/runtime/model_routes.hpp"

using namespace sovereign::gateway;

namespace {

BackendConfig backend(const std::string& name, std::vector<std::string> models, BackendType type = BackendType::openai) {
  BackendConfig b;
  b.name = name;
  b.type = type;
  b.models = std::move(models);
  return b;
}

}  // namespace

TEST_SUITE("model routes") {
  TEST_CASE("each model's backends come in config order, local ones marked, network ones with their state") {
    GatewayConfig config;
    config.backends = {backend("gpu-a", {"llama", "qwen"}), backend("engine", {"llama"}, BackendType::local),
                       backend("gpu-b", {"llama", "llama"}), backend("gpu-c", {"mistral"})};
    std::vector<std::unique_ptr<BackendState>> network;
    for (std::size_t i : {0u, 2u, 3u}) {
      network.push_back(std::make_unique<BackendState>());
      network.back()->config = &config.backends[i];
    }
    const ModelRoutes routes(config, network);

    const ModelRoute* llama = routes.find("llama");
    REQUIRE(llama != nullptr);
    REQUIRE(llama->backends.size() == 3);  // gpu-b lists it twice: once here
    CHECK(llama->backends[0]->name == "gpu-a");
    CHECK(llama->backends[1]->name == "engine");
    CHECK(llama->backends[2]->name == "gpu-b");
    REQUIRE(llama->network.size() == 2);
    CHECK(llama->network[0] == network[0].get());
    CHECK(llama->network[1] == network[1].get());
    CHECK(llama->local);
    CHECK(routes.serves_locally("llama"));

    const ModelRoute* qwen = routes.find("qwen");
    REQUIRE(qwen != nullptr);
    CHECK(qwen->backends.size() == 1);
    CHECK_FALSE(qwen->local);
    CHECK_FALSE(routes.serves_locally("qwen"));
    CHECK(routes.serves("mistral"));

    CHECK(routes.find("gpt-4") == nullptr);
    CHECK_FALSE(routes.serves(""));
    CHECK_FALSE(routes.serves("LLAMA"));  // model names are matched exactly
    CHECK_FALSE(routes.serves_locally("gpt-4"));
  }

  TEST_CASE("a backend left out of the network states (it failed to build) is still listed, without state") {
    GatewayConfig config;
    config.backends = {backend("broken", {"m"}), backend("fine", {"m"})};
    std::vector<std::unique_ptr<BackendState>> network;
    network.push_back(std::make_unique<BackendState>());
    network.back()->config = &config.backends[1];
    const ModelRoutes routes(config, network);
    REQUIRE(routes.find("m") != nullptr);
    CHECK(routes.find("m")->backends.size() == 2);
    REQUIRE(routes.find("m")->network.size() == 1);
    CHECK(routes.find("m")->network[0]->config->name == "fine");
  }

  TEST_CASE("an empty snapshot serves nothing") {
    const ModelRoutes routes;
    CHECK(routes.find("m") == nullptr);
  }
}
