#include "policy/lint.hpp"

#include <algorithm>

#include "policy/join.hpp"

namespace sovereign::policy {

namespace {

template <typename T>
bool contains(const std::vector<T>& list, const T& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// True when every request matching `narrow` on this condition also matches `broad` on it.
template <typename T>
bool covered(const std::vector<T>& broad, const std::vector<T>& narrow) {
    if (broad.empty()) return true;
    if (narrow.empty()) return false;
    return std::all_of(narrow.begin(), narrow.end(), [&](const T& item) { return contains(broad, item); });
}

bool implies(const RuleConditions& narrow, const RuleConditions& broad, int highest_class) {
    const int narrow_min = narrow.class_at_least.value_or(0);
    const int narrow_max = narrow.class_at_most.value_or(highest_class);
    return covered(broad.tenants, narrow.tenants) && covered(broad.models, narrow.models) &&
           covered(broad.endpoints, narrow.endpoints) && covered(broad.detected, narrow.detected) &&
           broad.class_at_least.value_or(0) <= narrow_min && broad.class_at_most.value_or(highest_class) >= narrow_max;
}

}  // namespace

std::vector<Diagnostic> analyse_policy(const Policy& policy, const std::vector<BackendInfo>* backends) {
    std::vector<Diagnostic> out;
    const auto& m = policy.model();
    const int highest = static_cast<int>(m.classes.size()) - 1;
    auto exempted = [&](const std::string& rule) {
        return std::any_of(m.tenants.begin(), m.tenants.end(),
                           [&](const TenantDef& t) { return contains(t.exempt_from, rule); });
    };

    for (std::size_t i = 0; i < m.rules.size(); ++i) {
        const auto& rule = m.rules[i];
        if (rule.when.class_at_least && rule.when.class_at_most && *rule.when.class_at_least > *rule.when.class_at_most)
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' can never match: class_at_least " +
                               policy.class_name(*rule.when.class_at_least) + " is above class_at_most " +
                               policy.class_name(*rule.when.class_at_most)});
        for (std::size_t j = 0; j < i; ++j) {
            const auto& earlier = m.rules[j];
            // A deny about particular destination zones keeps the request from them only.
            if (earlier.mode != RuleMode::enforce || earlier.action != Action::deny || !earlier.when.zones.empty() ||
                exempted(earlier.name))
                continue;
            if (!implies(rule.when, earlier.when, highest)) continue;
            out.push_back({m.file_label, rule.line, rule.column,
                           "rule '" + rule.name + "' is shadowed: every request it matches is denied by rule '" +
                               earlier.name + "' (line " + std::to_string(earlier.line) + ")"});
            break;
        }
    }

    for (const auto& tenant : m.tenants) {
        const bool allowed_somewhere = std::any_of(m.rules.begin(), m.rules.end(), [&](const RuleDef& r) {
            return r.mode == RuleMode::enforce && r.action == Action::allow &&
                   (r.when.tenants.empty() || contains(r.when.tenants, tenant.name)) &&
                   !contains(tenant.exempt_from, r.name);
        });
        if (!allowed_somewhere)
            out.push_back({m.file_label, tenant.line, tenant.column,
                           "tenant '" + tenant.name + "' can never be allowed: no enforced allow rule applies to it"});
    }

    if (backends == nullptr) return out;
    for (const auto& b : *backends) {
        if (policy.find_zone(b.zone) == nullptr)
            out.push_back({m.file_label, 1, 1,
                           "backend '" + b.name + "' is in zone '" + b.zone + "', which the policy does not define"});
    }
    for (const auto& rule : m.rules)
        for (const auto& name : rule.backends)
            if (std::none_of(backends->begin(), backends->end(), [&](const BackendInfo& b) { return b.name == name; }))
                out.push_back({m.file_label, rule.line, rule.column,
                               "rule '" + rule.name + "' names backend '" + name + "', which the gateway does not have"});
    for (const auto& zone : m.zones) {
        const bool has_backend =
            std::any_of(backends->begin(), backends->end(), [&](const BackendInfo& b) { return b.zone == zone.name; });
        if (!has_backend)
            out.push_back({m.file_label, zone.line, zone.column, "zone '" + zone.name + "' has no backend"});
    }
    for (const auto& tenant : m.tenants) {
        std::vector<std::string> zones;
        for (const auto& zone : m.zones)
            if (tenant.zones.empty() || contains(tenant.zones, zone.name)) zones.push_back(zone.name);
        const bool reachable = std::any_of(backends->begin(), backends->end(),
                                           [&](const BackendInfo& b) { return contains(zones, b.zone); });
        if (!reachable)
            out.push_back({m.file_label, tenant.line, tenant.column,
                           "tenant '" + tenant.name + "' has no reachable backend: no backend is in its zones (" +
                               join(zones) + ")"});
    }
    return out;
}

std::vector<Diagnostic> lint_policy_text(std::string_view yaml, const std::string& file_label,
                                         const std::vector<BackendInfo>* backends) {
    auto loaded = load_policy_text(yaml, file_label);
    if (!loaded.policy) return loaded.diagnostics;
    return analyse_policy(*loaded.policy, backends);
}

std::vector<Diagnostic> lint_policy_file(const std::filesystem::path& path, const std::vector<BackendInfo>* backends) {
    auto loaded = load_policy_file(path);
    if (!loaded.policy) return loaded.diagnostics;
    return analyse_policy(*loaded.policy, backends);
}

}  // namespace sovereign::policy
