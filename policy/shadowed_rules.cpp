#include "policy/shadowed_rules.hpp"

#include <algorithm>

#include "policy/request_endpoints.hpp"

namespace sovereign::policy {

namespace {

template <typename T>
std::vector<T> sorted_unique(std::vector<T> items) {
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    return items;
}

// True when every request matching `narrow` on this condition also matches `broad` on it.
template <typename T>
bool covered(const std::vector<T>& broad, const std::vector<T>& narrow) {
    if (broad.empty()) return true;
    if (narrow.empty()) return false;
    return std::includes(broad.begin(), broad.end(), narrow.begin(), narrow.end());
}

}  // namespace

ShadowedRules::ShadowedRules(const Policy& policy, const RuleTenants& tenants, std::function<bool(std::size_t)> usable)
    : tenants_(tenants) {
    const auto& rules = policy.model().rules;
    const int highest = static_cast<int>(policy.model().classes.size()) - 1;
    const auto& detectors = policy.detectors().detectors();
    conditions_.reserve(rules.size());
    for (const auto& rule : rules) {
        const auto& when = rule.when;
        Conditions c{sorted_unique(when.tenants),  sorted_unique(when.models),
                     every_endpoint(when) ? std::vector<std::string>{} : sorted_unique(when.endpoints),
                     sorted_unique(when.detected),
                     0,                             when.class_at_least.value_or(0),
                     when.class_at_most.value_or(highest), rule.action == Action::deny};
        c.lowest = c.least;
        if (!when.detected.empty()) {
            int least_detected = highest;
            for (const auto d : when.detected) least_detected = std::min(least_detected, detectors[d].class_level);
            c.lowest = std::max(c.lowest, least_detected);
        }
        conditions_.push_back(std::move(c));
    }
    for (std::size_t j = 0; j < rules.size(); ++j) {
        const auto& deny = rules[j];
        // A deny about particular destination zones keeps the request from them only.
        if (deny.mode != RuleMode::enforce || deny.action != Action::deny || !deny.when.zones.empty() || !usable(j))
            continue;
        if (conditions_[j].tenants.empty()) denies_for_all_.push_back(j);
        for (const auto& name : conditions_[j].tenants) denies_naming_[name].push_back(j);
    }
}

bool ShadowedRules::implies(const Conditions& narrow, const Conditions& broad) const {
    return covered(broad.tenants, narrow.tenants) && covered(broad.models, narrow.models) &&
           covered(broad.endpoints, narrow.endpoints) && covered(broad.detected, narrow.detected) &&
           broad.least <= narrow.lowest && broad.most >= narrow.most;
}

long ShadowedRules::shadowing_deny(std::size_t rule) const {
    const auto& narrow = conditions_[rule];
    // A deny naming tenants covers a rule only if it names every tenant the rule names, the first one
    // among them; a rule without a tenants condition only a deny without one.
    static const std::vector<std::size_t> none;
    const std::vector<std::size_t>* naming = &none;
    if (!narrow.tenants.empty())
        if (const auto found = denies_naming_.find(narrow.tenants.front()); found != denies_naming_.end())
            naming = &found->second;
    // Both lists are in file order: merged, the first deny that shadows is the first in the file.
    auto a = denies_for_all_.begin();
    auto b = naming->begin();
    while (a != denies_for_all_.end() || b != naming->end()) {
        const bool take_a = b == naming->end() || (a != denies_for_all_.end() && *a < *b);
        const std::size_t j = take_a ? *a++ : *b++;
        if (j == rule) continue;
        if (j > rule && narrow.denies) break;  // of two denies, the later one is reported
        if (implies(narrow, conditions_[j]) && !tenants_.escapes(j, rule)) return static_cast<long>(j);
    }
    return -1;
}

}  // namespace sovereign::policy
