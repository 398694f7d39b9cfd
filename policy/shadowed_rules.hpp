#pragma once
// Lint's shadow analysis: which deny rule, if any, denies every request another rule matches. Deny
// rules are indexed by the tenants they name, so a rule is compared with the denies that could cover
// it rather than with every rule: a policy at the limits is analysed in seconds, not minutes.

#include <cstddef>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "policy/policy.hpp"
#include "policy/rule_tenants.hpp"

namespace sovereign::policy {

class ShadowedRules {
public:
    // `usable(rule)`: whether a rule was read without a problem; one that was not shadows nothing.
    ShadowedRules(const Policy& policy, const RuleTenants& tenants, std::function<bool(std::size_t)> usable);

    // The first rule in file order that denies every request rule `rule` matches, for every tenant
    // it applies to; -1 when none does. The most restrictive outcome wins whatever the order, so a
    // deny anywhere in the file shadows; of two denies matching the same requests, only the later one
    // is said to be shadowed.
    long shadowing_deny(std::size_t rule) const;

    // The lowest class a request matching the rule can have: a request in which one of its `detected`
    // detectors found something is at least of that detector's class.
    int lowest_class(std::size_t rule) const { return conditions_[rule].lowest; }

private:
    // A rule's conditions with their lists sorted, so that whether one rule's list covers another's
    // is one pass over both.
    struct Conditions {
        std::vector<std::string> tenants;
        std::vector<std::string> models;
        std::vector<std::string> endpoints;
        std::vector<std::size_t> detected;
        int lowest = 0;   // lowest class of a request it matches
        int least = 0;    // class_at_least, or the lowest class
        int most = 0;     // class_at_most, or the highest class
        bool denies = false;
    };

    bool implies(const Conditions& narrow, const Conditions& broad) const;

    const RuleTenants& tenants_;
    std::vector<Conditions> conditions_;
    // Deny rules that can shadow (enforced, about every destination), in file order: those with no
    // tenants condition, and by each tenant name those that name it.
    std::vector<std::size_t> denies_for_all_;
    std::unordered_map<std::string, std::vector<std::size_t>> denies_naming_;
};

}  // namespace sovereign::policy
