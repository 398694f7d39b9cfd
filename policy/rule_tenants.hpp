#pragma once
// Which of a policy's tenants each rule applies to and which are exempt from it, resolved once from
// names to tenant indices: lint asks these questions for every pair of rules and every tenant, and at
// the policy's limits (10,000 rules, 10,000 tenants) asking them of the names each time took minutes.

#include <cstddef>
#include <vector>

#include "policy/policy.hpp"

namespace sovereign::policy {

class RuleTenants {
public:
    explicit RuleTenants(const PolicyModel& model);

    // Whether rule `rule` has a `tenants` condition (without one it applies to every tenant).
    bool names_tenants(std::size_t rule) const { return !model_.rules[rule].when.tenants.empty(); }
    // The policy's tenants its `tenants` condition names, sorted (empty without one).
    const std::vector<std::size_t>& named(std::size_t rule) const { return named_[rule]; }
    // The policy's tenants whose exempt_from names it, sorted.
    const std::vector<std::size_t>& exempt(std::size_t rule) const { return exempt_[rule]; }

    bool applies_to(std::size_t rule, std::size_t tenant) const;
    bool exempts(std::size_t rule, std::size_t tenant) const;
    // Whether a tenant the rule `later` applies to is exempt from `earlier` and not from `later`: its
    // requests get past `earlier` to `later`. Tenants the policy does not list are exempt from nothing.
    bool escapes(std::size_t earlier, std::size_t later) const;

private:
    const PolicyModel& model_;
    std::vector<std::vector<std::size_t>> named_;   // by rule
    std::vector<std::vector<std::size_t>> exempt_;  // by rule
};

}  // namespace sovereign::policy
