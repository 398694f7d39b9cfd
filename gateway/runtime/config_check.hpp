#pragma once
// `sovereign config check`: beyond the file's own syntax and meaning (load_gateway_config), what
// `serve` would refuse or could never use, found without starting anything.
#include <string>
#include <vector>

#include "gateway/config/gateway_config.hpp"

namespace sovereign::gateway {

// One line per problem, FILE:LINE:COL: message at the setting naming what is at fault: listener certificates and
// keys that do not load, backend TLS files that do not load, replicas the egress guard refuses
// (outside the boundary, plaintext to a non-loopback address, a name that does not resolve),
// model files of local backends that are not valid GGUF, and everything `policy lint` reports for
// the policy file with these backends.
std::vector<std::string> check_deployment(const GatewayConfig& config);

// What serve checks of the files it opens at start beyond certificates and models, before it opens
// them: the access log, the audit log's directory and keys, the vault's key and directory. Worded
// as check_deployment words them, one FILE:LINE:COL: message line each.
std::vector<std::string> check_opened_files(const GatewayConfig& config);

}  // namespace sovereign::gateway
