#pragma once
// `policy lint`: load errors plus problems in a policy that loads but would not do what its author meant.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.hpp"
#include "policy/types.hpp"

namespace sovereign::policy {

// Shadowed rules, rules that can never match, tenants no rule allows and, when backends are given,
// tenants and zones with no reachable backend. Without backends that check is skipped.
std::vector<Diagnostic> analyse_policy(const Policy& policy, const std::vector<BackendInfo>* backends);

// Everything lint reports for a file: load diagnostics, then (if it loads) the analysis.
std::vector<Diagnostic> lint_policy_text(std::string_view yaml, const std::string& file_label,
                                         const std::vector<BackendInfo>* backends);
std::vector<Diagnostic> lint_policy_file(const std::filesystem::path& path, const std::vector<BackendInfo>* backends);

}  // namespace sovereign::policy
