#pragma once
// `sovereign config check`: beyond the file's own syntax and meaning (load_gateway_config), what
// `serve` would refuse or could never use, found without starting anything.
#include <string>
#include <vector>

#include "gateway/config/gateway_config.hpp"
#include "policy/policy.hpp"

namespace sovereign::gateway {

// One line per problem, FILE:LINE:COL: message at the setting naming what is at fault: listener certificates and
// keys that do not load, backend TLS files that do not load, replicas the egress guard refuses
// (outside the boundary, plaintext to a non-loopback address), model files of local backends that
// are not valid GGUF, and everything `policy lint` reports for the policy file with these backends,
// but its advisory findings (Diagnostic::advisory) and replica names that do not resolve now (serve
// resolves them again until they do), which go to `warnings` when given and fail nothing.
std::vector<std::string> check_deployment(const GatewayConfig& config, std::vector<std::string>* warnings = nullptr);

// What serve checks of the files it opens at start beyond certificates and models, before it opens
// them: the access log, the audit log's directory and keys, the vault's key and directory. Worded
// as check_deployment words them, one FILE:LINE:COL: message line each.
std::vector<std::string> check_opened_files(const GatewayConfig& config);

// A policy that asks for sealed payload captures (capture_payload, in a rule or for a tenant) where
// gateway.yaml gives no auditor public key to seal them to: one FILE:LINE:COL: message line at the
// audit section (or at `policy` when there is none), naming the first rule or tenant that asks.
// serve, reload and config check refuse it.
std::vector<std::string> check_capture_settings(const GatewayConfig& config, const policy::PolicyModel& policy);

}  // namespace sovereign::gateway
