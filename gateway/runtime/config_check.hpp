#pragma once
// `sovereign config check`: beyond the file's own syntax and meaning (load_gateway_config), what
// `serve` would refuse or could never use, found without starting anything.
#include <string>
#include <vector>

#include "gateway/config/gateway_config.hpp"

namespace sovereign::gateway {

// One line per problem, each naming the file or the backend it concerns: listener certificates and
// keys that do not load, backend TLS files that do not load, replicas the egress guard refuses
// (outside the boundary, plaintext to a non-loopback address, a name that does not resolve),
// model files of local backends that are not valid GGUF, and everything `policy lint` reports for
// the policy file with these backends.
std::vector<std::string> check_deployment(const GatewayConfig& config);

}  // namespace sovereign::gateway
