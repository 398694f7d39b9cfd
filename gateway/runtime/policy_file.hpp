#pragma once
// The policy file gateway.yaml names, read whole: what serve, a reload, the file watcher and
// `config check` build or check the policy from.
#include <optional>
#include <string>

#include "gateway/config/gateway_config.hpp"

namespace sovereign::gateway {

// The text of config.policy_file (which must be set), or nullopt with `problem` set to why it cannot
// be read (missing, a directory, not readable, too large) as FILE:LINE:COL: message at gateway.yaml's
// `policy` setting: what is wrong with a file a setting names is reported where the setting is.
std::optional<std::string> read_policy_file(const GatewayConfig& config, std::string& problem);

}  // namespace sovereign::gateway
