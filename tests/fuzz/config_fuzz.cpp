// Fuzz target: gateway.yaml as operators write it. The loader must accept it or name every problem
// with a position, never crash, hang or throw.
#include <cstdio>
#include <cstdlib>

#include "fuzz_support.hpp"
#include "gateway/config/gateway_config.hpp"

using namespace sovereign;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string yaml(fuzz::as_text(data, size));
  auto result = gateway::parse_gateway_config(yaml, fuzz::scratch_directory() / "gateway.yaml");
  if (auto* errors = std::get_if<std::vector<gateway::ConfigError>>(&result)) {
    if (errors->empty()) {
      std::fprintf(stderr, "a configuration was refused without an error\n");
      std::abort();
    }
    for (const auto& error : *errors) (void)error.to_string();
  } else {
    const auto& config = *std::get<std::shared_ptr<const gateway::GatewayConfig>>(result);
    (void)config.all_models();
  }
  return 0;
}
