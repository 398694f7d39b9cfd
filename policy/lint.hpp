#pragma once
// `policy lint`: load errors plus problems in a policy that loads but would not do what its author meant.

#include <filesystem>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"
#include "policy/types.hpp"

namespace sovereign::policy {

// Built-in detectors left at the highest class, shadowed rules, rules that can never match, tenants no
// rule allows and, when backends are given, tenants and zones with no reachable backend. Without
// backends that check is skipped. With `read` (a policy that did not load, as far as it was read:
// LoadResult::partial), only findings that rest on parts read without a problem. When `stop` is
// requested the analysis ends early with what it found so far (the gateway analyses on a thread of
// its own, which a shutdown or a newer policy must not wait for).
std::vector<Diagnostic> analyse_policy(const Policy& policy, const std::vector<BackendInfo>* backends,
                                       const ReadCleanly* read = nullptr, std::stop_token stop = {});

// Everything lint reports for a file: load diagnostics, read on past YAML syntax errors
// (syntax_recovery.hpp), then the analysis of the policy, or of what could be read of it.
std::vector<Diagnostic> lint_policy_text(std::string_view yaml, const std::string& file_label,
                                         const std::vector<BackendInfo>* backends);
// With `gateway_tenants` (the tenants of the gateway.yaml the policy serves under), tenants of the
// policy that are none of them are reported too: no request can come from them (a typo, often).
std::vector<Diagnostic> lint_policy_file(const std::filesystem::path& path, const std::vector<BackendInfo>* backends,
                                         const std::vector<std::string>* gateway_tenants = nullptr);

// Tenants of the policy that are none of the gateway's, each with a "did you mean" (with `read`, of those
// read without a problem).
std::vector<Diagnostic> unknown_gateway_tenants(const Policy& policy, const std::vector<std::string>& gateway_tenants,
                                                const ReadCleanly* read = nullptr);

}  // namespace sovereign::policy
